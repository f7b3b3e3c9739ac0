"""The OpenAPI document: it describes exactly the routes the app has, with
the roles each handler really enforces; and schemathesis, generating
requests from it against the running API (a temporary SQLite database, an
admin's token), never gets a 5xx."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings

from control.api import openapi
from control.api.app import create_app
from control.auth.models import User
from control.auth.service import issue_access_token
from control.events.bus import EventBus
from control.provisioning import trunks
from control.secrets import Secrets
from control.settings import Settings
from tests.harness.api import USERS, build_app, seed_users
from tests.harness.crm import sqlite_database

ROLES = {"admin", "supervisor", "agent"}


def _routes(app: web.Application) -> dict[tuple[str, str], Any]:
    return {(r.method.lower(), r.resource.canonical): r.handler for r in app.router.routes()
            if r.resource is not None and r.resource.canonical.startswith("/api/v1")
            and r.method != "HEAD"}


def test_every_route_is_described_with_its_roles(tmp_path: Path) -> None:
    app = create_app(Settings(var_dir=tmp_path))  # not started: no AMI/ARI connection
    routes = _routes(app)
    doc = openapi.document(app)
    described = {(method, path): op for path, ops in doc["paths"].items()
                 for method, op in ops.items()}
    assert set(described) == set(routes), (
        f"undocumented: {sorted(set(routes) - set(described))}; "
        f"documented but gone: {sorted(set(described) - set(routes))}")
    public = {key for key, op in described.items() if op.get("security") == []}
    assert public == {("post", "/api/v1/auth/login"), ("post", "/api/v1/auth/refresh"),
                      ("post", "/api/v1/auth/logout"), ("get", "/api/v1/health"),
                      ("get", openapi.PATH), ("get", "/api/v1/events"),
                      # authenticated by the handler: an <audio> element sends ?token=
                      ("get", "/api/v1/calls/{call_id}/recording")}
    for key, op in described.items():
        assert key in public or set(op["x-roles"]) <= ROLES, key
    # the CRM's decisions are for supervisors and admins only
    for key in (("post", "/api/v1/policies/{id}/cancel"), ("post", "/api/v1/claims/{id}/deny"),
                ("post", "/api/v1/claims/{id}/approve"), ("get", "/api/v1/analytics/calls")):
        assert described[key]["x-roles"] == ["admin", "supervisor"], key


async def test_document_is_served_without_a_token(tmp_path: Path) -> None:
    from tests.harness.api import api

    async with api(tmp_path) as a:
        resp = await a.client.get(openapi.PATH)
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.") and "/api/v1/quotes/auto" in doc["paths"]
    assert doc["paths"]["/api/v1/quotes/auto"]["post"]["x-roles"] == [
        "admin", "agent", "supervisor"]
    schemathesis.openapi.from_dict(doc)  # a valid OpenAPI 3 document


# -- schemathesis ----------------------------------------------------------------------

schema = schemathesis.openapi.from_dict(openapi.document())


class _Server:
    """The API on a real port in a thread of its own: schemathesis calls it
    synchronously (requests) from the test."""

    def __init__(self, tmp: Path) -> None:
        self.db = sqlite_database(tmp)
        seed_users(self.db)
        self.settings = Settings(var_dir=tmp)
        with self.db.session() as s:
            admin = s.query(User).filter(User.email == USERS["admin"]).one()
            self.token = issue_access_token(Secrets(self.settings.secrets_file)["JWT_SECRET"],
                                            admin)
        self.loop = asyncio.new_event_loop()
        self.url = ""
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def _app(self) -> web.Application:
        bus = EventBus()
        app = build_app(self.settings, self.db, bus)
        return app

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self._app(), access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self.runner = runner
        ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.db.dispose()


def _offline_resolve(host: str) -> str:
    """Trunk hosts without DNS: a generated name must not send a query off
    this machine (only IP addresses are accepted here)."""
    import ipaddress

    from control.errors import InvalidInput

    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise InvalidInput("host", "no DNS in this test") from None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    real = trunks.resolve_host
    trunks.resolve_host = _offline_resolve  # type: ignore[assignment]
    s = _Server(tmp_path_factory.mktemp("openapi"))
    try:
        yield s
    finally:
        s.stop()
        trunks.resolve_host = real  # type: ignore[assignment]


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any, server: _Server) -> None:
    response = case.call(base_url=server.url,
                         headers={"Authorization": f"Bearer {server.token}"}, timeout=10)
    # health's documented 503: this app has no Asterisk (AMI and ARI down)
    degraded = (response.status_code == 503 and case.formatted_path.endswith("/health")
                and json.loads(response.text).get("status") == "degraded")
    assert response.status_code < 500 or degraded, (
        f"{case.method} {case.formatted_path} {case.body!r} → {response.status_code} "
        f"{response.text}")
    if response.status_code >= 400 and not degraded:
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
            f"{case.method} {case.formatted_path} → {response.status_code} {response.text}")
        body = json.loads(response.text)  # every refusal is JSON...
        assert "error" in body and "Traceback" not in response.text  # ...never a traceback
