"""/api/v1/users: user accounts for admins (supervisors: agents' accounts),
each route a thin call of :mod:`control.auth.users` in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from control.api.http import Body, database, json_response, path_int, read_json
from control.auth import users
from control.auth.audit import Actor
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.errors import InvalidInput

MANAGERS = (Role.ADMIN, Role.SUPERVISOR)


async def _run(request: web.Request, fn: Callable[[Session, Actor], Any]) -> Any:
    db, actor = database(request), request[PRINCIPAL].actor

    def run() -> Any:
        with db.session() as session:
            return fn(session, actor)

    return await asyncio.to_thread(run)


def _bool(body: Body, name: str) -> bool | None:
    value = body.data.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidInput(name, "expected true or false")
    return value


def _with_password(user: Any, generated: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"user": users.summary(user)}
    if generated:
        answer["generated_password"] = generated  # shown once, never stored in clear
    return answer


@require_role(*MANAGERS)
async def list_users(request: web.Request) -> web.Response:
    rows = await _run(request, lambda s, actor: [
        users.summary(u) for u in users.list_users(s, actor=actor)])
    return json_response({"users": rows})


@require_role(*MANAGERS)
async def create_user(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("email", "role", "password", "agent_extension")
    email, role = body.req_text("email"), body.req_text("role", max_len=16)
    password = body.text("password", max_len=users.MAX_PASSWORD)
    extension = body.text("agent_extension", max_len=8)
    answer = await _run(request, lambda s, actor: _with_password(*users.add_user(
        s, actor=actor, email=email, role=role, password=password,
        agent_extension=extension)))
    return json_response(answer, status=201)


@require_role(*MANAGERS)
async def update_user(request: web.Request) -> web.Response:
    user_id = path_int(request, "id")
    body = await read_json(request)
    fields = ("role", "agent_extension", "active")
    body.only(*fields)
    if not any(f in body.data for f in fields):
        raise InvalidInput("body", f"nothing to change: give one of {', '.join(fields)}")
    role = body.text("role", max_len=16)
    # "agent_extension": null unlinks the user from its phone
    unlink = "agent_extension" in body.data and body.data["agent_extension"] is None
    extension = body.text("agent_extension", max_len=8)
    active = _bool(body, "active")
    user = await _run(request, lambda s, actor: users.summary(users.update_user(
        s, actor=actor, user_id=user_id, role=role, agent_extension=extension,
        unlink_agent=unlink, active=active)))
    return json_response({"user": user})


@require_role(*MANAGERS)
async def delete_user(request: web.Request) -> web.Response:
    user_id = path_int(request, "id")
    await _run(request, lambda s, actor: users.remove_user(s, actor=actor, user_id=user_id))
    return web.Response(status=204)


@require_role(*MANAGERS)
async def reset_password(request: web.Request) -> web.Response:
    user_id = path_int(request, "id")
    password = None
    if request.can_read_body:
        body = await read_json(request)
        body.only("password")
        password = body.text("password", max_len=users.MAX_PASSWORD)
    answer = await _run(request, lambda s, actor: _with_password(*users.reset_password(
        s, actor=actor, user_id=user_id, password=password)))
    return json_response(answer)


@require_role(*MANAGERS)
async def reset_totp(request: web.Request) -> web.Response:
    user_id = path_int(request, "id")
    user = await _run(request, lambda s, actor: users.summary(
        users.reset_totp(s, actor=actor, user_id=user_id)))
    return json_response({"user": user})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/users", list_users)
    app.router.add_post("/api/v1/users", create_user)
    app.router.add_patch("/api/v1/users/{id}", update_user)
    app.router.add_delete("/api/v1/users/{id}", delete_user)
    app.router.add_post("/api/v1/users/{id}/reset_password", reset_password)
    app.router.add_post("/api/v1/users/{id}/reset_totp", reset_totp)
