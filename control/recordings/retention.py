"""Recording retention: each queue keeps its calls' recordings N days
(``queues.recording_retention_days``; NULL keeps them for ever).

:func:`purge` deletes the files of recordings older than their queue's
policy (by when the call entered) and marks their rows
(``calls.recording_deleted_at``): nothing else. The row, its history, its
interaction and any other file stay. It runs in the control plane every
``Settings.recordings_purge_every_s`` (:func:`job`) and by hand (``aitcomms
recordings purge``).

How it fails: a file that cannot be deleted (permissions, a busy disk)
leaves its row unmarked, to be tried again at the next run; a file already
gone is marked deleted. Rows are marked in the same transaction as the
audit entry of the run; if the commit fails after files were deleted, the
next run finds them gone and marks them then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Call, Queue
from control.auth.audit import Actor, record
from control.db import Database
from control.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

RETENTION = Actor("retention")
MAX_DAYS = 36500


@dataclass
class Purged:
    """What one run deleted: call ids per queue, and files that would not go."""

    calls: dict[str, list[str]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    freed_bytes: int = 0

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.calls.values())


def purge(session: Session, *, recordings_dir: Path, now: datetime | None = None,
          actor: Actor = RETENTION) -> Purged:
    """Delete the recordings older than their queue's policy; mark their rows."""
    now = now or datetime.now(UTC)
    done = Purged()
    policies = session.execute(select(Queue.name, Queue.recording_retention_days).where(
        Queue.recording_retention_days.is_not(None))).all()
    for queue, days in policies:
        cutoff = now - timedelta(days=days or 0)
        old = session.scalars(select(Call).where(
            Call.queue == queue, Call.recording.is_not(None),
            Call.recording_deleted_at.is_(None), Call.entered_at < cutoff))
        for call in old:
            path = Path(call.recording or "")
            if path.is_absolute() and path.parent.resolve() != recordings_dir.resolve():
                # not one of ours: never delete a file outside the recordings folder
                done.failed.append(call.id)
                log.warning("call %s: recording %s is outside %s, left alone",
                            call.id, path, recordings_dir)
                continue
            if path.is_absolute():
                try:
                    size = path.stat().st_size
                    path.unlink()
                    done.freed_bytes += size
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    done.failed.append(call.id)
                    log.warning("call %s: recording %s not deleted (%s): tried again later",
                                call.id, path, exc)
                    continue
            call.recording_deleted_at = now
            done.calls.setdefault(queue, []).append(call.id)
    if done.count or done.failed:
        record(session, actor, "purge", "recordings", "retention",
               after={"calls": done.calls, "failed": done.failed,
                      "freed_bytes": done.freed_bytes})
    return done


def set_retention(session: Session, queue_name: str, days: int | None, *,
                  actor: Actor) -> dict[str, Any]:
    """A queue's policy: keep its recordings ``days`` days (None: for ever)."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                             or not 1 <= days <= MAX_DAYS):
        raise InvalidInput("days", f"a whole number of days from 1 to {MAX_DAYS}, or null "
                                   "(kept for ever)")
    queue = session.scalar(select(Queue).where(Queue.name == queue_name))
    if queue is None:
        raise NotFound("queue", queue_name, "queue")
    before = queue.recording_retention_days
    queue.recording_retention_days = days
    record(session, actor, "retention", "queues", queue.id,
           before={"recording_retention_days": before},
           after={"recording_retention_days": days})
    return policy(queue)


def policy(queue: Queue) -> dict[str, Any]:
    return {"queue": queue.name, "days": queue.recording_retention_days}


def policies(session: Session) -> list[dict[str, Any]]:
    return [policy(q) for q in session.scalars(select(Queue).order_by(Queue.name))]


def disk_used(recordings_dir: Path) -> dict[str, int]:
    """Bytes and files in the recordings folder (what an admin watches fill up)."""
    total = files = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(recordings_dir) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
                files += 1
    return {"bytes": total, "files": files}


def job(db: Database, recordings_dir: Path, every_s: float
        ) -> Callable[[Any], AsyncIterator[None]]:
    """An aiohttp cleanup context: :func:`purge` now and every ``every_s``
    (0: never) while the control plane runs; a failed run is logged and
    the next one tries again."""

    def run() -> Purged:
        with db.session() as session:
            return purge(session, recordings_dir=recordings_dir)

    async def loop() -> None:
        while True:
            try:
                done = await asyncio.to_thread(run)
                if done.count or done.failed:
                    log.info("recordings retention: %d deleted (%d bytes), %d not",
                             done.count, done.freed_bytes, len(done.failed))
            except Exception:
                log.exception("recordings retention run failed")
            await asyncio.sleep(every_s)

    async def context(_app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(loop(), name="recordings-retention") if every_s > 0 \
            else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return context
