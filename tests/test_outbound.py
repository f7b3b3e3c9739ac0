"""Acceptance: agents call customers out through the trunk (SIPp plays the
carrier on the trunk's address and the customer's phone behind it).

Click-to-call from a callback task rings the agent's own phone first, then
the customer; a desk phone dialling a national number goes out the same way.
Each party's RTP endpoint sends its own tone, so the bridge is proven by
audio; the recording, the call row, the interaction and the task are checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import StackUnderTest
from tests.harness.ami import Ami
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint, goertzel
from tests.harness.sipp import Sipp, scenario
from tests.test_acd import (
    _read_wav,
    add_agent,
    agent_phones,
    api,
    api_post,
    calls,
    login,
    rows,
    wait_until,
)
from tests.test_calls import TRUNK_IP, caller

MARIA = "+34612345678"  # seeded: María Rodríguez Sánchez
AGENT_EMAIL, AGENT_PASSWORD = "saliente-1001@correduria.es", "saliente-pass-1"


@asynccontextmanager
async def carrier(stack: StackUnderTest, name: str = "agent") -> AsyncIterator[
        tuple[Sipp, RtpEndpoint]]:
    """The carrier behind the trunk: a SIPp on the trunk's address that
    answers (``agent``) or reports busy (``busy``); the trunk points at it."""
    rtp = await RtpEndpoint.open(TRUNK_IP)
    port = sip_port(TRUNK_IP)
    sipp = Sipp(scenario(name), stack.sip_target, local_ip=TRUNK_IP, local_port=port,
                keys={"rtp_port": rtp.port})
    await sipp.start()
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP, "--port", str(port))
    stack.aitcomms("did", "add", "+34910000090", "--to", "ext:1001")  # our caller ID
    try:
        yield sipp, rtp
    finally:
        sipp.kill()
        rtp.close()


def agent_token(stack: StackUnderTest) -> str:
    stack.ensure_user(AGENT_EMAIL, role="agent", agent="1001", password=AGENT_PASSWORD)
    return login(stack, AGENT_EMAIL, AGENT_PASSWORD)


def call_row(stack: StackUnderTest, call_id: str) -> dict[str, Any]:
    """The call's row; {"state": None} until the router has written it (its
    call log writes a moment after the API answered)."""
    return next((c for c in calls(stack) if c["id"] == call_id), {"state": None})


async def prove_two_way_audio(stack: StackUnderTest, agent_rtp: RtpEndpoint,
                              customer_rtp: RtpEndpoint,
                              agent_leg: str = "PJSIP/agent-1001-") -> None:
    """Agent 440 Hz, customer 1000 Hz: each hears the other. The agent's leg
    is ``PJSIP/agent-EXT`` when Asterisk rang the phone, ``PJSIP/edge`` when the
    phone called (everything from Kamailio arrives on the edge endpoint)."""
    async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        members = await ami.wait_for(
            lambda: ami.bridge_holding(agent_leg, "PJSIP/trunk-carrier-"), timeout=15)
        assert members, "agent and customer never bridged"
        agent_chan = next(c for c in members if c.startswith(agent_leg))
        customer_chan = next(c for c in members if c.startswith("PJSIP/trunk-carrier-"))
        agent_rtp.send_tone(await ami.rtp_address(agent_chan), 440)
        customer_rtp.send_tone(await ami.rtp_address(customer_chan), 1000)
    await asyncio.sleep(0.5)
    agent_rtp.reset()
    customer_rtp.reset()
    await asyncio.sleep(2.0)
    print(f"\nagent hears customer {agent_rtp.energy(1000):.0f} (own {agent_rtp.energy(440):.0f}),"
          f" customer hears agent {customer_rtp.energy(440):.0f}")
    assert agent_rtp.energy(1000) > 200, "the agent does not hear the customer"
    assert customer_rtp.energy(440) > 200, "the customer does not hear the agent"


async def test_click_to_call_from_a_callback_task(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("db", "seed")
    add_agent(stack, "1001", languages="es")
    token = agent_token(stack)
    maria = rows(stack, "SELECT id FROM customers WHERE name = 'María Rodríguez Sánchez'")
    status, body = api_post(stack, "/api/v1/tasks", {
        "kind": "callback", "customer_id": maria[0]["id"], "notes": "quiere revisar el hogar",
        "scheduled_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()}, token)
    assert status == 201, body
    task_id = body["task"]["id"]
    async with carrier(stack) as (customer, customer_rtp), \
            agent_phones(stack, "1001") as phones:
        status, body = api_post(stack, "/api/v1/calls", {"task_id": task_id}, token)
        assert status == 202, body
        call_id = body["call"]["id"]
        assert body["call"]["caller_number"] == MARIA and body["call"]["direction"] == "outbound"
        await prove_two_way_audio(stack, phones["1001"].rtp, customer_rtp)
        row = call_row(stack, call_id)
        assert row["state"] == "answered" and row["agent_extension"] == "1001", row
        agent = rows(stack, "SELECT status FROM agents WHERE extension = '1001'")[0]
        assert agent["status"] == "on_call", agent
        task = rows(stack, f"SELECT status FROM tasks WHERE id = {task_id}")[0]
        assert task["status"] == "pending", task
        status, body = api_post(stack, f"/api/v1/calls/{call_id}/hangup", {}, token)
        assert status == 202, body
        assert (await customer.wait(20)).returncode == 0
        assert (await phones["1001"].result()).returncode == 0
    row = await wait_until(lambda: (r := call_row(stack, call_id))["state"] == "completed"
                           and r["recording"] and Path(r["recording"]).is_absolute() and r)
    assert row, call_row(stack, call_id)
    assert row["direction"] == "outbound" and row["customer_id"] == maria[0]["id"]
    interaction = await wait_until(lambda: rows(
        stack, f"SELECT * FROM interactions WHERE call_id = '{call_id}'"))
    assert len(interaction) == 1, interaction
    assert (interaction[0]["direction"], interaction[0]["outcome"],
            interaction[0]["agent_extension"]) == ("outbound", "answered", "1001")
    # the callback reached the customer: the task is done, by the agent who called
    task = rows(stack, f"SELECT status, agent_extension FROM tasks WHERE id = {task_id}")[0]
    assert (task["status"], task["agent_extension"]) == ("done", "1001"), task
    frames, seconds, rate = _read_wav(Path(row["recording"]))
    samples = [int.from_bytes(frames[i:i + 2], "little", signed=True)
               for i in range(0, len(frames), 2)]
    assert seconds > 2, seconds
    assert goertzel(samples, 1000, rate) > 100 and goertzel(samples, 440, rate) > 100
    # the outbound call is not an offered call of any queue
    report = await asyncio.to_thread(api, stack, "/api/v1/analytics/calls")
    assert report["outbound"]["connected"] >= 1 and report["total"] == 0, report


async def test_desk_phone_dials_a_national_number(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1001")
    async with carrier(stack) as (customer, customer_rtp):
        agent_rtp = await RtpEndpoint.open()
        try:
            # 600 111 333: a Spanish mobile, dialled without +34
            dialled = caller(stack, "600111333", agent_rtp, ip="127.0.0.1", call_ms=6000,
                             auth=("1001", "secret-1001-pw"), from_user="1001")
            await dialled.start()
            await prove_two_way_audio(stack, agent_rtp, customer_rtp, "PJSIP/edge-")
            result = await dialled.wait(30)
        finally:
            agent_rtp.close()
        assert result.returncode == 0 and result.successful == 1, result.output
        assert (await customer.wait(20)).returncode == 0
    row = await wait_until(lambda: (c := calls(stack)[-1])["state"] == "completed" and c)
    assert row, calls(stack)
    assert (row["direction"], row["caller_number"], row["agent_extension"]) == (
        "outbound", "+34600111333", "1001"), row


async def test_busy_customer_and_refusals(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1001")
    token = agent_token(stack)
    # no trunk yet: refused with the reason, nothing rings
    status, body = api_post(stack, "/api/v1/calls", {"to": "+34600111444"}, token)
    assert status == 409 and "trunk" in body["reason"], body
    for bad, field in (({"to": "12"}, "to"), ({}, "to"), ({"to": 600111444}, "to"),
                       ({"to": "+34600111444", "customer_id": "x"}, "customer_id"),
                       ({"task_id": 999999}, "task_id"), ({"to": "+34600111444", "x": 1}, "x")):
        status, body = api_post(stack, "/api/v1/calls", bad, token)
        assert 400 <= status < 500 and body.get("field") == field, (bad, status, body)
    async with carrier(stack, "busy") as (customer, _rtp), \
            agent_phones(stack, "1001") as phones:
        status, body = api_post(stack, "/api/v1/calls", {"to": "600111444"}, token)
        assert status == 202, body
        call_id = body["call"]["id"]
        row = await wait_until(lambda: (r := call_row(stack, call_id))["state"] == "no_answer"
                               and r)
        assert row, call_row(stack, call_id)
        assert (await customer.wait(20)).returncode == 0  # it saw the INVITE, said busy
        # the agent's phone was rung and answered, then hung up: the agent is free again
        assert (await phones["1001"].result()).returncode == 0
    agent = await wait_until(lambda: (a := rows(
        stack, "SELECT status FROM agents WHERE extension = '1001'")[0])["status"]
        == "available" and a)
    assert agent, rows(stack, "SELECT status FROM agents")
