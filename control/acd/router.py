"""The ACD: the control plane's Stasis application, composed.

Callers arrive from the dialplan (``Stasis(aitcomms,queue,NAME,LANG,SKILLS,
PRIORITY,CUSTOMER)``), wait with music on hold, and are offered one agent at a
time, best score first. Where each part lives:

- :mod:`~control.acd.stasis`: ARI events filed into per-call lanes
  (:mod:`~control.acd.lanes`) and routed by a table to their handlers;
- :mod:`~control.acd.lifecycle`: one call's life, arrival to recording filed;
- :mod:`~control.acd.distribution`: choosing and ringing agents;
- :mod:`~control.acd.agent_states`: the agents' state machine and timers;
- :mod:`~control.acd.call_control`, :mod:`~control.acd.supervision`,
  :mod:`~control.acd.outbound`: what agents and supervisors do to calls;
- :mod:`~control.acd.reconcile`: the view rebuilt from Asterisk after a
  restart or an ARI reconnect;
- :mod:`~control.acd.call_log`: every database write, off the event path;
- :mod:`~control.acd.notifier`: every event, one method each.

State lives in Asterisk (channels, bridges) and the database; the ACD keeps
what routing reads in memory (queues, agents' states, live calls), so that
routing never waits for the database, and rebuilds it from both after a
restart. This class holds the parts together and is what the API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from control.acd import call_control, lifecycle, reconcile, stasis, supervision
from control.acd.agent_states import AgentStates
from control.acd.call_log import CallLog
from control.acd.calls import CallLegs, CallRegistry, LiveCall, PendingRecording
from control.acd.customers import CrmLink
from control.acd.distribution import Distributor
from control.acd.lanes import Lanes
from control.acd.models import AgentStatus
from control.acd.notifier import AcdNotifier
from control.acd.outbound import Dialer
from control.acd.queue_book import QueueBook
from control.acd.recordings_disk import CHECK_EVERY_S, RecordingsDisk
from control.acd.store import AcdStore
from control.events.bus import EventBus
from control.telephony.fleet import AriFleet

log = logging.getLogger(__name__)

T = TypeVar("T")
CallHook = Callable[[CallLegs], Awaitable[None]]
TICK_S = 1.0
ROSTER_EVERY_S = 30.0  # the whole roster (and calls answered today) at least this often


class Router:
    SNOOP_WHISPER = supervision.SNOOP_WHISPER

    def __init__(self, ari: AriFleet, store: AcdStore, bus: EventBus,
                 recordings_spool: Path, recordings_dir: Path, crm: CrmLink,
                 outbound_caller_id: str | None = None, outbound_wrapup_s: int = 10) -> None:
        self.ari = ari
        self.store = store
        self.crm = crm
        self.recordings_spool = recordings_spool
        self.recordings_dir = recordings_dir
        self.outbound_wrapup_s = outbound_wrapup_s
        self.notifier = AcdNotifier(bus)
        self.recordings_disk = RecordingsDisk(recordings_dir, self.notifier)
        self.lanes = Lanes()
        self.calls = CallRegistry()
        self.call_log = CallLog(crm)
        self.queues = QueueBook(store)
        self.agents = AgentStates(self.call_log, self.notifier, self.lanes)
        self.agents.engaged = self.calls.engaged
        self.distributor = Distributor(self)
        self.agents.on_free.append(self.distributor.request)
        self.dialer = Dialer(self, outbound_caller_id)
        # Stasis's first argument -> handler; other capabilities (campaigns) add theirs
        self.routes: dict[str, stasis.Handler] = dict(stasis.ROUTES)
        # snoop channels created, until they enter the app (only then bridgeable)
        self.snoops: dict[str, asyncio.Future[None]] = {}
        # playback id -> (call id, position, expected minutes) of announcements playing
        self.announcing: dict[str, tuple[str, int, int]] = {}
        # calls over whose recording Asterisk has yet to close, by call id
        self.recordings_pending: dict[str, PendingRecording] = {}
        # other capabilities' hooks (speech): told when a call is bridged and
        # when it ends, each on a task of its own: never in the call's way
        self.on_connected: list[CallHook] = []
        self.on_ended: list[CallHook] = []
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._roster_mark = -1  # the newest audited admin change seen
        # nodes whose calls are being rebuilt (reconcile after a (re)connect)
        self.reconciling: set[str] = set()
        self._roster_read = float("-inf")  # loop time of the last whole read
        ari.handlers.append(self.on_event)
        ari.on_connect.append(self.reconcile)

    def wrapup_s(self, call: LiveCall) -> int:
        """The wrap-up an agent gets after this call: its queue's, else its
        own (a campaign's), else the outbound default."""
        queue = self.queues.get(call.queue)
        if queue:
            return int(queue["wrapup_s"])
        return self.outbound_wrapup_s if call.wrapup_s is None else call.wrapup_s

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.call_log.start()
        self.distributor.start()
        self._ticker = asyncio.create_task(self._tick(), name="acd-ticker")

    async def close(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.agents.close()
        await self.distributor.close()
        await self.lanes.close()
        await self.call_log.close()

    def on_event(self, event: dict[str, Any]) -> None:
        stasis.on_event(self, event)

    def node_of(self, call: LiveCall) -> str:
        """The media node a call is on: every leg, bridge and snoop of it is
        there (calls from before media nodes: the stack's own)."""
        return call.media_node or self.ari.default

    async def reconcile(self, node: str) -> None:
        self.reconciling.add(node)
        try:
            await reconcile.reconcile(self, node)
        finally:
            self.reconciling.discard(node)

    async def refresh(self, whole: bool = True) -> None:
        """Queues and agents as the database has them now (changes made by the
        CLI or another instance); kept as they were if it cannot answer.
        ``whole=False`` (every second): the agents' states only, and the whole
        roster again when an admin change of agents or queues was audited
        since, an unknown agent appears, or every :data:`ROSTER_EVERY_S`."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        mark: int | None = None
        try:
            if not whole:
                states, mark = await asyncio.to_thread(self.store.agent_states)
                whole = (mark != self._roster_mark or self.agents.unknown(states)
                         or started - self._roster_read >= ROSTER_EVERY_S)
            if whole:
                queues, agents, handled = await asyncio.to_thread(self.store.roster)
                self._roster_read = started
            # the mark is taken only once the roster it announces was read: a
            # failed read (an SQLite file locked a moment) is tried again next
            # second, not in ROSTER_EVERY_S
            if mark is not None:
                self._roster_mark = mark
        except Exception as exc:
            log.debug("roster not refreshed, database away: %s", exc)
            return
        if whole:
            self.queues.load(queues)
            changed = self.agents.load(agents, handled, started)
        else:
            changed = self.agents.load(states, None, started)
        for agent in changed:
            await self.notifier.agent_status_changed(agent, source="database")
            if agent["status"] == AgentStatus.AVAILABLE.value:
                self.distributor.request()

    async def _tick(self) -> None:
        """Once a second: the database's changes, callers who waited too long,
        position announcements, and routing again; the recordings disk every
        few seconds."""
        disk_checked = float("-inf")
        while True:
            await asyncio.sleep(TICK_S)
            try:
                if asyncio.get_running_loop().time() - disk_checked >= CHECK_EVERY_S:
                    disk_checked = asyncio.get_running_loop().time()
                    await self.recordings_disk.check()
                await self.refresh(whole=False)
                await self._waiting_callers()
                await reconcile.calls_of_lost_nodes(self)
                if self.calls.waiting():
                    self.distributor.request()
            except Exception:
                log.exception("ACD tick failed")

    async def _waiting_callers(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        line = self.calls.in_queue()
        for call in line:
            queue = self.queues.get(call.queue)
            if queue is None or call.ringing_agent:
                continue
            if loop_now - call.entered >= queue["max_wait_s"]:
                self.lanes.submit(call.id, partial(lifecycle.overflow, self, call), "overflow")
                continue
            every = queue["announce_every_s"]
            if not every or loop_now - max(call.entered, call.announced) < every:
                continue
            call.announced = loop_now
            # callers being offered to an agent are still ahead in the line
            position = 1 + sum(1 for c in line if c.queue == call.queue and
                               (-c.priority, c.entered) < (-call.priority, call.entered))
            try:
                figures = await asyncio.to_thread(self.store.queue_figures, call.queue,
                                                  queue["service_level_s"])
            except Exception:
                figures = {"average_handle_time_s": 0}
            staffed = max(1, len(queue["members"]))
            aht = figures["average_handle_time_s"] or 180
            minutes = max(1, round(position * aht / staffed / 60))
            self.lanes.submit(call.id, partial(lifecycle.announce_position, self, call,
                                               position, minutes), "announcement")

    def tell(self, hooks: list[CallHook], legs: CallLegs) -> None:
        """Run the hooks for a call apart from it: a hook that fails or
        hangs is logged and never delays or breaks the call."""
        for hook in hooks:
            task = asyncio.create_task(self._hook(hook, legs), name=f"hook-{legs.call_id}")
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_tasks.discard)

    @staticmethod
    async def _hook(hook: CallHook, legs: CallLegs) -> None:
        try:
            await hook(legs)
        except Exception:
            log.exception("call hook %s failed for call %s", getattr(hook, "__qualname__", hook),
                          legs.call_id)

    # -- agents' states (API, feature codes) -----------------------------------------------

    async def request_status(self, extension: str, status: AgentStatus,
                             reason: str | None) -> tuple[dict[str, Any] | None, bool]:
        """See :meth:`AgentStates.request`; an agent created a moment ago is
        read from the database first."""
        if self.agents.get(extension) is None:
            await self.refresh()
        return await self.lanes.run(f"agent:{extension}",
                                    lambda: self.agents.request(extension, status, reason),
                                    "state request")

    def with_live_states(self, agents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Agents as read from the database, with the states decided here."""
        return self.agents.with_live_states(agents)

    # -- the wallboard ----------------------------------------------------------------------

    def waiting_figures(self, queue_name: str) -> dict[str, Any]:
        return self.calls.waiting_figures(queue_name, asyncio.get_running_loop().time())

    def live_calls(self) -> list[dict[str, Any]]:
        return self.calls.live(asyncio.get_running_loop().time())

    # -- call control: each in the call's lane -------------------------------------------------

    async def control(self, call_id: str, job: Callable[[], Awaitable[T]], what: str) -> T:
        result: T = await self.lanes.run(call_id, job, what)
        return result

    async def hangup(self, call_id: str) -> None:
        await self.control(call_id, lambda: call_control.hangup(self, call_id), "hangup")

    async def hold(self, call_id: str, on: bool) -> None:
        await self.control(call_id, lambda: call_control.hold(self, call_id, on), "hold")

    async def transfer(self, call_id: str, target: str) -> None:
        await self.control(call_id, lambda: call_control.transfer(self, call_id, target),
                           "transfer")

    async def consult(self, call_id: str, extension: str) -> None:
        await self.control(call_id, lambda: call_control.consult(self, call_id, extension),
                           "consult")

    async def complete_transfer(self, call_id: str) -> None:
        await self.control(call_id, lambda: call_control.complete_transfer(self, call_id),
                           "complete transfer")

    async def recording(self, call_id: str, action: str) -> None:
        await self.control(call_id, lambda: call_control.recording(self, call_id, action),
                           "recording")

    async def supervise(self, call_id: str, mode: str, extension: str) -> str:
        return await self.control(
            call_id, lambda: supervision.supervise(self, call_id, mode, extension), "supervise")
