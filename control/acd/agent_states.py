"""Agents' states: the state machine routing reads, kept in memory.

    logged_out --login--> available --ring--> ringing --answer--> on_call
    ringing --no answer--> available (or paused: max misses in a row)
    on_call --hang-up--> wrap_up --timer / agent--> available
    available <--> paused; any free state --> logged_out

In memory because routing must not wait for the database: a state change
is decided here at once, shown at once (``agent.status_changed``) and
written through the call log (:mod:`control.acd.call_log`), in order,
whenever the database takes it. The database stays the record other
processes read and write (the CLI's ``agent status``, another control
plane): :meth:`AgentStates.load`, called every second, takes what they
changed unless this process changed that agent since, has a write of it
pending, or holds it in a live call. On a call the state follows the call:
a pause or log-out asked meanwhile is taken after it (after wrap-up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from control.acd.call_log import CallLog
from control.acd.lanes import Lanes
from control.acd.models import AgentStatus
from control.acd.notifier import AcdNotifier
from control.acd.store import now
from control.errors import Conflict

log = logging.getLogger(__name__)

S = AgentStatus
# the states an agent may go to from each state (the ACD's own moves and the
# agent's requests); anything else is a bug, logged and refused
TRANSITIONS: dict[AgentStatus, frozenset[AgentStatus]] = {
    S.LOGGED_OUT: frozenset({S.AVAILABLE, S.PAUSED, S.RINGING, S.ON_CALL}),
    S.AVAILABLE: frozenset({S.RINGING, S.ON_CALL, S.PAUSED, S.LOGGED_OUT, S.WRAP_UP}),
    S.RINGING: frozenset({S.ON_CALL, S.AVAILABLE, S.PAUSED, S.LOGGED_OUT, S.WRAP_UP}),
    S.ON_CALL: frozenset({S.WRAP_UP, S.AVAILABLE, S.PAUSED, S.LOGGED_OUT, S.ON_CALL}),
    S.WRAP_UP: frozenset({S.AVAILABLE, S.PAUSED, S.LOGGED_OUT, S.RINGING, S.ON_CALL,
                          S.WRAP_UP}),
    S.PAUSED: frozenset({S.AVAILABLE, S.LOGGED_OUT, S.RINGING, S.ON_CALL, S.PAUSED}),
}
# outbound calls ring and connect agents who are paused, logged out or in wrap-up


def allowed(old: AgentStatus, new: AgentStatus) -> bool:
    return new == old or new in TRANSITIONS[old]


def _since(agent: dict[str, Any]) -> datetime | None:
    raw = agent.get("status_since")
    if isinstance(raw, datetime):
        return raw
    return datetime.fromisoformat(raw) if raw else None


class AgentStates:
    def __init__(self, call_log: CallLog, notifier: AcdNotifier, lanes: Lanes) -> None:
        self.call_log = call_log
        self.notifier = notifier
        self.lanes = lanes
        self.agents: dict[str, dict[str, Any]] = {}  # extension -> the agent, as shown
        self.calls_today: dict[str, int] = {}
        self._wrapups: dict[str, asyncio.TimerHandle] = {}
        # pause or log-out an agent asked for during a call: taken when it ends
        self._after_call: dict[str, tuple[AgentStatus, str | None]] = {}
        self._changed: dict[str, float] = {}  # loop time of this process's last change
        self._unwritten: dict[str, int] = {}  # writes handed to the call log, not yet done
        # told when an agent may take a call (the distributor routes again)
        self.on_free: list[Callable[[], None]] = []
        # the live calls' hold on agents: extension -> "ringing" | "on_call" | None
        self.engaged: Callable[[str], str | None] = lambda _ext: None
        call_log.on_written.append(self._written)

    # -- reading ---------------------------------------------------------------------

    def get(self, extension: str) -> dict[str, Any] | None:
        return self.agents.get(extension)

    def status(self, extension: str) -> str | None:
        agent = self.agents.get(extension)
        return str(agent["status"]) if agent else None

    def listing(self) -> list[dict[str, Any]]:
        return [self._shown(a) for _, a in sorted(self.agents.items())]

    def available(self, extension: str) -> bool:
        return self.status(extension) == S.AVAILABLE.value

    def idle_since(self, extension: str) -> datetime | None:
        agent = self.agents.get(extension)
        return _since(agent) if agent else None

    @staticmethod
    def _shown(agent: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in agent.items() if k != "missed_in_a_row"}

    def with_live_states(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Agents as read from the database, with the states decided here."""
        out = []
        for row in rows:
            mine = self.agents.get(str(row.get("extension")))
            if mine:
                row = row | {k: mine[k] for k in ("status", "pause_reason", "status_since")}
            out.append(row)
        return out

    # -- the database's view -------------------------------------------------------------

    def unknown(self, rows: list[dict[str, Any]]) -> bool:
        """Rows name an agent not known here (created meanwhile)."""
        return any(str(row["extension"]) not in self.agents for row in rows)

    def load(self, rows: list[dict[str, Any]], handled: dict[str, int] | None,
             read_started: float) -> list[dict[str, Any]]:
        """Take the agents as the database has them (read from ``read_started``,
        loop time): their states other processes set and, when the rows are
        whole agents (``handled`` given: a roster read), new agents, changed
        profiles and removed ones. Returns the agents whose state changed."""
        seen = set()
        changed = []
        whole = handled is not None
        if self.call_log.settled:  # whatever was handed over is in the database
            self._unwritten.clear()
        for row in rows:
            ext = str(row["extension"])
            seen.add(ext)
            mine = self.agents.get(ext)
            if mine is None:
                if whole:
                    self.agents[ext] = dict(row)
                continue
            if whole:
                for key in ("id", "name", "skills", "languages"):
                    mine[key] = row[key]
            keep = (self._changed.get(ext, -1.0) >= read_started or self._unwritten.get(ext)
                    or self.call_log.away or self.engaged(ext) is not None)
            if keep:
                continue
            mine["missed_in_a_row"] = row.get("missed_in_a_row", 0)
            if (row["status"], row["pause_reason"]) != (mine["status"], mine["pause_reason"]):
                mine.update(status=row["status"], pause_reason=row["pause_reason"],
                            status_since=row["status_since"])
                self._cancel_wrapup(ext)
                changed.append(self._shown(mine))
        if whole:
            for ext in list(self.agents):
                if ext not in seen and self.engaged(ext) is None:
                    del self.agents[ext]
                    self._cancel_wrapup(ext)
            self.calls_today = dict(handled or {})
        return changed

    def _written(self, ops: list[dict[str, Any]]) -> None:
        landed = asyncio.get_running_loop().time()
        for op in ops:
            ext = op["extension"]
            # a read of the database begun before this write landed may hold
            # the agent's older state: load() keeps ours over it (else a
            # wrap-up already over comes back from the read, with no timer)
            self._changed[ext] = max(self._changed.get(ext, landed), landed)
            left = self._unwritten.get(ext, 0) - 1
            if left > 0:
                self._unwritten[ext] = left
            else:
                self._unwritten.pop(ext, None)

    # -- changing -------------------------------------------------------------------

    async def set(self, extension: str, status: AgentStatus, reason: str | None = None,
                  missed: int | None = None, **extra: Any) -> dict[str, Any] | None:
        """Change an agent's state now, show it, write it. None: no such agent."""
        agent = self.agents.get(extension)
        if agent is None:
            return None
        old = AgentStatus(agent["status"])
        if not allowed(old, status):
            log.warning("agent %s: %s -> %s refused", extension, old.value, status.value)
            return self._shown(agent)
        reason = reason if status == S.PAUSED else None
        if (agent["status"], agent["pause_reason"]) != (status.value, reason):
            agent.update(status=status.value, pause_reason=reason,
                         status_since=now().isoformat())
        if missed is not None:
            agent["missed_in_a_row"] = missed
        self._changed[extension] = asyncio.get_running_loop().time()
        self._unwritten[extension] = self._unwritten.get(extension, 0) + 1
        self.call_log.agent(extension, status.value, reason, missed,
                            _since(agent) or now())
        shown = self._shown(agent)
        await self.notifier.agent_status_changed(shown, **extra)
        if status == S.AVAILABLE:
            self._tell_free()
        return shown

    def _tell_free(self) -> None:
        for hook in self.on_free:
            hook()

    async def ringing(self, extension: str) -> None:
        await self.set(extension, S.RINGING)

    async def on_call(self, extension: str) -> None:
        self._cancel_wrapup(extension)
        await self.set(extension, S.ON_CALL, None, 0)

    def answered(self, extension: str) -> None:
        self.calls_today[extension] = self.calls_today.get(extension, 0) + 1

    async def free(self, extension: str, missed: int | None = None) -> None:
        """The agent's call (or ring, or wrap-up) is over: available, or the
        pause or log-out asked for meanwhile."""
        status, reason = self._after_call.pop(extension, (S.AVAILABLE, None))
        await self.set(extension, status, reason, missed)

    async def missed(self, extension: str, max_misses: int, counts: bool = True) -> None:
        """Rung and not answered: a miss (unless ``counts`` is False: nobody
        knows why the ring ended); paused after ``max_misses`` in a row."""
        agent = self.agents.get(extension) or {}
        missed = int(agent.get("missed_in_a_row") or 0) + (1 if counts else 0)
        if counts and missed >= max_misses:
            self._after_call.pop(extension, None)
            await self.set(extension, S.PAUSED, "missed_calls", missed)
        else:
            await self.free(extension, missed)

    async def start_wrapup(self, extension: str, seconds: int) -> None:
        await self.set(extension, S.WRAP_UP, wrapup_s=seconds)
        self._cancel_wrapup(extension)
        self._wrapups[extension] = self.lanes.later(
            seconds, f"agent:{extension}", lambda: self.end_wrapup(extension), "end of wrap-up")

    def in_wrapup_timer(self, extension: str) -> bool:
        return extension in self._wrapups

    async def end_wrapup(self, extension: str) -> None:
        self._wrapups.pop(extension, None)
        if self.status(extension) == S.WRAP_UP.value:
            await self.free(extension)

    def _cancel_wrapup(self, extension: str) -> None:
        self.lanes.cancel(self._wrapups.pop(extension, None))

    async def request(self, extension: str, status: AgentStatus, reason: str | None
                      ) -> tuple[dict[str, Any] | None, bool]:
        """An agent (or a supervisor for them) logs in, pauses, logs out.
        Returns (the agent, deferred); None if there is no such agent.

        On a call the state follows the call: ``available`` is refused
        (Conflict) since the agent is not free; ``paused`` or ``logged_out``
        are taken when the call ends, after wrap-up ("pause after this call"
        keeps the next caller from ringing them). In wrap-up, ``available``
        ends it early."""
        agent = self.agents.get(extension)
        if agent is None:
            return None, False
        engaged = self.engaged(extension)
        if engaged is not None:
            if status == S.AVAILABLE:
                raise Conflict(f"agent {extension} is {engaged.replace('_', ' ')}: the state "
                               "follows the call (wrap-up, then available)")
            self._after_call[extension] = (status, reason)
            return self._shown(agent), True
        self._after_call.pop(extension, None)
        self._cancel_wrapup(extension)
        return await self.set(extension, status, reason, 0), False

    def close(self) -> None:
        for timer in self._wrapups.values():
            self.lanes.cancel(timer)
        self._wrapups.clear()

