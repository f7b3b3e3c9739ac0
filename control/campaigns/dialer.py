"""The campaign dialer: one task per running campaign in the control plane,
placing customers' calls through the ACD's one originate/bridge/close path.

Each campaign's task wakes every :data:`STEP_S` (sooner when an agent
becomes free) and asks its pacer how many lines to dial now: progressive
dialing never has more lines out than free agents; predictive uses the
campaign's :class:`control.campaigns.pacing.Pacer` (answer rate, handle
times, the abandonment cap). It claims that many due list entries from the
database (:func:`control.campaigns.services.claim_due`: never a number on a
do-not-call list, never outside the lead's calling hours, never past the
maximum attempts; callbacks due first, reserved for the agent who booked
them) and originates each customer leg on the trunk, ringing
``ring_s`` >= 15 s, into the Stasis app (``campaign-customer,CALL``). When
the campaign wants answering-machine detection the answered channel goes
through the dialplan's ``campaign-amd`` (``AMD()``) and comes back with the
verdict (``campaign-customer,CALL,AMDSTATUS,AMDCAUSE``).

When a person answers, a free agent of the campaign is taken at once (no
await between the choice and the agent's state changing, as
:mod:`control.acd.distribution` does) and their phone is rung with
auto-answer; :func:`control.acd.lifecycle.connect` bridges and records.
Nobody connected within :data:`CONNECT_WITHIN_S` (2 s, the rules): the
person hears the campaign's recorded message and the call counts as
abandoned. A machine (AMD) follows the campaign's action: hang up, leave the
message, or pass to an agent.

How it fails: a control plane that dies leaves list entries ``calling``;
they are put back to retry at start (:func:`services.release_unfinished`).
A database that cannot be read skips a step (nothing dialled); a trunk that
refuses a call ends it as ``failed``. Preview mode dials nothing by itself:
the agent asks for a lead and dials it (:meth:`CampaignDialer.preview`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select

from control.acd import lifecycle
from control.acd.calls import LiveCall
from control.acd.models import CallState
from control.acd.router import Router
from control.campaigns import rules, services
from control.campaigns.models import DialMode, EntryStatus, ListEntry, MachineAction
from control.campaigns.pacing import Pacer, PacingSettings
from control.crm.sales import Lead
from control.db import Database
from control.errors import Conflict, NotFound
from control.events.bus import EventBus
from control.provisioning.models import Did, Trunk
from control.telephony.ari import AriError

log = logging.getLogger(__name__)

STEP_S = 1.0  # a campaign's pace is looked at least this often
SETTINGS_EVERY_S = 2.0  # running campaigns and their settings re-read
CONNECT_WITHIN_S = 2.0  # the rules: a person reaches an agent within 2 s, else the message
AGENT_RING_S = 10
STATS_EVERY_S = 3.0

Clock = Callable[[], datetime]


def make_pacer(settings: dict[str, Any]) -> Pacer:
    """The campaign's pacer: progressive (a line per free agent) or predictive
    (control.campaigns.pacing: the answer rate, handle times and the
    abandonment cap over the campaign's window)."""
    predictive = settings["mode"] == DialMode.PREDICTIVE.value
    return Pacer(PacingSettings(mode="predictive" if predictive else "progressive",
                                adapt=settings["adapt"],
                                abandon_cap=settings["abandon_cap_pct"] / 100.0,
                                window_s=float(settings["abandon_window_s"])))


def forced_clock(at: datetime | None) -> Clock:
    """Real time, or a forced start (``AITCOMMS_CLOCK``) that goes on ticking."""
    if at is None:
        return lambda: datetime.now(UTC)
    start, t0 = at.astimezone(UTC), time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


def _settings_of(session: Any, campaign_id: int) -> dict[str, Any]:
    return services.dialing(session, campaign_id).as_dict()


@dataclass
class Line:
    """One customer's call placed by a campaign, until its attempt is filed."""
    call: LiveCall
    campaign_id: int
    entry_id: int
    phone: str
    lead: dict[str, Any]
    reserved: str | None  # the agent it is for (a callback, a preview)
    started: float  # loop time
    dialled_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: str = "dialing"  # dialing, waiting (a person, no agent yet), ringing, connected
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    amd_status: str | None = None
    result: str | None = None
    abandoned: bool = False
    cause: int | None = None
    agent: str | None = None
    filed: bool = False
    in_amd: bool = False  # in the dialplan's answering-machine detection
    extra: dict[str, Any] = field(default_factory=dict)


class CampaignDialer:
    def __init__(self, acd: Router, db: Database, bus: EventBus, clock: Clock,
                 caller_id: str | None = None) -> None:
        self.acd = acd
        self.db = db
        self.bus = bus
        self.clock = clock
        self.caller_id = caller_id
        self.settings: dict[int, dict[str, Any]] = {}  # running campaigns' settings
        self.pacers: dict[int, Pacer] = {}
        self.lines: dict[str, Line] = {}  # call id -> line
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.wakes: dict[int, asyncio.Event] = {}
        self._main: asyncio.Task[None] | None = None
        self._stats: asyncio.Task[None] | None = None
        # since this dialer started the campaign: agent-seconds logged in, talk seconds
        self.agent_s: dict[int, float] = {}
        self.talk_s: dict[int, float] = {}
        self._measured: dict[int, float] = {}  # loop time agent-seconds were last added
        acd.routes["campaign-customer"] = self._customer_answers
        acd.routes["campaign-agent"] = self._agent_answers
        acd.agents.on_free.append(self.wake)

    # -- running ----------------------------------------------------------------------

    def start(self) -> None:
        self._main = asyncio.create_task(self._watch(), name="campaigns")
        self._stats = asyncio.create_task(self._publish_stats(), name="campaign-stats")

    async def close(self) -> None:
        for task in [self._main, self._stats, *self.tasks.values()]:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def wake(self) -> None:
        for event in self.wakes.values():
            event.set()

    async def _watch(self) -> None:
        """Start a task per running campaign, stop those stopped."""
        try:
            released = await asyncio.to_thread(self._db, services.release_unfinished)
            if released:
                log.warning("campaigns: %d numbers left calling by a stopped dialer: retried",
                            released)
        except Exception as exc:
            log.warning("campaigns: unfinished calls not released (%s)", exc)
        while True:
            try:
                running = await asyncio.to_thread(self._db, services.running_campaigns)
                wanted = {s["campaign_id"]: s for s in running}
                for cid, settings in wanted.items():
                    old = self.settings.get(cid)
                    self.settings[cid] = settings
                    if old is None or (old["mode"], old["adapt"]) != (settings["mode"],
                                                                      settings["adapt"]):
                        self.pacers[cid] = make_pacer(settings)
                    if cid not in self.tasks:
                        self.wakes[cid] = asyncio.Event()
                        self.tasks[cid] = asyncio.create_task(self._run(cid),
                                                              name=f"campaign-{cid}")
                        await self._publish("campaign.started", cid, {"mode": settings["mode"]})
                for cid in list(self.tasks):
                    if cid not in wanted:
                        self.tasks.pop(cid).cancel()
                        self.wakes.pop(cid, None)
                        self.settings.pop(cid, None)
                        await self._publish("campaign.stopped", cid, {})
                await self._file_ended()
            except Exception as exc:
                log.warning("campaigns not read (%s): dialing as before", exc)
            await asyncio.sleep(SETTINGS_EVERY_S)

    def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.db.session() as session:
            out = fn(session, *args, **kwargs)
            session.commit()
            return out

    async def _run(self, cid: int) -> None:
        while True:
            wake = self.wakes.get(cid)
            if wake is None:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), STEP_S)
            wake.clear()
            try:
                await self.step(cid)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("campaign %s: step failed", cid)

    # -- pacing -------------------------------------------------------------------------

    def agents_of(self, settings: dict[str, Any]) -> list[str]:
        found = list(settings["agents"])
        for name in settings["queues"]:
            queue = self.acd.queues.get(name)
            for member in (queue or {}).get("members", []):
                if member["extension"] not in found:
                    found.append(member["extension"])
        return found

    def _count_agent_time(self, cid: int, settings: dict[str, Any]) -> None:
        """Agent-seconds logged in to the campaign (talk minutes per agent-hour)."""
        loop_now = asyncio.get_running_loop().time()
        last = self._measured.get(cid, loop_now)
        self._measured[cid] = loop_now
        logged_in = sum(1 for ext in self.agents_of(settings)
                        if self.acd.agents.status(ext) not in (None, "logged_out"))
        self.agent_s[cid] = self.agent_s.get(cid, 0.0) + (loop_now - last) * logged_in

    def _reserved(self) -> set[str]:
        return {line.reserved for line in self.lines.values() if line.reserved}

    def free_agents(self, settings: dict[str, Any]) -> list[str]:
        """Agents of the campaign free to take a person now (available, in no
        call, not kept for a callback)."""
        reserved = self._reserved()
        return [ext for ext in self.agents_of(settings)
                if self.acd.agents.available(ext) and self.acd.calls.engaged(ext) is None
                and ext not in reserved]

    def _busy_for(self, settings: dict[str, Any]) -> tuple[list[float], list[float]]:
        """How long each busy agent of the campaign has been on its call, and
        each in wrap-up in it (the pacer's guess of who is soon free: a
        wrap-up is a timer, known to the second; a call is not)."""
        now = datetime.now(UTC)
        talking: list[float] = []
        wrapping: list[float] = []
        for ext in self.agents_of(settings):
            status = self.acd.agents.status(ext)
            if status in ("on_call", "wrap_up"):
                since = self.acd.agents.idle_since(ext)  # since the state began
                if since is not None:
                    since = since if since.tzinfo else since.replace(tzinfo=UTC)
                    (talking if status == "on_call" else wrapping).append(
                        max(0.0, (now - since).total_seconds()))
        return talking, wrapping

    def lines_out(self, cid: int) -> list[Line]:
        """Lines dialled for anyone (no reserved agent) not yet with an agent."""
        return [line for line in self.lines.values() if line.campaign_id == cid
                and not line.filed and line.reserved is None
                and line.state in ("dialing", "waiting")]

    async def step(self, cid: int) -> None:
        """Finish what ended, give waiting persons a free agent, dial what the
        pacer asks for."""
        await self._file_ended()
        settings = self.settings.get(cid)
        if settings is None:
            return
        self._count_agent_time(cid, settings)
        self._serve_waiting(cid, settings)
        if settings["mode"] == DialMode.PREVIEW.value:
            return
        free = self.free_agents(settings)
        out = self.lines_out(cid)
        pacer = self.pacers.setdefault(cid, make_pacer(settings))
        wanted = pacer.lines_to_dial(asyncio.get_running_loop().time(), agents_free=len(free),
                                     agents_soon_free=pacer.agents_soon_free(
                                         *self._busy_for(settings)),
                                     lines_in_progress=len(out))
        callbacks_possible = bool(set(self.agents_of(settings)) & set(free))
        if wanted <= 0 and not callbacks_possible:
            return
        claimed = await asyncio.to_thread(self._db, self._claim, cid, max(0, wanted),
                                          set(free))
        for entry, reserved, lead, trunk, caller_id in claimed:
            await self._dial(cid, settings, entry, reserved, lead, trunk, caller_id)

    def _claim(self, session: Any, cid: int, lines: int, free: set[str]) -> list[
            tuple[dict[str, Any], str | None, dict[str, Any], str | None, str]]:
        now = self.clock()
        trunk = session.scalar(select(Trunk.name).order_by(Trunk.name).limit(1))
        if trunk is None:
            return []
        claimed = services.claim_due(session, cid, lines, now, free)
        settings = services.dialing(session, cid)
        caller_id = (settings.caller_id or self.caller_id or
                     session.scalar(select(Did.number).order_by(Did.number).limit(1))
                     or "anonymous")
        out = []
        for entry, reserved in claimed:
            lead = session.get(Lead, entry.lead_id) if entry.lead_id else None
            call_id = str(uuid.uuid4())
            services.start_attempt(session, entry, call_id, now, reserved)
            out.append((entry.as_dict() | {"call_id": call_id}, reserved,
                        lead.as_dict() if lead else {}, trunk, caller_id))
        return out

    # -- a call ------------------------------------------------------------------------

    async def _dial(self, cid: int, settings: dict[str, Any], entry: dict[str, Any],
                    reserved: str | None, lead: dict[str, Any], trunk: str | None,
                    caller_id: str) -> None:
        acd = self.acd
        call_id = entry["call_id"]
        loop_now = asyncio.get_running_loop().time()
        channel = f"camp-{uuid.uuid4().hex[:16]}"
        entered_at = self.clock()
        context = {"campaign": {"id": cid, "script": settings["script"],
                                "dispositions": settings["dispositions"]},
                   "lead": lead, "entry": {k: v for k, v in entry.items() if k != "call_id"}}
        fields: dict[str, Any] = {
            "queue": "", "caller_number": entry["phone"], "customer_id": None,
            "language": "es", "skills": [], "priority": 0, "direction": "outbound",
            "task_id": None, "agent_extension": reserved, "state": CallState.RINGING.value}
        call = LiveCall(id=call_id, queue="", caller_channel=channel,
                        caller_number=entry["phone"], language="es", skills=(), priority=0,
                        customer_id=None, previous_agent=None, context=context,
                        entered=loop_now, direction="outbound", dial_trunk=trunk,
                        dial_caller_id=caller_id,
                        row={"id": call_id, **fields, "entered_at": entered_at.isoformat(),
                             "answered_at": None, "ended_at": None, "recording": None},
                        on_leg_failed=self._leg_failed, wrapup_s=int(settings["wrapup_s"]),
                        media_node=acd.ari.choose_node())  # its agent's leg follows it
        line = Line(call=call, campaign_id=cid, entry_id=entry["id"], phone=entry["phone"],
                    lead=lead, reserved=reserved, started=loop_now, dialled_at=entered_at)
        if reserved:
            call.ringing_agent = reserved  # held for this call (a callback, a preview)
        self.lines[call_id] = line
        acd.calls.add(call)
        acd.call_log.call(call_id, caller_channel=channel, entered_at=entered_at,
                          media_node=call.media_node, **fields)
        if reserved:
            await acd.agents.ringing(reserved)
        await self._publish("campaign.dialing", cid, {"call_id": call_id,
                                                      "phone": entry["phone"],
                                                      "agent_extension": reserved})
        await acd.lanes.run(call_id, lambda: self._originate(call, line, settings, trunk,
                                                             caller_id), "campaign dial")

    async def _originate(self, call: LiveCall, line: Line, settings: dict[str, Any],
                         trunk: str | None, caller_id: str) -> None:
        try:
            await self.acd.ari.originate(
                node=call.media_node,
                endpoint=f"PJSIP/{line.phone}@trunk-{trunk}", channel_id=call.caller_channel,
                app_args=f"campaign-customer,{call.id}",
                ring_s=max(rules.MIN_RING_S, int(settings["ring_s"])), caller_id=caller_id,
                variables={"AIT_CALL": call.id})
        except AriError as exc:
            log.warning("campaign %s: cannot dial %s: %s", line.campaign_id, line.phone, exc)
            line.cause = 34  # no circuit: the trunk refused
            await self.acd.dialer.leg_failed(call, call.caller_channel, 34)

    async def _customer_answers(self, acd: Router, channel: dict[str, Any],
                                args: list[str]) -> None:
        """Stasis ``campaign-customer,CALL[,AMDSTATUS,AMDCAUSE]``: the customer's
        phone was answered; with AMD on, it goes through the dialplan's
        ``campaign-amd`` first and comes back with the verdict."""
        chan_id = channel["id"]
        call_id, amd_status = (args + ["", ""])[:2]
        call = acd.calls.get(call_id)
        line = self.lines.get(call_id)
        if call is None or line is None or call.ended or call.caller_channel != chan_id:
            await acd.ari.request_quietly("DELETE", f"/channels/{chan_id}")
            return
        found = self.settings.get(line.campaign_id)
        # stopped meanwhile: its calls still go their way
        settings: dict[str, Any] = found if found is not None else await asyncio.to_thread(
            self._db, _settings_of, line.campaign_id)
        if settings["amd"] and not amd_status and not line.in_amd:
            line.in_amd = True  # its StasisEnd is not a hang-up (see _leg_failed)
            await acd.ari.request_quietly("POST", f"/channels/{chan_id}/continue",
                                          context="campaign-amd", extension="s", priority=1)
            return
        line.in_amd = False
        acd.calls.link(chan_id, call)
        line.answered_at = self.clock()
        line.amd_status = amd_status or None
        log.info("campaign %s call %s to %s answered (AMD %s)", line.campaign_id, call_id,
                 line.phone, amd_status or "off")
        machine = bool(settings["amd"]) and amd_status == "MACHINE"
        line.result = "machine" if machine else "human"
        await self._publish("campaign.answered", line.campaign_id, {
            "call_id": call_id, "phone": line.phone, "result": line.result,
            "amd_status": line.amd_status, "agent_extension": line.reserved})
        if machine and settings["machine_action"] != MachineAction.AGENT.value:
            if settings["machine_action"] == MachineAction.MESSAGE.value and settings["message"]:
                await self._message_and_close(call, line, settings["message"])
            else:
                await self._close_unconnected(call, line)
            return
        line.state = "waiting"
        acd.lanes.later(CONNECT_WITHIN_S, call_id, lambda: self._connect_deadline(call, line),
                        "campaign connect deadline")
        ext = line.reserved or self._take_agent(call, line, settings)
        if ext:
            await self._ring_agent(call, line, ext)

    def _take_agent(self, call: LiveCall, line: Line, settings: dict[str, Any]) -> str | None:
        """A free agent of the campaign, taken now (no await between)."""
        free = self.free_agents(settings)
        if not free:
            return None
        # the one idle longest first
        ext = min(free, key=lambda e: str(self.acd.agents.idle_since(e) or ""))
        call.ringing_agent = ext
        line.state = "ringing"
        return ext

    async def _ring_agent(self, call: LiveCall, line: Line, ext: str) -> None:
        acd = self.acd
        line.state = "ringing"
        line.agent = ext
        call.ringing_agent = ext
        call.row = call.row | {"agent_extension": ext}
        agent_channel = f"campa-{uuid.uuid4().hex[:16]}"
        call.agent_channel = agent_channel
        acd.calls.link(agent_channel, call)
        if acd.agents.status(ext) != "ringing":
            await acd.agents.ringing(ext)
        await self._publish("campaign.lead", line.campaign_id, {
            "call_id": call.id, "agent_extension": ext, "phone": line.phone,
            "lead": line.lead, "entry_id": line.entry_id,
            "script": call.context["campaign"]["script"],
            "dispositions": call.context["campaign"]["dispositions"]})
        try:
            await acd.ari.originate(
                endpoint=f"PJSIP/agent-{ext}", channel_id=agent_channel,
                app_args=f"campaign-agent,{call.id}", ring_s=AGENT_RING_S,
                caller_id=line.phone, originator=call.caller_channel,
                variables={"PJSIP_HEADER(add,Call-Info)": "<sip:127.0.0.1>;answer-after=0"})
        except AriError as exc:
            log.warning("campaign call %s: cannot ring agent %s: %s", call.id, ext, exc)
            await self._agent_gone(call, line)

    async def _agent_answers(self, acd: Router, channel: dict[str, Any],
                             args: list[str]) -> None:
        """Stasis ``campaign-agent,CALL``: the agent's phone picked up: bridge."""
        chan_id = channel["id"]
        call = acd.calls.get(args[0]) if args else None
        line = self.lines.get(args[0]) if args else None
        if call is None or line is None or call.ended or call.agent_channel != chan_id \
                or line.state != "ringing":
            await acd.ari.request_quietly("DELETE", f"/channels/{chan_id}")
            return
        ext = call.ringing_agent or line.agent or ""
        await lifecycle.connect(acd, call, chan_id, ext, record=True)
        line.state = "connected"
        line.connected_at = self.clock()
        line.agent = ext
        await self._publish("campaign.connected", line.campaign_id, {
            "call_id": call.id, "agent_extension": ext, "phone": line.phone,
            "seconds_to_agent": round(asyncio.get_running_loop().time() - line.started, 2)})

    async def _connect_deadline(self, call: LiveCall, line: Line) -> None:
        """2 s after the person answered: with an agent, or the message."""
        if call.ended or line.state == "connected" or line.filed:
            return
        if call.agent_channel:  # the agent's phone has not picked up in time
            chan = call.agent_channel
            self.acd.calls.unlink(chan)
            call.agent_channel = None
            await self.acd.ari.request_quietly("DELETE", f"/channels/{chan}")
        ext = call.ringing_agent
        call.ringing_agent = None
        call.row = call.row | {"agent_extension": None}
        if ext:
            await self.acd.agents.free(ext)
        line.abandoned = True
        log.info("campaign %s call %s to %s: no agent within %.0f s, abandoned",
                 line.campaign_id, call.id, line.phone, CONNECT_WITHIN_S)
        settings = self.settings.get(line.campaign_id) or {}
        await self._publish("campaign.abandoned", line.campaign_id, {
            "call_id": call.id, "phone": line.phone, "agent_extension": None,
            "message": settings.get("message")})
        if settings.get("message"):
            await self._message_and_close(call, line, settings["message"])
        else:
            await self._close_unconnected(call, line)

    async def _message_and_close(self, call: LiveCall, line: Line, message: str) -> None:
        """The recorded message, played by the dialplan (it goes on even if
        this process stops), then the call is over for the ACD."""
        chan = call.caller_channel
        self.acd.calls.unlink(chan)
        call.caller_channel = ""  # not ours to hang up any more
        line.extra["message"] = message
        await self.acd.ari.request_quietly("POST", f"/channels/{chan}/variable",
                                           variable="AIT_MESSAGE", value=message)
        await self.acd.ari.request_quietly("POST", f"/channels/{chan}/continue",
                                           context="campaign-message", extension="s",
                                           priority=1)
        await self._close_unconnected(call, line, gone=chan)

    async def _close_unconnected(self, call: LiveCall, line: Line,
                                 gone: str | None = None) -> None:
        if line.abandoned:  # a person who reached nobody: an abandoned call
            await lifecycle.end(self.acd, call, gone=gone)
        else:
            await self.acd.dialer.leg_failed(call, gone or call.caller_channel, None)
        self.wake()

    async def _agent_gone(self, call: LiveCall, line: Line) -> None:
        """The agent's phone failed or refused: the person waits for another
        agent until the deadline."""
        chan = call.agent_channel
        self.acd.calls.unlink(chan)
        call.agent_channel = None
        ext = call.ringing_agent
        call.ringing_agent = None
        call.row = call.row | {"agent_extension": None}
        line.state = "waiting"
        line.reserved = None
        if ext:
            await self.acd.agents.missed(ext, 2)
        self.wake()

    async def _leg_failed(self, call: LiveCall, chan_id: str, cause: int | None) -> None:
        """A leg of a campaign call ended before the customer and an agent
        were bridged."""
        line = self.lines.get(call.id)
        if line is not None and line.in_amd and cause is None and \
                chan_id == call.caller_channel:
            # it left the app for the dialplan's AMD (StasisEnd, no cause):
            # still ours; its hang-up (ChannelDestroyed) carries a cause
            self.acd.calls.link(chan_id, call)
            return
        if line is not None and chan_id == call.agent_channel and not call.ended:
            await self._agent_gone(call, line)
            return
        if line is not None and line.answered_at is None:
            line.cause = cause
        await self.acd.dialer.leg_failed(call, chan_id, cause)
        self.wake()

    def _serve_waiting(self, cid: int, settings: dict[str, Any]) -> None:
        """Persons who answered while no agent was free: one each, now."""
        for line in list(self.lines.values()):
            if line.campaign_id != cid or line.state != "waiting" or line.call.ended:
                continue
            ext = self._take_agent(line.call, line, settings)
            if ext is None:
                return
            call = line.call
            self.acd.lanes.submit(call.id, partial(self._ring_agent, call, line, ext),
                                  "campaign ring agent")

    async def _file_ended(self) -> None:
        """Calls over: their attempts filed, the pacer told."""
        for call_id, line in list(self.lines.items()):
            if not line.call.ended or line.filed:
                continue
            line.filed = True
            log.debug("DBG filing %s", call_id)
            now = self.clock()
            if line.answered_at is None:
                result = (line.result if line.result else rules.result_of_cause(line.cause))
            else:
                result = line.result or "human"
            talk_s = (now - line.connected_at).total_seconds() if line.connected_at else 0.0
            try:
                await asyncio.to_thread(
                    self._db, services.finish_attempt, call_id, now, result=result,
                    abandoned=line.abandoned, amd_status=line.amd_status,
                    answered_at=line.answered_at, connected_at=line.connected_at,
                    agent=line.agent, talk_s=talk_s)
            except Exception as exc:  # kept: filed at the next step
                log.warning("campaign attempt %s not filed yet: %s", call_id, exc)
                line.filed = False
                return
            del self.lines[call_id]
            loop_now = asyncio.get_running_loop().time()
            self.talk_s[line.campaign_id] = self.talk_s.get(line.campaign_id, 0.0) + talk_s
            pacer = self.pacers.get(line.campaign_id)
            if pacer:
                rang = ((line.answered_at - line.dialled_at).total_seconds()
                        if line.answered_at else None)
                pacer.record_attempt(loop_now, result,
                                     abandoned=line.abandoned and result == "human",
                                     answered_after_s=max(0.0, rang) if rang is not None
                                     else None)
                if line.connected_at:
                    pacer.record_handle(talk_s, float(self.acd.wrapup_s(line.call)))
            await self._publish("campaign.attempt", line.campaign_id, {
                "call_id": call_id, "phone": line.phone, "result": result,
                "abandoned": line.abandoned, "agent_extension": line.agent,
                "talk_s": round(talk_s, 1)})

    # -- preview --------------------------------------------------------------------------

    async def preview(self, cid: int, extension: str) -> dict[str, Any]:
        """Preview mode: the next lead for this agent to look at (kept for them
        until they dial or skip it)."""
        def claim(session: Any) -> dict[str, Any]:
            now = self.clock()
            settings = services.dialing(session, cid)
            if settings.mode != DialMode.PREVIEW.value:
                raise Conflict("the campaign is not in preview mode", "mode")
            if extension not in self.agents_of(settings.as_dict()):
                raise Conflict(f"agent {extension} does not work this campaign", "agent")
            found = services.claim_due(session, cid, 1, now, set())
            if not found:
                raise NotFound("lead to call now in campaign", str(cid), "campaign_id")
            entry = found[0][0]
            entry.callback_agent = extension
            lead = session.get(Lead, entry.lead_id) if entry.lead_id else None
            return {"entry": entry.as_dict(), "lead": lead.as_dict() if lead else None,
                    "script": settings.script, "dispositions": settings.dispositions}
        return dict(await asyncio.to_thread(self._db, claim))

    async def preview_decide(self, cid: int, entry_id: int, extension: str,
                             dial: bool) -> dict[str, Any]:
        """The agent dials the lead shown, or skips it (back on the list)."""
        def take(session: Any) -> dict[str, Any]:
            entry = session.get(ListEntry, entry_id)
            if entry is None or entry.campaign_id != cid:
                raise NotFound("list entry", str(entry_id), "entry_id")
            if entry.status != EntryStatus.CALLING.value or entry.callback_agent != extension:
                raise Conflict("this lead is not the one shown to you", "entry_id")
            entry.callback_agent = None
            if not dial:  # back on the list, behind the others
                entry.attempts -= 1
                entry.next_attempt_at = self.clock()
                entry.status = EntryStatus.RETRY.value if entry.attempts else \
                    EntryStatus.PENDING.value
                return {"entry": entry.as_dict()}
            if services.on_dnc(session, cid, entry.phone):
                entry.status = EntryStatus.DNC.value
                raise Conflict("the number is on a do-not-call list", "entry_id")
            now = self.clock()
            call_id = str(uuid.uuid4())
            services.start_attempt(session, entry, call_id, now, extension)
            trunk = session.scalar(select(Trunk.name).order_by(Trunk.name).limit(1))
            if trunk is None:
                raise Conflict("no trunk to call out on", "trunk")
            settings = services.dialing(session, cid)
            lead = session.get(Lead, entry.lead_id) if entry.lead_id else None
            caller_id = (settings.caller_id or self.caller_id or session.scalar(
                select(Did.number).order_by(Did.number).limit(1)) or "anonymous")
            return {"entry": entry.as_dict() | {"call_id": call_id},
                    "lead": lead.as_dict() if lead else {}, "trunk": trunk,
                    "caller_id": caller_id, "settings": settings.as_dict()}
        if dial and (self.acd.calls.engaged(extension) or extension in self._reserved()):
            raise Conflict(f"agent {extension} is on a call", "agent")
        out = await asyncio.to_thread(self._db, take)
        if dial:
            await self._dial(cid, out["settings"], out["entry"], extension, out["lead"],
                             out["trunk"], out["caller_id"])
        return {"entry": out["entry"]}

    # -- figures ----------------------------------------------------------------------------

    def live(self, cid: int) -> dict[str, Any]:
        settings = self.settings.get(cid)
        agents = self.agents_of(settings) if settings else []
        out = self.lines_out(cid)
        free = self.free_agents(settings) if settings else []
        agent_h = self.agent_s.get(cid, 0.0) / 3600
        pacer = self.pacers.get(cid)
        return {"lines_out": len(out), "agents": len(agents), "agents_free": len(free),
                "dial_level": pacer.dial_level if pacer else None,
                "held": pacer.held if pacer else False,
                # since this dialer started the campaign
                "talk_minutes_per_agent_hour": round(self.talk_s.get(cid, 0.0) / 60 / agent_h, 1)
                if agent_h > 0 else None,
                "lines_per_agent": round(len(out) / len(free), 2) if free else float(len(out)),
                "connected": sum(1 for line in self.lines.values() if line.campaign_id == cid
                                 and line.state == "connected")}

    async def figures(self, cid: int) -> dict[str, Any]:
        now = self.clock()
        found: dict[str, Any] = await asyncio.to_thread(
            self._db, lambda s: services.figures(s, cid, now))
        live = self.live(cid)
        return found | {"live": live,
                        "talk_minutes_per_agent_hour": live["talk_minutes_per_agent_hour"]}

    async def _publish_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            for cid in list(self.tasks):
                try:
                    figures = await self.figures(cid)
                except Exception as exc:
                    log.debug("campaign %s figures not read: %s", cid, exc)
                    continue
                await self._publish("campaign.stats", cid, {"figures": figures})

    async def _publish(self, type: str, cid: int, data: dict[str, Any]) -> None:
        try:
            await self.bus.publish(type, {"campaign_id": cid, **data})
        except Exception:
            log.exception("event %s not published", type)
