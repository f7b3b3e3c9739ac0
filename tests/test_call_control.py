"""Acceptance: call control through the API on real calls — hold, blind
transfer to another agent, pausing the recording, hangup — each proven by what
the parties hear and what Asterisk holds."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from tests.conftest import StackUnderTest
from tests.harness.ami import Ami
from tests.harness.rtp import RtpEndpoint
from tests.test_acd import (
    add_agent,
    agent_phones,
    api,
    api_post,
    caller,
    calls,
    setup_queue,
    supervisor_token,
    wait_until,
)
from tests.test_calls import TRUNK_IP


async def _listen(*endpoints: RtpEndpoint, seconds: float = 1.5) -> None:
    await asyncio.sleep(0.4)
    for e in endpoints:
        e.reset()
    await asyncio.sleep(seconds)


async def test_hold_transfer_recording_pause_and_hangup(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    add_agent(stack, "1003", languages="es", available=False)  # only by transfer
    setup_queue(stack, "autos", "+34910000017", "1002,1003", "--wrapup", "1")
    token = supervisor_token(stack)
    async with agent_phones(stack, "1002", "1003") as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, "+34910000017", rtp, call_ms=60000)
        await call.start()
        try:
            members = await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/agent-1002-", size=2), 10)
            assert members
            bridged_at = asyncio.get_running_loop().time()
            agent_chan = next(m for m in members if m.startswith("PJSIP/agent-1002-"))
            caller_chan = next(m for m in members if m.startswith("PJSIP/edge-"))
            rtp.send_tone(await ami.rtp_address(caller_chan), 1000)
            phones["1002"].rtp.send_tone(await ami.rtp_address(agent_chan), 440)
            call_id = calls(stack)[-1]["id"]
            path = f"/api/v1/calls/{call_id}"

            await _listen(rtp, phones["1002"].rtp)
            talking = rtp.energy(440)
            assert talking > 500

            # pause the recording for a while: the file comes out shorter than the call
            assert api_post(stack, f"{path}/recording", {"action": "pause"}, token)[0] == 202
            await asyncio.sleep(3)
            assert api_post(stack, f"{path}/recording", {"action": "resume"}, token)[0] == 202

            # hold: the caller hears music, not the agent; the agent not the caller
            assert api_post(stack, f"{path}/hold", {}, token)[0] == 202
            await _listen(rtp, phones["1002"].rtp)
            # (music has some 440 Hz of its own: far below the agent's tone)
            assert rtp.energy(440) < talking / 10 and rtp.rms() > 100, "on hold: music"
            assert phones["1002"].rtp.energy(1000) < 50
            assert api_post(stack, f"{path}/unhold", {}, token)[0] == 202
            await _listen(rtp)
            assert rtp.energy(440) > 500, "back from hold: the agent again"

            # blind transfer to 1003: the caller ends up bridged with 1003
            status, body = api_post(stack, f"{path}/transfer", {"to": "ext:1003"}, token)
            assert status == 202, body
            members = await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/agent-1003-", size=2), 10)
            assert members, "not bridged with 1003 after the transfer"
            assert (await phones["1002"].result()).returncode == 0  # its leg ended cleanly
            new_agent = next(m for m in members if m.startswith("PJSIP/agent-1003-"))
            phones["1003"].rtp.send_tone(await ami.rtp_address(new_agent), 700)
            await _listen(rtp, phones["1003"].rtp)
            assert rtp.energy(700) > 500 and phones["1003"].rtp.energy(1000) > 500

            # bad input: a transfer to nobody, an unknown action
            status, body = api_post(stack, f"{path}/transfer", {"to": "ext:9999"}, token)
            assert status == 422 and body["field"] == "to"
            status, body = api_post(stack, f"{path}/dance", {}, token)
            assert status == 404

            assert api_post(stack, f"{path}/hangup", {}, token)[0] == 202
            talked = asyncio.get_running_loop().time() - bridged_at
            result = await call.wait(20)
            assert result.returncode == 0, result.output  # the caller got a BYE
            assert (await phones["1003"].result()).returncode == 0
        finally:
            call.kill()
            rtp.close()
    row = await wait_until(lambda: (c := calls(stack)[-1])["state"] == "completed" and c)
    assert row and row["agent_extension"] == "1003"
    decisions = api(stack, f"/api/v1/calls/{call_id}/routing")["decisions"]
    assert [d["chosen"] for d in decisions] == ["1002", "1003"]
    assert "blind transfer from 1002 to 1003" in decisions[-1]["reason"]
    # the call's timeline (call history) holds each step, in order
    steps = [(s["kind"], s.get("agent_extension"), s.get("to")) for s in
             api(stack, f"/api/v1/calls/{call_id}")["timeline"]
             if s["kind"] in ("rung", "answered", "recording_paused", "recording_resumed",
                              "held", "unheld", "transferred", "ended")]
    assert steps == [("rung", "1002", None), ("answered", "1002", None),
                     ("recording_paused", "1002", None), ("recording_resumed", "1002", None),
                     ("held", "1002", None), ("unheld", "1002", None),
                     ("transferred", "1002", "ext:1003"), ("rung", "1003", None),
                     ("answered", "1003", None), ("ended", None, None)], steps
    recording = await wait_until(lambda: (r := calls(stack)[-1]["recording"]) and
                                 r.startswith("/") and r)
    with wave.open(str(Path(recording))) as wav:
        recorded = wav.getnframes() / wav.getframerate()
    # both agents' parts are in the one file, less the 3 s paused
    assert talked - 6 < recorded < talked - 2, f"recorded {recorded:.1f} s of {talked:.1f} s"


async def test_attended_transfer(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    add_agent(stack, "1003", languages="es", available=False)
    setup_queue(stack, "autos", "+34910000021", "1002,1003", "--wrapup", "1")
    token = supervisor_token(stack)
    async with agent_phones(stack, "1002", "1003") as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, "+34910000021", rtp, call_ms=60000)
        await call.start()
        try:
            members = await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/agent-1002-", size=2), 10)
            agent_chan = next(m for m in members if m.startswith("PJSIP/agent-1002-"))
            caller_chan = next(m for m in members if m.startswith("PJSIP/edge-"))
            rtp.send_tone(await ami.rtp_address(caller_chan), 1000)
            phones["1002"].rtp.send_tone(await ami.rtp_address(agent_chan), 440)
            path = f"/api/v1/calls/{calls(stack)[-1]['id']}"

            status, body = api_post(stack, f"{path}/complete_transfer", {}, token)
            assert status == 409, body  # nobody consulted yet
            status, body = api_post(stack, f"{path}/consult", {"to": "ext:1003"}, token)
            assert status == 202, body

            consult = await ami.wait_for(lambda: ami.bridge_holding("PJSIP/agent-1003-"), 10)
            assert consult and not any(m.startswith("PJSIP/edge-") for m in consult)
            colleague = next(m for m in consult if m.startswith("PJSIP/agent-1003-"))
            phones["1003"].rtp.send_tone(await ami.rtp_address(colleague), 700)
            await _listen(rtp, phones["1003"].rtp)
            # the colleague hears the agent, not the caller; the caller hears music
            assert phones["1003"].rtp.energy(440) > 500
            assert phones["1003"].rtp.energy(1000) < 50
            assert rtp.energy(700) < 50 and rtp.energy(440) < 500 and rtp.rms() > 100

            live = api(stack, "/api/v1/calls/live")["calls"]
            assert [(c["state"], c["agent_extension"]) for c in live] == [("answered", "1002")]
            status, body = api_post(stack, f"{path}/complete_transfer", {}, token)
            assert status == 202, body
            assert (await phones["1002"].result()).returncode == 0  # first agent left
            live = api(stack, "/api/v1/calls/live")["calls"]
            assert [(c["state"], c["agent_extension"]) for c in live] == [("answered", "1003")]
            await _listen(rtp, phones["1003"].rtp)
            assert rtp.energy(700) > 500 and phones["1003"].rtp.energy(1000) > 500
        finally:
            call.kill()
            rtp.close()
    decisions = api(stack, f"{path}/routing")["decisions"]
    assert "attended transfer from 1002 to 1003" in decisions[-1]["reason"]
    steps = [(s["kind"], s.get("agent_extension"), s.get("to"), s.get("attended"))
             for s in api(stack, path)["timeline"]
             if s["kind"] in ("consulting", "transferred")]
    assert steps == [("consulting", "1002", "ext:1003", None),
                     ("transferred", "1002", "ext:1003", True)], steps
    agents = {a["extension"]: a["status"] for a in api(stack, "/api/v1/agents")["agents"]}
    assert agents["1003"] in ("on_call", "wrap_up") and agents["1002"] in ("wrap_up",
                                                                            "available")


async def test_desk_phone_feature_codes_change_the_agent_state(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1004", available=False)

    def status() -> str:
        agents = {a["extension"]: a for a in api(stack, "/api/v1/agents")["agents"]}
        return str(agents["1004"]["status"])

    assert status() == "logged_out"
    for code, expected in (("*45", "available"), ("*47", "paused"), ("*48", "available"),
                           ("*46", "logged_out")):
        rtp = await RtpEndpoint.open()
        try:
            result = await caller(stack, code, rtp, ip="127.0.0.1", call_ms=8000,
                                  auth=("1004", "secret-1004-pw"), from_user="1004").run()
        finally:
            rtp.close()
        assert result.returncode == 0, result.output  # answered, confirmed, hung up
        assert rtp.packets > 5, f"{code}: no confirmation heard"
        assert status() == expected, code
