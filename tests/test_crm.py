"""CRM data layer: identity rules (DNI/NIE, phones), customer search, the
lookups the ACD makes for every call, the agent's context, the audit log, and
the migration on SQLite and PostgreSQL. No telephony needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import control.models  # noqa: F401  (every table on Base.metadata)
from control.auth.audit import SEED, Actor
from control.auth.models import AuditEntry
from control.crm.customers import (
    create_customer,
    create_policy,
    create_task,
    customer_context,
    find_customer_by_phone,
    last_agent_for_customer,
    record_interaction,
    search_customers,
)
from control.crm.identity import DuplicateValue, normalise_dni, parse_phone
from control.crm.models import Claim, Quote, Task
from control.db import Base, Database
from control.errors import InvalidInput, NotFound
from control.settings import Settings
from tests.harness.crm import migrate
from tests.test_data_paths import pg_url  # noqa: F401  (fixture: throwaway PostgreSQL db)

ACTOR = Actor("ana@correduria.es", user_id=1)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
CRM_TABLES = {"customers", "customer_phones", "policies", "claims", "quotes", "interactions",
              "tasks", "users", "refresh_tokens", "audit_log"}


@pytest.fixture
def db(database: Database) -> Database:
    """The CRM service tests run on SQLite and on PostgreSQL (tests/conftest.py)."""
    return database


def _maria(session: Session, **overrides: Any) -> int:
    fields: dict[str, Any] = dict(
        name="María García López", phones=["612 34 56 78", "+34 912 345 678"],
        email="Maria.Garcia@Example.es", dni="12345678-z", segment="vip",
        address={"street": "Calle Mayor 1", "postal_code": "28013", "city": "Madrid"},
        tags=["Renovacion"])
    fields.update(overrides)
    return create_customer(session, actor=ACTOR, **fields).id


# -- identity rules --------------------------------------------------------------


@pytest.mark.parametrize("raw,expected", [
    ("12345678Z", "12345678Z"), ("12345678-z", "12345678Z"), (" 43464097 p ", "43464097P"),
    ("X1234567L", "X1234567L"), ("y7654321-g", "Y7654321G"), ("Z0000000M", "Z0000000M"),
])
def test_dni_and_nie_are_normalised(raw: str, expected: str) -> None:
    assert normalise_dni(raw) == expected


@pytest.mark.parametrize("raw,reason", [
    ("12345678A", "wrong check letter (expected Z)"),
    ("X1234567A", "wrong check letter (expected L)"),
    ("1234567Z", "is not a DNI"), ("A1234567Z", "is not a DNI"), ("", "is not a DNI"),
])
def test_bad_dni_is_refused_with_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        normalise_dni(raw)
    assert exc.value.field == "dni" and reason in exc.value.reason


@pytest.mark.parametrize("raw", ["612345678", "+34 612 34 56 78", "0034612345678",
                                 "34612345678", "(+34) 612-345-678", "612.34.56.78"])
def test_spanish_mobile_in_any_format_is_one_e164(raw: str) -> None:
    assert parse_phone(raw) == "+34612345678"


@pytest.mark.parametrize("raw", ["", "anonymous", "12345", "+34 12", "unknown"])
def test_caller_ids_that_are_not_numbers(raw: str) -> None:
    assert parse_phone(raw) is None


# -- customers -------------------------------------------------------------------


def test_customer_is_stored_normalised_and_audited(db: Database) -> None:
    with db.session() as s:
        cid = _maria(s)
    with db.session() as s:
        ctx = customer_context(s, cid)["customer"]
        audit = s.scalars(select(AuditEntry)).all()
    assert ctx["phones"] == ["+34612345678", "+34912345678"]
    assert ctx["dni"] == "12345678Z" and ctx["email"] == "maria.garcia@example.es"
    assert ctx["segment"] == "vip" and ctx["tags"] == ["renovacion"]
    assert [(a.actor, a.action, a.entity, a.entity_id) for a in audit] == [
        ("ana@correduria.es", "create", "customers", str(cid))]
    assert audit[0].before is None and audit[0].after is not None
    assert audit[0].after["dni"] == "12345678Z"


@pytest.mark.parametrize("overrides,field", [
    ({"name": "  "}, "name"),
    ({"phones": ["12345"]}, "phones"),
    ({"phones": [], "email": None}, "phones"),
    ({"email": "not-an-email"}, "email"),
    ({"dni": "12345678A"}, "dni"),
    ({"segment": "gold"}, "segment"),
    ({"language": "spanish"}, "language"),
    ({"address": {"planet": "Mars"}}, "address.planet"),
    ({"address": {"postal_code": "2801"}}, "address.postal_code"),
    ({"tags": ["no spaces"]}, "tags"),
])
def test_invalid_customer_names_the_field(db: Database, overrides: dict[str, Any],
                                          field: str) -> None:
    with pytest.raises(InvalidInput) as exc, db.session() as s:
        _maria(s, **overrides)
    assert exc.value.field == field
    with db.session() as s:  # nothing half-written
        assert s.scalar(text("SELECT count(*) FROM customers")) == 0
        assert s.scalar(text("SELECT count(*) FROM audit_log")) == 0


def test_a_dni_belongs_to_one_customer(db: Database) -> None:
    with db.session() as s:
        _maria(s)
    with pytest.raises(DuplicateValue) as exc, db.session() as s:
        _maria(s, name="Otra Persona", dni="12345678Z", phones=["699 11 22 33"])
    assert exc.value.field == "dni"


@pytest.mark.parametrize("phone", ["612345678", "+34612345678", "0034 612 345 678",
                                   "34612345678", "912 34 56 78"])
def test_search_by_phone_in_any_format(db: Database, phone: str) -> None:
    with db.session() as s:
        cid = _maria(s)
        _maria(s, name="Pedro Martínez", dni=None, email=None, phones=["699112233"])
        assert [c.id for c in search_customers(s, phone=phone)] == [cid]


def test_search_by_dni_email_and_name(db: Database) -> None:
    with db.session() as s:
        maria = _maria(s)
        pedro = _maria(s, name="Pedro Martínez Ruiz", dni="43464097P", email="pedro@example.es",
                       phones=["699112233"])
        assert [c.id for c in search_customers(s, dni="12345678-z")] == [maria]
        assert [c.id for c in search_customers(s, email="PEDRO@example.es")] == [pedro]
        # accents and case do not matter; the search box also takes a number or a DNI
        assert [c.id for c in search_customers(s, q="garcia")] == [maria]
        assert [c.id for c in search_customers(s, q="MARTINEZ")] == [pedro]
        assert [c.id for c in search_customers(s, q="699 11 22 33")] == [pedro]
        assert [c.id for c in search_customers(s, q="43464097p")] == [pedro]
        assert {c.id for c in search_customers(s, q="ar")} == {maria, pedro}
        assert search_customers(s, q="%_") == []  # wildcards are literal
        assert [c.id for c in search_customers(s, q="ar", dni="43464097P")] == [pedro]


@pytest.mark.parametrize("criteria,field", [
    ({}, "q"), ({"phone": "123"}, "phone"), ({"dni": "12345678A"}, "dni"),
    ({"email": "x"}, "email"), ({"q": "a"}, "q"), ({"q": "garcia", "limit": 0}, "limit"),
])
def test_bad_search_names_the_field(db: Database, criteria: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc, db.session() as s:
        search_customers(s, **criteria)
    assert exc.value.field == field


# -- what the ACD asks for every call ---------------------------------------------


def test_find_customer_by_phone_for_the_screen_pop(db: Database) -> None:
    with db.session() as s:
        cid = _maria(s)
    with db.session() as s:
        for raw in ("612345678", "+34612345678", "0034612345678", "34612345678"):
            found = find_customer_by_phone(s, raw)
            assert found is not None and found.id == cid
        for raw in ("", "anonymous", "699000000", "+34 12"):
            assert find_customer_by_phone(s, raw) is None


def test_shared_landline_gives_the_customer_contacted_last(db: Database) -> None:
    with db.session() as s:
        maria = _maria(s)
        pedro = _maria(s, name="Pedro García", dni=None, email=None, phones=["912345678"])
        assert find_customer_by_phone(s, "912345678").id == maria  # type: ignore[union-attr]
        record_interaction(s, actor=SEED, customer_id=pedro, direction="inbound",
                           outcome="answered", started_at=NOW, agent_extension="1002")
        assert find_customer_by_phone(s, "912345678").id == pedro  # type: ignore[union-attr]


def test_last_agent_is_the_last_one_who_answered(db: Database) -> None:
    with db.session() as s:
        cid = _maria(s)
        assert last_agent_for_customer(s, cid) is None
        for minutes, ext, outcome in ((0, "1001", "answered"), (10, "1002", "answered"),
                                      (20, "1003", "abandoned"), (30, None, "voicemail")):
            record_interaction(s, actor=SEED, customer_id=cid, direction="inbound",
                               outcome=outcome, agent_extension=ext,
                               started_at=NOW + timedelta(minutes=minutes))
        assert last_agent_for_customer(s, cid) == "1002"


def test_customer_context_has_what_is_open(db: Database) -> None:
    with db.session() as s:
        cid = _maria(s)
        other = _maria(s, name="Otro Cliente", dni=None, email=None, phones=["699112233"])
        auto = create_policy(s, actor=SEED, customer_id=cid, number="AUT-2026-0001", type="auto",
                             carrier="Mapfre", start_date=date(2026, 1, 1),
                             end_date=date(2027, 1, 1), premium="455.90",
                             vehicle={"plate": "1234KLM", "make": "Seat", "model": "León"})
        create_policy(s, actor=SEED, customer_id=cid, number="HOG-2020-0007", type="home",
                      carrier="AXA", start_date=date(2020, 1, 1), end_date=date(2021, 1, 1),
                      premium=210, status="expired")
        create_policy(s, actor=SEED, customer_id=other, number="VID-2026-0002", type="life",
                      carrier="Allianz", start_date=date(2026, 1, 1),
                      end_date=date(2036, 1, 1), premium="30.00")
        s.add_all([
            Claim(number="SIN-1", customer_id=cid, policy_id=auto.id, status="investigating",
                  incident_date=date(2026, 11, 2), reported_at=NOW, description="Golpe"),
            Claim(number="SIN-0", customer_id=cid, policy_id=auto.id, status="paid",
                  incident_date=date(2026, 3, 2), reported_at=NOW - timedelta(days=200)),
            Quote(number="PRE-1", customer_id=cid, product_type="home", premium="199.00",
                  status="sent", premium_breakdown={"base": "220.00"},
                  competitor_prices=[{"carrier": "Mapfre", "premium": "240.00"}]),
        ])
        for i in range(12):
            record_interaction(s, actor=SEED, customer_id=cid, direction="inbound",
                               outcome="answered", agent_extension="1001",
                               started_at=NOW + timedelta(hours=i), call_id=f"call-{i}")
        open_task = create_task(s, actor=SEED, kind="callback", customer_id=cid,
                                scheduled_at=NOW + timedelta(days=1))
        done = create_task(s, actor=SEED, kind="follow_up", customer_id=cid, scheduled_at=NOW,
                           notes="Enviar condiciones")
        done.status = "done"
    with db.session() as s:
        ctx = customer_context(s, cid)
    assert [p["number"] for p in ctx["policies"]] == ["AUT-2026-0001"]
    assert ctx["policies"][0]["premium"] == "455.90"
    assert ctx["policies"][0]["vehicle"]["model"] == "León"
    assert [c["number"] for c in ctx["claims"]] == ["SIN-1"]
    assert [q["number"] for q in ctx["quotes"]] == ["PRE-1"]
    assert len(ctx["interactions"]) == 10
    assert ctx["interactions"][0]["call_id"] == "call-11"  # newest first
    assert [t["id"] for t in ctx["tasks"]] == [open_task.id]
    assert ctx["tasks"][0]["phone"] == "+34612345678"  # callback: the first number
    assert ctx["last_agent"] == "1001"
    with db.session() as s, pytest.raises(NotFound):
        customer_context(s, 9999)


def test_tasks_and_interactions_validate(db: Database) -> None:
    with db.session() as s:
        cid = _maria(s)
        # a callback from an unknown caller: no customer, only the number
        task = create_task(s, actor=SEED, kind="callback", phone="0034 699 11 22 33",
                           scheduled_at=NOW)
        assert task.phone == "+34699112233" and task.customer_id is None
        with pytest.raises(InvalidInput, match="kind"):
            create_task(s, actor=SEED, kind="visit", customer_id=cid, scheduled_at=NOW)
        with pytest.raises(InvalidInput, match="phone"):
            create_task(s, actor=SEED, kind="callback", scheduled_at=NOW)
        with pytest.raises(InvalidInput, match="scheduled_at"):
            create_task(s, actor=SEED, kind="callback", customer_id=cid,
                        scheduled_at=datetime(2026, 1, 1))
        with pytest.raises(InvalidInput, match="outcome"):
            record_interaction(s, actor=SEED, customer_id=cid, direction="inbound",
                               outcome="great", started_at=NOW)
        with pytest.raises(NotFound):
            record_interaction(s, actor=SEED, customer_id=999, direction="inbound",
                               outcome="answered", started_at=NOW)
        with pytest.raises(InvalidInput, match="premium"):
            create_policy(s, actor=SEED, customer_id=cid, number="X-123", type="auto",
                          carrier="AXA", start_date=date(2026, 1, 1),
                          end_date=date(2027, 1, 1), premium="12.345")
        assert s.scalar(select(Task.id).where(Task.id == task.id)) == task.id


# -- schema ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_matches_the_models(tmp_path: Path, backend: str,
                                      request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    db = Database(Settings(var_dir=tmp_path, database_url_env=url))
    migrate(db)
    migrate(db)  # idempotent
    with db.engine.connect() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    mine = [d for d in diffs if CRM_TABLES & set(_tables_named(d))]
    assert mine == []
    # and the data really round-trips on this backend (JSON, Numeric, dates, FKs)
    with db.session() as s:
        cid = _maria(s)
        create_policy(s, actor=SEED, customer_id=cid, number="AUT-1", type="auto",
                      carrier="Mapfre", start_date=date(2026, 1, 1), end_date=date(2027, 1, 1),
                      premium="455.90", vehicle={"plate": "1234KLM"})
    with db.session() as s:
        ctx = customer_context(s, cid)
        assert ctx["policies"][0]["premium"] == "455.90"
        assert ctx["customer"]["address"]["city"] == "Madrid"
        assert find_customer_by_phone(s, "612345678").id == cid  # type: ignore[union-attr]
        assert [c.id for c in search_customers(s, q="GARCÍA")] == [cid]
    db.dispose()


def _tables_named(diff: Any) -> list[str]:
    """Table names an Alembic diff entry mentions, whatever its shape."""
    if isinstance(diff, list):
        return [n for d in diff for n in _tables_named(d)]
    names = []
    for item in diff[1:]:
        if isinstance(item, str):
            names.append(item)
        for attr in ("name", "table"):
            obj = getattr(item, attr, None)
            if isinstance(obj, str) and attr == "name" and hasattr(item, "columns"):
                names.append(obj)
            elif obj is not None and hasattr(obj, "name"):
                names.append(obj.name)
    return names


# -- demo data and the CLI -----------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from control.settings import reset_settings

    monkeypatch.setenv("AITCOMMS_VAR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_settings()
    yield tmp_path
    reset_settings()


def test_db_seed_is_spanish_complete_and_idempotent(cli_env: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from control.cli import main

    assert main(["db", "seed"]) == 0
    assert "customer María Rodríguez Sánchez added" in capsys.readouterr().out
    assert main(["db", "seed"]) == 0
    assert "demo data already there" in capsys.readouterr().out
    db = Database(Settings(var_dir=cli_env))
    with db.session() as s:
        counts = {t: s.scalar(text(f"SELECT count(*) FROM {t}"))
                  for t in ("customers", "policies", "claims", "quotes", "tasks", "users")}
        assert counts == {"customers": 5, "policies": 6, "claims": 1, "quotes": 1, "tasks": 2,
                          "users": 0}  # no users: no default passwords
        types = set(s.scalars(text("SELECT DISTINCT type FROM policies")))
        assert types == {"auto", "home", "life", "health"}
        maria = find_customer_by_phone(s, "612345678")
        assert maria is not None and maria.dni == "12345678Z"
        ctx = customer_context(s, maria.id)
        assert [c["number"] for c in ctx["claims"]] == ["SIN-2026-000001"]
        assert len(ctx["policies"]) == 2 and len(ctx["tasks"]) == 2
        assert last_agent_for_customer(s, maria.id) == "1001"
        assert s.scalar(text("SELECT count(*) FROM audit_log WHERE actor = 'seed'")) > 10
    db.dispose()


def test_cli_user_add(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from control.acd.agents import create_agent
    from control.auth.models import User
    from control.cli import main

    db = Database(Settings(var_dir=cli_env))
    db.upgrade()
    with db.session() as s:
        create_agent(s, extension="1001", name="Ana", password="sip-secret-1",
                     realm="aitcomms.local")
    assert main(["user", "add", "Ana@Correduria.es", "--role", "agent",
                 "--password", "una-clave-larga", "--agent", "1001"]) == 0
    assert "user ana@correduria.es created: role agent, agent 1001" in capsys.readouterr().out
    assert main(["user", "add", "jefe@correduria.es", "--role", "admin"]) == 0
    assert "generated password (shown once)" in capsys.readouterr().out
    for argv, message in (
        (["ana@correduria.es", "--role", "agent", "--password", "otra-clave-larga"],
         "email: a user ana@correduria.es already exists"),
        (["x@correduria.es", "--role", "agent", "--password", "corta"],
         "password: at least 10 characters"),
        (["y@correduria.es", "--role", "agent", "--password", "una-clave-larga",
          "--agent", "1999"], "agent: no agent with extension 1999"),
        (["not-an-email", "--role", "agent", "--password", "una-clave-larga"],
         "email: 'not-an-email' is not an e-mail address"),
    ):
        assert main(["user", "add", *argv]) == 2
        assert message in capsys.readouterr().err
    with db.session() as s:
        users = {u.email: u for u in s.scalars(select(User))}
        assert set(users) == {"ana@correduria.es", "jefe@correduria.es"}
        assert users["ana@correduria.es"].password_hash.startswith("$argon2id$")
        audit = s.scalars(select(AuditEntry).where(AuditEntry.entity == "users")).all()
        assert [(a.actor, a.action) for a in audit] == [("cli", "create"), ("cli", "create")]
    db.dispose()
