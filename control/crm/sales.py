"""Sales (seed 002): the products the broker sells, the campaigns that look for
buyers, and the leads they bring: people who are not customers yet. A lead
worked to the end is converted into a customer (``control.crm.pipeline``).

Statuses and channels are plain strings validated by the service against the
enums below, as in ``control.crm.models``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Numeric, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, validates

from control.crm.identity import fold, normalise_email, normalise_phone
from control.crm.models import _iso, _money
from control.db import Base


class LeadStatus(enum.StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    CONVERTED = "converted"  # became a customer: final
    LOST = "lost"  # may be contacted again later


# converted only through pipeline.convert_lead, which creates the customer
LEAD_TRANSITIONS: dict[LeadStatus, tuple[LeadStatus, ...]] = {
    LeadStatus.NEW: (LeadStatus.CONTACTED, LeadStatus.LOST),
    LeadStatus.CONTACTED: (LeadStatus.QUALIFIED, LeadStatus.LOST),
    LeadStatus.QUALIFIED: (LeadStatus.CONVERTED, LeadStatus.LOST),
    LeadStatus.LOST: (LeadStatus.CONTACTED,),
    LeadStatus.CONVERTED: (),
}
# where a lead may be converted from: it has at least been talked to
CONVERTIBLE = (LeadStatus.CONTACTED, LeadStatus.QUALIFIED)


class CampaignChannel(enum.StrEnum):
    PHONE = "phone"  # outbound calls
    EMAIL = "email"
    WEB = "web"
    SOCIAL = "social"
    REFERRAL = "referral"


class CampaignStatus(enum.StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    PAUSED = "paused"
    FINISHED = "finished"


class Product(Base):
    """A product of a carrier that the broker sells: what a campaign targets
    and a lead is interested in. ``type`` is a ProductType (auto/home/life/health)."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(16))
    carrier: Mapped[str] = mapped_column(String(80))
    base_premium: Mapped[Decimal] = mapped_column(Numeric(10, 2))  # annual, euros
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "name": self.name, "type": self.type,
                "carrier": self.carrier, "base_premium": _money(self.base_premium),
                "active": self.active}


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.PLANNED.value)
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "channel": self.channel,
                "start_date": _iso(self.start_date), "end_date": _iso(self.end_date),
                "status": self.status, "product_id": self.product_id}


class Lead(Base):
    """Someone who may buy: from a campaign, the web, a referral..."""

    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_status_agent", "status", "agent_extension"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    name_search: Mapped[str] = mapped_column(String(160))
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str] = mapped_column(String(40))
    # a ProductType: what the lead asked about
    product_interest: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=LeadStatus.NEW.value)
    agent_extension: Mapped[str | None] = mapped_column(String(16), nullable=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True, index=True)
    # the customer it became
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())

    @validates("name")
    def _name(self, _key: str, value: str) -> str:
        self.name_search = fold(value)
        return value

    @validates("phone")
    def _phone(self, _key: str, value: str | None) -> str | None:
        return normalise_phone(value) if value else None

    @validates("email")
    def _email(self, _key: str, value: str | None) -> str | None:
        return normalise_email(value) if value else None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "phone": self.phone, "email": self.email,
                "source": self.source, "product_interest": self.product_interest,
                "status": self.status, "agent_extension": self.agent_extension,
                "campaign_id": self.campaign_id, "customer_id": self.customer_id,
                "notes": self.notes, "created_at": _iso(self.created_at),
                "updated_at": _iso(self.updated_at)}
