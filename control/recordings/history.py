"""Call history: past calls searched by filters, one call's detail with its
timeline, and who may see which call.

Everything is read from what the database already holds: the calls row
(entered, answered, ended, the recording), the routing decisions (each
agent rung, with every candidate's score breakdown and the reason), the
call events the call log writes (rings not answered, holds, transfers,
supervision, the recording paused, resumed or filed: ``call_events``) and
the CRM's interaction (the wrap-up disposition and notes). Agents see only
calls they took (the row's ``agent_extension``); supervisors and admins all.

Plain functions of a session, as the CRM's services; they raise the typed
errors of :mod:`control.errors` (NotFound, Forbidden), never return partial
rows. A call whose recording was deleted by the retention job keeps its
history; only its audio is gone (``recording.deleted_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from control.acd.models import Call, CallEvent, RoutingDecision
from control.crm.identity import fold, parse_phone
from control.crm.models import Customer, CustomerPhone, Interaction
from control.errors import Forbidden, NotFound
from control.recordings.filters import CallFilter

AGENT = "agent"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: their role and, for an agent, their own extension."""

    role: str
    agent_extension: str | None = None

    def scope(self, wanted: CallFilter) -> CallFilter:
        """An agent's search covers their own calls only; asking for another
        agent's is refused rather than silently narrowed."""
        if self.role != AGENT:
            return wanted
        if not self.agent_extension:
            raise Forbidden("agent", "your user has no agent extension: no calls of yours")
        if wanted.agent not in (None, self.agent_extension):
            raise Forbidden("agent", "agents see only their own calls")
        return wanted.for_agent(self.agent_extension)

    def check(self, call: Call) -> None:
        if self.role == AGENT and (not self.agent_extension
                                   or call.agent_extension != self.agent_extension):
            raise Forbidden("call_id", "agents see only their own calls")


def _aware(d: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for timezone-aware columns
    return d if d is None or d.tzinfo else d.replace(tzinfo=UTC)


def _iso(d: datetime | None) -> str | None:
    aware = _aware(d)
    return aware.isoformat() if aware else None


def talk_seconds(dialect: str) -> ColumnElement[Any]:
    """Answered to end, in seconds (0 for a call nobody answered), in SQL."""
    if dialect == "sqlite":
        seconds: ColumnElement[Any] = (func.julianday(Call.ended_at)
                                       - func.julianday(Call.answered_at)) * 86400.0
    else:
        seconds = func.extract("epoch", Call.ended_at - Call.answered_at)
    return func.coalesce(seconds, 0)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _is_number(text: str) -> bool:
    """A customer searched by phone (rather than by name)."""
    return any(c.isdigit() for c in text) and parse_phone(text) is not None


def _where(stmt: Select[Any], wanted: CallFilter, seconds: ColumnElement[Any]) -> Select[Any]:
    if wanted.since is not None:
        stmt = stmt.where(Call.entered_at >= wanted.since)
    if wanted.until is not None:
        stmt = stmt.where(Call.entered_at < wanted.until)
    if wanted.queue is not None:
        stmt = stmt.where(Call.queue == wanted.queue)
    if wanted.agent is not None:
        stmt = stmt.where(Call.agent_extension == wanted.agent)
    if wanted.customer_id is not None:
        stmt = stmt.where(Call.customer_id == wanted.customer_id)
    if wanted.customer is not None:
        number = parse_phone(wanted.customer) if _is_number(wanted.customer) else None
        if number is not None:  # the caller's number, or any number of the customer
            # caller IDs are stored as the trunk sent them: +34..., 34... or as typed
            forms = {number, number.lstrip("+"), wanted.customer.strip()}
            stmt = stmt.where(or_(Call.caller_number.in_(forms), Call.customer_id.in_(
                select(CustomerPhone.customer_id).where(CustomerPhone.number == number))))
        else:  # the customers of that name first (a small table), then their calls
            stmt = stmt.where(Call.customer_id.in_(select(Customer.id).where(
                Customer.name_search.like(_like(fold(wanted.customer)), escape="\\"))))
    if wanted.disposition is not None:
        stmt = stmt.where(Interaction.disposition == wanted.disposition)
    if wanted.direction is not None:
        stmt = stmt.where(Call.direction == wanted.direction)
    if wanted.min_duration_s is not None:
        stmt = stmt.where(seconds >= wanted.min_duration_s)
    if wanted.max_duration_s is not None:
        stmt = stmt.where(seconds <= wanted.max_duration_s)
    return stmt


def recording_info(call: Call) -> dict[str, Any] | None:
    """What a client needs to know of the call's recording (never its path)."""
    if not call.recording:
        return None
    filed = Path(call.recording).is_absolute()
    return {"available": filed and call.recording_deleted_at is None,
            "deleted_at": _iso(call.recording_deleted_at),
            "url": f"/api/v1/calls/{call.id}/recording"}


def _summary(call: Call, customer_name: str | None, disposition: str | None,
             seconds: float | None) -> dict[str, Any]:
    entered = _aware(call.entered_at)
    until = _aware(call.answered_at) or _aware(call.ended_at)
    return {
        "id": call.id, "direction": call.direction or "inbound", "queue": call.queue,
        "caller_number": call.caller_number, "customer_id": call.customer_id,
        "customer_name": customer_name, "agent_extension": call.agent_extension,
        "state": call.state, "entered_at": _iso(call.entered_at),
        "answered_at": _iso(call.answered_at), "ended_at": _iso(call.ended_at),
        "wait_s": round((until - entered).total_seconds(), 1) if entered and until else None,
        "talk_s": round(float(seconds or 0), 1), "disposition": disposition,
        "recording": recording_info(call),
    }


def search(session: Session, wanted: CallFilter, *, viewer: Viewer,
           recorded_only: bool = False) -> dict[str, Any]:
    """One page of calls, newest first, and how many match in all. With
    ``recorded_only`` (the recordings library): calls whose recording is
    filed and not deleted.

    The count and the page's ids come from the calls table alone, joined
    only to what a filter needs (a disposition); the
    customer's name and the disposition are read for the page's rows only:
    on a large history the joins for every row cost more than the search."""
    wanted = viewer.scope(wanted)
    seconds = talk_seconds(session.get_bind().dialect.name)

    def matching(stmt: Select[Any]) -> Select[Any]:
        if wanted.disposition is not None:
            stmt = stmt.join(Interaction, Interaction.call_id == Call.id)
        stmt = _where(stmt, wanted, seconds)
        if recorded_only:
            stmt = stmt.where(and_(Call.recording.is_not(None), Call.recording.like("/%"),
                                   Call.recording_deleted_at.is_(None)))
        return stmt

    total = session.scalar(matching(select(func.count(Call.id)))) or 0
    ids = list(session.scalars(matching(select(Call.id)).order_by(
        Call.entered_at.desc(), Call.id).limit(wanted.limit).offset(wanted.offset)))
    rows = {c.id: (c, name, disposition, talk) for c, name, disposition, talk in session.execute(
        select(Call, Customer.name, Interaction.disposition, seconds)
        .outerjoin(Customer, Customer.id == Call.customer_id)
        .outerjoin(Interaction, Interaction.call_id == Call.id)
        .where(Call.id.in_(ids)))} if ids else {}
    return {"calls": [_summary(*rows[i]) for i in ids if i in rows],
            "total": int(total), "limit": wanted.limit, "offset": wanted.offset}


def load(session: Session, call_id: str, *, viewer: Viewer) -> Call:
    """The call, if this viewer may see it."""
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound("call", call_id, "call_id")
    viewer.check(call)
    return call


def detail(session: Session, call_id: str, *, viewer: Viewer) -> dict[str, Any]:
    """The call with its timeline, oldest first."""
    call = load(session, call_id, viewer=viewer)
    customer = session.get(Customer, call.customer_id) if call.customer_id else None
    interaction = session.scalar(select(Interaction).where(Interaction.call_id == call.id)
                                 .order_by(Interaction.id).limit(1))
    decisions = list(session.scalars(select(RoutingDecision).where(
        RoutingDecision.call_id == call.id).order_by(RoutingDecision.id)))
    events = list(session.scalars(select(CallEvent).where(CallEvent.call_id == call.id)
                                  .order_by(CallEvent.id)))
    answered, ended = _aware(call.answered_at), _aware(call.ended_at)
    seconds = (ended - answered).total_seconds() if answered and ended else 0.0
    summary = _summary(call, customer.name if customer else None,
                       interaction.disposition if interaction else None, seconds)
    summary["notes"] = interaction.notes if interaction else None
    summary["skills"] = list(call.skills or [])
    summary["language"] = call.language
    return {"call": summary, "timeline": timeline(call, decisions, events, interaction)}


def timeline(call: Call, decisions: list[RoutingDecision], events: list[CallEvent],
             interaction: Interaction | None) -> list[dict[str, Any]]:
    """Every step of the call with its time: entered, each agent rung (with
    the decision's candidates and scores), rings missed, answered, holds,
    transfers, supervision, the recording, the end, the wrap-up."""
    # (time, order among steps at the same time, step)
    steps: list[tuple[datetime, float, dict[str, Any]]] = []

    def add(at: datetime | None, kind: str, order: float, **data: Any) -> None:
        when = _aware(at)
        if when is not None:
            steps.append((when, order, {"at": when.isoformat(), "kind": kind, **data}))

    outbound = (call.direction or "inbound") == "outbound"
    first_needs = next((d.needs for d in decisions if d.needs), None)
    add(call.entered_at, "dialled" if outbound else "entered_queue", 0,
        queue=call.queue or None, caller_number=call.caller_number,
        language=call.language, skills=list(call.skills or []), needs=first_needs)
    for d in decisions:
        add(d.decided_at, "rung", 1, agent_extension=d.chosen, reason=d.reason,
            candidates=d.candidates)
    kinds = {e.kind for e in events}
    answers = [e.at for e in events if e.kind == "answered"]
    if not answers:  # calls from before answers were events: the row's (last) answer
        add(call.answered_at, "answered", 2, agent_extension=call.agent_extension)
    if call.recording and "recording_started" not in kinds and call.answered_at:
        # recorded from the first answer on (a transfer appends to the same file)
        add(answers[0] if answers else call.answered_at, "recording_started", 4.5)
    for e in events:
        add(e.at, e.kind, 4, agent_extension=e.agent_extension, **(e.data or {}))
    add(call.ended_at, "ended", 5, state=call.state)
    if interaction is not None and (interaction.disposition or interaction.notes):
        add(call.ended_at, "wrap_up", 6, agent_extension=interaction.agent_extension,
            disposition=interaction.disposition, notes=interaction.notes)
    add(call.recording_deleted_at, "recording_deleted", 7)
    steps.sort(key=lambda s: (s[0], s[1]))
    return [s[2] for s in steps]


def recording_file(session: Session, call_id: str, *, viewer: Viewer,
                   recordings_dir: Path) -> Path:
    """The call's recording on disk, if this viewer may hear it."""
    call = load(session, call_id, viewer=viewer)
    if not call.recording:
        raise NotFound("recording of call", call_id, "call_id")
    if call.recording_deleted_at is not None:
        raise NotFound("recording (deleted by the retention policy) of call", call_id,
                       "call_id")
    path = Path(call.recording)
    # only files in the recordings folder are served, whatever a row says
    if not path.is_absolute() or path.resolve().parent != recordings_dir.resolve() \
            or not path.is_file():
        raise NotFound("recording file of call", call_id, "call_id")
    return path
