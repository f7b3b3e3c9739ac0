"""What the ACD asks of the CRM and tells it: who is calling (routing and the
screen pop), and, after each call, the interaction and any callback task."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from control.auth.audit import Actor
from control.crm.customers import (
    create_task,
    customer_context,
    find_customer_by_phone,
    last_agent_for_customer,
    record_interaction,
)
from control.crm.models import Direction, InteractionOutcome
from control.db import Database

log = logging.getLogger(__name__)
ACD = Actor("acd")


class CrmLink:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def lookup(self, number: str) -> tuple[int | None, str | None, bool, dict[str, Any]]:
        """(customer id, previous agent, VIP, screen-pop context) for a caller ID."""
        return await asyncio.to_thread(self._lookup, number)

    def _lookup(self, number: str) -> tuple[int | None, str | None, bool, dict[str, Any]]:
        with self.db.session() as s:
            customer = find_customer_by_phone(s, number)
            if customer is None:
                return None, None, False, {}
            return (customer.id, last_agent_for_customer(s, customer.id),
                    customer.segment == "vip", customer_context(s, customer.id))

    async def call_ended(self, call: dict[str, Any]) -> None:
        """One interaction per call with a known customer; a callback task for
        a caller who overflowed. Never lets a CRM problem break the call flow."""
        try:
            await asyncio.to_thread(self._call_ended, call)
        except Exception:
            log.exception("CRM write after call %s failed", call.get("id"))

    def _call_ended(self, call: dict[str, Any]) -> None:
        state = call["state"]
        entered = datetime.fromisoformat(call["entered_at"])
        answered = call["answered_at"] and datetime.fromisoformat(call["answered_at"])
        ended = datetime.fromisoformat(call["ended_at"]) if call["ended_at"] else entered
        outcome = {"completed": InteractionOutcome.ANSWERED, "abandoned":
                   InteractionOutcome.ABANDONED, "callback": InteractionOutcome.CALLBACK
                   }.get(state, InteractionOutcome.ABANDONED)
        with self.db.session() as s:
            if call["customer_id"] is not None:
                record_interaction(
                    s, actor=ACD, customer_id=call["customer_id"],
                    direction=Direction.INBOUND.value, outcome=outcome.value,
                    started_at=_aware(entered), call_id=call["id"],
                    duration_s=int((ended - answered).total_seconds()) if answered else 0,
                    agent_extension=call["agent_extension"], recording=call["recording"])
            if state == "callback" and (call["customer_id"] is not None or call["caller_number"]):
                create_task(s, actor=ACD, kind="callback", customer_id=call["customer_id"],
                            phone=call["caller_number"] or None,
                            scheduled_at=datetime.now(UTC) + timedelta(minutes=15),
                            notes=f"waited too long in queue {call['queue']}")


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)
