"""What the ACD tells the wallboard and the desktops: one method per event of
the catalogue (:mod:`control.events.catalog`), each building its payload in
one place. Every call event carries ``call_id`` and ``agent_extension`` (None
while nobody has the call); a bus that fails (Redis away) is logged, never
raised into a call's flow.
"""

from __future__ import annotations

import logging
from typing import Any

from control.acd.calls import LiveCall
from control.acd.recordings_disk import DiskState
from control.events.bus import EventBus

log = logging.getLogger(__name__)


class AcdNotifier:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def _send(self, type: str, data: dict[str, Any]) -> None:
        try:
            await self.bus.publish(type, data)
        except Exception:
            log.exception("event %s not published", type)

    async def _call(self, type: str, call: LiveCall, row: dict[str, Any] | None = None,
                    **extra: Any) -> None:
        row = row or call.row
        await self._send(type, {"call_id": call.id, "agent_extension":
                                row.get("agent_extension") or call.agent_extension,
                                "call": row, **extra})

    # -- a call's life -------------------------------------------------------------

    async def call_queued(self, call: LiveCall) -> None:
        await self._call("call.queued", call, needs=call.needs)

    async def call_incoming(self, call: LiveCall, extension: str) -> None:
        # the screen pop, sent as the agent's phone starts ringing
        await self._send("call.incoming", {
            "call_id": call.id, "agent_extension": extension, "agent": extension,
            "queue": call.queue, "caller_number": call.caller_number,
            "customer_id": call.customer_id, "context": call.context})

    async def call_outgoing(self, call: LiveCall, extension: str) -> None:
        await self._send("call.outgoing", {
            "call_id": call.id, "agent_extension": extension, "agent": extension,
            "queue": "", "direction": "outbound", "caller_number": call.caller_number,
            "customer_id": call.customer_id, "task_id": call.task_id,
            "context": call.context})

    async def call_answered(self, call: LiveCall) -> None:
        await self._call("call.answered", call)

    async def call_ended(self, call: LiveCall, row: dict[str, Any]) -> None:
        await self._call("call.completed" if call.answered else "call.abandoned", call, row)

    async def call_not_connected(self, call: LiveCall, row: dict[str, Any], why: str) -> None:
        await self._call("call.not_connected", call, row, reason=why)

    async def call_overflowed(self, call: LiveCall, row: dict[str, Any]) -> None:
        await self._call("call.overflowed", call, row)
        await self._send("task.created", {
            "kind": "callback", "call_id": call.id, "queue": call.queue,
            "phone": call.caller_number, "customer_id": call.customer_id,
            "agent_extension": None})

    async def call_announced(self, call: LiveCall, position: int, minutes: int,
                             state: str | None) -> None:
        await self._send("call.announced", {
            "call_id": call.id, "agent_extension": None, "position": position,
            "expected_wait_min": minutes, "state": state})

    async def call_held(self, call: LiveCall, on: bool) -> None:
        await self._send("call.held" if on else "call.resumed",
                         {"call_id": call.id, "agent_extension": call.agent_extension})

    async def call_transferred(self, call: LiveCall, to: str, from_agent: str | None,
                               attended: bool = False) -> None:
        await self._send("call.transferred", {
            "call_id": call.id, "agent_extension": call.agent_extension, "to": to,
            "from_agent": from_agent, "attended": attended})

    async def call_consulting(self, call: LiveCall) -> None:
        await self._send("call.consulting", {
            "call_id": call.id, "agent_extension": call.agent_extension,
            "consulted": call.consult_agent, "agent": call.consult_agent})

    async def call_consult_ended(self, call: LiveCall) -> None:
        await self._send("call.consult_ended", {"call_id": call.id,
                                                "agent_extension": call.agent_extension})

    async def call_supervised(self, call: LiveCall, mode: str, sup_channel: str) -> None:
        await self._send("call.supervised", {
            "call_id": call.id, "agent_extension": call.agent_extension, "mode": mode,
            "supervisor_channel": sup_channel})

    async def call_supervision_ended(self, call_id: str, call: LiveCall | None,
                                     sup_channel: str) -> None:
        await self._send("call.supervision_ended", {
            "call_id": call_id, "agent_extension": call.agent_extension if call else None,
            "supervisor_channel": sup_channel})

    async def recording(self, call: LiveCall, action: str) -> None:
        """started, paused, resumed."""
        await self._send(f"recording.{action}", {"call_id": call.id,
                                                 "agent_extension": call.agent_extension})

    async def recording_filed(self, call_id: str, extension: str | None, path: str) -> None:
        await self._send("recording.filed", {"call_id": call_id, "agent_extension": extension,
                                             "recording": path})

    async def recordings_disk_full(self, state: DiskState, reason: str) -> None:
        await self._send("recordings.disk_full", {
            "path": str(state.path), "free_bytes": state.free, "total_bytes": state.total,
            "reason": reason})

    async def recordings_disk_ok(self, state: DiskState) -> None:
        await self._send("recordings.disk_ok", {
            "path": str(state.path), "free_bytes": state.free, "total_bytes": state.total})

    # -- agents --------------------------------------------------------------------

    async def agent_status_changed(self, agent: dict[str, Any], **extra: Any) -> None:
        await self._send("agent.status_changed", {
            "agent_extension": agent.get("extension"), "agent": agent,
            "status": agent.get("status"), **extra})
