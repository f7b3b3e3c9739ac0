"""A call that ends while the database is briefly away is written when it
comes back: CrmLink keeps the write in an outbox file and replays it, once.
No telephony: the ACD's call rows are given as the router hands them over."""

from __future__ import annotations

import asyncio
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from control.acd.customers import CrmLink
from control.auth.audit import SEED
from control.crm.customers import create_customer
from control.crm.models import Interaction, Task
from control.db import Database
from tests.harness.crm import pg_set_available


@contextmanager
def database_away(db: Database) -> Iterator[None]:
    """The database refuses connections inside the block, and is back after it."""
    if db.engine.dialect.name == "postgresql":
        pg_set_available(db.url, False)
        try:
            yield
        finally:
            pg_set_available(db.url, True)
        return
    # SQLite: the file is moved away and a folder takes its name: "unable to open"
    db.engine.dispose()
    path = Path(db.url.split("///", 1)[1])
    aside = path.parent / "aside"
    aside.mkdir()
    files = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
    for p in files:
        shutil.move(p, aside / p.name)
    path.mkdir()
    try:
        yield
    finally:
        path.rmdir()
        for p in files:
            shutil.move(aside / p.name, p)
        aside.rmdir()


def _call(state: str, customer_id: int | None, caller: str = "+34612345678") -> dict[str, Any]:
    entered = datetime.now(UTC) - timedelta(minutes=5)
    answered = entered + timedelta(seconds=30) if state == "completed" else None
    return {"id": str(uuid.uuid4()), "queue": "autos", "caller_number": caller,
            "customer_id": customer_id, "language": "es", "skills": ["auto"], "priority": 0,
            "state": state, "agent_extension": "1001" if answered else None,
            "entered_at": entered.isoformat(),
            "answered_at": answered.isoformat() if answered else None,
            "ended_at": (entered + timedelta(minutes=4)).isoformat(),
            "recording": "2026/11/24/x.wav" if answered else None}


def _written(db: Database, call_id: str, queue: str = "autos") -> tuple[int, int]:
    """(interactions of the call, callback tasks of the call)."""
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(Interaction)
                         .where(Interaction.call_id == call_id)) or 0,
                s.scalar(select(func.count()).select_from(Task)
                         .where(Task.notes.contains(call_id))) or 0)


async def _until(predicate: Any, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_call_ended_while_the_database_is_away_is_written_once_it_is_back(
        database: Database) -> None:
    with database.session() as s:
        maria = create_customer(s, actor=SEED, name="María García López",
                                phones=["612 34 56 78"]).id
    link = CrmLink(database, retry_every=0.05)
    answered = _call("completed", maria)
    overflowed = _call("callback", None, caller="+34699000111")  # unknown caller

    with database_away(database):
        with pytest.raises(OperationalError):  # really away
            _written(database, answered["id"])
        await link.call_ended(answered)  # never raises into the call flow
        await link.call_ended(overflowed)
        assert link.pending() == 2
        assert stat.S_IMODE(link.outbox.stat().st_mode) == 0o600
        assert await link.replay() == 0  # still away: nothing done, nothing dropped
        assert link.pending() == 2
    assert _written(database, answered["id"]) == (0, 0)  # nothing was written meanwhile

    link.start()  # the control plane starts it; it finds the database back
    try:
        await _until(lambda: link.pending() == 0)
    finally:
        await link.close()
    assert not link.outbox.exists()
    assert _written(database, answered["id"]) == (1, 0)
    assert _written(database, overflowed["id"]) == (0, 1)
    with database.session() as s:
        row = s.scalars(select(Interaction).where(Interaction.call_id == answered["id"])).one()
        assert (row.customer_id, row.outcome, row.agent_extension, row.duration_s) == (
            maria, "answered", "1001", 210)
        task = s.scalars(select(Task).where(Task.notes.contains(overflowed["id"]))).one()
        assert (task.kind, task.phone, task.status) == ("callback", "+34699000111", "pending")

    # a replay of writes already done (a crash between the commit and the outbox
    # rewrite, or the ACD telling twice) writes nothing more
    for call in (answered, overflowed):
        link._append(link.outbox, {"call": call})
    assert await link.replay() == 2
    await link.call_ended(answered)
    assert _written(database, answered["id"]) == (1, 0)
    assert _written(database, overflowed["id"]) == (0, 1)
    assert link.pending() == 0


async def test_a_write_the_crm_refuses_is_kept_aside_not_retried(database: Database,
                                                                 tmp_path: Path) -> None:
    link = CrmLink(database, outbox=tmp_path / "outbox" / "crm.jsonl")
    gone = _call("completed", customer_id=999)  # no such customer (deleted meanwhile)
    await link.call_ended(gone)
    assert link.pending() == 0 and not link.outbox.exists()
    kept = link.rejected.read_text().splitlines()
    assert len(kept) == 1 and gone["id"] in kept[0] and "NotFound" in kept[0]


async def test_pending_writes_of_a_previous_run_are_replayed_at_start(
        database: Database) -> None:
    with database.session() as s:
        maria = create_customer(s, actor=SEED, name="María García López",
                                phones=["612 34 56 78"]).id
    first = CrmLink(database)
    call = _call("abandoned", maria)
    with database_away(database):
        await first.call_ended(call)
    assert first.pending() == 1
    # the control plane restarts: a new link on the same var folder
    second = CrmLink(database, retry_every=60)
    second.start()
    try:
        await _until(lambda: second.pending() == 0)
    finally:
        await second.close()
    assert _written(database, call["id"]) == (1, 0)
