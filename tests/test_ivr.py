"""Acceptance: IVR flows as data, with real calls (SIPp from the trunk, RFC 2833
key presses), FastAGI CRM lookups, and the versioned dialplan commands.

Each test works on its own copy of dialplans/ (AITCOMMS_DIALPLANS) with a test
flow whose prompts are short, so key timings are safe; the CLI runs with that
copy, as IT ops would with their checkout. Callers either play a pcap of key
presses (SIPp) or, when the test must hear what they hear and key at the
right node, are a LiveCaller: SIPp signalling, the test's own RTP endpoint.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import text

from control.db import Database
from control.events import websocket as events_websocket
from tests.conftest import ROOT, StackUnderTest
from tests.harness.ami import Ami
from tests.harness.dtmf import Keypad, dtmf_pcap
from tests.harness.ports import media_port, sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import Sipp, scenario
from tests.harness.wait import wait_until
from tests.test_acd import add_agent, agent_phones, supervisor_token
from tests.test_calls import TRUNK_IP, caller
from tests.test_events import socket

DID = "+34910000077"
SEGUROS_DID = "+34910000078"  # the real insurance line, dialplans/ivr/seguros.yaml
CALLER = "34600111222"
MARIA_PHONE = "34612345678"  # seeded, DNI 12345678Z
JOHN_PHONE = "34645678901"  # seeded, English
JOHN_POLICY = "2026000002"  # John Smith's AUT-2026-000002, keyed without letters
MADRID = ZoneInfo("Europe/Madrid")
ALL_WEEK = '{days: mon-sun, time: "00:00-24:00"}'

TEST_FLOW = """
name: t
language: es
start: hours
nodes:
  hours:
    type: hours
    timezone: Europe/Madrid
    open: [OPEN]
    holidays: [HOLIDAYS]
    next: lang
    closed: closed
  lang:
    type: menu
    prompts: [beep]
    options:
      "1": {next: main, language: es}
      "2": {next: main, language: en}
    timeout: 6
    retries: 2
    invalid: [beep]
    on_fail: main
  main:
    type: menu
    prompts: [beep]
    options:
      "1": {next: q_autos, skills: [auto]}
      "2": {next: q_home, skills: [home]}
      "3": dni
      "4": policy
      "0": operator
    timeout: 6
    retries: 3
    invalid: [beep]
    on_fail: operator
  dni:
    type: identify
    by: dni
    prompts: [beep]
    timeout: 5
    retries: 2
    next: vip
    on_fail: operator
  policy:
    type: identify
    by: policy
    prompts: [beep]
    timeout: 5
    retries: 1
    next: status
    on_fail: operator
  status:
    type: self_service
    status_prompts:
      active: [auth-thankyou]
      expired: [vm-sorry]
    next: after
    on_fail: operator
  after:
    type: menu
    prompts: [beep]
    options:
      "0": vip
    timeout: 5
    retries: 1
    invalid: []
    on_fail: bye
  vip:
    type: queue
    queue: operador
    priority: 5
  q_autos:
    type: queue
    queue: autos
  q_home:
    type: queue
    queue: hogar
    skills: [home]
  operator:
    type: queue
    queue: operador
  closed:
    type: menu
    prompts: [vm-nobodyavail]
    options:
      "1": callback
    timeout: 6
    retries: 1
    invalid: []
    on_fail: bye
  callback:
    type: callback
    note: closed line
    prompts: [beep]
    next: bye
  bye:
    type: hangup
    prompts: [beep]
"""


class Ops:
    """The CLI on a copy of dialplans/, and the test stack's database."""

    def __init__(self, stack: StackUnderTest, folder: Path) -> None:
        self.stack = stack
        self.folder = folder
        self.env = {**stack.env, "AITCOMMS_DIALPLANS": str(folder)}

    def cli(self, *args: str, check: bool = True, clock: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        """``clock``: AITCOMMS_CLOCK for this command (an apply renders it in)."""
        env = {**self.env, "AITCOMMS_CLOCK": clock} if clock else self.env
        proc = subprocess.run([sys.executable, "-m", "control", *args], env=env,
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        if check and proc.returncode != 0:
            raise AssertionError(f"aitcomms {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}{proc.stderr}")
        return proc

    def flow(self, holidays: str = "", open: str = ALL_WEEK) -> None:
        (self.folder / "ivr" / "t.yaml").write_text(
            TEST_FLOW.replace("HOLIDAYS", holidays).replace("OPEN", open))

    def rows(self, sql: str) -> list[dict[str, Any]]:
        db = Database(self.stack.settings)
        with db.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(text(sql))]
        db.dispose()
        return rows

    def calls(self) -> list[dict[str, Any]]:
        rows = self.rows("SELECT * FROM calls ORDER BY entered_at")
        for r in rows:
            if isinstance(r["skills"], str):
                r["skills"] = json.loads(r["skills"])
        return rows

    def running(self) -> str:
        return (self.stack.settings.asterisk_dir / "etc" / "extensions.conf").read_text()


@pytest.fixture
def ops(clean_stack: StackUnderTest, tmp_path: Path) -> Iterator[Ops]:
    folder = tmp_path / "dialplans"
    shutil.copytree(ROOT / "dialplans", folder)
    o = Ops(clean_stack, folder)
    o.flow()
    o.cli("db", "seed")
    o.cli("trunk", "add", "carrier", "--host", TRUNK_IP)
    for name, skills in (("autos", "auto"), ("hogar", "home"), ("operador", "")):
        o.cli("queue", "add", name, "--skills", skills, "--language", "es")
    o.cli("did", "add", DID, "--to", "ivr:t")
    yield o


async def call(presses: list[tuple[float, str]], *, wait_ms: int = 1200, call_ms: int = 6000,
               caller: str = CALLER, did: str = DID, stack: StackUnderTest,
               ivr_hangs_up: bool = False) -> str:
    """A trunk call to the test DID pressing keys; returns SIPp's output.
    ``ivr_hangs_up``: the IVR must end the call (its BYE) within ``call_ms``;
    a caller that has to hang up by itself fails the test."""
    pcap = dtmf_pcap(presses)
    sipp = Sipp(scenario("ivr_caller", wait_ms=wait_ms, call_ms=call_ms, pcap=pcap,
                         on_call_end="gave_up" if ivr_hangs_up else "hangup"),
                stack.sip_target, local_ip=TRUNK_IP, local_port=sip_port(TRUNK_IP),
                service=did, keys={"caller": caller},
                extra=["-mp", str(media_port(TRUNK_IP))])
    result = await sipp.run(timeout=call_ms / 1000 + 20)
    pcap.unlink(missing_ok=True)
    assert result.returncode == 0, result.output
    return result.output


# the IVR's waits are bounded at 10 s (wait_until's default is 15)
wait_for = partial(wait_until, timeout=10)


class LiveCaller:
    """A trunk caller whose own RTP endpoint hears the IVR and keys RFC 2833
    digits (the sip-tester pcaps' packets) when the test says: a test waits
    for the call to reach a node, presses, and measures what was heard."""

    def __init__(self, stack: StackUnderTest, *, caller: str = CALLER, did: str = DID,
                 call_ms: int = 30000) -> None:
        self.stack, self.caller, self.did, self.call_ms = stack, caller, did, call_ms

    async def __aenter__(self) -> LiveCaller:
        self.rtp = await RtpEndpoint.open(TRUNK_IP)
        self.sipp = caller(self.stack, self.did, self.rtp, call_ms=self.call_ms,
                           from_user=self.caller)
        await self.sipp.start()
        # read SIPp's output from the start: a full pipe would stall it
        self.result = asyncio.create_task(self.sipp.wait(self.call_ms / 1000 + 20))
        # Asterisk sends from the port it receives on: where our keys go
        assert await wait_for(lambda: self.rtp.last_source), "the IVR was never heard"
        assert self.rtp.transport is not None and self.rtp.last_source is not None
        self.keypad = Keypad(self.rtp.transport, self.rtp.last_source)
        return self

    async def press(self, keys: str) -> None:
        await self.keypad.press(keys)

    async def __aexit__(self, *exc: object) -> None:
        self.sipp.kill()  # a call still up is hung up by clean_stack
        await self.result
        self.rtp.close()


def ivr_hung_up(steps: list[dict[str, Any]], node: str = "bye") -> bool:
    """Did the call run Hangup() in ``node`` (Newexten events, Ami.record)?
    The IVR ending the call itself, whatever the caller's SIPp does after."""
    return any(e.get("Context") == f"ivr-t-{node}" and
               str(e.get("Application", "")).lower() == "hangup" for e in steps)


async def at_node(ami: Ami, node: str, timeout: float = 10) -> str:
    """The channel that reached ``node`` of the test flow (its context)."""
    async def find() -> str:
        return next((c["Channel"] for c in await ami.channels()
                     if c.get("Context") == f"ivr-t-{node}"), "")
    channel: str = await ami.wait_for(find, timeout=timeout)
    assert channel, f"no call reached node {node}: {await ami.channels()}"
    return channel


def simulate(ops: Ops, digits: str, caller: str = CALLER, at: str | None = None,
             did: str = DID) -> str:
    args = ["dialplan", "simulate", "--from", caller, "--to", did, "--digits", digits]
    if at:
        args += ["--at", at]
    return ops.cli(*args).stdout


# -- 1. menus, DTMF, queue handoff -------------------------------------------------


async def test_key_presses_reach_the_queue_with_language_and_skills(ops: Ops) -> None:
    ops.cli("dialplan", "apply", "--author", "test")
    # 2: English, then 1: autos (skill auto)
    await call([(0, "2"), (1.5, "1")], call_ms=5000, stack=ops.stack)
    rows = await wait_for(ops.calls)
    assert rows, "the call never reached the ACD"
    row = rows[-1]
    assert (row["queue"], row["language"], row["skills"]) == ("autos", "en", ["auto"])
    # simulate agrees with the real call (path 1)
    sim = simulate(ops, "21")
    assert "queue autos: AIT_LANGUAGE=en AIT_SKILLS=auto" in sim, sim
    assert "language en, skills auto" in sim

    # the real insurance line, on a Tuesday morning (the clock forced: open
    # whenever the test runs): María, known by her caller ID, keys 1 (Spanish)
    # then 1 (car insurance)
    ops.cli("did", "add", SEGUROS_DID, "--to", "ivr:seguros")
    tuesday = "2026-03-03 10:00"
    ops.cli("dialplan", "apply", "--author", "test", clock=tuesday)
    maria = ops.rows("SELECT id FROM customers WHERE dni = '12345678Z'")[0]["id"]
    await call([(0, "1"), (1.5, "1")], call_ms=5000, caller=MARIA_PHONE, did=SEGUROS_DID,
               stack=ops.stack)
    rows = await wait_for(lambda: [r for r in ops.calls() if r["customer_id"] == maria])
    assert rows, f"María's call never reached the ACD: {ops.calls()}"
    # auto from the IVR; her file adds claims (an open claim) and home (her home
    # policy; her auto policy is the IVR's auto already): control.acd.needs
    assert (rows[-1]["queue"], rows[-1]["language"], rows[-1]["skills"]) == (
        "autos", "es", ["auto", "claims", "home"])
    assert rows[-1]["priority"] == 10  # a VIP customer goes first
    sim = simulate(ops, "11", caller=MARIA_PHONE, at=tuesday, did=SEGUROS_DID)
    assert "[horario] hours: Tue 10:00 Europe/Madrid open" in sim, sim
    assert f"caller ID {MARIA_PHONE} -> customer {maria}" in sim, sim
    assert f"queue autos: AIT_LANGUAGE=es AIT_SKILLS=auto AIT_PRIORITY= " \
           f"AIT_CUSTOMER_ID={maria} -> ACD: language es, skills auto,claims,home" in sim, sim


async def test_no_language_chosen_the_customers_own_routes(ops: Ops) -> None:
    """John Smith (English, in his file) keys no language (a key that is no
    option: the language menu gives up at once); the flow's language
    (Spanish) is only the prompts', and the ACD routes him in English from
    his record."""
    ops.cli("did", "add", SEGUROS_DID, "--to", "ivr:seguros")
    tuesday = "2026-03-03 10:00"
    ops.cli("dialplan", "apply", "--author", "test", clock=tuesday)
    john = ops.rows("SELECT id FROM customers WHERE dni = 'X1234567L'")[0]["id"]
    await call([(0, "#"), (1.5, "1")], call_ms=6000, caller=JOHN_PHONE,
               did=SEGUROS_DID, stack=ops.stack)
    rows = await wait_for(lambda: [r for r in ops.calls() if r["customer_id"] == john])
    assert rows, f"John's call never reached the ACD: {ops.calls()}"
    assert (rows[-1]["queue"], rows[-1]["language"]) == ("autos", "en"), rows[-1]
    sim = simulate(ops, "#1", caller=JOHN_PHONE, at=tuesday, did=SEGUROS_DID)
    assert "queue autos: AIT_LANGUAGE= AIT_SKILLS=auto" in sim, sim
    assert "-> ACD: language en" in sim, sim


async def test_invalid_keys_replay_the_menu_then_the_operator_queue(ops: Ops) -> None:
    ops.cli("dialplan", "apply", "--author", "test")
    async with Ami(ops.stack.port("ami"), ops.stack.secret("AMI_PASSWORD")) as ami:
        steps = ami.record("Newexten")  # every dialplan step the call runs
        # 1: Spanish; then 7, 8, 9 are no option: menu again twice, third -> operator
        await call([(0, "1"), (1.5, "7"), (1.5, "8"), (1.5, "9")], call_ms=8000,
                   stack=ops.stack)
        rows = await wait_for(ops.calls)
    assert rows, "the call never reached the ACD"
    assert (rows[-1]["queue"], rows[-1]["language"]) == ("operador", "es")
    # main's menu prompt played 3 times (retries: 3), the invalid prompt
    # between them twice, and only then the operator queue
    main = [e for e in steps if e.get("Context") == "ivr-t-main"]
    app = {id(e): str(e.get("Application", "")).lower() for e in main}  # "BackGround"
    menus = [e for e in main if app[id(e)] == "background"]
    invalid = [e for e in main if e.get("Extension") == "i" and app[id(e)] == "playback"]
    assert (len(menus), len(invalid)) == (3, 2), [
        (e.get("Extension"), e.get("Application")) for e in main]
    first_queue = next(i for i, e in enumerate(steps) if e.get("Context") == "queue-operador")
    assert steps.index(menus[-1]) < first_queue
    sim = simulate(ops, "1789")
    assert sim.count("invalid key") == 3 and "-> operator" in sim, sim
    assert "queue operador: AIT_LANGUAGE=es" in sim


# -- 2. closed: the message, and a callback request --------------------------------


async def test_closed_line_offers_a_callback_that_becomes_a_task(ops: Ops) -> None:
    # on a holiday (today, by the real clock)
    today = datetime.now(MADRID).date().isoformat()
    ops.flow(holidays=today)
    ops.cli("dialplan", "apply", "--author", "test")
    before = len(ops.rows("SELECT id FROM tasks"))
    async with Ami(ops.stack.port("ami"), ops.stack.secret("AMI_PASSWORD")) as ami:
        steps = ami.record("Newexten")
        # SIPp fails the call unless the IVR's BYE ends it
        await call([(0, "1")], call_ms=8000, stack=ops.stack, ivr_hangs_up=True)
    assert ivr_hung_up(steps), steps  # the IVR said goodbye and hung up itself
    tasks = await wait_for(lambda: ops.rows(
        "SELECT * FROM tasks WHERE kind = 'callback' AND phone = '+34600111222'"))
    assert len(ops.rows("SELECT id FROM tasks")) == before + 1
    assert tasks and tasks[-1]["status"] == "pending" and "closed line" in tasks[-1]["notes"]
    assert not ops.calls(), "a closed line must not queue the call"
    # simulate agrees (path 3)
    sim = simulate(ops, "1")
    assert "is a holiday -> closed" in sim and "books a callback task" in sim, sim

    # outside business hours, the time forced: open today's weekday only, and
    # the clock set to tomorrow noon (were it ignored, the line would be open)
    now = datetime.now(MADRID)
    ops.flow(open=f'{{days: {now:%a}, time: "00:00-24:00"}}'.lower())
    tomorrow = f"{now + timedelta(days=1):%Y-%m-%d} 12:00"
    ops.cli("dialplan", "apply", "--author", "test", clock=tomorrow)
    async with Ami(ops.stack.port("ami"), ops.stack.secret("AMI_PASSWORD")) as ami, \
            LiveCaller(ops.stack) as caller:
        steps = ami.record("Newexten")
        channel = await at_node(ami, "closed")
        caller.rtp.reset()
        await asyncio.sleep(1.2)  # the closed message (vm-nobodyavail) plays
        heard, loud = caller.rtp.packets, caller.rtp.rms()
        await caller.press("1")

        async def gone() -> bool:
            return all(c["Channel"] != channel for c in await ami.channels())
        ended = await ami.wait_for(gone, timeout=10)
    assert heard >= 40 and loud > 200, f"closed message: {heard} packets, rms {loud:.0f}"
    # the IVR said goodbye and hung up (the caller would have stayed 30 s)
    assert ended and ivr_hung_up(steps), steps
    tasks = await wait_for(lambda: ops.rows(
        "SELECT * FROM tasks WHERE kind = 'callback' AND phone = '+34600111222' "
        "ORDER BY id")[1:])
    assert len(ops.rows("SELECT id FROM tasks")) == before + 2
    assert tasks and "closed line" in tasks[-1]["notes"]
    assert not ops.calls()
    sim = simulate(ops, "1", at=tomorrow)
    assert f"{now + timedelta(days=1):%a} 12:00 Europe/Madrid closed" in sim, sim
    assert "books a callback task" in sim
    assert f"{now:%a} 12:00 Europe/Madrid open" in simulate(ops, "1", at=f"{now:%Y-%m-%d} 12:00")


# -- 3. a keyed DNI identifies the customer through FastAGI ------------------------


async def test_keyed_dni_identifies_the_customer_for_the_acd(ops: Ops) -> None:
    stack = ops.stack
    # the session's log: earlier IVR calls (the tests above) identify callers too
    log_from = len(stack.log("control"))
    add_agent(stack, "1001", languages="es")  # María's agent last time (seed)
    ops.cli("queue", "member", "add", "operador", "1001")
    ops.cli("dialplan", "apply", "--author", "test")
    maria = ops.rows("SELECT id FROM customers WHERE dni = '12345678Z'")[0]["id"]
    url = f"http://127.0.0.1:{stack.port('http')}{events_websocket.PATH}"
    async with aiohttp.ClientSession() as http, \
            socket(http, url, supervisor_token(stack)) as ws, \
            agent_phones(stack, "1001"):
        # an unknown number calls, keys 1 (Spanish), 3 (my DNI), then 12345678
        await call([(0, "1"), (1.5, "3"), (1.5, "12345678")], call_ms=12000, stack=stack)
        rows = await wait_for(ops.calls, timeout=15)
        assert rows, "the call never reached the ACD"
        pop = (await ws.wait_for("call.incoming"))["data"]
    row = rows[-1]
    assert row["queue"] == "operador" and row["customer_id"] == maria
    assert row["priority"] == 15  # 5 from the IVR, +10: María is a VIP
    assert "FastAGI identify" in stack.log("control", since=log_from)
    # the ringing agent's screen pop is María's file, not the caller ID's (nobody)
    assert (pop["call_id"], pop["agent"], pop["customer_id"]) == (row["id"], "1001", maria)
    assert pop["context"]["customer"]["name"] == "María Rodríguez Sánchez"
    assert {p["number"] for p in pop["context"]["policies"]} == {
        "AUT-2026-000001", "HOG-2026-000001"}
    # and the agent who helped her before was preferred
    decision = ops.rows(f"SELECT candidates FROM routing_decisions WHERE call_id = "
                        f"'{row['id']}'")[0]["candidates"]
    decision = json.loads(decision) if isinstance(decision, str) else decision
    assert "previous_agent" in decision[0]["breakdown"], decision
    sim = simulate(ops, "1312345678")
    assert f"dni 12345678 -> customer {maria}" in sim, sim
    assert f"AIT_PRIORITY=5 AIT_CUSTOMER_ID={maria}" in sim


async def test_policy_number_self_service_reads_the_status_then_the_queue(ops: Ops) -> None:
    ops.cli("dialplan", "apply", "--author", "test")
    john = ops.rows("SELECT customer_id FROM policies WHERE number = 'AUT-2026-000002'"
                    )[0]["customer_id"]
    async with Ami(ops.stack.port("ami"), ops.stack.secret("AMI_PASSWORD")) as ami, \
            LiveCaller(ops.stack) as caller:
        # an unknown number: 1 (Spanish), 4 (my policy), then its number
        await at_node(ami, "lang")
        await caller.press("1")
        await at_node(ami, "main")
        await caller.press("4")
        await at_node(ami, "policy")
        await caller.press(JOHN_POLICY)
        caller.rtp.reset()
        # identified (FastAGI), the status and renewal date read out, then the
        # next menu
        channel = await at_node(ami, "after", timeout=15)
        heard, loud = caller.rtp.packets, caller.rtp.rms()
        found = {v: await ami.getvar(channel, v) for v in
                 ("AIT_CUSTOMER_ID", "AIT_POLICY_NUMBER", "AIT_POLICY_STATUS",
                  "AIT_POLICY_RENEWAL")}
        await caller.press("0")  # an agent, please
        rows = await wait_for(ops.calls)
    assert found["AIT_CUSTOMER_ID"] == str(john)
    assert (found["AIT_POLICY_NUMBER"], found["AIT_POLICY_STATUS"]) == (
        "AUT-2026-000002", "active")
    renewal = datetime.fromtimestamp(int(found["AIT_POLICY_RENEWAL"]), MADRID)
    assert f"{renewal:%Y-%m-%d}" == "2027-01-01"
    # "gracias" (1 s), then the date said in words (~4 s here): audio, not silence
    assert heard >= 150 and loud > 200, f"readout: {heard} packets, rms {loud:.0f}"
    assert rows and (rows[-1]["queue"], rows[-1]["customer_id"]) == ("operador", john)
    sim = simulate(ops, f"14{JOHN_POLICY}0")
    assert f"policy {JOHN_POLICY} -> customer {john}" in sim, sim
    assert "policy AUT-2026-000002 active, renewal 2027-01-01 read out" in sim
    assert f"AIT_PRIORITY=5 AIT_CUSTOMER_ID={john}" in sim


# -- 4. apply during a call, refusals, rollback ------------------------------------


async def test_apply_keeps_calls_up_refuses_broken_input_and_rolls_back(ops: Ops) -> None:
    # the fixture's `did add` already rendered the flow: change it, then apply
    flow = ops.folder / "ivr" / "t.yaml"
    flow.write_text(flow.read_text().replace("timeout: 6\n    retries: 3", "timeout: 7\n"
                                             "    retries: 3"))
    first = ops.cli("dialplan", "apply", "--author", "ana")
    assert "applied by ana" in first.stdout, first.stdout
    v1 = ops.running()
    # a caller waits in the main menu (long call, no keys) while ops change it
    pcap_call = asyncio.create_task(call([(0, "1")], call_ms=9000, stack=ops.stack))
    async with Ami(ops.stack.port("ami"), ops.stack.secret("AMI_PASSWORD")) as ami:
        async def in_ivr() -> bool:
            return any(c.get("Context") == "ivr-t-main" for c in await ami.channels())
        assert await ami.wait_for(in_ivr, timeout=8), "the caller never reached the menu"
        # home insurance moves to the autos team (with its skill)
        flow.write_text(flow.read_text().replace("queue: hogar", "queue: autos"))
        diff = ops.cli("dialplan", "diff", check=False)
        assert diff.returncode == 1, diff.stdout + diff.stderr
        assert "+ same => n,Goto(queue-autos,s,1)" in diff.stdout, diff.stdout
        second = ops.cli("dialplan", "apply", "--author", "luis")
        assert "applied by luis" in second.stdout
        assert await in_ivr(), "the call in progress was dropped by the reload"
    await pcap_call
    v2 = ops.running()
    assert v2 != v1
    # the next call takes the new path
    await call([(0, "1"), (1.5, "2")], call_ms=4000, stack=ops.stack)
    rows = await wait_for(lambda: [r for r in ops.calls() if r["queue"] == "autos"])
    assert rows and rows[-1]["skills"] == ["home"]

    # a broken template is refused with its line; nothing changes
    template = ops.folder / "extensions.conf.j2"
    good = template.read_text()
    template.write_text(good + "\n{% for x in %}\n")
    bad = ops.cli("dialplan", "apply", check=False)
    assert bad.returncode == 2 and "extensions.conf.j2, line" in bad.stderr, bad.stderr
    assert ops.running() == v2
    # a lint error (a jump to a context that does not exist) is refused too
    template.write_text(good + "\n[broken]\nexten => s,1,Goto(nowhere,s,1)\n")
    bad = ops.cli("dialplan", "apply", check=False)
    assert bad.returncode == 2 and "'nowhere', which does not exist" in bad.stderr, bad.stderr
    # ... and so is what only Asterisk's parser notices
    template.write_text(good + "\n[broken]\nexten => s,1,NoSuchApp(1)\n")
    bad = ops.cli("dialplan", "validate", check=False)
    assert bad.returncode == 2 and "'NoSuchApp' does not exist" in bad.stderr, bad.stderr
    assert ops.running() == v2
    template.write_text(good)

    # history and rollback to the first version, exactly
    history = ops.cli("dialplan", "history").stdout
    ids = {line.split()[3]: int(line.split()[0]) for line in history.splitlines()[1:]
           if line.split()[0].isdigit() and line.split()[3] in ("ana", "luis")}
    assert set(ids) == {"ana", "luis"}, history
    back = ops.cli("dialplan", "rollback", str(ids["ana"]), "--author", "ana")
    assert "restored" in back.stdout
    assert ops.running() == v1
    await call([(0, "1"), (1.5, "2")], call_ms=4000, stack=ops.stack)
    rows = await wait_for(lambda: [r for r in ops.calls() if r["queue"] == "hogar"])
    assert rows and rows[-1]["skills"] == ["home"]
    assert "rollback" in ops.cli("dialplan", "history").stdout
