"""Demo data in Spanish (``aitcomms db seed``): a handful of customers of the
broker with a policy of each line, a claim, a quote, past calls and tasks;
and for sales (seed 002) products, campaigns and leads.

Idempotent: a customer whose DNI is already there is left as it is, and so
is a product by code, a campaign by name, a lead by phone. No users
are seeded: there are no default passwords (``aitcomms user add``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.auth.audit import SEED, record
from control.crm.customers import create_customer, create_policy, create_task, record_interaction
from control.crm.identity import normalise_phone
from control.crm.models import Claim, Customer, Quote
from control.crm.pipeline import create_campaign, create_lead, create_product
from control.crm.sales import Campaign, Lead, Product

CUSTOMERS: list[dict[str, Any]] = [
    {"name": "María Rodríguez Sánchez", "phones": ["+34 612 345 678", "+34 912 345 678"],
     "email": "maria.rodriguez@example.es", "dni": "12345678Z", "segment": "vip",
     "address": {"street": "Calle Mayor 123", "postal_code": "28013", "city": "Madrid",
                 "province": "Madrid", "country": "ES"}, "tags": ["cliente-fiel"]},
    {"name": "Pedro Martínez Ruiz", "phones": ["+34 623 456 789"],
     "email": "pedro.martinez@example.es", "dni": "43464097P",
     "address": {"street": "Gran Vía 45", "postal_code": "28013", "city": "Madrid",
                 "province": "Madrid", "country": "ES"}},
    {"name": "Laura Fernández Gil", "phones": ["+34 634 567 890"],
     "email": "laura.fernandez@example.es", "dni": "20246633D",
     "address": {"street": "Passeig de Gràcia 10", "postal_code": "08007",
                 "city": "Barcelona", "province": "Barcelona", "country": "ES"},
     "language": "ca"},
    {"name": "John Smith", "phones": ["+34 645 678 901"], "email": "john.smith@example.com",
     "dni": "X1234567L", "language": "en",
     "address": {"street": "Avenida del Mar 7", "postal_code": "29602", "city": "Marbella",
                 "province": "Málaga", "country": "ES"}},
    {"name": "Carmen López Navarro", "phones": ["+34 656 789 012"],
     "email": "carmen.lopez@example.es", "dni": "52992312J", "segment": "vip",
     "address": {"street": "Calle Colón 22", "postal_code": "46004", "city": "Valencia",
                 "province": "Valencia", "country": "ES"}},
]

YEAR = date(2026, 1, 1)


def _policies(dni: str) -> list[dict[str, Any]]:
    """Policies of one seeded customer, by DNI: each line of business appears."""
    return {
        "12345678Z": [
            {"number": "AUT-2026-000001", "type": "auto", "carrier": "Mapfre",
             "premium": "455.90", "coverage": {"modalidad": "todo riesgo con franquicia",
                                               "franquicia": "300.00"},
             "vehicle": {"plate": "1234KLM", "make": "Seat", "model": "León", "year": 2021}},
            {"number": "HOG-2026-000001", "type": "home", "carrier": "AXA", "premium": "210.00",
             "coverage": {"continente": "180000.00", "contenido": "30000.00"},
             "property": {"kind": "piso", "m2": 95, "built": 1998}},
        ],
        "43464097P": [
            {"number": "VID-2026-000001", "type": "life", "carrier": "Allianz",
             "premium": "32.50", "payment_frequency": "monthly",
             "coverage": {"capital": "150000.00", "beneficiarios": "cónyuge e hijos"}},
        ],
        "20246633D": [
            {"number": "SAL-2026-000001", "type": "health", "carrier": "Sanitas",
             "premium": "68.00", "payment_frequency": "monthly",
             "coverage": {"cuadro_medico": True, "dental": True}},
        ],
        "X1234567L": [
            {"number": "AUT-2026-000002", "type": "auto", "carrier": "Línea Directa",
             "premium": "390.00", "coverage": {"modalidad": "terceros ampliado"},
             "vehicle": {"plate": "5678JKL", "make": "Toyota", "model": "Corolla",
                         "year": 2019}},
        ],
        "52992312J": [
            {"number": "HOG-2021-000009", "type": "home", "carrier": "Mapfre",
             "premium": "190.00", "status": "expired", "start_date": date(2021, 1, 1),
             "end_date": date(2022, 1, 1), "property": {"kind": "chalet", "m2": 180}},
        ],
    }.get(dni, [])  # type: ignore[return-value]


def seed(session: Session, now: datetime | None = None) -> list[str]:
    """Add what is missing; returns the names of the customers added."""
    now = now or datetime.now(UTC)
    added: list[str] = []
    for data in CUSTOMERS:
        if session.scalar(select(Customer.id).where(Customer.dni == data["dni"])):
            continue
        customer = create_customer(session, actor=SEED, **data)
        added.append(customer.name)
        for p in _policies(data["dni"]):
            fields = {"start_date": YEAR, "end_date": date(YEAR.year + 1, 1, 1), **p}
            create_policy(session, actor=SEED, customer_id=customer.id, **fields)
        if data["dni"] == "12345678Z":
            _maria_history(session, customer, now)
        if data["dni"] == "X1234567L":
            quote = Quote(number="PRE-2026-000001", customer_id=customer.id,
                          product_type="home", carrier="Mapfre", premium=Decimal("245.00"),
                          premium_breakdown={"base": "260.00", "descuentos": {"web": "-15.00"}},
                          competitor_prices=[{"carrier": "AXA", "premium": "262.00"},
                                             {"carrier": "Allianz", "premium": "251.40"}],
                          valid_until=(now + timedelta(days=30)).date(), status="sent",
                          agent_extension="1001")
            session.add(quote)
            session.flush()
            record(session, SEED, "create", "quotes", quote.id, after=quote.as_dict())
    seed_sales(session)
    return added


PRODUCTS: list[dict[str, Any]] = [
    {"code": "AUT-TR-MAP", "name": "Auto todo riesgo con franquicia", "type": "auto",
     "carrier": "Mapfre", "base_premium": "400.00"},
    {"code": "HOG-PLUS-AXA", "name": "Hogar Plus", "type": "home", "carrier": "AXA",
     "base_premium": "150.00"},
    {"code": "VID-RIE-ALL", "name": "Vida riesgo", "type": "life", "carrier": "Allianz",
     "base_premium": "240.00"},
    {"code": "SAL-COMP-SAN", "name": "Salud completo con dental", "type": "health",
     "carrier": "Sanitas", "base_premium": "816.00"},
]

# (name, channel, status, product code, start, end)
CAMPAIGNS: list[tuple[str, str, str, str, date, date | None]] = [
    ("Renove Auto Primavera 2026", "phone", "active", "AUT-TR-MAP", date(2026, 3, 1),
     date(2026, 12, 31)),
    ("Hogar Seguro Web", "web", "active", "HOG-PLUS-AXA", date(2026, 1, 15), None),
    ("Salud Empresas Otoño", "email", "planned", "SAL-COMP-SAN", date(2026, 12, 1),
     date(2027, 2, 28)),
]

LEADS: list[dict[str, Any]] = [
    {"name": "Javier Moreno Castro", "phone": "+34 611 223 344",
     "email": "javier.moreno@example.es", "source": "campaign", "product_interest": "auto",
     "campaign": "Renove Auto Primavera 2026", "notes": "Quiere comparar con su póliza actual."},
    {"name": "Lucía Romero Vidal", "phone": "+34 622 334 455", "source": "web",
     "product_interest": "home", "campaign": "Hogar Seguro Web", "agent_extension": "1001",
     "notes": "Piso de 80 m² en Sevilla, pide llamada por la tarde."},
    {"name": "Andrés Torres Ibáñez", "phone": "+34 633 445 566", "source": "referral",
     "product_interest": "life", "notes": "Recomendado por María Rodríguez."},
    {"name": "Elena Navarro Ortiz", "phone": "+34 644 556 677",
     "email": "elena.navarro@example.es", "source": "inbound_call",
     "product_interest": "health"},
]


def seed_sales(session: Session) -> None:
    """Products, campaigns and leads of the sales demo, what is missing of them."""
    products: dict[str, int] = {}
    for p in PRODUCTS:
        found = session.scalar(select(Product.id).where(Product.code == p["code"]))
        products[p["code"]] = found or create_product(session, actor=SEED, **p).id
    campaigns: dict[str, int] = {}
    for name, channel, status, code, start, end in CAMPAIGNS:
        found = session.scalar(select(Campaign.id).where(Campaign.name == name))
        campaigns[name] = found or create_campaign(
            session, actor=SEED, name=name, channel=channel, status=status, start_date=start,
            end_date=end, product_id=products[code]).id
    for data in LEADS:
        lead = dict(data)
        agent = lead.pop("agent_extension", None)
        campaign = lead.pop("campaign", None)
        if session.scalar(select(Lead.id).where(Lead.phone == normalise_phone(lead["phone"]))):
            continue
        row = create_lead(session, actor=SEED, own_extension=None,
                          campaign_id=campaigns[campaign] if campaign else None, **lead)
        if agent:  # the demo agent of the README; it may not be provisioned yet
            row.agent_extension = agent
            session.flush()


def _maria_history(session: Session, customer: Customer, now: datetime) -> None:
    """A claim in progress, two past calls with agent 1001, and pending tasks."""
    auto = customer.policies[0]
    claim = Claim(number="SIN-2026-000001", customer_id=customer.id, policy_id=auto.id,
                  status="investigating", incident_date=(now - timedelta(days=9)).date(),
                  reported_at=now - timedelta(days=8),
                  description="Golpe trasero en un semáforo en la calle Alcalá; "
                              "el otro conductor reconoce la culpa.",
                  claimed_amount=Decimal("1250.00"))
    session.add(claim)
    session.flush()
    record(session, SEED, "create", "claims", claim.id, after=claim.as_dict())
    record_interaction(session, actor=SEED, customer_id=customer.id, direction="inbound",
                       outcome="answered", agent_extension="1001",
                       started_at=now - timedelta(days=8), duration_s=412,
                       disposition="siniestro", notes="Da parte del siniestro SIN-2026-000001.")
    record_interaction(session, actor=SEED, customer_id=customer.id, direction="inbound",
                       outcome="answered", agent_extension="1001",
                       started_at=now - timedelta(days=2), duration_s=185,
                       disposition="consulta", notes="Pregunta por el estado del peritaje.")
    create_task(session, actor=SEED, kind="callback", customer_id=customer.id,
                scheduled_at=now + timedelta(days=1), agent_extension="1001",
                notes="Llamar cuando llegue el informe del perito.")
    create_task(session, actor=SEED, kind="follow_up", customer_id=customer.id,
                scheduled_at=now + timedelta(days=20),
                notes="Renovación de la póliza de hogar: ofrecer mejora de contenido.")
