"""The web UI's server side: pages and assets served at /, the softphone's
credentials (HA1, never a password), that an agent can reach neither the
supervisor's nor the admin's API (every such operation answers 403), and the
admin page's dialplan API (admins only)."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from control.api import openapi
from control.api.app import SETTINGS
from control.crm.models import Customer
from control.events.bus import EventBus
from control.settings import PROJECT_ROOT, Settings
from tests.harness.api import PASSWORD, USERS, build_app, seed_users
from tests.harness.crm import sqlite_database

BUILT = (PROJECT_ROOT / "web" / "dist" / "index.html").exists()
PAGES = ("/", "/login", "/agent", "/wallboard", "/admin")


@asynccontextmanager
async def web_api(tmp_path: Path, root: Path = PROJECT_ROOT) -> AsyncIterator[TestClient]:
    db = sqlite_database(tmp_path)
    seed_users(db)
    bus = EventBus()
    settings = Settings(var_dir=tmp_path, root=root)
    app = build_app(settings, db, bus)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        db.dispose()


async def _token(client: TestClient, who: str) -> str:
    resp = await client.post("/api/v1/auth/login",
                             json={"email": USERS[who], "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


@pytest.mark.skipif(not BUILT, reason="web/ is not built (make setup)")
async def test_pages_and_assets_are_served(tmp_path: Path) -> None:
    async with web_api(tmp_path) as client:
        await _pages_and_assets_are_served(client)


async def _pages_and_assets_are_served(client: TestClient) -> None:
    for path in PAGES:
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.content_type == "text/html"
        assert '<script src="/assets/app.js">' in await resp.text()
    js = await client.get("/assets/app.js")
    assert js.status == 200 and "javascript" in js.content_type
    assert "JsSIP" in await js.text()  # the softphone is bundled
    assert (await client.get("/assets/app.css")).status == 200
    assert (await client.get("/assets/../../control/settings.py")).status in (403, 404)


async def test_a_missing_build_says_how_to_build(tmp_path: Path) -> None:
    async with web_api(tmp_path, root=tmp_path) as client:
        resp = await client.get("/agent")
        assert resp.status == 503
        assert "make setup" in await resp.text()


async def test_softphone_gets_its_own_ha1_never_a_password(tmp_path: Path) -> None:
    async with web_api(tmp_path) as client:
        await _softphone_gets_its_own_ha1_never_a_password(client)


async def _softphone_gets_its_own_ha1_never_a_password(client: TestClient) -> None:
    assert (await client.get("/api/v1/softphone")).status == 401
    token = await _token(client, "agent")
    resp = await client.get("/api/v1/softphone", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    ha1 = hashlib.md5(b"1001:aitcomms.local:sip-secret-1001").hexdigest()
    assert body == {"extension": "1001", "display_name": "Ana García", "realm": "aitcomms.local",
                    "domain": "aitcomms.local", "ha1": ha1, "wss_port": Settings().ports.wss}
    assert "sip-secret-1001" not in await resp.text()
    admin = await _token(client, "admin")  # no extension: no phone
    resp = await client.get("/api/v1/softphone", headers={"Authorization": f"Bearer {admin}"})
    assert resp.status == 404 and (await resp.json())["field"] == "user"


async def test_agent_is_refused_every_supervisor_and_admin_operation(tmp_path: Path) -> None:
    async with web_api(tmp_path) as client:
        await _agent_is_refused(client)


async def _agent_is_refused(client: TestClient) -> None:
    """Whatever the OpenAPI document marks as not for agents answers an agent 403
    (and the supervisor or admin it is for gets past the role check)."""
    doc = openapi.document(client.app)
    closed = [(method, path, op["x-roles"]) for path, ops in doc["paths"].items()
              for method, op in ops.items() if "x-roles" in op and "agent" not in op["x-roles"]]
    assert len(closed) >= 8, closed
    for needed in (("post", "/api/v1/supervision"), ("get", "/api/v1/audit"),
                   ("get", "/api/v1/analytics/calls"), ("get", "/api/v1/calls/{call_id}/routing")):
        assert needed in [(m, p) for m, p, _ in closed], needed
    tokens = {who: await _token(client, who) for who in ("agent", "supervisor", "admin")}
    for method, path, roles in closed:
        url = re.sub(r"\{[a-z_]+\}", "1", path)
        resp = await client.request(method.upper(), url, json={},
                                    headers={"Authorization": f"Bearer {tokens['agent']}"})
        assert resp.status == 403, (method, url, resp.status, await resp.text())
        body = await resp.json()
        assert body["error"] == "forbidden", body
        allowed = await client.request(method.upper(), url, json={},
                                       headers={"Authorization": f"Bearer {tokens[roles[0]]}"})
        assert allowed.status != 403, (method, url, roles[0], await allowed.text())


async def test_dialplan_versions_are_for_admins_only(tmp_path: Path) -> None:
    async with web_api(tmp_path) as client:
        tokens = {who: await _token(client, who) for who in ("agent", "supervisor", "admin")}
        for who in ("agent", "supervisor"):
            for method, url in (("GET", "/api/v1/dialplan/versions"),
                                ("GET", "/api/v1/dialplan/diff"),
                                ("POST", "/api/v1/dialplan/apply"),
                                ("POST", "/api/v1/dialplan/versions/1/rollback")):
                resp = await client.request(method, url, headers={
                    "Authorization": f"Bearer {tokens[who]}"})
                assert resp.status == 403, (who, method, url, resp.status)
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        resp = await client.get("/api/v1/dialplan/versions", headers=admin)
        assert resp.status == 200
        assert await resp.json() == {"versions": [], "running_sha256": None,
                                     "running_version": None}
        for method, url in (("GET", "/api/v1/dialplan/versions/7"),
                            ("POST", "/api/v1/dialplan/versions/7/rollback")):
            resp = await client.request(method, url, headers=admin)
            assert resp.status == 404 and (await resp.json())["field"] == "id", url


async def test_dialplan_validate_and_simulate_through_the_api(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """validate (a scratch Asterisk parses the render, nothing changes) and
    simulate (the path of a call to the real seguros line) for admins; bad
    input is refused naming the field."""
    from control.acd.queues import create_queue
    from control.api.app import DB
    from control.crm.seed import seed
    from control.ivr.flows import load_flows
    from control.provisioning.dialplan import running_file
    from control.provisioning.trunks import create_did

    folder = tmp_path / "dialplans"
    shutil.copytree(PROJECT_ROOT / "dialplans", folder)
    monkeypatch.setenv("AITCOMMS_DIALPLANS", str(folder))
    async with web_api(tmp_path) as client:
        db = client.app[DB]
        with db.session() as s:
            seed(s)
            create_queue(s, name="autos", skills=["auto"])
            create_did(s, number="+34910000020", target="ivr:seguros",
                       ivrs=load_flows(folder / "ivr"))
            maria = s.scalar(select(Customer.id).where(Customer.dni == "12345678Z"))
        tokens = {who: await _token(client, who) for who in ("agent", "supervisor", "admin")}
        for who in ("agent", "supervisor"):
            for url in ("/api/v1/dialplan/validate", "/api/v1/dialplan/simulate"):
                resp = await client.post(url, json={}, headers={
                    "Authorization": f"Bearer {tokens[who]}"})
                assert resp.status == 403, (who, url, resp.status)
        admin = {"Authorization": f"Bearer {tokens['admin']}"}

        resp = await client.post("/api/v1/dialplan/validate", headers=admin)
        body = await resp.json()
        assert resp.status == 200 and body["ok"], body
        # seguros hands callers to hogar and operador, which this stack lacks
        assert any("no queue named hogar" in w for w in body["warnings"]), body
        assert not running_file(client.app[SETTINGS]).exists()  # nothing applied
        template = folder / "extensions.conf.j2"
        good = template.read_text()
        template.write_text(good + "\n[broken]\nexten => s,1,NoSuchApp(1)\n")
        resp = await client.post("/api/v1/dialplan/validate", headers=admin)
        body = await resp.json()
        assert resp.status == 422 and body["field"] == "dialplan", body
        assert any("'NoSuchApp' does not exist" in e for e in body["errors"]), body
        template.write_text(good + "\n{% for x in %}\n")
        resp = await client.post("/api/v1/dialplan/validate", headers=admin)
        body = await resp.json()
        assert resp.status == 422 and "extensions.conf.j2, line" in body["reason"], body
        template.write_text(good)
        assert not running_file(client.app[SETTINGS]).exists()

        # María calls on a Tuesday morning: Spanish (1), autos (1)
        call = {"from": "+34612345678", "to": "+34 910 000 020", "digits": "11",
                "at": "2026-03-03 10:00"}
        resp = await client.post("/api/v1/dialplan/simulate", json=call, headers=admin)
        body = await resp.json()
        assert resp.status == 200, body
        assert body["at"] == "2026-03-03T10:00:00+01:00"
        assert body["nodes"] == ["horario", "idioma", "quien", "principal", "cola_autos"]
        assert (body["end"], body["queue"], body["language"], body["skills"],
                body["customer_id"]) == ("queue", "autos", "es", ["auto", "claims", "home"],
                                         maria), body  # her file adds claims and home
        assert any(line.startswith("[horario] hours: Tue 10:00") and line.endswith("open")
                   for line in body["path"]), body["path"]
        # the same call at night: closed, the callback offer
        resp = await client.post("/api/v1/dialplan/simulate", headers=admin,
                                 json={**call, "at": "2026-03-03 22:30", "digits": "1"})
        body = await resp.json()
        assert resp.status == 200 and body["nodes"][:2] == ["horario", "cerrado"], body
        assert "devolucion" in body["nodes"] and body["end"] == "hangup", body

        for bad, field in (({"to": "+34910000020"}, "from"),
                           ({"from": "+34612345678"}, "to"),
                           ({**call, "at": "2026-02-30 10:00"}, "at"),
                           ({**call, "at": "tomorrow"}, "at"),
                           ({**call, "tz": "Mars/Olympus"}, "tz"),
                           ({**call, "to": "+34910000099"}, "to"),
                           ({**call, "to": "12345"}, "to"),
                           ({**call, "from": "ana"}, "from"),
                           ({**call, "digits": "12a"}, "digits"),
                           ({**call, "dtmf": "1"}, "dtmf")):
            resp = await client.post("/api/v1/dialplan/simulate", json=bad, headers=admin)
            body = await resp.json()
            assert resp.status == 422 and body["field"] == field, (bad, resp.status, body)
        resp = await client.post("/api/v1/dialplan/simulate", data=b"{", headers=admin)
        assert resp.status == 400
