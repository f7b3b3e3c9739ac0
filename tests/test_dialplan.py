"""Unit: IVR flow checks and the simulator's rules (no stack needed)."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from control.ivr.flows import FlowError, load_flow, load_flows
from control.settings import PROJECT_ROOT, Settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    return path


def test_project_flows_load() -> None:
    flows = {f.name: f for f in load_flows(PROJECT_ROOT / "dialplans" / "ivr")}
    assert flows["welcome"].steps  # the built-in straight line still loads
    seguros = flows["seguros"]
    assert seguros.node(seguros.start).kind == "hours"
    assert {"es", "en"} <= seguros.languages


@pytest.mark.parametrize("body, message", [
    ("start: a\nnodes:\n  a: {type: menu, options: {'1': b}, on_fail: a}\n",
     "goes to 'b', which is not a node"),
    ("start: a\nnodes:\n  a: {type: menu, options: {'12': a}, on_fail: a}\n",
     "a key is one of 0-9 * #"),
    ("start: a\nnodes:\n  a: {type: hangup}\n  b: {type: hangup}\n", "never reached"),
    ("start: a\nnodes:\n  a: {type: queue}\n", "queue needs queue"),
    ("start: a\nnodes:\n  a: {type: hours, open: [{days: mon-fry, time: '09:00-18:00'}],"
     " next: a, closed: a}\n", "days 'mon-fry'"),
    ("start: a\nnodes:\n  a: {type: play, prompts: ['../../etc/passwd'], next: a}\n",
     "prompts are sound names"),
])
def test_broken_flows_are_refused_with_the_reason(tmp_path: Path, body: str,
                                                  message: str) -> None:
    with pytest.raises(FlowError, match=message.replace("(", r"\(").replace("*", r"\*")):
        load_flow(write(tmp_path, "name: x\nlanguage: es\n" + body))


def test_hours_rules(tmp_path: Path) -> None:
    flow = load_flow(write(tmp_path, """name: x
start: h
nodes:
  h: {type: hours, timezone: Europe/Madrid, holidays: [2026-12-25], next: o, closed: c,
      open: [{days: mon-fri, time: "09:00-18:00"}, {days: sat-sun, time: "10:00-12:00"}]}
  o: {type: hangup}
  c: {type: hangup}
"""))
    h = flow.node("h")
    assert h.holidays == (date(2026, 12, 25),)
    weekdays, weekend = h.open
    assert (weekdays.days, weekdays.times) == ("mon-fri", "09:00-18:00")
    assert weekdays.covers(0, time(9, 0)) and not weekdays.covers(0, time(18, 0))
    assert not weekdays.covers(5, time(10, 0)) and weekend.covers(6, time(11, 59))
    assert (weekdays.iso_days, weekend.iso_days) == ("12345", "67")  # the dialplan's %u


def test_forced_clock_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AITCOMMS_CLOCK", "2026-03-02 22:30")  # Madrid time
    assert Settings.from_env().clock == datetime(2026, 3, 2, 22, 30,
                                                 tzinfo=ZoneInfo("Europe/Madrid"))
    monkeypatch.setenv("AITCOMMS_CLOCK", "2026-03-02T21:30+00:00")
    assert Settings.from_env().clock == datetime(2026, 3, 2, 22, 30,
                                                 tzinfo=ZoneInfo("Europe/Madrid"))
    monkeypatch.setenv("AITCOMMS_CLOCK", "monday night")
    with pytest.raises(SystemExit, match="AITCOMMS_CLOCK='monday night': expected"):
        Settings.from_env()
    monkeypatch.delenv("AITCOMMS_CLOCK")
    assert Settings.from_env().clock is None
