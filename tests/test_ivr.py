"""Acceptance: IVR flows as data, with real calls (SIPp from the trunk, RFC 2833
key presses), FastAGI CRM lookups, and the versioned dialplan commands.

Each test works on its own copy of dialplans/ (AITCOMMS_DIALPLANS) with a test
flow whose prompts are short, so key timings are safe; the CLI runs with that
copy, as IT ops would with their checkout.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from control.db import Database
from tests.conftest import ROOT, StackUnderTest
from tests.harness.ami import Ami
from tests.harness.dtmf import dtmf_pcap
from tests.harness.ports import media_port, sip_port
from tests.harness.sipp import Sipp, scenario
from tests.test_calls import TRUNK_IP

DID = "+34910000077"
CALLER = "34600111222"
MARIA_PHONE = "34612345678"  # seeded, DNI 12345678Z

TEST_FLOW = """
name: t
language: es
start: hours
nodes:
  hours:
    type: hours
    timezone: Europe/Madrid
    open: [{days: mon-sun, time: "00:00-24:00"}]
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
    prompts: [beep]
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

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "control", *args], env=self.env,
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        if check and proc.returncode != 0:
            raise AssertionError(f"aitcomms {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}{proc.stderr}")
        return proc

    def flow(self, holidays: str = "") -> None:
        (self.folder / "ivr" / "t.yaml").write_text(TEST_FLOW.replace("HOLIDAYS", holidays))

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
               caller: str = CALLER, stack: StackUnderTest) -> str:
    """A trunk call to the test DID pressing keys; returns SIPp's output."""
    pcap = dtmf_pcap(presses)
    sipp = Sipp(scenario("ivr_caller", wait_ms=wait_ms, call_ms=call_ms, pcap=pcap),
                stack.sip_target, local_ip=TRUNK_IP, local_port=sip_port(TRUNK_IP),
                service=DID, keys={"caller": caller},
                extra=["-mp", str(media_port(TRUNK_IP))])
    result = await sipp.run(timeout=call_ms / 1000 + 20)
    pcap.unlink(missing_ok=True)
    assert result.returncode == 0, result.output
    return result.output


async def wait_for(predicate: Any, timeout: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.25)


def simulate(ops: Ops, digits: str, caller: str = CALLER, at: str | None = None) -> str:
    args = ["dialplan", "simulate", "--from", caller, "--to", DID, "--digits", digits]
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


async def test_invalid_keys_replay_the_menu_then_the_operator_queue(ops: Ops) -> None:
    ops.cli("dialplan", "apply", "--author", "test")
    # 1: Spanish; then 7, 8, 9 are no option: menu again twice, third -> operator
    await call([(0, "1"), (1.5, "7"), (1.5, "8"), (1.5, "9")], call_ms=8000, stack=ops.stack)
    rows = await wait_for(ops.calls)
    assert rows, "the call never reached the ACD"
    assert (rows[-1]["queue"], rows[-1]["language"]) == ("operador", "es")
    sim = simulate(ops, "1789")
    assert sim.count("invalid key") == 3 and "-> operator" in sim, sim
    assert "queue operador: AIT_LANGUAGE=es" in sim


# -- 2. closed: the message, and a callback request --------------------------------


async def test_closed_on_a_holiday_offers_a_callback_that_becomes_a_task(ops: Ops) -> None:
    today = datetime.now(ZoneInfo("Europe/Madrid")).date().isoformat()
    ops.flow(holidays=today)
    ops.cli("dialplan", "apply", "--author", "test")
    before = len(ops.rows("SELECT id FROM tasks"))
    out = await call([(0, "1")], call_ms=8000, stack=ops.stack)
    assert "BYE" in out  # the IVR said goodbye and hung up itself
    tasks = await wait_for(lambda: ops.rows(
        "SELECT * FROM tasks WHERE kind = 'callback' AND phone = '+34600111222'"))
    assert len(ops.rows("SELECT id FROM tasks")) == before + 1
    assert tasks and tasks[-1]["status"] == "pending" and "closed line" in tasks[-1]["notes"]
    assert not ops.calls(), "a closed line must not queue the call"
    # simulate agrees (path 3)
    sim = simulate(ops, "1")
    assert "is a holiday -> closed" in sim and "books a callback task" in sim, sim


# -- 3. a keyed DNI identifies the customer through FastAGI ------------------------


async def test_keyed_dni_identifies_the_customer_for_the_acd(ops: Ops) -> None:
    ops.cli("dialplan", "apply", "--author", "test")
    maria = ops.rows("SELECT id FROM customers WHERE dni = '12345678Z'")[0]["id"]
    # an unknown number calls, keys 1 (Spanish), 3 (my DNI), then 12345678
    await call([(0, "1"), (1.5, "3"), (1.5, "12345678")], call_ms=12000, stack=ops.stack)
    rows = await wait_for(ops.calls, timeout=15)
    assert rows, "the call never reached the ACD"
    row = rows[-1]
    assert row["queue"] == "operador" and row["customer_id"] == maria
    assert row["priority"] >= 5
    assert "FastAGI identify" in ops.stack.log("control")
    sim = simulate(ops, "1312345678")
    assert f"dni 12345678 -> customer {maria}" in sim, sim
    assert f"AIT_PRIORITY=5 AIT_CUSTOMER_ID={maria}" in sim


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
