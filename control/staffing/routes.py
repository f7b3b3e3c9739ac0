"""/api/v1/forecast, /api/v1/queues/{name}/targets, /api/v1/alerts: the
staffing forecast, each queue's targets and alert thresholds, and the
alerts active now. Supervisors and admins only. The alert watch is started
and stopped with the app here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from control.acd.models import AgentStatus
from control.api.http import database, json_response, query_int, read_json
from control.api.keys import BUS, DB, LEADERSHIP, ROUTER
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.errors import InvalidInput
from control.staffing import forecast as staffing
from control.staffing import services
from control.staffing.alerts import AlertWatch

ALERTS: web.AppKey[AlertWatch] = web.AppKey("alert_watch", AlertWatch)
MANAGERS = (Role.SUPERVISOR, Role.ADMIN)


@require_role(*MANAGERS)
async def forecast(request: web.Request) -> web.Response:
    queue = request.query.get("queue") or ""
    if not queue:
        raise InvalidInput("queue", "required: the queue to forecast")
    day, tz = request.query.get("date") or None, request.query.get("tz") or "UTC"
    weeks = query_int(request, "weeks", staffing.DEFAULT_WEEKS)
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return staffing.forecast(session, queue, day, tz, weeks)

    found = await asyncio.to_thread(run)
    # beside the forecast, who is there now (the router's live states)
    router = request.app[ROUTER]
    members = {str(m["extension"]) for m in
               (router.queues.get(queue) or {}).get("members", [])}
    found["agents_logged_in"] = sum(
        1 for a in router.agents.listing()
        if a["extension"] in members and a["status"] != AgentStatus.LOGGED_OUT.value)
    return json_response(found)


@require_role(*MANAGERS)
async def get_targets(request: web.Request) -> web.Response:
    name, db = request.match_info["name"], database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return services.get_targets(session, name)

    return json_response({"targets": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def update_targets(request: web.Request) -> web.Response:
    name, db = request.match_info["name"], database(request)
    body = await read_json(request)
    actor = request[PRINCIPAL].actor

    def run() -> dict[str, Any]:
        with db.session() as session:
            return services.update_targets(session, name, body.data, actor=actor)

    return json_response({"targets": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def alerts(request: web.Request) -> web.Response:
    return json_response({"alerts": request.app[ALERTS].listing()})


async def _watch(app: web.Application) -> AsyncIterator[None]:
    async def watch() -> None:
        app[ALERTS].start()
    await app[LEADERSHIP].lead(watch)  # alerts come from the routing control plane
    yield
    await app[ALERTS].close()


def setup_routes(app: web.Application) -> None:
    """After the ACD's routes (the watch reads the app's router)."""
    app[ALERTS] = AlertWatch(app[ROUTER], app[DB], app[BUS])
    app.cleanup_ctx.append(_watch)
    r = app.router
    r.add_get("/api/v1/forecast", forecast)
    r.add_get("/api/v1/queues/{name}/targets", get_targets)
    r.add_patch("/api/v1/queues/{name}/targets", update_targets)
    r.add_get("/api/v1/alerts", alerts)
