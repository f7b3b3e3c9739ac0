"""Typed reading of the fields the CRM endpoints take beyond text: whole
numbers, dates, times with a zone, amounts. Each refusal names the field."""

from __future__ import annotations

from datetime import date, datetime

from aiohttp import web

from control.api.http import Body, read_json
from control.errors import InvalidInput


def whole(body: Body, name: str, *, required: bool = False, low: int = 1,
          high: int = 2**31 - 1) -> int | None:
    value = body.data.get(name)
    if value is None:
        if required:
            raise InvalidInput(body.prefix + name, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(body.prefix + name, "expected a whole number")
    if not low <= value <= high:
        raise InvalidInput(body.prefix + name, f"between {low} and {high}")
    return value


def req_whole(body: Body, name: str, *, low: int = 1, high: int = 2**31 - 1) -> int:
    value = whole(body, name, required=True, low=low, high=high)
    assert value is not None
    return value


def req_day(body: Body, name: str) -> date:
    value = day(body, name, required=True)
    assert value is not None
    return value


def day(body: Body, name: str, *, required: bool = False) -> date | None:
    raw = body.text(name, required=required, max_len=10)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(name, f"{raw!r} is not a date (YYYY-MM-DD)") from exc


def moment(body: Body, name: str, *, required: bool = False) -> datetime | None:
    raw = body.text(name, required=required, max_len=40)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(name, f"{raw!r} is not an ISO 8601 time") from exc
    if value.tzinfo is None:
        raise InvalidInput(name, "needs a time zone (e.g. +01:00 or Z)")
    return value


def amount(body: Body, name: str) -> str | None:
    """An amount as JSON string ("455.90") or number; the service checks it."""
    value = body.data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(name, "an amount such as \"455.90\"")
    if len(str(value)) > 16:
        raise InvalidInput(name, "too long for an amount")
    return str(value)


def query_id(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise InvalidInput(name, f"{raw!r} is not an id")
    return int(raw)



async def read_optional_json(request: web.Request) -> Body:
    """The body of an action whose fields are all optional: none at all is {}."""
    if not (await request.read()).strip():
        return Body({})
    return await read_json(request)
