"""The filters of the call history and the recordings library, read from a
query string: date range, queue, agent, customer, disposition, direction,
duration, and the page.

Pure parsing, no database: every value that cannot be used is refused with
:class:`~control.errors.InvalidInput` naming its parameter (422 at the API),
and a parameter this search does not know is refused too (a typo such as
``agnet=1001`` must not silently return every call).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from control.errors import InvalidInput

DIRECTIONS = ("inbound", "outbound")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_DURATION_S = 7 * 24 * 3600
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
_EXTENSION = re.compile(r"^[0-9]{1,16}$")
PARAMS = ("from", "to", "queue", "agent", "customer", "customer_id", "disposition",
          "direction", "min_duration", "max_duration", "limit", "offset")


@dataclass(frozen=True)
class CallFilter:
    """What a search asks for; None: any. Times are UTC; ``until`` is exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    queue: str | None = None
    agent: str | None = None
    customer: str | None = None  # a name (or part of it) or a phone number
    customer_id: int | None = None
    disposition: str | None = None
    direction: str | None = None
    min_duration_s: int | None = None  # talk time, answered to end
    max_duration_s: int | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def for_agent(self, extension: str) -> CallFilter:
        """The same search narrowed to one agent's own calls."""
        return replace(self, agent=extension)


def _moment(name: str, raw: str, end: bool) -> datetime:
    """A date (the whole day: ``to`` includes it) or an ISO date-time; a
    time without a zone is UTC."""
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(name, f"{raw!r} is not a date (YYYY-MM-DD) or an ISO date-time"
                           ) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _whole(name: str, raw: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,10}", raw):
        raise InvalidInput(name, f"{raw!r} is not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidInput(name, f"between {low} and {high}")
    return value


def _text(name: str, raw: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(raw):
        raise InvalidInput(name, f"{raw!r} is not {what}")
    return raw


def parse(query: Mapping[str, str]) -> CallFilter:
    """The filter a query string asks for (empty values are ignored)."""
    for name in query:
        if name not in PARAMS:
            raise InvalidInput(name, f"unknown filter; known: {', '.join(PARAMS)}")
    q = {k: v.strip() for k, v in query.items() if v.strip()}
    since = _moment("from", q["from"], end=False) if "from" in q else None
    until = _moment("to", q["to"], end=True) if "to" in q else None
    if since and until and until <= since:
        raise InvalidInput("to", "must be after from")
    direction = q.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise InvalidInput("direction", f"one of {', '.join(DIRECTIONS)}")
    low = _whole("min_duration", q["min_duration"], 0, MAX_DURATION_S) \
        if "min_duration" in q else None
    high = _whole("max_duration", q["max_duration"], 0, MAX_DURATION_S) \
        if "max_duration" in q else None
    if low is not None and high is not None and high < low:
        raise InvalidInput("max_duration", "must not be less than min_duration")
    customer = q.get("customer")
    if customer is not None and len(customer) > 160:
        raise InvalidInput("customer", "at most 160 characters")
    disposition = q.get("disposition")
    if disposition is not None:
        disposition = _text("disposition", disposition.lower(), _NAME, "a disposition")
    return CallFilter(
        since=since, until=until,
        queue=_text("queue", q["queue"], _NAME, "a queue name") if "queue" in q else None,
        agent=_text("agent", q["agent"], _EXTENSION, "an agent's extension")
        if "agent" in q else None,
        customer=customer,
        customer_id=_whole("customer_id", q["customer_id"], 1, 2**31 - 1)
        if "customer_id" in q else None,
        disposition=disposition, direction=direction,
        min_duration_s=low, max_duration_s=high,
        limit=_whole("limit", q["limit"], 1, MAX_LIMIT) if "limit" in q else DEFAULT_LIMIT,
        offset=_whole("offset", q["offset"], 0, 10**9) if "offset" in q else 0)
