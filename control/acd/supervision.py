"""Supervision: listen, whisper, barge.

The supervisor's own phone is rung (Stasis ``supervisor,CALL,MODE``); once
answered, an ARI snoop on the agent's channel and a mixing bridge join it
to the call. On the agent's channel ``spy=both`` hears caller and agent;
``whisper=out`` reaches the agent only (whisper), ``whisper=both`` reaches
both (barge). The snoop and the bridge are the ACD's to destroy when the
supervisor hangs up or the call ends: Asterisk would keep them for ever.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from control.acd.calls import Supervision
from control.errors import NotFound
from control.telephony.ari import AriError

if TYPE_CHECKING:
    from control.acd.router import Router

log = logging.getLogger(__name__)

SNOOP_WHISPER = {"listen": "none", "whisper": "out", "barge": "both"}
SNOOP_BOUND_S = 5.0


async def supervise(acd: Router, call_id: str, mode: str, extension: str) -> str:
    """Ring the supervisor's own phone; once answered it hears (and, for
    whisper and barge, talks into) the call. Returns the supervisor's channel."""
    call = acd.calls.get(call_id)
    if call is None or not call.answered or not call.agent_channel:
        raise NotFound("call in progress", call_id, "call_id")
    channel = f"sup-{uuid.uuid4().hex[:16]}"
    # on the agent channel's node: the snoop and its bridge are there
    await acd.ari.originate(endpoint=f"PJSIP/agent-{extension}", channel_id=channel,
                            node=acd.node_of(call),
                            app_args=f"supervisor,{call_id},{mode}", ring_s=30,
                            caller_id=f"{mode} {call.caller_number}")
    return channel


def snoop_entered(acd: Router, snoop_id: str) -> None:
    """A snoop channel entered the app: only now can it be bridged."""
    waiter = acd.snoops.pop(snoop_id, None)
    if waiter and not waiter.done():
        waiter.set_result(None)


async def supervisor_answers(acd: Router, channel: dict[str, Any], args: list[str]) -> None:
    sup_channel = channel["id"]
    call_id, mode = (args + ["", ""])[:2]
    call = acd.calls.get(call_id)
    if call is None or not call.agent_channel or mode not in SNOOP_WHISPER:
        await acd.ari.request_quietly("DELETE", f"/channels/{sup_channel}")
        return
    snoop_id = f"snoop-{uuid.uuid4().hex[:16]}"
    entered = asyncio.get_running_loop().create_future()
    acd.snoops[snoop_id] = entered
    try:
        await acd.ari.request(
            "POST", f"/channels/{call.agent_channel}/snoop", app=acd.ari.app,
            appArgs="snoop", snoopId=snoop_id, spy="both", whisper=SNOOP_WHISPER[mode])
        await asyncio.wait_for(entered, SNOOP_BOUND_S)
    except (AriError, TimeoutError):
        acd.snoops.pop(snoop_id, None)
        log.warning("could not snoop on call %s", call_id)
        await acd.ari.request_quietly("DELETE", f"/channels/{sup_channel}")
        return
    bridge = await acd.ari.request("POST", "/bridges", node=acd.node_of(call),
                                   type="mixing", name=f"{mode}-{call_id}")
    acd.calls.supervision[sup_channel] = Supervision(call_id, snoop_id, bridge["id"])
    call.supervisors.append(sup_channel)
    try:
        await acd.ari.request("POST", f"/bridges/{bridge['id']}/addChannel",
                              channel=f"{snoop_id},{sup_channel}")
    except AriError as exc:  # the supervisor (or the call) went meanwhile
        log.warning("could not bridge the supervisor into call %s: %s", call_id, exc)
        await end_supervision(acd, sup_channel, hang_up=True)
        return
    acd.call_log.event(call.id, "supervised", _extension(channel), mode=mode)
    await acd.notifier.call_supervised(call, mode, sup_channel)


async def end_supervision(acd: Router, sup_channel: str, hang_up: bool = False) -> None:
    """The supervisor hung up (or the call ended): destroy the snoop channel
    and the supervisor's bridge."""
    sup = acd.calls.supervision.pop(sup_channel, None)
    if sup is None:
        return
    call = acd.calls.get(sup.call_id)
    if call and sup_channel in call.supervisors:
        call.supervisors.remove(sup_channel)
    await acd.ari.request_quietly("DELETE", f"/channels/{sup.snoop_channel}")
    await acd.ari.request_quietly("DELETE", f"/bridges/{sup.bridge_id}")
    if hang_up:
        await acd.ari.request_quietly("DELETE", f"/channels/{sup_channel}")
    acd.call_log.event(sup.call_id, "supervision_ended", None, channel=sup_channel)
    await acd.notifier.call_supervision_ended(sup.call_id, call, sup_channel)


_PHONE = re.compile(r"PJSIP/agent-([0-9]+)-")


def _extension(channel: dict[str, Any]) -> str | None:
    """The supervisor's extension, from its channel's name (PJSIP/agent-2001-0000002a)."""
    found = _PHONE.match(str(channel.get("name", "")))
    return found.group(1) if found else None
