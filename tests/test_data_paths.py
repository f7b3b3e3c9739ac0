"""The scale-out paths on real servers: PostgreSQL (schema, Kamailio's views)
and Redis (an event raised in one control plane reaches another). They use the
servers on 127.0.0.1 and are skipped, saying so, where those are not running."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from control.acd.agents import create_agent, sip_ha1
from control.db import Database
from control.events.bus import EventBus, RedisEventBus
from control.provisioning.trunks import create_trunk
from control.settings import Settings

PG_ADMIN_URL = os.environ.get("AITCOMMS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AITCOMMS_TEST_REDIS", "redis://127.0.0.1:6379/15")


def _reachable(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not _reachable(5432):
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    import psycopg

    name = f"aitcomms_t_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _databases(tmp_path: Path, pg_url: str | None) -> Database:
    return Database(Settings(var_dir=tmp_path, database_url_env=pg_url))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_schema_and_kamailio_views(tmp_path: Path, backend: str,
                                   request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    db = _databases(tmp_path, url)
    db.upgrade()
    db.upgrade()  # idempotent
    with db.session() as session:
        create_agent(session, extension="1001", name="Ana", password="ana-secret-1",
                     realm="aitcomms.local")
        create_trunk(session, name="carrier", host="127.0.0.2", port=5060)
    with db.engine.connect() as conn:
        sub = conn.execute(text("SELECT username, ha1 FROM kamailio_subscriber")).all()
        addr = conn.execute(text(
            "SELECT grp, ip_addr, mask, port, tag FROM kamailio_trunk_address")).all()
        versions = dict(conn.execute(text(
            "SELECT table_name, table_version FROM kamailio_version")).all())
    assert sub == [("1001", sip_ha1("1001", "aitcomms.local", "ana-secret-1"))]
    assert addr == [(1, "127.0.0.2", 32, 0, "carrier")]
    assert versions == {"kamailio_version": 1, "kamailio_subscriber": 7,
                        "kamailio_trunk_address": 6, "kamailio_dispatcher": 4}
    db.dispose()


async def test_in_process_bus_delivers_to_every_subscriber() -> None:
    bus = EventBus()
    async with bus.subscribe() as a, bus.subscribe() as b:
        await bus.publish("agent.status_changed", {"agent": "1001", "status": "available"})
        for q in (a, b):
            event = await asyncio.wait_for(q.get(), 1)
            assert event.type == "agent.status_changed" and event.data["agent"] == "1001"


async def test_redis_bus_crosses_instances() -> None:
    if not _reachable(6379):
        pytest.skip("no Redis on 127.0.0.1:6379")
    one, two = RedisEventBus(REDIS_URL), RedisEventBus(REDIS_URL)
    await one.start()
    await two.start()
    try:
        async with two.subscribe() as inbox:
            for _ in range(50):  # wait until both readers are attached
                if one.healthy and two.healthy:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.2)
            marker = uuid.uuid4().hex
            await one.publish("call.incoming", {"marker": marker})
            while True:
                event = await asyncio.wait_for(inbox.get(), 5)
                if event.data.get("marker") == marker:
                    break
        assert event.type == "call.incoming"
    finally:
        await one.close()
        await two.close()
