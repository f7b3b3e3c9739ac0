"""The REST API under /api/v1 on a real aiohttp server and a temporary SQLite
file: logins, tokens, roles, lock-out, and the customer endpoints. Every
refusal must be JSON naming the field. No telephony needed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import select

from control.acd.agents import create_agent
from control.api.app import DB, SETTINGS, create_app
from control.auth import routes as auth_routes
from control.auth import service
from control.auth.audit import CLI
from control.auth.models import AuditEntry, User
from control.crm import routes as crm_routes
from control.db import Database
from control.secrets import Secrets
from control.settings import Settings

PASSWORD = "correcto-caballo-42"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # argon2 at production cost is ~90 ms a hash: fine for a login, slow for a suite
    monkeypatch.setattr(service, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024,
                                                          parallelism=1))
    yield


@dataclass
class Api:
    client: TestClient  # type: ignore[type-arg]
    db: Database
    secret: str

    async def call(self, method: str, path: str, token: str | None = None,
                   **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = await self.client.request(method, path, headers=headers, **kwargs)
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, await resp.json()

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        status, body = await self.call("POST", "/api/v1/auth/login",
                                       json={"email": email, "password": password})
        assert status == 200, body
        return dict(body)

    async def token(self, email: str) -> str:
        return str((await self.login(email))["access_token"])


@asynccontextmanager
async def api(tmp_path: Path, db: Database) -> AsyncIterator[Api]:
    """The auth and customer API on db (the `database` fixture: each backend)."""
    with db.session() as s:
        create_agent(s, extension="1001", name="Ana García", password="sip-secret-1",
                     realm="aitcomms.local")
        service.create_user(s, actor=CLI, email="admin@correduria.es", role="admin",
                            password=PASSWORD)
        service.create_user(s, actor=CLI, email="sup@correduria.es", role="supervisor",
                            password=PASSWORD)
        service.create_user(s, actor=CLI, email="ana@correduria.es", role="agent",
                            password=PASSWORD, agent_extension="1001")
    settings = Settings(var_dir=tmp_path)
    app = web.Application()
    app[SETTINGS] = settings
    app[DB] = db
    auth_routes.setup_routes(app)
    crm_routes.setup_routes(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Api(client, db, Secrets(settings.secrets_file)["JWT_SECRET"])
    finally:
        await client.close()


def test_create_app_serves_the_api(tmp_path: Path) -> None:
    app = create_app(Settings(var_dir=tmp_path))  # not started: no AMI/ARI connection
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert {"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout",
            "/api/v1/auth/me", "/api/v1/customers", "/api/v1/customers/{id}",
            "/api/v1/customers/{id}/context"} <= paths


# -- authentication ---------------------------------------------------------------


async def test_login_me_and_wrong_password(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, database) as a:
        pair = await a.login("Ana@Correduria.es")
        assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900
        assert pair["user"] == {"id": 3, "email": "ana@correduria.es", "role": "agent",
                                "agent_extension": "1001", "active": True}
        assert await a.call("GET", "/api/v1/auth/me", pair["access_token"]) == (
            200, {"user": pair["user"]})
        for email, password in (("ana@correduria.es", "wrong-password"),
                                ("nobody@correduria.es", PASSWORD)):
            status, body = await a.call("POST", "/api/v1/auth/login",
                                        json={"email": email, "password": password})
            # the same answer: it must not tell which e-mails exist
            assert (status, body["error"]) == (401, "invalid_credentials")


async def test_missing_bad_and_expired_tokens_are_401(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, database) as a:
        with a.db.session() as s:
            user = s.scalars(select(User).where(User.email == "ana@correduria.es")).one()
            expired = service.issue_access_token(
                a.secret, user, now=datetime.now(UTC) - timedelta(minutes=16))
            forged = service.issue_access_token("not-the-secret-" * 3, user)
        refresh_token = (await a.login("ana@correduria.es"))["refresh_token"]
        for token, error in ((None, "unauthenticated"), ("garbage", "invalid_token"),
                             (expired, "token_expired"), (forged, "invalid_token"),
                             (refresh_token, "invalid_token")):
            for path in ("/api/v1/auth/me", "/api/v1/customers?q=garcia",
                         "/api/v1/customers/1/context"):
                status, body = await a.call("GET", path, token)
                assert (status, body["error"]) == (401, error), (path, token)
        resp = await a.client.get("/api/v1/customers?q=x")
        assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_role_without_permission_is_403(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, database) as a:
        agent = await a.token("ana@correduria.es")
        status, body = await a.call("GET", "/api/v1/audit", agent)
        assert (status, body["error"]) == (403, "forbidden")
        assert "supervisor" in body["reason"]
        for email in ("sup@correduria.es", "admin@correduria.es"):
            status, body = await a.call("GET", "/api/v1/audit?entity=users",
                                        await a.token(email))
            assert status == 200 and len(body["entries"]) == 3


async def test_refresh_rotates_and_logout_revokes(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, database) as a:
        first = await a.login("ana@correduria.es")
        status, second = await a.call("POST", "/api/v1/auth/refresh",
                                      json={"refresh_token": first["refresh_token"]})
        assert status == 200 and second["refresh_token"] != first["refresh_token"]
        assert (await a.call("GET", "/api/v1/auth/me", second["access_token"]))[0] == 200

        assert await a.call("POST", "/api/v1/auth/logout",
                            json={"refresh_token": second["refresh_token"]}) == (
            200, {"status": "logged_out"})
        status, body = await a.call("POST", "/api/v1/auth/refresh",
                                    json={"refresh_token": second["refresh_token"]})
        assert (status, body["error"]) == (401, "token_revoked")

        # a rotated-away token used again: every session of the user ends
        other = await a.login("ana@correduria.es")
        status, body = await a.call("POST", "/api/v1/auth/refresh",
                                    json={"refresh_token": first["refresh_token"]})
        assert (status, body["error"]) == (401, "token_revoked")
        status, body = await a.call("POST", "/api/v1/auth/refresh",
                                    json={"refresh_token": other["refresh_token"]})
        assert (status, body["error"]) == (401, "token_revoked")


async def test_five_failed_logins_lock_the_account(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, database) as a:
        bad = {"email": "ana@correduria.es", "password": "not-the-password"}
        for _ in range(5):
            status, body = await a.call("POST", "/api/v1/auth/login", json=bad)
            assert status == 401
        resp = await a.client.post("/api/v1/auth/login",
                                   json={"email": "ana@correduria.es", "password": PASSWORD})
        body = await resp.json()
        assert (resp.status, body["error"]) == (429, "account_locked")
        assert 1 <= int(resp.headers["Retry-After"]) <= 31
        with a.db.session() as s:
            user = s.scalars(select(User).where(User.email == "ana@correduria.es")).one()
            assert user.failed_logins == 5
            user.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # time passes
        await a.call("POST", "/api/v1/auth/login", json=bad)  # 6th failure: locked longer
        with a.db.session() as s:
            user = s.scalars(select(User).where(User.email == "ana@correduria.es")).one()
            assert user.locked_until is not None
            locked_for = user.locked_until.replace(tzinfo=UTC) - datetime.now(UTC)
            assert timedelta(seconds=50) < locked_for <= timedelta(seconds=60)
            user.locked_until = None
        await a.login("ana@correduria.es")  # a good login resets the count
        with a.db.session() as s:
            user = s.scalars(select(User).where(User.email == "ana@correduria.es")).one()
            assert user.failed_logins == 0
            locks = s.scalars(select(AuditEntry).where(AuditEntry.action == "lock")).all()
            assert len(locks) == 2


@pytest.mark.parametrize("kwargs,status,error,field", [
    ({"data": "{not json"}, 400, "invalid_json", None),
    ({"data": b"\xff\xfe"}, 400, "invalid_json", None),
    ({"json": ["a", "list"]}, 422, "invalid", "body"),
    ({"json": {"email": 5, "password": "x"}}, 422, "invalid", "email"),
    ({"json": {"email": "ana@correduria.es"}}, 422, "invalid", "password"),
    ({"json": {"email": "ana@correduria.es", "password": ["x"]}}, 422, "invalid", "password"),
])
async def test_bad_login_bodies(tmp_path: Path, database: Database, kwargs: dict[str, Any],
                                status: int, error: str, field: str | None) -> None:
    async with api(tmp_path, database) as a:
        got_status, body = await a.call("POST", "/api/v1/auth/login", **kwargs)
        assert (got_status, body["error"], body.get("field")) == (status, error, field)
        assert "Traceback" not in str(body)


# -- customers --------------------------------------------------------------------

MARIA = {"name": "María García López", "phones": ["612 34 56 78"], "dni": "12345678z",
         "email": "maria@example.es", "segment": "vip",
         "address": {"street": "Calle Mayor 1", "postal_code": "28013", "city": "Madrid"}}


async def test_create_find_and_context(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, database) as a:
        token = await a.token("ana@correduria.es")
        status, body = await a.call("POST", "/api/v1/customers", token, json=MARIA)
        assert status == 201, body
        customer = body["customer"]
        assert customer["phones"] == ["+34612345678"] and customer["dni"] == "12345678Z"
        for phone in ("612345678", "+34 612 34 56 78", "0034612345678", "34612345678"):
            status, body = await a.call("GET", "/api/v1/customers", token,
                                        params={"phone": phone})
            assert status == 200 and [c["id"] for c in body["customers"]] == [customer["id"]]
        for params in ({"dni": "12345678-Z"}, {"email": "MARIA@example.es"}, {"q": "garcía"}):
            status, body = await a.call("GET", "/api/v1/customers", token, params=params)
            assert [c["name"] for c in body["customers"]] == ["María García López"], params
        status, body = await a.call("GET", "/api/v1/customers", token,
                                    params={"phone": "699000000"})
        assert (status, body) == (200, {"customers": []})
        assert await a.call("GET", f"/api/v1/customers/{customer['id']}", token) == (
            200, {"customer": customer})
        status, ctx = await a.call("GET", f"/api/v1/customers/{customer['id']}/context", token)
        assert status == 200 and ctx["customer"]["id"] == customer["id"]
        assert {k: ctx[k] for k in ("policies", "claims", "quotes", "interactions", "tasks")} == {
            "policies": [], "claims": [], "quotes": [], "interactions": [], "tasks": []}
        with a.db.session() as s:
            entry = s.scalars(select(AuditEntry).where(AuditEntry.entity == "customers")).one()
            assert (entry.actor, entry.action, entry.entity_id) == (
                "ana@correduria.es", "create", str(customer["id"]))
            assert entry.user_id == 3


@pytest.mark.parametrize("change,status,error,field", [
    ({"phones": "612345678"}, 422, "invalid", "phones"),
    ({"phones": [612345678]}, 422, "invalid", "phones"),
    ({"phones": ["12"]}, 422, "invalid", "phones"),
    ({"name": None}, 422, "invalid", "name"),
    ({"name": 7}, 422, "invalid", "name"),
    ({"dni": "12345678A"}, 422, "invalid", "dni"),
    ({"email": "maria"}, 422, "invalid", "email"),
    ({"address": "Madrid"}, 422, "invalid", "address"),
    ({"address": {"postal_code": 28013}}, 422, "invalid", "address.postal_code"),
    ({"segment": "platinum"}, 422, "invalid", "segment"),
    ({"phone": "612345678"}, 422, "invalid", "phone"),
])
async def test_bad_customer_bodies_name_the_field(tmp_path: Path, database: Database,
                                                  change: dict[str, Any], status: int,
                                                  error: str, field: str) -> None:
    async with api(tmp_path, database) as a:
        token = await a.token("ana@correduria.es")
        got, body = await a.call("POST", "/api/v1/customers", token, json={**MARIA, **change})
        assert (got, body["error"], body["field"]) == (status, error, field), body
        assert body["reason"]


async def test_customer_refusals(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, database) as a:
        token = await a.token("ana@correduria.es")
        assert (await a.call("POST", "/api/v1/customers", token, json=MARIA))[0] == 201
        status, body = await a.call("POST", "/api/v1/customers", token,
                                    json={**MARIA, "phones": ["699112233"]})
        assert (status, body["error"], body["field"]) == (409, "conflict", "dni")
        status, body = await a.call("POST", "/api/v1/customers", token, data="{")
        assert (status, body["error"]) == (400, "invalid_json")
        for path, code, field in (
            ("/api/v1/customers/999", 404, "id"),
            ("/api/v1/customers/999/context", 404, "id"),
            ("/api/v1/customers/abc", 422, "id"),
            ("/api/v1/customers/-1/context", 422, "id"),
            ("/api/v1/customers?phone=12", 422, "phone"),
            ("/api/v1/customers?dni=12345678A", 422, "dni"),
            ("/api/v1/customers", 422, "q"),
            ("/api/v1/customers?q=ab&limit=many", 422, "limit"),
            ("/api/v1/customers?q=ab&limit=1000", 422, "limit"),
        ):
            status, body = await a.call("GET", path, token)
            assert (status, body.get("field")) == (code, field), (path, body)
        status, body = await a.call("GET", "/api/v1/nothing-here", token)
        assert (status, body["error"]) == (404, "not_found")
        status, body = await a.call("DELETE", "/api/v1/customers/1", token)
        assert (status, body["error"]) == (405, "method_not_allowed")
