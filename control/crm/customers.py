"""Customers: creating, finding (by phone, DNI, e-mail, name) and the file an
agent sees when the call arrives (``customer_context``).

``find_customer_by_phone`` and ``last_agent_for_customer`` are what the ACD
calls for every incoming call (screen pop, routing to the previous agent):
they never raise on a caller ID that is not a number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from control.auth.audit import Actor, record
from control.crm.identity import (
    DuplicateValue,
    fold,
    normalise_dni,
    normalise_email,
    normalise_phone,
    parse_phone,
)
from control.crm.models import (
    OPEN_CLAIM_STATUSES,
    OPEN_TASK_STATUSES,
    Claim,
    Customer,
    CustomerPhone,
    Direction,
    Interaction,
    InteractionOutcome,
    Policy,
    PolicyStatus,
    ProductType,
    Quote,
    QuoteStatus,
    Segment,
    Task,
    TaskKind,
    TaskStatus,
)
from control.errors import InvalidInput, NotFound

LANGUAGE_RE = re.compile(r"^[a-z]{2}$")
TAG_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
EXTENSION_RE = re.compile(r"^[1-9][0-9]{1,7}$")
ADDRESS_KEYS = ("street", "postal_code", "city", "province", "country")
MAX_SEARCH_RESULTS = 100


def _choice(field: str, value: str, allowed: type[Any]) -> str:
    values = [m.value for m in allowed]
    if value not in values:
        raise InvalidInput(field, f"{value!r} is not one of {', '.join(values)}")
    return value


def _tags(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for raw in values:
        tag = raw.strip().lower()
        if not TAG_RE.match(tag):
            raise InvalidInput("tags", f"{raw!r}: lowercase letters, digits, - and _")
        if tag not in out:
            out.append(tag)
    return out


def _address(value: dict[str, Any] | None) -> dict[str, str] | None:
    if value is None:
        return None
    out: dict[str, str] = {}
    for key, item in value.items():
        if key not in ADDRESS_KEYS:
            raise InvalidInput(f"address.{key}", f"unknown; known: {', '.join(ADDRESS_KEYS)}")
        if not isinstance(item, str) or len(item) > 200:
            raise InvalidInput(f"address.{key}", "a text of at most 200 characters")
        out[key] = item.strip()
    if "postal_code" in out and not re.fullmatch(r"[0-9]{5}", out["postal_code"]):
        raise InvalidInput("address.postal_code", "5 digits")
    return out


def money(field: str, value: object) -> Decimal:
    """An amount in euros, at most 2 decimals, not negative."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidInput(field, f"{value!r} is not an amount") from exc
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput(field, f"{value!r}: a positive amount with at most 2 decimals")
    return amount.quantize(Decimal("0.01"))


# -- customers ----------------------------------------------------------------


def create_customer(
    session: Session,
    *,
    actor: Actor,
    name: str,
    phones: Sequence[str] = (),
    email: str | None = None,
    dni: str | None = None,
    language: str = "es",
    segment: str = Segment.STANDARD.value,
    address: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
) -> Customer:
    name = " ".join(name.split())
    if not name or len(name) > 160:
        raise InvalidInput("name", "required, at most 160 characters")
    if not phones and not email:
        raise InvalidInput("phones", "a customer needs a phone number or an e-mail")
    language = language.strip().lower()
    if not LANGUAGE_RE.match(language):
        raise InvalidInput("language", f"{language!r}: a two-letter code such as es, en, ca")
    dni = normalise_dni(dni) if dni else None
    if dni and session.scalar(select(Customer.id).where(Customer.dni == dni)):
        raise DuplicateValue("dni", f"{dni} already belongs to another customer")
    customer = Customer(
        name=name, phones=list(phones), email=email or None, dni=dni, language=language,
        segment=_choice("segment", segment, Segment), address=_address(address),
        tags=_tags(tags),
    )
    session.add(customer)
    session.flush()
    record(session, actor, "create", "customers", customer.id, after=customer.as_dict())
    return customer


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("customer", str(customer_id))
    return customer


def search_customers(
    session: Session,
    *,
    phone: str | None = None,
    dni: str | None = None,
    email: str | None = None,
    q: str | None = None,
    limit: int = 20,
) -> list[Customer]:
    """Customers matching every criterion given. ``q`` is the agent's search box:
    part of a name, or a whole phone number, DNI or e-mail."""
    if not any((phone, dni, email, q)):
        raise InvalidInput("q", "give phone, dni, email or q")
    if not 1 <= limit <= MAX_SEARCH_RESULTS:
        raise InvalidInput("limit", f"between 1 and {MAX_SEARCH_RESULTS}")
    stmt = select(Customer)
    if phone:
        number = normalise_phone(phone, "phone")
        stmt = stmt.where(Customer.id.in_(
            select(CustomerPhone.customer_id).where(CustomerPhone.number == number)))
    if dni:
        stmt = stmt.where(Customer.dni == normalise_dni(dni))
    if email:
        stmt = stmt.where(Customer.email == normalise_email(email))
    if q:
        words = fold(q)
        if len(words) < 2:
            raise InvalidInput("q", "at least 2 characters")
        alternatives = [Customer.name_search.contains(words, autoescape=True)]
        as_phone = parse_phone(q)
        if as_phone:
            alternatives.append(Customer.id.in_(
                select(CustomerPhone.customer_id).where(CustomerPhone.number == as_phone)))
        if "@" in q:
            alternatives.append(Customer.email == q.strip().lower())
        try:
            alternatives.append(Customer.dni == normalise_dni(q))
        except InvalidInput:
            pass
        stmt = stmt.where(or_(*alternatives))
    return list(session.scalars(stmt.order_by(Customer.name_search, Customer.id).limit(limit)))


def find_customer_by_phone(session: Session, raw_phone: str) -> Customer | None:
    """The customer calling from ``raw_phone`` (any format), or None: also for
    anonymous or malformed caller IDs. A number shared by several customers (a
    family's landline) gives the one contacted most recently."""
    number = parse_phone(raw_phone or "")
    if number is None:
        return None
    ids = list(session.scalars(
        select(CustomerPhone.customer_id).where(CustomerPhone.number == number)
        .order_by(CustomerPhone.customer_id)))
    if not ids:
        return None
    if len(ids) > 1:
        latest = session.scalar(
            select(Interaction.customer_id).where(Interaction.customer_id.in_(ids))
            .order_by(Interaction.started_at.desc(), Interaction.id.desc()).limit(1))
        if latest is not None:
            return session.get(Customer, latest)
    return session.get(Customer, ids[0])


def last_agent_for_customer(session: Session, customer_id: int) -> str | None:
    """Extension of the agent who last talked to this customer, for routing the
    next call to the same agent."""
    return session.scalar(
        select(Interaction.agent_extension)
        .where(Interaction.customer_id == customer_id,
               Interaction.outcome == InteractionOutcome.ANSWERED.value,
               Interaction.agent_extension.is_not(None))
        .order_by(Interaction.started_at.desc(), Interaction.id.desc()).limit(1))


def customer_context(session: Session, customer_id: int,
                     interactions: int = 10) -> dict[str, Any]:
    """Everything an agent needs on screen when the customer calls: in force
    policies, open claims and quotes, the last contacts and the pending tasks."""
    customer = get_customer(session, customer_id)
    policies = session.scalars(
        select(Policy).where(Policy.customer_id == customer_id,
                             Policy.status == PolicyStatus.ACTIVE.value)
        .order_by(Policy.end_date, Policy.id))
    claims = session.scalars(
        select(Claim).where(Claim.customer_id == customer_id,
                            Claim.status.in_([s.value for s in OPEN_CLAIM_STATUSES]))
        .order_by(Claim.reported_at.desc(), Claim.id.desc()))
    quotes = session.scalars(
        select(Quote).where(Quote.customer_id == customer_id,
                            Quote.status.in_([QuoteStatus.DRAFT.value, QuoteStatus.SENT.value]))
        .order_by(Quote.id.desc()))
    contacts = session.scalars(
        select(Interaction).where(Interaction.customer_id == customer_id)
        .order_by(Interaction.started_at.desc(), Interaction.id.desc()).limit(interactions))
    tasks = session.scalars(
        select(Task).where(Task.customer_id == customer_id,
                           Task.status.in_([s.value for s in OPEN_TASK_STATUSES]))
        .order_by(Task.scheduled_at, Task.id))
    return {
        "customer": customer.as_dict(),
        "policies": [p.as_dict() for p in policies],
        "claims": [c.as_dict() for c in claims],
        "quotes": [q.as_dict() for q in quotes],
        "interactions": [i.as_dict() for i in contacts],
        "tasks": [t.as_dict() for t in tasks],
        "last_agent": last_agent_for_customer(session, customer_id),
    }


# -- what the other records need to be created ---------------------------------


def create_policy(
    session: Session,
    *,
    actor: Actor,
    customer_id: int,
    number: str,
    type: str,
    carrier: str,
    start_date: date,
    end_date: date,
    premium: object,
    status: str = PolicyStatus.ACTIVE.value,
    payment_frequency: str = "annual",
    coverage: dict[str, Any] | None = None,
    vehicle: dict[str, Any] | None = None,
    property: dict[str, Any] | None = None,
) -> Policy:
    get_customer(session, customer_id)
    number = number.strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9/-]{2,39}", number):
        raise InvalidInput("number", "3 to 40 letters, digits, - or /")
    if session.scalar(select(Policy.id).where(Policy.number == number)):
        raise DuplicateValue("number", f"policy {number} already exists")
    if end_date <= start_date:
        raise InvalidInput("end_date", "must be after start_date")
    if payment_frequency not in ("monthly", "quarterly", "semiannual", "annual"):
        raise InvalidInput("payment_frequency", "monthly, quarterly, semiannual or annual")
    if not carrier.strip():
        raise InvalidInput("carrier", "required")
    policy = Policy(
        customer_id=customer_id, number=number, type=_choice("type", type, ProductType),
        carrier=carrier.strip(), status=_choice("status", status, PolicyStatus),
        start_date=start_date, end_date=end_date, premium=money("premium", premium),
        payment_frequency=payment_frequency, coverage=coverage or {}, vehicle=vehicle,
        property=property,
    )
    session.add(policy)
    session.flush()
    record(session, actor, "create", "policies", policy.id, after=policy.as_dict())
    return policy


def record_interaction(
    session: Session,
    *,
    actor: Actor,
    customer_id: int,
    direction: str,
    outcome: str,
    started_at: datetime,
    duration_s: int = 0,
    call_id: str | None = None,
    agent_extension: str | None = None,
    disposition: str | None = None,
    notes: str = "",
    recording: str | None = None,
) -> Interaction:
    """A finished contact; the ACD writes one per call with a known customer."""
    get_customer(session, customer_id)
    if agent_extension is not None and not EXTENSION_RE.match(agent_extension):
        raise InvalidInput("agent_extension", "2 to 8 digits, not starting with 0")
    if duration_s < 0:
        raise InvalidInput("duration_s", "not negative")
    interaction = Interaction(
        customer_id=customer_id, call_id=call_id, agent_extension=agent_extension,
        direction=_choice("direction", direction, Direction),
        outcome=_choice("outcome", outcome, InteractionOutcome),
        started_at=started_at, duration_s=duration_s, disposition=disposition,
        notes=notes, recording=recording,
    )
    session.add(interaction)
    session.flush()
    record(session, actor, "create", "interactions", interaction.id,
           after=interaction.as_dict())
    return interaction


def create_task(
    session: Session,
    *,
    actor: Actor,
    kind: str,
    scheduled_at: datetime,
    customer_id: int | None = None,
    phone: str | None = None,
    agent_extension: str | None = None,
    notes: str = "",
) -> Task:
    """A callback (needs a number to call: the customer's first one by default)
    or a follow-up of a customer's case."""
    kind = _choice("kind", kind, TaskKind)
    customer = get_customer(session, customer_id) if customer_id is not None else None
    if phone:
        phone = normalise_phone(phone, "phone")
    elif kind == TaskKind.CALLBACK:
        if customer is None or not customer.phones:
            raise InvalidInput("phone", "a callback needs a number to call")
        phone = customer.phones[0]
    if customer is None and kind == TaskKind.FOLLOW_UP:
        raise InvalidInput("customer_id", "a follow-up is about a customer")
    if agent_extension is not None and not EXTENSION_RE.match(agent_extension):
        raise InvalidInput("agent_extension", "2 to 8 digits, not starting with 0")
    if scheduled_at.tzinfo is None:
        raise InvalidInput("scheduled_at", "needs a time zone")
    task = Task(kind=kind, customer_id=customer_id, phone=phone, scheduled_at=scheduled_at,
                status=TaskStatus.PENDING.value, agent_extension=agent_extension, notes=notes)
    session.add(task)
    session.flush()
    record(session, actor, "create", "tasks", task.id, after=task.as_dict())
    return task

