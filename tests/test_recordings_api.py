"""Call history and the recordings library through the API, on SQLite and
PostgreSQL: filters (and bad ones refused naming the field), agents limited
to their own calls, a call's timeline, a recording played by ranges and
downloaded (audited), and the retention job deleting exactly the
recordings past their queue's policy.

The calls here are rows written as the ACD writes them; tests/test_recordings.py
makes them with real calls through the stack."""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from control.acd.models import Call, CallEvent, Queue, RoutingDecision
from control.acd.queues import create_queue
from control.auth.audit import Actor
from control.auth.models import AuditEntry
from control.crm.customers import create_customer, record_interaction
from control.crm.models import Interaction
from control.db import Database
from control.events.bus import EventBus
from control.recordings import retention
from control.settings import Settings
from tests.harness.api import PASSWORD, USERS, build_app, seed_users

T = Actor("test")
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Rec:
    client: TestClient  # type: ignore[type-arg]
    db: Database
    folder: Path
    tokens: dict[str, str]

    async def get(self, path: str, who: str = "supervisor", **kw: Any) -> tuple[int, Any]:
        resp = await self.client.get(
            path, headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kw)
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, await resp.json()

    async def ids(self, query: str, who: str = "supervisor") -> list[str]:
        status, body = await self.get(f"/api/v1/calls?{query}", who)
        assert status == 200, body
        return [c["id"] for c in body["calls"]]


@asynccontextmanager
async def open_rec(database: Database, tmp_path: Path) -> AsyncIterator[Rec]:
    """The API (the production app, no Asterisk) on ``database``, with its users
    signed in and a recordings folder of its own."""
    seed_users(database)
    folder = tmp_path / "recordings"
    folder.mkdir()
    settings = Settings(var_dir=tmp_path, recordings_dir=folder)
    client = TestClient(TestServer(build_app(settings, database, EventBus())))
    await client.start_server()
    tokens = {}
    for who in ("admin", "supervisor", "agent", "agent2"):
        resp = await client.post("/api/v1/auth/login",
                                 json={"email": USERS[who], "password": PASSWORD})
        tokens[who] = (await resp.json())["access_token"]
    try:
        yield Rec(client, database, folder, tokens)
    finally:
        await client.close()


def write_wav(path: Path, seconds: float = 2.0, hz: int = 440) -> bytes:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / 8000)))
            for i in range(int(8000 * seconds))))
    return path.read_bytes()


def add_call(db: Database, call_id: str, *, queue: str = "autos", agent: str | None = "1001",
             entered: datetime = NOW - timedelta(hours=1), talk_s: int | None = 120,
             direction: str = "inbound", customer_id: int | None = None,
             number: str = "+34600000000", recording: Path | None = None) -> None:
    answered = entered + timedelta(seconds=10) if talk_s is not None else None
    ended = (answered + timedelta(seconds=talk_s)) if answered and talk_s is not None \
        else entered + timedelta(seconds=30)
    with db.session() as s:
        s.add(Call(id=call_id, caller_channel=f"chan-{call_id}", queue=queue,
                   caller_number=number, customer_id=customer_id, agent_extension=agent,
                   state="completed" if answered else "abandoned", entered_at=entered,
                   answered_at=answered, ended_at=ended, direction=direction,
                   recording=str(recording) if recording else None))


def three_calls(db: Database, folder: Path) -> dict[str, Any]:
    """A: María's inbound sale with 1001, recorded; B: 1002's outbound call;
    C: an abandoned call two days ago in another queue."""
    with db.session() as s:
        maria = create_customer(s, actor=T, name="María Rodríguez Sánchez",
                                phones=["+34612345678"])
        maria_id = maria.id
    wav = write_wav(folder / "call-a.wav")
    add_call(db, "call-a", customer_id=maria_id, number="+34612345678",
             recording=folder / "call-a.wav")
    add_call(db, "call-b", queue="", agent="1002", direction="outbound", talk_s=60,
             entered=NOW - timedelta(minutes=30), number="34699000111")  # as the trunk sent it
    add_call(db, "call-c", queue="hogar", agent=None, talk_s=None,
             entered=NOW - timedelta(days=2))
    with db.session() as s:
        record_interaction(s, actor=T, customer_id=maria_id, direction="inbound",
                           outcome="answered", started_at=NOW - timedelta(hours=1),
                           call_id="call-a", duration_s=120, agent_extension="1001")
        s.flush()
        interaction = s.scalar(select(Interaction).where(Interaction.call_id == "call-a"))
        assert interaction is not None
        interaction.disposition, interaction.notes = "venta", "póliza de auto emitida"
    return {"maria": maria_id, "wav": wav}


async def test_history_filters_and_pages(database: Database, tmp_path: Path) -> None:
    async with open_rec(database, tmp_path) as rec:
        three_calls(rec.db, rec.folder)
        assert await rec.ids("") == ["call-b", "call-a", "call-c"]  # newest first
        assert await rec.ids("queue=autos") == ["call-a"]
        assert await rec.ids("agent=1002") == ["call-b"]
        assert await rec.ids("customer=maria") == ["call-a"]  # accents and case folded
        assert await rec.ids("customer=%2B34612345678") == ["call-a"]
        assert await rec.ids("customer=612345678") == ["call-a"]  # a Spanish number as typed
        assert await rec.ids("customer=Perez") == []
        assert await rec.ids("customer=%2B34699000111") == ["call-b"]  # no customer: the number
        assert await rec.ids("disposition=venta") == ["call-a"]
        assert await rec.ids("direction=outbound") == ["call-b"]
        assert await rec.ids("min_duration=100") == ["call-a"]
        assert await rec.ids("min_duration=30&max_duration=90") == ["call-b"]
        assert await rec.ids("max_duration=0") == ["call-c"]
        day = (NOW - timedelta(days=2)).date().isoformat()
        assert await rec.ids(f"from={day}&to={day}") == ["call-c"]
        assert await rec.ids(f"from={(NOW - timedelta(days=1)).date().isoformat()}") == [
            "call-b", "call-a"]
        status, page = await rec.get("/api/v1/calls?limit=1&offset=1")
        assert status == 200 and page["total"] == 3 and [c["id"] for c in page["calls"]] == [
            "call-a"]
        a = page["calls"][0]
        assert a["customer_name"] == "María Rodríguez Sánchez" and a["talk_s"] == 120.0
        assert a["wait_s"] == 10.0 and a["disposition"] == "venta"
        assert a["recording"] == {"available": True, "deleted_at": None,
                                  "url": "/api/v1/calls/call-a/recording"}
        # the library: only calls with a recording; disk and retention for admins only
        status, lib = await rec.get("/api/v1/recordings?customer=maria", "admin")
        assert status == 200 and [c["id"] for c in lib["calls"]] == ["call-a"]
        assert lib["disk"] == {"bytes": (rec.folder / "call-a.wav").stat().st_size, "files": 1}
        status, lib = await rec.get("/api/v1/recordings", "supervisor")
        assert [c["id"] for c in lib["calls"]] == ["call-a"] and "disk" not in lib


async def test_agents_see_only_their_own_calls(database: Database, tmp_path: Path) -> None:
    async with open_rec(database, tmp_path) as rec:
        three_calls(rec.db, rec.folder)
        assert await rec.ids("", "agent") == ["call-a"]
        assert await rec.ids("", "agent2") == ["call-b"]
        status, body = await rec.get("/api/v1/calls?agent=1002", "agent")
        assert status == 403 and body["field"] == "agent" and body["error"] == "forbidden"
        status, body = await rec.get("/api/v1/calls/call-a", "agent2")
        assert status == 403 and body == {"error": "forbidden", "field": "call_id",
                                          "reason": "agents see only their own calls"}
        status, body = await rec.get("/api/v1/recordings", "agent2")
        assert status == 200 and body["calls"] == []
        status, body = await rec.get("/api/v1/calls/nope", "supervisor")
        assert status == 404 and body["field"] == "call_id"


BAD_FILTERS = [
    ("from=yesterday", "from"), ("to=2026-13-01", "to"),
    ("from=2026-12-06&to=2026-12-01", "to"), ("direction=sideways", "direction"),
    ("min_duration=-1", "min_duration"), ("max_duration=ten", "max_duration"),
    ("min_duration=60&max_duration=30", "max_duration"), ("limit=0", "limit"),
    ("limit=1000", "limit"), ("offset=-5", "offset"), ("customer_id=abc", "customer_id"),
    ("agent=ana", "agent"), ("queue=a%20b", "queue"), ("agnet=1001", "agnet"),
    ("disposition=%25", "disposition"),
]


async def test_bad_filters_are_refused_naming_the_field(database: Database,
                                                        tmp_path: Path) -> None:
    async with open_rec(database, tmp_path) as rec:
        for query, field in BAD_FILTERS:
            for path in ("/api/v1/calls", "/api/v1/recordings"):
                status, body = await rec.get(f"{path}?{query}")
                assert status == 422, (path, query, body)
                assert body["error"] == "invalid" and body["field"] == field, (query, body)
                assert body["reason"]


async def test_a_calls_timeline(database: Database, tmp_path: Path) -> None:
    async with open_rec(database, tmp_path) as rec:
        three_calls(rec.db, rec.folder)
        entered = NOW - timedelta(hours=1)
        candidates = [
            {"extension": "1001", "score": 30.0, "breakdown": {"language": 20, "skills": 10}},
            {"extension": "1003", "score": 20.0, "breakdown": {"language": 20}}]
        with rec.db.session() as s:
            s.add(RoutingDecision(call_id="call-a", decided_at=entered + timedelta(seconds=1),
                                  candidates=candidates, chosen="1003",
                                  reason="1003 scored 20", needs={"language": {"value": "es"}}))
            s.add(RoutingDecision(call_id="call-a", decided_at=entered + timedelta(seconds=6),
                                  candidates=candidates[:1], chosen="1001",
                                  reason="1001 scored 30"))
            for at, kind, ext, data in (
                    (5, "ring_missed", "1003", None), (40, "held", "1001", None),
                    (50, "unheld", "1001", None),
                    (60, "supervised", "2001", {"mode": "listen"})):
                s.add(CallEvent(call_id="call-a", at=entered + timedelta(seconds=at), kind=kind,
                                agent_extension=ext, data=data))
        status, body = await rec.get("/api/v1/calls/call-a", "agent")  # 1001's own call
        assert status == 200, body
        steps = body["timeline"]
        assert [s["kind"] for s in steps] == [
            "entered_queue", "rung", "ring_missed", "rung", "answered", "recording_started",
            "held", "unheld", "supervised", "ended", "wrap_up"]
        assert steps[1]["agent_extension"] == "1003" and steps[1]["candidates"] == candidates
        assert steps[3]["reason"] == "1001 scored 30"
        assert steps[0]["needs"] == {"language": {"value": "es"}}
        assert steps[8]["mode"] == "listen" and steps[8]["agent_extension"] == "2001"
        assert steps[-1]["disposition"] == "venta"
        assert steps[-1]["notes"] == "póliza de auto emitida"
        assert body["call"]["notes"] == "póliza de auto emitida"


async def test_recording_plays_by_ranges_downloads_and_is_audited(
        database: Database, tmp_path: Path) -> None:
    async with open_rec(database, tmp_path) as rec:
        wav = three_calls(rec.db, rec.folder)["wav"]
        url = "/api/v1/calls/call-a/recording"
        token = rec.tokens["agent"]
        resp = await rec.client.get(f"{url}?token={token}", headers={"Range": "bytes=0-99"})
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 0-99/{len(wav)}"
        assert resp.headers["Content-Type"] == "audio/wav"
        assert await resp.read() == wav[:100]
        resp = await rec.client.get(f"{url}?token={token}", headers={"Range": "bytes=1000-"})
        assert resp.status == 206 and await resp.read() == wav[1000:]  # a seek: not a new play
        resp = await rec.client.head(f"{url}?token={token}")  # no play: not audited
        assert resp.status == 200 and resp.headers["Content-Length"] == str(len(wav))
        resp = await rec.client.get(f"{url}?download=1",
                                    headers={"Authorization": f"Bearer {rec.tokens['supervisor']}"})
        assert resp.status == 200 and await resp.read() == wav
        assert resp.headers["Content-Disposition"] == 'attachment; filename="call-call-a.wav"'
        with rec.db.session() as s:
            audited = [(e.actor, e.action) for e in s.scalars(
                select(AuditEntry).where(AuditEntry.entity == "recordings",
                                         AuditEntry.entity_id == "call-a").order_by(AuditEntry.id))]
        assert audited == [(USERS["agent"], "play"), (USERS["supervisor"], "download")]
        # another agent, no token, a bad token, a bad download flag
        resp = await rec.client.get(f"{url}?token={rec.tokens['agent2']}")
        assert resp.status == 403 and (await resp.json())["field"] == "call_id"
        assert (await rec.client.get(url)).status == 401
        assert (await rec.client.get(f"{url}?token=not.a.token")).status == 401
        resp = await rec.client.get(f"{url}?token={token}&download=yes")
        assert resp.status == 422 and (await resp.json())["field"] == "download"
        # a call without a recording
        resp = await rec.client.get(f"/api/v1/calls/call-b/recording?token={rec.tokens['agent2']}")
        assert resp.status == 404 and (await resp.json())["field"] == "call_id"


def test_retention_deletes_only_what_the_policy_says(database: Database,
                                                     tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    with database.session() as s:
        create_queue(s, name="autos", actor=T)
        create_queue(s, name="hogar", actor=T)
        retention.set_retention(s, "autos", 30, actor=T)  # hogar: kept for ever
    files = {}
    for call_id, queue, age in (("old-autos", "autos", 40), ("new-autos", "autos", 5),
                                ("old-hogar", "hogar", 400)):
        files[call_id] = folder / f"{call_id}.wav"
        write_wav(files[call_id], seconds=0.2)
        add_call(database, call_id, queue=queue, entered=NOW - timedelta(days=age),
                 recording=files[call_id])
    add_call(database, "old-unrecorded", queue="autos", entered=NOW - timedelta(days=90))
    stranger = folder / "not-a-call.wav"
    stranger.write_bytes(b"RIFF")
    size = files["old-autos"].stat().st_size

    with database.session() as s:
        done = retention.purge(s, recordings_dir=folder, now=NOW)
    assert done.calls == {"autos": ["old-autos"]} and done.freed_bytes == size
    assert not files["old-autos"].exists()
    assert files["new-autos"].exists() and files["old-hogar"].exists() and stranger.exists()
    with database.session() as s:
        rows = {c.id: c for c in s.scalars(select(Call))}
        assert rows["old-autos"].recording_deleted_at is not None
        assert rows["old-autos"].recording == str(files["old-autos"])  # the row stays
        assert all(rows[c].recording_deleted_at is None
                   for c in ("new-autos", "old-hogar", "old-unrecorded"))
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.entity == "recordings")) \
            == "purge"
    with database.session() as s:  # nothing left to do
        assert retention.purge(s, recordings_dir=folder, now=NOW).count == 0
    # a row pointing outside the recordings folder is never deleted
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"RIFF")
    add_call(database, "odd", queue="autos", entered=NOW - timedelta(days=60), recording=outside)
    with database.session() as s:
        done = retention.purge(s, recordings_dir=folder, now=NOW)
    assert done.failed == ["odd"] and outside.exists()


async def test_retention_policy_through_the_api(database: Database, tmp_path: Path) -> None:
    async with open_rec(database, tmp_path) as rec:
        with rec.db.session() as s:
            create_queue(s, name="autos", actor=T)
        put = rec.client.put
        admin = {"Authorization": f"Bearer {rec.tokens['admin']}"}
        resp = await put("/api/v1/recordings/retention/autos", json={"days": 90}, headers=admin)
        assert resp.status == 200 and (await resp.json())["retention"] == {"queue": "autos",
                                                                           "days": 90}
        with rec.db.session() as s:
            assert s.scalar(select(Queue.recording_retention_days)) == 90
        for body, field in (({"days": 0}, "days"), ({"days": "x"}, "days"), ({}, "days"),
                            ({"days": True}, "days"), ({"days": 1, "x": 1}, "x")):
            resp = await put("/api/v1/recordings/retention/autos", json=body, headers=admin)
            assert resp.status == 422 and (await resp.json())["field"] == field, body
        resp = await put("/api/v1/recordings/retention/nope", json={"days": 1}, headers=admin)
        assert resp.status == 404
        resp = await put("/api/v1/recordings/retention/autos", json={"days": None}, headers=admin)
        assert (await resp.json())["retention"]["days"] is None
        sup = {"Authorization": f"Bearer {rec.tokens['supervisor']}"}
        resp = await put("/api/v1/recordings/retention/autos", json={"days": 1}, headers=sup)
        assert resp.status == 403
        status, body = await rec.get("/api/v1/recordings/retention")
        assert status == 200 and body["retention"] == [{"queue": "autos", "days": None}]


async def test_the_control_planes_job_purges_when_it_starts(tmp_path: Path) -> None:
    from tests.harness.crm import sqlite_database
    from tests.harness.wait import wait_until

    db = sqlite_database(tmp_path)
    folder = tmp_path / "recordings"
    folder.mkdir()
    with db.session() as s:
        create_queue(s, name="autos", actor=T)
        retention.set_retention(s, "autos", 7, actor=T)
    old, new = folder / "old.wav", folder / "new.wav"
    write_wav(old, seconds=0.1)
    write_wav(new, seconds=0.1)
    add_call(db, "old", entered=NOW - timedelta(days=8), recording=old)
    add_call(db, "new", entered=NOW - timedelta(days=6), recording=new)
    context = retention.job(db, folder, every_s=3600)(None)
    await context.__anext__()  # the control plane starts
    try:
        def marked() -> set[str]:
            with db.session() as s:
                return set(s.scalars(select(Call.id).where(
                    Call.recording_deleted_at.is_not(None))))

        assert await wait_until(marked, timeout=10) == {"old"}, "the job never ran"
        assert not old.exists() and new.exists()
    finally:
        with pytest.raises(StopAsyncIteration):  # the control plane stops: the job too
            await context.__anext__()
        db.dispose()
