"""/api/v1/auth: login, refresh, logout, me; and the audit log for supervisors."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import select

from control.api.http import database, json_response, query_int, read_json
from control.api.keys import SETTINGS
from control.auth import service
from control.auth.middleware import JWT_SECRET, PRINCIPAL, install, public, require_role
from control.auth.models import AuditEntry, Role
from control.auth.service import AuthError, TokenPair, TooManyAttempts
from control.auth.throttle import LoginThrottle
from control.errors import InvalidInput
from control.secrets import Secrets

LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
# not a failure: the password was right, the client now asks for the code
NOT_A_FAILURE = {"totp_required"}


def _pair_or_raise(result: TokenPair | AuthError) -> web.Response:
    if isinstance(result, AuthError):
        raise result
    return json_response(result.as_dict())


@public
async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    email = body.req_text("email")
    password = body.req_text("password", max_len=1024)
    code = body.text("totp", max_len=16)  # two-factor code, for users who have it
    db, secret = database(request), request.app[JWT_SECRET]
    throttle, remote = request.app[LOGIN_THROTTLE], request.remote  # the TCP peer
    wait = throttle.retry_after(remote)
    if wait is not None:  # refused before any password is checked
        raise TooManyAttempts(wait)
    attempt = throttle.attempt(remote)  # a failure unless it succeeds

    def run() -> TokenPair | AuthError:
        with db.session() as session:
            return service.login(session, secret, email, password, totp=code)

    try:
        result = await asyncio.to_thread(run)
    except Exception:  # the database failed, not the caller
        throttle.succeeded(remote, attempt)
        raise
    if not isinstance(result, AuthError) or result.code in NOT_A_FAILURE:
        throttle.succeeded(remote, attempt)
    return _pair_or_raise(result)


@public
async def refresh(request: web.Request) -> web.Response:
    token = (await read_json(request)).req_text("refresh_token", max_len=4096)
    db, secret = database(request), request.app[JWT_SECRET]

    def run() -> TokenPair | AuthError:
        with db.session() as session:
            return service.refresh(session, secret, token)

    return _pair_or_raise(await asyncio.to_thread(run))


@public
async def logout(request: web.Request) -> web.Response:
    token = (await read_json(request)).req_text("refresh_token", max_len=4096)
    db, secret = database(request), request.app[JWT_SECRET]

    def run() -> AuthError | None:
        with db.session() as session:
            return service.logout(session, secret, token)

    refused = await asyncio.to_thread(run)
    if refused is not None:
        raise refused
    return json_response({"status": "logged_out"})


async def me(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> dict[str, object] | None:
        with db.session() as session:
            user = service.get_user(session, principal.user_id)
            return user.as_dict() if user is not None and user.active else None

    user = await asyncio.to_thread(run)
    if user is None:
        raise AuthError("invalid_token", "the user is no longer active")
    return json_response({"user": user})


@require_role(Role.ADMIN, Role.SUPERVISOR)
async def audit_log(request: web.Request) -> web.Response:
    entity = request.query.get("entity")
    entity_id = request.query.get("entity_id")
    limit = query_int(request, "limit", 50)
    if not 1 <= limit <= 500:
        raise InvalidInput("limit", "between 1 and 500")
    db = database(request)

    def run() -> list[dict[str, object]]:
        stmt = select(AuditEntry)
        if entity:
            stmt = stmt.where(AuditEntry.entity == entity)
        if entity_id:
            stmt = stmt.where(AuditEntry.entity_id == entity_id)
        with db.session() as session:
            rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit))
            return [r.as_dict() for r in rows]

    return json_response({"entries": await asyncio.to_thread(run)})


def setup_routes(app: web.Application) -> None:
    install(app, Secrets(app[SETTINGS].secrets_file)["JWT_SECRET"])
    app[LOGIN_THROTTLE] = LoginThrottle()  # in memory, this instance's
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_post("/api/v1/auth/refresh", refresh)
    app.router.add_post("/api/v1/auth/logout", logout)
    app.router.add_get("/api/v1/auth/me", me)
    app.router.add_get("/api/v1/audit", audit_log)


