"""A queue's staffing targets and alert thresholds: read, change (audited).
Supervisors and admins set them; the forecast and the alert watch read them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Queue
from control.auth import audit
from control.auth.audit import Actor
from control.errors import InvalidInput, NotFound
from control.staffing.models import DEFAULTS, QueueTargets

# (low, high) of each setting; the alert thresholds may also be None (off)
FRACTIONS = {"service_level_target": (0.01, 0.999), "shrinkage": (0.0, 0.95),
             "max_occupancy": (0.1, 1.0)}
THRESHOLDS = {"alert_longest_wait_s": (1, 86400), "alert_wrapup_min": (1, 1440),
              "alert_paused_min": (1, 1440)}


def _queue(session: Session, name: str) -> Queue:
    queue = session.scalar(select(Queue).where(Queue.name == name))
    if queue is None:
        raise NotFound("queue", name, "name")
    return queue


def get_targets(session: Session, queue_name: str) -> dict[str, Any]:
    queue = _queue(session, queue_name)
    row = session.get(QueueTargets, queue.id)
    return {"queue": queue.name, **(row.as_dict() if row else DEFAULTS)}


def all_targets(session: Session) -> dict[str, dict[str, Any]]:
    """Every queue's settings by name (the defaults where none were set)."""
    rows = {r.queue_id: r for r in session.scalars(select(QueueTargets))}
    return {q.name: (rows[q.id].as_dict() if q.id in rows else dict(DEFAULTS))
            for q in session.scalars(select(Queue))}


def check(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key in FRACTIONS:
            low, high = FRACTIONS[key]
            if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
                raise InvalidInput(key, "expected a number")
            if not low <= value <= high:
                raise InvalidInput(key, f"must be between {low} and {high}")
            out[key] = float(value)
        elif key in THRESHOLDS:
            low, high = THRESHOLDS[key]
            if value is None:
                out[key] = None
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidInput(key, "expected a whole number, or null to turn it off")
            if not low <= value <= high:
                raise InvalidInput(key, f"must be between {low} and {high}")
            out[key] = value
        else:
            raise InvalidInput(key, f"unknown field; known: {', '.join(DEFAULTS)}")
    return out


def update_targets(session: Session, queue_name: str, changes: dict[str, Any], *,
                   actor: Actor) -> dict[str, Any]:
    """Set some of a queue's targets and thresholds (the others keep theirs)."""
    if not changes:
        raise InvalidInput("body", f"nothing to change: give one of {', '.join(DEFAULTS)}")
    values = check(changes)
    queue = _queue(session, queue_name)
    row = session.get(QueueTargets, queue.id)
    before = row.as_dict() if row else dict(DEFAULTS)
    if row is None:
        row = QueueTargets(queue_id=queue.id, **DEFAULTS)
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    after = row.as_dict()
    if after != before:
        audit.record(session, actor, "update", "queue_targets", queue.name, before=before,
                     after=after)
    return {"queue": queue.name, **after}
