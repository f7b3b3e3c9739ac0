"""Unit tests of what the fault tests (tests/test_faults.py) found in the ACD,
each small enough to be proven here in a second, against a real SQLite
database: a call routed without the customer's file still gets its
interaction, a read of the database that began before an agent's state was
written cannot bring back a wrap-up that is over, and the recordings disk:
full or nearly is told once, and a recording that cannot be filed is kept."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import select

from control.acd.agents import create_agent
from control.acd.customers import CrmLink
from control.acd.models import AgentStatus, Call
from control.acd.queues import create_queue, set_member
from control.acd.recordings_disk import DiskState, RecordingsDisk
from control.acd.router import Router
from control.acd.store import AcdStore
from control.auth.audit import Actor
from control.crm.customers import create_customer
from control.crm.models import Interaction
from control.db import Database
from control.events.bus import EventBus
from tests.harness.crm import sqlite_database
from tests.harness.fake_ari import FakeAri

S = AgentStatus


def _seed(db: Database, extensions: list[str]) -> None:
    with db.session() as s:
        for ext in extensions:
            create_agent(s, extension=ext, name=f"Agent {ext}", password="secret-pw-1",
                         realm="test", languages=["es"])
        create_queue(s, name="ventas", language="es", wrapup_s=1, ring_timeout_s=15)
        for ext in extensions:
            set_member(s, "ventas", ext)


@pytest_asyncio.fixture(loop_scope="function")
async def acd(tmp_path: Path) -> AsyncIterator[tuple[Router, FakeAri, Database]]:
    db = sqlite_database(tmp_path)
    _seed(db, ["1001", "1002"])
    ari = FakeAri()
    router = Router(ari.fleet(), AcdStore(db), EventBus(), recordings_spool=tmp_path / "spool",
                    recordings_dir=tmp_path / "rec", crm=CrmLink(db))
    router.start()
    await router.refresh()
    yield router, ari, db
    await router.close()
    db.dispose()


def test_a_call_routed_without_the_customers_file_still_gets_its_interaction(
        tmp_path: Path) -> None:
    db = sqlite_database(tmp_path)
    _seed(db, ["1001"])
    with db.session() as s:
        customer = create_customer(s, actor=Actor("test"), name="Marta Gil Soto",
                                   phones=["+34600123456"])
        customer_id = customer.id
    t0 = "2026-12-06T10:00:00+00:00"
    # the CRM lookup was skipped (slow): the call's row knows no customer
    ops: list[dict[str, Any]] = [
        {"op": "call", "id": "c-9", "fields": {
            "caller_channel": "ch", "queue": "ventas", "entered_at": t0, "state": "answered",
            "caller_number": "34600123456", "answered_at": t0, "agent_extension": "1001"}},
        {"op": "ended", "close": True, "call": {
            "id": "c-9", "queue": "ventas", "caller_number": "34600123456",
            "customer_id": None, "state": "completed", "entered_at": t0, "answered_at": t0,
            "ended_at": "2026-12-06T10:02:00+00:00", "agent_extension": "1001",
            "recording": None, "direction": "inbound", "task_id": None}},
    ]
    link = CrmLink(db)
    link.apply_now(ops)
    link.apply_now(ops)  # a replay from the outbox: still one
    with db.session() as s:
        found = list(s.scalars(select(Interaction).where(Interaction.call_id == "c-9")))
        row = s.get(Call, "c-9")
        assert [(i.customer_id, i.agent_extension, i.duration_s) for i in found] == [
            (customer_id, "1001", 120)]
        assert row is not None and row.customer_id == customer_id
        assert row.state == "completed"
    db.dispose()


def test_an_unknown_caller_gets_no_interaction(tmp_path: Path) -> None:
    db = sqlite_database(tmp_path)
    _seed(db, ["1001"])
    t0 = "2026-12-06T10:00:00+00:00"
    CrmLink(db).apply_now([
        {"op": "call", "id": "c-8", "fields": {"caller_channel": "ch", "queue": "ventas",
                                               "entered_at": t0, "state": "waiting",
                                               "caller_number": "34699000111"}},
        {"op": "ended", "close": True, "call": {
            "id": "c-8", "queue": "ventas", "caller_number": "34699000111",
            "customer_id": None, "state": "abandoned", "entered_at": t0, "answered_at": None,
            "ended_at": t0, "agent_extension": None, "recording": None,
            "direction": "inbound", "task_id": None}}])
    with db.session() as s:
        assert not list(s.scalars(select(Interaction)))
        row = s.get(Call, "c-8")
        assert row is not None and row.state == "abandoned" and row.customer_id is None
    db.dispose()


async def test_a_read_begun_before_the_write_landed_keeps_the_wrap_up_over(
        acd: tuple[Router, FakeAri, Database]) -> None:
    """The race 50 calls ending at once hit: the agent's wrap-up ends (in
    memory: available), the database still says wrap-up while the
    once-a-second read runs, the write lands before the read is looked at.
    Taking the read would leave the agent in wrap-up with no timer: stuck."""
    router, _ari, _db = acd
    agents = router.agents
    await agents.set("1001", S.AVAILABLE)
    await agents.set("1001", S.ON_CALL)
    await agents.set("1001", S.WRAP_UP)
    await router.call_log.flush()
    await agents.set("1001", S.AVAILABLE)  # the wrap-up is over: not written yet
    read_started = asyncio.get_running_loop().time()
    rows, _mark = router.store.agent_states()  # the database's older state
    assert next(r for r in rows if r["extension"] == "1001")["status"] == "wrap_up"
    await router.call_log.flush()  # the write lands after the read began
    changed = agents.load(rows, None, read_started)
    assert agents.status("1001") == "available"
    assert "1001" not in [a["extension"] for a in changed]
    # a later read sees the database as it is now, and so does the router
    rows, _mark = router.store.agent_states()
    agents.load(rows, None, asyncio.get_running_loop().time())
    assert agents.status("1001") == "available"


async def test_a_state_another_process_wrote_is_still_taken(
        acd: tuple[Router, FakeAri, Database]) -> None:
    router, _ari, _db = acd
    agents = router.agents
    await agents.set("1002", S.AVAILABLE)
    await router.call_log.flush()
    await asyncio.sleep(0.01)
    router.store.set_agent_status("1002", S.PAUSED, "training", None)  # e.g. the CLI
    rows, _mark = router.store.agent_states()
    changed = agents.load(rows, None, asyncio.get_running_loop().time())
    assert agents.status("1002") == "paused"
    assert [a["extension"] for a in changed] == ["1002"]


async def test_a_roster_read_that_failed_is_tried_again_the_next_second(
        acd: tuple[Router, FakeAri, Database]) -> None:
    """An admin change (a queue member added) is announced by the audit mark;
    if the roster read it calls for fails (an SQLite file locked a moment),
    the next refresh reads it, not one ROSTER_EVERY_S later."""
    router, _ari, db = acd
    with db.session() as s:
        create_queue(s, name="autos", language="es", wrapup_s=1, ring_timeout_s=15)
        set_member(s, "autos", "1001", actor=Actor("test"))
    store = router.store
    real_roster = store.roster
    failures = []

    def locked_once() -> Any:
        if not failures:
            failures.append(1)
            raise RuntimeError("database is locked")
        return real_roster()

    store.roster = locked_once  # type: ignore[method-assign]
    await router.refresh(whole=False)
    assert failures == [1] and router.queues.get("autos") is None
    await router.refresh(whole=False)
    autos = router.queues.get("autos")
    assert autos is not None and [m["extension"] for m in autos["members"]] == ["1001"]


class Told:
    def __init__(self) -> None:
        self.events: list[tuple[str, DiskState, str | None]] = []

    async def recordings_disk_full(self, state: DiskState, reason: str) -> None:
        self.events.append(("full", state, reason))

    async def recordings_disk_ok(self, state: DiskState) -> None:
        self.events.append(("ok", state, None))


def test_low_is_the_smaller_of_5_percent_and_1_gib() -> None:
    gib = 1 << 30
    assert DiskState(Path("/r"), free=49, total=1000).low
    assert not DiskState(Path("/r"), free=50, total=1000).low
    assert DiskState(Path("/r"), free=gib - 1, total=1000 * gib).low
    assert not DiskState(Path("/r"), free=gib, total=1000 * gib).low
    assert "FULL" in DiskState(Path("/r"), free=0, total=16 << 20).describe()
    assert DiskState(Path("/r"), free=8 << 20, total=16 << 20).describe() \
        == "8.0 MB free of 16.0 MB"


async def test_a_full_disk_is_told_once_and_room_again_once(
        tmp_path: Path, monkeypatch: Any) -> None:
    from control.acd import recordings_disk

    free = {"now": 0}
    monkeypatch.setattr(recordings_disk, "disk_state",
                        lambda p: DiskState(p, free["now"], 1000))
    told = Told()
    disk = RecordingsDisk(tmp_path, told)  # type: ignore[arg-type]
    await disk.check()
    await disk.check()
    await disk.refused(OSError(errno.ENOSPC, "No space left on device"), tmp_path / "x.wav")
    assert [e[0] for e in told.events] == ["full"]
    free["now"] = 500
    await disk.check()
    await disk.check()
    assert [e[0] for e in told.events] == ["full", "ok"]
    # a refused filing says why, at once, without waiting for the next look
    free["now"] = 999
    await disk.refused(OSError(errno.ENOSPC, "No space left on device"), tmp_path / "y.wav")
    assert told.events[-1][0] == "full" and "No space left" in str(told.events[-1][2])


def test_a_recording_that_cannot_be_filed_stays_whole_in_the_spool(tmp_path: Path) -> None:
    from control.acd.lifecycle import file_recording

    spool = tmp_path / "spool"
    spool.mkdir()
    src = spool / "c-1.wav"
    src.write_bytes(b"RIFF" + b"\0" * 4096)
    blocked = tmp_path / "recordings"
    blocked.write_text("a file where the folder should be")  # the move must fail
    try:
        file_recording(src, blocked / "c-1.wav")
    except OSError:
        pass
    else:
        raise AssertionError("filing into a file cannot succeed")
    assert src.read_bytes() == b"RIFF" + b"\0" * 4096
