"""Call control from the desktop: hang up, hold, blind and attended transfer,
recording start/pause/resume. Each runs in the call's lane (see
:meth:`Router.control`), after the call's events already filed.

Errors are typed and mapped once by the API's middleware: a call not in
progress is a Conflict (409), a bad target InvalidInput (422), ARI
reconnecting Unavailable (503).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from control.acd import distribution, lifecycle
from control.acd.calls import LiveCall
from control.acd.models import CallState
from control.errors import Conflict, InvalidInput, Unavailable

if TYPE_CHECKING:
    from control.acd.router import Router

log = logging.getLogger(__name__)


def live(acd: Router, call_id: str) -> LiveCall:
    call = acd.calls.get(call_id)
    if call is None and acd.reconciling:
        # a restart or a takeover: the calls are being rebuilt from the nodes
        raise Unavailable("the calls are being rebuilt from Asterisk: try again in a moment",
                          "call_id")
    if call is None or call.ended or not call.answered:
        raise Conflict(f"no call {call_id} in progress", "call_id")
    if not acd.ari.connected_to(acd.node_of(call)):
        # what was done now could not reach Asterisk, nor be seen to
        raise Unavailable("ARI is reconnecting: try again in a moment", "call_id")
    return call


async def hangup(acd: Router, call_id: str) -> None:
    await lifecycle.end(acd, live(acd, call_id))


async def hold(acd: Router, call_id: str, on: bool) -> None:
    """On hold the caller leaves the bridge and hears music; the agent
    hears nothing of the caller. Off hold the caller comes back."""
    call = live(acd, call_id)
    if call.bridge_id is None:
        raise Conflict(f"call {call_id} has no bridge", "call_id")
    if on:
        await acd.ari.request("POST", f"/bridges/{call.bridge_id}/removeChannel",
                              channel=call.caller_channel)
        await acd.ari.request_quietly("POST", f"/channels/{call.caller_channel}/moh",
                                      mohClass="default")
    else:
        await acd.ari.request_quietly("DELETE", f"/channels/{call.caller_channel}/moh")
        await acd.ari.request("POST", f"/bridges/{call.bridge_id}/addChannel",
                              channel=call.caller_channel)
    acd.call_log.event(call.id, "held" if on else "unheld", call.row.get("agent_extension"))
    await acd.notifier.call_held(call, on)


async def transfer(acd: Router, call_id: str, target: str) -> None:
    """Blind transfer to an agent (ext:NNNN) or a queue (queue:NAME): the
    current agent's leg ends (wrap-up), the caller waits with music and is
    routed again — to that agent, or by the queue's scoring."""
    call = live(acd, call_id)
    kind, _, name = target.partition(":")
    if kind not in ("ext", "queue"):
        raise InvalidInput("to", "target is ext:EXTENSION or queue:NAME")
    if kind == "queue" and await acd.queues.fetch(name) is None:
        raise InvalidInput("to", f"no queue {name}")
    if kind == "ext" and acd.agents.get(name) is None:
        await acd.refresh()  # created a moment ago?
        if acd.agents.get(name) is None:
            raise InvalidInput("to", f"no agent {name}")
    old_agent_channel, old_bridge = call.agent_channel, call.bridge_id
    old_extension = call.row.get("agent_extension")
    # the caller is waiting again, not yet with anyone
    call.answered, call.agent_channel, call.bridge_id = False, None, None
    call.tried = set()
    acd.calls.unlink(old_agent_channel)
    await acd.ari.request_quietly("POST", f"/channels/{call.caller_channel}/moh",
                                  mohClass="default")
    if old_bridge:
        await acd.ari.request_quietly("DELETE", f"/bridges/{old_bridge}")
    if old_agent_channel:
        await acd.ari.request_quietly("DELETE", f"/channels/{old_agent_channel}")
    if old_extension:
        await acd.agents.start_wrapup(old_extension, acd.wrapup_s(call))
    call.row = call.row | {"state": CallState.WAITING.value}
    acd.call_log.call(call.id, state=CallState.WAITING.value, agent_channel=None,
                      bridge_id=None)
    acd.call_log.event(call.id, "transferred", old_extension, to=target, attended=False)
    await acd.notifier.call_transferred(call, target, old_extension)
    if kind == "queue":
        call.queue = name
        call.row = call.row | {"queue": name}
        acd.call_log.call(call.id, queue=name)
        acd.distributor.request()
        return
    queue = acd.queues.get(call.queue)
    distribution.take(acd, call, name)
    acd.call_log.decision(call.id, [], name, f"blind transfer from {old_extension} to {name}")
    await acd.agents.ringing(name)
    await distribution.ring(acd, call, name, call.agent_channel or "",
                            int(queue["ring_timeout_s"]) if queue else 20)


async def consult(acd: Router, call_id: str, extension: str) -> None:
    """Attended transfer, first step: the caller waits on hold with music
    while the agent talks to a colleague, rung on their own phone."""
    call = live(acd, call_id)
    if acd.agents.get(extension) is None:
        raise InvalidInput("to", f"no agent {extension}")
    if call.consult_channel:
        raise InvalidInput("to", "already consulting")
    await hold(acd, call_id, True)
    channel = f"consult-{uuid.uuid4().hex[:16]}"
    call.consult_channel, call.consult_agent = channel, extension
    acd.calls.link(channel, call)
    await acd.ari.originate(endpoint=f"PJSIP/agent-{extension}", channel_id=channel,
                            node=acd.node_of(call),
                            app_args=f"consult,{call.id}", ring_s=30,
                            caller_id=call.caller_number or "anonymous")


async def consulted_answers(acd: Router, channel: dict[str, Any], args: list[str]) -> None:
    call = acd.calls.get(args[0]) if args else None
    if call is None or call.ended or call.consult_channel != channel["id"]:
        await acd.ari.request_quietly("DELETE", f"/channels/{channel['id']}")
        return
    await acd.ari.request("POST", f"/bridges/{call.bridge_id}/addChannel",
                          channel=channel["id"])
    acd.call_log.event(call.id, "consulting", call.row.get("agent_extension"),
                       to=f"ext:{call.consult_agent}")
    await acd.notifier.call_consulting(call)


async def complete_transfer(acd: Router, call_id: str) -> None:
    """Attended transfer, last step: the caller joins the consulted agent,
    the first agent leaves (wrap-up)."""
    call = live(acd, call_id)
    if not call.consult_channel or not call.consult_agent:
        raise Conflict("no consultation in progress", "call_id")
    members = await acd.ari.request("GET", f"/bridges/{call.bridge_id}")
    if call.consult_channel not in members.get("channels", []):
        raise Conflict("the consulted agent has not answered", "call_id")
    old_channel, old_extension = call.agent_channel, call.row.get("agent_extension")
    new_channel, new_extension = call.consult_channel, call.consult_agent
    call.agent_channel, call.consult_channel, call.consult_agent = new_channel, None, None
    if old_channel:
        acd.calls.unlink(old_channel)
        await acd.ari.request_quietly("DELETE", f"/channels/{old_channel}")
    await hold(acd, call_id, False)
    call.row = call.row | {"agent_extension": new_extension}
    acd.call_log.call(call.id, agent_extension=new_extension, agent_channel=new_channel)
    acd.call_log.decision(call.id, [], new_extension,
                          f"attended transfer from {old_extension} to {new_extension}")
    acd.call_log.event(call.id, "transferred", old_extension, to=f"ext:{new_extension}",
                       attended=True)
    await acd.agents.on_call(new_extension)
    if old_extension:
        await acd.agents.start_wrapup(old_extension, acd.wrapup_s(call))
    await acd.notifier.call_transferred(call, new_extension, old_extension, attended=True)


async def recording(acd: Router, call_id: str, action: str) -> None:
    """Start (queues that do not record every call), pause (the caller reads
    a card number, say) or resume the call's recording."""
    call = live(acd, call_id)
    if action == "start":
        await acd.ari.request("POST", f"/bridges/{call.bridge_id}/record", name=call.id,
                              format="wav", ifExists="append")
        call.recording = call.id
        call.row = call.row | {"recording": f"{call.id}.wav"}
        acd.call_log.call(call.id, recording=f"{call.id}.wav")
    elif action == "pause":
        await acd.ari.request("POST", f"/recordings/live/{call.id}/pause")
    else:
        await acd.ari.request("DELETE", f"/recordings/live/{call.id}/pause")
    done = {"start": "started", "pause": "paused", "resume": "resumed"}[action]
    acd.call_log.event(call.id, f"recording_{done}", call.row.get("agent_extension"))
    await acd.notifier.recording(call, done)
