"""Outbound calls: an agent calls a customer through the trunk.

Two ways in, one call flow:

- click-to-call (``POST /api/v1/calls``, from a customer's record or a callback
  task): the agent's own phone is rung first, with ``Call-Info:
  answer-after=0`` so that softphones and desk phones that honour it pick up
  by themselves; once it is up the agent hears ringback while the customer
  is dialled;
- an agent dials a number on a desk phone or the softphone keypad: the
  dialplan hands the agent's channel to the Stasis app (``dial,NUMBER,EXT``)
  and the agent hears ringback (180) until the customer answers.

The customer's leg leaves through the first trunk (by name) with the company's
number as caller ID (``AITCOMMS_OUTBOUND_CALLER_ID``, or the first DID). Once
the customer answers both legs are bridged and recorded, and from then on the
call is a :class:`LiveCall` like an inbound one: hold,
transfer, recording control, supervision, the interaction at the end and the
agent's wrap-up all work the same. A customer who does not answer (busy,
rejected, no answer) ends the call as ``no_answer``: the interaction says so.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from control.acd import lifecycle
from control.acd.calls import LiveCall, new_call_id
from control.acd.models import AgentStatus, CallState
from control.acd.store import now
from control.crm.identity import normalise_phone
from control.errors import Conflict, InvalidInput
from control.provisioning.models import Did, Trunk
from control.telephony.ari import AriError

if TYPE_CHECKING:
    from control.acd.router import Router

log = logging.getLogger(__name__)

# agent states from which an agent may start a call (not while ringing or talking)
FREE_TO_DIAL = (AgentStatus.AVAILABLE.value, AgentStatus.PAUSED.value,
                AgentStatus.WRAP_UP.value, AgentStatus.LOGGED_OUT.value)
AGENT_RING_S = 30  # the agent's own phone, for click-to-call
CUSTOMER_RING_S = 45


class Dialer:
    def __init__(self, router: Router, caller_id: str | None = None) -> None:
        self.router = router
        self.caller_id = caller_id  # None: the first DID
        self._placing: set[str] = set()  # agents whose call is being set up

    # -- ways in ---------------------------------------------------------------

    async def click_to_call(self, extension: str, number: str, *,
                            customer_id: int | None = None,
                            task_id: int | None = None) -> dict[str, Any]:
        """Ring the agent's phone, then the customer. The call row, at once."""
        e164 = normalise_phone(number, "to")
        call_id = new_call_id()
        result: dict[str, Any] = await self.router.lanes.run(
            call_id, lambda: self._click_to_call(call_id, extension, e164, customer_id,
                                                 task_id), "click-to-call")
        return result

    async def _click_to_call(self, call_id: str, extension: str, e164: str,
                             customer_id: int | None, task_id: int | None) -> dict[str, Any]:
        r = self.router
        # the agent's leg on the least busy node; the customer's follows it (originator)
        call, _trunk = await self._prepare(call_id, extension, e164, customer_id, task_id,
                                           r.ari.choose_node())
        agent_channel = f"out-{uuid.uuid4().hex[:16]}"
        call.agent_channel = agent_channel
        r.calls.link(agent_channel, call)
        # the phone shows whom it is about to call (no quotes: they end the name)
        name = ((call.context.get("customer") or {}).get("name") or "").replace('"', "")
        try:
            await r.ari.originate(
                node=call.media_node, endpoint=f"PJSIP/agent-{extension}",
                channel_id=agent_channel,
                app_args=f"outbound-agent,{call.id}", ring_s=AGENT_RING_S,
                caller_id=f'"{name}" <{e164}>' if name else e164,
                variables={"PJSIP_HEADER(add,Call-Info)": "<sip:127.0.0.1>;answer-after=0"})
        except AriError as exc:
            log.warning("click-to-call: cannot ring agent %s: %s", extension, exc)
            await self._not_connected(call, f"cannot ring {extension}")
            raise Conflict(f"cannot ring your phone ({extension}): is it registered?") from exc
        return call.row

    async def agent_dials(self, channel: dict[str, Any], args: list[str]) -> None:
        """StasisStart ``dial,NUMBER,EXTENSION``: an agent dialled a number
        (its call id was made as the event arrived, see control.acd.stasis)."""
        r = self.router
        chan_id = channel["id"]
        number, extension = (args + ["", ""])[:2]
        call_id = r.calls.by_channel.get(chan_id) or new_call_id()
        try:
            e164 = normalise_phone(number, "number")
            call, trunk = await self._prepare(call_id, extension, e164, None, None,
                                              r.ari.node_of(chan_id))
        except (InvalidInput, Conflict) as exc:
            log.info("agent %s dialled %r: refused (%s)", extension, number, exc)
            r.calls.unlink(chan_id)
            await r.ari.request_quietly("POST", f"/channels/{chan_id}/continue")
            return
        call.agent_channel = chan_id
        r.calls.link(chan_id, call)
        await r.ari.request_quietly("POST", f"/channels/{chan_id}/ring")  # 180: ringback
        await self._dial_customer(call, trunk)

    # -- the call flow -----------------------------------------------------------

    async def _prepare(self, call_id: str, extension: str, e164: str,
                       customer_id: int | None, task_id: int | None,
                       media_node: str | None) -> tuple[LiveCall, str]:
        """Check the agent may call, then the call and its row."""
        r = self.router
        if r.agents.get(extension) is None:
            await r.refresh()
        agent = r.agents.get(extension)
        if agent is None:
            raise InvalidInput("agent", f"no agent {extension}")
        # checked and taken with no await between: two clicks place one call
        placing = extension in self._placing or any(
            c.direction == "outbound" and not c.ended
            and c.row.get("agent_extension") == extension for c in r.calls.calls.values())
        if agent["status"] not in FREE_TO_DIAL or placing:
            raise Conflict(f"agent {extension} is {'calling' if placing else agent['status']}: "
                           "finish that call first")
        self._placing.add(extension)
        try:
            return await self._register(call_id, extension, e164, customer_id, task_id, media_node)
        finally:
            self._placing.discard(extension)

    async def _register(self, call_id: str, extension: str, e164: str,
                        customer_id: int | None, task_id: int | None,
                        media_node: str | None) -> tuple[LiveCall, str]:
        r = self.router
        trunk, caller_id = await asyncio.to_thread(self._trunk_and_caller_id)
        if trunk is None:
            raise Conflict("no trunk to call out on: add one (aitcomms trunk add)")
        # the customer's file for the agent's screen: the one asked for, else
        # whoever has this number
        found, _previous, _vip, context = await (
            r.crm.lookup_customer(customer_id) if customer_id is not None
            else r.crm.lookup(e164))
        customer_id = customer_id if customer_id is not None else found
        entered_at = now()
        fields: dict[str, Any] = {
            "queue": "", "caller_number": e164, "customer_id": customer_id, "language": "es",
            "skills": [], "priority": 0, "direction": "outbound", "task_id": task_id,
            "agent_extension": extension, "state": CallState.RINGING.value}
        call = LiveCall(id=call_id, queue="", caller_channel="", caller_number=e164,
                        language="es", skills=(), priority=0, customer_id=customer_id,
                        previous_agent=None, context=context,
                        entered=asyncio.get_running_loop().time(),
                        row={"id": call_id, **fields, "entered_at": entered_at.isoformat(),
                             "answered_at": None, "ended_at": None, "recording": None},
                        direction="outbound", task_id=task_id, dial_trunk=trunk,
                        dial_caller_id=caller_id, media_node=media_node)
        r.calls.add(call)
        r.call_log.call(call_id, caller_channel="", entered_at=entered_at,
                        media_node=media_node, **fields)
        await r.agents.ringing(extension)
        # the customer's file on the agent's screen while the call is placed
        await r.notifier.call_outgoing(call, extension)
        return call, trunk

    def _trunk_and_caller_id(self) -> tuple[str | None, str]:
        with self.router.store.db.session() as s:
            # the same choice as the dialplan's fallback (provisioning.render)
            trunk = s.scalar(select(Trunk.name).order_by(Trunk.name).limit(1))
            did = self.caller_id or s.scalar(select(Did.number).order_by(Did.number).limit(1))
        return trunk, did or "anonymous"

    async def agent_answers(self, channel: dict[str, Any], call_id: str) -> None:
        """Click-to-call: the agent's phone is up; ringback while the customer rings."""
        r = self.router
        call = r.calls.get(call_id)
        if call is None or call.ended or call.agent_channel != channel["id"]:
            await r.ari.request_quietly("DELETE", f"/channels/{channel['id']}")
            return
        await r.ari.request_quietly("POST", f"/channels/{channel['id']}/ring")
        await self._dial_customer(call, call.dial_trunk or "")

    async def _dial_customer(self, call: LiveCall, trunk: str) -> None:
        r = self.router
        customer_channel = f"cust-{uuid.uuid4().hex[:16]}"
        call.caller_channel = customer_channel
        r.calls.link(customer_channel, call)
        r.call_log.call(call.id, caller_channel=customer_channel,
                        agent_channel=call.agent_channel)
        try:
            await r.ari.originate(
                endpoint=f"PJSIP/{call.caller_number}@trunk-{trunk}",
                channel_id=customer_channel, app_args=f"outbound-customer,{call.id}",
                ring_s=CUSTOMER_RING_S, caller_id=call.dial_caller_id or "anonymous",
                originator=call.agent_channel)
        except AriError as exc:
            log.warning("outbound call %s: cannot dial %s on trunk %s: %s",
                        call.id, call.caller_number, trunk, exc)
            await self._not_connected(call, "trunk refused")

    async def customer_answers(self, channel: dict[str, Any], call_id: str) -> None:
        """The customer picked up: bridge with the agent, record, and from now
        on it is a call like any other."""
        r = self.router
        call = r.calls.get(call_id)
        if call is None or call.ended or call.caller_channel != channel["id"]:
            await r.ari.request_quietly("DELETE", f"/channels/{channel['id']}")
            return
        agent_channel = call.agent_channel or ""
        await r.ari.request_quietly("DELETE", f"/channels/{agent_channel}/ring")
        await r.ari.request_quietly("POST", f"/channels/{agent_channel}/answer")  # from a phone
        await lifecycle.connect(r, call, agent_channel, call.row.get("agent_extension") or "",
                                record=True)

    async def leg_failed(self, call: LiveCall, chan_id: str, cause: int | None) -> None:
        """A leg ended before the customer answered: the agent's phone was not
        picked up, the customer was busy or did not answer, or the agent gave up."""
        who = "agent" if chan_id == call.agent_channel else "customer"
        log.info("outbound call %s to %s: %s leg ended before answer (cause %s)",
                 call.id, call.caller_number, who, cause)
        await self._not_connected(call, f"{who} leg ended, cause {cause}")

    async def _not_connected(self, call: LiveCall, why: str) -> None:
        """Close a call that never connected: the legs, the agent (free again,
        or the pause asked for meanwhile), the row and the interaction."""
        r = self.router
        if call.ended:
            return
        call.ended = True
        r.calls.remove(call)
        for chan in (call.caller_channel, call.agent_channel):
            if chan:
                await r.ari.request_quietly("DELETE", f"/channels/{chan}")
        row = call.row | {"state": CallState.NO_ANSWER.value, "ended_at": now().isoformat()}
        extension = call.row.get("agent_extension")
        if extension:
            await r.agents.free(extension)
        r.call_log.ended(row)
        await r.notifier.call_not_connected(call, row, why)
        r.distributor.request()
