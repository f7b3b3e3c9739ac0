"""/api/v1 for outbound campaigns: dialing settings, calling lists, do-not-call
lists, start/stop, figures, and what agents do (preview, dispositions,
callbacks). A few lines per route; the work is in :mod:`.services` (audited
in the request's transaction) and :mod:`.dialer`.

Supervisors and admins set campaigns up and run them; agents work them
(preview, disposition, callback) as their own extension. A list upload is
the CSV itself (``text/csv``) or JSON ``{"csv": "..."}``; its answer is the
row-by-row report, 200 even when rows were left out (422 only when the file
cannot be read as a list at all: nothing is imported then).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from aiohttp import web

from control.acd.router import Router
from control.api.http import Body, database, json_response, path_int, read_json
from control.api.keys import BUS, CAMPAIGNS, DB, LEADERSHIP, SETTINGS
from control.auth.audit import Actor
from control.auth.middleware import PRINCIPAL, require_role
from control.campaigns import services
from control.campaigns.dialer import CampaignDialer, forced_clock
from control.crm.book_routes import ANYONE, MANAGERS
from control.crm.desk_routes import _own
from control.crm.fields import moment
from control.errors import Conflict, InvalidInput

T = TypeVar("T")
MAX_UPLOAD = 20 * 1024 * 1024


def _dialer(request: web.Request) -> CampaignDialer:
    return request.app[CAMPAIGNS]


async def _tx(request: web.Request, fn: Callable[[Any, Actor], T]) -> T:
    """Run ``fn(session, actor)`` in one transaction, off the loop."""
    db = database(request)
    actor = request[PRINCIPAL].actor

    def run() -> T:
        with db.session() as session:
            out = fn(session, actor)
            session.commit()
            return out

    return await asyncio.to_thread(run)


async def _csv_text(request: web.Request) -> str:
    if request.content_length and request.content_length > MAX_UPLOAD:
        raise InvalidInput("file", f"at most {MAX_UPLOAD // 1024 // 1024} MB")
    if request.content_type == "application/json":
        body = await read_json(request)
        body.only("csv", "reason")
        return body.req_text("csv", max_len=MAX_UPLOAD)
    raw = await request.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("file", "not UTF-8 text") from exc


def _agent(request: web.Request, body: Body | None = None) -> str:
    """The extension an agent works as (supervisors name one)."""
    own = _own(request[PRINCIPAL])
    if own is not None:
        if not own:
            raise Conflict("your user has no agent extension", "agent_extension")
        return own
    named = body.text("agent_extension", max_len=16) if body else None
    if not named:
        raise InvalidInput("agent_extension", "required (the agent to act for)")
    return named


@require_role(*ANYONE)
async def get_dialing(request: web.Request) -> web.Response:
    cid = path_int(request, "id")
    return json_response({"dialing": await _tx(
        request, lambda s, _a: services.dialing(s, cid).as_dict())})


@require_role(*MANAGERS)
async def put_dialing(request: web.Request) -> web.Response:
    cid = path_int(request, "id")
    body = await read_json(request)
    return json_response({"dialing": await _tx(
        request, lambda s, a: services.configure(s, cid, body.data, actor=a).as_dict())})


def _running(flag: bool) -> Any:
    @require_role(*MANAGERS)
    async def handler(request: web.Request) -> web.Response:
        cid = path_int(request, "id")
        out = await _tx(request, lambda s, a: services.set_running(s, cid, flag,
                                                                    actor=a).as_dict())
        return json_response({"dialing": out})
    return handler


@require_role(*MANAGERS)
async def import_list(request: web.Request) -> web.Response:
    cid = path_int(request, "id")
    text = await _csv_text(request)
    return json_response({"report": await _tx(
        request, lambda s, a: services.import_list(s, cid, text, actor=a))})


@require_role(*MANAGERS)
async def add_leads(request: web.Request) -> web.Response:
    cid = path_int(request, "id")
    body = await read_json(request)
    body.only("lead_ids", "all")
    ids = body.data.get("lead_ids")
    if ids is None and body.data.get("all") is not True:
        raise InvalidInput("lead_ids", "a list of lead ids, or \"all\": true for the "
                                       "campaign's leads")
    if ids is not None and (not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids) or len(ids) > 10000):
        raise InvalidInput("lead_ids", "a list of lead ids (at most 10000)")
    return json_response({"report": await _tx(
        request, lambda s, a: services.add_leads(s, cid, ids, actor=a))})


@require_role(*ANYONE)
async def list_entries(request: web.Request) -> web.Response:
    cid = path_int(request, "id")
    status = request.query.get("status") or None
    return json_response({"entries": await _tx(
        request, lambda s, _a: services.list_entries(s, cid, status))})


@require_role(*MANAGERS)
async def list_attempts(request: web.Request) -> web.Response:
    cid = path_int(request, "id")
    return json_response({"attempts": await _tx(
        request, lambda s, _a: services.attempts(s, cid))})


@require_role(*ANYONE)
async def figures(request: web.Request) -> web.Response:
    cid = path_int(request, "id")
    await _tx(request, lambda s, _a: services.dialing(s, cid))  # 404 if not a dialed one
    return json_response({"figures": await _dialer(request).figures(cid)})


def _dnc(campaign: bool) -> tuple[Any, Any]:
    @require_role(*MANAGERS)
    async def read(request: web.Request) -> web.Response:
        cid = path_int(request, "id") if campaign else None
        if cid is not None:
            await _tx(request, lambda s, _a: services.campaign(s, cid))
        return json_response({"numbers": await _tx(
            request, lambda s, _a: services.list_dnc(s, cid))})

    @require_role(*MANAGERS)
    async def add(request: web.Request) -> web.Response:
        cid = path_int(request, "id") if campaign else None
        reason = request.query.get("reason", "")
        text = await _csv_text(request)
        return json_response({"report": await _tx(
            request, lambda s, a: services.add_dnc(s, text, cid, reason, actor=a))})

    return read, add


@require_role(*ANYONE)
async def schedule_callback(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("entry_id", "at", "agent_extension")
    entry_id = body.data.get("entry_id")
    if isinstance(entry_id, bool) or not isinstance(entry_id, int):
        raise InvalidInput("entry_id", "required, a list entry id")
    at = moment(body, "at", required=True)
    assert at is not None
    agent = _agent(request, body)
    if at <= _dialer(request).clock():
        raise InvalidInput("at", "must be in the future")
    return json_response({"entry": await _tx(request, lambda s, a: services.schedule_callback(
        s, entry_id, at, agent, actor=a).as_dict())}, status=201)


@require_role(*ANYONE)
async def dispose(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    body = await read_json(request)
    body.only("disposition", "callback_at")
    code = body.req_text("disposition", max_len=32)
    callback_at = moment(body, "callback_at")
    own = _own(request[PRINCIPAL])
    now = _dialer(request).clock()
    return json_response(await _tx(request, lambda s, a: services.dispose(
        s, call_id, code, actor=a, now=now, callback_at=callback_at, agent=own or None)))


@require_role(*ANYONE)
async def preview(request: web.Request) -> web.Response:
    cid = path_int(request, "id")
    body = await read_json(request) if request.can_read_body else Body({})
    body.only("agent_extension")
    return json_response(await _dialer(request).preview(cid, _agent(request, body)))


@require_role(*ANYONE)
async def preview_decide(request: web.Request) -> web.Response:
    cid = path_int(request, "id")
    entry_id = path_int(request, "entry_id")
    body = await read_json(request)
    body.only("action", "agent_extension")
    action = body.req_text("action", max_len=8)
    if action not in ("dial", "skip"):
        raise InvalidInput("action", "dial or skip")
    out = await _dialer(request).preview_decide(cid, entry_id, _agent(request, body),
                                                action == "dial")
    return json_response(out, status=202 if action == "dial" else 200)


def setup_routes(app: web.Application, router: Router, dialing: bool = True) -> None:
    """The routes, and the dialer (started with the app when ``dialing``)."""
    settings = app[SETTINGS]
    dialer = CampaignDialer(router, app[DB], app[BUS],
                            forced_clock(settings.clock), settings.outbound_caller_id)
    app[CAMPAIGNS] = dialer
    r = app.router
    r.add_get("/api/v1/campaigns/{id}/dialing", get_dialing)
    r.add_put("/api/v1/campaigns/{id}/dialing", put_dialing)
    r.add_post("/api/v1/campaigns/{id}/start", _running(True))
    r.add_post("/api/v1/campaigns/{id}/stop", _running(False))
    r.add_post("/api/v1/campaigns/{id}/list", import_list)
    r.add_get("/api/v1/campaigns/{id}/list", list_entries)
    r.add_post("/api/v1/campaigns/{id}/leads", add_leads)
    r.add_get("/api/v1/campaigns/{id}/attempts", list_attempts)
    r.add_get("/api/v1/campaigns/{id}/figures", figures)
    read, add = _dnc(campaign=False)
    r.add_get("/api/v1/dnc", read)
    r.add_post("/api/v1/dnc", add)
    read, add = _dnc(campaign=True)
    r.add_get("/api/v1/campaigns/{id}/dnc", read)
    r.add_post("/api/v1/campaigns/{id}/dnc", add)
    r.add_post("/api/v1/campaigns/{id}/preview", preview)
    r.add_post("/api/v1/campaigns/{id}/preview/{entry_id}", preview_decide)
    r.add_post("/api/v1/campaign-callbacks", schedule_callback)
    r.add_post("/api/v1/campaign-calls/{call_id}/disposition", dispose)

    async def context(_app: web.Application) -> AsyncIterator[None]:
        async def dial() -> None:
            dialer.start()
        if dialing:  # the routing control plane dials (control/ha)
            await app[LEADERSHIP].lead(dial)
        yield
        with contextlib.suppress(Exception):
            await dialer.close()

    app.cleanup_ctx.append(context)

