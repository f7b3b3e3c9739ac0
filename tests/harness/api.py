"""The whole /api/v1 surface on a real aiohttp server, a temporary database
(SQLite unless a test gives one) and a given event bus, built by the
production create_app without its links to Asterisk (no AMI, ARI or
FastAGI; the ACD runs but rings nobody): what the API tests drive."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from control.acd.agents import create_agent
from control.api.app import create_app
from control.api.keys import Apply
from control.auth import service
from control.auth.audit import CLI
from control.db import Database
from control.events.bus import Event, EventBus
from control.secrets import Secrets
from control.settings import Settings
from tests.harness.crm import sqlite_database

PASSWORD = "correcto-caballo-42"
USERS = {"admin": "admin@correduria.es", "supervisor": "sup@correduria.es",
         "agent": "ana@correduria.es", "agent2": "luis@correduria.es"}


@dataclass
class Api:
    client: TestClient  # type: ignore[type-arg]
    db: Database
    bus: EventBus
    secret: str
    app: web.Application

    async def call(self, method: str, path: str, token: str | None = None,
                   **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = await self.client.request(method, path, headers=headers, **kwargs)
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, await resp.json()

    async def token(self, who: str) -> str:
        status, body = await self.call("POST", "/api/v1/auth/login",
                                       json={"email": USERS[who], "password": PASSWORD})
        assert status == 200, body
        return str(body["access_token"])


def seed_users(db: Database) -> None:
    """Agents 1001 (Ana) and 1002 (Luis) with their users, a supervisor, an admin."""
    with db.session() as s:
        for ext, name in (("1001", "Ana García"), ("1002", "Luis Pérez")):
            create_agent(s, extension=ext, name=name, password=f"sip-secret-{ext}",
                         realm="aitcomms.local")
        for role, email in USERS.items():
            service.create_user(s, actor=CLI, email=email, role=role.rstrip("2"),
                                password=PASSWORD,
                                agent_extension={"agent": "1001", "agent2": "1002"}.get(role))


def build_app(settings: Settings, db: Database, bus: EventBus,
              apply: Apply | None = None) -> web.Application:
    """The production app (control.api.app.create_app) without its links to
    Asterisk (AMI, ARI, FastAGI); ``apply`` stands for pushing data changes
    into a stack (default: nothing to push to)."""
    return create_app(settings, db=db, bus=bus, telephony=False,
                      apply=apply or (lambda *_: None))


@asynccontextmanager
async def api(tmp_path: Path, bus: EventBus | None = None,
              db: Database | None = None, seed: bool | None = None,
              apply: Apply | None = None) -> AsyncIterator[Api]:
    """A running API with the users of seed_users: on a fresh SQLite database
    unless one is given (two instances may share one; a given database is
    seeded only with seed=True, e.g. the empty one of the `database` fixture)."""
    own_db = db is None
    if db is None:
        db = sqlite_database(tmp_path)
    if seed if seed is not None else own_db:
        seed_users(db)
    bus = bus or EventBus()
    settings = Settings(var_dir=tmp_path)
    app = build_app(settings, db, bus, apply)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Api(client, db, bus, Secrets(settings.secrets_file)["JWT_SECRET"], app)
    finally:
        await client.close()
        if own_db:
            db.dispose()


class Recorder:
    """Everything published on a bus while it is open."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.events: list[Event] = []
        self._orig = bus._deliver

    def __enter__(self) -> Recorder:
        def deliver(event: Event) -> None:
            self.events.append(event)
            self._orig(event)

        self.bus._deliver = deliver  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.bus._deliver = self._orig  # type: ignore[method-assign]

    def of(self, type: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.type == type]
