"""The staffing forecast of a queue for one day, half hour by half hour.

- **Expected calls** per half hour: the same weekday's calls offered to the
  queue in the same half hour, averaged over the recent weeks (``weeks``,
  4 by default) that the project has history for (a week before the queue's
  first call does not count as a week of zero calls).
- **Average handle time**: talk plus the queue's wrap-up seconds, over the
  answered calls of those same half hours; a half hour without answered
  calls takes the average of the whole window, and a queue without any the
  default :data:`DEFAULT_AHT_S`.
- **Agents needed, Erlang C**: pyworkforce's ``ErlangC`` (maintained, on
  PyPI) for the queue's target (``service_level_target`` within
  ``service_level_s``), max occupancy and shrinkage: agents on the phones
  (``agents``) and to schedule (``scheduled``).
- **Agents needed, Erlang A** (:mod:`control.staffing.erlang_a`): the same
  target, counting callers who hang up, with the queue's measured patience.
  Patience is estimated as exponential patience is from censored data
  (Mandelbaum & Zeltyn): the time all callers spent waiting over the number
  who gave up. The mean time to abandon of abandoners alone would
  understate it: the patient ones were answered before they gave up. A
  queue nobody has abandoned yet has no measured patience: Erlang A is
  then ``null``, said in ``patience_s``.

Half hours are those of the day in time zone ``tz``. Bad input raises
:class:`~control.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Call, CallState, Queue
from control.crm.analytics import aware
from control.errors import InvalidInput, NotFound
from control.staffing import erlang_a
from control.staffing.models import DEFAULTS, QueueTargets

SLOT_S = 1800
SLOTS = 48
DEFAULT_WEEKS = 4
DEFAULT_AHT_S = 180.0


@dataclass(frozen=True)
class Targets:
    service_level_s: int
    service_level_target: float
    shrinkage: float
    max_occupancy: float


def targets_of(session: Session, queue: Queue) -> dict[str, Any]:
    row = session.get(QueueTargets, queue.id)
    return row.as_dict() if row is not None else dict(DEFAULTS)


def erlang_c(calls: float, aht_s: float, t: Targets) -> dict[str, Any]:
    """pyworkforce's Erlang C for one half hour (``calls`` expected in it)."""
    if calls <= 0:
        return {"agents": 0, "scheduled": 0, "service_level": None, "occupancy": None,
                "p_wait": None}
    # imported here: pyworkforce brings ortools and pandas (half a second),
    # needed only when a forecast is asked for
    from pyworkforce.queuing import ErlangC

    # pyworkforce's "asa" is the target answer time of the service level
    found = ErlangC(transactions=calls, aht=aht_s, asa=t.service_level_s,
                    interval=SLOT_S, shrinkage=t.shrinkage).required_positions(
        service_level=t.service_level_target, max_occupancy=t.max_occupancy)
    return {"agents": int(found["raw_positions"]), "scheduled": int(found["positions"]),
            "service_level": round(float(found["service_level"]), 4),
            "occupancy": round(float(found["occupancy"]), 4),
            "p_wait": round(float(found["waiting_probability"]), 4)}


def erlang_a_slot(calls: float, aht_s: float, patience_s: float | None,
                  t: Targets) -> dict[str, Any] | None:
    if patience_s is None:
        return None
    if calls <= 0:
        return {"agents": 0, "scheduled": 0, "service_level": None, "occupancy": None,
                "p_wait": None, "p_abandon": None}
    agents, scheduled, r = erlang_a.required_agents(
        calls / SLOT_S, aht_s, patience_s, t.service_level_s, t.service_level_target,
        t.max_occupancy, t.shrinkage)
    return {"agents": agents, "scheduled": scheduled,
            "service_level": round(r.service_level, 4), "occupancy": round(r.occupancy, 4),
            "p_wait": round(r.p_wait, 4), "p_abandon": round(r.p_abandon, 4)}


def _talk(call: Call) -> float | None:
    if call.answered_at is None or call.ended_at is None:
        return None
    return max(0.0, (aware(call.ended_at) - aware(call.answered_at)).total_seconds())


def _waited(call: Call) -> float | None:
    left = call.answered_at or call.ended_at
    if left is None:
        return None
    return max(0.0, (aware(left) - aware(call.entered_at)).total_seconds())


def patience(calls: list[Call]) -> float | None:
    """Mean patience (s): time waited by every caller over abandonments."""
    waited = sum(w for w in map(_waited, calls) if w is not None)
    gave_up = sum(1 for c in calls if c.state == CallState.ABANDONED.value)
    return round(waited / gave_up, 1) if gave_up and waited > 0 else None


def parse_day(day: str | None, zone: ZoneInfo, now: datetime) -> date:
    if not day:
        return now.astimezone(zone).date() + timedelta(days=1)  # the coming day
    try:
        return date.fromisoformat(day)
    except ValueError as exc:
        raise InvalidInput("date", f"{day!r} is not a date (YYYY-MM-DD)") from exc


def zone_of(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    # OSError: the tzdata package's answer to a name too long for a file
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidInput("tz", f"{tz!r} is not a time zone (e.g. Europe/Madrid)") from exc


def forecast(session: Session, queue_name: str, day: str | None = None, tz: str = "UTC",
             weeks: int = DEFAULT_WEEKS, now: datetime | None = None) -> dict[str, Any]:
    zone = zone_of(tz)
    if not 1 <= weeks <= 52:
        raise InvalidInput("weeks", "between 1 and 52")
    now = now or datetime.now(UTC)
    the_day = parse_day(day, zone, now)
    queue = session.scalar(select(Queue).where(Queue.name == queue_name))
    if queue is None:
        raise NotFound("queue", queue_name, "queue")
    settings = targets_of(session, queue)
    t = Targets(queue.service_level_s, settings["service_level_target"],
                settings["shrinkage"], settings["max_occupancy"])

    def midnight(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=zone)

    past_days = [the_day - timedelta(weeks=k) for k in range(1, weeks + 1)]
    window_start, window_end = midnight(past_days[-1]), midnight(the_day)
    history = [c for c in session.scalars(select(Call).where(
        Call.queue == queue_name, Call.entered_at >= window_start.astimezone(UTC),
        Call.entered_at < window_end.astimezone(UTC))) if c.direction != "outbound"]
    first = session.scalar(select(Call.entered_at).where(Call.queue == queue_name)
                           .order_by(Call.entered_at).limit(1))
    # weeks the queue had history for: its first call on or before that day's end
    counted = [d for d in past_days
               if first is not None and aware(first) < midnight(d + timedelta(days=1))]
    counted_set = set(counted)
    offered = [0] * SLOTS
    handle: list[list[float]] = [[] for _ in range(SLOTS)]
    all_handle: list[float] = []
    for call in history:
        local = aware(call.entered_at).astimezone(zone)
        talk = _talk(call)
        if talk is not None:
            all_handle.append(talk + queue.wrapup_s)
        if local.date() not in counted_set:
            continue
        slot = (local.hour * 3600 + local.minute * 60 + local.second) // SLOT_S
        offered[slot] += 1
        if talk is not None:
            handle[slot].append(talk + queue.wrapup_s)
    window_aht = sum(all_handle) / len(all_handle) if all_handle else DEFAULT_AHT_S
    patience_s = patience(history)
    slots = []
    day_start = midnight(the_day)
    for i in range(SLOTS):
        calls = offered[i] / len(counted) if counted else 0.0
        aht = sum(handle[i]) / len(handle[i]) if handle[i] else window_aht
        start = day_start + timedelta(seconds=i * SLOT_S)
        slots.append({"start": start.isoformat(),
                      "end": (start + timedelta(seconds=SLOT_S)).isoformat(),
                      "expected_calls": round(calls, 2), "aht_s": round(aht, 1),
                      "erlang_c": erlang_c(calls, aht, t),
                      "erlang_a": erlang_a_slot(calls, aht, patience_s, t)})
    return {"queue": queue_name, "date": the_day.isoformat(), "tz": tz,
            "weeks": len(counted), "history_days": [d.isoformat() for d in counted],
            "service_level_s": t.service_level_s, **settings,
            "aht_s": round(window_aht, 1), "patience_s": patience_s, "slots": slots}
