"""/api/v1/trunks and /api/v1/dids: how calls get in from the PSTN and where
they go, for admins. The same service functions as ``aitcomms trunk|did``
(:mod:`control.provisioning.trunks`); every write is audited and applied in
place (``APPLY``: render, reload, stored as a dialplan version).

- ``GET /api/v1/trunks`` → ``{trunks: [{id, name, host, address, port}]}``
- ``POST /api/v1/trunks`` ``{name, host, port?}`` → 201 ``{trunk}``
- ``DELETE /api/v1/trunks/{name}`` → 204: its address is no longer trusted
- ``GET /api/v1/dids`` → ``{dids: [{id, number, target}]}``
- ``POST /api/v1/dids`` ``{number, target}`` → 201 ``{did}``
- ``PATCH /api/v1/dids/{number}`` ``{target}`` → 200 ``{did}``
- ``DELETE /api/v1/dids/{number}`` → 204

``{number}`` is E.164, its ``+`` URL-encoded (``%2B34910000001``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from control.api.http import (
    Body,
    applied,
    database,
    json_response,
    read_json,
)
from control.api.keys import SETTINGS
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.errors import InvalidInput
from control.ivr.flows import Flow, dialplans_dir, load_flows
from control.provisioning import trunks


def _ivrs(request: web.Request) -> list[Flow]:
    return load_flows(dialplans_dir(request.app[SETTINGS].root) / "ivr")


def _port(body: Body) -> int:
    value = body.data.get("port", 5060)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput("port", "expected an integer")
    return value


@require_role(Role.ADMIN)
async def list_trunks(request: web.Request) -> web.Response:
    db = database(request)

    def run() -> list[dict[str, object]]:
        with db.session() as session:
            return [t.as_dict() for t in trunks.list_trunks(session)]

    return json_response({"trunks": await asyncio.to_thread(run)})


@require_role(Role.ADMIN)
async def create_trunk(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("name", "host", "port")
    name, host = body.req_text("name", max_len=64), body.req_text("host", max_len=255)
    port, db, actor = _port(body), database(request), request[PRINCIPAL].actor

    def run() -> dict[str, object]:
        with db.session() as session:
            return trunks.create_trunk(session, name=name, host=host, port=port,
                                       actor=actor).as_dict()

    trunk = await asyncio.to_thread(run)
    return await applied(request, json_response({"trunk": trunk}, status=201))


@require_role(Role.ADMIN)
async def delete_trunk(request: web.Request) -> web.Response:
    name, db, actor = request.match_info["name"], database(request), request[PRINCIPAL].actor

    def run() -> None:
        with db.session() as session:
            trunks.delete_trunk(session, name, actor=actor)

    await asyncio.to_thread(run)
    return await applied(request, web.Response(status=204))


@require_role(Role.ADMIN)
async def list_dids(request: web.Request) -> web.Response:
    db = database(request)

    def run() -> list[dict[str, object]]:
        with db.session() as session:
            return [d.as_dict() for d in trunks.list_dids(session)]

    return json_response({"dids": await asyncio.to_thread(run)})


@require_role(Role.ADMIN)
async def create_did(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("number", "target")
    number, target = body.req_text("number", max_len=20), body.req_text("target", max_len=60)
    db, actor, ivrs = database(request), request[PRINCIPAL].actor, _ivrs(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return trunks.create_did(session, number=number, target=target, ivrs=ivrs,
                                     actor=actor).as_dict()

    did = await asyncio.to_thread(run)
    return await applied(request, json_response({"did": did}, status=201))


@require_role(Role.ADMIN)
async def update_did(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    body = await read_json(request)
    body.only("target")
    target = body.req_text("target", max_len=60)
    db, actor, ivrs = database(request), request[PRINCIPAL].actor, _ivrs(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return trunks.update_did(session, number, target=target, ivrs=ivrs,
                                     actor=actor).as_dict()

    did = await asyncio.to_thread(run)
    return await applied(request, json_response({"did": did}))


@require_role(Role.ADMIN)
async def delete_did(request: web.Request) -> web.Response:
    number, db, actor = request.match_info["number"], database(request), request[PRINCIPAL].actor

    def run() -> None:
        with db.session() as session:
            trunks.delete_did(session, number, actor=actor)

    await asyncio.to_thread(run)
    return await applied(request, web.Response(status=204))


def setup_routes(app: web.Application) -> None:
    """Trunks and DIDs (data changes go through app[APPLY])."""
    r = app.router
    r.add_get("/api/v1/trunks", list_trunks)
    r.add_post("/api/v1/trunks", create_trunk)
    r.add_delete("/api/v1/trunks/{name}", delete_trunk)
    r.add_get("/api/v1/dids", list_dids)
    r.add_post("/api/v1/dids", create_did)
    r.add_patch("/api/v1/dids/{number}", update_did)
    r.add_delete("/api/v1/dids/{number}", delete_did)
