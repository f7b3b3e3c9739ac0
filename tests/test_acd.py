"""Acceptance: the ACD routes real calls (SIPp callers from the trunk, SIPp
agents' phones registered through Kamailio, the control plane's router on ARI)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from control.db import Database
from tests.conftest import StackUnderTest
from tests.harness.ami import Ami
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint, goertzel
from tests.harness.sipp import Sipp, SippResult, scenario
from tests.harness.wait import wait_until
from tests.test_calls import TRUNK_IP, caller, register


@dataclass
class Phone:
    extension: str
    sipp: Sipp
    rtp: RtpEndpoint

    async def result(self, timeout: float = 20) -> SippResult:
        return await self.sipp.wait(timeout)


@asynccontextmanager
async def agent_phones(stack: StackUnderTest, *extensions: str, noanswer: tuple[str, ...] = (),
                       calls: int = 1, timeout_s: int = 30) -> AsyncIterator[dict[str, Phone]]:
    """Registered phones for these (existing) agents, answering (each up to
    `calls` calls, for up to `timeout_s`) unless listed in noanswer."""
    phones: dict[str, Phone] = {}
    try:
        for ext in extensions:
            rtp = await RtpEndpoint.open()
            port = sip_port()
            name = "agent_noanswer" if ext in noanswer else "agent"
            sipp = Sipp(scenario(name), stack.sip_target, local_port=port, calls=calls,
                        keys={"rtp_port": rtp.port}, timeout_s=timeout_s)
            await sipp.start()
            phones[ext] = Phone(ext, sipp, rtp)
            assert await register(stack, ext, f"secret-{ext}-pw", port) == 0
        yield phones
    finally:
        for phone in phones.values():
            phone.sipp.kill()
            phone.rtp.close()


def add_agent(stack: StackUnderTest, ext: str, *, languages: str = "", skills: str = "",
              available: bool = True) -> None:
    stack.aitcomms("agent", "add", ext, "--name", f"Agent {ext}", "--password",
                   f"secret-{ext}-pw", "--languages", languages, "--skills", skills)
    if available:
        stack.aitcomms("agent", "status", ext, "available")


# per stack: (token, when it was issued); access tokens live 15 minutes and
# the suite runs longer, so one older than TOKEN_REUSE_S is fetched again
_tokens: dict[str, tuple[str, float]] = {}
TOKEN_REUSE_S = 600


def supervisor_token(stack: StackUnderTest) -> str:
    """A supervisor of this stack (created once per stack; users outlive cleanups:
    a second stack of the session has users and a token secret of its own)."""
    key = str(stack.var_dir)
    cached = _tokens.get(key)
    if cached is None or time.monotonic() - cached[1] > TOKEN_REUSE_S:
        stack.ensure_user("wallboard@example.com", role="supervisor",
                          password="wallboard-pass-1")
        _tokens[key] = (login(stack, "wallboard@example.com", "wallboard-pass-1"),
                        time.monotonic())
    return _tokens[key][0]


def api(stack: StackUnderTest, path: str, token: str | None = None) -> dict[str, Any]:
    """GET, as the session's supervisor unless another token is given."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.port('http')}{path}",
        headers={"Authorization": f"Bearer {token or supervisor_token(stack)}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return dict(json.loads(resp.read()))


def calls(stack: StackUnderTest) -> list[dict[str, Any]]:
    db = Database(stack.settings)
    with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            text("SELECT * FROM calls ORDER BY entered_at"))]
    db.dispose()
    for row in rows:  # SQLite hands timestamps back as text
        for key in ("entered_at", "answered_at", "ended_at"):
            if isinstance(row[key], str):
                row[key] = datetime.fromisoformat(row[key])
    return rows


def setup_queue(stack: StackUnderTest, name: str, did: str, members: str, *extra: str) -> None:
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP)
    stack.aitcomms("queue", "add", name, "--members", members, *extra)
    stack.aitcomms("did", "add", did, "--to", f"queue:{name}")


async def test_spanish_caller_wanting_auto_reaches_the_matching_agent(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1001", languages="en", skills="auto")
    add_agent(stack, "1002", languages="es", skills="auto,home")
    add_agent(stack, "1003", languages="es", skills="home")
    setup_queue(stack, "autos", "+34910000010", "1001,1002,1003", "--skills", "auto",
                "--language", "es", "--wrapup", "1")
    async with agent_phones(stack, "1001", "1002", "1003") as phones:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        try:
            result = await caller(stack, "+34910000010", rtp, call_ms=4000).run()
        finally:
            rtp.close()
        assert result.returncode == 0, result.output
        answered = await phones["1002"].result()
        assert answered.returncode == 0 and answered.successful == 1, answered.output
        assert phones["1001"].rtp.packets == 0 and phones["1003"].rtp.packets == 0
    call = await wait_until(lambda: (c := calls(stack)[-1])["state"] == "completed" and c) \
        or calls(stack)[-1]
    assert call["agent_extension"] == "1002" and call["state"] == "completed"
    routing = api(stack, f"/api/v1/calls/{call['id']}/routing")
    first = routing["decisions"][0]
    assert first["chosen"] == "1002"
    scores = {c["extension"]: c for c in first["candidates"]}
    assert scores["1002"]["breakdown"] == {"language": 20, "skills": 10}
    assert scores["1001"]["breakdown"] == {"skills": 10}
    assert scores["1003"]["breakdown"] == {"language": 20}
    assert "1002 scored 30" in first["reason"]


async def test_ring_no_answer_moves_on_paused_never_rung_wrapup_respected(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1001", languages="es", skills="auto")  # best, but never answers
    add_agent(stack, "1002", languages="es")  # answers
    add_agent(stack, "1003", languages="es", skills="auto,home")  # best of all, but paused
    stack.aitcomms("agent", "status", "1003", "paused", "--reason", "training")
    setup_queue(stack, "autos", "+34910000011", "1001,1002,1003", "--skills", "auto",
                "--ring-timeout", "4", "--max-misses", "1", "--wrapup", "6")
    async with agent_phones(stack, "1001", "1002", "1003", noanswer=("1001",)) as phones:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        try:
            # answered by the queue at once: 4 s ringing 1001, then talks with 1002
            result = await caller(stack, "+34910000011", rtp, call_ms=9000).run()
        finally:
            rtp.close()
        assert result.returncode == 0, result.output
        assert (await phones["1002"].result()).returncode == 0
        missed = await phones["1001"].result()
        # it rang (180) and was cancelled (487 sent after the CANCEL)
        assert re.search(r"<-+ 487\s+1\s", missed.output), missed.output
        assert phones["1003"].rtp.packets == 0
        ended_at = asyncio.get_running_loop().time()
        def agents_now() -> dict[str, Any]:
            return {a["extension"]: a for a in api(stack, "/api/v1/agents")["agents"]}

        agents = await wait_until(lambda: (a := agents_now())["1002"]["status"] == "wrap_up"
                                  and a) or agents_now()
        assert agents["1001"]["status"] == "paused"
        assert agents["1001"]["pause_reason"] == "missed_calls"
        assert agents["1003"]["status"] == "paused"
        assert agents["1002"]["status"] == "wrap_up"

        # a second caller while 1002 is in wrap-up waits for the wrap-up to end
        phone2_rtp = await RtpEndpoint.open()
        port = sip_port()
        second_phone = Sipp(scenario("agent"), stack.sip_target, local_port=port,
                            keys={"rtp_port": phone2_rtp.port})
        await second_phone.start()
        assert await register(stack, "1002", "secret-1002-pw", port) == 0
        rtp2 = await RtpEndpoint.open(TRUNK_IP)
        try:
            second = await caller(stack, "+34910000011", rtp2, call_ms=12000).run()
            answered = await second_phone.wait(20)
        finally:
            rtp2.close()
            phone2_rtp.close()
            second_phone.kill()
        assert second.returncode == 0 and answered.returncode == 0, second.output
    first_call, second_call = calls(stack)[-2:]
    routing = api(stack, f"/api/v1/calls/{first_call['id']}/routing")
    assert [d["chosen"] for d in routing["decisions"]] == ["1001", "1002"]
    assert "1003" not in {c["extension"] for d in routing["decisions"]
                          for c in d["candidates"]}
    assert second_call["agent_extension"] == "1002"
    waited = (second_call["answered_at"] - second_call["entered_at"]).total_seconds()
    assert waited >= 2, f"rang 1002 during wrap-up (answered after {waited:.1f} s)"
    assert ended_at  # (kept for the record of when the first call ended)


def add_returning_customer(stack: StackUnderTest, phone: str, previous_agent: str) -> int:
    """A customer whose last answered call was with previous_agent."""
    from control.auth.audit import Actor
    from control.crm.customers import create_customer, record_interaction

    db = Database(stack.settings)
    with db.session() as session:
        customer = create_customer(session, actor=Actor("test"), name="Lucía Romero Vidal",
                                   phones=[phone], language="es")
        record_interaction(session, actor=Actor("test"), customer_id=customer.id,
                           direction="inbound", outcome="answered",
                           started_at=datetime.now(UTC), duration_s=120,
                           agent_extension=previous_agent)
        customer_id = customer.id
    db.dispose()
    return customer_id


def rows(stack: StackUnderTest, sql: str) -> list[dict[str, Any]]:
    db = Database(stack.settings)
    with db.engine.connect() as conn:
        result = [dict(r._mapping) for r in conn.execute(text(sql))]
    db.dispose()
    return result


async def test_returning_customer_reaches_the_agent_who_helped_before(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es", skills="auto")  # 30 points on skills/language
    add_agent(stack, "1003", languages="en")  # only the previous-agent bonus (50)
    customer_id = add_returning_customer(stack, "+34600111222", previous_agent="1003")
    setup_queue(stack, "autos", "+34910000015", "1002,1003", "--skills", "auto",
                "--wrapup", "1")
    async with agent_phones(stack, "1002", "1003") as phones:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        try:
            result = await caller(stack, "+34910000015", rtp, call_ms=3000,
                                  from_user="34600111222").run()
        finally:
            rtp.close()
        assert result.returncode == 0, result.output
        assert (await phones["1003"].result()).returncode == 0
        assert phones["1002"].rtp.packets == 0
    call = calls(stack)[-1]
    assert call["customer_id"] == customer_id and call["agent_extension"] == "1003"
    decision = api(stack, f"/api/v1/calls/{call['id']}/routing")["decisions"][0]
    assert decision["chosen"] == "1003"
    assert {c["extension"]: c["breakdown"] for c in decision["candidates"]}["1003"] == {
        "previous_agent": 50}
    # after hangup, the call is an interaction of the customer's
    interactions = await wait_until(lambda: rows(
        stack, f"SELECT * FROM interactions WHERE call_id = '{call['id']}'"))
    assert interactions and interactions[0]["customer_id"] == customer_id
    assert interactions[0]["agent_extension"] == "1003"
    assert interactions[0]["outcome"] == "answered" and interactions[0]["duration_s"] >= 2


async def test_abandoned_and_overflowed_callers(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1001", available=False)  # logged out: nobody to take calls
    setup_queue(stack, "autos", "+34910000012", "1001", "--max-wait", "5")
    rtp = await RtpEndpoint.open(TRUNK_IP)
    try:
        # hangs up after 2 s of music on hold
        abandoned = await caller(stack, "+34910000012", rtp, call_ms=2000).run()
        heard_moh = rtp.packets
        rtp.reset()
        # stays: after 5 s of waiting, the voicemail/callback offer answers
        overflow = await caller(stack, "+34910000012", rtp, call_ms=9000).run()
    finally:
        rtp.close()
    assert abandoned.returncode == 0 and overflow.returncode == 0
    assert heard_moh > 50  # music on hold while waiting, not dead air
    first, second = calls(stack)[-2:]
    assert first["state"] == "abandoned" and first["answered_at"] is None
    assert second["state"] == "callback"
    tasks = await wait_until(lambda: rows(stack, "SELECT * FROM tasks WHERE kind = 'callback'"))
    assert tasks and tasks[-1]["phone"] == "+34600111222", tasks
    stats = api(stack, "/api/v1/queues/autos/stats")
    assert stats["abandoned"] == 1 and stats["answered"] == 0


async def test_bridged_call_is_recorded_with_both_parties(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    setup_queue(stack, "autos", "+34910000013", "1002", "--wrapup", "1")
    async with agent_phones(stack, "1002") as phones:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, "+34910000013", rtp, call_ms=5000)
        await call.start()
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            members = await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/agent-1002-", "PJSIP/edge-"), timeout=10)
            assert members, "caller and agent never bridged"
            agent_chan = next(c for c in members if c.startswith("PJSIP/agent-1002-"))
            caller_chan = next(c for c in members if c.startswith("PJSIP/edge-"))
            rtp.send_tone(await ami.rtp_address(caller_chan), 1000)
            phones["1002"].rtp.send_tone(await ami.rtp_address(agent_chan), 440)
        result = await call.wait()
        rtp.close()
        assert result.returncode == 0, result.output
        assert (await phones["1002"].result()).returncode == 0
    row = await wait_until(lambda: (c := calls(stack)[-1])["recording"] and
                           Path(c["recording"]).is_absolute() and c)
    path = Path(row["recording"])
    assert path.parent == stack.settings.recordings_dir
    frames, seconds, rate = _read_wav(path)
    samples = [int.from_bytes(frames[i:i + 2], "little", signed=True)
               for i in range(0, len(frames), 2)]
    talk = (row["ended_at"] - row["answered_at"]).total_seconds()
    assert abs(seconds - talk) < 1.5, f"recording {seconds:.1f} s, call {talk:.1f} s"
    # both parties' tones are in it
    assert goertzel(samples, 1000, rate) > 100 and goertzel(samples, 440, rate) > 100


@pytest.fixture
def control_plane_back(clean_stack: StackUnderTest) -> Iterator[StackUnderTest]:
    """The clean stack, whose supervisor and control plane the test stops and
    starts again itself: should it fail in between, they are started here, or
    every later file on this worker would meet a stack without its API."""
    yield clean_stack
    if not (clean_stack.var_dir / "run" / "supervisor.pid").exists() \
            or _health(clean_stack) != "ok":
        clean_stack.aitcomms("up", timeout=240)


async def test_control_plane_dies_mid_call_and_comes_back(
        control_plane_back: StackUnderTest) -> None:
    stack = control_plane_back
    add_agent(stack, "1002", languages="es")
    add_agent(stack, "1003", languages="es", available=False)  # only in Asterisk's fallback
    setup_queue(stack, "autos", "+34910000014", "1002,1003", "--wrapup", "1")
    control = stack.var_dir / "run" / "control.pid"
    async with agent_phones(stack, "1002", "1003") as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        # long enough to outlast the fallback call and the restart on a busy machine
        first = caller(stack, "+34910000014", rtp, call_ms=40000)
        await first.start()

        def bridge_of_two() -> Any:
            return ami.bridge_holding(size=2)

        before = await ami.wait_for(bridge_of_two, timeout=10)
        assert any(c.startswith("PJSIP/agent-1002-") for c in before)

        # the control plane dies and stays down a while: its supervisor, which
        # would restart it within seconds (tests/test_supervision.py), is stopped
        supervisor = stack.var_dir / "run" / "supervisor.pid"
        os.kill(int(supervisor.read_text()), signal.SIGTERM)
        assert await wait_until(lambda: not supervisor.exists(), 5)
        # the control plane dies: once it is gone (no process, no /health; its
        # ARI and AMI sockets closed with it) the call must still be up, and
        # still be after the fallback call below (8 s and more)
        pid = int(control.read_text())
        os.kill(pid, signal.SIGKILL)

        def control_gone() -> bool:
            try:  # gone, or a zombie not reaped yet
                dead = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            except FileNotFoundError:
                dead = True
            return dead and _health(stack) == "down"

        assert await wait_until(control_gone, timeout=10), "the control plane did not die"
        assert await bridge_of_two() == before, "the call did not survive the control plane"

        # meanwhile a new caller reaches Asterisk's own queue, and agent 1003
        rtp2 = await RtpEndpoint.open(TRUNK_IP)
        try:
            fallback = await caller(stack, "+34910000014", rtp2, call_ms=8000).run()
        finally:
            rtp2.close()
        assert fallback.returncode == 0, fallback.output
        assert (await phones["1003"].result()).returncode == 0
        # the first call lived through all that untouched
        assert await bridge_of_two() == before, "the call did not survive the control plane"

        # it comes back and sees the call and the agent as they are
        stack.aitcomms("up")
        health = await wait_until(lambda: _health(stack) == "ok", timeout=15)
        assert health
        agents = {a["extension"]: a for a in api(stack, "/api/v1/agents")["agents"]}
        assert agents["1002"]["status"] == "on_call"
        live = calls(stack)[0]
        assert live["state"] == "answered" and live["agent_extension"] == "1002"
        routing = api(stack, f"/api/v1/calls/{live['id']}/routing")
        assert routing["call"]["state"] == "answered"

        # and closes it properly when the caller hangs up
        result = await first.wait(60)
        rtp.close()
        assert result.returncode == 0, result.output
        done = await wait_until(lambda: calls(stack)[0]["state"] == "completed")
        assert done


def _read_wav(path: Path) -> tuple[bytes, float, int]:
    with wave.open(str(path)) as wav:
        return (wav.readframes(wav.getnframes()), wav.getnframes() / wav.getframerate(),
                wav.getframerate())


def _health(stack: StackUnderTest) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.port('http')}/health",
                                    timeout=5) as resp:
            return str(json.loads(resp.read())["status"])
    except OSError:
        return "down"


def api_post(stack: StackUnderTest, path: str, body: dict[str, Any],
             token: str | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.port('http')}{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(json.loads(resp.read()))
    except urllib.error.HTTPError as err:
        return err.code, dict(json.loads(err.read()))


def login(stack: StackUnderTest, email: str, password: str) -> str:
    status, body = api_post(stack, "/api/v1/auth/login", {"email": email, "password": password})
    assert status == 200, body
    return str(body["access_token"])


async def test_supervisor_listens_whispers_barges(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    add_agent(stack, "2001", available=False)  # the supervisor's own phone
    stack.aitcomms("user", "add", "sup@example.com", "--role", "supervisor", "--password",
                   "sup-password-1", "--agent", "2001")
    stack.aitcomms("user", "add", "ag@example.com", "--role", "agent", "--password",
                   "agent-password-1", "--agent", "1002")
    setup_queue(stack, "autos", "+34910000016", "1002", "--wrapup", "1")
    sup_token = login(stack, "sup@example.com", "sup-password-1")
    agent_token = login(stack, "ag@example.com", "agent-password-1")
    async with agent_phones(stack, "1002") as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        sup_rtp = await RtpEndpoint.open()
        sup_port = sip_port()
        sup_phone = Sipp(scenario("agent"), stack.sip_target, local_port=sup_port, calls=3,
                         keys={"rtp_port": sup_rtp.port})
        await sup_phone.start()
        assert await register(stack, "2001", "secret-2001-pw", sup_port) == 0
        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, "+34910000016", rtp, call_ms=40000)
        await call.start()
        try:
            members = await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/edge-", size=2), timeout=10)
            agent_chan = next(c for c in members if c.startswith("PJSIP/agent-1002-"))
            caller_chan = next(c for c in members if c.startswith("PJSIP/edge-"))
            rtp.send_tone(await ami.rtp_address(caller_chan), 1000)
            phones["1002"].rtp.send_tone(await ami.rtp_address(agent_chan), 440)
            call_id = calls(stack)[-1]["id"]

            # an agent may not, nor see routing decisions; nobody without a token
            status, body = api_post(stack, "/api/v1/supervision",
                                    {"call_id": call_id, "mode": "listen"}, agent_token)
            assert status == 403, body
            status, body = api_post(stack, "/api/v1/supervision",
                                    {"call_id": call_id, "mode": "listen"})
            assert status == 401, body
            try:
                api(stack, f"/api/v1/calls/{call_id}/routing", token=agent_token)
                raise AssertionError("an agent read a routing decision")
            except urllib.error.HTTPError as err:
                assert err.code == 403

            heard: dict[str, tuple[float, float, float]] = {}
            for mode in ("listen", "whisper", "barge"):
                status, body = api_post(stack, "/api/v1/supervision",
                                        {"call_id": call_id, "mode": mode}, sup_token)
                assert status == 202, body

                sup_members = await ami.wait_for(
                    lambda: ami.bridge_holding("PJSIP/agent-2001-", "Snoop/"), timeout=10)
                assert sup_members, f"{mode}: no supervisor bridge with a snoop channel"
                sup_chan = next(m for m in sup_members if m.startswith("PJSIP/agent-2001-"))
                sup_rtp.send_tone(await ami.rtp_address(sup_chan), 2000)
                # the supervisor's leg carries media (his bridge is up) before
                # the measurement starts
                sup_rtp.reset()
                assert await wait_until(lambda: sup_rtp.packets >= 10, timeout=5), (
                    f"{mode}: no audio reaches the supervisor")
                for endpoint in (rtp, phones["1002"].rtp, sup_rtp):
                    endpoint.reset()
                # a measurement, not a wait: 2 s of audio for each tone's energy
                await asyncio.sleep(2.0)
                heard[mode] = (phones["1002"].rtp.energy(2000), rtp.energy(2000),
                               sup_rtp.energy(1000) + sup_rtp.energy(440))
                sup_rtp.stop_tone()
                await ami.manager.send_action({"Action": "Hangup", "Channel": sup_chan})

                # his snoop channel and bridge go with him; the call stays as it was
                async def leftovers() -> list[str]:
                    left = [c["Channel"] for c in await ami.channels()
                            if c["Channel"].startswith(("Snoop/", "PJSIP/agent-2001-"))]
                    return left + [b["BridgeUniqueid"] for b in await ami.bridges()
                                   if sorted(await ami.bridge_channels(b["BridgeUniqueid"]))
                                   != sorted(members)]

                async def cleaned_up() -> bool:
                    return not await leftovers()

                assert await ami.wait_for(cleaned_up, timeout=5), (
                    f"{mode}: left behind after the supervisor hung up: {await leftovers()}")
                assert sorted(await ami.bridge_holding("PJSIP/edge-", size=2)) == sorted(members)
        finally:
            call.kill()
            rtp.close()
            sup_rtp.close()
            sup_phone.kill()
    quiet = 50.0
    # listen: the supervisor hears the call, nobody hears the supervisor
    assert heard["listen"][2] > 200 and heard["listen"][0] < quiet and heard["listen"][1] < quiet
    # whisper: the agent hears the supervisor, the caller does not
    assert heard["whisper"][0] > 200 and heard["whisper"][1] < quiet, heard
    # barge: both hear the supervisor
    assert heard["barge"][0] > 200 and heard["barge"][1] > 200, heard


async def test_waiting_callers_hear_position_and_expected_wait(
        clean_stack: StackUnderTest) -> None:
    import aiohttp

    stack = clean_stack
    add_agent(stack, "1001", available=False)  # nobody free: callers wait
    setup_queue(stack, "autos", "+34910000018", "1001", "--announce-every", "3",
                "--max-wait", "60")
    url = (f"http://127.0.0.1:{stack.port('http')}/api/v1/events"
           f"?token={supervisor_token(stack)}")
    announced: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        rtp1, rtp2 = await RtpEndpoint.open(TRUNK_IP), await RtpEndpoint.open(TRUNK_IP)
        first = caller(stack, "+34910000018", rtp1, call_ms=12000)
        second = caller(stack, "+34910000018", rtp2, call_ms=10000, from_user="34600999888")
        await first.start()
        # the second caller comes once the first waits in the queue (positions 1, 2)
        assert await wait_until(lambda: api(stack, "/api/v1/queues/autos/stats")["waiting"]
                                == 1, timeout=10), "the first caller never queued"
        await second.start()
        try:
            deadline = asyncio.get_running_loop().time() + 12
            while asyncio.get_running_loop().time() < deadline and len(
                    {a["position"] for a in announced}) < 2:
                msg = await ws.receive(timeout=12)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(msg.data)
                if event["type"] == "call.announced":
                    announced.append(event["data"])
        finally:
            await first.wait(30)
            await second.wait(30)
            rtp1.close()
            rtp2.close()
    positions = {a["position"] for a in announced}
    assert positions == {1, 2}, announced
    assert all(a["state"] == "done" and a["expected_wait_min"] >= 1 for a in announced)
    assert rtp1.packets > 100  # music and announcements, never dead air


def api_send(stack: StackUnderTest, method: str, path: str, body: dict[str, Any] | None,
             token: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.port('http')}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(json.loads(resp.read()))
    except urllib.error.HTTPError as err:
        return err.code, dict(json.loads(err.read()))


async def test_queues_change_through_the_api_without_restart(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    add_agent(stack, "1003", languages="es", available=False)
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP)
    token = supervisor_token(stack)
    status, body = api_send(stack, "POST", "/api/v1/queues",
                            {"name": "hogar", "skills": ["home"], "wrapup_s": 1,
                             "max_wait_s": 60, "announce_every_s": 0}, token)
    assert status == 201, body
    # bad input names the field; nothing is created twice
    for bad, field_name in (({"name": "Bad Name"}, "name"), ({"name": "x2", "wrapup_s": "5"},
                                                              "wrapup_s"),
                            ({"name": "hogar"}, None)):
        status, body = api_send(stack, "POST", "/api/v1/queues", bad, token)
        assert status in (409, 422), body
        if field_name:
            assert body["field"] == field_name
    stack.aitcomms("did", "add", "+34910000019", "--to", "queue:hogar")

    # a caller waits in an empty queue: the live figures show it
    rtp = await RtpEndpoint.open(TRUNK_IP)
    waiting_call = caller(stack, "+34910000019", rtp, call_ms=3000)
    await waiting_call.start()
    stats = await wait_until(lambda: (s := api(stack, "/api/v1/queues/hogar/stats"))
                             ["waiting"] == 1 and s)
    assert stats  # longest_wait_s: test_queue_figures_service_level_and_handle_time
    await waiting_call.wait()
    rtp.close()

    # members added over the API take calls at once; Asterisk's fallback queue follows
    status, body = api_send(stack, "PUT", "/api/v1/queues/hogar/members/1002", None, token)
    assert status == 200 and [m["extension"] for m in body["queue"]["members"]] == ["1002"]
    status, body = api_send(stack, "PUT", "/api/v1/queues/hogar/members/1003",
                            {"penalty": 5}, token)
    assert status == 200, body
    from control.stack.manager import Stack

    fallback = Stack(stack.settings).asterisk_cli("queue show hogar")
    assert "PJSIP/agent-1002" in fallback and "PJSIP/agent-1003" in fallback, fallback
    async with agent_phones(stack, "1002") as phones:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        try:
            result = await caller(stack, "+34910000019", rtp, call_ms=3000).run()
        finally:
            rtp.close()
        assert result.returncode == 0 and (await phones["1002"].result()).returncode == 0
    status, body = api_send(stack, "DELETE", "/api/v1/queues/hogar/members/1003", None, token)
    assert status == 200 and len(body["queue"]["members"]) == 1
    assert "agent-1003" not in Stack(stack.settings).asterisk_cli("queue show hogar")
    status, body = api_send(stack, "PUT", "/api/v1/queues/nope/members/1002", None, token)
    assert status == 404, body
    # agents may read queues but not change them
    stack.aitcomms("user", "add", "q-agent@example.com", "--role", "agent", "--password",
                   "agent-password-2", "--agent", "1002")
    agent_token = login(stack, "q-agent@example.com", "agent-password-2")
    assert api_send(stack, "POST", "/api/v1/queues", {"name": "x"}, agent_token)[0] == 403
    assert [q["name"] for q in api(stack, "/api/v1/queues", agent_token)["queues"]] == ["hogar"]
