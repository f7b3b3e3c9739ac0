"""Distribution: choosing and ringing agents for waiting callers.

The distributor runs as one task of its own, woken whenever something may
let a caller through (a caller arrives, an agent becomes free, a ring ends)
and coalescing the wake-ups that come meanwhile. Choosing reads memory
only (queues from :class:`QueueBook`, agents from :class:`AgentStates`)
and takes the chosen agent before anything awaits, so two callers never
get the same agent; ringing then runs in the caller's own lane. Callers go
VIP first, then the longest waiting; each is offered to the best scored
free agent of its queue (:mod:`control.acd.scoring`), and the decision,
with every candidate's score and where each need came from, is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from control.acd.calls import LiveCall
from control.acd.models import DEFAULT_WEIGHTS, CallState
from control.acd.scoring import CallNeeds, Candidate, explain, rank
from control.telephony.ari import AriError

if TYPE_CHECKING:
    from control.acd.router import Router

log = logging.getLogger(__name__)

RING_CHECK_GRACE_S = 3  # after the ring timeout: a hang-up ARI never told is noticed
RETRY_S = 5.0  # before the agents who missed a caller are offered it again


class Distributor:
    def __init__(self, acd: Router) -> None:
        self.acd = acd
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def request(self) -> None:
        """Route waiting callers soon (wake-ups meanwhile count once)."""
        self._wanted.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="acd-distributor")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self.dispatch()
            except Exception:
                log.exception("routing failed; the ticker retries")

    async def dispatch(self) -> None:
        """Offer waiting callers, VIP first then longest waiting, to the best
        free agent each."""
        acd = self.acd
        for call in acd.calls.waiting():
            queue = acd.queues.get(call.queue)
            if queue is None:
                continue
            candidates = self.candidates(queue, call)
            if not candidates and call.tried and \
                    asyncio.get_running_loop().time() - call.ring_ended >= RETRY_S:
                # every free agent was tried once: a new round after a pause, as
                # app_queue's retry, rather than a caller waiting for an agent
                # who missed one ring (the ticker wakes routing every second)
                call.tried = set()
                candidates = self.candidates(queue, call)
            if not candidates:
                continue
            weights = {k: float(queue["weights"].get(k, v)) for k, v in DEFAULT_WEIGHTS.items()}
            ranked = rank(candidates, CallNeeds(call.language, call.skills,
                                                call.previous_agent), weights)
            best = ranked[0]
            # taken now, before anything awaits: the next caller cannot get them
            take(acd, call, best.extension)
            acd.call_log.decision(call.id, [s.as_dict() for s in ranked], best.extension,
                                  explain(best, ranked), call.needs)
            await acd.agents.ringing(best.extension)
            acd.lanes.submit(call.id, partial(ring, acd, call, best.extension,
                                              call.agent_channel or "",
                                              int(queue["ring_timeout_s"])), "ring")

    def candidates(self, queue: dict[str, Any], call: LiveCall) -> list[Candidate]:
        """The queue's members free to take the call, with what scoring needs."""
        acd = self.acd
        out = []
        for member in queue["members"]:
            ext = member["extension"]
            agent = acd.agents.get(ext)
            if agent is None or agent["status"] != "available" or ext in call.tried:
                continue
            out.append(Candidate(
                extension=ext, languages=tuple(agent.get("languages") or ()),
                skills=tuple(agent.get("skills") or ()),
                calls_today=acd.agents.calls_today.get(ext, 0),
                penalty=int(member.get("penalty") or 0),
                idle_since=_as_datetime(agent.get("status_since"))))
        return out


def _as_datetime(raw: Any) -> datetime | None:
    if raw is None or isinstance(raw, datetime):
        return raw
    return datetime.fromisoformat(str(raw))


def take(acd: Router, call: LiveCall, extension: str) -> None:
    """The call is offered to ``extension``: its agent leg's id, now."""
    call.ringing_agent = extension
    call.agent_channel = f"acd-{uuid.uuid4().hex[:16]}"
    call.tried.add(extension)
    acd.calls.link(call.agent_channel, call)


async def ring(acd: Router, call: LiveCall, extension: str, agent_channel: str,
               timeout_s: int) -> None:
    """Ring the agent's phone for the call (in the call's lane)."""
    if call.ended or call.agent_channel != agent_channel:  # over meanwhile: end() freed them
        return
    row_change = {"state": CallState.RINGING.value, "agent_channel": agent_channel}
    call.row = call.row | {"state": CallState.RINGING.value}
    acd.call_log.call(call.id, **row_change)
    await acd.notifier.call_incoming(call, extension)  # the screen pop, as it rings
    try:
        await acd.ari.originate(
            endpoint=f"PJSIP/agent-{extension}", channel_id=agent_channel,
            app_args=f"agent,{call.id}", ring_s=timeout_s,
            caller_id=call.caller_number or "anonymous", originator=call.caller_channel)
    except AriError as exc:
        log.warning("could not ring %s: %s", extension, exc)
        await ring_failed(acd, call, extension)
        return
    # a hang-up whose event was lost (the events websocket dropped) is noticed here
    acd.lanes.later(timeout_s + RING_CHECK_GRACE_S, call.id,
                    lambda: check_ringing(acd, call, agent_channel), "ring check")


async def check_ringing(acd: Router, call: LiveCall, agent_channel: str) -> None:
    if call.ended or call.answered or call.agent_channel != agent_channel:
        return
    try:
        await acd.ari.request("GET", f"/channels/{agent_channel}")
    except AriError as exc:
        if exc.status == 404 and call.ringing_agent:
            await ring_failed(acd, call, call.ringing_agent)


async def ring_failed(acd: Router, call: LiveCall, extension: str, miss: bool = True) -> None:
    """Ring-no-answer, rejected or unreachable: a miss for the agent, and
    the caller goes to the next best. Not a miss (``miss=False``) when the
    ring ended while ARI was away: nobody knows why."""
    acd.calls.unlink(call.agent_channel)
    call.ringing_agent = None
    call.agent_channel = None
    call.ring_ended = asyncio.get_running_loop().time()
    queue = acd.queues.get(call.queue)
    await acd.agents.missed(extension, int(queue["max_misses"]) if queue else 2, counts=miss)
    acd.call_log.event(call.id, "ring_missed" if miss else "ring_ended", extension)
    if not call.ended:
        call.row = call.row | {"state": CallState.WAITING.value}
        acd.call_log.call(call.id, state=CallState.WAITING.value, agent_channel=None)
        acd.distributor.request()
