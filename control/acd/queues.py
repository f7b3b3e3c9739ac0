"""Queues: create, change, remove, and their members (no restart needed: the
router reads the queue and its members at every routing decision; Asterisk's
fallback queues follow through apply_data_change). Every change is audited."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.agents import LANGUAGE_RE, TAG_RE, _tags
from control.acd.models import DEFAULT_WEIGHTS, Agent, Call, Queue, QueueMember
from control.acd.needs import CONTEXT_KEYS, context_skills_of
from control.auth import audit
from control.auth.audit import CLI, Actor
from control.errors import Conflict, InvalidInput, NotFound

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# the settable numbers of a queue: (low, high) seconds or counts
LIMITS: dict[str, tuple[int, int]] = {
    "wrapup_s": (0, 86400), "ring_timeout_s": (3, 600), "max_misses": (1, 100),
    "max_wait_s": (5, 86400), "service_level_s": (1, 86400), "announce_every_s": (0, 86400),
}
WEIGHT_LIMIT = 1000  # each score weight within ±this


def _positive(field: str, value: int, low: int = 0, high: int = 86400) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(field, "expected an integer")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be between {low} and {high}")
    return value


def _language(language: str) -> str:
    if not isinstance(language, str) or not LANGUAGE_RE.match(language):
        raise InvalidInput("language", "a two-letter code such as es or en")
    return language


def check_weights(values: dict[str, Any]) -> dict[str, float]:
    """Score weights a queue sets for itself (the others keep their default)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if key not in DEFAULT_WEIGHTS:
            raise InvalidInput(f"weights.{key}",
                               f"unknown weight; known: {', '.join(DEFAULT_WEIGHTS)}")
        if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
            raise InvalidInput(f"weights.{key}", "expected a number")
        if not -WEIGHT_LIMIT <= value <= WEIGHT_LIMIT:
            raise InvalidInput(f"weights.{key}",
                               f"must be between -{WEIGHT_LIMIT} and {WEIGHT_LIMIT}")
        out[key] = float(value)
    return out


def check_context_skills(values: dict[str, Any]) -> dict[str, str | None]:
    """Entries of a queue's context-to-skill mapping (acd.needs): a known
    context key to a skill, or to None/"" to infer nothing from it."""
    out: dict[str, str | None] = {}
    for key, value in values.items():
        field = f"context_skills.{key}"
        if key not in CONTEXT_KEYS:
            raise InvalidInput(field, f"unknown context; known: {', '.join(CONTEXT_KEYS)}")
        if value is None or (isinstance(value, str) and not value.strip()):
            out[key] = None
            continue
        if not isinstance(value, str):
            raise InvalidInput(field, "expected a skill name (a string), or null for none")
        skill = value.strip().lower()
        if not TAG_RE.match(skill):
            raise InvalidInput(field, f"{value!r} is not a valid skill")
        out[key] = skill
    return out


def create_queue(session: Session, *, name: str, skills: list[str] | None = None,
                 language: str = "es", wrapup_s: int = 10, ring_timeout_s: int = 15,
                 max_misses: int = 2, max_wait_s: int = 300, service_level_s: int = 20,
                 announce_every_s: int = 30, record: bool = True,
                 actor: Actor = CLI) -> Queue:
    if not NAME_RE.match(name):
        raise InvalidInput("name", "lowercase letters, digits, - and _, starting with a letter")
    numbers = {"wrapup_s": wrapup_s, "ring_timeout_s": ring_timeout_s,
               "max_misses": max_misses, "max_wait_s": max_wait_s,
               "service_level_s": service_level_s, "announce_every_s": announce_every_s}
    for field, value in numbers.items():
        _positive(field, value, *LIMITS[field])
    if session.scalar(select(Queue).where(Queue.name == name)):
        raise Conflict(f"a queue named {name} already exists", "name")
    queue = Queue(name=name, skills=_tags("skills", skills or [], TAG_RE),
                  language=_language(language), record=record, weights={}, **numbers)
    session.add(queue)
    session.flush()
    _audit(session, actor, "create", queue, None)
    return queue


def _audit(session: Session, actor: Actor, action: str, queue: Queue,
           before: dict[str, object] | None) -> None:
    # (`record` is also a queue field's name: the audit function by its module)
    audit.record(session, actor, action, "queues", queue.name, before=before,
                 after=queue.as_dict() if action != "delete" else None)


def list_queues(session: Session) -> list[Queue]:
    return list(session.scalars(select(Queue).order_by(Queue.name)))


def get_queue(session: Session, name: str) -> Queue:
    queue = session.scalar(select(Queue).where(Queue.name == name))
    if queue is None:
        raise NotFound("queue", name, "name")
    return queue


def update_queue(session: Session, name: str, *, actor: Actor = CLI,
                 skills: list[str] | None = None, language: str | None = None,
                 record: bool | None = None, weights: dict[str, Any] | None = None,
                 context_skills: dict[str, Any] | None = None,
                 **numbers: int | None) -> Queue:
    """Change what is given (None: unchanged). ``weights`` sets some of the
    score weights (previous_agent, language, skill, call_today); the ones it
    does not name keep their current value. ``context_skills`` likewise sets
    entries of the mapping from the customer's context to skills
    (``{"open_claim": "claims", "policy:life": None}``: None or "" infers
    nothing from that context); the others keep theirs. The next routing
    decision uses the new values; calls already ringing an agent finish as
    they started."""
    queue = get_queue(session, name)
    before = queue.as_dict()
    for field, value in numbers.items():
        if field not in LIMITS:
            raise InvalidInput(field, f"unknown field; known: {', '.join(LIMITS)}")
        if value is not None:
            setattr(queue, field, _positive(field, value, *LIMITS[field]))
    if skills is not None:
        queue.skills = _tags("skills", skills, TAG_RE)
    if language is not None:
        queue.language = _language(language)
    if record is not None:
        queue.record = record
    if weights is not None:
        queue.weights = {**(queue.weights or {}), **check_weights(weights)}
    if context_skills is not None:
        # stored whole once changed: a removed entry must not come back as the default
        merged: dict[str, str | None] = {
            **context_skills_of({"context_skills": queue.context_skills}),
            **check_context_skills(context_skills)}
        queue.context_skills = {k: v for k in CONTEXT_KEYS if (v := merged.get(k))}
    session.flush()
    if queue.as_dict() != before:
        _audit(session, actor, "update", queue, before)
    return queue


def delete_queue(session: Session, name: str, *, actor: Actor = CLI) -> dict[str, object]:
    """Remove a queue and its memberships. Refused (Conflict) while a DID
    routes to it or a call of it is waiting, ringing or up (the router still
    needs its settings)."""
    from control.acd.store import OPEN_STATES
    from control.provisioning.models import Did

    queue = get_queue(session, name)
    dids = list(session.scalars(select(Did.number).where(Did.target == f"queue:{name}")))
    if dids:
        raise Conflict(f"DID {', '.join(dids)} routes to queue {name}: point it elsewhere "
                       "or remove it first", "name")
    busy = session.scalar(select(Call.id).where(Call.queue == name,
                                                Call.state.in_(OPEN_STATES)).limit(1))
    if busy is not None:
        raise Conflict(f"queue {name} has call {busy} in progress", "name")
    before = queue.as_dict()
    session.delete(queue)  # members go with it (cascade)
    session.flush()
    _audit(session, actor, "delete", queue, before)
    return before


def set_member(session: Session, queue_name: str, extension: str, penalty: int = 0,
               actor: Actor = CLI) -> Queue:
    queue = get_queue(session, queue_name)
    agent = session.scalar(select(Agent).where(Agent.extension == extension))
    if agent is None:
        raise InvalidInput("extension", f"no agent with extension {extension}")
    _positive("penalty", penalty, 0, 1000)
    before = queue.as_dict()
    member = session.get(QueueMember, (queue.id, agent.id))
    if member is None:
        queue.members.append(QueueMember(agent=agent, penalty=penalty))
    else:
        member.penalty = penalty
    session.flush()
    if queue.as_dict() != before:
        _audit(session, actor, "update", queue, before)
    return queue


def remove_member(session: Session, queue_name: str, extension: str,
                  actor: Actor = CLI) -> Queue:
    queue = get_queue(session, queue_name)
    before = queue.as_dict()
    queue.members = [m for m in queue.members if m.agent.extension != extension]
    session.flush()
    if queue.as_dict() != before:
        _audit(session, actor, "update", queue, before)
    return queue

