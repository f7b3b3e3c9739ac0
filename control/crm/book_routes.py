"""/api/v1 for the book of business: quotes (auto, home; accept), policies
(create, renew, cancel) and claims (open, update, approve, deny).

Who may do what (every handler says it with ``@require_role``):

- agents, supervisors and admins quote, sell (create a policy, accept a
  quote), renew, open claims and follow them up: that is work done on calls;
- cancelling a policy, approving, denying or paying a claim are decisions
  about the customer's money and cover: supervisors and admins only.

Every write is audited by the service; ``quote.created`` and
``policy.created`` go on the event bus once the transaction is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from control.api.http import Body, database, json_response, path_int, read_json
from control.api.keys import BUS
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.auth.service import Forbidden
from control.crm import book
from control.crm.book import StateConflict
from control.crm.customers import create_policy
from control.crm.fields import amount, day, read_optional_json, req_day, req_whole, whole
from control.crm.models import Policy, ProductType
from control.errors import InvalidInput

ANYONE = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
MANAGERS = (Role.SUPERVISOR, Role.ADMIN)


async def publish(request: web.Request, type: str, data: dict[str, Any]) -> None:
    await request.app[BUS].publish(type, data)


T = TypeVar("T")


async def numbered(run: Callable[[], T], attempts: int = 3) -> T:
    """Run a transaction that takes the next number of a series (PRE-, AUT-,
    SIN-...): two writers may pick the same one, the unique constraint refuses
    the second, which simply tries again with the next."""
    for attempt in range(attempts):
        try:
            return await asyncio.to_thread(run)
        except IntegrityError:
            if attempt == attempts - 1:
                raise StateConflict("number", "too many writers at once; try again") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _nested(body: Body, name: str, known: tuple[str, ...], *, required: bool) -> Body:
    value = body.obj(name)
    if value is None:
        if required:
            raise InvalidInput(name, "required")
        value = {}
    nested = Body(value, prefix=f"{name}.")
    nested.only(*known)
    return nested


# -- quotes ------------------------------------------------------------------------


def _quote_common(body: Body) -> dict[str, Any]:
    return {"customer_id": whole(body, "customer_id", required=True),
            "carrier": body.text("carrier", max_len=80),
            "call_id": body.text("call_id", max_len=36)}


async def _create_quote(request: web.Request, product: ProductType,
                        risk: dict[str, Any], common: dict[str, Any]) -> web.Response:
    principal = request[PRINCIPAL]
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.create_quote(
                session, actor=principal.actor, product_type=product.value, risk=risk,
                agent_extension=principal.agent_extension, **common).as_dict()

    quote = await numbered(run)
    await publish(request, "quote.created", {
        "quote": quote, "customer_id": quote["customer_id"],
        "agent_extension": quote["agent_extension"]})
    return json_response({"quote": quote}, status=201)


@require_role(*ANYONE)
async def quote_auto(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("customer_id", "vehicle", "driver", "carrier", "call_id")
    common = _quote_common(body)
    vehicle = _nested(body, "vehicle", ("year", "make", "model", "plate"), required=True)
    driver = _nested(body, "driver", ("age", "experience_years", "claims"), required=True)
    risk = {
        "vehicle": {k: v for k, v in {
            "year": whole(vehicle, "year", required=True, low=1900, high=2200),
            "make": vehicle.req_text("make", max_len=40),
            "model": vehicle.text("model", max_len=60),
            "plate": vehicle.text("plate", max_len=12)}.items() if v is not None},
        "driver": {"age": whole(driver, "age", required=True, low=0, high=150),
                   "experience_years": whole(driver, "experience_years", required=True,
                                             low=0, high=150),
                   "claims": whole(driver, "claims", low=0, high=100) or 0},
    }
    return await _create_quote(request, ProductType.AUTO, risk, common)


@require_role(*ANYONE)
async def quote_home(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("customer_id", "property", "claims", "carrier", "call_id")
    common = _quote_common(body)
    prop = _nested(body, "property", ("kind", "m2", "built", "contents"), required=True)
    risk = {
        "property": {"kind": prop.req_text("kind", max_len=20),
                     "m2": whole(prop, "m2", required=True, low=0, high=10**6),
                     "built": whole(prop, "built", required=True, low=0, high=10**4),
                     "contents": whole(prop, "contents", low=0, high=10**9) or 0},
        "claims": whole(body, "claims", low=0, high=100) or 0,
    }
    return await _create_quote(request, ProductType.HOME, risk, common)


@require_role(*ANYONE)
async def get_quote(request: web.Request) -> web.Response:
    quote_id = path_int(request, "id")
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.get_quote(session, quote_id).as_dict()

    return json_response({"quote": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def accept_quote(request: web.Request) -> web.Response:
    quote_id = path_int(request, "id")
    body = await read_optional_json(request)
    body.only("carrier", "start_date", "payment_frequency")
    fields: dict[str, Any] = {"carrier": body.text("carrier", max_len=80),
              "start_date": day(body, "start_date"),
              "payment_frequency": body.text("payment_frequency", max_len=16) or "annual"}
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        with db.session() as session:
            quote, policy = book.accept_quote(session, actor=actor, quote_id=quote_id, **fields)
            return quote.as_dict(), policy.as_dict()

    quote, policy = await numbered(run)
    await publish(request, "policy.created", {
        "policy": policy, "customer_id": policy["customer_id"], "quote_id": quote["id"],
        "agent_extension": quote["agent_extension"]})
    return json_response({"quote": quote, "policy": policy}, status=201)


# -- policies ----------------------------------------------------------------------


@require_role(*ANYONE)
async def create(request: web.Request) -> web.Response:
    """A policy sold without a quote of ours (brought from a carrier's portal)."""
    body = await read_json(request)
    body.only("customer_id", "number", "type", "carrier", "start_date", "end_date", "premium",
              "payment_frequency", "coverage", "vehicle", "property")
    fields: dict[str, Any] = {
        "customer_id": whole(body, "customer_id", required=True),
        "type": body.req_text("type", max_len=16),
        "carrier": body.req_text("carrier", max_len=80),
        "start_date": day(body, "start_date", required=True),
        "end_date": day(body, "end_date", required=True),
        "premium": amount(body, "premium"),
        "payment_frequency": body.text("payment_frequency", max_len=16) or "annual",
        "coverage": body.obj("coverage"),
        "vehicle": body.obj("vehicle"),
        "property": body.obj("property"),
    }
    if fields["premium"] is None:
        raise InvalidInput("premium", "required")
    number = body.text("number", max_len=40)
    if fields["type"] not in [p.value for p in ProductType]:
        raise InvalidInput("type", f"one of {', '.join(p.value for p in ProductType)}")
    actor = request[PRINCIPAL].actor
    agent_extension = request[PRINCIPAL].agent_extension
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            policy_number = number or book.next_number(
                session, Policy.number, book.POLICY_PREFIX[ProductType(fields["type"])],
                fields["start_date"].year)
            return create_policy(session, actor=actor, number=policy_number,
                                 **fields).as_dict()

    policy = await numbered(run)
    await publish(request, "policy.created", {
        "policy": policy, "customer_id": policy["customer_id"],
        "agent_extension": agent_extension})
    return json_response({"policy": policy}, status=201)


@require_role(*ANYONE)
async def get_policy(request: web.Request) -> web.Response:
    policy_id = path_int(request, "id")
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.get_policy(session, policy_id).as_dict()

    return json_response({"policy": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def customer_policies(request: web.Request) -> web.Response:
    customer_id = path_int(request, "id")
    db = database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            return [p.as_dict() for p in book.customer_policies(session, customer_id)]

    return json_response({"policies": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def renew(request: web.Request) -> web.Response:
    policy_id = path_int(request, "id")
    body = await read_optional_json(request)
    body.only("premium", "end_date")
    premium, end_date = amount(body, "premium"), day(body, "end_date")
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.renew_policy(session, actor=actor, policy_id=policy_id,
                                     premium=premium, end_date=end_date).as_dict()

    return json_response({"policy": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def cancel(request: web.Request) -> web.Response:
    policy_id = path_int(request, "id")
    body = await read_json(request)
    body.only("reason", "effective_date")
    reason = body.req_text("reason", max_len=500)
    effective = day(body, "effective_date")
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.cancel_policy(session, actor=actor, policy_id=policy_id,
                                      reason=reason, effective_date=effective).as_dict()

    return json_response({"policy": await asyncio.to_thread(run)})


# -- claims ------------------------------------------------------------------------


@require_role(*ANYONE)
async def open_claim(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("policy_id", "incident_date", "description", "claimed_amount")
    policy_id = req_whole(body, "policy_id")
    incident = req_day(body, "incident_date")
    description = body.req_text("description", max_len=4000)
    claimed = amount(body, "claimed_amount")
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.open_claim(session, actor=actor, policy_id=policy_id,
                                   incident_date=incident,
                                   description=description, claimed_amount=claimed).as_dict()

    return json_response({"claim": await numbered(run)}, status=201)


@require_role(*ANYONE)
async def get_claim(request: web.Request) -> web.Response:
    claim_id = path_int(request, "id")
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.get_claim(session, claim_id).as_dict()

    return json_response({"claim": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def customer_claims(request: web.Request) -> web.Response:
    customer_id = path_int(request, "id")
    db = database(request)

    def run() -> list[dict[str, Any]]:
        with db.session() as session:
            return [c.as_dict() for c in book.customer_claims(session, customer_id)]

    return json_response({"claims": await asyncio.to_thread(run)})


@require_role(*ANYONE)
async def update_claim(request: web.Request) -> web.Response:
    claim_id = path_int(request, "id")
    body = await read_json(request)
    body.only("description", "claimed_amount", "status", "paid_amount")
    fields: dict[str, Any] = {"description": body.text("description", max_len=4000),
              "claimed_amount": amount(body, "claimed_amount"),
              "status": body.text("status", max_len=16),
              "paid_amount": amount(body, "paid_amount")}
    principal = request[PRINCIPAL]
    if fields["status"] == "paid" and principal.role not in MANAGERS:
        raise Forbidden("forbidden", "paying a claim needs role admin or supervisor; "
                                     f"you are {principal.role}")
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.update_claim(session, actor=principal.actor, claim_id=claim_id,
                                     **fields).as_dict()

    return json_response({"claim": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def approve_claim(request: web.Request) -> web.Response:
    claim_id = path_int(request, "id")
    body = await read_json(request)
    body.only("approved_amount")
    approved = amount(body, "approved_amount")
    if approved is None:
        raise InvalidInput("approved_amount", "required")
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.approve_claim(session, actor=actor, claim_id=claim_id,
                                      approved_amount=approved).as_dict()

    return json_response({"claim": await asyncio.to_thread(run)})


@require_role(*MANAGERS)
async def deny_claim(request: web.Request) -> web.Response:
    claim_id = path_int(request, "id")
    body = await read_json(request)
    body.only("reason")
    reason = body.req_text("reason", max_len=1000)
    actor = request[PRINCIPAL].actor
    db = database(request)

    def run() -> dict[str, Any]:
        with db.session() as session:
            return book.deny_claim(session, actor=actor, claim_id=claim_id,
                                   reason=reason).as_dict()

    return json_response({"claim": await asyncio.to_thread(run)})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/quotes/auto", quote_auto)
    r.add_post("/api/v1/quotes/home", quote_home)
    r.add_get("/api/v1/quotes/{id}", get_quote)
    r.add_post("/api/v1/quotes/{id}/accept", accept_quote)
    r.add_post("/api/v1/policies", create)
    r.add_get("/api/v1/policies/{id}", get_policy)
    r.add_post("/api/v1/policies/{id}/renew", renew)
    r.add_post("/api/v1/policies/{id}/cancel", cancel)
    r.add_get("/api/v1/customers/{id}/policies", customer_policies)
    r.add_post("/api/v1/claims", open_claim)
    r.add_get("/api/v1/claims/{id}", get_claim)
    r.add_patch("/api/v1/claims/{id}", update_claim)
    r.add_post("/api/v1/claims/{id}/approve", approve_claim)
    r.add_post("/api/v1/claims/{id}/deny", deny_claim)
    r.add_get("/api/v1/customers/{id}/claims", customer_claims)

