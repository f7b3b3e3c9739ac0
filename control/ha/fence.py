"""Fencing: the routing lease's token, checked where the ACD writes.

A control plane that takes the lease raises the database's token to its own
(:func:`raise_to`) before it routes anything. Every batch of the ACD's
writes first reads that token in its own transaction, row-locked for share
on PostgreSQL, so a newer holder's :func:`raise_to` waits for the batch to
commit, and a batch after it sees the newer token (:func:`checker`). A
stale holder's batch raises :class:`Fenced`, nothing of it is written, and
its control plane stops (:mod:`control.ha.leadership`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from control.db import Database
from control.ha.models import RoutingFence

NAME = "routing"


class Fenced(RuntimeError):
    """This control plane's lease token is not the newest: it must not write."""


def raise_to(db: Database, token: int) -> None:
    """The database's token becomes ``token`` (never lowered)."""
    with db.session() as s:
        result: CursorResult[Any] = s.execute(update(RoutingFence).where(  # type: ignore[assignment]
            RoutingFence.name == NAME, RoutingFence.token < token).values(token=token))
        changed = result.rowcount
        if not changed and s.get(RoutingFence, NAME) is None:
            s.add(RoutingFence(name=NAME, token=token))
        current = s.scalar(select(RoutingFence.token).where(RoutingFence.name == NAME))
    if current != token:
        raise Fenced(f"lease token {token} is older than the database's {current}")


def current(db: Database) -> int | None:
    with db.session() as s:
        return s.scalar(select(RoutingFence.token).where(RoutingFence.name == NAME))


def checker(token: int) -> Callable[[Session], None]:
    """A check for the start of each write transaction of the holder of ``token``."""
    def check(session: Session) -> None:
        found = session.scalar(select(RoutingFence.token).where(RoutingFence.name == NAME)
                               .with_for_update(read=True))
        if found != token:
            raise Fenced(f"routing lease token {token}, the database has {found}")
    return check
