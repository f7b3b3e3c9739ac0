"""Acceptance: the ACD through what a real contact center throws at it, on
real calls (SIPp callers from the trunk, SIPp agents' phones through Kamailio):
the ARI websocket dropping while the control plane runs, the database away
while a call ends, agents changing state during calls, and the queue figures."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from control.stack.manager import Stack
from tests.conftest import StackUnderTest
from tests.harness.ami import Ami
from tests.harness.rtp import RtpEndpoint
from tests.test_acd import (
    add_agent,
    add_returning_customer,
    agent_phones,
    api,
    api_post,
    api_send,
    calls,
    login,
    rows,
    setup_queue,
    supervisor_token,
    wait_until,
)
from tests.test_calls import TRUNK_IP, caller
from tests.test_events import Socket, socket


def _checks(stack: StackUnderTest) -> dict[str, Any]:
    """/health as the control plane answers it (200 all up, 503 degraded)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.port('http')}/health",
                                    timeout=5) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as err:
        return dict(json.loads(err.read()))


@asynccontextmanager
async def events(stack: StackUnderTest) -> AsyncIterator[Socket]:
    """The wallboard's events websocket (a supervisor sees every event)."""
    url = f"http://127.0.0.1:{stack.port('http')}/api/v1/events"
    async with aiohttp.ClientSession() as http, \
            socket(http, url, supervisor_token(stack)) as ws:
        await asyncio.sleep(0.2)  # subscribed to the bus
        yield ws


def _statuses(ws: Socket, extension: str) -> list[str]:
    return [m["data"]["agent"]["status"] for m in ws.of("agent.status_changed")
            if m["data"]["agent"]["extension"] == extension]


def _agent(stack: StackUnderTest, extension: str) -> dict[str, Any]:
    return next(a for a in api(stack, "/api/v1/agents")["agents"]
                if a["extension"] == extension)


async def _call_bridges(ami: Ami) -> list[list[str]]:
    """The members of every bridge holding a caller from the trunk."""
    found = []
    for bridge in await ami.bridges():
        members = await ami.bridge_channels(bridge["BridgeUniqueid"])
        if any(m.startswith("PJSIP/edge-") for m in members):
            found.append(members)
    return found


@asynccontextmanager
async def ari_away(stack: StackUnderTest) -> AsyncIterator[None]:
    """ARI (its REST and its events websocket) is away while Asterisk and the
    control plane both keep running, as in a network cut between them: ARI
    is disabled (every request answers 404, also on kept-alive connections,
    which stopping the HTTP server would leave open) and ARI's own CLI ends
    the open websocket; nothing can reconnect inside the block."""
    conf = stack.settings.asterisk_dir / "etc" / "ari.conf"
    text = conf.read_text()
    cli = Stack(stack.settings).asterisk_cli
    assert text.count("enabled = yes") == 1, text  # [general]
    conf.write_text(text.replace("enabled = yes", "enabled = no"))
    try:
        await asyncio.to_thread(cli, "module reload res_ari.so")
        await asyncio.to_thread(cli, "ari shutdown websocket sessions")
        yield
    finally:
        conf.write_text(text)
        await asyncio.to_thread(cli, "module reload res_ari.so")


async def test_ari_reconnect_closes_calls_ended_meanwhile_and_keeps_the_others(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    add_agent(stack, "1003", languages="es")
    setup_queue(stack, "autos", "+34910000030", "1002,1003", "--wrapup", "1")
    token = supervisor_token(stack)
    async with agent_phones(stack, "1002", "1003") as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami, \
            events(stack) as ws:
        rtp_a, rtp_b = await RtpEndpoint.open(TRUNK_IP), await RtpEndpoint.open(TRUNK_IP)
        first = caller(stack, "+34910000030", rtp_a, call_ms=60000)
        second = caller(stack, "+34910000030", rtp_b, call_ms=60000, from_user="34600999888")
        try:
            await first.start()
            assert await ami.wait_for(lambda: _call_bridges(ami), 10)
            await second.start()

            async def both_bridged() -> list[list[str]]:
                found = await _call_bridges(ami)
                return found if len(found) == 2 and all(len(b) == 2 for b in found) else []

            assert await ami.wait_for(both_bridged, 10), await _call_bridges(ami)
            gone, kept = calls(stack)
            gone_agent, kept_agent = gone["agent_extension"], kept["agent_extension"]
            assert {gone_agent, kept_agent} == {"1002", "1003"}
            gone_members = await ami.bridge_holding(f"PJSIP/agent-{gone_agent}-")
            gone_leg = next(m for m in gone_members if m.startswith("PJSIP/agent-"))
            gone_caller = next(m for m in gone_members if m.startswith("PJSIP/edge-"))
            kept_caller = next(m for m in await ami.bridge_holding(f"PJSIP/agent-{kept_agent}-")
                               if m.startswith("PJSIP/edge-"))

            async with ari_away(stack):
                assert await wait_until(lambda: _checks(stack)["ari"] == "down")
                # the first call's agent hangs up while nobody listens to ARI
                await ami.manager.send_action({"Action": "Hangup", "Channel": gone_leg})
                assert (await phones[gone_agent].result(10)).returncode == 0  # its BYE
                # Asterisk's own view: the caller is left alone in the bridge
                assert await ami.wait_for(
                    lambda: ami.bridge_holding(gone_caller, size=1), 5)
                assert calls(stack)[0]["state"] == "answered"  # nothing saw it end
            assert await wait_until(lambda: _checks(stack)["ari"] == "up", 20)

            # reconnected: the call that ended meanwhile is closed as if seen
            row = await wait_until(lambda: (c := calls(stack)[0])["state"] == "completed" and c)
            assert row, calls(stack)[0]
            assert row["ended_at"] is not None
            assert _agent(stack, gone_agent)["status"] in ("wrap_up", "available")
            # its caller's leg was hung up, its bridge destroyed
            assert await ami.wait_for(lambda: _gone(ami, gone_caller), 5)
            assert await ami.wait_for(lambda: _one_bridge_left(ami), 5), await ami.bridges()
            ended = await ws.wait_for("call.completed")
            assert ended["data"]["call"]["id"] == gone["id"]
            assert "wrap_up" in _statuses(ws, gone_agent)

            # the call still up across the gap is still controlled by the router
            live = api(stack, "/api/v1/calls/live")["calls"]
            assert [(c["id"], c["state"], c["agent_extension"]) for c in live] == [
                (kept["id"], "answered", kept_agent)]
            assert _agent(stack, kept_agent)["status"] == "on_call"
            status, body = api_post(stack, f"/api/v1/calls/{kept['id']}/hangup", {}, token)
            assert status == 202, body
            assert (await phones[kept_agent].result(10)).returncode == 0  # a BYE
            assert await ami.wait_for(lambda: _gone(ami, kept_caller), 5)
            assert not await _call_bridges(ami)
        finally:
            first.kill()
            second.kill()
            rtp_a.close()
            rtp_b.close()
    assert await wait_until(lambda: calls(stack)[1]["state"] == "completed")


async def _gone(ami: Ami, channel: str) -> bool:
    return all(c["Channel"] != channel for c in await ami.channels())


async def _one_bridge_left(ami: Ami) -> bool:
    bridges = await _call_bridges(ami)
    return len(bridges) == 1 and len(bridges[0]) == 2


@contextmanager
def database_locked(stack: StackUnderTest) -> Iterator[None]:
    """Another process holds the stack's SQLite database's write lock (as a
    backup or a long migration would): the running control plane's writes fail
    with "database is locked" once its busy timeout is out; reads go on (WAL).
    (Moving the file away, as tests/test_crm_outbox.py does, would not reach
    the control plane: its pooled connections keep the file open.)"""
    path = Path(stack.settings.database_url.split("///", 1)[1])
    conn = sqlite3.connect(path, timeout=5, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def test_call_ended_while_the_database_is_away_is_closed_once_it_is_back(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    customer = add_returning_customer(stack, "+34600111222", previous_agent="1002")
    setup_queue(stack, "autos", "+34910000031", "1002", "--wrapup", "1")
    outbox = stack.var_dir / "crm-outbox.jsonl"
    async with agent_phones(stack, "1002") as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami, \
            events(stack) as ws:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, "+34910000031", rtp, call_ms=60000)
        try:
            await call.start()
            members = await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/agent-1002-", size=2), 10)
            assert members
            agent_leg = next(m for m in members if m.startswith("PJSIP/agent-"))
            caller_leg = next(m for m in members if m.startswith("PJSIP/edge-"))
            assert await wait_until(lambda: _agent(stack, "1002")["status"] == "on_call")
            bridged_at = datetime.now(UTC)
            call_id = calls(stack)[-1]["id"]

            with database_locked(stack):
                hung_up_at = datetime.now(UTC)
                await ami.manager.send_action({"Action": "Hangup", "Channel": agent_leg})
                hung_up = await phones["1002"].result(10)  # its BYE
                assert hung_up.returncode == 0, hung_up.output
                # the router ends the caller's leg without waiting for the database
                assert await ami.wait_for(lambda: _gone(ami, caller_leg), 10)
                # the end waits in the outbox; the agent is free here meanwhile
                assert await wait_until(outbox.exists, 40), "nothing kept for later"
                assert await wait_until(
                    lambda: _agent(stack, "1002")["status"] == "available", 10)
                assert _statuses(ws, "1002")[-2:] == ["wrap_up", "available"]
                # ...while the database really took none of it
                assert calls(stack)[-1]["state"] == "answered"
                assert rows(stack, "SELECT status FROM agents WHERE extension = '1002'") == [
                    {"status": "on_call"}]
                released_at = datetime.now(UTC)
        finally:
            call.kill()
            rtp.close()

    def written() -> bool:
        return (calls(stack)[-1]["state"] == "completed" and not outbox.exists()
                and rows(stack, "SELECT status FROM agents WHERE extension = '1002'")
                == [{"status": "available"}])

    assert await wait_until(written, 20), (calls(stack)[-1], outbox.exists())
    row = calls(stack)[-1]
    # the end as it happened, not when the database came back
    assert bridged_at <= hung_up_at <= row["ended_at"].replace(tzinfo=UTC) < released_at
    interactions = rows(stack, f"SELECT * FROM interactions WHERE call_id = '{call_id}'")
    assert len(interactions) == 1, interactions
    assert interactions[0]["customer_id"] == customer
    assert interactions[0]["agent_extension"] == "1002"


async def test_agent_state_through_the_api_is_published_and_follows_the_call(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    setup_queue(stack, "autos", "+34910000032", "1002", "--wrapup", "1")
    stack.ensure_user("state-agent@example.com", role="agent", agent="1002",
                      password="agent-password-3")
    token = login(stack, "state-agent@example.com", "agent-password-3")
    path = "/api/v1/agents/1002/status"
    async with agent_phones(stack, "1002") as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami, \
            events(stack) as ws:
        # the wallboard sees the agent's own changes
        status, body = api_send(stack, "PUT", path, {"status": "paused",
                                                     "reason": "training"}, token)
        assert status == 200 and body["agent"]["status"] == "paused", body
        paused = await ws.wait_for("agent.status_changed")
        assert paused["data"]["agent"]["extension"] == "1002"
        assert (paused["data"]["agent"]["status"], paused["data"]["agent"]["pause_reason"]) \
            == ("paused", "training")
        status, body = api_send(stack, "PUT", path, {"status": "available"}, token)
        assert status == 200, body
        assert await wait_until(lambda: _statuses(ws, "1002") == ["paused", "available"])

        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, "+34910000032", rtp, call_ms=4000)
        try:
            await call.start()
            assert await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/agent-1002-", size=2), 10)
            assert await wait_until(lambda: _agent(stack, "1002")["status"] == "on_call")
            # on a call: not free, whatever the agent says
            status, body = api_send(stack, "PUT", path, {"status": "available"}, token)
            assert status == 409 and body["field"] == "status", body
            assert "on call" in body["reason"], body
            # a pause is taken when the call ends
            status, body = api_send(stack, "PUT", path, {"status": "paused",
                                                         "reason": "break"}, token)
            assert status == 202 and body["after_call"] == {"status": "paused",
                                                            "reason": "break"}, body
            assert _agent(stack, "1002")["status"] == "on_call"
            assert len(await ami.bridge_holding("PJSIP/agent-1002-", size=2)) == 2
            assert (await call.wait(20)).returncode == 0
            assert (await phones["1002"].result(10)).returncode == 0
        finally:
            call.kill()
            rtp.close()
        agent = await wait_until(lambda: (a := _agent(stack, "1002"))["status"] == "paused"
                                 and a)
        assert agent and agent["pause_reason"] == "break", _agent(stack, "1002")
        assert _statuses(ws, "1002")[2:] == ["ringing", "on_call", "wrap_up", "paused"]


async def test_queue_figures_service_level_and_handle_time(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    setup_queue(stack, "autos", "+34910000033", "1002", "--wrapup", "1",
                "--service-level", "3")
    loop = asyncio.get_running_loop()

    def stats() -> dict[str, Any]:
        return api(stack, "/api/v1/queues/autos/stats")

    async with agent_phones(stack, "1002", calls=2), \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        rtp_a, rtp_b = await RtpEndpoint.open(TRUNK_IP), await RtpEndpoint.open(TRUNK_IP)
        # the first caller is answered at once; the second waits for the first's
        # call and the wrap-up, past the 3 s target (call_ms counts from the
        # queue's answer: the wait, then about 3 s with the agent)
        first = caller(stack, "+34910000033", rtp_a, call_ms=5000)
        second = caller(stack, "+34910000033", rtp_b, call_ms=9000, from_user="34600999888")
        try:
            await first.start()
            assert await ami.wait_for(lambda: ami.bridge_holding(size=2), 10, every=0.1)
            bridged_a = loop.time()
            second_started = loop.time()
            await second.start()
            assert await wait_until(lambda: stats()["waiting"] == 1)
            seen_waiting = loop.time()
            await asyncio.sleep(1.5)
            before = loop.time()
            waiting = stats()
            after = loop.time()
            # the live figure: how long the second caller has waited so far
            assert waiting["waiting"] == 1
            assert before - seen_waiting - 0.2 <= waiting["longest_wait_s"] \
                <= after - second_started + 0.2, (waiting, before - seen_waiting)
            assert (await first.wait(20)).returncode == 0
            ended_a = loop.time()
            assert await ami.wait_for(lambda: ami.bridge_holding(size=2), 10, every=0.1)
            bridged_b = loop.time()
            assert (await second.wait(20)).returncode == 0
            ended_b = loop.time()
        finally:
            first.kill()
            second.kill()
            rtp_a.close()
            rtp_b.close()
    assert bridged_b - second_started > 3, "the second caller did not wait past the target"
    assert await wait_until(lambda: all(c["state"] == "completed" for c in calls(stack)))
    figures = stats()
    assert (figures["answered"], figures["abandoned"], figures["waiting"]) == (2, 0, 0)
    assert figures["service_level"] == 0.5, figures  # one of two within 3 s
    talked = ((ended_a - bridged_a) + (ended_b - bridged_b)) / 2
    assert abs(figures["average_handle_time_s"] - talked) < 1.0, (figures, talked)
