"""The audit log: every write through the API, the CLI or the seed says who did it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from control.auth.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who is writing: an API user (id and e-mail) or a tool ("cli", "seed")."""

    name: str
    user_id: int | None = None


CLI = Actor("cli")
SEED = Actor("seed")


def record(session: Session, actor: Actor, action: str, entity: str, entity_id: object,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """Add an audit entry to the caller's transaction: it is stored if and only
    if the change it describes is."""
    session.add(AuditEntry(at=datetime.now(UTC), user_id=actor.user_id, actor=actor.name,
                           action=action, entity=entity, entity_id=str(entity_id),
                           before=before, after=after))
