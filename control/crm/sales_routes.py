"""/api/v1 for sales (seed 002): leads, campaigns, products.

Everyone reads products and campaigns; supervisors and admins create and
change them. Agents create leads and work (status, notes, convert) the ones
assigned to them or unassigned; supervisors and admins every lead, and they
assign them. ``lead.converted`` goes on the event bus.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from control.api.http import Body, database, json_response, path_int, query_int, read_json
from control.auth.middleware import PRINCIPAL, require_role
from control.crm import pipeline
from control.crm.book_routes import ANYONE, MANAGERS, publish
from control.crm.desk_routes import _own
from control.crm.fields import amount, day, query_id, read_optional_json, whole
from control.errors import InvalidInput


def _flag(body: Body, name: str) -> bool | None:
    value = body.data.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidInput(name, "expected true or false")
    return value


def _query_flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise InvalidInput(name, "true or false")
    return raw == "true"


def _nullable(body: Body, name: str, read: Any) -> Any:
    """UNSET when absent, None when sent as null, else the typed value."""
    if name not in body.data:
        return pipeline.UNSET
    if body.data[name] is None:
        return None
    return read(body, name)


# -- products --------------------------------------------------------------------


@require_role(*ANYONE)
async def list_products(request: web.Request) -> web.Response:
    active = _query_flag(request, "active")
    type_ = request.query.get("type") or None
    db = database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            return [p.as_dict() for p in pipeline.list_products(session, active=active,
                                                                  type=type_)]

    return json_response({"products": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def create_product(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("code", "name", "type", "carrier", "base_premium", "active")
    fields: dict[str, Any] = {
        "code": body.req_text("code", max_len=20), "name": body.req_text("name", max_len=120),
        "type": body.req_text("type", max_len=16),
        "carrier": body.req_text("carrier", max_len=80),
        "base_premium": amount(body, "base_premium"),
    }
    if fields["base_premium"] is None:
        raise InvalidInput("base_premium", "required")
    active = _flag(body, "active")
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return pipeline.create_product(session, actor=actor, active=active is not False,
                                           **fields).as_dict()

    return json_response({"product": await asyncio.to_thread(run)}, status=201)


@require_role(*ANYONE)
async def get_product(request: web.Request) -> web.Response:
    product_id = path_int(request, "id")
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return pipeline.get_product(session, product_id).as_dict()

    return json_response({"product": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def update_product(request: web.Request) -> web.Response:
    product_id = path_int(request, "id")
    body = await read_json(request)
    body.only("name", "carrier", "base_premium", "active")
    fields: dict[str, Any] = {"name": body.text("name", max_len=120),
                              "carrier": body.text("carrier", max_len=80),
                              "base_premium": amount(body, "base_premium"),
                              "active": _flag(body, "active")}
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return pipeline.update_product(session, actor=actor, product_id=product_id,
                                           **fields).as_dict()

    return json_response({"product": await asyncio.to_thread(run)})


# -- campaigns -------------------------------------------------------------------


@require_role(*ANYONE)
async def list_campaigns(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    db = database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            return [c.as_dict() for c in pipeline.list_campaigns(session, status=status)]

    return json_response({"campaigns": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def create_campaign(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("name", "channel", "start_date", "end_date", "status", "product_id")
    fields: dict[str, Any] = {
        "name": body.req_text("name", max_len=120),
        "channel": body.req_text("channel", max_len=16),
        "start_date": day(body, "start_date", required=True),
        "end_date": day(body, "end_date"),
        "status": body.text("status", max_len=16) or "planned",
        "product_id": whole(body, "product_id"),
    }
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return pipeline.create_campaign(session, actor=actor, **fields).as_dict()

    return json_response({"campaign": await asyncio.to_thread(run)}, status=201)


@require_role(*ANYONE)
async def get_campaign(request: web.Request) -> web.Response:
    campaign_id = path_int(request, "id")
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return pipeline.get_campaign(session, campaign_id).as_dict()

    return json_response({"campaign": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def update_campaign(request: web.Request) -> web.Response:
    campaign_id = path_int(request, "id")
    body = await read_json(request)
    body.only("name", "channel", "start_date", "end_date", "status", "product_id")
    fields: dict[str, Any] = {
        "name": body.text("name", max_len=120), "channel": body.text("channel", max_len=16),
        "start_date": day(body, "start_date"), "status": body.text("status", max_len=16),
        "end_date": _nullable(body, "end_date", day),
        "product_id": _nullable(body, "product_id", whole),
    }
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return pipeline.update_campaign(session, actor=actor, campaign_id=campaign_id,
                                            **fields).as_dict()

    return json_response({"campaign": await asyncio.to_thread(run)})


# -- leads -----------------------------------------------------------------------


@require_role(*ANYONE)
async def list_leads(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    agent = request.query.get("agent") or None
    q = request.query.get("q") or None
    campaign_id = query_id(request, "campaign_id")
    limit = query_int(request, "limit", 100)
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            return [lead.as_dict() for lead in pipeline.list_leads(
                session, own_extension=_own(principal), status=status, agent_extension=agent,
                campaign_id=campaign_id, q=q, limit=limit)]

    return json_response({"leads": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def create_lead(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("name", "phone", "email", "source", "product_interest", "agent_extension",
              "campaign_id", "notes")
    fields: dict[str, Any] = {
        "name": body.req_text("name", max_len=160), "phone": body.text("phone", max_len=40),
        "email": body.text("email"), "source": body.text("source", max_len=40) or "manual",
        "product_interest": body.text("product_interest", max_len=16),
        "agent_extension": body.text("agent_extension", max_len=16),
        "campaign_id": whole(body, "campaign_id"),
        "notes": body.text("notes", max_len=4000) or "",
    }
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return pipeline.create_lead(session, actor=principal.actor,
                                        own_extension=_own(principal), **fields).as_dict()

    return json_response({"lead": await asyncio.to_thread(run)}, status=201)


@require_role(*ANYONE)
async def get_lead(request: web.Request) -> web.Response:
    lead_id = path_int(request, "id")
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return pipeline.get_lead(session, lead_id, _own(principal)).as_dict()

    return json_response({"lead": await asyncio.to_thread(run)})


def _text(max_len: int) -> Any:
    return lambda body, name: body.text(name, max_len=max_len)


@require_role(*ANYONE)
async def update_lead(request: web.Request) -> web.Response:
    lead_id = path_int(request, "id")
    body = await read_json(request)
    body.only("status", "agent_extension", "name", "phone", "email", "product_interest",
              "campaign_id", "notes")
    fields: dict[str, Any] = {
        "status": body.text("status", max_len=16), "name": body.text("name", max_len=160),
        "phone": body.text("phone", max_len=40), "email": body.text("email"),
        "notes": body.text("notes", max_len=4000),
        "agent_extension": _nullable(body, "agent_extension", _text(16)),
        "product_interest": _nullable(body, "product_interest", _text(16)),
        "campaign_id": _nullable(body, "campaign_id", whole),
    }
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return pipeline.update_lead(session, actor=principal.actor,
                                        own_extension=_own(principal), lead_id=lead_id,
                                        **fields).as_dict()

    return json_response({"lead": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def convert_lead(request: web.Request) -> web.Response:
    lead_id = path_int(request, "id")
    body = await read_optional_json(request)
    body.only("dni", "language")
    dni = body.text("dni", max_len=20)
    language = body.text("language", max_len=8) or "es"
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> tuple[dict[str, Any], dict[str, Any], bool]:
        with db.session() as session:
            lead, customer, created = pipeline.convert_lead(
                session, actor=principal.actor, own_extension=_own(principal),
                lead_id=lead_id, dni=dni, language=language)
            return lead.as_dict(), customer.as_dict(), created

    lead, customer, created = await asyncio.to_thread(run)
    await publish(request, "lead.converted", {
        "lead": lead, "customer_id": customer["id"], "agent_extension": lead["agent_extension"]})
    return json_response({"lead": lead, "customer": customer, "customer_created": created},
                         status=201 if created else 200)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/products", list_products)
    r.add_post("/api/v1/products", create_product)
    r.add_get("/api/v1/products/{id}", get_product)
    r.add_patch("/api/v1/products/{id}", update_product)
    r.add_get("/api/v1/campaigns", list_campaigns)
    r.add_post("/api/v1/campaigns", create_campaign)
    r.add_get("/api/v1/campaigns/{id}", get_campaign)
    r.add_patch("/api/v1/campaigns/{id}", update_campaign)
    r.add_get("/api/v1/leads", list_leads)
    r.add_post("/api/v1/leads", create_lead)
    r.add_get("/api/v1/leads/{id}", get_lead)
    r.add_patch("/api/v1/leads/{id}", update_lead)
    r.add_post("/api/v1/leads/{id}/convert", convert_lead)
