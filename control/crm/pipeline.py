"""The sales pipeline (seed 002): products, campaigns, and leads worked by
agents along LEAD_TRANSITIONS until they are converted into customers.

As in ``control.crm.book``: every write is audited in the caller's
transaction; refusals are InvalidInput (422), NotFound (404), StateConflict
(409) or Forbidden (403), each naming the field.

Agents (``own_extension`` given) see and work the leads assigned to them and
the unassigned ones; working an unassigned lead takes it. Supervisors and
admins (``own_extension`` None) see and assign every lead.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from control.acd.models import Agent
from control.auth.audit import Actor, record
from control.auth.service import Forbidden
from control.crm.book import StateConflict
from control.crm.customers import (
    EXTENSION_RE,
    _choice,
    create_customer,
    find_customer_by_phone,
    money,
)
from control.crm.identity import DuplicateValue, fold, normalise_email, normalise_phone
from control.crm.models import Customer, ProductType
from control.crm.sales import (
    CONVERTIBLE,
    LEAD_TRANSITIONS,
    Campaign,
    CampaignChannel,
    CampaignStatus,
    Lead,
    LeadStatus,
    Product,
)
from control.errors import InvalidInput, NotFound

MAX_LIST = 500
SOURCE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,19}$")
UNSET: Any = object()  # a PATCH field not sent (None is "clear it")


def _name(field: str, value: str, max_len: int) -> str:
    value = " ".join(value.split())
    if not value or len(value) > max_len:
        raise InvalidInput(field, f"required, at most {max_len} characters")
    return value


def _agent(session: Session, extension: str | None) -> str | None:
    if extension is None:
        return None
    if not EXTENSION_RE.match(extension):
        raise InvalidInput("agent_extension", "2 to 8 digits, not starting with 0")
    if session.scalar(select(Agent.id).where(Agent.extension == extension)) is None:
        raise InvalidInput("agent_extension", f"no agent with extension {extension}")
    return extension


# -- products --------------------------------------------------------------------


def create_product(session: Session, *, actor: Actor, code: str, name: str, type: str,
                   carrier: str, base_premium: object, active: bool = True) -> Product:
    code = code.strip().upper()
    if not CODE_RE.match(code):
        raise InvalidInput("code", "2 to 20 letters, digits, - or _")
    if session.scalar(select(Product.id).where(Product.code == code)):
        raise DuplicateValue("code", f"a product {code} already exists")
    product = Product(code=code, name=_name("name", name, 120),
                      type=_choice("type", type, ProductType),
                      carrier=_name("carrier", carrier, 80),
                      base_premium=money("base_premium", base_premium), active=active)
    session.add(product)
    session.flush()
    record(session, actor, "create", "products", product.id, after=product.as_dict())
    return product


def get_product(session: Session, product_id: int, field: str = "id") -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise _not_found("product", product_id, field)
    return product


def list_products(session: Session, *, active: bool | None = None,
                  type: str | None = None) -> list[Product]:
    stmt = select(Product)
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    if type is not None:
        stmt = stmt.where(Product.type == _choice("type", type, ProductType))
    return list(session.scalars(stmt.order_by(Product.code)))


def update_product(session: Session, *, actor: Actor, product_id: int,
                   name: str | None = None, carrier: str | None = None,
                   base_premium: object = None, active: bool | None = None) -> Product:
    product = get_product(session, product_id)
    before = product.as_dict()
    if name is not None:
        product.name = _name("name", name, 120)
    if carrier is not None:
        product.carrier = _name("carrier", carrier, 80)
    if base_premium is not None:
        product.base_premium = money("base_premium", base_premium)
    if active is not None:
        product.active = active
    session.flush()
    record(session, actor, "update", "products", product.id, before=before,
           after=product.as_dict())
    return product


# -- campaigns -------------------------------------------------------------------


def _dates(start: date, end: date | None) -> None:
    if end is not None and end < start:
        raise InvalidInput("end_date", "not before start_date")


def _target(session: Session, product_id: int | None) -> int | None:
    if product_id is None:
        return None
    product = get_product(session, product_id, field="product_id")
    if not product.active:
        raise InvalidInput("product_id", f"product {product.code} is not active")
    return product.id


def create_campaign(session: Session, *, actor: Actor, name: str, channel: str,
                    start_date: date, end_date: date | None = None,
                    status: str = CampaignStatus.PLANNED.value,
                    product_id: int | None = None) -> Campaign:
    name = _name("name", name, 120)
    if session.scalar(select(Campaign.id).where(Campaign.name == name)):
        raise DuplicateValue("name", f"a campaign {name!r} already exists")
    _dates(start_date, end_date)
    campaign = Campaign(name=name, channel=_choice("channel", channel, CampaignChannel),
                        start_date=start_date, end_date=end_date,
                        status=_choice("status", status, CampaignStatus),
                        product_id=_target(session, product_id))
    session.add(campaign)
    session.flush()
    record(session, actor, "create", "campaigns", campaign.id, after=campaign.as_dict())
    return campaign


def get_campaign(session: Session, campaign_id: int, field: str = "id") -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise _not_found("campaign", campaign_id, field)
    return campaign


def list_campaigns(session: Session, *, status: str | None = None) -> list[Campaign]:
    stmt = select(Campaign)
    if status is not None:
        stmt = stmt.where(Campaign.status == _choice("status", status, CampaignStatus))
    return list(session.scalars(stmt.order_by(Campaign.start_date.desc(), Campaign.id)))


def update_campaign(session: Session, *, actor: Actor, campaign_id: int,
                    name: str | None = None, channel: str | None = None,
                    start_date: date | None = None, end_date: Any = UNSET,
                    status: str | None = None, product_id: Any = UNSET) -> Campaign:
    campaign = get_campaign(session, campaign_id)
    before = campaign.as_dict()
    if name is not None:
        name = _name("name", name, 120)
        if session.scalar(select(Campaign.id).where(Campaign.name == name,
                                                    Campaign.id != campaign.id)):
            raise DuplicateValue("name", f"a campaign {name!r} already exists")
        campaign.name = name
    if channel is not None:
        campaign.channel = _choice("channel", channel, CampaignChannel)
    if status is not None:
        campaign.status = _choice("status", status, CampaignStatus)
    if start_date is not None:
        campaign.start_date = start_date
    if end_date is not UNSET:
        campaign.end_date = end_date
    _dates(campaign.start_date, campaign.end_date)
    if product_id is not UNSET:
        campaign.product_id = _target(session, product_id)
    session.flush()
    record(session, actor, "update", "campaigns", campaign.id, before=before,
           after=campaign.as_dict())
    return campaign


# -- leads -----------------------------------------------------------------------


def _not_found(what: str, key: int, field: str) -> NotFound:
    exc = NotFound(what, str(key))
    exc.field = field  # type: ignore[attr-defined]  # the JSON error names it
    return exc


def _source(value: str) -> str:
    value = value.strip().lower()
    if not SOURCE_RE.match(value):
        raise InvalidInput("source", "a word such as web, referral, campaign, inbound_call")
    return value


def _interest(value: str | None) -> str | None:
    return None if value is None else _choice("product_interest", value, ProductType)


def _campaign_ref(session: Session, campaign_id: int | None) -> int | None:
    return None if campaign_id is None else get_campaign(session, campaign_id,
                                                         field="campaign_id").id


def create_lead(session: Session, *, actor: Actor, own_extension: str | None, name: str,
                phone: str | None = None, email: str | None = None, source: str = "manual",
                product_interest: str | None = None, agent_extension: str | None = None,
                campaign_id: int | None = None, notes: str = "") -> Lead:
    if not phone and not email:
        raise InvalidInput("phone", "a lead needs a phone number or an e-mail")
    if own_extension is not None and agent_extension not in (None, own_extension):
        raise InvalidInput("agent_extension",
                           "an agent assigns leads to itself or leaves them unassigned")
    lead = Lead(name=_name("name", name, 160),
                phone=normalise_phone(phone, "phone") if phone else None,
                email=normalise_email(email) if email else None, source=_source(source),
                product_interest=_interest(product_interest),
                status=LeadStatus.NEW.value, agent_extension=_agent(session, agent_extension),
                campaign_id=_campaign_ref(session, campaign_id), notes=notes.strip())
    session.add(lead)
    session.flush()
    record(session, actor, "create", "leads", lead.id, after=lead.as_dict())
    return lead


def get_lead(session: Session, lead_id: int, own_extension: str | None) -> Lead:
    lead = session.get(Lead, lead_id)
    # an agent is not told about other agents' leads
    if lead is None or (own_extension is not None
                        and lead.agent_extension not in (None, own_extension)):
        raise NotFound("lead", str(lead_id))
    return lead


def list_leads(session: Session, *, own_extension: str | None, status: str | None = None,
               agent_extension: str | None = None, campaign_id: int | None = None,
               q: str | None = None, limit: int = 100) -> list[Lead]:
    """Newest first. An agent sees its own and the unassigned ones."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput("limit", f"between 1 and {MAX_LIST}")
    stmt = select(Lead)
    if status is not None:
        stmt = stmt.where(Lead.status == _choice("status", status, LeadStatus))
    if own_extension is not None:
        if agent_extension is not None and agent_extension != own_extension:
            raise Forbidden("forbidden", "an agent sees only its own and unassigned leads")
        stmt = stmt.where(or_(Lead.agent_extension == own_extension,
                              Lead.agent_extension.is_(None)))
    elif agent_extension is not None:
        stmt = stmt.where(Lead.agent_extension == agent_extension)
    if campaign_id is not None:
        stmt = stmt.where(Lead.campaign_id == campaign_id)
    if q:
        stmt = stmt.where(Lead.name_search.contains(fold(q), autoescape=True))
    return list(session.scalars(stmt.order_by(Lead.id.desc()).limit(limit)))


def update_lead(session: Session, *, actor: Actor, own_extension: str | None, lead_id: int,
                status: str | None = None, agent_extension: Any = UNSET,
                name: str | None = None, phone: str | None = None, email: str | None = None,
                product_interest: Any = UNSET, campaign_id: Any = UNSET,
                notes: str | None = None) -> Lead:
    """Change a lead's details, status (along LEAD_TRANSITIONS) or agent."""
    lead = get_lead(session, lead_id, own_extension)
    if lead.status == LeadStatus.CONVERTED.value:
        raise StateConflict("status", f"lead {lead.id} is converted: customer "
                                      f"{lead.customer_id}")
    before = lead.as_dict()
    if agent_extension is not UNSET:
        if own_extension is not None and agent_extension not in (None, own_extension):
            raise Forbidden("forbidden", "an agent takes or releases leads, "
                                         "supervisors assign them")
        lead.agent_extension = _agent(session, agent_extension)
    elif own_extension is not None and lead.agent_extension is None:
        lead.agent_extension = own_extension  # working an unassigned lead takes it
    if status is not None and status != lead.status:
        new = LeadStatus(_choice("status", status, LeadStatus))
        if new == LeadStatus.CONVERTED:
            raise InvalidInput("status", f"convert with POST /api/v1/leads/{lead.id}/convert")
        allowed = LEAD_TRANSITIONS[LeadStatus(lead.status)]
        if new not in allowed:
            raise StateConflict("status", f"lead {lead.id} is {lead.status}: it may become "
                                          f"{', '.join(allowed) or 'nothing else'}")
        lead.status = new.value
    if name is not None:
        lead.name = _name("name", name, 160)
    if phone is not None:
        lead.phone = normalise_phone(phone, "phone") if phone else None
    if email is not None:
        lead.email = normalise_email(email) if email else None
    if not lead.phone and not lead.email:
        raise InvalidInput("phone", "a lead needs a phone number or an e-mail")
    if product_interest is not UNSET:
        lead.product_interest = _interest(product_interest)
    if campaign_id is not UNSET:
        lead.campaign_id = _campaign_ref(session, campaign_id)
    if notes is not None and notes.strip():
        lead.notes = f"{lead.notes}\n{notes.strip()}".strip()
    session.flush()
    record(session, actor, "update", "leads", lead.id, before=before, after=lead.as_dict())
    return lead


def convert_lead(session: Session, *, actor: Actor, own_extension: str | None, lead_id: int,
                 dni: str | None = None, language: str = "es") -> tuple[Lead, Customer, bool]:
    """The lead buys: it becomes a customer, or is linked to the customer who
    already has its phone or e-mail. Returns the lead, the customer, and
    whether the customer was created now."""
    lead = get_lead(session, lead_id, own_extension)
    if LeadStatus(lead.status) not in CONVERTIBLE:
        raise StateConflict("status", f"lead {lead.id} is {lead.status}: only a contacted "
                                      "or qualified lead is converted")
    before = lead.as_dict()
    customer = find_customer_by_phone(session, lead.phone) if lead.phone else None
    if customer is None and lead.email:
        customer = session.scalar(select(Customer).where(Customer.email == lead.email)
                                  .order_by(Customer.id).limit(1))
    created = customer is None
    if customer is None:
        customer = create_customer(session, actor=actor, name=lead.name,
                                   phones=[lead.phone] if lead.phone else [],
                                   email=lead.email, dni=dni, language=language,
                                   tags=["lead"])
    lead.customer_id = customer.id
    lead.status = LeadStatus.CONVERTED.value
    if own_extension is not None and lead.agent_extension is None:
        lead.agent_extension = own_extension
    session.flush()
    record(session, actor, "convert", "leads", lead.id, before=before, after=lead.as_dict())
    return lead, customer, created
