"""/api/v1/evaluation-forms and /api/v1/reviews: supervisors and admins
make forms and score calls; an agent reads only their own reviews (403 for
another agent's)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from control.api.http import database, error, json_response, path_int, query_int, read_json
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.crm.fields import req_whole
from control.errors import InvalidInput
from control.quality import services

MANAGERS = (Role.SUPERVISOR, Role.ADMIN)


async def list_forms(request: web.Request) -> web.Response:  # any signed-in user
    queue, db = request.query.get("queue") or None, database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            return [f.as_dict() for f in services.list_forms(session, queue)]

    return json_response({"forms": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def create_form(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("queue", "name", "criteria")
    queue, name = body.req_text("queue", max_len=40), body.req_text("name", max_len=120)
    criteria, db, actor = body.data.get("criteria"), database(request), request[PRINCIPAL].actor

    def run() -> dict[str, Any]:
        with db.session() as session:
            return services.create_form(session, queue=queue, name=name, criteria=criteria,
                                        actor=actor).as_dict()

    return json_response({"form": await asyncio.to_thread(run)}, status=201)


@require_role(*MANAGERS)
async def create_review(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("call_id", "form_id", "scores", "comment")
    call_id = body.req_text("call_id", max_len=36)
    form_id = req_whole(body, "form_id")
    comment = body.text("comment", max_len=4000) or ""
    if body.data.get("scores") is None:
        raise InvalidInput("scores", "required: every criterion of the form, scored")
    scores, db, actor = body.data["scores"], database(request), request[PRINCIPAL].actor

    def run() -> dict[str, Any]:
        with db.session() as session:
            return services.create_review(session, call_id=call_id, form_id=form_id,
                                          scores=scores, comment=comment,
                                          actor=actor).as_dict()

    return json_response({"review": await asyncio.to_thread(run)}, status=201)


async def list_reviews(request: web.Request) -> web.Response:
    """Supervisors and admins: any (filters agent, queue, call_id); agents: their own."""
    principal = request[PRINCIPAL]
    agent = request.query.get("agent") or None
    if principal.role == Role.AGENT.value:
        if agent not in (None, principal.agent_extension):
            return error(403, "forbidden", "agent", "agents read only their own reviews")
        if not principal.agent_extension:
            return json_response({"reviews": []})
        agent = principal.agent_extension
    queue, call_id = request.query.get("queue") or None, request.query.get("call_id") or None
    limit = query_int(request, "limit", 100)
    if not 1 <= limit <= 500:
        raise InvalidInput("limit", "between 1 and 500")
    db = database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            return [r.as_dict() for r in services.list_reviews(
                session, agent=agent, queue=queue, call_id=call_id, limit=limit)]

    return json_response({"reviews": await asyncio.to_thread(run)})


async def get_review(request: web.Request) -> web.Response:
    principal, review_id, db = request[PRINCIPAL], path_int(request, "id"), database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return services.get_review(session, review_id).as_dict()

    review = await asyncio.to_thread(run)
    if principal.role == Role.AGENT.value and \
            review["agent_extension"] != principal.agent_extension:
        return error(403, "forbidden", "id", "agents read only their own reviews")
    return json_response({"review": review})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/evaluation-forms", list_forms)
    r.add_post("/api/v1/evaluation-forms", create_form)
    r.add_get("/api/v1/reviews", list_reviews)
    r.add_post("/api/v1/reviews", create_review)
    r.add_get("/api/v1/reviews/{id}", get_review)
