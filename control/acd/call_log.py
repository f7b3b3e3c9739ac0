"""The call log: every database write of a call's life, off the event path.

Routing never waits for the database. The ACD hands each write (the call's
row as it changes, each routing decision, agents' states, the end of the
call with its CRM records) to this log and goes on; one writer task takes
them in order and writes what has gathered in one transaction. When the
database is away (stopped, unreachable, an SQLite file locked by another
process) the writes go to the CRM outbox (:class:`CrmLink`, a fsync'd file)
in the same order, every later write queues behind them, and the outbox's
replay writes them once the database is back. So a caller is answered,
queued and put through to an agent whatever the database is doing, and
the rows appear when it returns. A write the database refuses (not a
transient failure) is moved to the outbox's rejected file, for a human.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from control.acd.customers import CrmLink, is_transient
from control.acd.store import now
from control.ha.fence import Fenced

log = logging.getLogger(__name__)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class CallLog:
    def __init__(self, crm: CrmLink) -> None:
        self.crm = crm
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        # told of every agent write that reached the database (agent_states)
        self.on_written: list[Callable[[list[dict[str, Any]]], None]] = []
        # a write refused by the routing lease's fence (control.ha): stop routing
        self.on_fenced: list[Callable[[Exception], None]] = []

    # -- what the ACD writes ------------------------------------------------------

    def call(self, call_id: str, **fields: Any) -> None:
        """Create the call's row, or change it (a closed row keeps its end)."""
        self._put({"op": "call", "id": call_id,
                   "fields": {k: _json(v) for k, v in fields.items()}})

    def decision(self, call_id: str, candidates: list[dict[str, Any]], chosen: str | None,
                 reason: str, needs: dict[str, Any] | None = None) -> None:
        self._put({"op": "decision", "call_id": call_id, "decided_at": now().isoformat(),
                   "candidates": candidates, "chosen": chosen, "reason": reason,
                   "needs": needs or {}})

    def agent(self, extension: str, status: str, reason: str | None, missed: int | None,
              since: datetime) -> None:
        self._put({"op": "agent", "extension": extension, "status": status,
                   "reason": reason, "missed": missed, "since": since.isoformat()})

    def recording(self, call_id: str, path: str) -> None:
        """The call's recording, filed: on its row and its interaction."""
        self._put({"op": "recording", "call_id": call_id, "path": path})

    def event(self, call_id: str, kind: str, agent_extension: str | None = None,
              **data: Any) -> None:
        """Something that happened to the call (held, transferred, supervised...)
        for its timeline, at this moment; in order with the call's other writes."""
        self._put({"op": "event", "call_id": call_id, "at": now().isoformat(), "kind": kind,
                   "agent": agent_extension, "data": {k: _json(v) for k, v in data.items()}})

    def ended(self, row: dict[str, Any]) -> None:
        """Close the call's row and write the interaction (and any callback task)."""
        self._put({"op": "ended", "call": row, "close": True})

    @property
    def away(self) -> bool:
        """Writes are waiting for the database."""
        return self.crm.deferring

    @property
    def settled(self) -> bool:
        """Every write handed over so far is in the database."""
        return self._idle.is_set() and not self.crm.deferring

    async def flush(self) -> None:
        """Wait until everything handed over so far is written or deferred."""
        await self._idle.wait()

    # -- the writer ----------------------------------------------------------------

    def _put(self, op: dict[str, Any]) -> None:
        self._idle.clear()
        self._queue.put_nowait(op)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="call-log")

    async def close(self) -> None:
        """Write what is pending (or defer it), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), 20)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        rest = []
        while not self._queue.empty():
            rest.append(self._queue.get_nowait())
        if rest:  # kept for the next start
            await asyncio.to_thread(self.crm.defer, rest, RuntimeError("shutting down"))

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                log.exception("call log: %d write(s) not handled", len(batch))
            if self._queue.empty():
                self._idle.set()

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        if self.crm.deferring:  # behind writes still waiting: keep the order
            await asyncio.to_thread(self.crm.defer, batch,
                                    RuntimeError("queued behind deferred writes"))
            return
        try:
            await asyncio.to_thread(self.crm.apply_now, batch)
        except Fenced as exc:  # another control plane routes now: not one write more
            log.critical("call log: %s; %d write(s) dropped", exc, len(batch))
            for fenced in self.on_fenced:
                fenced(exc)
            return
        except Exception as exc:
            if is_transient(exc):
                log.warning("database away: %d write(s) kept in the outbox (%s)",
                            len(batch), exc)
                await asyncio.to_thread(self.crm.defer, batch, exc)
                return
            # one bad write must not take the others with it: one by one
            log.warning("call log: a batch was refused (%s), writing one by one", exc)
            for i, entry in enumerate(batch):
                try:
                    await asyncio.to_thread(self.crm.apply_now, [entry])
                except Exception as one:
                    if is_transient(one):
                        await asyncio.to_thread(self.crm.defer, batch[i:], one)
                        return
                    log.exception("call log: write refused, kept in %s", self.crm.rejected)
                    await asyncio.to_thread(self.crm.reject, entry, one)
        written = [op for op in batch if op["op"] == "agent"]
        for hook in self.on_written:
            hook(written)
