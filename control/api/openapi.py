"""The OpenAPI 3 description of /api/v1, served at /api/v1/openapi.json.

What each operation does and takes is written by hand, here and only here;
who may call it is read from the handler itself (``@public``,
``@require_role``), where it is enforced, so the two cannot disagree. A test
compares the paths with the routes the app really has, so a route added
without its description (or a description left behind) fails the suite.
Request bodies are described field by field (clients and the fuzz test
generate from them); answers are described by their envelope.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from control.acd.models import DEFAULT_WEIGHTS
from control.acd.needs import CONTEXT_KEYS
from control.acd.queues import LIMITS, WEIGHT_LIMIT
from control.auth.middleware import UNAUTHENTICATED_PREFIXES, public
from control.events.catalog import EVENTS

PATH = "/api/v1/openapi.json"
Schema = dict[str, Any]

ALL = ("admin", "agent", "supervisor")  # any authenticated user


def _str(max_len: int = 255, **extra: Any) -> Schema:
    return {"type": "string", "maxLength": max_len, **extra}


def _int(minimum: int = 1, maximum: int = 2**31 - 1) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def _obj(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


DATE = _str(10, format="date")
DATETIME = _str(40, format="date-time")
AMOUNT = {"type": "string", "pattern": r"^[0-9]{1,8}(\.[0-9]{1,2})?$", "example": "455.90"}
EXTENSION = _str(8, pattern=r"^[1-9][0-9]{1,7}$")
TAGS = {"type": "array", "items": _str(32), "maxItems": 20}
LANGUAGES = {"type": "array", "items": _str(2), "maxItems": 10}
# "sdes": SRTP only (keys in the SDP), the agent's phones over SIP TLS only
MEDIA_ENCRYPTION = {"type": "string", "enum": ["none", "sdes"]}
E164 = _str(20, pattern=r"^\+[1-9][0-9]{6,14}$", example="+34910000001",
            description="E.164; in a path, URL-encode the + (%2B)")
TARGET = _str(60, pattern=r"^(ext|queue|ivr):[A-Za-z0-9_-]{1,40}$", example="queue:autos")
QUEUE_NUMBERS = LIMITS  # field -> (low, high)
WEIGHTS = tuple(DEFAULT_WEIGHTS)
# a skill a customer's context adds (acd.needs), or null: none
CONTEXT_SKILL = {"type": "string", "pattern": r"^[a-z][a-z0-9_-]{0,31}$", "maxLength": 32,
                 "nullable": True, "example": "claims"}
PERIOD = {"name": "period", "in": "query", "required": False,
          "schema": {"type": "string", "enum": ["today", "week", "month"]}}
LIMIT = {"name": "limit", "in": "query", "required": False, "schema": _int(1, 500)}

CALL_FILTERS = (
    {"name": "from", "in": "query", "required": False, "schema": _str(40, example="2026-12-01")},
    {"name": "to", "in": "query", "required": False, "schema": _str(40, example="2026-12-06")},
    {"name": "queue", "in": "query", "required": False, "schema": _str(40)},
    {"name": "agent", "in": "query", "required": False, "schema": EXTENSION},
    {"name": "customer", "in": "query", "required": False, "schema": _str(160)},
    {"name": "customer_id", "in": "query", "required": False, "schema": _int()},
    {"name": "disposition", "in": "query", "required": False, "schema": _str(40)},
    {"name": "direction", "in": "query", "required": False,
     "schema": {"type": "string", "enum": ["inbound", "outbound"]}},
    {"name": "min_duration", "in": "query", "required": False, "schema": _int(0, 604800)},
    {"name": "max_duration", "in": "query", "required": False, "schema": _int(0, 604800)},
    {"name": "limit", "in": "query", "required": False, "schema": _int(1, 200)},
    {"name": "offset", "in": "query", "required": False, "schema": _int(0, 10**9)},
)

ROLE = {"type": "string", "enum": ["admin", "supervisor", "agent"]}
ERROR = _obj({"error": {"type": "string"}, "field": {"type": "string"},
              "reason": {"type": "string"}}, ("error",))


def _path_param(name: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema or _int()}


def _op(summary: str, tag: str, *, body: Schema | None = None,
        params: tuple[Schema, ...] = (), ok: int = 200, result: str | None = None,
        content_type: str = "application/json", body_required: bool = True) -> Schema:
    """One operation; who may call it is added from the handler (see document)."""
    answer: dict[str, Any] = {"description": result or "done"}
    if ok != 204:  # 204: no body
        answer["content"] = {content_type: {"schema": {"type": "object"}
                                            if content_type == "application/json"
                                            else {"type": "string"}}}
    responses: dict[str, Any] = {
        str(ok): answer,
        "4XX": {"description": "refused: JSON naming the field",
                "content": {"application/json": {"schema": ERROR}}},
    }
    op: Schema = {"summary": summary, "tags": [tag], "parameters": list(params),
                  "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": body_required,
                             "content": {"application/json": {"schema": body}}}
    return op


def _after_call(op: Schema) -> Schema:
    """The agent-state operation also answers 202: taken when the call ends."""
    op["responses"]["202"] = {"description": "taken when the agent's call ends",
                              "content": {"application/json": {"schema": {"type": "object"}}}}
    return op


ID = (_path_param("id"),)

CUSTOMER = _obj({
    "name": _str(160), "phones": {"type": "array", "items": _str(40), "maxItems": 10},
    "email": _str(), "dni": _str(20), "language": _str(8), "segment": _str(16),
    "address": _obj({k: _str(200) for k in ("street", "postal_code", "city", "province",
                                            "country")}),
    "tags": {"type": "array", "items": _str(32), "maxItems": 20},
}, ("name",))
VEHICLE = _obj({"year": _int(1900, 2200), "make": _str(40), "model": _str(60),
                "plate": _str(12)}, ("year", "make"))
DRIVER = _obj({"age": _int(0, 150), "experience_years": _int(0, 150), "claims": _int(0, 100)},
              ("age", "experience_years"))
PROPERTY = _obj({"kind": {"type": "string", "enum": ["piso", "adosado", "chalet"]},
                 "m2": _int(0, 10**6), "built": _int(0, 10**4), "contents": _int(0, 10**9)},
                ("kind", "m2", "built"))
QUOTE_COMMON = {"customer_id": _int(), "carrier": _str(80), "call_id": _str(36)}
POLICY = _obj({
    "customer_id": _int(), "number": _str(40),
    "type": {"type": "string", "enum": ["auto", "home", "life", "health"]},
    "carrier": _str(80), "start_date": DATE, "end_date": DATE, "premium": AMOUNT,
    "payment_frequency": {"type": "string",
                          "enum": ["monthly", "quarterly", "semiannual", "annual"]},
    "coverage": {"type": "object"}, "vehicle": {"type": "object"},
    "property": {"type": "object"},
}, ("customer_id", "type", "carrier", "start_date", "end_date", "premium"))


PRODUCT_TYPE = {"type": "string", "enum": ["auto", "home", "life", "health"]}
PRODUCT = _obj({"code": _str(20, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,19}$"),
                "name": _str(120), "type": PRODUCT_TYPE, "carrier": _str(80),
                "base_premium": AMOUNT, "active": {"type": "boolean"}},
               ("code", "name", "type", "carrier", "base_premium"))
CAMPAIGN_STATUS = {"type": "string", "enum": ["planned", "active", "paused", "finished"]}
CAMPAIGN = _obj({"name": _str(120),
                 "channel": {"type": "string",
                             "enum": ["phone", "email", "web", "social", "referral"]},
                 "start_date": DATE, "end_date": DATE, "status": CAMPAIGN_STATUS,
                 "product_id": _int()}, ("name", "channel", "start_date"))
LEAD_STATUS = {"type": "string",
               "enum": ["new", "contacted", "qualified", "converted", "lost"]}
LEAD = _obj({"name": _str(160), "phone": _str(40), "email": _str(),
             "source": _str(40, pattern=r"^[a-z][a-z0-9_-]{0,39}$"),
             "product_interest": PRODUCT_TYPE, "agent_extension": EXTENSION,
             "campaign_id": _int(), "notes": _str(4000)}, ("name",))


DIALING = _obj({
    "mode": {"type": "string", "enum": ["preview", "progressive", "predictive"]},
    "agents": {"type": "array", "items": EXTENSION, "maxItems": 200},
    "queues": {"type": "array", "items": _str(40), "maxItems": 200},
    "caller_id": {**E164, "nullable": True},
    "hours_start": _str(5, pattern=r"^[0-2][0-9]:[0-5][0-9]$", example="09:00"),
    "hours_end": _str(5, pattern=r"^[0-2][0-9]:[0-5][0-9]$", example="21:00"),
    "days": {"type": "array", "items": _int(0, 6), "minItems": 1, "maxItems": 7},
    "retry_rules": {"type": "object", "additionalProperties": False, "properties": {
        k: {**_int(1, 30 * 86400), "nullable": True}
        for k in ("busy", "no_answer", "machine", "failed", "abandoned")}},
    "max_attempts": _int(1, 20), "ring_s": _int(15, 120), "script": _str(20000),
    "dispositions": {"type": "array", "minItems": 1, "maxItems": 40, "items": _obj({
        "code": _str(32), "label": _str(60), "final": {"type": "boolean"},
        "retry_s": _int(1, 30 * 86400), "dnc": {"type": "boolean"}}, ("code",))},
    "message": {**_str(120, pattern=r"^[A-Za-z0-9/_.-]*$"), "nullable": True},
    "amd": {"type": "boolean"},
    "machine_action": {"type": "string", "enum": ["hangup", "message", "agent"]},
    "abandon_cap_pct": {"type": "number", "minimum": 0, "maximum": 100},
    "abandon_window_s": _int(60, 366 * 86400),
    "adapt": {"type": "string", "enum": ["hard_limit", "tapered", "average"]},
    "wrapup_s": _int(0, 3600)})
CSV_BODY = _obj({"csv": _str(20 * 1024 * 1024)}, ("csv",))


def paths() -> dict[str, dict[str, Schema]]:
    return {
# -- auth ---------------------------------------------------------------
        "/api/v1/auth/login": {"post": _op(
            "Log in: access and refresh tokens. A user with two-factor (aitcomms user totp) "
            "also sends totp, the 6-digit RFC 6238 code: 401 totp_required without it, "
            "totp_invalid when wrong", "auth",
            body=_obj({"email": _str(), "password": _str(1024),
                       "totp": _str(16, pattern=r"^[0-9 ]*$")}, ("email", "password")))},
        "/api/v1/auth/refresh": {"post": _op(
            "New token pair for a refresh token (rotated)", "auth",
            body=_obj({"refresh_token": _str(4096)}, ("refresh_token",)))},
        "/api/v1/auth/logout": {"post": _op(
            "Revoke a refresh token", "auth",
            body=_obj({"refresh_token": _str(4096)}, ("refresh_token",)))},
        "/api/v1/auth/me": {"get": _op("The user of the token", "auth")},
        "/api/v1/softphone": {"get": _op(
            "The signed-in user's own SIP credentials (extension, realm, digest HA1) for the "
            "browser softphone", "web")},
        "/api/v1/audit": {"get": _op(
            "The audit log, newest first", "auth",
            params=({"name": "entity", "in": "query", "schema": _str(40)},
                    {"name": "entity_id", "in": "query", "schema": _str(40)}, LIMIT))},
        # -- customers ----------------------------------------------------------
        "/api/v1/customers": {
            "get": _op("Search customers by phone, DNI, e-mail or name", "customers",
                       params=tuple({"name": n, "in": "query", "schema": _str(100)}
                                    for n in ("phone", "dni", "email", "q")) + (
                           {"name": "limit", "in": "query", "schema": _int(1, 100)},)),
            "post": _op("Create a customer", "customers", body=CUSTOMER, ok=201),
        },
        "/api/v1/customers/{id}": {"get": _op("A customer", "customers", params=ID)},
        "/api/v1/customers/{id}/context": {"get": _op(
            "The screen pop: active policies, open claims and quotes, last contacts, "
            "open tasks", "customers", params=ID)},
        "/api/v1/customers/{id}/policies": {"get": _op(
            "A customer's policies, every status", "policies", params=ID)},
        "/api/v1/customers/{id}/claims": {"get": _op(
            "A customer's claims", "claims", params=ID)},
        "/api/v1/customers/{id}/interactions": {"get": _op(
            "A customer's contact history, newest first", "interactions",
            params=(*ID, LIMIT))},
        # -- quotes -------------------------------------------------------------
        "/api/v1/quotes/auto": {"post": _op(
            "Price an auto quote (seed 001 factors and discounts)", "quotes",
            body=_obj({**QUOTE_COMMON, "vehicle": VEHICLE, "driver": DRIVER},
                      ("customer_id", "vehicle", "driver")), ok=201)},
        "/api/v1/quotes/home": {"post": _op(
            "Price a home quote", "quotes",
            body=_obj({**QUOTE_COMMON, "property": PROPERTY, "claims": _int(0, 100)},
                      ("customer_id", "property")), ok=201)},
        "/api/v1/quotes/{id}": {"get": _op("A quote", "quotes", params=ID)},
        "/api/v1/quotes/{id}/accept": {"post": _op(
            "The customer accepts: the quote becomes a policy", "quotes", params=ID,
            body=_obj({"carrier": _str(80), "start_date": DATE,
                       "payment_frequency": POLICY["properties"]["payment_frequency"]}),
            body_required=False, ok=201)},
        # -- policies -----------------------------------------------------------
        "/api/v1/policies": {"post": _op("Create a policy", "policies", body=POLICY, ok=201)},
        "/api/v1/policies/{id}": {"get": _op("A policy", "policies", params=ID)},
        "/api/v1/policies/{id}/renew": {"post": _op(
            "Renew for another period", "policies", params=ID,
            body=_obj({"premium": AMOUNT, "end_date": DATE}), body_required=False)},
        "/api/v1/policies/{id}/cancel": {"post": _op(
            "Cancel a policy", "policies", params=ID,
            body=_obj({"reason": _str(500), "effective_date": DATE}, ("reason",)))},
        # -- claims -------------------------------------------------------------
        "/api/v1/claims": {"post": _op(
            "Open a claim (first notice of loss)", "claims", ok=201,
            body=_obj({"policy_id": _int(), "incident_date": DATE,
                       "description": _str(4000), "claimed_amount": AMOUNT},
                      ("policy_id", "incident_date", "description")))},
        "/api/v1/claims/{id}": {
            "get": _op("A claim", "claims", params=ID),
            "patch": _op(
                "Update a claim: details, investigating, paid (paying: supervisor, admin)",
                "claims", params=ID,
                body=_obj({"description": _str(4000), "claimed_amount": AMOUNT,
                           "status": {"type": "string",
                                      "enum": ["investigating", "paid"]},
                           "paid_amount": AMOUNT})),
        },
        "/api/v1/claims/{id}/approve": {"post": _op(
            "Approve a claim", "claims", params=ID,
            body=_obj({"approved_amount": AMOUNT}, ("approved_amount",)))},
        "/api/v1/claims/{id}/deny": {"post": _op(
            "Deny a claim", "claims", params=ID,
            body=_obj({"reason": _str(1000)}, ("reason",)))},
        # -- interactions and tasks ----------------------------------------------
        "/api/v1/interactions/{id}": {"patch": _op(
            "Wrap-up: disposition and notes (agents: their own calls)", "interactions",
            params=ID, body=_obj({"disposition": _str(40), "notes": _str(4000)}))},
        "/api/v1/tasks": {
            "get": _op("Open tasks, soonest first (agents: own and unassigned)", "tasks",
                       params=({"name": "status", "in": "query", "schema": {
                           "type": "string",
                           "enum": ["pending", "in_progress", "done", "cancelled"]}},
                               {"name": "agent", "in": "query", "schema": EXTENSION},
                               {"name": "customer_id", "in": "query", "schema": _int()},
                               {"name": "limit", "in": "query", "schema": _int(1, 500)})),
            "post": _op("Create a callback or follow-up task", "tasks", ok=201, body=_obj({
                "kind": {"type": "string", "enum": ["callback", "follow_up"]},
                "scheduled_at": DATETIME, "customer_id": _int(), "phone": _str(40),
                "agent_extension": EXTENSION, "notes": _str(4000)},
                ("kind", "scheduled_at"))),
        },
        "/api/v1/tasks/{id}/complete": {"post": _op(
            "Complete a task", "tasks", params=ID, body=_obj({"notes": _str(4000)}),
            body_required=False)},
        # -- sales: products, campaigns, leads (seed 002) ---------------------------
        "/api/v1/products": {
            "get": _op("Products the broker sells", "sales", params=(
                {"name": "active", "in": "query",
                 "schema": {"type": "string", "enum": ["true", "false"]}},
                {"name": "type", "in": "query", "schema": PRODUCT_TYPE})),
            "post": _op("Create a product", "sales", body=PRODUCT, ok=201),
        },
        "/api/v1/products/{id}": {
            "get": _op("A product", "sales", params=ID),
            "patch": _op("Change a product's name, carrier, base premium or active flag",
                         "sales", params=ID, body=_obj({
                             k: PRODUCT["properties"][k]
                             for k in ("name", "carrier", "base_premium", "active")})),
        },
        "/api/v1/campaigns": {
            "get": _op("Campaigns, newest first", "sales", params=(
                {"name": "status", "in": "query", "schema": CAMPAIGN_STATUS},)),
            "post": _op("Create a campaign", "sales", body=CAMPAIGN, ok=201),
        },
        "/api/v1/campaigns/{id}": {
            "get": _op("A campaign", "sales", params=ID),
            "patch": _op("Change a campaign (end_date, product_id: null clears)", "sales",
                         params=ID, body=_obj(CAMPAIGN["properties"])),
        },
        "/api/v1/leads": {
            "get": _op("Leads, newest first (agents: own and unassigned)", "sales", params=(
                {"name": "status", "in": "query", "schema": LEAD_STATUS},
                {"name": "agent", "in": "query", "schema": EXTENSION},
                {"name": "campaign_id", "in": "query", "schema": _int()},
                {"name": "q", "in": "query", "schema": _str(100)},
                {"name": "limit", "in": "query", "schema": _int(1, 500)})),
            "post": _op("Create a lead (agents: for themselves or unassigned)", "sales",
                        body=LEAD, ok=201),
        },
        "/api/v1/leads/{id}": {
            "get": _op("A lead (agents: own or unassigned)", "sales", params=ID),
            "patch": _op(
                "Work a lead: status new → contacted → qualified, or lost (lost → contacted); "
                "details, notes (appended); agent (agents: take or release only). An agent "
                "working an unassigned lead takes it", "sales", params=ID,
                body=_obj({**{k: v for k, v in LEAD["properties"].items() if k != "source"},
                           "status": {"type": "string",
                                      "enum": ["contacted", "qualified", "lost"]}})),
        },
        "/api/v1/leads/{id}/convert": {"post": _op(
            "Convert a contacted or qualified lead into a customer (or link it to the "
            "customer with its phone or e-mail): 201 if created, 200 if linked", "sales",
            params=ID, body=_obj({"dni": _str(20), "language": _str(8)}),
            body_required=False, ok=201)},
        # -- analytics ------------------------------------------------------------
        "/api/v1/analytics/calls": {"get": _op(
            "Calls of the period: total, answered, abandoned, averages, service level",
            "analytics", params=(PERIOD,))},
        "/api/v1/analytics/agents": {"get": _op(
            "Per agent: calls handled, average handle time, utilisation", "analytics",
            params=(PERIOD,))},
        "/api/v1/analytics/calls/hourly": {"get": _op(
            "A day's inbound calls hour by hour (offered, answered, abandoned, service "
            "level) in a time zone: the wallboard's charts", "analytics",
            params=({"name": "day", "in": "query", "required": False, "schema": DATE},
                    {"name": "tz", "in": "query", "required": False,
                     "schema": _str(64, example="Europe/Madrid")}))},
        "/api/v1/analytics/calls.csv": {"get": _op(
            "Calls of the period as CSV", "analytics", params=(PERIOD,),
            content_type="text/csv")},
        "/api/v1/analytics/interactions.csv": {"get": _op(
            "Interactions of the period as CSV", "analytics",
            params=(PERIOD,), content_type="text/csv")},
        "/api/v1/analytics/reviews": {"get": _op(
            "Quality reviews of the period: average score (0-100) and count per agent and "
            "per queue", "analytics", params=(PERIOD,))},
        # -- quality reviews ------------------------------------------------------
        "/api/v1/evaluation-forms": {
            "get": _op("Evaluation forms (of a queue)", "quality",
                       params=({"name": "queue", "in": "query", "required": False,
                                "schema": _str(40)},)),
            "post": _op("An evaluation form for a queue: criteria with weights, each yes/no "
                        "or 1-5", "quality", ok=201, body=_obj({
                            "queue": _str(40), "name": _str(120),
                            "criteria": {"type": "array", "minItems": 1, "maxItems": 30,
                                         "items": _obj({
                                             "name": _str(60), "weight": {
                                                 "type": "number", "exclusiveMinimum": True,
                                                 "minimum": 0, "maximum": 100},
                                             "kind": {"type": "string",
                                                      "enum": ["yes_no", "scale_1_5"]}},
                                             ("name", "weight", "kind"))}},
                            ("queue", "name", "criteria"))),
        },
        "/api/v1/reviews": {
            "get": _op("Quality reviews, newest first (agents: their own only)", "quality",
                       params=tuple({"name": n, "in": "query", "required": False,
                                     "schema": _str(40)} for n in ("agent", "queue",
                                                                   "call_id")) + (LIMIT,)),
            "post": _op("Score an answered call against a form of its queue: every criterion "
                        "(true/false, or 1-5); the weighted score is 0-100", "quality",
                        ok=201, body=_obj({
                            "call_id": _str(36), "form_id": _int(),
                            "scores": {"type": "object", "additionalProperties": {
                                "oneOf": [{"type": "boolean"},
                                          {"type": "integer", "minimum": 1, "maximum": 5}]}},
                            "comment": _str(4000)}, ("call_id", "form_id", "scores"))),
        },
        "/api/v1/reviews/{id}": {"get": _op("A quality review (agents: their own only)",
                                            "quality", params=ID)},
        # -- staffing ----------------------------------------------------------------
        "/api/v1/forecast": {"get": _op(
            "A queue's day, half hour by half hour: expected calls (the same weekday of "
            "recent weeks), average handle time, agents needed by Erlang C (pyworkforce) "
            "and Erlang A (callers who give up), and the queue's agents logged in now",
            "staffing", params=(
                {"name": "queue", "in": "query", "required": True, "schema": _str(40)},
                {"name": "date", "in": "query", "required": False, "schema": DATE},
                {"name": "tz", "in": "query", "required": False,
                 "schema": _str(64, example="Europe/Madrid")},
                {"name": "weeks", "in": "query", "required": False, "schema": _int(1, 52)}))},
        "/api/v1/queues/{name}/targets": {
            "get": _op("A queue's staffing targets and alert thresholds", "staffing",
                       params=(_path_param("name", _str(40)),)),
            "patch": _op("Change some of a queue's targets (service_level_target, shrinkage, "
                         "max_occupancy) and alert thresholds (null: off)", "staffing",
                         params=(_path_param("name", _str(40)),), body=_obj({
                             "service_level_target": {"type": "number", "minimum": 0.01,
                                                      "maximum": 0.999},
                             "shrinkage": {"type": "number", "minimum": 0, "maximum": 0.95},
                             "max_occupancy": {"type": "number", "minimum": 0.1,
                                               "maximum": 1},
                             "alert_longest_wait_s": {**_int(1, 86400), "nullable": True},
                             "alert_wrapup_min": {**_int(1, 1440), "nullable": True},
                             "alert_paused_min": {**_int(1, 1440), "nullable": True}})),
        },
        "/api/v1/alerts": {"get": _op("The wallboard alerts raised and not yet cleared",
                                      "staffing")},
        # -- ACD ------------------------------------------------------------------
        "/api/v1/agents": {
            "get": _op("Agents and their state", "acd"),
            "post": _op("Create an agent and its SIP endpoint (takes effect at once); "
                        "without a password one is generated and returned once as "
                        "generated_password; with user_email also its login (role agent, "
                        "in the same transaction), its password generated and returned "
                        "once as generated_user_password", "acd", ok=201, body=_obj({
                            "extension": EXTENSION, "name": _str(120),
                            "password": _str(128, minLength=8), "skills": TAGS,
                            "languages": LANGUAGES, "media_encryption": MEDIA_ENCRYPTION,
                            "user_email": _str(255)}, ("extension", "name")))},
        "/api/v1/users": {
            "get": _op("User accounts (never a password hash or two-factor secret)", "users"),
            "post": _op("Create a user; without a password one is generated and returned "
                        "once as generated_password. Supervisors create agents only; 422 "
                        "names the field", "users", ok=201, body=_obj({
                            "email": _str(255), "role": ROLE,
                            "password": _str(1024, minLength=10),
                            "agent_extension": EXTENSION}, ("email", "role")))},
        "/api/v1/users/{id}": {
            "patch": _op("Change a user's role, agent extension (null: none) or active "
                         "(false: disabled, its sessions end). Nobody raises their own "
                         "role (403); the last active admin cannot be demoted or disabled "
                         "(409)", "users", params=ID, body=_obj({
                             "role": ROLE, "agent_extension": {**EXTENSION, "nullable": True},
                             "active": {"type": "boolean"}})),
            "delete": _op("Remove a user (not yourself, not the last active admin: 409)",
                          "users", ok=204, params=ID)},
        "/api/v1/users/{id}/reset_password": {"post": _op(
            "Set a new password (given, or generated and returned once as "
            "generated_password); lifts a lock-out and ends the user's sessions", "users",
            params=ID, body=_obj({"password": _str(1024, minLength=10)}),
            body_required=False)},
        "/api/v1/users/{id}/reset_totp": {"post": _op(
            "Remove the user's two-factor (a lost phone): password only until it enrols "
            "again", "users", params=ID)},
        "/api/v1/calls/test": {"post": _op(
            "Place a test call from the built-in caller (a Local channel in Asterisk that "
            "says a prompt for about a minute) into a number: a DID (+34...), an agent's "
            "extension, queue:NAME or ivr:NAME; from: the caller's number (default a "
            "seeded customer's)", "acd", ok=202, body=_obj({
                "to": _str(60), "from": E164}, ("to",)))},
        "/api/v1/agents/{extension}": {
            "patch": _op("Change an agent: name, skills, languages (replaced), password (a "
                         "new digest HA1) or media encryption: after either of the last "
                         "two its phones are unregistered and must register again",
                         "acd", params=(_path_param("extension", EXTENSION),),
                         body=_obj({"name": _str(120), "password": _str(128, minLength=8),
                                    "skills": TAGS, "languages": LANGUAGES,
                                    "media_encryption": MEDIA_ENCRYPTION})),
            "delete": _op("Remove an agent, its queue memberships and its registrations; "
                          "409 while it is ringing or on a call, or a DID rings it "
                          "(ext:EXTENSION)", "acd", ok=204,
                          params=(_path_param("extension", EXTENSION),))},
        "/api/v1/agents/{extension}/status": {"put": _after_call(_op(
            "Set an agent's state. On a call, available is refused (409) and a pause "
            "or log-out is taken when the call ends (202)", "acd",
            params=(_path_param("extension", EXTENSION),),
            body=_obj({"status": {"type": "string",
                                  "enum": ["available", "paused", "logged_out"]},
                       "reason": _str(40)}, ("status",))))},
        "/api/v1/calls": {"get": _op(
            "Call history, newest first: filters from/to (date or date-time, by when the "
            "call entered), queue, agent, customer (a name or a phone number), customer_id, "
            "disposition, direction, min_duration/max_duration (talk seconds); limit and "
            "offset. Agents: their own calls", "history", params=CALL_FILTERS), "post": _op(
            "Click-to-call: ring the signed-in agent's own phone (auto-answer asked), "
            "then the customer through the trunk; a callback task's number and customer "
            "when task_id is given (done once a call that reached the customer ends)", "acd",
            ok=202, body=_obj({"to": _str(40), "customer_id": _int(),
                               "task_id": _int()}))},
        "/api/v1/calls/{call_id}": {"get": _op(
            "A past (or live) call and its timeline: entered the queue, each agent rung with "
            "the routing decision's candidates and scores, rings missed, answered, holds, "
            "transfers, supervision, the recording, the end, the wrap-up disposition and "
            "notes. Agents: their own calls only (403)", "history",
            params=(_path_param("call_id", _str(36)),))},
        "/api/v1/calls/{call_id}/recording": {"get": _op(
            "The call's recording (audio/wav). Range requests answer 206 (players seek); "
            "download=1 sends it as an attachment. The access token may come as ?token= "
            "(an <audio> element cannot send headers) or as the Bearer header. Agents: "
            "their own calls only (403). Every play from the start and every download is "
            "audited", "history", content_type="audio/wav",
            params=(_path_param("call_id", _str(36)),
                    {"name": "download", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": ["0", "1"]}},
                    {"name": "token", "in": "query", "required": False,
                     "schema": _str(2048, pattern=r"^[A-Za-z0-9._-]*$")}))},
        "/api/v1/recordings": {"get": _op(
            "The recordings library: calls whose recording is kept, newest first, with "
            "the call history's filters; for admins also the disk the recordings use and "
            "each queue's retention", "history", params=CALL_FILTERS)},
        "/api/v1/recordings/retention": {"get": _op(
            "Each queue's recording retention in days (null: kept for ever)", "history")},
        "/api/v1/recordings/retention/{queue}": {"put": _op(
            "Set a queue's recording retention: recordings older than that many days are "
            "deleted by the retention job (their calls stay, marked)", "history",
            params=(_path_param("queue", _str(40)),),
            body=_obj({"days": {"type": "integer", "minimum": 1, "maximum": 36500,
                                "nullable": True}}, ("days",)))},
        "/api/v1/calls/live": {"get": _op(
            "Calls in progress: waiting, ringing or answered, with their queue, agent and "
            "seconds since they entered", "acd")},
        "/api/v1/calls/{call_id}/routing": {"get": _op(
            "A call and every routing decision taken for it: candidates and scores, the "
            "reason, and the caller's needs (language, skills) with the source of each "
            "(ivr, customer, queue)", "acd",
            params=(_path_param("call_id", _str(36)),))},
        "/api/v1/queues/{name}/stats": {"get": _op(
            "A queue now (waiting, longest wait) and today (answered, abandoned, service "
            "level, average handle time)", "acd", params=(_path_param("name", _str(40)),))},
        "/api/v1/queues": {
            "get": _op("Every queue with its members", "acd"),
            "post": _op("Create a queue", "acd", ok=201, body=_obj({
                "name": _str(40), "skills": {"type": "array", "items": _str(32)},
                "language": _str(2), "wrapup_s": {"type": "integer"},
                "ring_timeout_s": {"type": "integer"}, "max_misses": {"type": "integer"},
                "max_wait_s": {"type": "integer"}, "service_level_s": {"type": "integer"},
                "announce_every_s": {"type": "integer"}, "record": {"type": "boolean"},
                "members": {"type": "array", "items": _str(8)}}, ("name",)))},
        "/api/v1/queues/{name}": {
            "patch": _op("Change a queue's settings, score weights and the skills a "
                         "customer's context adds to what callers want (context_skills: "
                         "open_claim or policy:TYPE -> a skill, null for none); weights and "
                         "context_skills entries not named keep their value. The next "
                         "routing decision uses them", "acd",
                         params=(_path_param("name", _str(40)),), body=_obj({
                             "skills": TAGS, "language": _str(2),
                             **{f: _int(lo, hi) for f, (lo, hi) in QUEUE_NUMBERS.items()},
                             "record": {"type": "boolean"},
                             "weights": _obj({k: {"type": "number", "minimum": -WEIGHT_LIMIT,
                                                  "maximum": WEIGHT_LIMIT}
                                              for k in WEIGHTS}),
                             "context_skills": _obj({k: CONTEXT_SKILL for k in CONTEXT_KEYS}),
                         })),
            "delete": _op("Remove a queue; 409 while a DID routes to it or a call of it is "
                          "in progress", "acd", ok=204,
                          params=(_path_param("name", _str(40)),))},
        "/api/v1/queues/{name}/members/{extension}": {
            "put": _op("Add a member to a queue or change its penalty", "acd",
                       params=(_path_param("name", _str(40)),
                               _path_param("extension", EXTENSION)),
                       body=_obj({"penalty": {"type": "integer"}}), body_required=False),
            "delete": _op("Remove a member from a queue", "acd",
                          params=(_path_param("name", _str(40)),
                                  _path_param("extension", EXTENSION)))},
        "/api/v1/calls/{call_id}/{action}": {"post": _op(
            "Call control: hangup, hold, unhold, transfer {to: ext:N|queue:NAME} (blind), "
            "consult {to: ext:N} then complete_transfer (attended), "
            "recording {action: start|pause|resume}", "acd", ok=202,
            params=(_path_param("call_id", _str(36)),
                    _path_param("action", {"type": "string", "enum": [
                        "hangup", "hold", "unhold", "transfer", "consult",
                        "complete_transfer", "recording"]})),
            body=_obj({"to": _str(60), "action": {"type": "string",
                                                   "enum": ["start", "pause", "resume"]}}, ()),
            body_required=False)},
        "/api/v1/supervision": {"post": _op(
            "Listen, whisper or barge into a call from the supervisor's phone", "acd",
            ok=202,
            body=_obj({"mode": {"type": "string", "enum": ["listen", "whisper", "barge"]},
                       "call_id": _str(36)}, ("mode", "call_id")))},
        # -- trunks and DIDs (`aitcomms trunk|did`) ----------------------------------
        "/api/v1/trunks": {
            "get": _op("SIP trunks: name, host, the address calls are trusted from, port",
                       "provisioning"),
            "post": _op("Add an IP-authenticated trunk: calls from its address are trusted",
                        "provisioning", ok=201, body=_obj({
                            "name": _str(64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
                            "host": _str(255, description="IP address or DNS name "
                                                          "(resolved once, now)"),
                            "port": _int(1, 65535)}, ("name", "host")))},
        "/api/v1/trunks/{name}": {"delete": _op(
            "Remove a trunk: calls from its address are challenged like a stranger's; "
            "calls up stay up", "provisioning", ok=204,
            params=(_path_param("name", _str(64)),))},
        "/api/v1/dids": {
            "get": _op("Incoming numbers and their targets", "provisioning"),
            "post": _op("Route an incoming number (E.164) to ext:EXTENSION, queue:NAME or "
                        "ivr:NAME", "provisioning", ok=201,
                        body=_obj({"number": E164, "target": TARGET}, ("number", "target")))},
        "/api/v1/dids/{number}": {
            "patch": _op("Send an incoming number to another target", "provisioning",
                         params=(_path_param("number", E164),),
                         body=_obj({"target": TARGET}, ("target",))),
            "delete": _op("Stop routing an incoming number (its callers hear it is not in "
                          "service)", "provisioning", ok=204,
                          params=(_path_param("number", E164),))},
        # -- media nodes (`aitcomms node`) -------------------------------------------
        "/api/v1/nodes": {
            "get": _op("Media nodes (Asterisk) behind Kamailio's dispatcher: address, weight, "
                       "state, and what Kamailio sees of each (flags, up, calls)",
                       "provisioning"),
            "post": _op("Add a media node: Kamailio probes it and sends it calls once it "
                        "answers", "provisioning", ok=201, body=_obj({
                            "name": _str(32, pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$"),
                            "host": _str(255, description="IP address or DNS name "
                                                          "(resolved once, now)"),
                            "port": _int(1, 65535),
                            "weight": _int(1, 100)}, ("name", "host")))},
        "/api/v1/nodes/{name}": {
            "patch": _op("Drain a media node (no new calls; its calls go on; kept across "
                         "reloads) or put it back in service", "provisioning",
                         params=(_path_param("name", _str(32)),),
                         body=_obj({"state": {"type": "string",
                                              "enum": ["active", "draining"]}}, ("state",))),
            "delete": _op("Remove a media node (409 while it has calls up, and for local, "
                          "the stack's own Asterisk)", "provisioning", ok=204,
                          params=(_path_param("name", _str(32)),))},
        # -- dialplan versions (the admin page; `aitcomms dialplan`) ---------------
        "/api/v1/dialplan/versions": {"get": _op(
            "Stored dialplan versions, oldest first, and which one Asterisk runs", "dialplan")},
        "/api/v1/dialplan/versions/{id}": {"get": _op(
            "One dialplan version: its diff from the one before and its text", "dialplan",
            params=ID)},
        "/api/v1/dialplan/versions/{id}/rollback": {"post": _op(
            "Put that version back: check, write, reload, verify, store as a new version",
            "dialplan", params=ID, ok=201)},
        "/api/v1/dialplan/diff": {"get": _op(
            "What apply would change: the running dialplan against the rendered one",
            "dialplan")},
        "/api/v1/dialplan/apply": {"post": _op(
            "Validate, write, reload, verify and store the rendered dialplan (200 and "
            "version null when nothing changed, 422 with the errors when invalid)",
            "dialplan", ok=201)},
        "/api/v1/dialplan/validate": {"post": _op(
            "Render and check the dialplan (our checks and a scratch Asterisk's parser), "
            "changing nothing: 200 with the warnings, 422 with the errors", "dialplan")},
        "/api/v1/dialplan/simulate": {"post": _op(
            "The path a call would take (menus, branches, queue and its variables), placing "
            "no call: from the caller's number to a DID, keys pressed, at a time",
            "dialplan", body=_obj({
                "from": _str(32, pattern=r"^\+?[0-9]{1,20}$", example="+34600111222"),
                "to": _str(32, example="+34910000020"),
                "digits": _str(64, pattern=r"^[0-9*#]*$", example="21"),
                "at": _str(16, example="2026-03-02 22:30",
                           description='"YYYY-MM-DD HH:MM" in tz (default: now)'),
                "tz": _str(64, example="Europe/Madrid")}, ("from", "to")))},
        # -- speech (control.speech) -------------------------------------------------
        "/api/v1/queues/{name}/speech": {
            "get": _op("A queue's speech policy: transcription (off by default) and alert "
                       "phrases", "speech", params=(_path_param("name", _str(40)),)),
            "put": _op("Change a queue's speech policy (fields given only)", "speech",
                       params=(_path_param("name", _str(40)),), body=_obj({
                           "transcribe": {"type": "boolean"},
                           "keywords": {"type": "array", "items": _str(80), "maxItems": 50}}))},
        "/api/v1/calls/{call_id}/transcript": {"get": _op(
            "A call's transcript (speaker, start/end seconds from the bridging, text), its "
            "status (complete, incomplete with gaps, not_transcribed with the reason) and "
            "after the call the analysis (summary, sentiment trend, talk/silence/overtalk)",
            "speech", params=(_path_param("call_id", _str(36)),))},
        "/api/v1/transcripts": {"get": _op(
            "Full-text search of the calls' transcripts: segments with every word of q",
            "speech", params=({"name": "q", "in": "query", "required": True,
                               "schema": _str(200)}, {**LIMIT, "schema": _int(1, 100)}))},
        "/api/v1/kb/articles": {
            "get": _op("The knowledge base's articles", "speech"),
            "post": _op("Add an article", "speech", ok=201, body=_obj({
                "title": _str(200), "body": _str(20000), "tags": TAGS,
                "language": _str(2, pattern=r"^[a-z]{2}$")}, ("title", "body")))},
        "/api/v1/kb/articles/{id}": {
            "patch": _op("Change an article (fields given only)", "speech",
                         params=(_path_param("id"),), body=_obj({
                             "title": _str(200), "body": _str(20000), "tags": TAGS,
                             "language": _str(2, pattern=r"^[a-z]{2}$")})),
            "delete": _op("Remove an article", "speech", params=(_path_param("id"),), ok=204)},
        "/api/v1/kb/suggestions": {"get": _op(
            "Articles for what was said, best first (agent assist; full-text ranking)",
            "speech", params=({"name": "text", "in": "query", "required": True,
                               "schema": _str(500)},))},
        "/api/v1/speech/status": {"get": _op(
            "The speech tap on this node: model, recognizer process (pid, restarts, ready), "
            "streams in use and the most allowed", "speech")},
        # -- outbound campaigns (control.campaigns) ---------------------------------
        "/api/v1/campaigns/{id}/dialing": {
            "get": _op("A campaign's dialing settings", "campaigns", params=ID),
            "put": _op("Create or change a campaign's dialing settings (the fields given)",
                       "campaigns", params=ID, body=DIALING),
        },
        "/api/v1/campaigns/{id}/start": {"post": _op("Start dialing", "campaigns", params=ID)},
        "/api/v1/campaigns/{id}/stop": {"post": _op(
            "Stop dialing (calls in progress go on)", "campaigns", params=ID)},
        "/api/v1/campaigns/{id}/list": {
            "get": _op("The calling list", "campaigns", params=(ID[0], {
                "name": "status", "in": "query", "schema": {"type": "string", "enum": [
                    "pending", "calling", "retry", "callback", "done", "dnc"]}})),
            "post": _op("Import a calling list: the CSV itself (a phone column; name, email) "
                        "or {csv}; answers the row-by-row report", "campaigns", params=ID,
                        body=CSV_BODY),
        },
        "/api/v1/campaigns/{id}/leads": {"post": _op(
            "Put existing leads on the calling list ({lead_ids} or {all: true})", "campaigns",
            params=ID, body=_obj({"lead_ids": {"type": "array", "items": _int(),
                                               "maxItems": 10000},
                                  "all": {"type": "boolean"}}))},
        "/api/v1/campaigns/{id}/attempts": {"get": _op("Every dial and its result",
                                                       "campaigns", params=ID)},
        "/api/v1/campaigns/{id}/figures": {"get": _op(
            "Dialled, answered, machines, abandoned % over the window, lines per agent, talk "
            "minutes, list penetration", "campaigns", params=ID)},
        "/api/v1/dnc": {
            "get": _op("The global do-not-call list", "campaigns"),
            "post": _op("Add numbers to the global do-not-call list (one per line, or a "
                        "CSV's first column; or {csv})", "campaigns", body=CSV_BODY),
        },
        "/api/v1/campaigns/{id}/dnc": {
            "get": _op("A campaign's do-not-call list", "campaigns", params=ID),
            "post": _op("Add numbers to a campaign's do-not-call list", "campaigns",
                        params=ID, body=CSV_BODY),
        },
        "/api/v1/campaigns/{id}/preview": {"post": _op(
            "Preview mode: the next lead for the agent to look at", "campaigns", params=ID,
            body=_obj({"agent_extension": EXTENSION}), body_required=False)},
        "/api/v1/campaigns/{id}/preview/{entry_id}": {"post": _op(
            "Dial or skip the lead shown", "campaigns",
            params=(ID[0], _path_param("entry_id")), ok=202,
            body=_obj({"action": {"type": "string", "enum": ["dial", "skip"]},
                       "agent_extension": EXTENSION}, ("action",)))},
        "/api/v1/campaign-callbacks": {"post": _op(
            "Book a call back to a lead at a time, put through to that agent", "campaigns",
            ok=201, body=_obj({"entry_id": _int(), "at": DATETIME,
                               "agent_extension": EXTENSION}, ("entry_id", "at")))},
        "/api/v1/campaign-calls/{call_id}/disposition": {"post": _op(
            "The agent's disposition of a campaign call (drives the retries; callback_at "
            "books a call back)", "campaigns", params=(_path_param("call_id", _str(36)),),
            body=_obj({"disposition": _str(32), "callback_at": DATETIME}, ("disposition",)))},
        # -- live events and this document ------------------------------------------
        "/api/v1/events": {"get": _op(
            "Websocket of live events {id, type, ts, data}; token as ?token= or header",
            "events", params=({"name": "token", "in": "query",
                                "schema": _str(2048, pattern=r"^[A-Za-z0-9._-]*$")},),
            ok=101, result="switching to the websocket protocol")},
        "/api/v1/events/catalog": {"get": _op(
            "Every event the websocket carries: name, audience (agent: the agent named by "
            "agent_extension; everyone; supervisors), summary, main payload keys. Names: "
            + ", ".join(EVENTS), "events")},
        "/api/v1/health": {"get": _op("Health of AMI, ARI, database, event bus", "health")},
        PATH: {"get": _op("This document", "health")},
    }


def _who(handler: Any, path: str) -> Schema:
    if getattr(handler, "__aitcomms_public__", False) or path.startswith(
            UNAUTHENTICATED_PREFIXES):
        return {"security": []}
    roles = sorted(getattr(handler, "__aitcomms_roles__", None) or ALL)
    return {"x-roles": roles, "description": f"Roles: {', '.join(roles)}."}


def document(app: web.Application | None = None) -> Schema:
    """The document; with the app, each operation says who may call it."""
    described = paths()
    if app is not None:
        for route in app.router.routes():
            path = route.resource.canonical if route.resource is not None else ""
            op = described.get(path, {}).get(route.method.lower())
            if op is not None:
                op.update(_who(route.handler, path))
    return {
        "openapi": "3.0.3",
        "info": {"title": "AIT-COMMS API", "version": "1",
                 "description": "The control plane of the AIT-COMMS contact center. Errors "
                                "are JSON {error, field, reason}; a token is obtained at "
                                "/api/v1/auth/login and sent as Authorization: Bearer."},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                                          "bearerFormat": "JWT"}}},
        "paths": described,
    }


@public
async def serve(request: web.Request) -> web.Response:
    return web.json_response(document(request.app))


def setup_routes(app: web.Application) -> None:
    app.router.add_get(PATH, serve)
