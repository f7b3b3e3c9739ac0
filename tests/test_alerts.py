"""Wallboard alerts on the real stack: a real caller waits in a queue with no
agent free; past the queue's longest-wait threshold the alert is raised once
on a supervisor's websocket (and listed by GET /api/v1/alerts), and cleared
once the caller is gone."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import StackUnderTest
from tests.harness.rtp import RtpEndpoint
from tests.test_acd import add_agent, api, api_send, setup_queue, supervisor_token, wait_until
from tests.test_calls import TRUNK_IP, caller
from tests.test_events import socket


async def test_longest_wait_alert_raised_then_cleared(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1001", available=False)  # logged out: nobody takes the call
    setup_queue(stack, "autos", "+34910000031", "1001", "--max-wait", "60")
    token = supervisor_token(stack)
    status, body = api_send(stack, "PATCH", "/api/v1/queues/autos/targets",
                            {"alert_longest_wait_s": 2}, token)
    assert status == 200, body
    base = f"http://127.0.0.1:{stack.port('http')}"
    async with aiohttp.ClientSession() as http, \
            socket(http, f"{base}/api/v1/events", token) as ws:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        sipp = caller(stack, "+34910000031", rtp, call_ms=7000)
        await sipp.start()
        try:
            raised = await ws.wait_for("alert.raised", timeout=15)
            # listed while it holds
            active = api(stack, "/api/v1/alerts")["alerts"]
            result = await sipp.wait(30)
        finally:
            rtp.close()
        assert result.returncode == 0, result.output
        cleared = await wait_until(lambda: [m for m in ws.of("alert.cleared")
                                            if m["data"]["kind"] == "longest_wait"], 10)
        await asyncio.sleep(1.5)  # a round or more after the clear: nothing raised again
    alert = raised["data"]
    assert (alert["kind"], alert["queue"]) == ("longest_wait", "autos")
    assert alert["threshold"] == 2 and alert["value"] > 2
    assert [a["alert_id"] for a in active if a["kind"] == "longest_wait"] == [alert["alert_id"]]
    assert cleared and cleared[0]["data"]["alert_id"] == alert["alert_id"]
    # raised once, cleared once
    waits = [m for m in ws.of("alert.raised") if m["data"]["kind"] == "longest_wait"]
    assert len(waits) == 1 and len(cleared) == 1
    assert not [a for a in api(stack, "/api/v1/alerts")["alerts"]
                if a["kind"] == "longest_wait"]
