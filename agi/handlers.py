"""What the IVR asks the CRM, as plain functions of a database session.

The FastAGI server calls them for real calls; ``aitcomms dialplan simulate``
calls the read-only ones (``identify``, ``policy_status``) for its dry runs,
so both answer alike. Each returns the channel variables to set.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.auth.audit import Actor
from control.crm.customers import create_task, find_customer_by_phone, search_customers
from control.crm.identity import dni_letter
from control.crm.models import Customer, Policy
from control.errors import InvalidInput

IVR = Actor("ivr")
NO_CUSTOMER = {"AIT_CUSTOMER_ID": "", "AIT_CUSTOMER_LANGUAGE": ""}


def _customer_vars(customer: Customer) -> dict[str, str]:
    return {"AIT_CUSTOMER_ID": str(customer.id), "AIT_CUSTOMER_LANGUAGE": customer.language}


def dni_candidates(keyed: str) -> list[str]:
    """A DNI keyed on a phone is its 8 digits (the letter is their checksum);
    an NIE is keyed with X/Y/Z as 0/1/2."""
    if not re.fullmatch(r"\d{8}", keyed):
        return []
    out = [keyed + dni_letter(keyed)]
    if keyed[0] in "012":
        nie = "XYZ"[int(keyed[0])] + keyed[1:]
        out.append(nie + dni_letter(nie))
    return out


def find_policy_by_digits(session: Session, keyed: str) -> Policy | None:
    """A policy whose number, read without letters and dashes, is what was keyed
    (``AUT-2026-000001`` is keyed 2026000001)."""
    if not re.fullmatch(r"\d{4,20}", keyed):
        return None
    found = [p for p in session.scalars(select(Policy).where(Policy.number.like(f"%{keyed[-4:]}")))
             if re.sub(r"\D", "", p.number) == keyed]
    return found[0] if len(found) == 1 else None


def identify(session: Session, by: str, value: str) -> dict[str, str]:
    """The customer calling: by phone (caller ID), dni or policy (keyed digits)."""
    value = (value or "").strip()
    if by == "phone":
        customer = find_customer_by_phone(session, value)
        return _customer_vars(customer) if customer else dict(NO_CUSTOMER)
    if by == "dni":
        for candidate in dni_candidates(value):
            try:
                found = search_customers(session, dni=candidate, limit=1)
            except InvalidInput:
                continue
            if found:
                return _customer_vars(found[0])
        return dict(NO_CUSTOMER)
    if by == "policy":
        policy = find_policy_by_digits(session, value)
        if policy is None:
            return dict(NO_CUSTOMER) | {"AIT_POLICY_NUMBER": ""}
        return _customer_vars(policy.customer) | {"AIT_POLICY_NUMBER": policy.number}
    raise ValueError(f"identify by {by!r}: expected phone, dni or policy")


def policy_status(session: Session, customer_id: str, policy_number: str = "",
                  tz: str = "Europe/Madrid") -> dict[str, str]:
    """Status and renewal date (epoch, noon local time) of the customer's
    policy: the keyed one, else the active one renewing first, else the last."""
    empty = {"AIT_POLICY_STATUS": "", "AIT_POLICY_RENEWAL": "", "AIT_POLICY_NUMBER": ""}
    if not customer_id.isdigit():
        return empty
    policies = list(session.scalars(select(Policy).where(Policy.customer_id == int(customer_id))
                                    .order_by(Policy.end_date, Policy.id)))
    if policy_number:
        policies = [p for p in policies if p.number == policy_number]
    if not policies:
        return empty
    active = [p for p in policies if p.status == "active"]
    policy = active[0] if active else policies[-1]
    renewal = datetime.combine(policy.end_date, datetime.min.time(), ZoneInfo(tz)) \
        + timedelta(hours=12)
    return {"AIT_POLICY_STATUS": policy.status, "AIT_POLICY_NUMBER": policy.number,
            "AIT_POLICY_RENEWAL": str(int(renewal.timestamp()))}


def callback(session: Session, phone: str, customer_id: str, note: str) -> dict[str, str]:
    """Book a callback task for this number (or the customer's first number)."""
    task = create_task(session, actor=IVR, kind="callback",
                       customer_id=int(customer_id) if customer_id.isdigit() else None,
                       phone=phone or None, scheduled_at=datetime.now(UTC),
                       notes=note or "callback requested in the IVR")
    return {"AIT_TASK_ID": str(task.id)}
