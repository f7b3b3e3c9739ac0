"""Acceptance: a real call's recording found, played and guarded; its
timeline with the routing scores; the retention job on the real file.

A SIPp caller with a customer's number calls a queue through the trunk;
two SIPp agents are registered (1002 speaks the queue's language and is
chosen, 1001 does not); caller and agent each send their own tone, and a
supervisor holds and resumes the call through the API. Then, through the
API: the recordings library finds the call by the customer's name; a Range
request returns 206 with the right Content-Range and the bytes of the WAV
on disk, whose audio holds both tones; the other agent gets 403; the play
is in the audit log; the call's detail shows its timeline with each
candidate's score, the hold and the recording. In headless Chromium the
same agent finds the call in the history page and the <audio> player loads
the recording, plays it (currentTime advancing) and seeks (a Range
request). Last, `aitcomms recordings purge` with a 30-day policy deletes
this recording once its row is aged 40 days, and nothing else.

Chromium here talks HTTP to the control plane on 127.0.0.1 only (no
WebRTC, no other host: --host-resolver-rules), so it runs beside the
session's stack rather than in a namespace of its own."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import urllib.error
import urllib.request
import wave
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from control.auth.audit import Actor
from control.crm.customers import create_customer
from control.db import Database
from tests.conftest import ROOT, StackUnderTest
from tests.harness.ami import Ami
from tests.harness.rtp import RtpEndpoint, goertzel
from tests.harness.wait import wait_until
from tests.test_acd import (
    add_agent,
    agent_phones,
    api,
    api_post,
    calls,
    login,
    rows,
    setup_queue,
    supervisor_token,
)
from tests.test_calls import TRUNK_IP, caller

CHROMIUM = Path(os.environ.get("AITCOMMS_CHROMIUM", "/usr/bin/chromium"))
SCRIPT = ROOT / "tests" / "browser" / "recording_player.mjs"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
BROWSER_READY = CHROMIUM.exists() and (ROOT / "web" / "dist" / "index.html").exists()
CUSTOMER = "Carmen Grabación Ortiz"
PHONE = "+34600111222"  # the caller's number (tests.test_calls.caller)
AGENT_PW = "rec-agent-pass-1"


def fetch(stack: StackUnderTest, path: str, headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{stack.port('http')}{path}",
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def add_customer(stack: StackUnderTest) -> int:
    db = Database(stack.settings)
    with db.session() as session:
        customer_id = create_customer(session, actor=Actor("test"), name=CUSTOMER,
                                      phones=[PHONE]).id
    db.dispose()
    return customer_id


def played_by_ranges(stack: StackUnderTest, url: str, token: str, path: Path) -> None:
    """Two Range requests make the whole file: 206s with the right
    Content-Range, the bytes on disk, a WAV holding both parties' tones."""
    on_disk = path.read_bytes()
    status, headers, first = fetch(stack, f"{url}?token={token}", {"Range": "bytes=0-1023"})
    assert status == 206, first[:200]
    assert headers["Content-Range"] == f"bytes 0-1023/{len(on_disk)}"
    assert first == on_disk[:1024] and first[:4] == b"RIFF" and first[8:12] == b"WAVE"
    status, headers, rest = fetch(stack, f"{url}?token={token}", {"Range": "bytes=1024-"})
    assert status == 206 and headers["Content-Range"] == \
        f"bytes 1024-{len(on_disk) - 1}/{len(on_disk)}"
    assert first + rest == on_disk
    with wave.open(io.BytesIO(first + rest)) as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    samples = [int.from_bytes(frames[i:i + 2], "little", signed=True)
               for i in range(0, len(frames), 2)]
    assert len(samples) / rate > 3, f"{len(samples) / rate:.1f} s of audio"
    assert goertzel(samples, 1000, rate) > 100 and goertzel(samples, 440, rate) > 100


def purged_by_policy(stack: StackUnderTest, row: dict[str, Any], path: Path) -> None:
    """30 days for autos; the call aged 40 days loses its recording; a newer
    one of autos and an old one of a queue without a policy keep theirs."""
    call_id = row["id"]
    kept = {"newer": (path.with_name("newer-copy.wav"), "autos", 5),
            "other_queue": (path.with_name("other-queue-copy.wav"), "hogar", 400)}
    db = Database(stack.settings)
    with db.session() as session:
        session.execute(text("UPDATE calls SET entered_at = :at WHERE id = :id"),
                        {"at": row["entered_at"] - timedelta(days=40), "id": call_id})
        for name, (copy, queue, age) in kept.items():
            shutil.copy(path, copy)
            session.execute(text(
                "INSERT INTO calls (id, caller_channel, queue, caller_number, language, "
                "skills, priority, state, entered_at, recording, direction) VALUES "
                "(:id, 'x', :queue, '', 'es', '[]', 0, 'completed', :at, :rec, 'inbound')"),
                {"id": f"kept-{name}", "queue": queue, "rec": str(copy),
                 "at": row["entered_at"] - timedelta(days=age)})
    db.dispose()
    try:
        assert "30 days" in stack.aitcomms("recordings", "retention", "autos", "30").stdout
        purged = stack.aitcomms("recordings", "purge").stdout
        assert "1 recording(s) deleted" in purged, purged
        assert not path.exists()
        assert all(copy.exists() for copy, _, _ in kept.values())
        marks = {r["id"]: r["recording_deleted_at"] for r in rows(
            stack, "SELECT id, recording_deleted_at FROM calls")}
        assert marks[call_id] is not None
        assert marks["kept-newer"] is None and marks["kept-other_queue"] is None
    finally:
        for copy, _, _ in kept.values():
            copy.unlink(missing_ok=True)


async def recorded_call(stack: StackUnderTest, supervisor: str) -> dict[str, Any]:
    """The call (its row once the recording is filed): 1002 answers, both
    send a tone, the supervisor holds and resumes it."""
    async with agent_phones(stack, "1001", "1002") as phones:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, "+34910000031", rtp, call_ms=6000)
        await call.start()
        try:
            async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
                members = await ami.wait_for(
                    lambda: ami.bridge_holding("PJSIP/agent-1002-", "PJSIP/edge-"), timeout=10)
                assert members, "caller and agent never bridged"
                agent_chan = next(c for c in members if c.startswith("PJSIP/agent-1002-"))
                caller_chan = next(c for c in members if c.startswith("PJSIP/edge-"))
                rtp.send_tone(await ami.rtp_address(caller_chan), 1000)
                phones["1002"].rtp.send_tone(await ami.rtp_address(agent_chan), 440)
            live = await wait_until(lambda: api(stack, "/api/v1/calls/live")["calls"])
            assert len(live) == 1, live
            for action in ("hold", "unhold"):
                status, body = api_post(stack, f"/api/v1/calls/{live[0]['id']}/{action}", {},
                                        supervisor)
                assert status == 202, body
            result = await call.wait()
        finally:
            rtp.close()
        assert result.returncode == 0, result.output
        assert (await phones["1002"].result()).returncode == 0
        assert phones["1001"].rtp.packets == 0
    row = await wait_until(lambda: (c := calls(stack)[-1])["recording"] and
                           Path(c["recording"]).is_absolute() and c)
    assert row, calls(stack)[-1]
    return dict(row)


async def play_in_chromium(stack: StackUnderTest, call_id: str) -> dict[str, Any]:
    env = {**os.environ, "BASE_URL": f"http://127.0.0.1:{stack.port('http')}",
           "EMAIL": "rec.1002@example.com", "PASSWORD": AGENT_PW, "CUSTOMER": "grabacion",
           "CALL_ID": call_id, "CHROMIUM": str(CHROMIUM), "ARTIFACTS": str(ARTIFACTS),
           "NODE_PATH": str(ROOT / "web" / "node_modules")}
    proc = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), env=env, cwd=ROOT / "web", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    lines = [line for line in out.decode().splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"{out.decode()}\n{err.decode()}"
    return dict(json.loads(lines[-1][len("RESULT "):]))


async def test_a_recording_is_found_played_guarded_and_purged(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    assert BROWSER_READY, "needs chromium and the built web/ (make setup)"
    add_agent(stack, "1001", languages="en")
    add_agent(stack, "1002", languages="es")
    setup_queue(stack, "autos", "+34910000031", "1001,1002", "--wrapup", "1",
                "--language", "es")
    customer_id = add_customer(stack)
    stack.ensure_user("rec.1002@example.com", role="agent", password=AGENT_PW, agent="1002")
    stack.ensure_user("rec.1001@example.com", role="agent", password=AGENT_PW, agent="1001")
    supervisor = supervisor_token(stack)
    row = await recorded_call(stack, supervisor)
    call_id, path = row["id"], Path(row["recording"])
    assert row["customer_id"] == customer_id and row["agent_extension"] == "1002"

    # found by the customer's name (accents folded), in the library and the history
    agent = login(stack, "rec.1002@example.com", AGENT_PW)
    other = login(stack, "rec.1001@example.com", AGENT_PW)
    library = api(stack, "/api/v1/recordings?customer=grabacion")
    assert [c["id"] for c in library["calls"]] == [call_id]
    assert library["calls"][0]["customer_name"] == CUSTOMER
    assert [c["id"] for c in api(stack, "/api/v1/calls?customer=grabacion&agent=1002",
                                 agent)["calls"]] == [call_id]

    # played by ranges: 206, the right Content-Range, the file's bytes, real audio
    url = f"/api/v1/calls/{call_id}/recording"
    played_by_ranges(stack, url, agent, path)

    # another agent: 403 with the error shape; the play is in the audit log
    status, _, body = fetch(stack, f"{url}?token={other}")
    assert status == 403 and json.loads(body) == {
        "error": "forbidden", "field": "call_id", "reason": "agents see only their own calls"}
    status, _, body = fetch(stack, f"/api/v1/calls/{call_id}",
                            {"Authorization": f"Bearer {other}"})
    assert status == 403 and json.loads(body)["field"] == "call_id"
    audit = rows(stack, "SELECT actor, action FROM audit_log WHERE entity = 'recordings' "
                        f"AND entity_id = '{call_id}' ORDER BY id")
    assert audit == [{"actor": "rec.1002@example.com", "action": "play"}], audit

    # the detail: the timeline with the routing scores, the hold, the recording
    detail = api(stack, f"/api/v1/calls/{call_id}", agent)
    kinds = [s["kind"] for s in detail["timeline"]]
    for kind in ("entered_queue", "rung", "answered", "recording_started", "held", "unheld",
                 "ended", "recording_filed"):
        assert kind in kinds, kinds
    assert kinds.index("entered_queue") < kinds.index("rung") < kinds.index("answered") \
        < kinds.index("held") < kinds.index("unheld") < kinds.index("ended")
    rung = next(s for s in detail["timeline"] if s["kind"] == "rung")
    scores = {c["extension"]: c for c in rung["candidates"]}
    assert rung["agent_extension"] == "1002" and set(scores) == {"1001", "1002"}
    assert scores["1002"]["breakdown"] == {"language": 20}
    assert scores["1002"]["score"] > scores["1001"]["score"]
    assert "1002 scored" in rung["reason"]

    # in the page: found by customer, the player loads, plays and seeks
    seen = await play_in_chromium(stack, call_id)
    assert seen["listed"] == [call_id], seen
    assert seen["loaded"]["readyState"] >= 1 and seen["loaded"]["duration"] > 3, seen
    assert seen["playing"]["currentTime"] > 0.5 and seen["playing"]["error"] is None, seen
    assert seen["seeked"]["currentTime"] > seen["target"] and seen["seeked"]["error"] is None
    assert any(r["status"] == 206 for r in seen["ranges"]), seen["ranges"]
    assert set(seen["steps"]) >= {"entered_queue", "rung", "answered", "held", "ended"}
    assert {s["extension"]: s["score"] for s in seen["scores"]} == {
        e: c["score"] for e, c in scores.items()}
    audit = rows(stack, "SELECT action FROM audit_log WHERE entity = 'recordings' "
                        f"AND entity_id = '{call_id}'")
    assert len(audit) >= 2, audit  # the page's play too

    # retention: this call aged past its queue's policy goes, nothing else does
    purged_by_policy(stack, row, path)
    status, _, body = fetch(stack, f"{url}?token={agent}")
    assert status == 404 and json.loads(body)["field"] == "call_id"
    assert api(stack, "/api/v1/recordings?customer=grabacion")["calls"] == []
    steps = [s["kind"] for s in api(stack, f"/api/v1/calls/{call_id}")["timeline"]]
    assert steps[-1] == "recording_deleted" and "rung" in steps  # the history stays
