"""Rebuilding the ACD's view from Asterisk after (re)connecting to ARI.

ARI does not replay the events missed while its websocket was down, and a
restarted control plane knows nothing: the live calls are rebuilt from
what Asterisk holds now (``GET /channels``, ``GET /bridges``), those known
here and those only the database knows (open call rows). What ended while
ARI was away is closed as if it had been seen (call row, interaction, agent
to wrap-up, events); bridges are associated again; leftovers of supervision
are destroyed; agents shown ringing or on a call that no longer exists are
free again.

With several media nodes this runs per node, when that node (re)connects,
and judges only the calls on it (``calls.media_node``): a node that cannot
be seen from here says nothing about another node's calls. Open calls of
nodes not reconciled yet are known (their agents stay engaged) but not
judged until their own node answers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from control.acd import distribution, lifecycle, supervision
from control.acd.calls import LiveCall, PendingRecording, Supervision
from control.acd.customers import is_transient
from control.acd.models import AgentStatus, CallState
from control.acd.store import now, parse_time
from control.telephony.ari import AriError

if TYPE_CHECKING:
    from control.acd.router import Router

log = logging.getLogger(__name__)

# bridges the ACD creates: "call-ID" (caller and agent), "MODE-ID" (supervisor and snoop)
BRIDGE_NAME = re.compile(r"^(call|listen|whisper|barge)-(.+)$")


NODE_LOST_S = 15.0  # a media node unreachable this long has lost its calls
# calls ended this recently whose recording no control plane filed are filed
# at a reconcile (older: the recording never came out, or was dealt with)
UNFILED_WINDOW = timedelta(minutes=10)


async def _read_back(acd: Router, what: str, read: Callable[..., list[dict[str, Any]]],
                     *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Rows read once this process's own writes are in them; none while the
    database is away (``what`` waits for the next reconcile, logged)."""
    try:
        await acd.call_log.flush()
        return await asyncio.to_thread(read, *args, **kwargs)
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning("reconcile: database away, %s wait (%s)", what, exc)
        return []


async def _unfiled_recordings(acd: Router, node: str) -> None:
    """Calls that ended on a control plane that died before Asterisk closed
    their recording (its list of pending recordings died with it): filed
    now from their node, as a late recording (a node that has no such file
    says so in the log, and the row keeps the file's name)."""
    rows = await _read_back(acd, "recordings not filed yet", acd.store.unfiled_recordings,
                            node, default=acd.ari.default, since=now() - UNFILED_WINDOW)
    for row in rows:
        if row["id"] in acd.recordings_pending or row["id"] in acd.calls.calls:
            continue
        log.info("call %s: its recording was left unfiled; filing it from %s", row["id"], node)
        acd.recordings_pending[row["id"]] = PendingRecording(row["agent_extension"], node)
        acd.lanes.submit(row["id"], partial(lifecycle.recording_finished, acd, row["id"],
                                            late=True), "recording left unfiled")


async def calls_of_lost_nodes(acd: Router) -> None:
    """End the calls of a media node that has been unreachable for
    :data:`NODE_LOST_S` (or was removed from the fleet), once each: their
    media went with it, and their agents would otherwise stay "on a call"
    until it came back. Not with the stack's own Asterisk alone: nothing
    else can take calls then, and its return is reconciled as always."""
    alone = acd.ari.nodes() == [acd.ari.default]
    for call in list(acd.calls.calls.values()):
        node = acd.node_of(call)
        if call.ended or (alone and node == acd.ari.default) \
                or acd.ari.down_for(node) < NODE_LOST_S:
            continue
        log.warning("call %s: media node %s unreachable for %.0f s: the call is over",
                    call.id, node, NODE_LOST_S)
        acd.lanes.submit(call.id, partial(lifecycle.end, acd, call), "media node lost")


async def reconcile(acd: Router, node: str) -> None:
    try:
        channels = {c["id"]: c for c in await acd.ari.request("GET", "/channels", node=node)}
        bridges = await acd.ari.request("GET", "/bridges", node=node)
    except AriError:
        log.exception("reconcile: cannot list channels and bridges of %s", node)
        return
    await acd.refresh()
    bridge_of = {chan: b["id"] for b in bridges for chan in b.get("channels", [])}
    for call in list(acd.calls.calls.values()):
        if acd.node_of(call) == node:
            await _call(acd, call, channels, bridge_of, node)
    rows = await _read_back(acd, "calls only it knows", acd.store.open_calls)
    loop_now, wall_now = asyncio.get_running_loop().time(), now()
    for row in rows:
        if row["id"] in acd.calls.calls:
            continue
        # waiting as long as it has: callers taken over keep their order
        waited = (wall_now - parse_time(row["entered_at"])).total_seconds() \
            if row.get("entered_at") else 0.0
        call = LiveCall(
            id=row["id"], queue=row["queue"], caller_channel=row["caller_channel"],
            caller_number=row["caller_number"], language=row["language"],
            skills=tuple(row["skills"]), priority=row["priority"],
            customer_id=row["customer_id"], previous_agent=None, context={},
            entered=loop_now - max(0.0, waited), agent_channel=row["agent_channel"],
            bridge_id=row["bridge_id"], answered=row["state"] == CallState.ANSWERED.value,
            row=row, direction=row.get("direction") or "inbound", task_id=row.get("task_id"),
            media_node=row.get("media_node"))
        if row["state"] == CallState.RINGING.value and row["agent_extension"] \
                and call.direction == "inbound":
            call.ringing_agent = row["agent_extension"]
        if call.answered and row.get("recording"):
            call.recording = call.id
        acd.calls.add(call)
        if acd.node_of(call) == node:
            await _call(acd, call, channels, bridge_of, node)
    await _bridges(acd, channels, bridges, node)
    await _agents(acd)
    await _unfiled_recordings(acd, node)
    log.info("reconciled %s: %d live calls", node, len(acd.calls.calls))
    acd.distributor.request()


async def _call(acd: Router, call: LiveCall, channels: dict[str, dict[str, Any]],
                bridge_of: dict[str, str], node: str) -> None:
    if call.ended:
        return
    if call.direction == "outbound" and not call.answered:
        # being placed when ARI went away: what became of it is not known
        # here; the agent dials again rather than being bridged half-way
        log.info("reconcile: outbound call %s was being placed: dropped", call.id)
        await acd.dialer.leg_failed(call, "", None)
        return
    if call.caller_channel not in channels or (
            call.answered and (call.agent_channel or "") not in channels):
        log.info("reconcile: call %s ended while ARI was away", call.id)
        await lifecycle.end(acd, call)
        return
    if call.consult_channel and call.consult_channel not in channels:
        acd.calls.unlink(call.consult_channel)
        call.consult_channel = call.consult_agent = None
    for sup in list(call.supervisors):
        if sup not in channels:
            await supervision.end_supervision(acd, sup)
    if not call.answered and call.agent_channel:
        agent_leg = channels.get(call.agent_channel)
        if agent_leg is None:  # the ring ended unseen: the caller goes to the next best
            if call.ringing_agent:
                await distribution.ring_failed(acd, call, call.ringing_agent, miss=False)
            else:
                acd.calls.unlink(call.agent_channel)
                call.agent_channel = None
                acd.call_log.call(call.id, state=CallState.WAITING.value, agent_channel=None)
        elif agent_leg.get("state") == "Up" and call.ringing_agent:
            # answered unseen: the agent's leg waits in the app for its bridge
            await lifecycle.agent_answers(acd, agent_leg, [call.id])
    if call.answered:
        # on hold the caller is out of the bridge: the agent is in it
        bridge = bridge_of.get(call.caller_channel) or bridge_of.get(call.agent_channel or "")
        if bridge and bridge != call.bridge_id:
            call.bridge_id = bridge
            acd.call_log.call(call.id, bridge_id=bridge)
    # a dropped websocket may leave the app without its subscriptions
    sources = [f"channel:{c}" for c in (call.caller_channel, call.agent_channel,
                                        call.consult_channel) if c and c in channels]
    if call.bridge_id:
        sources.append(f"bridge:{call.bridge_id}")
    await acd.ari.request_quietly("POST", f"/applications/{acd.ari.app}/subscription",
                                  node=node, eventSource=",".join(sources))


async def _bridges(acd: Router, channels: dict[str, dict[str, Any]],
                   bridges: list[dict[str, Any]], node: str) -> None:
    """The ACD's bridges: the supervisors' are associated again (or
    destroyed if their supervisor or snoop is gone), those of calls that
    are over are destroyed, and so are snoops nobody listens to."""
    in_use = {c.bridge_id for c in acd.calls.calls.values() if c.bridge_id}
    listened = {s.snoop_channel for s in acd.calls.supervision.values()}
    for bridge in bridges:
        match = BRIDGE_NAME.match(bridge.get("name") or "")
        if match is None or bridge["id"] in in_use:
            continue
        kind, call_id = match.groups()
        members = bridge.get("channels", [])
        call = acd.calls.get(call_id)
        if kind == "call":
            if call is None:  # the call is over: nobody else ends what is left of it
                for chan in members:
                    await acd.ari.request_quietly("DELETE", f"/channels/{chan}", node=node)
                await acd.ari.request_quietly("DELETE", f"/bridges/{bridge['id']}", node=node)
            continue
        sup = next((m for m in members if m.startswith("sup-")), None)
        snoop = next((m for m in members if m.startswith("snoop-")), None)
        if sup and sup in acd.calls.supervision:
            continue
        if call is not None and sup and snoop and sup in channels and snoop in channels:
            acd.calls.supervision[sup] = Supervision(call_id, snoop, bridge["id"])
            call.supervisors.append(sup)
            listened.add(snoop)
            continue
        for chan in (snoop, sup):
            if chan:
                await acd.ari.request_quietly("DELETE", f"/channels/{chan}", node=node)
        await acd.ari.request_quietly("DELETE", f"/bridges/{bridge['id']}", node=node)
    for chan in channels:
        if chan.startswith("snoop-") and chan not in listened and chan not in acd.snoops:
            await acd.ari.request_quietly("DELETE", f"/channels/{chan}", node=node)


async def _agents(acd: Router) -> None:
    """Agents shown ringing or on a call that no longer exists are free
    again; a wrap-up nobody times here ends."""
    engaged = acd.calls.all_engaged()
    for agent in acd.agents.listing():
        extension = agent["extension"]
        if agent["status"] in (AgentStatus.RINGING.value, AgentStatus.ON_CALL.value) \
                and extension not in engaged:
            await acd.agents.free(extension)
        elif agent["status"] == AgentStatus.WRAP_UP.value \
                and not acd.agents.in_wrapup_timer(extension):
            await acd.agents.end_wrapup(extension)
