"""The call router: the ACD's Stasis application.

Callers arrive from the dialplan (``Stasis(aitcomms,queue,NAME,LANG,SKILLS,
PRIORITY)``), wait with music on hold, and are offered one agent at a time,
best score first (see :mod:`control.acd.scoring`). An agent who answers is
bridged with the caller; one who does not is a miss, and after the queue's
``max_misses`` in a row is paused. Every decision is stored with the call.

State lives in Asterisk (channels, bridges) and the database (calls, agents'
status); this object only caches it, and :meth:`reconcile` rebuilds the cache
from Asterisk after a restart or an ARI reconnect (events missed meanwhile are
not replayed by ARI).

The end of a call survives a database that is briefly away: the calls row is
closed through the CRM link's outbox, and agents' states the database could
not take are kept here (what reads and events show) and written once it is back.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from control.acd.customers import CrmLink, is_transient
from control.acd.models import DEFAULT_WEIGHTS, AgentStatus, CallState
from control.acd.needs import resolve as resolve_needs
from control.acd.outbound import Dialer
from control.acd.scoring import CallNeeds, explain, rank
from control.acd.store import AcdStore, now
from control.errors import Conflict
from control.events.bus import EventBus
from control.telephony.ari import AriClient, AriError

log = logging.getLogger(__name__)

# bridges the router creates: "call-ID" (caller and agent), "MODE-ID" (supervisor and snoop)
_BRIDGE_NAME = re.compile(r"^(call|listen|whisper|barge)-(.+)$")


@dataclass
class Supervision:
    """A supervisor on a call: the snoop on the agent's channel and the
    mixing bridge joining it to the supervisor's phone, both the router's to
    destroy when the supervisor hangs up."""
    call_id: str
    snoop_channel: str
    bridge_id: str


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
    row: dict[str, Any] = field(default_factory=dict)  # the calls row as last written
    consult_channel: str | None = None  # attended transfer: the consulted agent's leg
    consult_agent: str | None = None
    ended: bool = False
    direction: str = "inbound"  # outbound: an agent calling a customer (acd.outbound)
    task_id: int | None = None  # outbound: the callback task it works
    dial_trunk: str | None = None  # outbound: the trunk the customer is dialled on
    dial_caller_id: str | None = None
    needs: dict[str, Any] | None = None  # language and skills with their sources (acd.needs)

    @property
    def queued(self) -> bool:
        """Waiting in a queue for an agent (not yet offered to one)."""
        return (self.direction == "inbound" and not self.answered and not self.ended
                and not self.ringing_agent)


class _DatabaseAway(Exception):
    """Not tried: a write failed a moment ago and the ticker is retrying."""


class Router:
    def __init__(self, ari: AriClient, store: AcdStore, bus: EventBus,
                 recordings_spool: Path, recordings_dir: Path, crm: CrmLink,
                 outbound_caller_id: str | None = None, outbound_wrapup_s: int = 10) -> None:
        self.ari = ari
        self.store = store
        self.bus = bus
        self.crm = crm
        self.recordings_spool = recordings_spool
        self.recordings_dir = recordings_dir
        self.calls: dict[str, LiveCall] = {}
        self.by_channel: dict[str, str] = {}
        self._wrapups: dict[str, asyncio.TimerHandle] = {}
        # snoop channels created, until they enter the app (only then bridgeable)
        self._snoops: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # playback id -> (call id, position, expected minutes) of announcements playing
        self._announcing: dict[str, tuple[str, int, int]] = {}
        self._dispatching = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        # supervisor's channel -> what was set up for it
        self._supervision: dict[str, Supervision] = {}
        # Agents' states decided while the database was away: extension ->
        # (status, reason, missed, the agent as shown). Reads here see them; the
        # ticker writes the latest once the database is back. Only the latest
        # counts (a state, not a log), and after a restart reconcile derives
        # the states from Asterisk anyway.
        self._unsaved: dict[str, tuple[AgentStatus, str | None, int | None,
                                       dict[str, Any]]] = {}
        self._agents_seen: dict[str, dict[str, Any]] = {}  # last row of each, for events
        self._queues_seen: dict[str, dict[str, Any]] = {}  # wrap-up time with the database away
        # A write just failed: the next ones wait here instead of each waiting
        # out a locked database. No direct write happens while the ticker
        # writes the kept states, so an old one never lands after a new one.
        self._database_away = False
        # pause or log-out an agent asked for during a call: taken when it ends
        self._after_call: dict[str, tuple[AgentStatus, str | None]] = {}
        self.dialer = Dialer(self, outbound_caller_id)
        self.outbound_wrapup_s = outbound_wrapup_s
        ari.handlers.append(self.on_event)
        ari.on_connect.append(self.reconcile)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick(), name="acd-ticker")

    async def close(self) -> None:
        if self._ticker:
            self._ticker.cancel()
        for handle in self._wrapups.values():
            handle.cancel()

    async def _tick(self) -> None:
        """Once a second: overflow callers who waited too long, and retry
        routing (agents freed by the CLI or another instance)."""
        while True:
            await asyncio.sleep(1.0)
            try:
                await self._write_unsaved_agents()
                await self._overflow_long_waits()
                await self._announce_positions()
                if any(c.queued for c in self.calls.values()):
                    await self.dispatch()
            except Exception:
                log.exception("ACD tick failed")

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- agents' states -------------------------------------------------------

    async def _set_agent(self, extension: str, status: AgentStatus, reason: str | None = None,
                         missed: int | None = None, **extra: Any) -> dict[str, Any] | None:
        """Change an agent's state and tell the wallboard. With the database
        away the state is kept here (reads and events show it) and written by
        the ticker once it is back. None: no such agent."""
        agent: dict[str, Any] | None
        try:
            if self._database_away:
                raise _DatabaseAway
            agent = await self._db(self.store.set_agent_status, extension, status,
                                   reason, missed)
        except Exception as exc:
            if not (isinstance(exc, _DatabaseAway) or is_transient(exc)):
                raise
            if not self._database_away:
                log.warning("database away: agent %s is %s here until it is back (%s)",
                            extension, status.value, exc)
            self._database_away = True
            agent = (self._agents_seen.get(extension) or {"extension": extension}) | {
                "status": status.value,
                "pause_reason": reason if status == AgentStatus.PAUSED else None,
                "status_since": now().isoformat()}
            self._unsaved[extension] = (status, reason, missed, agent)
        if agent is None:
            return None
        self._agents_seen[extension] = agent
        await self.bus.publish("agent.status_changed", {"agent": agent, **extra})
        return agent

    async def _write_unsaved_agents(self) -> None:
        """Once a second: write the states the database could not take."""
        for extension, entry in list(self._unsaved.items()):
            status, reason, missed, _ = entry
            try:
                agent = await self._db(self.store.set_agent_status, extension, status,
                                       reason, missed)
            except Exception as exc:
                if is_transient(exc):
                    return  # still away
                log.exception("agent %s: state %s refused", extension, status.value)
                agent = None
            if self._unsaved.get(extension) is entry:  # else a newer one: written next round
                del self._unsaved[extension]
            if agent:
                self._agents_seen[extension] = agent
                log.info("database back: agent %s written as %s", extension, status.value)
        if not self._unsaved:
            self._database_away = False

    def with_unsaved(self, agents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Agents as read from the database, with the states it has not taken yet."""
        out = []
        for agent in agents:
            entry = self._unsaved.get(str(agent.get("extension")))
            if entry:
                shown = entry[3]
                agent = agent | {k: shown[k] for k in ("status", "pause_reason",
                                                        "status_since")}
            out.append(agent)
        return out

    async def _agent_status(self, extension: str) -> str | None:
        """An agent's state as the router knows it (None: unknown, or no database)."""
        if extension in self._unsaved:
            return self._unsaved[extension][0].value
        try:
            agent = await self._db(self.store.agent, extension)
        except Exception as exc:
            if not is_transient(exc):
                raise
            agent = self._agents_seen.get(extension)
        return str(agent["status"]) if agent else None

    def _engaged(self, extension: str) -> str | None:
        """What the agent is doing in a live call (ringing, on_call), as the
        router sees the calls (the database may be behind)."""
        for call in self.calls.values():
            if extension in self._engaged_in(call):
                return (AgentStatus.RINGING.value if call.ringing_agent == extension
                        else AgentStatus.ON_CALL.value)
        return None

    @staticmethod
    def _engaged_in(call: LiveCall) -> set[str]:
        """The agents a live call holds: ringing, talking, consulted."""
        if call.ended:
            return set()
        found = {call.ringing_agent, call.consult_agent}
        if call.answered:
            found.add(call.row.get("agent_extension"))
        return {e for e in found if e}

    async def _dispatch_quietly(self, after: str) -> None:
        """Route waiting callers now if the database lets us; else the next tick will."""
        try:
            await self.dispatch()
        except Exception as exc:
            log.warning("%s: routing failed, the ticker retries (%s)", after, exc)

    async def request_status(self, extension: str, status: AgentStatus,
                             reason: str | None) -> tuple[dict[str, Any] | None, bool]:
        """An agent (or a supervisor for them) logs in, pauses, logs out. Returns
        (the agent, deferred); None if there is no such agent.

        On a call the state follows the call: `available` is refused (Conflict)
        since the agent is not free; `paused` or `logged_out` are taken when the
        call ends, after wrap-up (what contact center agents expect: "pause after
        this call" keeps the next caller from ringing them, without having to
        watch for the hang-up). In wrap-up, `available` ends it early."""
        engaged = self._engaged(extension)
        if engaged is not None:
            if status == AgentStatus.AVAILABLE:
                raise Conflict(f"agent {extension} is {engaged.replace('_', ' ')}: the state "
                               "follows the call (wrap-up, then available)")
            agent = await self._db(self.store.agent, extension)
            if agent is None:
                return None, False
            self._after_call[extension] = (status, reason)
            return self.with_unsaved([agent])[0], True
        self._after_call.pop(extension, None)
        timer = self._wrapups.pop(extension, None)
        if timer:
            timer.cancel()
        agent = await self._set_agent(extension, status, reason, 0)
        if agent and status == AgentStatus.AVAILABLE:
            await self._dispatch_quietly(f"agent {extension} available")
        return agent, False

    async def _free_agent(self, extension: str, missed: int | None = None) -> None:
        """The agent's call (or ring, or wrap-up) is over: available, or the
        pause or log-out asked for meanwhile."""
        status, reason = self._after_call.pop(extension, (AgentStatus.AVAILABLE, None))
        await self._set_agent(extension, status, reason, missed)

    # -- events ---------------------------------------------------------------

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "StasisStart":
            args = event.get("args") or []
            channel = event["channel"]
            if args and args[0] == "queue":
                await self._caller_arrives(channel, args[1:])
            elif args and args[0] == "agent":
                await self._agent_answers(channel, args[1])
            elif args and args[0] == "feature":
                await self._feature_code(channel, args[1:])
            elif args and args[0] == "consult":
                await self._consulted_answers(channel, args[1])
            elif args and args[0] == "supervisor":
                # in a task: it waits for the snoop channel's own StasisStart,
                # which comes on this same event stream
                task = asyncio.create_task(self._supervisor_answers(channel, args[1], args[2]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif args and args[0] == "dial":
                await self.dialer.agent_dials(channel, args[1:])
            elif args and args[0] == "outbound-agent":
                await self.dialer.agent_answers(channel, args[1])
            elif args and args[0] == "outbound-customer":
                await self.dialer.customer_answers(channel, args[1])
            elif args and args[0] == "snoop":
                waiter = self._snoops.pop(channel["id"], None)
                if waiter and not waiter.done():
                    waiter.set_result(None)
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            await self._channel_gone(event["channel"]["id"], event.get("cause"))
        elif kind == "PlaybackFinished":
            await self._announcement_done(event.get("playback", {}))

    async def _caller_arrives(self, channel: dict[str, Any], args: list[str]) -> None:
        chan_id = channel["id"]
        queue_name = args[0] if args else ""
        queue = await self._db(self.store.queue, queue_name)
        if queue is None:
            log.warning("call for unknown queue %r: back to the dialplan", queue_name)
            await self._safe("POST", f"/channels/{chan_id}/continue")
            return
        priority = int(args[3]) if len(args) > 3 and args[3].lstrip("-").isdigit() else 0
        number = channel.get("caller", {}).get("number", "")
        await self._safe("POST", f"/channels/{chan_id}/answer")
        await self._safe("POST", f"/channels/{chan_id}/moh", mohClass="default")
        # identified in the IVR (keyed DNI, policy number): that customer, whoever's
        # phone it is; else whoever the caller ID belongs to
        found = (await self.crm.lookup_customer(int(args[4]))
                 if len(args) > 4 and args[4].isdigit() else None)
        if found is None or found[0] is None:
            found = await self.crm.lookup(number)
        customer_id, previous_agent, vip, context = found
        # what the caller needs: IVR, else the customer's file, else the queue (acd.needs)
        needs = resolve_needs(args[1:3], context, queue)
        language, skills = needs.language, needs.skills
        if vip:
            priority += 10  # VIP segment first, then wait time
        row = await self._db(self.store.create_call, caller_channel=chan_id, queue=queue_name,
                             caller_number=number, customer_id=customer_id, language=language,
                             skills=list(skills), priority=priority)
        call = LiveCall(id=row["id"], queue=queue_name, caller_channel=chan_id,
                        caller_number=number, language=language, skills=skills,
                        priority=priority, customer_id=customer_id,
                        previous_agent=previous_agent, context=context,
                        entered=asyncio.get_running_loop().time(), row=row,
                        needs=needs.as_dict())
        self.calls[call.id] = call
        self.by_channel[chan_id] = call.id
        await self.bus.publish("call.queued", {"call": row})
        await self.dispatch()

    # -- routing --------------------------------------------------------------

    async def dispatch(self) -> None:
        """Offer waiting callers, VIP first then longest waiting, to the best
        free agent each."""
        async with self._dispatching:
            waiting = sorted((c for c in self.calls.values() if c.queued),
                             key=lambda c: (-c.priority, c.entered))
            busy = {c.ringing_agent for c in self.calls.values() if c.ringing_agent}
            for call in waiting:
                queue = await self._db(self.store.queue, call.queue)
                if queue is None:
                    continue
                unsaved = {ext: entry[0].value for ext, entry in self._unsaved.items()}
                candidates = [c for c in await self._db(self.store.candidates, call.queue,
                                                        unsaved)
                              if c.extension not in busy and c.extension not in call.tried]
                if not candidates:
                    continue
                needs = CallNeeds(call.language, call.skills, call.previous_agent)
                weights = {k: float(queue["weights"].get(k, v))
                           for k, v in DEFAULT_WEIGHTS.items()}
                ranked = rank(candidates, needs, weights)
                best = ranked[0]
                await self._db(self.store.record_decision, call.id,
                               [s.as_dict() for s in ranked], best.extension,
                               explain(best, ranked), needs=call.needs)
                busy.add(best.extension)
                await self._ring(call, best.extension, queue["ring_timeout_s"])

    async def _ring(self, call: LiveCall, extension: str, timeout_s: int) -> None:
        agent_channel = f"acd-{uuid.uuid4().hex[:16]}"
        call.ringing_agent = extension
        call.agent_channel = agent_channel
        call.tried.add(extension)
        self.by_channel[agent_channel] = call.id
        await self._set_agent(extension, AgentStatus.RINGING)
        await self._db(self.store.update_call, call.id, state=CallState.RINGING.value,
                       agent_channel=agent_channel)
        # the screen pop: sent as the agent's phone starts ringing
        await self.bus.publish("call.incoming", {
            "call_id": call.id, "agent": extension, "queue": call.queue,
            "caller_number": call.caller_number, "customer_id": call.customer_id,
            "context": call.context})
        try:
            await self.ari.request(
                "POST", "/channels", endpoint=f"PJSIP/agent-{extension}",
                app=self.ari.app, appArgs=f"agent,{call.id}", channelId=agent_channel,
                timeout=timeout_s, callerId=call.caller_number or "anonymous",
                originator=call.caller_channel)
            # An originated channel reports to the app only once answered:
            # subscribe to hear of its hangup (no answer, rejected) too.
            await self.ari.request("POST", f"/applications/{self.ari.app}/subscription",
                                   eventSource=f"channel:{agent_channel}")
        except AriError as exc:
            log.warning("could not ring %s: %s", extension, exc)
            await self._ring_failed(call, extension)
            return
        # Safety net: a hangup that came before the subscription is noticed here.
        asyncio.get_running_loop().call_later(
            timeout_s + 3, lambda: asyncio.ensure_future(
                self._check_ringing(call, agent_channel)))

    async def _check_ringing(self, call: LiveCall, agent_channel: str) -> None:
        if call.ended or call.answered or call.agent_channel != agent_channel:
            return
        try:
            await self.ari.request("GET", f"/channels/{agent_channel}")
        except AriError as exc:
            if exc.status == 404 and call.ringing_agent:
                await self._ring_failed(call, call.ringing_agent)

    async def _ring_failed(self, call: LiveCall, extension: str, miss: bool = True) -> None:
        """Ring-no-answer, rejected or unreachable: a miss for the agent, and
        the caller goes to the next best. Not a miss (``miss=False``) when the
        ring ended while ARI was away: nobody knows why."""
        if call.agent_channel:
            self.by_channel.pop(call.agent_channel, None)
        call.ringing_agent = None
        call.agent_channel = None
        agent = await self._db(self.store.agent, extension)
        missed = (agent or {}).get("missed_in_a_row", 0) + (1 if miss else 0)
        queue = await self._db(self.store.queue, call.queue)
        max_misses = queue["max_misses"] if queue else 2
        if miss and missed >= max_misses:
            self._after_call.pop(extension, None)
            await self._set_agent(extension, AgentStatus.PAUSED, "missed_calls", missed)
        else:
            await self._free_agent(extension, missed)
        if not call.ended:
            await self._db(self.store.update_call, call.id, state=CallState.WAITING.value,
                           agent_channel=None)
            await self.dispatch()

    async def _agent_answers(self, channel: dict[str, Any], call_id: str) -> None:
        chan_id = channel["id"]
        call = self.calls.get(call_id)
        if call is None or call.ended or call.agent_channel != chan_id:
            await self._safe("DELETE", f"/channels/{chan_id}")
            return
        extension = call.ringing_agent or ""
        bridge = await self.ari.request("POST", "/bridges", type="mixing", name=f"call-{call.id}")
        call.bridge_id = bridge["id"]
        await self._safe("DELETE", f"/channels/{call.caller_channel}/moh")
        if self._announcing.pop(f"announce-{call.id}", None):
            await self._safe("DELETE", f"/playbacks/announce-{call.id}")
        await self.ari.request("POST", f"/bridges/{bridge['id']}/addChannel",
                               channel=f"{call.caller_channel},{chan_id}")
        call.answered = True
        call.ringing_agent = None
        queue = await self._db(self.store.queue, call.queue)
        recording = None
        if queue and queue["record"]:
            recording = f"{call.id}.wav"
            await self._safe("POST", f"/bridges/{bridge['id']}/record", name=call.id,
                             # a transferred call goes on in the same file
                             format="wav", ifExists="append")
        row = await self._db(self.store.update_call, call.id, state=CallState.ANSWERED.value,
                             agent_extension=extension, answered_at=now(),
                             bridge_id=bridge["id"], agent_channel=chan_id,
                             recording=recording)
        call.row = row or call.row
        await self._set_agent(extension, AgentStatus.ON_CALL, None, 0)
        await self.bus.publish("call.answered", {"call": row})

    async def _channel_gone(self, chan_id: str, cause: int | None) -> None:
        if chan_id in self._supervision:  # the supervisor hung up: the call goes on
            await self._end_supervision(chan_id)
            return
        watched = next((sup for sup, s in self._supervision.items()
                        if s.snoop_channel == chan_id), None)
        if watched:  # the agent's leg (and its snoop) went: nothing left to listen to
            await self._end_supervision(watched, hang_up=True)
            return
        call_id = self.by_channel.pop(chan_id, None)
        if call_id is None:
            return
        call = self.calls.get(call_id)
        if call is None or call.ended:
            return
        if chan_id == call.consult_channel:  # the consulted agent hung up or never answered
            call.consult_channel = call.consult_agent = None
            await self.bus.publish("call.consult_ended", {"call_id": call.id})
            return
        if call.direction == "outbound" and not call.answered:
            await self.dialer.leg_failed(call, chan_id, cause)
            return
        if chan_id == call.agent_channel and not call.answered:
            extension = call.ringing_agent
            if extension:
                log.info("agent %s did not answer call %s (cause %s)", extension, call.id, cause)
                await self._ring_failed(call, extension)
            return
        await self._end(call)

    async def _end(self, call: LiveCall) -> None:
        """The caller or the agent hung up (or reconcile found them gone): end
        the other legs, free the agent, close the call. What the database
        cannot take now is written once it is back (see the module docstring)."""
        if call.ended:
            return
        call.ended = True
        ended_at = now()  # when it was known, whenever the database takes it
        self.calls.pop(call.id, None)
        for sup in list(call.supervisors):
            await self._end_supervision(sup, hang_up=True)
        for chan in (call.caller_channel, call.agent_channel, call.consult_channel):
            if chan:
                self.by_channel.pop(chan, None)
                await self._safe("DELETE", f"/channels/{chan}")
        if call.bridge_id:
            await self._safe("DELETE", f"/bridges/{call.bridge_id}")
        state = CallState.COMPLETED if call.answered else CallState.ABANDONED
        row = call.row | {"state": state.value, "ended_at": ended_at.isoformat()}
        extension = row.get("agent_extension")
        if call.answered and extension:
            await self._start_wrapup(extension, call.queue)
        elif call.ringing_agent:
            await self._free_agent(call.ringing_agent)
        if call.answered:
            await asyncio.sleep(0.5)  # let Asterisk close the recording file
            row["recording"] = await self._file_recording(call) or row.get("recording")
        await self.crm.call_ended(row, close=True, database_away=self._database_away)
        await self.bus.publish("call.completed" if call.answered else "call.abandoned",
                               {"call": row})
        await self._dispatch_quietly(f"after call {call.id}")

    async def _file_recording(self, call: LiveCall) -> str | None:
        """Move the call's recording from Asterisk's spool to recordings/: its new path."""
        src = self.recordings_spool / f"{call.id}.wav"
        if not src.exists():
            return None
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        dst = self.recordings_dir / src.name
        await asyncio.to_thread(shutil.move, str(src), str(dst))
        return str(dst)

    async def _queue(self, name: str) -> dict[str, Any] | None:
        """A queue's settings; the last ones read if the database is away."""
        try:
            queue = await self._db(self.store.queue, name)
        except Exception as exc:
            if not is_transient(exc):
                raise
            return self._queues_seen.get(name)
        if queue:
            self._queues_seen[name] = queue
        return queue

    async def _start_wrapup(self, extension: str, queue_name: str) -> None:
        queue = await self._queue(queue_name)
        seconds = queue["wrapup_s"] if queue else self.outbound_wrapup_s
        await self._set_agent(extension, AgentStatus.WRAP_UP, wrapup_s=seconds)
        loop = asyncio.get_running_loop()
        if extension in self._wrapups:
            self._wrapups[extension].cancel()
        self._wrapups[extension] = loop.call_later(
            seconds, lambda: asyncio.ensure_future(self._end_wrapup(extension)))

    async def _end_wrapup(self, extension: str) -> None:
        self._wrapups.pop(extension, None)
        if await self._agent_status(extension) == AgentStatus.WRAP_UP.value:
            await self._free_agent(extension)
            await self._dispatch_quietly(f"after {extension}'s wrap-up")

    async def _announce_positions(self) -> None:
        """Every queue's announce_every_s, tell each waiting caller their
        position and expected wait (average handle time per free agent)."""
        loop_now = asyncio.get_running_loop().time()
        # callers being offered to an agent are still ahead in the line
        waiting = sorted((c for c in self.calls.values() if c.direction == "inbound"
                          and not c.answered and not c.ended),
                         key=lambda c: (-c.priority, c.entered))
        for call in waiting:
            if call.ringing_agent:
                continue
            queue = await self._db(self.store.queue, call.queue)
            every = queue["announce_every_s"] if queue else 0
            if not every or loop_now - max(call.entered, call.announced) < every:
                continue
            call.announced = loop_now
            position = 1 + sum(1 for c in waiting if c.queue == call.queue and
                               (-c.priority, c.entered) < (-call.priority, call.entered))
            figures = await self._db(self.store.queue_figures, call.queue,
                                     queue["service_level_s"] if queue else 20)
            staffed = max(1, len(queue["members"]) if queue else 1)
            aht = figures["average_handle_time_s"] or 180
            minutes = max(1, round(position * aht / staffed / 60))
            media = (["sound:queue-youarenext"] if position == 1 else
                     ["sound:queue-thereare", f"number:{position}",
                      "sound:queue-callswaiting"])
            media += ["sound:queue-holdtime", f"number:{minutes}",
                      "sound:queue-minute" if minutes == 1 else "sound:queue-minutes"]
            await self._safe("DELETE", f"/channels/{call.caller_channel}/moh")
            played = await self._safe("POST", f"/channels/{call.caller_channel}/play",
                                      media=media, playbackId=f"announce-{call.id}")
            if played is None:
                await self._safe("POST", f"/channels/{call.caller_channel}/moh",
                                 mohClass="default")
                continue
            self._announcing[f"announce-{call.id}"] = (call.id, position, minutes)

    async def _announcement_done(self, playback: dict[str, Any]) -> None:
        """Back to music, unless the caller was picked up meanwhile."""
        entry = self._announcing.pop(playback.get("id", ""), None)
        if entry is None:
            return
        call_id, position, minutes = entry
        call = self.calls.get(call_id)
        if call is None or call.ended or call.answered:
            return
        await self._safe("POST", f"/channels/{call.caller_channel}/moh", mohClass="default")
        await self.bus.publish("call.announced", {"call_id": call_id, "position": position,
                                                  "expected_wait_min": minutes,
                                                  "state": playback.get("state")})

    async def _overflow_long_waits(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        for call in list(self.calls.values()):
            if not call.queued:
                continue
            queue = await self._db(self.store.queue, call.queue)
            if queue is None or loop_now - call.entered < queue["max_wait_s"]:
                continue
            call.ended = True
            self.calls.pop(call.id, None)
            self.by_channel.pop(call.caller_channel, None)
            row = call.row | {"state": CallState.CALLBACK.value, "ended_at": now().isoformat()}
            await self.crm.call_ended(row, close=True, database_away=self._database_away)
            await self.bus.publish("call.overflowed", {"call": row})
            await self.bus.publish("task.created", {
                "kind": "callback", "call_id": call.id, "queue": call.queue,
                "phone": call.caller_number, "customer_id": call.customer_id})
            await self._safe("DELETE", f"/channels/{call.caller_channel}/moh")
            await self._safe("POST", f"/channels/{call.caller_channel}/continue",
                             context="acd-overflow", extension="s", priority=1)

    def waiting_figures(self, queue_name: str) -> dict[str, Any]:
        """Callers waiting in a queue now, and how long the longest has waited."""
        loop_now = asyncio.get_running_loop().time()
        waits = [loop_now - c.entered for c in self.calls.values()
                 if c.queue == queue_name and c.direction == "inbound" and not c.answered
                 and not c.ended]
        return {"waiting": len(waits), "longest_wait_s": round(max(waits, default=0.0), 1)}

    def live_calls(self) -> list[dict[str, Any]]:
        """Calls in progress now (waiting, ringing, talking), for the wallboard."""
        loop_now = asyncio.get_running_loop().time()
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

    # -- call control: hangup, hold, transfer, recording -------------------------

    def _live(self, call_id: str) -> LiveCall:
        call = self.calls.get(call_id)
        if call is None or call.ended or not call.answered:
            raise LookupError(f"no call {call_id} in progress")
        if not self.ari.connected:
            # what was done now could not reach Asterisk, nor be seen to
            raise AriError(503, "ARI is reconnecting: try again in a moment")
        return call

    async def hangup(self, call_id: str) -> None:
        await self._end(self._live(call_id))

    async def hold(self, call_id: str, on: bool) -> None:
        """On hold the caller leaves the bridge and hears music; the agent
        hears nothing of the caller. Off hold the caller comes back."""
        call = self._live(call_id)
        if call.bridge_id is None:
            raise LookupError(f"call {call_id} has no bridge")
        if on:
            await self.ari.request("POST", f"/bridges/{call.bridge_id}/removeChannel",
                                   channel=call.caller_channel)
            await self._safe("POST", f"/channels/{call.caller_channel}/moh", mohClass="default")
        else:
            await self._safe("DELETE", f"/channels/{call.caller_channel}/moh")
            await self.ari.request("POST", f"/bridges/{call.bridge_id}/addChannel",
                                   channel=call.caller_channel)
        await self.bus.publish("call.held" if on else "call.resumed", {"call_id": call_id})

    async def transfer(self, call_id: str, target: str) -> None:
        """Blind transfer to an agent (ext:NNNN) or a queue (queue:NAME): the
        current agent's leg ends (wrap-up), the caller waits with music and is
        routed again — to that agent, or by the queue's scoring."""
        call = self._live(call_id)
        kind, _, name = target.partition(":")
        if kind == "queue" and await self._db(self.store.queue, name) is None:
            raise ValueError(f"no queue {name}")
        if kind == "ext" and await self._db(self.store.agent, name) is None:
            raise ValueError(f"no agent {name}")
        if kind not in ("ext", "queue"):
            raise ValueError("target is ext:EXTENSION or queue:NAME")
        old_agent_channel, old_bridge = call.agent_channel, call.bridge_id
        row = await self._db(self.store.call, call.id)
        old_extension = (row or {}).get("agent_extension")
        # the caller is waiting again, not yet with anyone
        call.answered, call.agent_channel, call.bridge_id = False, None, None
        call.tried = set()
        if old_agent_channel:
            self.by_channel.pop(old_agent_channel, None)
        await self._safe("POST", f"/channels/{call.caller_channel}/moh", mohClass="default")
        if old_bridge:
            await self._safe("DELETE", f"/bridges/{old_bridge}")
        if old_agent_channel:
            await self._safe("DELETE", f"/channels/{old_agent_channel}")
        if old_extension:
            await self._start_wrapup(old_extension, call.queue)
        await self._db(self.store.update_call, call.id, state=CallState.WAITING.value,
                       agent_channel=None, bridge_id=None)
        await self.bus.publish("call.transferred", {"call_id": call_id, "to": target,
                                                    "from_agent": old_extension})
        if kind == "queue":
            call.queue = name
            call.row = await self._db(self.store.update_call, call.id, queue=name) or call.row
            await self.dispatch()
        else:
            queue = await self._db(self.store.queue, call.queue)
            await self._db(self.store.record_decision, call.id, [], name,
                           f"blind transfer from {old_extension} to {name}")
            await self._ring(call, name, queue["ring_timeout_s"] if queue else 20)

    async def consult(self, call_id: str, extension: str) -> None:
        """Attended transfer, first step: the caller waits on hold with music
        while the agent talks to a colleague, rung on their own phone."""
        call = self._live(call_id)
        if await self._db(self.store.agent, extension) is None:
            raise ValueError(f"no agent {extension}")
        if call.consult_channel:
            raise ValueError("already consulting")
        await self.hold(call_id, True)
        channel = f"consult-{uuid.uuid4().hex[:16]}"
        call.consult_channel, call.consult_agent = channel, extension
        self.by_channel[channel] = call.id
        await self.ari.request(
            "POST", "/channels", endpoint=f"PJSIP/agent-{extension}", app=self.ari.app,
            appArgs=f"consult,{call.id}", channelId=channel, timeout=30,
            callerId=call.caller_number or "anonymous")
        await self.ari.request("POST", f"/applications/{self.ari.app}/subscription",
                               eventSource=f"channel:{channel}")

    async def _consulted_answers(self, channel: dict[str, Any], call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.ended or call.consult_channel != channel["id"]:
            await self._safe("DELETE", f"/channels/{channel['id']}")
            return
        await self.ari.request("POST", f"/bridges/{call.bridge_id}/addChannel",
                               channel=channel["id"])
        await self.bus.publish("call.consulting", {"call_id": call_id,
                                                   "agent": call.consult_agent})

    async def complete_transfer(self, call_id: str) -> None:
        """Attended transfer, last step: the caller joins the consulted agent,
        the first agent leaves (wrap-up)."""
        call = self._live(call_id)
        if not call.consult_channel or not call.consult_agent:
            raise ValueError("no consultation in progress")
        members = await self.ari.request("GET", f"/bridges/{call.bridge_id}")
        if call.consult_channel not in members.get("channels", []):
            raise ValueError("the consulted agent has not answered")
        old_channel, old_extension = call.agent_channel, (
            await self._db(self.store.call, call.id) or {}).get("agent_extension")
        new_channel, new_extension = call.consult_channel, call.consult_agent
        call.agent_channel, call.consult_channel, call.consult_agent = new_channel, None, None
        if old_channel:
            self.by_channel.pop(old_channel, None)
            await self._safe("DELETE", f"/channels/{old_channel}")
        await self.hold(call_id, False)
        call.row = await self._db(self.store.update_call, call.id,
                                  agent_extension=new_extension,
                                  agent_channel=new_channel) or call.row
        await self._db(self.store.record_decision, call.id, [], new_extension,
                       f"attended transfer from {old_extension} to {new_extension}")
        await self._set_agent(new_extension, AgentStatus.ON_CALL, None, 0)
        if old_extension:
            await self._start_wrapup(old_extension, call.queue)
        await self.bus.publish("call.transferred", {"call_id": call_id, "to": new_extension,
                                                    "from_agent": old_extension,
                                                    "attended": True})

    async def recording(self, call_id: str, action: str) -> None:
        """Start (queues that do not record every call), pause (the caller reads
        a card number, say) or resume the call's recording."""
        call = self._live(call_id)
        if action == "start":  # a queue that does not record every call
            await self.ari.request("POST", f"/bridges/{call.bridge_id}/record", name=call.id,
                                   format="wav", ifExists="append")
            call.row = await self._db(self.store.update_call, call.id,
                                      recording=f"{call.id}.wav") or call.row
        elif action == "pause":
            await self.ari.request("POST", f"/recordings/live/{call.id}/pause")
        else:
            await self.ari.request("DELETE", f"/recordings/live/{call.id}/pause")
        await self.bus.publish(f"recording.{action.rstrip('e')}ed", {"call_id": call_id})

    # -- supervision: listen, whisper, barge -------------------------------------

    # ARI snoop on the agent's channel: spy=both hears caller and agent;
    # whisper=out reaches the agent only, whisper=both reaches both.
    SNOOP_WHISPER = {"listen": "none", "whisper": "out", "barge": "both"}

    async def supervise(self, call_id: str, mode: str, extension: str) -> str:
        """Ring the supervisor's own phone; once answered it hears (and, for
        whisper and barge, talks into) the call. Returns the supervisor's channel."""
        call = self.calls.get(call_id)
        if call is None or not call.answered or not call.agent_channel:
            raise LookupError(f"no call {call_id} in progress")
        channel = f"sup-{uuid.uuid4().hex[:16]}"
        await self.ari.request(
            "POST", "/channels", endpoint=f"PJSIP/agent-{extension}", app=self.ari.app,
            appArgs=f"supervisor,{call_id},{mode}", channelId=channel, timeout=30,
            callerId=f"{mode} {call.caller_number}")
        return channel

    async def _supervisor_answers(self, channel: dict[str, Any], call_id: str,
                                  mode: str) -> None:
        sup_channel = channel["id"]
        call = self.calls.get(call_id)
        if call is None or not call.agent_channel or mode not in self.SNOOP_WHISPER:
            await self._safe("DELETE", f"/channels/{sup_channel}")
            return
        snoop_id = f"snoop-{uuid.uuid4().hex[:16]}"
        entered = asyncio.get_running_loop().create_future()
        self._snoops[snoop_id] = entered
        try:
            await self.ari.request(
                "POST", f"/channels/{call.agent_channel}/snoop", app=self.ari.app,
                appArgs="snoop", snoopId=snoop_id, spy="both",
                whisper=self.SNOOP_WHISPER[mode])
            await asyncio.wait_for(entered, 5)
        except (AriError, TimeoutError):
            self._snoops.pop(snoop_id, None)
            log.warning("could not snoop on call %s", call_id)
            await self._safe("DELETE", f"/channels/{sup_channel}")
            return
        bridge = await self.ari.request("POST", "/bridges", type="mixing",
                                        name=f"{mode}-{call_id}")
        self._supervision[sup_channel] = Supervision(call_id, snoop_id, bridge["id"])
        call.supervisors.append(sup_channel)
        try:
            await self.ari.request("POST", f"/bridges/{bridge['id']}/addChannel",
                                   channel=f"{snoop_id},{sup_channel}")
        except AriError as exc:  # the supervisor (or the call) went meanwhile
            log.warning("could not bridge the supervisor into call %s: %s", call_id, exc)
            await self._end_supervision(sup_channel, hang_up=True)
            return
        await self.bus.publish("call.supervised", {"call_id": call_id, "mode": mode,
                                                   "supervisor_channel": sup_channel})

    async def _end_supervision(self, sup_channel: str, hang_up: bool = False) -> None:
        """The supervisor hung up (or the call ended): destroy the snoop channel
        and the supervisor's bridge, which Asterisk would keep for ever."""
        sup = self._supervision.pop(sup_channel, None)
        if sup is None:
            return
        call = self.calls.get(sup.call_id)
        if call and sup_channel in call.supervisors:
            call.supervisors.remove(sup_channel)
        await self._safe("DELETE", f"/channels/{sup.snoop_channel}")
        await self._safe("DELETE", f"/bridges/{sup.bridge_id}")
        if hang_up:
            await self._safe("DELETE", f"/channels/{sup_channel}")
        await self.bus.publish("call.supervision_ended", {"call_id": sup.call_id,
                                                          "supervisor_channel": sup_channel})

    # -- agents' feature codes (desk phones) -----------------------------------

    async def _feature_code(self, channel: dict[str, Any], args: list[str]) -> None:
        chan_id = channel["id"]
        action, extension = (args + ["", ""])[:2]
        status = {"login": AgentStatus.AVAILABLE, "logout": AgentStatus.LOGGED_OUT,
                  "pause": AgentStatus.PAUSED, "unpause": AgentStatus.AVAILABLE}.get(action)
        agent = None
        if status is not None and extension:
            try:
                agent, _ = await self.request_status(
                    extension, status, "break" if status == AgentStatus.PAUSED else None)
            except Conflict as exc:  # e.g. *45 from a second line while on a call
                log.info("feature code %s of %s refused: %s", action, extension, exc)
        await self._safe("POST", f"/channels/{chan_id}/variable", variable="AIT_FEATURE_OK",
                         value="1" if agent else "0")
        await self._safe("POST", f"/channels/{chan_id}/continue")

    # -- rebuilding state --------------------------------------------------------

    async def reconcile(self) -> None:
        """After (re)connecting to ARI: rebuild the live calls from what Asterisk
        holds now (``GET /channels``, ``GET /bridges``), those known here and
        those only the database knows (a restart). What ended while ARI was
        away is closed as if it had been seen (call row, interaction, agent to
        wrap-up, events); bridges are associated again; leftovers of
        supervision are destroyed."""
        try:
            channels = {c["id"]: c for c in await self.ari.request("GET", "/channels")}
            bridges = await self.ari.request("GET", "/bridges")
        except AriError:
            log.exception("reconcile: cannot list channels and bridges")
            return
        bridge_of = {chan: b["id"] for b in bridges for chan in b.get("channels", [])}
        for call in list(self.calls.values()):
            await self._reconcile_call(call, channels, bridge_of)
        try:
            rows = await self._db(self.store.open_calls)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("reconcile: database away, calls only it knows wait (%s)", exc)
            rows = []
        loop_now = asyncio.get_running_loop().time()
        for row in rows:
            if row["id"] in self.calls:
                continue
            call = LiveCall(
                id=row["id"], queue=row["queue"], caller_channel=row["caller_channel"],
                caller_number=row["caller_number"], language=row["language"],
                skills=tuple(row["skills"]), priority=row["priority"],
                customer_id=row["customer_id"], previous_agent=None, context={},
                entered=loop_now, agent_channel=row["agent_channel"],
                bridge_id=row["bridge_id"], answered=row["state"] == CallState.ANSWERED.value,
                row=row, direction=row.get("direction") or "inbound", task_id=row.get("task_id"))
            if row["state"] == CallState.RINGING.value and row["agent_extension"] \
                    and call.direction == "inbound":
                call.ringing_agent = row["agent_extension"]
            self.calls[call.id] = call
            self.by_channel[call.caller_channel] = call.id
            if call.agent_channel:
                self.by_channel[call.agent_channel] = call.id
            await self._reconcile_call(call, channels, bridge_of)
        await self._reconcile_bridges(channels, bridges)
        try:
            await self._reconcile_agents()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("reconcile: database away, agents' states wait (%s)", exc)
        log.info("reconciled: %d live calls", len(self.calls))
        await self._dispatch_quietly("reconcile")

    async def _reconcile_call(self, call: LiveCall, channels: dict[str, dict[str, Any]],
                              bridge_of: dict[str, str]) -> None:
        if call.ended:
            return
        if call.direction == "outbound" and not call.answered:
            # being placed when ARI went away: what became of it is not known
            # here; the agent dials again rather than being bridged half-way
            log.info("reconcile: outbound call %s was being placed: dropped", call.id)
            await self.dialer.leg_failed(call, "", None)
            return
        if call.caller_channel not in channels or (
                call.answered and (call.agent_channel or "") not in channels):
            log.info("reconcile: call %s ended while ARI was away", call.id)
            await self._end(call)
            return
        if call.consult_channel and call.consult_channel not in channels:
            self.by_channel.pop(call.consult_channel, None)
            call.consult_channel = call.consult_agent = None
        for sup in list(call.supervisors):
            if sup not in channels:
                await self._end_supervision(sup)
        if not call.answered and call.agent_channel:
            agent_leg = channels.get(call.agent_channel)
            if agent_leg is None:  # the ring ended unseen: the caller goes to the next best
                if call.ringing_agent:
                    await self._ring_failed(call, call.ringing_agent, miss=False)
                else:
                    self.by_channel.pop(call.agent_channel, None)
                    call.agent_channel = None
                    await self._db(self.store.update_call, call.id,
                                   state=CallState.WAITING.value, agent_channel=None)
            elif agent_leg.get("state") == "Up" and call.ringing_agent:
                # answered unseen: the agent's leg waits in the app for its bridge
                await self._agent_answers(agent_leg, call.id)
        if call.answered:
            # on hold the caller is out of the bridge: the agent is in it
            bridge = bridge_of.get(call.caller_channel) or bridge_of.get(call.agent_channel or "")
            if bridge and bridge != call.bridge_id:
                call.bridge_id = bridge
                call.row = await self._db(self.store.update_call, call.id,
                                          bridge_id=bridge) or call.row
        # a dropped websocket may leave the app without its subscriptions
        sources = [f"channel:{c}" for c in (call.caller_channel, call.agent_channel,
                                            call.consult_channel) if c and c in channels]
        if call.bridge_id:
            sources.append(f"bridge:{call.bridge_id}")
        await self._safe("POST", f"/applications/{self.ari.app}/subscription",
                         eventSource=",".join(sources))

    async def _reconcile_bridges(self, channels: dict[str, dict[str, Any]],
                                 bridges: list[dict[str, Any]]) -> None:
        """The router's bridges: the supervisors' are associated again (or
        destroyed if their supervisor or snoop is gone), those of calls that
        are over are destroyed, and so are snoops nobody listens to."""
        in_use = {c.bridge_id for c in self.calls.values() if c.bridge_id}
        listened = {s.snoop_channel for s in self._supervision.values()}
        for bridge in bridges:
            match = _BRIDGE_NAME.match(bridge.get("name") or "")
            if match is None or bridge["id"] in in_use:
                continue
            kind, call_id = match.groups()
            members = bridge.get("channels", [])
            call = self.calls.get(call_id)
            if kind == "call":
                if call is None:  # the call is over: nobody else ends what is left of it
                    for chan in members:
                        await self._safe("DELETE", f"/channels/{chan}")
                    await self._safe("DELETE", f"/bridges/{bridge['id']}")
                continue
            sup = next((m for m in members if m.startswith("sup-")), None)
            snoop = next((m for m in members if m.startswith("snoop-")), None)
            if sup and sup in self._supervision:
                continue
            if call is not None and sup and snoop and sup in channels and snoop in channels:
                self._supervision[sup] = Supervision(call_id, snoop, bridge["id"])
                call.supervisors.append(sup)
                listened.add(snoop)
                continue
            for chan in (snoop, sup):
                if chan:
                    await self._safe("DELETE", f"/channels/{chan}")
            await self._safe("DELETE", f"/bridges/{bridge['id']}")
        for chan in channels:
            if chan.startswith("snoop-") and chan not in listened and chan not in self._snoops:
                await self._safe("DELETE", f"/channels/{chan}")

    async def _reconcile_agents(self) -> None:
        """Agents shown ringing or on a call that no longer exists are free
        again; a wrap-up nobody times here ends."""
        engaged = set().union(*(self._engaged_in(c) for c in self.calls.values()))
        for agent in self.with_unsaved(await self._db(self.store.agents)):
            extension = agent["extension"]
            if agent["status"] in (AgentStatus.RINGING.value, AgentStatus.ON_CALL.value) \
                    and extension not in engaged:
                await self._free_agent(extension)
            elif agent["status"] == AgentStatus.WRAP_UP.value \
                    and extension not in self._wrapups:
                await self._end_wrapup(extension)

    async def _safe(self, method: str, path: str, **params: Any) -> Any:
        """An ARI request whose failure (the channel already gone) is not an error."""
        try:
            return await self.ari.request(method, path, **params)
        except AriError as exc:
            if exc.status not in (404, 409, 422):
                log.warning("ARI %s %s: %s", method, path, exc)
            return None
