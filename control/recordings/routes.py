"""Call history and the recordings library over HTTP.

``GET /api/v1/calls/{call_id}/recording`` is what an ``<audio>`` element
loads: a browser cannot set a header on it, so the access token may come as
``?token=`` (as for the event socket; the logs redact it, see
control/web/security.py) or as ``Authorization: Bearer``. aiohttp's
FileResponse answers Range requests (206 with Content-Range), so the player
can seek; ``?download=1`` makes it an attachment.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from control.api.http import database, json_response, read_json
from control.api.keys import SETTINGS
from control.auth.middleware import JWT_SECRET, PRINCIPAL, bearer_token, public, require_role
from control.auth.models import Role
from control.auth.service import Principal, verify_access_token
from control.errors import InvalidInput
from control.recordings import retention, services
from control.recordings.history import Viewer


def _viewer(principal: Principal) -> Viewer:
    return Viewer(principal.role, principal.agent_extension)


async def list_calls(request: web.Request) -> web.Response:  # any signed-in user
    db, viewer, query = database(request), _viewer(request[PRINCIPAL]), dict(request.query)

    def run() -> dict[str, object]:
        with db.session() as session:
            return services.search_calls(session, query, viewer=viewer)

    return json_response(await asyncio.to_thread(run))


async def call_detail(request: web.Request) -> web.Response:  # any signed-in user
    db, viewer = database(request), _viewer(request[PRINCIPAL])
    call_id = request.match_info["call_id"]

    def run() -> dict[str, object]:
        with db.session() as session:
            return services.call_detail(session, call_id, viewer=viewer)

    return json_response(await asyncio.to_thread(run))


async def list_recordings(request: web.Request) -> web.Response:  # any signed-in user
    db, viewer, query = database(request), _viewer(request[PRINCIPAL]), dict(request.query)
    folder = request.app[SETTINGS].recordings_dir

    def run() -> dict[str, object]:
        with db.session() as session:
            return services.search_recordings(session, query, viewer=viewer,
                                              recordings_dir=folder)

    return json_response(await asyncio.to_thread(run))


def _from_start(request: web.Request) -> bool:
    try:
        start = request.http_range.start
    except ValueError:  # a malformed Range: FileResponse answers it (416)
        return False
    return start in (None, 0)


@public  # authenticated here: the token may come in the query string
async def call_recording(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token", "").strip() or bearer_token(request)
    principal = verify_access_token(request.app[JWT_SECRET], token)
    download = request.query.get("download", "0")
    if download not in ("0", "1"):
        raise InvalidInput("download", "0 (play) or 1 (download)")
    call_id = request.match_info["call_id"]
    db, folder = database(request), request.app[SETTINGS].recordings_dir
    from_start = request.method == "GET" and _from_start(request)  # HEAD plays nothing

    def run() -> object:
        with db.session() as session:
            return services.recording_to_play(
                session, call_id, viewer=_viewer(principal), actor=principal.actor,
                recordings_dir=folder, download=download == "1", from_start=from_start)

    path = await asyncio.to_thread(run)
    disposition = "attachment" if download == "1" else "inline"
    return web.FileResponse(path, headers={  # type: ignore[arg-type]
        "Content-Type": "audio/wav", "Cache-Control": "private, no-store",
        "Content-Disposition": f'{disposition}; filename="call-{call_id}.wav"'})


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def list_retention(request: web.Request) -> web.Response:
    db = database(request)

    def run() -> list[dict[str, object]]:
        with db.session() as session:
            return retention.policies(session)

    return json_response({"retention": await asyncio.to_thread(run)})


@require_role(Role.ADMIN)
async def set_retention(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("days")
    if "days" not in body.data:
        raise InvalidInput("days", "required: a number of days, or null (kept for ever)")
    days = body.data["days"]
    db, actor, queue = database(request), request[PRINCIPAL].actor, request.match_info["queue"]

    def run() -> dict[str, object]:
        with db.session() as session:
            return retention.set_retention(session, queue, days, actor=actor)

    return json_response({"retention": await asyncio.to_thread(run)})


def setup_routes(app: web.Application) -> None:
    """After the ACD's routes: ``/api/v1/calls/live`` is matched before
    ``/api/v1/calls/{call_id}``."""
    app.router.add_get("/api/v1/calls", list_calls)
    app.router.add_get("/api/v1/calls/{call_id}", call_detail)
    app.router.add_get("/api/v1/calls/{call_id}/recording", call_recording)
    app.router.add_get("/api/v1/recordings", list_recordings)
    app.router.add_get("/api/v1/recordings/retention", list_retention)
    app.router.add_put("/api/v1/recordings/retention/{queue}", set_retention)
