"""A first call within minutes, on the real stack: ``aitcomms db seed --demo``
on an install with nothing configured makes the demo (queues, two agents
with their logins, a number to the insurance IVR) and prints the generated
passwords once; ``aitcomms call test`` then places a real call from the
built-in caller in Asterisk into the demo queue: the demo agent's phone (a
SIPp registered with the printed SIP password) rings through the ACD,
answers, and RTP flows both ways (the agent hears the caller's prompt,
Asterisk receives the agent's tone). The browser version of the same, timed
from a new install, is tests/test_web_users.py's."""

from __future__ import annotations

import re

from sqlalchemy import delete, select

from control.acd.models import Agent, Call, Queue
from control.auth import service
from control.auth.models import User
from control.db import Database
from control.onboarding import demo
from control.provisioning.models import Did
from tests.conftest import StackUnderTest
from tests.harness.ami import Ami
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import Sipp, scenario
from tests.harness.wait import wait_until
from tests.test_calls import register

ACCOUNT_RE = re.compile(r"^\s+(\d+) (.+?): login (\S+) password (\S+) \(SIP password for a "
                        r"desk phone: (\S+)\)$", re.M)


def demo_accounts(output: str) -> dict[str, dict[str, str]]:
    return {m[1]: {"name": m[2], "email": m[3], "password": m[4], "sip_password": m[5]}
            for m in ACCOUNT_RE.finditer(output)}


async def test_demo_and_test_call_reach_the_demo_agent(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    db = Database(stack.settings)
    emails = [email for _, _, email in demo.DEMO_AGENTS]
    agent_rtp = await RtpEndpoint.open()
    phone: Sipp | None = None
    try:
        seeded = stack.aitcomms("db", "seed", "--demo").stdout
        accounts = demo_accounts(seeded)
        assert set(accounts) == {"1001", "1002"}, seeded
        with db.session() as s:
            assert set(s.scalars(select(Queue.name))) == {"autos", "hogar", "operador"}
            assert [(d.number, d.target) for d in s.scalars(select(Did))] == [
                (demo.DEMO_DID, "ivr:seguros")]
            assert {a.extension for a in s.scalars(select(Agent))} == {"1001", "1002"}
            for ext, account in accounts.items():  # the printed passwords are the logins'
                pair = service.login(s, "k" * 32, account["email"], account["password"])
                assert not isinstance(pair, service.AuthError), pair
                assert pair.user["agent_extension"] == ext
        again = stack.aitcomms("db", "seed", "--demo").stdout
        assert "demo: not added" in again and not demo_accounts(again), again

        # the demo agent's desk phone registers with the printed SIP password
        port = sip_port()
        phone = Sipp(scenario("agent"), stack.sip_target, local_port=port,
                     keys={"rtp_port": agent_rtp.port})
        await phone.start()
        assert await register(stack, "1001", accounts["1001"]["sip_password"], port) == 0
        stack.aitcomms("agent", "status", "1001", "available")

        placed = stack.aitcomms("call", "test", "--to", "queue:operador").stdout
        channel_id = re.search(r"channel (testcall-\w+)", placed)
        assert channel_id, placed
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            legs = await ami.wait_for(lambda: ami.bridge_holding("PJSIP/agent-1001-", "Local/"),
                                      timeout=30)
            assert legs, "the test caller and the demo agent are not bridged"
            agent_chan = next(c for c in legs if c.startswith("PJSIP/agent-1001-"))
            agent_rtp.send_tone(await ami.rtp_address(agent_chan), 440)
            agent_rtp.reset()
            rx1 = int(await ami.getvar(agent_chan, "CHANNEL(rtcp,rxcount,audio)") or 0)
            await wait_until(lambda: agent_rtp.packets >= 100, timeout=10)
            rx2 = int(await ami.getvar(agent_chan, "CHANNEL(rtcp,rxcount,audio)") or 0)
            heard, rms = agent_rtp.packets, agent_rtp.rms()
            print(f"\ntest call {channel_id[1]}: agent heard {heard} packets (rms {rms:.0f}), "
                  f"Asterisk received {rx2 - rx1} from the agent meanwhile")
            assert rms > 300, f"the agent hears silence, not the caller's prompt ({rms:.0f})"
            assert rx2 - rx1 >= 50, ("Asterisk receives nothing from the agent", rx1, rx2)
            with db.session() as s:
                call = s.scalar(select(Call).where(Call.agent_extension == "1001")
                                .order_by(Call.entered_at.desc()))
                assert call is not None and call.queue == "operador", call
                assert call.caller_number == "+34612345678", call.caller_number
                assert call.customer_id is not None, "the seeded customer's screen pop"
            # the caller would hang up after a minute; the test does not wait for it
            await ami.manager.send_action({"Action": "Hangup", "Channel": agent_chan})
        hung_up = await phone.wait(15)
        assert hung_up.returncode == 0, hung_up.output
    finally:
        if phone is not None:
            phone.kill()
        agent_rtp.close()
        with db.session() as s:  # users outlive clean_stack: the next demo needs none
            s.execute(delete(User).where(User.email.in_(emails)))
        db.dispose()
