"""/api/v1/customers: search, a customer, the agent's context, creation."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from control.api.http import database, json_response, path_int, query_int, read_json
from control.api.keys import SETTINGS
from control.auth.middleware import PRINCIPAL, install
from control.crm import book_routes, customers, desk_routes, report_routes, sales_routes


async def search(request: web.Request) -> web.Response:
    q = request.query
    criteria = {name: q.get(name) or None for name in ("phone", "dni", "email", "q")}
    limit = query_int(request, "limit", 20)
    db = database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            found = customers.search_customers(session, limit=limit, **criteria)
            return [c.as_dict() for c in found]

    return json_response({"customers": await asyncio.to_thread(run)})


async def get_customer(request: web.Request) -> web.Response:
    customer_id = path_int(request, "id")
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return customers.get_customer(session, customer_id).as_dict()

    return json_response({"customer": await asyncio.to_thread(run)})


async def customer_context(request: web.Request) -> web.Response:
    customer_id = path_int(request, "id")
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return customers.customer_context(session, customer_id)

    return json_response(await asyncio.to_thread(run))


async def create_customer(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("name", "phones", "email", "dni", "language", "segment", "address", "tags")
    # types first (422 naming the field), then the values (the service)
    fields: dict[str, Any] = {
        "name": body.req_text("name", max_len=160),
        "phones": body.text_list("phones", max_items=10),
        "email": body.text("email"),
        "dni": body.text("dni", max_len=20),
        "language": body.text("language", max_len=8) or "es",
        "segment": body.text("segment", max_len=16) or "standard",
        "address": body.obj("address"),
        "tags": body.text_list("tags"),
    }
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return customers.create_customer(session, actor=actor, **fields).as_dict()

    return json_response({"customer": await asyncio.to_thread(run)}, status=201)


def setup_routes(app: web.Application) -> None:
    from control.secrets import Secrets

    install(app, Secrets(app[SETTINGS].secrets_file)["JWT_SECRET"])
    app.router.add_get("/api/v1/customers", search)
    app.router.add_post("/api/v1/customers", create_customer)
    app.router.add_get("/api/v1/customers/{id}", get_customer)
    app.router.add_get("/api/v1/customers/{id}/context", customer_context)
    # the rest of the CRM: one setup here, so that app.py wires the CRM once
    book_routes.setup_routes(app)
    desk_routes.setup_routes(app)
    report_routes.setup_routes(app)
    sales_routes.setup_routes(app)  # leads, campaigns, products (seed 002)
