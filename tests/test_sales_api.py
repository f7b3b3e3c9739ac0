"""Sales (seed 002) over /api/v1: products and campaigns managed by supervisors
and admins, leads worked by agents along LEAD_TRANSITIONS and converted into
customers. Each write audited, each refusal JSON naming the field, roles and
lead ownership enforced; on SQLite and PostgreSQL. No telephony needed."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

import control.models  # noqa: F401  (every table on Base.metadata)
from control.auth.models import AuditEntry
from control.crm.models import Customer
from control.crm.sales import Campaign, Lead, Product
from control.crm.seed import seed
from control.db import Base, Database
from tests.harness.api import Api, api
from tests.test_auth_api import cheap_hashes  # noqa: F401  (autouse fixture)

SALES_TABLES = {"products", "campaigns", "leads"}
PRODUCT = {"code": "aut-tr-map", "name": "Auto todo riesgo", "type": "auto",
           "carrier": "Mapfre", "base_premium": "400.00"}


def _audit(a: Api, entity: str) -> list[tuple[str, str]]:
    with a.db.session() as s:
        return [(e.actor, e.action) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id))]


def test_migration_matches_the_models(database: Database) -> None:
    with database.engine.connect() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)

    def tables(diff: object) -> set[str]:
        items = diff if isinstance(diff, list) else [diff]
        names: set[str] = set()
        for item in items:
            for part in item:
                name = getattr(part, "name", None) if not isinstance(part, str) else part
                table = getattr(part, "table", None)
                names.update(n for n in (name, getattr(table, "name", None)) if n)
        return names

    mine = [d for d in diffs if (SALES_TABLES | {"totp_secret"}) & tables(d)]
    assert mine == []


async def test_products_and_campaigns_are_managed_by_supervisors(
        tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        agent, sup = await a.token("agent"), await a.token("supervisor")
        status, body = await a.call("POST", "/api/v1/products", agent, json=PRODUCT)
        assert status == 403 and body["error"] == "forbidden"
        status, body = await a.call("POST", "/api/v1/products", sup, json=PRODUCT)
        assert status == 201, body
        product = body["product"]
        assert product["code"] == "AUT-TR-MAP" and product["base_premium"] == "400.00"
        assert product["active"] is True
        status, body = await a.call("POST", "/api/v1/products", sup, json=PRODUCT)
        assert status == 409 and body["field"] == "code"
        for bad, field in (({"type": "boat"}, "type"), ({"base_premium": "-1"}, "base_premium"),
                           ({"code": "x"}, "code"), ({"colour": "red"}, "colour")):
            status, body = await a.call("POST", "/api/v1/products", sup,
                                        json={**PRODUCT, "code": "OTHER", **bad})
            assert status == 422 and body["field"] == field, body
        status, body = await a.call("PATCH", f"/api/v1/products/{product['id']}", sup,
                                    json={"base_premium": 420, "active": False})
        assert status == 200 and body["product"]["base_premium"] == "420.00"
        status, body = await a.call("GET", "/api/v1/products?active=true", agent)
        assert status == 200 and body["products"] == []
        status, body = await a.call("GET", "/api/v1/products", agent)
        assert [p["code"] for p in body["products"]] == ["AUT-TR-MAP"]

        campaign = {"name": "Renove Auto", "channel": "phone", "start_date": "2026-03-01",
                    "end_date": "2026-12-31", "product_id": product["id"]}
        status, body = await a.call("POST", "/api/v1/campaigns", sup, json=campaign)
        assert status == 422 and body["field"] == "product_id"  # not active
        await a.call("PATCH", f"/api/v1/products/{product['id']}", sup, json={"active": True})
        status, body = await a.call("POST", "/api/v1/campaigns", agent, json=campaign)
        assert status == 403
        status, body = await a.call("POST", "/api/v1/campaigns", sup,
                                    json={**campaign, "end_date": "2026-01-01"})
        assert status == 422 and body["field"] == "end_date"
        status, body = await a.call("POST", "/api/v1/campaigns", sup,
                                    json={**campaign, "product_id": 999})
        assert status == 404 and body["field"] == "product_id"
        status, body = await a.call("POST", "/api/v1/campaigns", sup, json=campaign)
        assert status == 201, body
        cid = body["campaign"]["id"]
        assert body["campaign"]["status"] == "planned"
        status, body = await a.call("PATCH", f"/api/v1/campaigns/{cid}", sup,
                                    json={"status": "active", "end_date": None})
        assert status == 200, body
        assert body["campaign"]["status"] == "active" and body["campaign"]["end_date"] is None
        status, body = await a.call("GET", "/api/v1/campaigns?status=active", agent)
        assert [c["name"] for c in body["campaigns"]] == ["Renove Auto"]
        status, body = await a.call("PATCH", f"/api/v1/campaigns/{cid}", sup,
                                    json={"channel": "fax"})
        assert status == 422 and body["field"] == "channel"
        assert _audit(a, "products") == [("sup@correduria.es", "create"),
                                         ("sup@correduria.es", "update"),
                                         ("sup@correduria.es", "update")]
        assert _audit(a, "campaigns") == [("sup@correduria.es", "create"),
                                          ("sup@correduria.es", "update")]


async def test_a_lead_is_worked_and_converted_into_a_customer(
        tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        agent = await a.token("agent")
        status, body = await a.call("POST", "/api/v1/leads", agent, json={
            "name": "Javier  Moreno", "phone": "611 22 33 44", "email": "Javier@Example.es",
            "source": "web", "product_interest": "auto", "agent_extension": "1001"})
        assert status == 201, body
        lead = body["lead"]
        assert lead["phone"] == "+34611223344" and lead["email"] == "javier@example.es"
        assert lead["status"] == "new" and lead["name"] == "Javier Moreno"
        path = f"/api/v1/leads/{lead['id']}"
        status, body = await a.call("PATCH", path, agent, json={"status": "qualified"})
        assert status == 409 and body["field"] == "status"
        status, body = await a.call("POST", f"{path}/convert", agent)
        assert status == 409 and body["field"] == "status"
        status, body = await a.call("PATCH", path, agent,
                                    json={"status": "contacted", "notes": "Llamar el lunes"})
        assert status == 200 and body["lead"]["status"] == "contacted"
        status, body = await a.call("PATCH", path, agent, json={"status": "converted"})
        assert status == 422 and body["field"] == "status"
        status, body = await a.call("PATCH", path, agent, json={"status": "qualified",
                                                                "notes": "Quiere todo riesgo"})
        assert status == 200 and body["lead"]["notes"] == "Llamar el lunes\nQuiere todo riesgo"
        status, body = await a.call("POST", f"{path}/convert", agent,
                                    json={"dni": "12345678Z"})
        assert status == 201, body
        assert body["customer_created"] is True
        customer = body["customer"]
        assert customer["phones"] == ["+34611223344"] and customer["dni"] == "12345678Z"
        assert body["lead"]["status"] == "converted"
        assert body["lead"]["customer_id"] == customer["id"]
        status, body = await a.call("POST", f"{path}/convert", agent)
        assert status == 409
        status, body = await a.call("PATCH", path, agent, json={"status": "lost"})
        assert status == 409
        assert _audit(a, "leads") == [("ana@correduria.es", a) for a in (
            "create", "update", "update", "convert")]
        assert ("ana@correduria.es", "create") in _audit(a, "customers")

        # a second lead with the same phone joins that customer instead of a duplicate
        status, body = await a.call("POST", "/api/v1/leads", agent, json={
            "name": "Javier Moreno", "phone": "+34 611 223 344", "source": "referral"})
        second = body["lead"]["id"]
        await a.call("PATCH", f"/api/v1/leads/{second}", agent, json={"status": "contacted"})
        status, body = await a.call("POST", f"/api/v1/leads/{second}/convert", agent)
        assert status == 200 and body["customer_created"] is False
        assert body["customer"]["id"] == customer["id"]
        with a.db.session() as s:
            assert s.scalar(select(func.count()).select_from(Customer)) == 1

        for bad, field in (({"phone": "12345"}, "phone"), ({"email": "nope"}, "email"),
                           ({"phone": "611223344", "product_interest": "boat"},
                            "product_interest"),
                           ({"phone": "611223344", "source": "Web Form!"}, "source"),
                           ({}, "phone"),
                           ({"phone": "611223344", "campaign_id": 7}, "campaign_id"),
                           ({"phone": "611223344", "agent_extension": "9999"},
                            "agent_extension")):
            status, body = await a.call("POST", "/api/v1/leads", agent,
                                        json={"name": "X Y", **bad})
            assert status in (404, 422) and body["field"] == field, (bad, body)


async def test_agents_work_their_own_and_unassigned_leads(tmp_path: Path,
                                                          database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        ana, luis = await a.token("agent"), await a.token("agent2")
        sup = await a.token("supervisor")
        ids = {}
        for name, ext in (("Para Ana", "1001"), ("Para Luis", "1002"), ("De nadie", None)):
            status, body = await a.call("POST", "/api/v1/leads", sup, json={
                "name": name, "phone": "+34 600 000 00" + str(len(ids)),
                "agent_extension": ext})
            assert status == 201, body
            ids[name] = body["lead"]["id"]
        status, body = await a.call("GET", "/api/v1/leads", ana)
        assert {lead["name"] for lead in body["leads"]} == {"Para Ana", "De nadie"}
        status, body = await a.call("GET", "/api/v1/leads", sup)
        assert len(body["leads"]) == 3
        status, body = await a.call("GET", "/api/v1/leads?agent=1002", sup)
        assert [lead["name"] for lead in body["leads"]] == ["Para Luis"]
        status, body = await a.call("GET", "/api/v1/leads?agent=1002", ana)
        assert status == 403
        status, body = await a.call("GET", f"/api/v1/leads/{ids['Para Luis']}", ana)
        assert status == 404
        status, body = await a.call("PATCH", f"/api/v1/leads/{ids['Para Luis']}", ana,
                                    json={"status": "contacted"})
        assert status == 404
        # an agent may not give a lead to someone else, nor create one for them
        status, body = await a.call("PATCH", f"/api/v1/leads/{ids['Para Ana']}", ana,
                                    json={"agent_extension": "1002"})
        assert status == 403
        status, body = await a.call("POST", "/api/v1/leads", ana, json={
            "name": "Otro", "phone": "+34600000009", "agent_extension": "1002"})
        assert status == 422 and body["field"] == "agent_extension"
        # working an unassigned lead takes it: Luis no longer sees it
        status, body = await a.call("PATCH", f"/api/v1/leads/{ids['De nadie']}", ana,
                                    json={"status": "contacted"})
        assert status == 200 and body["lead"]["agent_extension"] == "1001"
        status, body = await a.call("GET", "/api/v1/leads", luis)
        assert [lead["name"] for lead in body["leads"]] == ["Para Luis"]
        # the supervisor reassigns
        status, body = await a.call("PATCH", f"/api/v1/leads/{ids['De nadie']}", sup,
                                    json={"agent_extension": "1002"})
        assert status == 200 and body["lead"]["agent_extension"] == "1002"
        status, body = await a.call("GET", "/api/v1/leads?status=contacted", luis)
        assert [lead["name"] for lead in body["leads"]] == ["De nadie"]
        status, body = await a.call("GET", "/api/v1/leads?status=won", sup)
        assert status == 422 and body["field"] == "status"


def test_seed_adds_sales_demo_once(database: Database) -> None:
    with database.session() as s:
        seed(s)
    with database.session() as s:
        seed(s)  # idempotent
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Product)) == 4
        assert s.scalar(select(func.count()).select_from(Campaign)) == 3
        leads = list(s.scalars(select(Lead).order_by(Lead.id)))
        assert len(leads) == 4 and all(lead.phone and lead.phone.startswith("+34")
                                       for lead in leads)
        assert leads[0].campaign_id is not None and leads[1].agent_extension == "1001"
