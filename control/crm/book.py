"""The broker's book of business: quotes given during calls, the policies they
become (renewed, cancelled), and claims with their life cycle.

Every write is audited in the caller's transaction (stored if and only if the
change is). Refusals are :class:`InvalidInput` (422, naming the field),
:class:`NotFound` (404) or :class:`StateConflict` (409, naming the field):
the API turns them into JSON, the CLI into a message.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control.auth.audit import Actor, record
from control.crm.customers import create_policy, get_customer, money
from control.crm.models import (
    CLAIM_TRANSITIONS,
    Claim,
    ClaimStatus,
    Customer,
    Policy,
    PolicyStatus,
    ProductType,
    Quote,
    QuoteStatus,
)
from control.crm.quotes import Premium, auto_premium, home_premium
from control.errors import Conflict, InvalidInput, NotFound

QUOTE_VALID_DAYS = 30
# Spanish trade prefixes: presupuesto, siniestro, and one per line of business
QUOTE_PREFIX = "PRE"
CLAIM_PREFIX = "SIN"
POLICY_PREFIX = {ProductType.AUTO: "AUT", ProductType.HOME: "HOG", ProductType.LIFE: "VID",
                 ProductType.HEALTH: "SAL"}
# payments a year, to turn the annual premium of a quote into a policy's
# premium per payment period
PAYMENTS_A_YEAR = {"annual": 1, "semiannual": 2, "quarterly": 4, "monthly": 12}


class StateConflict(Conflict):
    """The record is not in a state that allows this (409, naming the field)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _today() -> date:
    return datetime.now(UTC).date()


def next_number(session: Session, column: Any, prefix: str, year: int) -> str:
    """The next free number of a series such as ``SIN-2026-000042``. The column's
    unique constraint guards against two writers taking the same one."""
    series = f"{prefix}-{year}-"
    last = session.scalar(select(func.max(column)).where(column.like(f"{series}%")))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last and last.rsplit("-", 1)[1].isdigit() else 1
    return f"{series}{seq:06d}"


def years_as_customer(session: Session, customer: Customer, today: date) -> int:
    """Whole years since the customer's first policy started (or since the
    customer was created, if none): what the loyalty discount counts."""
    first = session.scalar(select(func.min(Policy.start_date))
                           .where(Policy.customer_id == customer.id))
    since = first or (customer.created_at.date() if customer.created_at else today)
    years = today.year - since.year - ((today.month, today.day) < (since.month, since.day))
    return max(0, years)


# -- quotes ----------------------------------------------------------------------


def create_quote(
    session: Session,
    *,
    actor: Actor,
    customer_id: int,
    product_type: str,
    risk: dict[str, Any],
    carrier: str | None = None,
    call_id: str | None = None,
    agent_extension: str | None = None,
    today: date | None = None,
) -> Quote:
    """Price an auto or home quote for a customer and store it.

    ``risk`` for auto: ``{"vehicle": {"year", "make", ...}, "driver": {"age",
    "experience_years", "claims"}}``; for home: ``{"property": {"kind", "m2",
    "built", "contents", ...}, "claims"}``. It is kept in the breakdown so that
    accepting the quote puts the vehicle or the property on the policy.
    """
    today = today or _today()
    customer = get_customer(session, customer_id)
    loyalty = years_as_customer(session, customer, today)
    premium: Premium
    if product_type == ProductType.AUTO:
        vehicle, driver = risk.get("vehicle") or {}, risk.get("driver") or {}
        make = vehicle.get("make")
        if not isinstance(make, str):
            raise InvalidInput("vehicle.make", "required, a string")
        premium = auto_premium(
            vehicle_year=vehicle.get("year"),  # type: ignore[arg-type]  # checked inside
            make=make, driver_age=driver.get("age"),  # type: ignore[arg-type]
            experience_years=driver.get("experience_years"),  # type: ignore[arg-type]
            claims=driver.get("claims", 0), years_as_customer=loyalty, quote_year=today.year)
    elif product_type == ProductType.HOME:
        prop = risk.get("property") or {}
        kind = prop.get("kind")
        if not isinstance(kind, str):
            raise InvalidInput("property.kind", "required, a string")
        premium = home_premium(
            kind=kind, m2=prop.get("m2"),  # type: ignore[arg-type]  # checked inside
            built=prop.get("built"), contents=prop.get("contents", 0),  # type: ignore[arg-type]
            claims=risk.get("claims", 0), years_as_customer=loyalty, quote_year=today.year)
    else:
        raise InvalidInput("product_type", "auto or home")
    quote = Quote(
        number=next_number(session, Quote.number, QUOTE_PREFIX, today.year),
        customer_id=customer_id, product_type=product_type,
        carrier=carrier.strip() if carrier and carrier.strip() else None,
        premium=premium.premium,
        premium_breakdown={**premium.breakdown(), "years_as_customer": loyalty,
                           "risk": risk},
        competitor_prices=[], valid_until=today + timedelta(days=QUOTE_VALID_DAYS),
        status=QuoteStatus.DRAFT.value, call_id=call_id, agent_extension=agent_extension)
    session.add(quote)
    session.flush()
    record(session, actor, "create", "quotes", quote.id, after=quote.as_dict())
    return quote


def get_quote(session: Session, quote_id: int) -> Quote:
    quote = session.get(Quote, quote_id)
    if quote is None:
        raise NotFound("quote", str(quote_id))
    return quote


def accept_quote(
    session: Session,
    *,
    actor: Actor,
    quote_id: int,
    carrier: str | None = None,
    start_date: date | None = None,
    payment_frequency: str = "annual",
    today: date | None = None,
) -> tuple[Quote, Policy]:
    """The customer says yes: the quote becomes an active policy of one year."""
    today = today or _today()
    quote = get_quote(session, quote_id)
    if quote.status not in (QuoteStatus.DRAFT.value, QuoteStatus.SENT.value):
        raise StateConflict("status", f"quote {quote.number} is {quote.status}")
    if quote.valid_until is not None and quote.valid_until < today:
        raise StateConflict("valid_until", f"quote {quote.number} expired on "
                                           f"{quote.valid_until.isoformat()}")
    carrier = (carrier or quote.carrier or "").strip()
    if not carrier:
        raise InvalidInput("carrier", "required: the quote names no carrier")
    if payment_frequency not in PAYMENTS_A_YEAR:
        raise InvalidInput("payment_frequency", ", ".join(PAYMENTS_A_YEAR))
    start = start_date or today
    if start < today:
        raise InvalidInput("start_date", "not in the past")
    per_period = (quote.premium / PAYMENTS_A_YEAR[payment_frequency]).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP)
    risk = (quote.premium_breakdown or {}).get("risk") or {}
    product = ProductType(quote.product_type)
    before = quote.as_dict()
    policy = create_policy(
        session, actor=actor, customer_id=quote.customer_id,
        number=next_number(session, Policy.number, POLICY_PREFIX[product], start.year),
        type=product.value, carrier=carrier, start_date=start,
        end_date=_one_year_after(start), premium=per_period,
        payment_frequency=payment_frequency,
        vehicle=risk.get("vehicle") if product == ProductType.AUTO else None,
        property=risk.get("property") if product == ProductType.HOME else None)
    quote.status = QuoteStatus.ACCEPTED.value
    quote.policy_id = policy.id
    quote.carrier = carrier
    session.flush()
    record(session, actor, "accept", "quotes", quote.id, before=before, after=quote.as_dict())
    return quote, policy


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


# -- policies --------------------------------------------------------------------


def get_policy(session: Session, policy_id: int) -> Policy:
    policy = session.get(Policy, policy_id)
    if policy is None:
        raise NotFound("policy", str(policy_id))
    return policy


def customer_policies(session: Session, customer_id: int) -> list[Policy]:
    get_customer(session, customer_id)
    return list(session.scalars(select(Policy).where(Policy.customer_id == customer_id)
                                .order_by(Policy.start_date.desc(), Policy.id.desc())))


def renew_policy(session: Session, *, actor: Actor, policy_id: int,
                 premium: object | None = None, end_date: date | None = None) -> Policy:
    """Another period of the same policy (same number): it starts where the
    last one ended, for a year unless told otherwise, at the new premium."""
    policy = get_policy(session, policy_id)
    if policy.status not in (PolicyStatus.ACTIVE.value, PolicyStatus.EXPIRED.value):
        raise StateConflict("status", f"a {policy.status} policy cannot be renewed")
    before = policy.as_dict()
    start = policy.end_date
    end = end_date or _one_year_after(start)
    if end <= start:
        raise InvalidInput("end_date", f"must be after {start.isoformat()}, "
                                       "when the current period ends")
    if premium is not None:
        policy.premium = money("premium", premium)
    policy.start_date, policy.end_date = start, end
    policy.status = PolicyStatus.ACTIVE.value
    session.flush()
    record(session, actor, "renew", "policies", policy.id, before=before, after=policy.as_dict())
    return policy


def cancel_policy(session: Session, *, actor: Actor, policy_id: int, reason: str,
                  effective_date: date | None = None) -> Policy:
    """Cover ends on ``effective_date`` (today by default); the reason is kept
    in the audit log."""
    policy = get_policy(session, policy_id)
    if policy.status not in (PolicyStatus.ACTIVE.value, PolicyStatus.PENDING.value):
        raise StateConflict("status", f"a {policy.status} policy cannot be cancelled")
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("reason", "required")
    effective = effective_date or _today()
    if not policy.start_date <= effective <= policy.end_date:
        raise InvalidInput("effective_date", f"between {policy.start_date.isoformat()} and "
                                             f"{policy.end_date.isoformat()}")
    before = policy.as_dict()
    policy.status = PolicyStatus.CANCELLED.value
    policy.end_date = effective
    session.flush()
    record(session, actor, "cancel", "policies", policy.id, before=before,
           after={**policy.as_dict(), "reason": reason})
    return policy


# -- claims ----------------------------------------------------------------------


def get_claim(session: Session, claim_id: int) -> Claim:
    claim = session.get(Claim, claim_id)
    if claim is None:
        raise NotFound("claim", str(claim_id))
    return claim


def customer_claims(session: Session, customer_id: int) -> list[Claim]:
    get_customer(session, customer_id)
    return list(session.scalars(select(Claim).where(Claim.customer_id == customer_id)
                                .order_by(Claim.reported_at.desc(), Claim.id.desc())))


def open_claim(session: Session, *, actor: Actor, policy_id: int, incident_date: date,
               description: str, claimed_amount: object | None = None,
               now: datetime | None = None) -> Claim:
    """First notice of loss: on an active policy, for an incident in its period."""
    now = now or datetime.now(UTC)
    policy = get_policy(session, policy_id)
    if policy.status != PolicyStatus.ACTIVE.value:
        raise StateConflict("policy_id", f"policy {policy.number} is {policy.status}")
    if incident_date > now.date():
        raise InvalidInput("incident_date", "not in the future")
    if not policy.start_date <= incident_date <= policy.end_date:
        raise InvalidInput("incident_date", f"outside the policy's period "
                                            f"{policy.start_date.isoformat()} – "
                                            f"{policy.end_date.isoformat()}")
    if not description.strip():
        raise InvalidInput("description", "required: what happened")
    claim = Claim(
        number=next_number(session, Claim.number, CLAIM_PREFIX, now.year),
        customer_id=policy.customer_id, policy_id=policy.id,
        status=ClaimStatus.REPORTED.value, incident_date=incident_date, reported_at=now,
        description=description.strip(),
        claimed_amount=None if claimed_amount is None else money("claimed_amount",
                                                                 claimed_amount))
    session.add(claim)
    session.flush()
    record(session, actor, "create", "claims", claim.id, after=claim.as_dict())
    return claim


def _move(claim: Claim, to: str) -> None:
    """Enforce CLAIM_TRANSITIONS: the only road from reported to paid."""
    try:
        target = ClaimStatus(to)
    except ValueError as exc:
        raise InvalidInput("status", f"{to!r} is not one of "
                                     f"{', '.join(s.value for s in ClaimStatus)}") from exc
    current = ClaimStatus(claim.status)
    if target not in CLAIM_TRANSITIONS[current]:
        allowed = ", ".join(s.value for s in CLAIM_TRANSITIONS[current]) or "nothing"
        raise StateConflict("status", f"a {current.value} claim can only become {allowed}")
    claim.status = target.value


def update_claim(session: Session, *, actor: Actor, claim_id: int,
                 description: str | None = None, claimed_amount: object | None = None,
                 status: str | None = None, paid_amount: object | None = None,
                 now: datetime | None = None) -> Claim:
    """Adjuster's progress: details, and the steps that are not decisions
    (investigating; paid, with the amount paid)."""
    claim = get_claim(session, claim_id)
    before = claim.as_dict()
    if status in (ClaimStatus.APPROVED.value, ClaimStatus.DENIED.value):
        raise InvalidInput("status", f"use POST /claims/{claim_id}/"
                                     f"{'approve' if status == 'approved' else 'deny'}")
    if ClaimStatus(claim.status) not in (ClaimStatus.REPORTED, ClaimStatus.INVESTIGATING) and (
            description is not None or claimed_amount is not None):
        raise StateConflict("status", f"a {claim.status} claim's details are final")
    if description is not None:
        if not description.strip():
            raise InvalidInput("description", "not empty")
        claim.description = description.strip()
    if claimed_amount is not None:
        claim.claimed_amount = money("claimed_amount", claimed_amount)
    if paid_amount is not None and status != ClaimStatus.PAID.value:
        raise InvalidInput("paid_amount", "only with status paid")
    if status is not None:
        _move(claim, status)
        if claim.status == ClaimStatus.PAID.value:
            if paid_amount is None:
                raise InvalidInput("paid_amount", "required to pay a claim")
            claim.paid_amount = money("paid_amount", paid_amount)
            claim.resolved_at = now or datetime.now(UTC)
    session.flush()
    record(session, actor, "update", "claims", claim.id, before=before, after=claim.as_dict())
    return claim


def approve_claim(session: Session, *, actor: Actor, claim_id: int, approved_amount: object,
                  now: datetime | None = None) -> Claim:
    claim = get_claim(session, claim_id)
    before = claim.as_dict()
    amount = money("approved_amount", approved_amount)
    _move(claim, ClaimStatus.APPROVED.value)
    claim.approved_amount = amount
    claim.resolved_at = now or datetime.now(UTC)
    session.flush()
    record(session, actor, "approve", "claims", claim.id, before=before, after=claim.as_dict())
    return claim


def deny_claim(session: Session, *, actor: Actor, claim_id: int, reason: str,
               now: datetime | None = None) -> Claim:
    """The reason goes to the audit log: it is what the customer will be told."""
    claim = get_claim(session, claim_id)
    before = claim.as_dict()
    reason = " ".join(reason.split())
    if not reason:
        raise InvalidInput("reason", "required: why the claim is denied")
    _move(claim, ClaimStatus.DENIED.value)
    claim.resolved_at = now or datetime.now(UTC)
    session.flush()
    record(session, actor, "deny", "claims", claim.id, before=before,
           after={**claim.as_dict(), "reason": reason})
    return claim

