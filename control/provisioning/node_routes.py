"""/api/v1/nodes: the media nodes (Asterisk) behind Kamailio's dispatcher, for
admins. The same service functions as ``aitcomms node``
(:mod:`control.provisioning.nodes`); every write is audited, then Kamailio
re-reads its list (``dispatcher.reload``).

- ``GET /api/v1/nodes`` → ``{nodes: [{id, name, address, port, uri, weight,
  state, created_at, kamailio: {flags, up, calls} | null, ari: bool | null}]}``
  (``kamailio``: what the running edge sees of the node; null when it is
  not running or does not list it. ``ari``: this control plane's ARI
  connection to it is up; null: it does not connect to that node)
- ``POST /api/v1/nodes`` ``{name, host, port?, weight?, ari_url?}`` → 201
  ``{node}`` (``ari_url``: a node run elsewhere that the control planes
  drive over ARI; its password is generated, never returned: ``aitcomms
  node files`` writes it into the node's folder);
  ``{name, local: true, weight?}``: a node this box runs (another Asterisk,
  ``asterisk-<name>`` under the supervisor, its ports from its slot), 201
  once it is up; 503 not_applied (stored) when it does not come up
- ``PATCH /api/v1/nodes/{name}`` ``{state: active|draining}`` → 200 ``{node}``:
  a drain stops new calls (its calls go on) and is kept across reloads
- ``DELETE /api/v1/nodes/{name}`` → 204; 409 while it has calls up, and for
  ``local`` (the stack's own Asterisk)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from control.api.http import Body, database, error, json_response, read_json
from control.api.keys import ARI, SETTINGS
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.errors import InvalidInput
from control.provisioning import nodes
from control.provisioning.node_services import remove, start_local
from control.stack.manager import Stack, StackError

log = logging.getLogger(__name__)


def _int(body: Body, name: str, default: int) -> int:
    value = body.data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(name, "expected an integer")
    return value


def _runtime(runtime: dict[str, nodes.NodeRuntime] | None, uri: str) -> dict[str, Any] | None:
    seen = runtime.get(uri) if runtime is not None else None
    if seen is None:
        return None
    return {"flags": seen.flags, "up": seen.up, "calls": seen.load}


async def _reloaded(request: web.Request, response: web.Response) -> web.Response:
    """After a stored change: Kamailio re-reads its nodes, then ``response``;
    503 not_applied (the change stays stored) when it cannot."""
    stack = Stack(request.app[SETTINGS])
    try:
        await asyncio.to_thread(stack.reload_media_nodes)
    except StackError as exc:
        log.error("%s %s: stored, not applied: %s", request.method, request.path, exc)
        return error(503, "not_applied", None, "the change is stored but Kamailio did not "
                     f"reload its media nodes ({exc}); `kamcmd dispatcher.reload` retries")
    return response


@require_role(Role.ADMIN)
async def list_nodes(request: web.Request) -> web.Response:
    db, stack, ari = database(request), Stack(request.app[SETTINGS]), request.app[ARI]

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            rows = [n.as_dict() for n in nodes.list_nodes(session)]
        runtime = stack.media_nodes_runtime()
        return [{**n, "kamailio": _runtime(runtime, str(n["uri"])),
                 "ari": ari.connected_to(str(n["name"])) if n["name"] in ari.nodes() else None}
                for n in rows]

    return json_response({"nodes": await asyncio.to_thread(run)})


@require_role(Role.ADMIN)
async def create_node(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("name", "host", "port", "weight", "local", "ari_url")
    local = body.data.get("local", False)
    if not isinstance(local, bool):
        raise InvalidInput("local", "expected true or false")
    name, weight = body.req_text("name", max_len=32), _int(body, "weight", 1)
    db, actor, settings = database(request), request[PRINCIPAL].actor, request.app[SETTINGS]
    if local:
        for other in ("host", "port", "ari_url"):
            if other in body.data:
                raise InvalidInput(other, "a node this box runs takes its address and ports "
                                          "from its slot")

        def run_local() -> dict[str, Any]:
            with db.session() as session:
                return nodes.create_local_node(session, settings, name=name, weight=weight,
                                               actor=actor).as_dict()

        node = await asyncio.to_thread(run_local)
        try:
            await asyncio.to_thread(start_local, settings, db, name)
        except StackError as exc:
            log.error("node %s: stored, not started: %s", name, exc)
            return error(503, "not_applied", None, f"the node is stored but did not start "
                         f"({exc}); `aitcomms up` retries")
        return json_response({"node": node}, status=201)
    host = body.req_text("host", max_len=255)
    port = _int(body, "port", 5080)
    ari_url = body.data.get("ari_url")
    if ari_url is not None:
        ari_url = nodes.check_ari_url(ari_url)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return nodes.create_node(session, name=name, host=host, port=port, weight=weight,
                                     actor=actor, ari_url=ari_url).as_dict()

    node = await asyncio.to_thread(run)
    return await _reloaded(request, json_response({"node": node}, status=201))


@require_role(Role.ADMIN)
async def update_node(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await read_json(request)
    body.only("state")
    state = body.req_text("state", max_len=12)
    db, actor = database(request), request[PRINCIPAL].actor

    def run() -> dict[str, Any]:
        with db.session() as session:
            return nodes.set_state(session, name, state, actor=actor).as_dict()

    node = await asyncio.to_thread(run)
    return await _reloaded(request, json_response({"node": node}))


@require_role(Role.ADMIN)
async def delete_node(request: web.Request) -> web.Response:
    name, db, actor = request.match_info["name"], database(request), request[PRINCIPAL].actor
    try:
        # Kamailio reloads before a node this box runs is stopped
        await asyncio.to_thread(remove, request.app[SETTINGS], db, name, actor)
    except StackError as exc:
        log.error("%s %s: stored, not applied: %s", request.method, request.path, exc)
        return error(503, "not_applied", None, "the node is removed from the list but "
                     f"was not fully applied ({exc}); `kamcmd dispatcher.reload` retries")
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/nodes", list_nodes)
    r.add_post("/api/v1/nodes", create_node)
    r.add_patch("/api/v1/nodes/{name}", update_node)
    r.add_delete("/api/v1/nodes/{name}", delete_node)
