"""What the ACD asks of the CRM and tells it: who is calling (routing and the
screen pop), and, after each call, the interaction and any callback task.

The write after a call is never lost to a database that is briefly away
(a restart, a failover, a lock another process holds): it goes to an outbox
file in the var folder (JSON lines, fsync'd, mode 0600) and a retry loop
writes it when the database answers again. The router closes the call's own
row the same way (``close=True``), so the end of a call is one transaction:
calls row, interaction, callback task, written now or from the outbox later.
Writing is idempotent (a closed call row is left as it is, one interaction per
call id, one callback task per call), so a replay after a crash cannot double it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Call
from control.acd.store import OPEN_STATES, apply_op, coalesce
from control.auth.audit import Actor
from control.crm.customers import (
    create_task,
    customer_context,
    find_customer_by_phone,
    last_agent_for_customer,
    record_interaction,
)
from control.crm.desk import complete_task
from control.crm.models import (
    OPEN_TASK_STATUSES,
    Customer,
    Direction,
    Interaction,
    InteractionOutcome,
    Task,
    TaskKind,
)
from control.db import Database

log = logging.getLogger(__name__)
ACD = Actor("acd")
OPEN_TASKS = {s.value for s in OPEN_TASK_STATUSES}
OUTBOX = "crm-outbox.jsonl"  # writes waiting for the database
REJECTED = "crm-outbox.rejected.jsonl"  # writes the CRM refused: for a human to look at
# what a database that is down, restarting or unreachable raises
_TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
              sa_exc.TimeoutError)


def is_transient(exc: BaseException) -> bool:
    """The database is away (down, restarting, locked), not refusing the write."""
    return isinstance(exc, _TRANSIENT) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated)


class CrmLink:
    def __init__(self, db: Database, outbox: Path | None = None,
                 retry_every: float = 2.0) -> None:
        self.db = db
        self.outbox = outbox or db.var_dir / OUTBOX
        self.rejected = self.outbox.with_name(REJECTED)
        self.retry_every = retry_every
        self._file_lock = threading.Lock()  # appends and the replay's rewrite
        self._replay_lock = threading.Lock()  # one replay at a time
        self._task: asyncio.Task[None] | None = None
        # writes wait in the outbox: later ones queue behind them (call_log)
        self.deferring = self.outbox.exists()
        # several control planes: the routing lease's check, first in each write
        # transaction (control.ha.fence; raises Fenced when another holds it)
        self.fence: Callable[[Session], None] | None = None

    async def lookup(self, number: str) -> tuple[int | None, str | None, bool, dict[str, Any]]:
        """(customer id, previous agent, VIP, screen-pop context) for a caller ID."""
        return await asyncio.to_thread(self._lookup, number)

    def _lookup(self, number: str) -> tuple[int | None, str | None, bool, dict[str, Any]]:
        with self.db.session() as s:
            return _known(s, find_customer_by_phone(s, number))

    async def lookup_customer(self, customer_id: int
                              ) -> tuple[int | None, str | None, bool, dict[str, Any]]:
        """The same as :meth:`lookup`, for a customer known by id: identified in
        the IVR (a keyed DNI or policy number: the caller ID may be anyone's
        phone), or the one an agent calls."""
        return await asyncio.to_thread(self._lookup_customer, customer_id)

    def _lookup_customer(self, customer_id: int
                         ) -> tuple[int | None, str | None, bool, dict[str, Any]]:
        with self.db.session() as s:
            return _known(s, s.get(Customer, customer_id))

    async def call_ended(self, call: dict[str, Any], *, close: bool = False,
                         database_away: bool = False) -> None:
        """One interaction per call with a known customer; a callback task for
        a caller who overflowed; with ``close``, first the end of the calls row
        (``state``, ``ended_at``, ``recording`` of ``call``). Never lets a CRM
        problem break the call flow: if the database is away, the write waits
        in the outbox. ``database_away``: the caller already knows, so the
        write goes to the outbox without waiting for a database that is locked."""
        try:
            if database_away:
                raise _Away("the database was away a moment ago")
            await asyncio.to_thread(self._call_ended, call, close)
        except Exception as exc:
            transient = isinstance(exc, _Away) or is_transient(exc)
            if transient:
                log.warning("CRM write after call %s deferred, database unavailable: %s",
                            call.get("id"), exc)
            else:
                log.exception("CRM refused the write after call %s", call.get("id"))
            try:
                await asyncio.to_thread(self._append, self.outbox if transient
                                        else self.rejected, _entry(call, exc, close))
            except Exception:
                log.exception("CRM write after call %s LOST: cannot keep it in %s",
                              call.get("id"), self.outbox)

    def _call_ended(self, call: dict[str, Any], close: bool = False) -> None:
        with self.db.session() as s:
            self.end_call(s, call, close)

    def end_call(self, s: Session, call: dict[str, Any], close: bool = False) -> None:
        """The end of a call in ``s``: with ``close``, the calls row (``state``,
        ``ended_at``, ``recording`` of ``call``), then the CRM's records."""
        if call.get("customer_id") is None and call.get("caller_number"):
            # routed without the customer's file (the lookup was skipped: a
            # slow database, a burst of callers): the CRM still gets the
            # interaction, the customer found here by the caller ID, off the
            # caller's path; the calls row is told too
            customer = find_customer_by_phone(s, call["caller_number"])
            if customer is not None:
                call = call | {"customer_id": customer.id}
                row = s.get(Call, call["id"])
                if row is not None and row.customer_id is None:
                    row.customer_id = customer.id
        if close and call.get("customer_id") is None and not call.get("task_id") \
                and call["state"] != "callback":
            # nothing for the CRM (an unknown caller, no task): the row only
            fields = {"state": call["state"], "ended_at": call["ended_at"]}
            if call.get("recording"):
                fields["recording"] = call["recording"]
            apply_op(s, {"op": "call", "id": call["id"], "fields": fields})
            return
        if close:
            row = s.get(Call, call["id"])
            if row is not None:
                if row.state in OPEN_STATES:
                    row.state = call["state"]
                    row.ended_at = _aware(datetime.fromisoformat(call["ended_at"]))
                    if call.get("recording"):
                        row.recording = call["recording"]
                elif call.get("recording") and not row.recording:
                    row.recording = call["recording"]  # filed after the close
                # the interaction tells what the calls row holds (a call
                # already closed by someone else keeps that end)
                call = row.as_dict()
        self._write_crm(s, call)

    def apply(self, s: Session, entry: dict[str, Any]) -> None:
        """One write of a call's life (control.acd.call_log) in ``s``."""
        if entry["op"] == "ended":
            self.end_call(s, entry["call"], bool(entry.get("close")))
        else:
            apply_op(s, entry)

    def apply_now(self, entries: list[dict[str, Any]]) -> None:
        """Write these in one transaction (raises if the database refuses)."""
        with self.db.session() as s:
            if self.fence is not None:
                self.fence(s)
            for entry in coalesce(entries):
                self.apply(s, entry)

    def reject(self, entry: dict[str, Any], exc: BaseException) -> None:
        """A write the database refused: kept apart for a human to look at."""
        self._append(self.rejected, entry | {"failed_at": datetime.now(UTC).isoformat(),
                                             "error": f"{type(exc).__name__}: {exc}"[:500]})

    def defer(self, entries: list[dict[str, Any]], exc: BaseException) -> None:
        """Keep writes the database could not take, in order, for the replay;
        until the outbox is empty every later write queues behind them."""
        with self._file_lock:
            self.deferring = True
            for entry in entries:
                self._append_locked(self.outbox, entry | {
                    "failed_at": datetime.now(UTC).isoformat(),
                    "error": f"{type(exc).__name__}: {exc}"[:500]})

    def _write_crm(self, s: Session, call: dict[str, Any]) -> None:
        state = call["state"]
        entered = _aware(datetime.fromisoformat(call["entered_at"]))
        answered = call["answered_at"] and _aware(datetime.fromisoformat(call["answered_at"]))
        ended = _aware(datetime.fromisoformat(call["ended_at"])) if call["ended_at"] else entered
        outcome = {"completed": InteractionOutcome.ANSWERED, "abandoned":
                   InteractionOutcome.ABANDONED, "callback": InteractionOutcome.CALLBACK,
                   "no_answer": InteractionOutcome.NO_ANSWER,
                   }.get(state, InteractionOutcome.ABANDONED)
        direction = call.get("direction") or Direction.INBOUND.value
        notes = f"waited too long in queue {call['queue']} (call {call['id']})"
        if call["customer_id"] is not None and s.scalar(
                select(Interaction.id).where(Interaction.call_id == call["id"]).limit(1)
        ) is None:
            record_interaction(
                s, actor=ACD, customer_id=call["customer_id"],
                direction=direction, outcome=outcome.value,
                started_at=entered, call_id=call["id"],
                duration_s=int((ended - answered).total_seconds()) if answered else 0,
                agent_extension=call["agent_extension"], recording=call["recording"])
        if (state == "callback" and (call["customer_id"] is not None
                                     or call["caller_number"])
                and s.scalar(select(Task.id).where(
                    Task.kind == TaskKind.CALLBACK.value, Task.notes == notes
                ).limit(1)) is None):
            create_task(s, actor=ACD, kind="callback", customer_id=call["customer_id"],
                        phone=call["caller_number"] or None,
                        scheduled_at=datetime.now(UTC) + timedelta(minutes=15),
                        notes=notes)
        task = s.get(Task, call["task_id"]) if call.get("task_id") else None
        if task is not None and answered and task.status in OPEN_TASKS:
            # the callback reached the customer: done, by the agent who called
            agent = call["agent_extension"]
            complete_task(s, actor=ACD, task_id=task.id,
                          own_extension=agent if task.agent_extension in (None, agent)
                          else None,
                          notes=f"called back (call {call['id']})", now=answered)

    # -- the outbox ------------------------------------------------------------------

    def start(self) -> None:
        """Replay the outbox now (writes left by a previous run) and every
        retry_every seconds while the control plane runs."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._retry_loop())

    async def close(self) -> None:
        """Stop retrying; what is still pending stays in the outbox for the next start."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def pending(self) -> int:
        """How many writes wait in the outbox."""
        with self._file_lock:
            return len(self._read(self.outbox))

    async def replay(self) -> int:
        """Write what waits in the outbox, oldest first, until the database
        fails again; the number written."""
        return await asyncio.to_thread(self._replay)

    async def _retry_loop(self) -> None:
        while True:
            try:
                if self.outbox.exists():
                    written = await self.replay()
                    if written:
                        log.info("CRM outbox: %d deferred write(s) done, %d pending",
                                 written, self.pending())
            except Exception:
                log.exception("CRM outbox replay failed")
            await asyncio.sleep(self.retry_every)

    def _replay(self) -> int:
        if not self._replay_lock.acquire(blocking=False):
            return 0
        try:
            with self._file_lock:
                lines = self._read(self.outbox)
            done = written = 0
            for line in lines:
                try:
                    entry = json.loads(line)
                    if "op" in entry:
                        self.apply_now([entry])
                    else:  # written by call_ended
                        self._call_ended(entry["call"], bool(entry.get("close")))
                except Exception as exc:
                    if is_transient(exc):
                        log.info("CRM outbox: database still unavailable (%s)", exc)
                        break
                    log.exception("CRM outbox: write refused, moved to %s", self.rejected)
                    self._append(self.rejected, _entry(_loads(line), exc))
                else:
                    written += 1
                done += 1
            if done:
                with self._file_lock:
                    # appends during the replay are after the lines read: keep them
                    left = self._read(self.outbox)[done:]
                    self._rewrite(left)
                    self.deferring = bool(left)
            return written
        finally:
            self._replay_lock.release()

    def _read(self, path: Path) -> list[str]:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    def _append(self, path: Path, entry: dict[str, Any]) -> None:
        with self._file_lock:
            self._append_locked(path, entry)

    def _append_locked(self, path: Path, entry: dict[str, Any]) -> None:
        data = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(path.parent)

    def _rewrite(self, lines: list[str]) -> None:
        if not lines:
            self.outbox.unlink(missing_ok=True)
        else:
            tmp = self.outbox.with_name(self.outbox.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, "".join(line + "\n" for line in lines).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.outbox)
        _fsync_dir(self.outbox.parent)


def _known(s: Session, customer: Customer | None
           ) -> tuple[int | None, str | None, bool, dict[str, Any]]:
    """(id, previous agent, VIP, screen-pop context) of a customer, or nothing."""
    if customer is None:
        return None, None, False, {}
    return (customer.id, last_agent_for_customer(s, customer.id),
            customer.segment == "vip", customer_context(s, customer.id))


class _Away(Exception):
    """A write not tried: the database was found away just before."""


def _entry(call: dict[str, Any], exc: BaseException, close: bool = False) -> dict[str, Any]:
    return {"call": call, "close": close, "failed_at": datetime.now(UTC).isoformat(),
            "error": f"{type(exc).__name__}: {exc}"[:500]}


def _loads(line: str) -> dict[str, Any]:
    """The call of an outbox line, or the raw line if it is not one."""
    try:
        call = json.loads(line)["call"]
        return call if isinstance(call, dict) else {"raw": line}
    except Exception:
        return {"raw": line}


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)
