"""Stasis: ARI's events, each filed into its call's lane and routed to its
handler by a route table (like the FastAGI server's in ``agi/server.py``).

The dialplan and the ACD's own originates name what a channel is by its
Stasis arguments: ``queue,NAME,LANG,SKILLS,PRIORITY,CUSTOMER`` (a caller),
``agent,CALL`` (an agent's phone answered a queued call), ``consult,CALL``,
``supervisor,CALL,MODE``, ``snoop``, ``dial,NUMBER,EXT`` (an agent dialled
out), ``outbound-agent,CALL``, ``outbound-customer,CALL``,
``feature,ACTION,EXT`` (desk phone feature codes).

The lane is chosen when the event arrives, before anything awaits: a new
caller's (or dialling agent's) call id is made then, so that its hang-up,
however soon, lands in the same lane behind its arrival.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from control.acd import call_control, lifecycle, supervision
from control.acd.calls import new_call_id

if TYPE_CHECKING:
    from control.acd.router import Router

log = logging.getLogger(__name__)

Handler = Callable[["Router", dict[str, Any], list[str]], Awaitable[None]]


async def _agent_dials(acd: Router, channel: dict[str, Any], args: list[str]) -> None:
    await acd.dialer.agent_dials(channel, args)


async def _outbound_agent(acd: Router, channel: dict[str, Any], args: list[str]) -> None:
    await acd.dialer.agent_answers(channel, args[0])


async def _outbound_customer(acd: Router, channel: dict[str, Any], args: list[str]) -> None:
    await acd.dialer.customer_answers(channel, args[0])


# Stasis's first argument -> what handles the channel entering the app
ROUTES: dict[str, Handler] = {
    "queue": lifecycle.caller_arrives,
    "agent": lifecycle.agent_answers,
    "consult": call_control.consulted_answers,
    "supervisor": supervision.supervisor_answers,
    "dial": _agent_dials,
    "outbound-agent": _outbound_agent,
    "outbound-customer": _outbound_customer,
    "feature": lifecycle.feature_code,
}
# these start a call: its id is made as the event arrives
STARTS_A_CALL = ("queue", "dial")


def lane_of(acd: Router, event: dict[str, Any]) -> str | None:
    """The lane an event runs in (None: handled at once, it only wakes a waiter)."""
    kind = event.get("type")
    if kind == "StasisStart":
        args = event.get("args") or []
        chan_id = event["channel"]["id"]
        route = args[0] if args else ""
        if route == "snoop":
            return None
        if route in STARTS_A_CALL:
            call_id = new_call_id()
            acd.calls.by_channel[chan_id] = call_id
            return call_id
        if route == "feature" or len(args) < 2:
            return f"channel:{chan_id}"
        return args[1]  # the call id the ACD gave it
    if kind in ("StasisEnd", "ChannelDestroyed"):
        chan_id = event["channel"]["id"]
        return acd.calls.by_channel.get(chan_id) or _supervised_call(acd, chan_id) or \
            f"channel:{chan_id}"
    if kind == "PlaybackFinished":
        playback = str((event.get("playback") or {}).get("id", ""))
        return playback.removeprefix("announce-") if playback.startswith("announce-") else None
    if kind in ("RecordingFinished", "RecordingFailed"):
        return str((event.get("recording") or {}).get("name", "")) or None
    return None


def _supervised_call(acd: Router, chan_id: str) -> str | None:
    """The call a supervisor's channel, or its snoop, belongs to."""
    sup = acd.calls.supervision.get(chan_id)
    if sup:
        return sup.call_id
    return next((s.call_id for s in acd.calls.supervision.values()
                 if s.snoop_channel == chan_id), None)


def on_event(acd: Router, event: dict[str, Any]) -> None:
    """File one ARI event; never waits (called from the websocket's read loop)."""
    kind = event.get("type")
    if kind == "StasisStart" and (event.get("args") or [""])[0] == "snoop":
        supervision.snoop_entered(acd, event["channel"]["id"])
        return
    key = lane_of(acd, event)
    if key is None:
        return
    acd.lanes.submit(key, lambda: handle(acd, event), str(kind))


async def handle(acd: Router, event: dict[str, Any]) -> None:
    kind = event.get("type")
    if kind == "StasisStart":
        args = event.get("args") or []
        handler = acd.routes.get(args[0] if args else "")
        if handler is None:
            log.warning("Stasis channel with unknown arguments %r: back to the dialplan", args)
            await acd.ari.request_quietly("POST", f"/channels/{event['channel']['id']}/continue")
            return
        await handler(acd, event["channel"], args[1:])
    elif kind in ("StasisEnd", "ChannelDestroyed"):
        await lifecycle.channel_gone(acd, event["channel"]["id"], event.get("cause"))
    elif kind == "PlaybackFinished":
        await lifecycle.announcement_done(acd, event.get("playback") or {})
    elif kind in ("RecordingFinished", "RecordingFailed"):
        await lifecycle.recording_finished(acd, str(event["recording"].get("name", "")))
