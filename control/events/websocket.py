"""/api/v1/events: the event bus, live, to the browser (agent desktop,
wallboard) as one JSON text message per event: ``{id, type, ts, data}``.

Authentication: the access token as ``?token=`` (browsers cannot set headers
on a websocket) or ``Authorization: Bearer``. A bad token is refused before
the upgrade (401 JSON); the socket is closed (code 4401) when the token
expires, and the browser reconnects with a fresh one.

Who sees what (each event's audience is in :mod:`control.events.catalog`):
a supervisor or an admin sees every event; an agent only the events that
concern its own extension (its calls ringing and answered, its status, its
tasks, quotes and policies) and ``queue.stats``, which carries only counts.

``queue.stats`` is computed by each control plane instance for its own
sockets every few seconds, and only while a socket is open: one query of
today's calls and the agents' states, cheap at a contact center's volumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import WSCloseCode, WSMsgType, web
from sqlalchemy import select

from control.acd.models import Agent, Call, CallState, Queue
from control.api.keys import BUS, DB
from control.auth.middleware import JWT_SECRET, public
from control.auth.models import Role
from control.auth.service import AuthError, Principal, verify_access_token
from control.crm.analytics import aware, call_figures, period_start
from control.db import Database
from control.events.bus import Event, EventBus
from control.events.catalog import EVENTS, catalogue

log = logging.getLogger(__name__)

PATH = "/api/v1/events"
QUEUE_STATS_EVERY_S = 5.0
SEES_EVERYTHING = {Role.SUPERVISOR.value, Role.ADMIN.value}
TOKEN_EXPIRED = 4401  # websocket close code (4000-4999: the application's)


class Sockets:
    """The open websockets of this instance, and the queue.stats loop."""

    def __init__(self) -> None:
        self.open: set[web.WebSocketResponse] = set()
        self.task: asyncio.Task[None] | None = None


SOCKETS = web.AppKey("event_sockets", Sockets)


def concerned_extensions(event: Event) -> set[str]:
    """The agent extensions an event is about: ``agent_extension`` (every
    payload of the catalogue that concerns an agent has it), the other agent
    of a transfer or consultation (``from_agent``, ``consulted``), and, for
    events from before the catalogue, ``agent`` (an extension, or an agent
    object) or the ``agent_extension`` of the record it carries."""
    data = event.data
    found: set[str] = {data[k] for k in ("from_agent", "consulted")
                       if isinstance(data.get(k), str)}
    agent = data.get("agent")
    if isinstance(agent, str):
        found.add(agent)
    elif isinstance(agent, dict) and isinstance(agent.get("extension"), str):
        found.add(agent["extension"])
    if isinstance(data.get("agent_extension"), str):
        found.add(data["agent_extension"])
    for key in ("call", "task", "quote", "interaction"):
        item = data.get(key)
        if isinstance(item, dict) and isinstance(item.get("agent_extension"), str):
            found.add(item["agent_extension"])
    return found


def visible_to(principal: Principal, event: Event) -> bool:
    if principal.role in SEES_EVERYTHING:
        return True
    audience = EVENTS[event.type].audience if event.type in EVENTS else "supervisors"
    if audience != "agent":
        return audience == "everyone"
    return bool(principal.agent_extension) and (
        principal.agent_extension in concerned_extensions(event))


def _token(request: web.Request) -> str:
    token = request.query.get("token", "").strip()
    if token:
        return token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    raise AuthError("unauthenticated", "give the access token as ?token= or "
                                       "Authorization: Bearer")


def _expires_in(token: str) -> float:
    # the signature was checked by verify_access_token just before
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp", 0)
    return max(0.0, float(exp) - time.time())


@public  # authenticated here: the token may come in the query string
async def events(request: web.Request) -> web.StreamResponse:
    token = _token(request)
    principal = verify_access_token(request.app[JWT_SECRET], token)
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.open.add(ws)
    bus: EventBus = request.app[BUS]
    try:
        async with bus.subscribe() as queue:
            sender = asyncio.create_task(_send(ws, queue, principal))
            try:
                async with asyncio.timeout(_expires_in(token)):
                    async for msg in ws:
                        # nothing to receive yet: ping/pong is aiohttp's heartbeat
                        if msg.type == WSMsgType.ERROR:
                            break
            except TimeoutError:
                await ws.close(code=TOKEN_EXPIRED, message=b"token expired")
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
    finally:
        sockets.open.discard(ws)
    return ws


async def _send(ws: web.WebSocketResponse, queue: asyncio.Queue[Event],
                principal: Principal) -> None:
    while not ws.closed:
        event = await queue.get()
        if not visible_to(principal, event):
            continue
        try:
            await ws.send_str(event.to_json())
        except ConnectionError:
            return


# -- queue.stats -------------------------------------------------------------------


def queue_stats(db: Database, now: datetime | None = None) -> dict[str, Any]:
    """Every queue's live figures (waiting now, longest wait) and today's
    (answered, abandoned, service level), and how many agents are in each state."""
    now = now or datetime.now(UTC)
    with db.session() as session:
        queues = list(session.scalars(select(Queue)))
        calls = list(session.scalars(select(Call).where(
            Call.entered_at >= period_start("today", now))))
        states = [a.status for a in session.scalars(select(Agent))]
    service_levels = {q.name: q.service_level_s for q in queues}
    figures: dict[str, Any] = {}
    for queue in queues:
        own = [c for c in calls if c.queue == queue.name and c.direction != "outbound"]
        waiting = [c for c in own if c.ended_at is None and c.state in (
            CallState.WAITING.value, CallState.RINGING.value)]
        longest = max(((now - aware(c.entered_at)).total_seconds() for c in waiting),
                      default=0.0)
        today = call_figures(own, service_levels)
        figures[queue.name] = {
            "waiting": len(waiting), "longest_wait_s": round(longest, 1),
            "talking": sum(1 for c in own if c.state == CallState.ANSWERED.value
                           and c.ended_at is None),
            "answered": today["answered"], "abandoned": today["abandoned"],
            "service_level": today["service_level"]}
    agents: dict[str, int] = {}
    for state in states:
        agents[state] = agents.get(state, 0) + 1
    return {"queues": figures, "agents": agents}


async def _queue_stats_loop(app: web.Application) -> None:
    while True:
        await asyncio.sleep(QUEUE_STATS_EVERY_S)
        if not app[SOCKETS].open:
            continue
        try:
            data = await asyncio.to_thread(queue_stats, app[DB])
        except Exception:  # the database may be away: skip a beat, never die
            log.exception("queue.stats failed")
            continue
        app[BUS].deliver_local(Event(type="queue.stats", data=data))


async def _start(app: web.Application) -> None:
    app[SOCKETS].task = asyncio.create_task(_queue_stats_loop(app), name="queue-stats")


async def _stop(app: web.Application) -> None:
    task = app[SOCKETS].task
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # browsers reconnect (to another instance, or to this one once back)
    for ws in list(app[SOCKETS].open):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def event_catalogue(request: web.Request) -> web.Response:  # any signed-in user
    """Every event's name, audience, summary and main payload keys."""
    return web.json_response({"events": catalogue()})


def setup_routes(app: web.Application) -> None:
    """Needs the app's BUS, DB and authentication (JWT_SECRET) set up."""
    app[SOCKETS] = Sockets()
    app.router.add_get(PATH, events)
    app.router.add_get(PATH + "/catalog", event_catalogue)
    app.on_startup.append(_start)
    # before the bus closes: on_shutdown runs ahead of on_cleanup
    app.on_shutdown.append(_stop)
