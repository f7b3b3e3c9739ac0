"""The ACD's reads and writes, as short synchronous transactions that the
router runs in a thread (``asyncio.to_thread``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy import insert as insert_into
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, lazyload

from control.acd.models import (
    Agent,
    AgentStatus,
    Call,
    CallEvent,
    CallState,
    Queue,
    QueueMember,
    RoutingDecision,
)
from control.acd.scoring import Candidate
from control.auth.audit import Actor
from control.auth.models import AuditEntry
from control.db import Database

OPEN_STATES = (CallState.WAITING.value, CallState.RINGING.value, CallState.ANSWERED.value)


def now() -> datetime:
    return datetime.now(UTC)


# -- a call's life, written by control.acd.call_log (and replayed from the outbox) ----
# Each write is a JSON-able dict ("op" names it) so that one the database cannot
# take now waits in the CRM outbox file and is replayed in order. Replaying one
# twice changes nothing (a row created once, changes to open calls only, an
# agent's latest state), except a routing decision or a call event, which a
# crash in the middle of a replay may store twice.

_TIMES = ("entered_at", "answered_at", "ended_at")


def parse_time(value: Any) -> Any:
    """A stored time (ISO text, naive meaning UTC) as an aware datetime; others as given."""
    if isinstance(value, str):
        d = datetime.fromisoformat(value)
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    return value


def coalesce(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fewer writes for the same result: a call's row changes merged into one
    (until its end, which they must precede), an agent's states into the
    latest (with the latest miss count), each at its first place."""
    out: list[dict[str, Any]] = []
    open_call: dict[str, dict[str, Any]] = {}  # call id -> its merged change in `out`
    agent_at: dict[str, dict[str, Any]] = {}
    for op in ops:
        kind = op["op"]
        if kind == "call" and op["id"] in open_call:
            open_call[op["id"]]["fields"].update(op["fields"])
        elif kind == "call":
            merged = {"op": "call", "id": op["id"], "fields": dict(op["fields"])}
            open_call[op["id"]] = merged
            out.append(merged)
        elif kind == "agent" and op["extension"] in agent_at:
            last = agent_at[op["extension"]]
            missed = op["missed"] if op.get("missed") is not None else last.get("missed")
            last.update(op, missed=missed)
        elif kind == "agent":
            agent_at[op["extension"]] = dict(op)
            out.append(agent_at[op["extension"]])
        else:
            call_id = op.get("call_id") or (op.get("call") or {}).get("id")
            if kind in ("ended", "recording") and call_id:
                open_call.pop(call_id, None)  # later changes come after its end
            out.append(op)
    return out


# Statements built once per shape and reused: building and keying a statement
# per write cost more CPU than running it (the ACD writes several per call).
_statements: dict[tuple[str, ...], Any] = {}


def _statement(kind: str, keys: tuple[str, ...] = (), dialect: str = "") -> Any:
    key = (kind, dialect, *keys)
    found = _statements.get(key)
    if found is not None:
        return found
    if kind == "create_call":
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        found = insert(Call).values({k: bindparam(k) for k in ("id", *keys)}) \
            .on_conflict_do_nothing(index_elements=["id"])
    elif kind == "update_call":  # a closed call keeps its end
        found = update(Call).where(Call.id == bindparam("_id"), Call.state.in_(OPEN_STATES)) \
            .values({k: bindparam(k) for k in keys})
    elif kind == "decision":
        found = insert_into(RoutingDecision).values(
            {k: bindparam(k) for k in ("call_id", "decided_at", "candidates", "chosen",
                                       "reason", "needs")})
    elif kind == "last_needs":
        found = select(RoutingDecision.needs).where(
            RoutingDecision.call_id == bindparam("call_id"),
            RoutingDecision.needs.is_not(None)).order_by(RoutingDecision.id.desc()).limit(1)
    elif kind == "event":
        found = insert_into(CallEvent).values(
            {k: bindparam(k) for k in ("call_id", "at", "kind", "agent_extension", "data")})
    elif kind == "agent_status":  # an agent removed meanwhile: nothing
        found = update(Agent).where(
            Agent.extension == bindparam("_ext"),
            or_(Agent.status != bindparam("_status"),
                Agent.pause_reason.is_distinct_from(bindparam("_reason")))).values(
            status=bindparam("status"), pause_reason=bindparam("pause_reason"),
            status_since=bindparam("status_since"))
    elif kind == "agent_missed":
        found = update(Agent).where(Agent.extension == bindparam("_ext")).values(
            missed_in_a_row=bindparam("missed_in_a_row"))
    else:
        raise ValueError(kind)
    _statements[key] = found
    return found


def apply_op(session: Session, op: dict[str, Any]) -> None:
    """One write, as plain statements on the session's connection (no ORM
    load or bulk machinery: the router's hot path)."""
    conn = session.connection()
    kind = op["op"]
    if kind == "call":
        fields = {k: parse_time(v) if k in _TIMES else v for k, v in op["fields"].items()}
        keys = tuple(sorted(fields))
        created = 0
        if "entered_at" in fields:  # the call's first write: its row
            created = conn.execute(_statement("create_call", keys, conn.dialect.name),
                                   {"id": op["id"], **fields}).rowcount
        if not created:  # a change, or a replay of the row's creation
            conn.execute(_statement("update_call", keys), {"_id": op["id"], **fields})
    elif kind == "decision":
        needs = op.get("needs") or None
        if needs is None:  # a transfer: the needs the call's last decision stored
            needs = conn.scalar(_statement("last_needs"), {"call_id": op["call_id"]})
        conn.execute(_statement("decision"), {
            "call_id": op["call_id"], "decided_at": parse_time(op["decided_at"]),
            "candidates": op["candidates"], "chosen": op["chosen"],
            "reason": op["reason"][:255], "needs": needs})
    elif kind == "agent":
        conn.execute(_statement("agent_status"), {
            "_ext": op["extension"], "_status": op["status"], "_reason": op["reason"],
            "status": op["status"], "pause_reason": op["reason"],
            "status_since": parse_time(op["since"])})
        if op.get("missed") is not None:
            conn.execute(_statement("agent_missed"), {"_ext": op["extension"],
                                                      "missed_in_a_row": op["missed"]})
    elif kind == "event":
        conn.execute(_statement("event"), {
            "call_id": op["call_id"], "at": parse_time(op["at"]), "kind": op["kind"][:32],
            "agent_extension": op.get("agent"), "data": op.get("data") or None})
    elif kind == "recording":
        from control.crm.models import Interaction

        conn.execute(update(Call).where(Call.id == op["call_id"])
                     .values(recording=op["path"]))
        conn.execute(update(Interaction).where(Interaction.call_id == op["call_id"])
                     .values(recording=op["path"]))
    else:
        raise ValueError(f"unknown write {kind!r}")


class AcdStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- queues and agents ---------------------------------------------------

    def queue(self, name: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            q = s.scalar(select(Queue).where(Queue.name == name))
            return q.as_dict() if q else None

    def queues(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [q.as_dict() for q in s.scalars(select(Queue).order_by(Queue.name))]

    def create_queue(self, *, members: list[str], actor: Actor, **fields: Any
                     ) -> dict[str, Any]:
        from control.acd.queues import create_queue, set_member

        with self.db.session() as s:
            queue = create_queue(s, actor=actor, **fields)
            for ext in members:
                set_member(s, queue.name, ext, actor=actor)
            return queue.as_dict()

    def set_member(self, queue_name: str, extension: str,
                   penalty: int | None, actor: Actor) -> dict[str, Any]:
        """Add or re-weigh a member; penalty None removes it."""
        from control.acd.queues import remove_member, set_member

        with self.db.session() as s:
            if penalty is None:
                return remove_member(s, queue_name, extension, actor=actor).as_dict()
            return set_member(s, queue_name, extension, penalty, actor=actor).as_dict()

    def candidates(self, queue_name: str, status_of: dict[str, str] | None = None
                   ) -> list[Candidate]:
        """Available members of the queue, with what scoring needs. ``status_of``:
        states the router knows and the database does not have yet."""
        status_of = status_of or {}
        start_of_day = now().replace(hour=0, minute=0, second=0, microsecond=0)
        with self.db.session() as s:
            q = s.scalar(select(Queue).where(Queue.name == queue_name))
            if q is None:
                return []
            handled = dict(s.execute(
                select(Call.agent_extension, func.count())
                .where(Call.answered_at >= start_of_day, Call.agent_extension.is_not(None))
                .group_by(Call.agent_extension)).all())
            return [
                Candidate(
                    extension=m.agent.extension,
                    languages=tuple(m.agent.languages or ()),
                    skills=tuple(m.agent.skills or ()),
                    calls_today=int(handled.get(m.agent.extension, 0)),
                    penalty=m.penalty,
                    idle_since=m.agent.status_since,
                )
                for m in q.members
                if status_of.get(m.agent.extension, m.agent.status) == AgentStatus.AVAILABLE.value
            ]

    def set_agent_status(self, extension: str, status: AgentStatus,
                         reason: str | None = None, missed: int | None = None
                         ) -> dict[str, Any] | None:
        with self.db.session() as s:
            agent = s.scalar(select(Agent).where(Agent.extension == extension))
            if agent is None:
                return None
            if agent.status != status.value or agent.pause_reason != reason:
                agent.status = status.value
                agent.pause_reason = reason if status == AgentStatus.PAUSED else None
                agent.status_since = now()
            if missed is not None:
                agent.missed_in_a_row = missed
            return agent.as_dict() | {"missed_in_a_row": agent.missed_in_a_row}

    def agent(self, extension: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            agent = s.scalar(select(Agent).where(Agent.extension == extension))
            return agent.as_dict() | {"missed_in_a_row": agent.missed_in_a_row} if agent else None

    def agents(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return [a.as_dict() for a in s.scalars(select(Agent).order_by(Agent.extension))]

    def agent_states(self) -> tuple[list[dict[str, Any]], int]:
        """Every agent's state, and the newest audited change of an agent or a
        queue (0: none): the cheap read the ACD makes every second; a new
        mark means the whole roster must be read again."""
        with self.db.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(
                Agent.extension, Agent.status, Agent.pause_reason, Agent.status_since,
                Agent.missed_in_a_row))]
            mark = conn.scalar(select(func.max(AuditEntry.id)).where(
                AuditEntry.entity.in_(("agents", "queues")))) or 0
        for row in rows:
            if row["status_since"] is not None:
                row["status_since"] = _aware(row["status_since"]).isoformat()
        return rows, int(mark)

    def roster(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
        """Everything routing reads, in one transaction: the queues (with
        members), the agents (with skills, languages, misses) and each
        agent's calls answered today."""
        start_of_day = now().replace(hour=0, minute=0, second=0, microsecond=0)
        with self.db.session() as s:
            # members and agents as plain rows: a large roster read as ORM
            # objects held the GIL long enough to delay routing
            queues = {q.id: q.settings() for q in s.scalars(
                select(Queue).options(lazyload(Queue.members)))}
            members: dict[int, list[dict[str, Any]]] = {queue_id: [] for queue_id in queues}
            for queue_id, ext, penalty in s.execute(
                    select(QueueMember.queue_id, Agent.extension, QueueMember.penalty)
                    .join(Agent, Agent.id == QueueMember.agent_id)):
                members[queue_id].append({"extension": ext, "penalty": penalty})
            for queue_id, queue in queues.items():
                queue["members"] = members[queue_id]
            agents = []
            for row in s.execute(select(
                    Agent.id, Agent.extension, Agent.name, Agent.skills, Agent.languages,
                    Agent.status, Agent.pause_reason, Agent.status_since,
                    Agent.missed_in_a_row)):
                agent = dict(row._mapping)
                agent["skills"] = list(agent["skills"] or [])
                agent["languages"] = list(agent["languages"] or [])
                since = agent["status_since"]
                agent["status_since"] = _aware(since).isoformat() if since else None
                agents.append(agent)
            handled = {str(k): int(v) for k, v in s.execute(
                select(Call.agent_extension, func.count())
                .where(Call.answered_at >= start_of_day, Call.agent_extension.is_not(None))
                .group_by(Call.agent_extension)).all()}
        return list(queues.values()), agents, handled

    # -- calls --------------------------------------------------------------

    def create_call(self, **fields: Any) -> dict[str, Any]:
        with self.db.session() as s:
            call = Call(entered_at=now(), **fields)
            s.add(call)
            s.flush()
            return call.as_dict() | {"caller_channel": call.caller_channel}

    def update_call(self, call_id: str, **fields: Any) -> dict[str, Any] | None:
        with self.db.session() as s:
            call = s.get(Call, call_id)
            if call is None:
                return None
            for key, value in fields.items():
                setattr(call, key, value)
            return call.as_dict()

    def open_calls(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            calls = s.scalars(select(Call).where(Call.state.in_(OPEN_STATES)))
            return [c.as_dict() | {"caller_channel": c.caller_channel,
                                   "agent_channel": c.agent_channel,
                                   "bridge_id": c.bridge_id,
                                   "media_node": c.media_node} for c in calls]

    def unfiled_recordings(self, node: str, *, default: str,
                           since: datetime) -> list[dict[str, Any]]:
        """Calls of ``node`` (rows without a node: the ``default`` one) that
        ended since ``since`` with a recording not filed yet (its row names
        the file, not a path): the control plane that was to file it is
        gone. (call id, agent extension) of each."""
        on_node = Call.media_node == node
        if node == default:
            on_node = or_(on_node, Call.media_node.is_(None))
        with self.db.session() as s:
            rows = s.execute(select(Call.id, Call.agent_extension).where(
                Call.state == CallState.COMPLETED.value, Call.recording.is_not(None),
                Call.recording.not_like("/%"), Call.ended_at >= since, on_node))
            return [{"id": call_id, "agent_extension": agent} for call_id, agent in rows]

    def call(self, call_id: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            call = s.get(Call, call_id)
            return call.as_dict() if call else None

    def open_task(self, task_id: int) -> dict[str, Any] | None:
        """A callback or follow-up still to do (for click-to-call)."""
        from control.crm.models import OPEN_TASK_STATUSES, Task

        with self.db.session() as s:
            task = s.get(Task, task_id)
            if task is None or task.status not in [t.value for t in OPEN_TASK_STATUSES]:
                return None
            return task.as_dict()

    def customer_exists(self, customer_id: int) -> bool:
        from control.crm.models import Customer

        with self.db.session() as s:
            return s.get(Customer, customer_id) is not None

    def decisions(self, call_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(select(RoutingDecision).where(RoutingDecision.call_id == call_id)
                             .order_by(RoutingDecision.id))
            return [r.as_dict() for r in rows]

    def queue_figures(self, queue_name: str, service_level_s: int) -> dict[str, Any]:
        """Today's answered/abandoned/service level/AHT for one queue."""
        start = now().replace(hour=0, minute=0, second=0, microsecond=0)
        with self.db.session() as s:
            calls = list(s.scalars(select(Call).where(Call.queue == queue_name,
                                                      Call.entered_at >= start)))
        answered = [(c, _aware(c.answered_at)) for c in calls if c.answered_at]
        within = [c for c, at in answered
                  if at - _aware(c.entered_at) <= timedelta(seconds=service_level_s)]
        talk = [(_aware(c.ended_at) - at).total_seconds() for c, at in answered if c.ended_at]
        aht = sum(talk) / len(talk) if talk else 0.0
        abandoned = [c for c in calls if c.state == CallState.ABANDONED.value]
        offered = len(answered) + len(abandoned)
        return {
            "answered": len(answered), "abandoned": len(abandoned),
            "service_level": round(len(within) / offered, 3) if offered else None,
            "average_handle_time_s": round(aht, 1),
        }


def _aware(d: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns
    return d if d.tzinfo else d.replace(tzinfo=UTC)
