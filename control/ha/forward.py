"""A follower forwards what the routing control plane must answer.

The ACD's live state (calls, agents' states, queues' figures) and its
actions (hold, transfer, supervise, place a call, an agent's status, a
campaign's dialing) live in the lease holder's process. A control plane
that does not hold the lease passes those requests on to the holder's API
(its URL is in the lease) with the caller's own credentials, and answers
what it answers. Everything else (the CRM, history, admin, the event
websocket: events come through Redis) it answers itself.

How it fails: nobody holds the lease (a takeover in progress, at most a
few seconds) → 503 ``{"error": "unavailable", "reason": …}``, to try again;
the holder does not answer → 502.
"""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from control.api.http import error
from control.ha.leadership import Leadership

log = logging.getLogger(__name__)

# the routes the ACD (and the campaigns' dialer) answer from memory
OWNED = ("/api/v1/calls", "/api/v1/agents", "/api/v1/queues", "/api/v1/supervision",
         "/api/v1/campaigns", "/api/v1/campaign-", "/api/v1/alerts")
HEADERS = ("Authorization", "Content-Type", "Accept")
FORWARDED_BY = "X-Aitcomms-Forwarded-By"


def install(app: web.Application, leadership: Leadership, name: str) -> None:
    if leadership.alone:
        return
    session: dict[str, aiohttp.ClientSession] = {}

    @web.middleware
    async def forward(request: web.Request, handler: Handler) -> web.StreamResponse:
        if leadership.leading.is_set() or not request.path.startswith(OWNED) \
                or FORWARDED_BY in request.headers or leadership.lease is None:
            return await handler(request)
        holder = await leadership.lease.holder()
        if holder is None or holder.name == name:
            return error(503, "unavailable", None, "no control plane routes calls at this "
                         "moment (a takeover takes a few seconds): try again")
        if "client" not in session:
            session["client"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        headers = {k: request.headers[k] for k in HEADERS if k in request.headers}
        headers[FORWARDED_BY] = name
        try:
            async with session["client"].request(
                    request.method, holder.url + request.path_qs, headers=headers,
                    data=await request.read()) as resp:
                body = await resp.read()
                return web.Response(status=resp.status, body=body,
                                    content_type=resp.content_type)
        except aiohttp.ClientError as exc:
            log.warning("forward to %s (%s) failed: %s", holder.name, holder.url, exc)
            return error(502, "bad_gateway", None,
                         f"the routing control plane {holder.name} did not answer")

    async def close(_app: web.Application) -> None:
        if "client" in session:
            await session["client"].close()

    app.middlewares.append(forward)
    app.on_cleanup.append(close)
