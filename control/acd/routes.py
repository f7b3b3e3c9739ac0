"""ACD over HTTP: routing decisions, agents' state, queue figures."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from control.acd.models import AgentStatus
from control.acd.store import AcdStore

STORE = web.AppKey("acd_store", AcdStore)
SETTABLE = {AgentStatus.AVAILABLE.value, AgentStatus.PAUSED.value, AgentStatus.LOGGED_OUT.value}


def _error(status: int, error: str, field: str | None = None, reason: str = "") -> web.Response:
    body: dict[str, Any] = {"error": error}
    if field:
        body["field"] = field
    if reason:
        body["reason"] = reason
    return web.json_response(body, status=status)


async def call_routing(request: web.Request) -> web.Response:
    store = request.app[STORE]
    call_id = request.match_info["call_id"]
    call = await asyncio.to_thread(store.call, call_id)
    if call is None:
        return _error(404, "not_found", "call_id", f"no call {call_id}")
    decisions = await asyncio.to_thread(store.decisions, call_id)
    return web.json_response({"call": call, "decisions": decisions})


async def list_agents(request: web.Request) -> web.Response:
    return web.json_response({"agents": await asyncio.to_thread(request.app[STORE].agents)})


async def set_agent_status(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return _error(400, "invalid_json", reason="the body is not JSON")
    if not isinstance(body, dict):
        return _error(422, "invalid", "body", "expected an object")
    status, reason = body.get("status"), body.get("reason")
    if status not in SETTABLE:
        return _error(422, "invalid", "status", f"one of {', '.join(sorted(SETTABLE))}")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 40):
        return _error(422, "invalid", "reason", "a string of at most 40 characters")
    store = request.app[STORE]
    agent = await asyncio.to_thread(store.set_agent_status, request.match_info["extension"],
                                    AgentStatus(status), reason or None, 0)
    if agent is None:
        return _error(404, "not_found", "extension", "no such agent")
    return web.json_response({"agent": agent})


async def queue_stats(request: web.Request) -> web.Response:
    store = request.app[STORE]
    name = request.match_info["name"]
    queue = await asyncio.to_thread(store.queue, name)
    if queue is None:
        return _error(404, "not_found", "name", f"no queue {name}")
    figures = await asyncio.to_thread(store.queue_figures, name, queue["service_level_s"])
    return web.json_response({"queue": name, **figures})


def setup_routes(app: web.Application, store: AcdStore) -> None:
    app[STORE] = store
    app.router.add_get("/api/v1/calls/{call_id}/routing", call_routing)
    app.router.add_get("/api/v1/agents", list_agents)
    app.router.add_put("/api/v1/agents/{extension}/status", set_agent_status)
    app.router.add_get("/api/v1/queues/{name}/stats", queue_stats)
