"""Creating queues and changing their members (no restart needed: the router
reads membership at every routing decision)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.agents import LANGUAGE_RE, TAG_RE, _tags
from control.acd.models import Agent, Queue, QueueMember
from control.errors import Conflict, InvalidInput, NotFound

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def _positive(field: str, value: int, low: int = 0, high: int = 86400) -> int:
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low} and {high}")
    return value


def create_queue(session: Session, *, name: str, skills: list[str] | None = None,
                 language: str = "es", wrapup_s: int = 10, ring_timeout_s: int = 15,
                 max_misses: int = 2, max_wait_s: int = 300, service_level_s: int = 20,
                 announce_every_s: int = 30, record: bool = True) -> Queue:
    if not NAME_RE.match(name):
        raise InvalidInput("name", "lowercase letters, digits, - and _, starting with a letter")
    if not LANGUAGE_RE.match(language):
        raise InvalidInput("language", "a two-letter code such as es or en")
    if session.scalar(select(Queue).where(Queue.name == name)):
        raise Conflict(f"a queue named {name} already exists")
    queue = Queue(
        name=name, skills=_tags("skills", skills or [], TAG_RE), language=language,
        wrapup_s=_positive("wrapup", wrapup_s), ring_timeout_s=_positive("ring_timeout",
                                                                         ring_timeout_s, 3, 600),
        max_misses=_positive("max_misses", max_misses, 1, 100),
        max_wait_s=_positive("max_wait", max_wait_s, 5),
        announce_every_s=_positive("announce_every", announce_every_s, 0),
        service_level_s=_positive("service_level", service_level_s, 1), record=record,
        weights={},
    )
    session.add(queue)
    session.flush()
    return queue


def get_queue(session: Session, name: str) -> Queue:
    queue = session.scalar(select(Queue).where(Queue.name == name))
    if queue is None:
        raise NotFound("queue", name)
    return queue


def set_member(session: Session, queue_name: str, extension: str, penalty: int = 0) -> Queue:
    queue = get_queue(session, queue_name)
    agent = session.scalar(select(Agent).where(Agent.extension == extension))
    if agent is None:
        raise InvalidInput("extension", f"no agent with extension {extension}")
    _positive("penalty", penalty, 0, 1000)
    member = session.get(QueueMember, (queue.id, agent.id))
    if member is None:
        queue.members.append(QueueMember(agent=agent, penalty=penalty))
    else:
        member.penalty = penalty
    session.flush()
    return queue


def remove_member(session: Session, queue_name: str, extension: str) -> Queue:
    queue = get_queue(session, queue_name)
    queue.members = [m for m in queue.members if m.agent.extension != extension]
    session.flush()
    return queue
