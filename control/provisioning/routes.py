"""/api/v1/dialplan: the dialplan versions for the admin page, admins only.

The same operations as ``aitcomms dialplan history|diff|apply|rollback``
(:mod:`control.provisioning.dialplan`), with the signed-in admin's e-mail as
the author of what is applied or restored:

- ``GET /api/v1/dialplan/versions``: every stored version, oldest first, and
  which one Asterisk runs now (the newest with the running file's sha256);
- ``GET /api/v1/dialplan/versions/{id}``: one version with its diff from the
  one before (and its text);
- ``GET /api/v1/dialplan/diff``: what ``apply`` would change (running →
  rendered from the templates, IVR flows and the database);
- ``POST /api/v1/dialplan/apply``: validate (our checks and Asterisk's own
  parser), write, reload, verify, store; 200 with ``version: null`` when the
  running dialplan already is what the sources render; 422 with the
  validation errors when it does not validate (nothing changed);
- ``POST /api/v1/dialplan/versions/{id}/rollback``: put that version's text
  back the same way;
- ``POST /api/v1/dialplan/validate``: render and check (our checks and a
  scratch Asterisk's parser), changing nothing: 200 with the warnings, 422
  with the errors;
- ``POST /api/v1/dialplan/simulate``: ``{from, to, digits, at, tz}``, the path
  a call would take (``aitcomms dialplan simulate``), placing no call.

Validation starts a scratch Asterisk and a reload talks to the running one:
both run in a worker thread, one change at a time per control plane.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from aiohttp import web

from control.api.http import database, error, json_response, path_int, read_json
from control.api.keys import SETTINGS
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.ivr.flows import FlowError
from control.provisioning import dialplan
from control.provisioning.dialplan import DialplanError

LOCK = web.AppKey("dialplan_lock", asyncio.Lock)


def _settings(request: web.Request) -> Any:
    return request.app[SETTINGS]


def _running_sha(request: web.Request) -> str | None:
    text = dialplan.running_text(_settings(request))
    return hashlib.sha256(text.encode()).hexdigest() if text else None


def _failed(exc: DialplanError) -> web.Response:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return web.json_response({"error": "invalid", "field": "dialplan",
                              "reason": lines[0] if lines else "refused",
                              "errors": lines[1:]}, status=422)


@require_role(Role.ADMIN)
async def versions(request: web.Request) -> web.Response:
    db = database(request)
    rows = await asyncio.to_thread(dialplan.history, db)
    running = await asyncio.to_thread(_running_sha, request)
    # the live one: the newest version with the running text (a rollback
    # stores the same text again as a new version)
    live = max((r.id for r in rows if r.sha256 == running), default=None)
    return json_response({"versions": [
        {**r.as_dict(), "contexts": len(dialplan.contexts(r.text)),
         "running": r.id == live} for r in rows], "running_sha256": running,
        "running_version": live})


@require_role(Role.ADMIN)
async def version(request: web.Request) -> web.Response:
    version_id = path_int(request, "id")
    try:
        row = await asyncio.to_thread(dialplan.get_version, database(request), version_id)
    except DialplanError as exc:
        return error(404, "not_found", "id", str(exc))
    return json_response({"version": {**row.as_dict(), "diff": row.diff, "text": row.text}})


@require_role(Role.ADMIN)
async def diff(request: web.Request) -> web.Response:
    settings, db = _settings(request), database(request)

    def run() -> str:
        v = dialplan.validate(settings, db, with_asterisk=False)
        return dialplan.unified(dialplan.running_text(settings), v.text)

    try:
        text = await asyncio.to_thread(run)
    except DialplanError as exc:
        return _failed(exc)
    return json_response({"diff": text, "changed": bool(text)})


@require_role(Role.ADMIN)
async def apply(request: web.Request) -> web.Response:
    settings, db = _settings(request), database(request)
    author = request[PRINCIPAL].email
    async with request.app[LOCK]:
        try:
            row, v = await asyncio.to_thread(dialplan.apply, settings, db, author)
        except DialplanError as exc:
            return _failed(exc)
    if row is None:
        return json_response({"version": None, "warnings": v.warnings})
    return json_response({"version": row.as_dict(), "diff": row.diff, "warnings": v.warnings},
                         status=201)


@require_role(Role.ADMIN)
async def rollback(request: web.Request) -> web.Response:
    version_id = path_int(request, "id")
    settings, db = _settings(request), database(request)
    author = request[PRINCIPAL].email
    async with request.app[LOCK]:
        try:
            await asyncio.to_thread(dialplan.get_version, db, version_id)
        except DialplanError as exc:
            return error(404, "not_found", "id", str(exc))
        try:
            row = await asyncio.to_thread(dialplan.rollback, settings, db, version_id, author)
        except DialplanError as exc:
            return _failed(exc)
    return json_response({"version": row.as_dict(), "diff": row.diff}, status=201)


@require_role(Role.ADMIN)
async def validate(request: web.Request) -> web.Response:
    settings, db = _settings(request), database(request)
    async with request.app[LOCK]:  # one scratch Asterisk at a time
        try:
            v = await asyncio.to_thread(dialplan.validate, settings, db)
        except DialplanError as exc:
            return _failed(exc)
    if not v.ok:
        return web.json_response({"error": "invalid", "field": "dialplan",
                                  "reason": "the dialplan does not validate",
                                  "errors": v.errors, "warnings": v.warnings}, status=422)
    return json_response({"ok": True, "warnings": v.warnings,
                          "contexts": len(dialplan.contexts(v.text)),
                          "lines": len(v.text.splitlines())})


@require_role(Role.ADMIN)
async def simulate(request: web.Request) -> web.Response:
    from control.ivr import simulate as sim
    from control.provisioning import render

    body = await read_json(request)
    body.only("from", "to", "digits", "at", "tz")
    caller, did = body.req_text("from", max_len=32), body.req_text("to", max_len=32)
    digits = body.text("digits", max_len=64) or ""
    settings, db = _settings(request), database(request)
    at = sim.parse_at(body.text("at", max_len=16), body.text("tz", max_len=64)
                      or "Europe/Madrid", settings.clock)

    def run() -> sim.Outcome:
        try:
            data = render.load_data(settings, db)
        except FlowError as exc:
            raise DialplanError(f"IVR flow refused: {exc}") from exc
        number = sim.check_call(data, caller, did, digits)
        return sim.simulate(db, data, caller=caller, did=number, at=at, digits=digits)

    try:
        out = await asyncio.to_thread(run)
    except DialplanError as exc:
        return _failed(exc)
    return json_response({"at": at.isoformat(), "path": out.lines, "nodes": out.nodes,
                          "end": out.end, "queue": out.queue or None,
                          "language": out.language or None, "skills": list(out.skills),
                          "priority": out.priority, "customer_id": out.customer_id})


def setup_routes(app: web.Application) -> None:
    app[LOCK] = asyncio.Lock()
    r = app.router
    r.add_get("/api/v1/dialplan/versions", versions)
    r.add_get("/api/v1/dialplan/versions/{id}", version)
    r.add_post("/api/v1/dialplan/versions/{id}/rollback", rollback)
    r.add_get("/api/v1/dialplan/diff", diff)
    r.add_post("/api/v1/dialplan/apply", apply)
    r.add_post("/api/v1/dialplan/validate", validate)
    r.add_post("/api/v1/dialplan/simulate", simulate)
