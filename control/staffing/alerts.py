"""Wallboard alerts: thresholds per queue, watched by the control plane.

Every :data:`EVERY_S` seconds the watch compares each queue against its
thresholds (:mod:`control.staffing.models`): today's service level under
the queue's target, a caller waiting longer than ``alert_longest_wait_s``,
an agent of the queue in wrap-up longer than ``alert_wrapup_min`` or paused
longer than ``alert_paused_min``. Waiting callers and agents' states are
read from the router's memory (what routing itself sees, no database
round trip); the service level and the thresholds from the database.

An alert is raised once (``alert.raised``) and cleared once when the queue
is back to normal (``alert.cleared``), both on the event bus for the
wallboards; the ones active now are served at ``GET /api/v1/alerts``.
With the database away, the thresholds last read are kept and the service
level alerts stay as they were; the watch never dies of a failed round.
Each control plane instance watches its own calls (the router's memory is
per instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from control.acd.models import AgentStatus
from control.acd.router import Router
from control.db import Database
from control.events.bus import EventBus
from control.staffing.services import all_targets

log = logging.getLogger(__name__)

EVERY_S = 1.0
LEVELS_EVERY = 5  # rounds between reads of today's service levels (a query per queue)

SERVICE_LEVEL = "service_level_low"
LONGEST_WAIT = "longest_wait"
WRAPUP = "agent_wrapup_long"
PAUSED = "agent_paused_long"


def _key(kind: str, queue: str, extension: str | None = None) -> str:
    return f"{kind}:{queue}" + (f":{extension}" if extension else "")


def _since_s(iso: str | None, now: datetime) -> float | None:
    if not iso:
        return None
    since = datetime.fromisoformat(iso)
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return (now - since).total_seconds()


def evaluate(queues: dict[str, dict[str, Any]], targets: dict[str, dict[str, Any]],
             waiting: dict[str, dict[str, Any]], agents: list[dict[str, Any]],
             service_levels: dict[str, float | None], now: datetime
             ) -> dict[str, dict[str, Any]]:
    """The alerts that hold now, by key (pure: what the watch compares)."""
    found: dict[str, dict[str, Any]] = {}
    by_ext = {str(a["extension"]): a for a in agents}
    for name, queue in queues.items():
        limits = targets.get(name)
        if limits is None:
            continue
        level = service_levels.get(name)
        if level is not None and level < limits["service_level_target"]:
            found[_key(SERVICE_LEVEL, name)] = {
                "kind": SERVICE_LEVEL, "queue": name, "agent_extension": None,
                "value": level, "threshold": limits["service_level_target"]}
        longest = waiting.get(name, {}).get("longest_wait_s", 0.0)
        over = limits["alert_longest_wait_s"]
        if over is not None and waiting.get(name, {}).get("waiting") and longest > over:
            found[_key(LONGEST_WAIT, name)] = {
                "kind": LONGEST_WAIT, "queue": name, "agent_extension": None,
                "value": longest, "threshold": over}
        for member in queue.get("members", []):
            agent = by_ext.get(str(member["extension"]))
            if agent is None:
                continue
            for kind, status, limit in (
                    (WRAPUP, AgentStatus.WRAP_UP.value, limits["alert_wrapup_min"]),
                    (PAUSED, AgentStatus.PAUSED.value, limits["alert_paused_min"])):
                seconds = _since_s(agent.get("status_since"), now)
                if limit is None or agent["status"] != status or seconds is None:
                    continue
                if seconds > limit * 60:
                    found[_key(kind, name, agent["extension"])] = {
                        "kind": kind, "queue": name, "agent_extension": agent["extension"],
                        "value": round(seconds / 60, 1), "threshold": limit}
    return found


class AlertWatch:
    def __init__(self, router: Router, db: Database, bus: EventBus,
                 every_s: float = EVERY_S) -> None:
        self.router = router
        self.db = db
        self.bus = bus
        self.every_s = every_s
        self.active: dict[str, dict[str, Any]] = {}
        self._targets: dict[str, dict[str, Any]] = {}
        self._levels: dict[str, float | None] = {}
        self._task: asyncio.Task[None] | None = None
        self._round = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-watch")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.check()
            except Exception:
                log.exception("alert round failed")

    def _read(self, queues: dict[str, dict[str, Any]], levels_too: bool) -> tuple[
            dict[str, dict[str, Any]], dict[str, float | None]]:
        with self.db.session() as session:
            targets = all_targets(session)
        if not levels_too:
            return targets, self._levels
        levels = {name: self.router.store.queue_figures(name, q["service_level_s"])
                  ["service_level"] for name, q in queues.items()}
        return targets, levels

    async def check(self) -> None:
        """One round: raise what newly holds, clear what no longer does."""
        queues = dict(self.router.queues.queues)
        levels_too = self._round % LEVELS_EVERY == 0
        self._round += 1
        try:
            self._targets, self._levels = await asyncio.to_thread(self._read, queues,
                                                                  levels_too)
        except Exception as exc:  # the database away: keep the last figures
            log.debug("alert thresholds not refreshed: %s", exc)
        waiting = {name: self.router.waiting_figures(name) for name in queues}
        now = datetime.now(UTC)
        found = evaluate(queues, self._targets, waiting, self.router.agents.listing(),
                         self._levels, now)
        for key, alert in found.items():
            if key in self.active:
                self.active[key].update(value=alert["value"], threshold=alert["threshold"])
                continue
            self.active[key] = {"alert_id": key, **alert, "since": now.isoformat()}
            await self._publish("alert.raised", self.active[key])
        for key in [k for k in self.active if k not in found]:
            alert = self.active.pop(key)
            await self._publish("alert.cleared", {**alert, "cleared_at": now.isoformat()})

    async def _publish(self, type: str, data: dict[str, Any]) -> None:
        try:
            await self.bus.publish(type, data)
        except Exception:  # the bus away (Redis): the wallboard reads GET /alerts
            log.exception("event %s not published", type)

    def listing(self) -> list[dict[str, Any]]:
        return sorted(self.active.values(), key=lambda a: a["since"])
