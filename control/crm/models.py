"""CRM data of the insurance broker: customers, their policies, claims and
quotes, and the contact history (interactions) and pending work (tasks).

Money is ``Numeric(10, 2)`` (never float) and goes out as a string in JSON so
that no cent is lost on the way to the browser. Statuses are plain strings,
validated against the enums below by the services, so that adding a status
needs no schema change.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from control.crm.identity import fold, normalise_dni, normalise_email, normalise_phone
from control.db import Base


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


class Segment(enum.StrEnum):
    STANDARD = "standard"
    VIP = "vip"


class ProductType(enum.StrEnum):
    """Lines of business; also the agents' skills of the same name."""

    AUTO = "auto"
    HOME = "home"
    LIFE = "life"
    HEALTH = "health"


class PolicyStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ClaimStatus(enum.StrEnum):
    REPORTED = "reported"
    INVESTIGATING = "investigating"
    APPROVED = "approved"
    DENIED = "denied"
    PAID = "paid"


# A claim is open until it is paid or denied: the customer may still call about it.
OPEN_CLAIM_STATUSES = (ClaimStatus.REPORTED, ClaimStatus.INVESTIGATING, ClaimStatus.APPROVED)
CLAIM_TRANSITIONS: dict[ClaimStatus, tuple[ClaimStatus, ...]] = {
    ClaimStatus.REPORTED: (ClaimStatus.INVESTIGATING, ClaimStatus.DENIED),
    ClaimStatus.INVESTIGATING: (ClaimStatus.APPROVED, ClaimStatus.DENIED),
    ClaimStatus.APPROVED: (ClaimStatus.PAID,),
    ClaimStatus.DENIED: (),
    ClaimStatus.PAID: (),
}


class QuoteStatus(enum.StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class InteractionOutcome(enum.StrEnum):
    ANSWERED = "answered"  # an agent talked to the customer
    ABANDONED = "abandoned"  # the caller hung up while waiting
    NO_ANSWER = "no_answer"  # outbound: nobody picked up
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"  # the caller left the queue for a callback task


class TaskKind(enum.StrEnum):
    CALLBACK = "callback"
    FOLLOW_UP = "follow_up"


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


OPEN_TASK_STATUSES = (TaskStatus.PENDING, TaskStatus.IN_PROGRESS)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    # fold(name): what a name search matches, accent- and case-insensitive on
    # SQLite and PostgreSQL alike
    name_search: Mapped[str] = mapped_column(String(160), index=True)
    # E.164 strings; mirrored into customer_phones, which is what lookups use
    phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    dni: Mapped[str | None] = mapped_column(String(9), nullable=True, unique=True)
    language: Mapped[str] = mapped_column(String(2), default="es")
    segment: Mapped[str] = mapped_column(String(16), default=Segment.STANDARD.value)
    # {"street", "postal_code", "city", "province", "country"}
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())

    phone_index: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan")
    policies: Mapped[list[Policy]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Policy.id")

    @validates("name")
    def _name(self, _key: str, value: str) -> str:
        self.name_search = fold(value)
        return value

    @validates("phones")
    def _phones(self, _key: str, value: list[str]) -> list[str]:
        numbers: list[str] = []
        for raw in value or []:
            number = normalise_phone(raw, "phones")
            if number not in numbers:
                numbers.append(number)
        self.phone_index = [CustomerPhone(number=n) for n in numbers]
        return numbers

    @validates("dni")
    def _dni(self, _key: str, value: str | None) -> str | None:
        return normalise_dni(value) if value else None

    @validates("email")
    def _email(self, _key: str, value: str | None) -> str | None:
        return normalise_email(value) if value else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "phones": list(self.phones or []),
            "email": self.email, "dni": self.dni, "language": self.language,
            "segment": self.segment, "address": self.address, "tags": list(self.tags or []),
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at),
        }


class CustomerPhone(Base):
    """One number of one customer: the indexed table the screen pop looks up.
    Not unique: a family's landline may belong to several customers."""

    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(20), index=True)
    customer: Mapped[Customer] = relationship(back_populates="phone_index")


class Policy(Base):
    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    carrier: Mapped[str] = mapped_column(String(80))  # Mapfre, AXA, Allianz...
    status: Mapped[str] = mapped_column(String(16), default=PolicyStatus.ACTIVE.value)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    premium: Mapped[Decimal] = mapped_column(Numeric(10, 2))  # per payment period
    payment_frequency: Mapped[str] = mapped_column(String(16), default="annual")
    coverage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    vehicle: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # auto
    property: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # home
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    customer: Mapped[Customer] = relationship(back_populates="policies")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "number": self.number, "customer_id": self.customer_id,
            "type": self.type, "carrier": self.carrier, "status": self.status,
            "start_date": _iso(self.start_date), "end_date": _iso(self.end_date),
            "premium": _money(self.premium), "payment_frequency": self.payment_frequency,
            "coverage": self.coverage, "vehicle": self.vehicle, "property": self.property,
        }


class Claim(Base):
    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"),
                                           index=True)
    status: Mapped[str] = mapped_column(String(16), default=ClaimStatus.REPORTED.value)
    incident_date: Mapped[date] = mapped_column(Date)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    description: Mapped[str] = mapped_column(Text, default="")
    claimed_amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    approved_amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    paid_amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "number": self.number, "customer_id": self.customer_id,
            "policy_id": self.policy_id, "status": self.status,
            "incident_date": _iso(self.incident_date), "reported_at": _iso(self.reported_at),
            "description": self.description, "claimed_amount": _money(self.claimed_amount),
            "approved_amount": _money(self.approved_amount),
            "paid_amount": _money(self.paid_amount), "resolved_at": _iso(self.resolved_at),
        }


class Quote(Base):
    """A price given to a customer, often during a call; accepted → a policy."""

    __tablename__ = "quotes"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    product_type: Mapped[str] = mapped_column(String(16))
    carrier: Mapped[str | None] = mapped_column(String(80), nullable=True)
    premium: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    # {"base": "400.00", "factors": {...}, "discounts": {...}}
    premium_breakdown: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"carrier": "Mapfre", "premium": "455.00"}, ...]
    competitor_prices: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=QuoteStatus.DRAFT.value)
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("policies.id", ondelete="SET NULL"), nullable=True)
    # the call it was given in (the ACD's calls.id); no foreign key: calls are the ACD's
    call_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    agent_extension: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "number": self.number, "customer_id": self.customer_id,
            "product_type": self.product_type, "carrier": self.carrier,
            "premium": _money(self.premium), "premium_breakdown": self.premium_breakdown,
            "competitor_prices": self.competitor_prices,
            "valid_until": _iso(self.valid_until), "status": self.status,
            "policy_id": self.policy_id, "call_id": self.call_id,
            "agent_extension": self.agent_extension,
        }


class Interaction(Base):
    """One contact with a customer (today: a call), written when it ends."""

    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_customer_started", "customer_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # calls.id of the ACD as a plain string: the two sides migrate independently
    call_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    agent_extension: Mapped[str | None] = mapped_column(String(16), nullable=True)
    direction: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16))
    # what the call was about, chosen by the agent at wrap-up (renewal, claim, sale...)
    disposition: Mapped[str | None] = mapped_column(String(40), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    recording: Mapped[str | None] = mapped_column(String(255), nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "customer_id": self.customer_id, "call_id": self.call_id,
            "agent_extension": self.agent_extension, "direction": self.direction,
            "started_at": _iso(self.started_at), "duration_s": self.duration_s,
            "outcome": self.outcome, "disposition": self.disposition, "notes": self.notes,
            "recording": self.recording,
        }


class Task(Base):
    """Work for an agent at a time: call a customer back, or follow a case up."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_status_scheduled", "status", "scheduled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # null for a callback requested from a number no customer has yet
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), nullable=True, index=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    scheduled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.PENDING.value)
    agent_extension: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @validates("phone")
    def _phone(self, _key: str, value: str | None) -> str | None:
        return normalise_phone(value) if value else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "customer_id": self.customer_id,
            "phone": self.phone, "scheduled_at": _iso(self.scheduled_at),
            "status": self.status, "agent_extension": self.agent_extension,
            "notes": self.notes, "completed_at": _iso(self.completed_at),
        }
