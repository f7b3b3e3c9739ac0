"""/api/v1 for the agent's desk: a customer's contact history, wrap-up of a
call (disposition and notes), and tasks (list, create, complete).

Everyone who takes calls uses these; an agent is narrowed to its own calls
and tasks (plus unassigned tasks, which anyone may take), a supervisor or
admin sees and changes everyone's. ``task.created`` goes on the event bus.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from control.api.http import database, json_response, path_int, query_int, read_json
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.auth.service import Principal
from control.crm import desk
from control.crm.book_routes import ANYONE, publish
from control.crm.customers import EXTENSION_RE, create_task
from control.crm.fields import moment, query_id, read_optional_json, whole
from control.errors import InvalidInput


def _own(principal: Principal) -> str | None:
    """The extension an agent is narrowed to; None for supervisors and admins.
    An agent user without an extension owns nothing ("" matches no row)."""
    if principal.role == Role.AGENT.value:
        return principal.agent_extension or ""
    return None


@require_role(*ANYONE)
async def customer_interactions(request: web.Request) -> web.Response:
    customer_id = path_int(request, "id")
    limit = query_int(request, "limit", 50)
    db = database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            return [i.as_dict() for i in desk.customer_interactions(session, customer_id,
                                                                    limit)]

    return json_response({"interactions": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def wrap_up(request: web.Request) -> web.Response:
    interaction_id = path_int(request, "id")
    body = await read_json(request)
    body.only("disposition", "notes")
    disposition = body.text("disposition", max_len=40)
    notes = body.text("notes", max_len=4000)
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return desk.wrap_up(session, actor=principal.actor, interaction_id=interaction_id,
                                own_extension=_own(principal), disposition=disposition,
                                notes=notes).as_dict()

    return json_response({"interaction": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def list_tasks(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    agent = request.query.get("agent") or None
    customer_id = query_id(request, "customer_id")
    limit = query_int(request, "limit", 100)
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            return [t.as_dict() for t in desk.list_tasks(
                session, own_extension=_own(principal), status=status, agent_extension=agent,
                customer_id=customer_id, limit=limit)]

    return json_response({"tasks": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def create(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("kind", "scheduled_at", "customer_id", "phone", "agent_extension", "notes")
    fields: dict[str, Any] = {
        "kind": body.req_text("kind", max_len=16),
        "scheduled_at": moment(body, "scheduled_at", required=True),
        "customer_id": whole(body, "customer_id"),
        "phone": body.text("phone", max_len=40),
        "agent_extension": body.text("agent_extension", max_len=16),
        "notes": body.text("notes", max_len=4000) or "",
    }
    ext = fields["agent_extension"]
    if ext is not None and not EXTENSION_RE.match(ext):
        raise InvalidInput("agent_extension", "2 to 8 digits, not starting with 0")
    principal = request[PRINCIPAL]
    own = _own(principal)
    if own is not None and ext not in (None, own):
        raise InvalidInput("agent_extension",
                           "an agent assigns tasks to itself or leaves them unassigned")
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return create_task(session, actor=principal.actor, **fields).as_dict()

    task = await asyncio.to_thread(run)
    await publish(request, "task.created", {
        "task": task, "kind": task["kind"], "customer_id": task["customer_id"],
        "agent_extension": task["agent_extension"]})
    return json_response({"task": task}, status=201)


@require_role(*ANYONE)
async def complete(request: web.Request) -> web.Response:
    task_id = path_int(request, "id")
    body = await read_optional_json(request)
    body.only("notes")
    notes = body.text("notes", max_len=4000)
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return desk.complete_task(session, actor=principal.actor, task_id=task_id,
                                      own_extension=_own(principal), notes=notes).as_dict()

    return json_response({"task": await asyncio.to_thread(run)})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/customers/{id}/interactions", customer_interactions)
    r.add_patch("/api/v1/interactions/{id}", wrap_up)
    r.add_get("/api/v1/tasks", list_tasks)
    r.add_post("/api/v1/tasks", create)
    r.add_post("/api/v1/tasks/{id}/complete", complete)
