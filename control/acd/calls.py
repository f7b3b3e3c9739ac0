"""Live calls: what the ACD knows of each call in progress, and the registry
that finds a call by its id or by any of its channels.

A :class:`LiveCall` is a cache of what Asterisk holds (channels, bridges)
and of the call's row; after a restart or an ARI reconnect
:mod:`control.acd.reconcile` rebuilds it from Asterisk. Call ids are made
here (uuid4), not by the database, so a call exists and routes before its
row is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


def new_call_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Supervision:
    """A supervisor on a call: the snoop on the agent's channel and the
    mixing bridge joining it to the supervisor's phone, both the ACD's to
    destroy when the supervisor hangs up."""
    call_id: str
    snoop_channel: str
    bridge_id: str


@dataclass(frozen=True)
class CallLegs:
    """A bridged call as other capabilities see it (the ACD's public hook,
    :meth:`control.acd.router.Router.on_connected`): its id, queue, both
    legs' channels and the agent. A copy: nothing in it changes the call."""
    call_id: str
    queue: str
    direction: str
    caller_channel: str
    agent_channel: str
    agent_extension: str | None
    customer_id: int | None
    media_node: str | None = None  # the Asterisk every leg of the call is on


@dataclass
class LiveCall:
    id: str
    queue: str
    caller_channel: str
    caller_number: str
    language: str
    skills: tuple[str, ...]
    priority: int
    customer_id: int | None
    previous_agent: str | None
    context: dict[str, Any]
    entered: float  # loop time
    ringing_agent: str | None = None
    agent_channel: str | None = None
    bridge_id: str | None = None
    answered: bool = False
    tried: set[str] = field(default_factory=set)
    supervisors: list[str] = field(default_factory=list)  # supervisors' channels
    announced: float = 0.0  # loop time of the last position announcement
    row: dict[str, Any] = field(default_factory=dict)  # the calls row as last known
    consult_channel: str | None = None  # attended transfer: the consulted agent's leg
    consult_agent: str | None = None
    ended: bool = False
    direction: str = "inbound"  # outbound: an agent calling a customer (acd.outbound)
    task_id: int | None = None  # outbound: the callback task it works
    dial_trunk: str | None = None  # outbound: the trunk the customer is dialled on
    dial_caller_id: str | None = None
    needs: dict[str, Any] = field(default_factory=dict)  # the needs and their sources
    recording: str | None = None  # the live recording's name, while it runs
    ring_ended: float = 0.0  # loop time an agent's ring last ended unanswered
    # an outbound call's leg ended before it was answered: who handles it
    # (None: the click-to-call dialer; a campaign's dialer sets its own)
    on_leg_failed: Callable[[LiveCall, str, int | None], Awaitable[None]] | None = None
    # the agent's wrap-up after this call, when not its queue's (a campaign's)
    wrapup_s: int | None = None
    # the media node (Asterisk) the call is on: every leg, bridge and snoop
    # of it lives there (None: the stack's own, as for calls before nodes)
    media_node: str | None = None

    def legs(self) -> CallLegs:
        return CallLegs(self.id, self.queue, self.direction, self.caller_channel,
                        self.agent_channel or "", self.agent_extension, self.customer_id,
                        self.media_node)

    @property
    def queued(self) -> bool:
        """Waiting in a queue for an agent (not yet offered to one)."""
        return (self.direction == "inbound" and not self.answered and not self.ended
                and not self.ringing_agent)

    @property
    def agent_extension(self) -> str | None:
        """The agent the call is with (or rings), for events and control."""
        if self.ringing_agent and not self.answered:
            return self.ringing_agent
        found = self.row.get("agent_extension")
        return str(found) if found else None

    def engaged(self) -> set[str]:
        """The agents this call holds: ringing, talking, consulted."""
        if self.ended:
            return set()
        found = {self.ringing_agent, self.consult_agent}
        if self.answered:
            found.add(self.row.get("agent_extension"))
        return {e for e in found if e}


@dataclass(frozen=True)
class PendingRecording:
    """A call over whose recording Asterisk has yet to close: the agent it
    is filed for, and the media node that records it (its spool, or its
    ARI for a node run elsewhere)."""

    agent: str | None
    node: str


class CallRegistry:
    """The live calls, by id and by channel."""

    def __init__(self) -> None:
        self.calls: dict[str, LiveCall] = {}
        self.by_channel: dict[str, str] = {}
        # supervisor's channel -> what was set up for it
        self.supervision: dict[str, Supervision] = {}

    def add(self, call: LiveCall) -> None:
        self.calls[call.id] = call
        for chan in (call.caller_channel, call.agent_channel):
            if chan:
                self.by_channel[chan] = call.id

    def get(self, call_id: str) -> LiveCall | None:
        return self.calls.get(call_id)

    def of_channel(self, chan_id: str) -> LiveCall | None:
        call_id = self.by_channel.get(chan_id)
        return self.calls.get(call_id) if call_id else None

    def link(self, chan_id: str, call: LiveCall) -> None:
        self.by_channel[chan_id] = call.id

    def unlink(self, chan_id: str | None) -> None:
        if chan_id:
            self.by_channel.pop(chan_id, None)

    def remove(self, call: LiveCall) -> None:
        self.calls.pop(call.id, None)
        for chan in (call.caller_channel, call.agent_channel, call.consult_channel):
            self.unlink(chan)

    def engaged(self, extension: str) -> str | None:
        """What the agent is doing in a live call (ringing, on_call), or None."""
        for call in self.calls.values():
            if extension in call.engaged():
                return "ringing" if call.ringing_agent == extension else "on_call"
        return None

    def all_engaged(self) -> set[str]:
        return set().union(*(c.engaged() for c in self.calls.values()))

    def waiting(self) -> list[LiveCall]:
        """Callers waiting for an agent, VIP first, then the longest waiting."""
        return sorted((c for c in self.calls.values() if c.queued),
                      key=lambda c: (-c.priority, c.entered))

    def in_queue(self) -> list[LiveCall]:
        """Inbound callers not yet answered (waiting or being offered), in line order."""
        return sorted((c for c in self.calls.values() if c.direction == "inbound"
                       and not c.answered and not c.ended),
                      key=lambda c: (-c.priority, c.entered))

    def waiting_figures(self, queue_name: str, loop_now: float) -> dict[str, Any]:
        """Callers waiting in a queue now, and how long the longest has waited."""
        waits = [loop_now - c.entered for c in self.in_queue() if c.queue == queue_name]
        return {"waiting": len(waits), "longest_wait_s": round(max(waits, default=0.0), 1)}

    def live(self, loop_now: float) -> list[dict[str, Any]]:
        """Calls in progress now (waiting, ringing, talking), for the wallboard."""
        out = []
        for call in sorted(self.calls.values(), key=lambda c: c.entered):
            if call.ended:
                continue
            state = ("answered" if call.answered else
                     "dialing" if call.direction == "outbound" else
                     "ringing" if call.ringing_agent else "waiting")
            out.append({"id": call.id, "queue": call.queue, "state": state,
                        "caller_number": call.caller_number, "customer_id": call.customer_id,
                        "agent_extension": call.row.get("agent_extension")
                        if call.answered or call.direction == "outbound" else call.ringing_agent,
                        "direction": call.direction,
                        "seconds": round(loop_now - call.entered, 1),
                        "supervised": bool(call.supervisors)})
        return out
