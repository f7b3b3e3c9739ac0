"""/api/v1/analytics: call and agent figures of a period, CSV exports.
Supervisors and admins only: per-agent figures are staff appraisal data."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from control.api.http import database, json_response
from control.auth.middleware import require_role
from control.crm import analytics
from control.crm.book_routes import MANAGERS


def _period(request: web.Request) -> str:
    period = request.query.get("period") or "today"
    analytics.period_start(period, datetime.now(UTC))  # 422 naming "period" if unknown
    return period


async def _report(request: web.Request,
                  build: Callable[[Session, str], dict[str, Any]]) -> web.Response:
    period = _period(request)
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return build(session, period)

    return json_response(await asyncio.to_thread(run))


@require_role(*MANAGERS)
async def calls(request: web.Request) -> web.Response:
    return await _report(request, analytics.calls_report)


@require_role(*MANAGERS)
async def hourly(request: web.Request) -> web.Response:
    day, tz = request.query.get("day") or None, request.query.get("tz") or "UTC"
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return analytics.hourly_report(session, day, tz)

    return json_response(await asyncio.to_thread(run))


@require_role(*MANAGERS)
async def agents(request: web.Request) -> web.Response:
    return await _report(request, analytics.agents_report)


@require_role(*MANAGERS)
async def reviews(request: web.Request) -> web.Response:
    return await _report(request, analytics.reviews_report)


async def _csv(request: web.Request, name: str,
               build: Callable[[Session, str], str]) -> web.Response:
    period = _period(request)
    db = database(request)

    def run() -> str:
        with db.session() as session:
            return build(session, period)

    text = await asyncio.to_thread(run)
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}-{period}-{stamp}.csv"'})


@require_role(*MANAGERS)
async def calls_csv(request: web.Request) -> web.Response:
    return await _csv(request, "calls", analytics.calls_csv)


@require_role(*MANAGERS)
async def interactions_csv(request: web.Request) -> web.Response:
    return await _csv(request, "interactions", analytics.interactions_csv)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/analytics/calls", calls)
    r.add_get("/api/v1/analytics/calls/hourly", hourly)
    r.add_get("/api/v1/analytics/agents", agents)
    r.add_get("/api/v1/analytics/reviews", reviews)
    r.add_get("/api/v1/analytics/calls.csv", calls_csv)
    r.add_get("/api/v1/analytics/interactions.csv", interactions_csv)
