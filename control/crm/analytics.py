"""Figures for supervisors: calls of a period (today, this week, this month)
from the ACD's ``calls`` table (read only), per agent, and CSV exports of
calls and interactions.

Definitions (the usual contact-center ones):

- *answered*: reached an agent; *abandoned*: the caller hung up while
  waiting; *callback*: left the queue for a callback task.
- *average wait*: time in queue, to the answer or to the caller leaving.
- *average duration*: talk time of answered calls that have ended.
- *service level*: share of answered-or-abandoned calls answered within the
  queue's ``service_level_s`` (the same rule as ``/queues/{name}/stats``).
- *average handle time* (per agent): talk time plus the queue's wrap-up
  seconds (after-call work).
- *utilisation* (per agent): handle time over the time elapsed in the period.
  No log-in history is stored yet, so this is over the period's elapsed
  clock time, not over the agent's staffed time: compare agents with it, do
  not read it as occupancy.

Outbound calls (agents calling customers) are not offered calls: they are
kept out of the inbound figures and counted apart (*connected*: the customer
answered), but their talk time is an agent's handle time like any other.

Periods are in UTC, from midnight (today), Monday (week) or the 1st (month);
the hourly figures of a day (the wallboard's charts) are in a time zone of
the caller's choice.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Agent, Call, CallState, Queue
from control.crm.models import Interaction
from control.errors import InvalidInput
from control.quality.models import QualityReview

PERIODS = ("today", "week", "month")
DEFAULT_SERVICE_LEVEL_S = 20


def aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def period_start(period: str, now: datetime) -> datetime:
    if period not in PERIODS:
        raise InvalidInput("period", f"{period!r} is not one of {', '.join(PERIODS)}")
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        return midnight - timedelta(days=midnight.weekday())
    if period == "month":
        return midnight.replace(day=1)
    return midnight


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _talk(call: Call) -> float | None:
    if call.answered_at is None or call.ended_at is None:
        return None
    return max(0.0, (aware(call.ended_at) - aware(call.answered_at)).total_seconds())


def _wait(call: Call) -> float | None:
    left = call.answered_at or call.ended_at
    if left is None:
        return None
    return max(0.0, (aware(left) - aware(call.entered_at)).total_seconds())


def call_figures(calls: Sequence[Call], service_level_s: dict[str, int]) -> dict[str, Any]:
    answered = [c for c in calls if c.answered_at is not None]
    abandoned = [c for c in calls if c.state == CallState.ABANDONED.value]
    within = [c for c in answered
              if (aware(c.answered_at) - aware(c.entered_at)).total_seconds()  # type: ignore[arg-type]
              <= service_level_s.get(c.queue, DEFAULT_SERVICE_LEVEL_S)]
    offered = len(answered) + len(abandoned)
    talk = [t for t in map(_talk, answered) if t is not None]
    waits = [w for w in map(_wait, calls) if w is not None]
    return {
        "total": len(calls),
        "answered": len(answered),
        "abandoned": len(abandoned),
        "callbacks": sum(1 for c in calls if c.state == CallState.CALLBACK.value),
        "in_progress": sum(1 for c in calls if c.ended_at is None),
        "average_duration_s": _mean(talk),
        "average_wait_s": _mean(waits),
        "service_level": round(len(within) / offered, 3) if offered else None,
    }


def agent_figures(calls: Sequence[Call], agents: Iterable[tuple[str, str]],
                  wrapup_s: dict[str, int], elapsed_s: float) -> list[dict[str, Any]]:
    """One row per agent (every known agent, and any extension that took a call)."""
    names = dict(agents)
    handled: dict[str, list[float]] = {ext: [] for ext in names}
    for call in calls:
        talk = _talk(call)
        if call.agent_extension and talk is not None:
            handled.setdefault(call.agent_extension, []).append(
                talk + wrapup_s.get(call.queue, 0))
    rows = []
    for ext in sorted(handled):
        times = handled[ext]
        rows.append({
            "extension": ext, "name": names.get(ext),
            "calls_handled": len(times),
            "average_handle_time_s": _mean(times),
            # 5 places: a few minutes' talk late in a week is about 0.0003
            "utilisation": (round(min(1.0, sum(times) / elapsed_s), 5)
                            if elapsed_s > 0 else None),
        })
    return rows


def _calls_since(session: Session, start: datetime) -> list[Call]:
    return list(session.scalars(select(Call).where(Call.entered_at >= start)
                                .order_by(Call.entered_at)))


def _queue_settings(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    queues = list(session.scalars(select(Queue)))
    return ({q.name: q.service_level_s for q in queues}, {q.name: q.wrapup_s for q in queues})


def is_outbound(call: Call) -> bool:
    return call.direction == "outbound"


def outbound_figures(calls: Sequence[Call]) -> dict[str, Any]:
    connected = [c for c in calls if c.answered_at is not None]
    talk = [t for t in map(_talk, connected) if t is not None]
    return {"total": len(calls), "connected": len(connected),
            "not_connected": sum(1 for c in calls if c.state == CallState.NO_ANSWER.value),
            "average_duration_s": _mean(talk)}


def calls_report(session: Session, period: str, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    start = period_start(period, now)
    everything = _calls_since(session, start)
    calls = [c for c in everything if not is_outbound(c)]
    service_levels, _ = _queue_settings(session)
    by_queue: dict[str, list[Call]] = {}
    for call in calls:
        by_queue.setdefault(call.queue, []).append(call)
    return {"period": period, "from": start.isoformat(), "to": now.isoformat(),
            **call_figures(calls, service_levels),
            "queues": {name: call_figures(qc, service_levels)
                       for name, qc in sorted(by_queue.items())},
            "outbound": outbound_figures([c for c in everything if is_outbound(c)])}


def hourly_report(session: Session, day: str | None, tz: str,
                  now: datetime | None = None) -> dict[str, Any]:
    """A day's inbound calls hour by hour in time zone ``tz`` (the wallboard's
    charts: calls per hour, service level through the day)."""
    try:
        zone = ZoneInfo(tz)
    # OSError: the tzdata package's answer to a name too long for a file
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidInput("tz", f"{tz!r} is not a time zone (e.g. Europe/Madrid)") from exc
    now = now or datetime.now(UTC)
    try:
        date = (datetime.strptime(day, "%Y-%m-%d").date() if day
                else now.astimezone(zone).date())
    except ValueError as exc:
        raise InvalidInput("day", f"{day!r} is not a date (YYYY-MM-DD)") from exc
    start = datetime(date.year, date.month, date.day, tzinfo=zone)
    end = start + timedelta(days=1)
    service_levels, _ = _queue_settings(session)
    hours: list[list[Call]] = [[] for _ in range(24)]
    for call in session.scalars(select(Call).where(
            Call.entered_at >= start.astimezone(UTC), Call.entered_at < end.astimezone(UTC))):
        if not is_outbound(call):
            hours[aware(call.entered_at).astimezone(zone).hour].append(call)
    return {"day": date.isoformat(), "tz": tz, "hours": [
        {"hour": h, **{k: v for k, v in call_figures(calls, service_levels).items()
                       if k in ("total", "answered", "abandoned", "service_level")}}
        for h, calls in enumerate(hours)]}


def agents_report(session: Session, period: str, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    start = period_start(period, now)
    calls = _calls_since(session, start)
    _, wrapups = _queue_settings(session)
    agents = [(a.extension, a.name) for a in session.scalars(select(Agent))]
    return {"period": period, "from": start.isoformat(), "to": now.isoformat(),
            "agents": agent_figures(calls, agents, wrapups, (now - start).total_seconds())}


def reviews_report(session: Session, period: str, now: datetime | None = None
                   ) -> dict[str, Any]:
    """Quality reviews of the period (by when they were scored): the average
    score (0-100) and the number of reviews per agent and per queue."""
    now = now or datetime.now(UTC)
    start = period_start(period, now)
    reviews = list(session.scalars(select(QualityReview)
                                   .where(QualityReview.created_at >= start)))
    names = {a.extension: a.name for a in session.scalars(select(Agent))}
    by_agent: dict[str, list[float]] = {}
    by_queue: dict[str, list[float]] = {}
    for review in reviews:
        by_agent.setdefault(review.agent_extension, []).append(review.score)
        by_queue.setdefault(review.queue, []).append(review.score)
    return {"period": period, "from": start.isoformat(), "to": now.isoformat(),
            "reviews": len(reviews), "average_score": _mean([r.score for r in reviews]),
            "agents": [{"extension": ext, "name": names.get(ext), "reviews": len(scores),
                        "average_score": _mean(scores)}
                       for ext, scores in sorted(by_agent.items())],
            "queues": [{"queue": name, "reviews": len(scores), "average_score": _mean(scores)}
                       for name, scores in sorted(by_queue.items())]}


# -- CSV -------------------------------------------------------------------------

CALL_COLUMNS = ("id", "direction", "queue", "caller_number", "customer_id", "language",
                "priority", "state", "agent_extension", "entered_at", "answered_at", "ended_at",
                "wait_s", "talk_s", "recording")
INTERACTION_COLUMNS = ("id", "customer_id", "call_id", "agent_extension", "direction",
                       "started_at", "duration_s", "outcome", "disposition", "notes")
_NUMBER = re.compile(r"^\+?[0-9]+(\.[0-9]+)?$")


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula:
    caller IDs come from SIP headers and notes from agents (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return aware(value).isoformat()
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.match(text):
        return "'" + text
    return text


def _csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def calls_csv(session: Session, period: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    rows = []
    for call in _calls_since(session, period_start(period, now)):
        wait, talk = _wait(call), _talk(call)
        rows.append({**{c: getattr(call, c, None) for c in CALL_COLUMNS},
                     "wait_s": None if wait is None else round(wait),
                     "talk_s": None if talk is None else round(talk)})
    return _csv(CALL_COLUMNS, rows)


def interactions_csv(session: Session, period: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    found = session.scalars(select(Interaction)
                            .where(Interaction.started_at >= period_start(period, now))
                            .order_by(Interaction.started_at, Interaction.id))
    return _csv(INTERACTION_COLUMNS,
                ({c: getattr(i, c) for c in INTERACTION_COLUMNS} for i in found))
