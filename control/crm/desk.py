"""The agent's desk: the contact history of a customer (and the wrap-up notes
of each call), and the work waiting for agents (callbacks, follow-ups).

``own_extension`` is who may touch what: an agent passes its extension and
may only change its own calls and tasks (and take unassigned tasks); a
supervisor or admin passes None.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from control.auth.audit import Actor, record
from control.auth.service import Forbidden
from control.crm.book import StateConflict
from control.crm.customers import get_customer
from control.crm.models import OPEN_TASK_STATUSES, Interaction, Task, TaskStatus
from control.errors import InvalidInput, NotFound

MAX_LIST = 500


def customer_interactions(session: Session, customer_id: int,
                          limit: int = 50) -> list[Interaction]:
    get_customer(session, customer_id)
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput("limit", f"between 1 and {MAX_LIST}")
    return list(session.scalars(
        select(Interaction).where(Interaction.customer_id == customer_id)
        .order_by(Interaction.started_at.desc(), Interaction.id.desc()).limit(limit)))


def wrap_up(session: Session, *, actor: Actor, interaction_id: int,
            own_extension: str | None, disposition: str | None = None,
            notes: str | None = None) -> Interaction:
    """What the call was about and the agent's notes, written at wrap-up."""
    interaction = session.get(Interaction, interaction_id)
    if interaction is None:
        raise NotFound("interaction", str(interaction_id))
    if own_extension is not None and interaction.agent_extension != own_extension:
        raise Forbidden("forbidden", "an agent may only wrap up its own calls")
    if disposition is None and notes is None:
        raise InvalidInput("disposition", "give disposition or notes")
    before = interaction.as_dict()
    if disposition is not None:
        disposition = disposition.strip().lower()
        if not disposition:
            raise InvalidInput("disposition", "not empty")
        interaction.disposition = disposition
    if notes is not None:
        interaction.notes = notes.strip()
    session.flush()
    record(session, actor, "wrap_up", "interactions", interaction.id, before=before,
           after=interaction.as_dict())
    return interaction


def list_tasks(session: Session, *, own_extension: str | None, status: str | None = None,
               agent_extension: str | None = None, customer_id: int | None = None,
               limit: int = 100) -> list[Task]:
    """Open tasks by default, soonest first. An agent sees its own and the
    unassigned ones (which anyone may take)."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput("limit", f"between 1 and {MAX_LIST}")
    stmt = select(Task)
    if status is None:
        stmt = stmt.where(Task.status.in_([s.value for s in OPEN_TASK_STATUSES]))
    elif status in [s.value for s in TaskStatus]:
        stmt = stmt.where(Task.status == status)
    else:
        raise InvalidInput("status", f"one of {', '.join(s.value for s in TaskStatus)}")
    if own_extension is not None:
        if agent_extension is not None and agent_extension != own_extension:
            raise Forbidden("forbidden", "an agent sees only its own and unassigned tasks")
        stmt = stmt.where(or_(Task.agent_extension == own_extension,
                              Task.agent_extension.is_(None)))
    elif agent_extension is not None:
        stmt = stmt.where(Task.agent_extension == agent_extension)
    if customer_id is not None:
        stmt = stmt.where(Task.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(Task.scheduled_at, Task.id).limit(limit)))


def complete_task(session: Session, *, actor: Actor, task_id: int,
                  own_extension: str | None, notes: str | None = None,
                  now: datetime | None = None) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("task", str(task_id))
    if own_extension is not None and task.agent_extension not in (None, own_extension):
        raise Forbidden("forbidden", f"task {task_id} is agent {task.agent_extension}'s")
    if task.status not in [s.value for s in OPEN_TASK_STATUSES]:
        raise StateConflict("status", f"task {task_id} is already {task.status}")
    before = task.as_dict()
    task.status = TaskStatus.DONE.value
    task.completed_at = now or datetime.now(UTC)
    if own_extension is not None and task.agent_extension is None:
        task.agent_extension = own_extension  # who did it, for the record
    if notes is not None and notes.strip():
        task.notes = f"{task.notes}\n{notes.strip()}".strip()
    session.flush()
    record(session, actor, "complete", "tasks", task.id, before=before, after=task.as_dict())
    return task
