"""Acceptance: real SIP calls through Kamailio into Asterisk (foundation issue).

Roles by source address (all loopback): agents' phones 127.0.0.1, the trunk
127.0.0.2, a flooder 127.0.0.3, a stranger 127.0.0.4.
"""

from __future__ import annotations

import asyncio

from tests.conftest import StackUnderTest
from tests.harness.ami import Ami
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import Sipp, SippResult, caller_scenario, scenario
from tests.harness.wait import wait_until

TRUNK_IP = "127.0.0.2"
FLOODER_IP = "127.0.0.3"
STRANGER_IP = "127.0.0.4"


def caller(stack: StackUnderTest, number: str, rtp: RtpEndpoint, *, ip: str = TRUNK_IP,
           call_ms: int = 4000, auth: tuple[str, str] | None = None,
           from_user: str = "34600111222", far_end_hangs_up: bool = False) -> Sipp:
    """A caller staying ``call_ms`` at most. With ``auth`` (a phone of ours,
    not trusted by address) the 407 challenge is required: a call let in
    without it fails. ``far_end_hangs_up``: the far end must end the call
    (its BYE) within ``call_ms``, or the call fails."""
    return Sipp(caller_scenario(call_ms, challenged=auth is not None,
                                far_end_hangs_up=far_end_hangs_up),
                stack.sip_target, local_ip=ip,
                local_port=sip_port(ip), service=number, auth=auth,
                timeout_s=call_ms // 1000 + 30,
                keys={"caller": from_user, "rtp_port": rtp.port})


async def trunk_calls(stack: StackUnderTest, number: str, *, calls: int, rate: float,
                      call_ms: int, from_user: str, timeout_s: int = 60) -> SippResult:
    """``calls`` trunk callers to ``number``, ``rate`` new ones a second, each
    staying ``call_ms`` at most (one SIPp, one RTP endpoint for them all)."""
    rtp = await RtpEndpoint.open(TRUNK_IP)
    try:
        return await Sipp(caller_scenario(call_ms), stack.sip_target, local_ip=TRUNK_IP,
                          local_port=sip_port(TRUNK_IP), service=number, calls=calls,
                          rate=rate, keys={"caller": from_user, "rtp_port": rtp.port},
                          timeout_s=timeout_s).run(timeout_s + 30)
    finally:
        rtp.close()


async def register(stack: StackUnderTest, ext: str, password: str, contact_port: int,
                   expect: int = 200) -> int:
    result = await Sipp(scenario("register", expect=expect, hold_ms=0), stack.sip_target,
                        local_port=sip_port(), auth=(ext, password),
                        keys={"user": ext, "contact_port": contact_port, "expires": 300}).run()
    return result.returncode


async def test_trunk_caller_hears_the_ivr_prompt(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP, "--port", "5060")
    stack.aitcomms("did", "add", "+34910000001", "--to", "ivr:welcome")
    rtp = await RtpEndpoint.open(TRUNK_IP)
    try:
        result = await caller(stack, "+34910000001", rtp, call_ms=15000,
                              far_end_hangs_up=True).run()
    finally:
        rtp.close()
    # answered, and ended by the IVR's hangup (the far end's BYE) within call_ms:
    # had the caller hung up by itself, the call would have failed
    assert result.returncode == 0, result.output
    assert result.successful == 1
    # the prompt: ~1.5 s of real audio, not silence
    assert rtp.packets > 40, f"only {rtp.packets} RTP packets heard"
    assert rtp.rms() > 300, f"what the caller heard is silence (rms {rtp.rms():.0f})"


async def test_agent_registers_and_is_bridged_with_a_trunk_caller(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("agent", "add", "1001", "--name", "Ana García", "--password", "ana-secret-1",
                   "--skills", "auto,home", "--languages", "es,en")
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP)
    stack.aitcomms("did", "add", "+34910000002", "--to", "ext:1001")

    agent_rtp, caller_rtp = await RtpEndpoint.open(), await RtpEndpoint.open(TRUNK_IP)
    agent_port = sip_port()
    agent = Sipp(scenario("agent"), stack.sip_target, local_port=agent_port,
                 keys={"rtp_port": agent_rtp.port})
    await agent.start()
    try:
        assert await register(stack, "1001", "ana-secret-1", agent_port) == 0
        assert f":{agent_port}" in stack.kamcmd("ul.lookup", "location", "1001")

        call = caller(stack, "+34910000002", caller_rtp, call_ms=6000)
        await call.start()
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            members = await ami.wait_for(lambda: ami.bridge_holding(size=2), timeout=10)
            assert members, "no bridge with both parties in Asterisk"
            agent_chan = next(c for c in members if c.startswith("PJSIP/agent-1001-"))
            caller_chan = next(c for c in members if c.startswith("PJSIP/edge-"))
            # each party talks with its own tone, to where Asterisk receives its RTP
            caller_rtp.send_tone(await ami.rtp_address(caller_chan), 1000)
            agent_rtp.send_tone(await ami.rtp_address(agent_chan), 440)
            # a measurement, not a wait: 2 s of both tones for the energy checks
            await asyncio.sleep(2.0)
        result = await call.wait()
        agent_result = await agent.wait(timeout=15)
    finally:
        agent.kill()
        agent_rtp.close()
        caller_rtp.close()
    assert result.returncode == 0, result.output
    assert agent_result.returncode == 0, agent_result.output
    # RTP both ways, and each hears the other, not itself
    assert agent_rtp.packets > 50 and caller_rtp.packets > 50
    assert agent_rtp.energy(1000) > 10 * max(agent_rtp.energy(440), 1)
    assert caller_rtp.energy(440) > 10 * max(caller_rtp.energy(1000), 1)


async def test_agent_calls_agent_with_digest_auth(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("agent", "add", "1001", "--name", "Ana", "--password", "ana-secret-1")
    stack.aitcomms("agent", "add", "1002", "--name", "Luis", "--password", "luis-secret-2")
    rtp_1001, rtp_1002 = await RtpEndpoint.open(), await RtpEndpoint.open()
    port_1001 = sip_port()
    phone = Sipp(scenario("agent"), stack.sip_target, local_port=port_1001,
                 keys={"rtp_port": rtp_1001.port})
    await phone.start()
    try:
        assert await register(stack, "1001", "ana-secret-1", port_1001) == 0
        # 1002 dials 1001: challenged (407), answers with its credentials
        result = await caller(stack, "1001", rtp_1002, ip="127.0.0.1", call_ms=3000,
                              auth=("1002", "luis-secret-2"), from_user="1002").run()
        phone_result = await phone.wait(timeout=15)
    finally:
        phone.kill()
        rtp_1001.close()
        rtp_1002.close()
    assert result.returncode == 0, result.output
    assert phone_result.returncode == 0, phone_result.output


async def test_wrong_password_is_refused_and_not_registered(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("agent", "add", "1001", "--name", "Ana", "--password", "ana-secret-1")
    # the session's log: test_sip_tls, test_admin_api and test_edge_security refuse
    # passwords too; only this test's lines count
    log_from = len(stack.log("kamailio"))
    assert await register(stack, "1001", "not-the-password", sip_port(), expect=403) == 0
    assert "not found" in stack.kamcmd("ul.lookup", "location", "1001").lower()
    # an unknown user is refused too
    assert await register(stack, "1999", "whatever-pass", sip_port(), expect=403) == 0
    refused = stack.log("kamailio", since=log_from)
    assert "auth refused for '1001'" in refused and "auth refused for '1999'" in refused, refused


async def test_stranger_cannot_use_a_trunk_did(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP)
    stack.aitcomms("did", "add", "+34910000001", "--to", "ivr:welcome")
    # the same INVITE from an address that is not the trunk: challenged, never routed
    stranger = Sipp(scenario("flood"), stack.sip_target, local_ip=STRANGER_IP,
                    local_port=sip_port(STRANGER_IP), service="+34910000001")
    result = await stranger.run()
    assert result.returncode == 0 and result.successful == 1, result.output  # got its 407
    async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        assert await ami.channels() == []


async def test_flood_is_throttled_while_a_real_caller_gets_through(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP)
    stack.aitcomms("did", "add", "+34910000001", "--to", "ivr:welcome")
    flood = Sipp(scenario("flood"), stack.sip_target, local_ip=FLOODER_IP,
                 local_port=sip_port(FLOODER_IP), service="+34910000001", calls=300, rate=100,
                 timeout_s=30, extra=["-l", "300"])
    await flood.start()
    # the real caller comes once the flooder is banned (Kamailio's ipban table)
    banned = await wait_until(lambda: FLOODER_IP in stack.kamcmd("htable.dump", "ipban"),
                              timeout=10)
    assert banned, f"the flood was never banned: {stack.kamcmd('htable.dump', 'ipban')}"
    rtp = await RtpEndpoint.open(TRUNK_IP)
    try:
        legit = await caller(stack, "+34910000001", rtp, call_ms=15000,
                             far_end_hangs_up=True).run()
    finally:
        rtp.close()
    flooded = await flood.wait(timeout=60)
    assert legit.returncode == 0, legit.output
    assert rtp.packets > 40 and rtp.rms() > 300
    # most of the flood went unanswered once the source was banned
    assert flooded.successful + flooded.failed == 300, flooded.output
    assert flooded.successful < 80, f"{flooded.successful} flood INVITEs answered"
    assert f"flood from {FLOODER_IP}" in stack.log("kamailio")
