"""Acceptance: an agent takes a real call in the browser, sells during it,
and a supervisor watches and barges in from the wallboard.

Headless Debian Chromium (fake microphone) runs the agent desktop served by
the control plane; its JsSIP softphone registers over WSS to Kamailio;
rtpengine turns its DTLS-SRTP into plain RTP for Asterisk. A SIPp caller
with a seeded customer's number calls a queue through the trunk; the page
shows the screen pop before the agent answers; the agent answers with a
click, RTP flows both ways (counted by Asterisk on the browser's channel, by
rtpengine and by the browser). During the call the agent prices an auto quote
for the customer (premium, breakdown) and accepts it: the policy is in the
database, and the supervisor's wallboard, open in a second Chromium beside
the agent's, shows the quote and the policy live (events, no reload). The
supervisor barges in with the wallboard's button: its own phone (a SIPp
registered as the supervisor's extension) rings, Asterisk bridges it with a
snoop of the agent's channel and the caller hears the supervisor. Then the
agent hangs up and saves a disposition. Last, an admin opens the dialplan
versions page: a template change shows as a diff, apply loads it into
Asterisk, rolling back to the version before takes it out again.

Chromium cannot be kept on loopback by flags alone (DESIGN.md, WebRTC path):
the test makes a network namespace whose only interface is ``lo`` and runs a
second stack (its own AITCOMMS_VAR), SIPp and Chromium inside it, so no
packet of this test can leave the machine or meet another stack. The test's
own thread enters the namespace (setns) while it runs, so its AMI, HTTP and
RTP sockets and every process it starts live there too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from control.auth.audit import Actor
from control.crm.customers import create_task, customer_context, find_customer_by_phone
from control.db import Database
from control.provisioning.dialplan import running_file
from control.stack.manager import Stack
from tests.conftest import ROOT, TEST_PORTS, StackUnderTest
from tests.harness.ami import Ami
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import Sipp, caller_scenario, scenario
from tests.test_calls import caller, register

CLONE_NEWNET = 0x40000000
CHROMIUM = Path(os.environ.get("AITCOMMS_CHROMIUM", "/usr/bin/chromium"))
SCRIPT = ROOT / "tests" / "browser" / "agent_call.mjs"
SUP_SCRIPT = ROOT / "tests" / "browser" / "supervisor.mjs"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
TRUNK_IP = "127.0.0.2"
CUSTOMER_PHONE = "+34612345678"  # María Rodríguez Sánchez in control/crm/seed.py
AGENT_EMAIL, AGENT_PASSWORD = "ana.web@example.com", "agent-web-pass-1"
SUP_EMAIL, SUP_PASSWORD, SUP_EXT = "sup.web@example.com", "sup-web-pass-1", "2001"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin.web@example.com", "admin-web-pass-1"
ADMIN_CONTEXT = "web-admin-test"
# what the admin creates on the admin page, field by field
ADMIN_MAKES = {
    "agent": {"extension": "3001", "name": "Nuevo Agente", "password": "sip-pass-3001",
              "skills": "auto", "languages": "es"},
    "queue": {"name": "web", "skills": "auto", "wrapup_s": "2", "members": "3001"},
    "trunk": {"name": "carrier2", "host": "127.0.0.5", "port": "5060"},
    "did": {"number": "+34910000055", "target": "queue:web"},
}
QUOTE = {"QUOTE_CARRIER": "Mapfre", "QUOTE_YEAR": "2019", "QUOTE_MAKE": "Seat",
         "QUOTE_MODEL": "León", "QUOTE_PLATE": "1234LMN", "QUOTE_AGE": "42",
         "QUOTE_EXPERIENCE": "20"}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not CHROMIUM.exists() or shutil.which("ip") is None
    or not (ROOT / "web" / "dist" / "index.html").exists()
    or not (ROOT / "web" / "node_modules" / "playwright-core").exists(),
    reason="needs root, /usr/bin/chromium, iproute2 and the built web/ (make setup)")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def loopback_namespace() -> Iterator[str]:
    """A fresh network namespace with only ``lo`` (up); this thread runs in it
    meanwhile (and so does every process it starts)."""
    name = f"aitweb-{os.getpid()}-{random.randrange(10**6)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    host = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        ns = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(ns)
        finally:
            os.close(ns)
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            yield name
        finally:
            _setns(host)
    finally:
        os.close(host)
        subprocess.run(["ip", "netns", "delete", name], check=False)


@pytest.fixture
def ns_stack() -> Iterator[StackUnderTest]:
    """A second stack of its own, inside its own loopback-only namespace."""
    with loopback_namespace():
        var_dir = Path(tempfile.mkdtemp(prefix="aitcomms-web-"))
        # its own copy of dialplans/: the admin page's test changes a template
        shutil.copytree(ROOT / "dialplans", var_dir / "dialplans")
        env = {**os.environ, "AITCOMMS_VAR": str(var_dir),
               "AITCOMMS_DIALPLANS": str(var_dir / "dialplans")}
        env.update({f"AITCOMMS_PORT_{k}": str(v) for k, v in TEST_PORTS.items()})
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        stack = StackUnderTest(env=env, var_dir=var_dir)
        up = stack.aitcomms("up", check=False)
        try:
            if up.returncode != 0:
                pytest.fail(f"namespace stack did not come up:\n{up.stdout}{up.stderr}")
            yield stack
        finally:
            stack.aitcomms("down", check=False)
            logs = ARTIFACTS / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            for log in (var_dir / "log").glob("*.log"):
                shutil.copy(log, logs / log.name)
            shutil.rmtree(var_dir, ignore_errors=True)


class Browser:
    """The Node/Playwright script, stage by stage."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr_file: Path) -> None:
        self.proc = proc
        self.stderr_file = stderr_file

    async def step(self, name: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = (await self.proc.stdout.readline()).decode()
                    if not line:
                        raise AssertionError(f"browser script ended before {name}:\n"
                                             f"{self.stderr_file.read_text()[-4000:]}")
                    if line.startswith(f"STEP {name} "):
                        return dict(json.loads(line.split(" ", 2)[2]))
        except TimeoutError:
            raise AssertionError(f"no {name} from the browser in {timeout} s:\n"
                                 f"{self.stderr_file.read_text()[-4000:]}") from None

    async def go(self, data: str = "") -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"go {data}".strip().encode() + b"\n")
        await self.proc.stdin.drain()


def dialplan_has(stack: StackUnderTest, context: str) -> bool:
    """Whether Asterisk's loaded dialplan has this context (``dialplan show``)."""
    shown = Stack(stack.settings).asterisk_cli(f"dialplan show {context}")
    return f"[ Context '{context}' created by 'pbx_config' ]" in shown


async def recording_state(stack: StackUnderTest, name: str) -> str:
    """What Asterisk says of a live recording (ARI): recording, paused..."""
    token = base64.b64encode(f"aitcomms:{stack.secret('ARI_PASSWORD')}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as http, http.get(
            f"http://127.0.0.1:{stack.port('ari')}/ari/recordings/live/{name}") as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["state"])


async def rtp_counts(ami: Ami, channel: str) -> tuple[int, int]:
    # chan_pjsip's name for the RTP statistics (chan_sip's was rtpqos)
    rx = await ami.getvar(channel, "CHANNEL(rtcp,rxcount,audio)")
    tx = await ami.getvar(channel, "CHANNEL(rtcp,txcount,audio)")
    return int(rx or 0), int(tx or 0)


async def test_agent_takes_a_call_in_the_browser(ns_stack: StackUnderTest) -> None:
    stack = ns_stack
    stack.aitcomms("db", "seed")
    stack.aitcomms("agent", "add", "1001", "--name", "Ana García", "--password",
                   "sip-secret-1001", "--languages", "es,en", "--skills", "auto,home")
    stack.aitcomms("user", "add", AGENT_EMAIL, "--role", "agent", "--agent", "1001",
                   "--password", AGENT_PASSWORD)
    stack.aitcomms("agent", "status", "1001", "available")
    # the supervisor's own phone is an agent extension, not in any queue
    stack.aitcomms("agent", "add", SUP_EXT, "--name", "Sara Supervisora", "--password",
                   f"secret-{SUP_EXT}-pw")
    stack.aitcomms("user", "add", SUP_EMAIL, "--role", "supervisor", "--agent", SUP_EXT,
                   "--password", SUP_PASSWORD)
    stack.aitcomms("user", "add", ADMIN_EMAIL, "--role", "admin", "--password", ADMIN_PASSWORD)
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP)
    stack.aitcomms("queue", "add", "autos", "--members", "1001", "--wrapup", "30",
                   "--ring-timeout", "25")
    stack.aitcomms("did", "add", "+34910000010", "--to", "queue:autos")
    db = Database(stack.settings)
    with db.session() as s:
        customer = find_customer_by_phone(s, CUSTOMER_PHONE)
        assert customer is not None
        context = customer_context(s, customer.id)
    policies = [p["number"] for p in context["policies"]]
    assert policies, "the seeded customer has active policies"

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    stderr_file = ARTIFACTS / "browser.log"
    env = {**os.environ, "BASE_URL": f"http://127.0.0.1:{stack.port('http')}",
           "EMAIL": AGENT_EMAIL, "PASSWORD": AGENT_PASSWORD, "ARTIFACTS": str(ARTIFACTS),
           "CUSTOMER": context["customer"]["name"], "DISPOSITION": "venta",
           "NOTES": "Quiere ampliar la cobertura del coche.",
           "NODE_PATH": str(ROOT / "web" / "node_modules"), "CHROMIUM": str(CHROMIUM)}
    env.update(QUOTE)
    with stderr_file.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), env=env, cwd=ROOT / "web", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=err)
    browser = Browser(proc, stderr_file)
    sup_stderr = ARTIFACTS / "supervisor.log"
    with sup_stderr.open("wb") as err:
        sup_proc = await asyncio.create_subprocess_exec(
            "node", str(SUP_SCRIPT), cwd=ROOT / "web", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=err,
            env={**env, "SUP_EMAIL": SUP_EMAIL, "SUP_PASSWORD": SUP_PASSWORD,
                 "ADMIN_EMAIL": ADMIN_EMAIL, "ADMIN_PASSWORD": ADMIN_PASSWORD,
                 "ADMIN_MAKES": json.dumps(ADMIN_MAKES)})
    sup = Browser(sup_proc, sup_stderr)
    caller_rtp = await RtpEndpoint.open(TRUNK_IP)
    # the supervisor's own phone: a SIPp answering, registered as its extension
    sup_rtp = await RtpEndpoint.open()
    sup_port = sip_port()
    sup_phone = Sipp(scenario("agent"), stack.sip_target, local_port=sup_port,
                     keys={"rtp_port": sup_rtp.port})
    await sup_phone.start()
    sipp: Sipp | None = None
    try:
        assert await register(stack, SUP_EXT, f"secret-{SUP_EXT}-pw", sup_port) == 0
        ready = await browser.step("ready", 60)
        assert ready["status"] == "available"
        await sup.step("ready", 60)

        # the caller: a seeded customer through the trunk; it answers the
        # music on hold with a 1000 Hz tone so that it talks from the start
        sipp = Sipp(caller_scenario(60000), stack.sip_target, local_ip=TRUNK_IP,
                    local_port=sip_port(TRUNK_IP), service="+34910000010",
                    keys={"caller": CUSTOMER_PHONE.lstrip("+"), "rtp_port": caller_rtp.port})
        await sipp.start()
        await browser.go()
        for _ in range(100):
            if caller_rtp.last_source:
                break
            await asyncio.sleep(0.1)
        assert caller_rtp.last_source, "the caller hears nothing (no music on hold)"
        caller_rtp.send_tone(caller_rtp.last_source, 1000)

        pop = await browser.step("pop", 40)
        assert pop["state"] == "ringing" and pop["answerEnabled"], pop
        assert context["customer"]["name"] in pop["customer"], pop
        for number in policies:
            assert number in pop["policies"], (number, pop["policies"])
        for claim in context["claims"]:
            assert claim["number"] in pop["claims"], pop

        answered = await browser.step("answered", 30)
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            chans = [c["Channel"] for c in await ami.channels()
                     if c["Channel"].startswith("PJSIP/agent-1001")]
            assert len(chans) == 1, chans
            caller_rtp.reset()
            rx1, tx1 = await rtp_counts(ami, chans[0])
            await asyncio.sleep(3)
            rx2, tx2 = await rtp_counts(ami, chans[0])
            # Asterisk talks to rtpengine (its port range), not to the browser
            dest = await ami.getvar(chans[0], "CHANNEL(rtp,dest)")
        heard_from_agent = caller_rtp.packets
        print(f"\nbrowser channel {chans[0]} (RTP to {dest}): rx {rx1}->{rx2}, tx {tx1}->{tx2}; "
              f"caller heard {heard_from_agent} packets in 3 s; browser {answered['rtp']}")
        # 3 s of 20 ms packets is 150 per direction: ask for most of them
        assert rx2 - rx1 >= 100, ("Asterisk receives nothing from the browser", rx1, rx2)
        assert tx2 - tx1 >= 100, ("Asterisk sends nothing to the browser", tx1, tx2)
        assert heard_from_agent >= 100, "the caller does not hear the agent"
        port = int(dest.rpartition(":")[2])
        assert stack.port("rtpengine_min") <= port <= stack.port("rtpengine_max"), dest
        assert answered["rtp"]["received"] > 0 and answered["rtp"]["sent"] > 0, answered
        on_board = await sup.step("call", 30)
        call_id = on_board["call_id"]
        assert CUSTOMER_PHONE.lstrip("+") in on_board["row"] and "1001" in on_board["row"], on_board
        await browser.go()

        # the desktop's recording buttons pause and resume the call's recording
        await browser.step("rec-paused", 20)
        assert await recording_state(stack, call_id) == "paused"
        await browser.go()
        await browser.step("rec-resumed", 20)
        assert await recording_state(stack, call_id) == "recording"
        await browser.go()

        # the quote during the call, accepted: a policy in the database
        quoted = await browser.step("quoted", 40)
        print(f"quote {quoted['number']} {quoted['premium']} €, breakdown {quoted['breakdown']}, "
              f"policy {quoted['policy']}")
        assert quoted["state"] == "talking", quoted
        factors = {name for name, _ in quoted["breakdown"]}
        assert {"base", "vehicle_age", "make", "driver_age", "experience", "claims",
                "no_claims"} <= factors, quoted
        with db.engine.connect() as conn:
            q = conn.execute(text(
                "SELECT q.number, q.premium, q.status, q.call_id, q.agent_extension, "
                "q.competitor_prices, p.number AS policy, p.status AS policy_status, "
                "p.customer_id, p.carrier, p.type FROM quotes q "
                "JOIN policies p ON p.id = q.policy_id WHERE q.number = :n"),
                {"n": quoted["number"]}).first()
        assert q is not None, quoted
        assert (q.status, q.call_id, q.agent_extension, q.customer_id) == (
            "accepted", call_id, "1001", customer.id), q
        assert f"{q.premium:.2f}" == quoted["premium"], (q.premium, quoted)
        assert (q.policy, q.policy_status, q.carrier, q.type) == (
            quoted["policy"], "active", QUOTE["QUOTE_CARRIER"], "auto"), q
        competitors = q.competitor_prices
        for c in json.loads(competitors) if isinstance(competitors, str) else competitors or []:
            assert c["carrier"] in quoted["competitors"], quoted  # shown when the API has them

        # the wallboard saw both live, without a reload
        await sup.go()
        sales = await sup.step("sales", 20)
        assert sales["noReload"] == "wallboard-1", sales
        assert quoted["number"] in sales["quotes"] and quoted["policy"] in sales["policies"], sales

        # the supervisor barges in from the wallboard: its phone rings and
        # joins a bridge with a snoop of the agent's channel
        await sup.go()
        barged = await sup.step("barged", 30)
        assert barged["charted"] >= 1, barged  # the wallboard's chart counts the call
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            def sup_bridge() -> Any:
                return ami.bridge_holding(f"PJSIP/agent-{SUP_EXT}-", "Snoop/")

            sup_members = await ami.wait_for(sup_bridge, timeout=10)
            assert sup_members, "no bridge of the supervisor's phone with a snoop channel"
            sup_chan = next(m for m in sup_members if m.startswith(f"PJSIP/agent-{SUP_EXT}-"))
            # barge: the caller hears the supervisor
            sup_rtp.send_tone(await ami.rtp_address(sup_chan), 2000)
            await asyncio.sleep(0.5)
            caller_rtp.reset()
            await asyncio.sleep(2.0)
            caller_hears_sup = caller_rtp.energy(2000)
            sup_rtp.stop_tone()
            print(f"barge: bridge {sup_members}, caller hears the supervisor "
                  f"(2000 Hz energy {caller_hears_sup:.0f}); wallboard: {barged}")
            assert caller_hears_sup > 200, caller_hears_sup
            await ami.manager.send_action({"Action": "Hangup", "Channel": sup_chan})
        await sup.go()
        await sup.step("done", 20)
        await browser.go()

        saved = await browser.step("saved", 40)
        assert saved["rtp"]["received"] > answered["rtp"]["received"], saved
        # the wrap-up countdown of the queue (30 s) was on screen
        assert re.search(r"\b([12][0-9]|30) s\b", saved["countdown"]), saved

        # click-to-call: the agent calls the customer back from her record's
        # callback task; the carrier (a SIPp on the trunk's address) answers
        with db.session() as s:
            task = create_task(s, actor=Actor("test"), kind="callback", customer_id=customer.id,
                               scheduled_at=datetime.now(UTC), notes="llamar por la renovación")
            task_id = task.id
        carrier_rtp = await RtpEndpoint.open(TRUNK_IP)
        carrier = Sipp(scenario("agent"), stack.sip_target, local_ip=TRUNK_IP, local_port=5060,
                       keys={"rtp_port": carrier_rtp.port})
        await carrier.start()
        try:
            await browser.go(json.dumps({"task_id": task_id}))
            outbound = await browser.step("outbound", 60)
            assert outbound["autoAnswered"] is True, outbound
            async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
                legs = await ami.wait_for(lambda: ami.bridge_holding(
                    "PJSIP/agent-1001-", "PJSIP/trunk-carrier-"), timeout=10)
                assert legs, "the browser and the customer are not bridged"
                browser_leg = next(c for c in legs if c.startswith("PJSIP/agent-1001-"))
                carrier_rtp.send_tone(await ami.rtp_address(
                    next(c for c in legs if c.startswith("PJSIP/trunk-carrier-"))), 1000)
                carrier_rtp.reset()
                rx1, tx1 = await rtp_counts(ami, browser_leg)
                await asyncio.sleep(2)
                rx2, tx2 = await rtp_counts(ami, browser_leg)
            print(f"click-to-call {outbound['call']}: browser leg rx {rx1}->{rx2}, "
                  f"tx {tx1}->{tx2}; customer heard {carrier_rtp.packets}; {outbound['state']}")
            assert rx2 - rx1 >= 60 and tx2 - tx1 >= 60, (rx1, rx2, tx1, tx2)
            assert carrier_rtp.packets >= 60, "the customer does not hear the agent"
            await browser.go()
            await browser.step("outbound-done", 30)
            assert (await carrier.wait(20)).returncode == 0
        finally:
            carrier.kill()
            carrier_rtp.close()
        with db.engine.connect() as conn:
            out = conn.execute(text(
                "SELECT c.direction, c.state, c.caller_number, t.status AS task, "
                "i.direction AS i_dir FROM calls c JOIN tasks t ON t.id = c.task_id "
                "JOIN interactions i ON i.call_id = c.id WHERE c.id = :id"),
                {"id": outbound["call"]}).first()
            seen = [dict(r._mapping) for r in conn.execute(text(
                "SELECT id, direction, state, task_id FROM calls WHERE direction = 'outbound'"))]
        assert out is not None and tuple(out) == (
            "outbound", "completed", CUSTOMER_PHONE, "done", "outbound"), (outbound, seen)
        await browser.step("forbidden", 20)
        assert await asyncio.wait_for(proc.wait(), 20) == 0

        with db.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT i.disposition, i.notes, i.agent_extension, c.state FROM interactions i "
                "JOIN calls c ON c.id = i.call_id WHERE i.customer_id = :cid "
                "AND c.direction = 'inbound' ORDER BY i.id DESC"), {"cid": customer.id}).first()
        assert row is not None
        assert (row.disposition, row.agent_extension, row.state) == (
            "venta", "1001", "completed"), row
        assert row.notes == "Quiere ampliar la cobertura del coche."

        # the admin page made an agent, a queue, a trunk and a DID: a caller on
        # the new trunk's address dialling the new number reaches the new agent
        made = await sup.step("admin-made", 90)
        print(f"admin page: {made}")
        stack.aitcomms("agent", "status", "3001", "available")
        new_rtp, new_port = await RtpEndpoint.open(), sip_port()
        new_phone = Sipp(scenario("agent"), stack.sip_target, local_port=new_port,
                         keys={"rtp_port": new_rtp.port})
        await new_phone.start()
        try:
            assert await register(stack, "3001", "sip-pass-3001", new_port) == 0
            trunk_rtp = await RtpEndpoint.open("127.0.0.5")
            try:
                result = await caller(stack, "+34910000055", trunk_rtp, ip="127.0.0.5",
                                      call_ms=3000).run()
            finally:
                trunk_rtp.close()
            assert result.returncode == 0 and result.successful == 1, result.output
            answered_by_new = await new_phone.wait(20)
            assert answered_by_new.returncode == 0, answered_by_new.output
            assert new_rtp.packets > 50, "the new agent heard nothing of the caller"
        finally:
            new_phone.kill()
            new_rtp.close()
        await sup.go()
        await sup.step("admin-deleted", 60)
        assert "+34910000055" not in (stack.settings.asterisk_dir / "etc/extensions.conf"
                                      ).read_text()
        await sup.go()

        # the admin's dialplan versions page: a template change, its diff,
        # apply (Asterisk loads the new context), roll back (it is gone)
        admin = await sup.step("admin", 20)
        template = stack.var_dir / "dialplans" / "extensions.conf.j2"
        original = template.read_text()
        template.write_text(original + f"\n[{ADMIN_CONTEXT}]\nexten => s,1,NoOp(admin page)\n"
                                       " same => n,Hangup()\n")
        await sup.go()
        applied = await sup.step("applied", 90)
        print(f"dialplan: live {admin['live']} -> {applied['applied']} ({applied['message']})")
        assert f"+[{ADMIN_CONTEXT}]" in applied["pending"], applied
        assert applied["applied"].startswith("version-"), applied
        new_id = int(applied["applied"].removeprefix("version-"))
        assert applied["live"] == str(new_id), applied
        assert dialplan_has(stack, ADMIN_CONTEXT)
        assert f"[{ADMIN_CONTEXT}]" in running_file(stack.settings).read_text()
        template.write_text(original)
        await sup.go()
        back = await sup.step("rolledback", 90)
        print(f"dialplan: rolled back to {admin['live']} as {back['restored']}: {back['row']}")
        restored_id = int(back["restored"].removeprefix("version-"))
        assert restored_id > new_id and back["live"] == str(restored_id), back
        assert f"-[{ADMIN_CONTEXT}]" in back["diff"], back
        assert not dialplan_has(stack, ADMIN_CONTEXT)
        with db.engine.connect() as conn:
            versions = {r.id: r for r in conn.execute(text(
                "SELECT id, author, action, restored_from, text FROM dialplan_versions"))}
        assert (versions[new_id].author, versions[new_id].action) == (ADMIN_EMAIL, "apply")
        assert (versions[restored_id].author, versions[restored_id].action,
                versions[restored_id].restored_from) == (ADMIN_EMAIL, "rollback",
                                                         int(admin["live"]))
        assert versions[restored_id].text == versions[int(admin["live"])].text
        await sup.go()
        assert await asyncio.wait_for(sup_proc.wait(), 20) == 0
        # both browsers worked under the server's Content-Security-Policy: it refused
        # nothing (Chromium's console messages and the pages' violation events)
        for log in (stderr_file, sup_stderr):
            refused = [line for line in log.read_text().splitlines()
                       if "Content Security Policy" in line]
            assert not refused, f"{log.name}: {refused[:5]}"
    finally:
        for node in (proc, sup_proc):
            if node.returncode is None:
                node.kill()
                await node.wait()
        if sipp is not None:
            sipp.kill()
        sup_phone.kill()
        sup_rtp.close()
        caller_rtp.close()
        db.dispose()
