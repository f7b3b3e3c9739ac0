"""Live events on /api/v1/events: who receives what (in-process bus), the
Redis path between two control plane instances, and, on the real stack, the
screen pop reaching the ringing agent's websocket before the agent answers."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from control.acd.models import Queue
from control.auth import service
from control.auth.models import User
from control.events import websocket as events_websocket
from control.events.bus import Event, RedisEventBus
from tests.conftest import StackUnderTest
from tests.harness.api import PASSWORD, USERS, Api, api, seed_users
from tests.harness.crm import sqlite_database
from tests.harness.rtp import RtpEndpoint
from tests.test_acd import add_agent, agent_phones, calls, rows, setup_queue, wait_until
from tests.test_auth_api import cheap_hashes  # noqa: F401  (autouse fixture)
from tests.test_calls import TRUNK_IP, caller

REDIS_URL = os.environ.get("AITCOMMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Socket:
    """A websocket of /api/v1/events and every message it received so far."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.closed_with: int | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))
        self.closed_with = self.ws.close_code

    def types(self) -> list[str]:
        return [m["type"] for m in self.messages if m["type"] != "queue.stats"]

    def of(self, type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == type]

    async def wait_for(self, type: str, timeout: float = 10) -> dict[str, Any]:
        found = await wait_until(lambda: self.of(type), timeout)
        assert found, f"no {type} within {timeout} s; got {self.types()}"
        return found[0]

    async def close(self) -> None:
        await self.ws.close()
        with suppress(asyncio.CancelledError):
            await self._reader


@asynccontextmanager
async def socket(session: aiohttp.ClientSession, url: str, token: str, *,
                 header: bool = False) -> AsyncIterator[Socket]:
    if header:
        ws = await session.ws_connect(url, headers={"Authorization": f"Bearer {token}"})
    else:
        ws = await session.ws_connect(url, params={"token": token})
    s = Socket(ws)
    try:
        yield s
    finally:
        await s.close()


def _url(a: Api) -> str:
    return str(a.client.make_url(events_websocket.PATH))


def _status(agent: str, status: str) -> dict[str, Any]:
    return {"agent": {"extension": agent, "status": status}}


# -- who receives what -------------------------------------------------------------


async def test_agents_receive_their_own_events_supervisors_all(tmp_path: Path) -> None:
    async with api(tmp_path) as a, aiohttp.ClientSession() as http:
        ana, luis, sup = (await a.token("agent"), await a.token("agent2"),
                          await a.token("supervisor"))
        async with socket(http, _url(a), ana) as ana_ws, \
                socket(http, _url(a), luis, header=True) as luis_ws, \
                socket(http, _url(a), sup) as sup_ws:
            await asyncio.sleep(0.1)  # subscribed
            for type, data in (
                ("call.incoming", {"call_id": "c1", "agent": "1001", "context": {}}),
                ("agent.status_changed", _status("1001", "ringing")),
                ("call.incoming", {"call_id": "c2", "agent": "1002", "context": {}}),
                ("call.answered", {"call": {"id": "c1", "agent_extension": "1001"}}),
                ("call.queued", {"call": {"id": "c3", "agent_extension": None}}),
                ("task.created", {"kind": "callback", "agent_extension": None}),
                ("agent.status_changed", _status("1002", "paused")),
            ):
                await a.bus.publish(type, data)
            await wait_until(lambda: len(sup_ws.messages) == 7)
            await asyncio.sleep(0.1)
        assert ana_ws.types() == ["call.incoming", "agent.status_changed", "call.answered"]
        assert [m["data"].get("call_id") for m in ana_ws.of("call.incoming")] == ["c1"]
        assert luis_ws.types() == ["call.incoming", "agent.status_changed"]
        assert len(sup_ws.messages) == 7
        first = sup_ws.messages[0]
        assert set(first) == {"id", "type", "ts", "data"} and isinstance(first["ts"], float)


async def test_api_writes_reach_the_socket(tmp_path: Path) -> None:
    async with api(tmp_path) as a, aiohttp.ClientSession() as http:
        ana = await a.token("agent")
        async with socket(http, _url(a), ana) as ws:
            await asyncio.sleep(0.1)
            status, body = await a.call("POST", "/api/v1/tasks", ana, json={
                "kind": "callback", "phone": "+34612345678", "agent_extension": "1001",
                "scheduled_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()})
            assert status == 201, body
            event = await ws.wait_for("task.created")
        assert event["data"]["task"]["id"] == body["task"]["id"]


async def test_refused_and_expired_tokens(tmp_path: Path) -> None:
    async with api(tmp_path) as a, aiohttp.ClientSession() as http:
        for params in ({}, {"token": "garbage"}):
            resp = await http.get(_url(a), params=params)
            body = await resp.json()
            assert resp.status == 401 and body["error"] in ("unauthenticated", "invalid_token")
        with a.db.session() as s:
            user = s.scalars(select(User).where(User.email == USERS["agent"])).one()
            # a token with one second to live
            short = service.issue_access_token(
                a.secret, user, now=datetime.now(UTC) - service.ACCESS_TTL + timedelta(seconds=1))
        async with socket(http, _url(a), short) as ws:
            assert await wait_until(lambda: ws.closed_with is not None, timeout=5)
        assert ws.closed_with == events_websocket.TOKEN_EXPIRED


async def test_queue_stats_while_a_socket_is_open(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_websocket, "QUEUE_STATS_EVERY_S", 0.2)
    async with api(tmp_path) as a, aiohttp.ClientSession() as http:
        with a.db.session() as s:
            s.add(Queue(name="autos"))
        async with socket(http, _url(a), await a.token("agent")) as ws:
            stats = await ws.wait_for("queue.stats", timeout=5)
    assert stats["data"]["queues"]["autos"] == {
        "waiting": 0, "longest_wait_s": 0.0, "talking": 0, "answered": 0, "abandoned": 0,
        "service_level": None}
    assert stats["data"]["agents"] == {"logged_out": 2}


# -- Redis: two control plane instances ------------------------------------------------


async def _redis_or_skip() -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()


async def test_event_raised_in_one_instance_reaches_a_socket_of_another(
        tmp_path: Path) -> None:
    await _redis_or_skip()
    db = sqlite_database(tmp_path)
    seed_users(db)
    try:
        async with api(tmp_path, RedisEventBus(REDIS_URL), db) as one, \
                api(tmp_path, RedisEventBus(REDIS_URL), db) as two, \
                aiohttp.ClientSession() as http:
            ana, sup = await two.token("agent"), await two.token("supervisor")
            async with socket(http, _url(two), ana) as ana_ws, \
                    socket(http, _url(two), sup) as sup_ws:
                await asyncio.sleep(0.1)
                await one.bus.publish("call.incoming", {"call_id": "r1", "agent": "1001",
                                                        "context": {"policies": []}})
                await one.bus.publish("call.incoming", {"call_id": "r2", "agent": "1002",
                                                        "context": {}})
                # and a write through the API of instance one
                status, _ = await one.call("POST", "/api/v1/tasks", await one.token("agent"),
                                           json={"kind": "callback", "phone": "612345678",
                                                 "scheduled_at": "2030-01-01T10:00:00Z"})
                assert status == 201
                await sup_ws.wait_for("task.created")
                incoming = await ana_ws.wait_for("call.incoming")
                await asyncio.sleep(0.2)
        assert incoming["data"]["call_id"] == "r1"
        assert [m["data"]["call_id"] for m in ana_ws.of("call.incoming")] == ["r1"]
        assert [m["data"]["call_id"] for m in sup_ws.of("call.incoming")] == ["r1", "r2"]
        # each event once, although both instances read the stream
        assert len(sup_ws.of("task.created")) == 1
    finally:
        db.dispose()


# -- on the real stack ------------------------------------------------------------------


def _login(stack: StackUnderTest, email: str) -> str:
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.port('http')}/api/v1/auth/login",
        data=json.dumps({"email": email, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(json.loads(resp.read())["access_token"])


async def test_ringing_agent_sees_the_customer_before_answering(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("db", "seed")  # María Rodríguez: +34 612 345 678, auto and home policies
    add_agent(stack, "1002", languages="es", skills="auto")
    email = "ws-agente-1002@correduria.es"
    stack.ensure_user(email, role="agent", agent="1002", password=PASSWORD)
    setup_queue(stack, "autos", "+34910000020", "1002", "--skills", "auto", "--wrapup", "1")
    token = await asyncio.to_thread(_login, stack, email)
    base = f"http://127.0.0.1:{stack.port('http')}"
    async with aiohttp.ClientSession() as http, \
            socket(http, f"{base}{events_websocket.PATH}", token) as ws, \
            agent_phones(stack, "1002") as phones:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        try:
            result = await caller(stack, "+34910000020", rtp, call_ms=3000,
                                  from_user="34612345678").run()
        finally:
            rtp.close()
        assert result.returncode == 0, result.output
        assert (await phones["1002"].result()).returncode == 0
        await ws.wait_for("call.completed", timeout=15)
        call = calls(stack)[-1]
        interactions = await wait_until(lambda: rows(
            stack, f"SELECT * FROM interactions WHERE call_id = '{call['id']}'"))
        # the agent wraps the call up through the same API
        async with http.patch(f"{base}/api/v1/interactions/{interactions[0]['id']}",
                              headers={"Authorization": f"Bearer {token}"},
                              json={"disposition": "consulta"}) as resp:
            assert resp.status == 200, await resp.text()
    incoming = ws.of("call.incoming")
    assert len(incoming) == 1, ws.types()
    pop = incoming[0]["data"]
    assert pop["agent"] == "1002" and pop["call_id"] == call["id"]
    assert pop["customer_id"] == call["customer_id"] is not None
    assert pop["context"]["customer"]["name"] == "María Rodríguez Sánchez"
    assert {p["number"] for p in pop["context"]["policies"]} == {
        "AUT-2026-000001", "HOG-2026-000001"}
    # before the agent answered: earlier on the socket than call.answered, and
    # stamped before the answer the ACD recorded
    types = ws.types()
    assert types.index("call.incoming") < types.index("call.answered"), types
    answered_at = call["answered_at"]
    answered_at = answered_at if answered_at.tzinfo else answered_at.replace(tzinfo=UTC)
    assert incoming[0]["ts"] < answered_at.timestamp()
    # the agent saw only its own events
    assert all(_concerns(m, "1002") for m in ws.messages if m["type"] != "queue.stats")
    # after hangup: the interaction of the customer, with the agent's wrap-up
    assert interactions[0]["customer_id"] == call["customer_id"]
    assert interactions[0]["agent_extension"] == "1002"
    assert interactions[0]["outcome"] == "answered"
    assert rows(stack, f"SELECT disposition FROM interactions WHERE id = "
                       f"{interactions[0]['id']}") == [{"disposition": "consulta"}]


def _concerns(message: dict[str, Any], extension: str) -> bool:
    event = Event(type=message["type"], data=message["data"])
    return extension in events_websocket.concerned_extensions(event)
