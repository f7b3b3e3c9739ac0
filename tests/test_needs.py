"""The caller's needs (control.acd.needs), fast: which language and skills a
call is routed on and where each came from (IVR, customer record, queue);
the queue's context-to-skill mapping as admins change it (service, API, CLI
parsing), audited; the stored decision keeping the needs; the migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from control.acd.customers import CrmLink
from control.acd.models import Queue, RoutingDecision
from control.acd.needs import (
    CONTEXT_KEYS,
    DEFAULT_CONTEXT_SKILLS,
    Needs,
    inferred_skills,
    language_code,
    resolve,
)
from control.acd.queues import create_queue, update_queue
from control.acd.store import AcdStore
from control.auth.models import AuditEntry
from control.cli import _context_skills
from control.db import Base, Database
from control.errors import InvalidInput
from tests.harness.crm import sqlite_database
from tests.test_admin_api import admin_api, send

QUEUE: dict[str, Any] = {"name": "autos", "language": "es", "skills": ["auto"],
                         "context_skills": dict(DEFAULT_CONTEXT_SKILLS)}


def customer(language: str | None = "en", claims: list[dict[str, Any]] | None = None,
             policies: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A screen-pop context as control.crm.customers.customer_context makes it."""
    return {"customer": {"id": 7, "name": "Emma Clarke", "language": language},
            "claims": claims or [], "policies": policies or [], "quotes": [],
            "interactions": [], "tasks": [], "last_agent": None}


def policy(kind: str, status: str = "active") -> dict[str, Any]:
    return {"id": 1, "number": f"{kind.upper()}-1", "type": kind, "status": status}


OPEN_CLAIM = {"id": 3, "number": "SIN-2026-0001", "status": "reported"}


# -- language: IVR, else customer, else queue --------------------------------------------


def test_language_the_ivr_choice_wins() -> None:
    needs = resolve(["en", ""], customer(language="fr"), QUEUE)
    assert (needs.language, needs.language_source) == ("en", "ivr")


def test_language_of_the_customer_without_ivr() -> None:
    # a DID straight to a queue: the dialplan passes AIT_LANGUAGE empty
    needs = resolve(["", ""], customer(language="en"), QUEUE)
    assert (needs.language, needs.language_source) == ("en", "customer")
    # or passes nothing at all
    assert resolve([], customer(language="en"), QUEUE).language_source == "customer"


def test_language_of_the_queue_for_an_unknown_caller() -> None:
    needs = resolve(["", ""], {}, QUEUE | {"language": "ca"})
    assert (needs.language, needs.language_source) == ("ca", "queue")


@pytest.mark.parametrize("ivr_value", ["", "   ", "español", "1", "e", "e1", "${X}"])
def test_language_unusable_ivr_values_fall_through(ivr_value: str) -> None:
    assert resolve([ivr_value], customer(language="en"), QUEUE).language_source == "customer"


@pytest.mark.parametrize("record", [None, "", "english", 3])
def test_language_unusable_customer_values_fall_through(record: Any) -> None:
    ctx = customer()
    ctx["customer"]["language"] = record
    needs = resolve(["", ""], ctx, QUEUE)
    assert (needs.language, needs.language_source) == ("es", "queue")


def test_language_codes_are_normalised() -> None:
    assert [language_code(v) for v in ("en", "EN", " en_GB ", "pt-BR", "eng", None, 1)] == [
        "en", "en", "en", "pt", None, None, None]
    assert resolve(["EN_us"], {}, QUEUE).language == "en"


def test_language_queue_without_a_usable_language_falls_back_to_spanish() -> None:
    needs = resolve([], {}, {"skills": []})
    assert (needs.language, needs.language_source) == ("es", "queue")


# -- skills: IVR or queue, plus what the customer's file implies ----------------------


def test_skills_of_the_queue_for_an_unknown_caller() -> None:
    needs = resolve(["", ""], {}, QUEUE)
    assert needs.skill_sources == (("auto", "queue"),)
    assert needs.skills == ("auto",)


def test_skills_of_the_ivr_replace_the_queues() -> None:
    needs = resolve(["es", "home|life"], {}, QUEUE)
    assert needs.skill_sources == (("home", "ivr"), ("life", "ivr"))


def test_open_claim_adds_claims_to_the_queue_skills() -> None:
    needs = resolve(["", ""], customer(claims=[OPEN_CLAIM]), QUEUE)
    assert needs.as_dict() == {
        "language": {"value": "en", "source": "customer"},
        "skills": [{"skill": "auto", "source": "queue"},
                   {"skill": "claims", "source": "customer"}]}


def test_active_policies_add_their_lines_once_each() -> None:
    ctx = customer(claims=[OPEN_CLAIM], policies=[policy("home"), policy("life"),
                                                  policy("home"), policy("auto")])
    needs = resolve(["", ""], ctx, QUEUE)
    # auto is the queue's already: one entry, from the queue
    assert needs.skill_sources == (("auto", "queue"), ("claims", "customer"),
                                   ("home", "customer"), ("life", "customer"))


def test_customer_skills_add_to_the_ivr_ones_too() -> None:
    needs = resolve(["es", "home"], customer(claims=[OPEN_CLAIM]), QUEUE)
    assert needs.skill_sources == (("home", "ivr"), ("claims", "customer"))


def test_closed_claims_and_inactive_policies_imply_nothing() -> None:
    ctx = customer(claims=[{"id": 1, "status": "paid"}, {"id": 2, "status": "denied"}],
                   policies=[policy("life", "cancelled"), policy("home", "expired")])
    assert inferred_skills(ctx, DEFAULT_CONTEXT_SKILLS) == []


def test_unknown_and_malformed_context_is_ignored() -> None:
    ctx: dict[str, Any] = {"customer": "not a record", "claims": ["x", None],
                           "policies": [{"type": "boat"}, {"type": None}, "auto", {}]}
    needs = resolve(["", ""], ctx, QUEUE)
    assert needs.skill_sources == (("auto", "queue"),)
    assert needs.language_source == "queue"


def test_empty_and_bad_ivr_skills_fall_back_to_the_queue() -> None:
    for raw in ("", "|", " | ", "Bad Skill|!!"):
        assert resolve(["", raw], {}, QUEUE).skill_sources == (("auto", "queue"),), raw
    # upper case and blanks are cleaned, repeats dropped
    assert resolve(["", " Home|home||LIFE "], {}, QUEUE).skills == ("home", "life")


def test_a_queue_without_skills_or_mapping() -> None:
    # a queue dict without context_skills (an older reader): the default mapping
    needs = resolve([], customer(claims=[OPEN_CLAIM]), {"language": "es", "skills": []})
    assert needs.skill_sources == (("claims", "customer"),)


# -- the queue's mapping overrides the default ------------------------------------------


def test_mapping_overrides() -> None:
    ctx = customer(claims=[OPEN_CLAIM], policies=[policy("life"), policy("health")])
    queue = QUEUE | {"context_skills": {"open_claim": "siniestros", "policy:life": "vida"}}
    # health is not in this queue's mapping: nothing inferred from it
    assert resolve([], ctx, queue).skill_sources == (
        ("auto", "queue"), ("siniestros", "customer"), ("vida", "customer"))
    assert resolve([], ctx, QUEUE | {"context_skills": {}}).skills == ("auto",)


def test_default_mapping_covers_every_context_key() -> None:
    assert set(DEFAULT_CONTEXT_SKILLS) == set(CONTEXT_KEYS)
    assert DEFAULT_CONTEXT_SKILLS == {"open_claim": "claims", "policy:auto": "auto",
                                      "policy:home": "home", "policy:life": "life",
                                      "policy:health": "health"}


def test_needs_is_plain_data() -> None:
    needs = Needs("en", "customer", (("claims", "customer"),))
    assert needs.skills == ("claims",)
    assert needs.as_dict()["skills"] == [{"skill": "claims", "source": "customer"}]


# -- the mapping as admins change it ------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = sqlite_database(tmp_path)
    yield database
    database.dispose()


def _audits(db: Database) -> list[AuditEntry]:
    with db.session() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "queues")
                              .order_by(AuditEntry.id)))
        s.expunge_all()
        return rows


def test_service_sets_entries_and_audits(db: Database) -> None:
    with db.session() as s:
        create_queue(s, name="autos", skills=["auto"])
    assert AcdStore(db).queue("autos")["context_skills"] == DEFAULT_CONTEXT_SKILLS  # type: ignore[index]
    with db.session() as s:
        q = update_queue(s, "autos", context_skills={"open_claim": "Siniestros",
                                                     "policy:life": None,
                                                     "policy:health": ""})
        assert q.as_dict()["context_skills"] == {"open_claim": "siniestros",
                                                 "policy:auto": "auto", "policy:home": "home"}
    # a removed entry stays removed: the default does not come back
    with db.session() as s:
        update_queue(s, "autos", context_skills={"policy:home": "hogar"})
    assert AcdStore(db).queue("autos")["context_skills"] == {  # type: ignore[index]
        "open_claim": "siniestros", "policy:auto": "auto", "policy:home": "hogar"}
    entries = _audits(db)
    assert [e.action for e in entries] == ["create", "update", "update"]
    assert entries[1].before["context_skills"] == DEFAULT_CONTEXT_SKILLS  # type: ignore[index]
    assert entries[2].after["context_skills"]["policy:home"] == "hogar"  # type: ignore[index]
    # no change, no audit entry
    with db.session() as s:
        update_queue(s, "autos", context_skills={"policy:home": "hogar"})
    assert len(_audits(db)) == 3


@pytest.mark.parametrize(("bad", "field"), [
    ({"policy:boat": "boats"}, "context_skills.policy:boat"),
    ({"claims": "claims"}, "context_skills.claims"),
    ({"open_claim": "Bad Skill"}, "context_skills.open_claim"),
    ({"open_claim": 3}, "context_skills.open_claim"),
    ({"open_claim": ["claims"]}, "context_skills.open_claim"),
])
def test_service_refuses_bad_entries_naming_them(db: Database, bad: dict[str, Any],
                                                 field: str) -> None:
    with db.session() as s:
        create_queue(s, name="autos")
    with pytest.raises(InvalidInput) as err, db.session() as s:
        update_queue(s, "autos", context_skills={"policy:auto": "coches", **bad})
    assert err.value.field == field
    with db.session() as s:  # nothing stored, not even the good entry
        assert s.scalar(select(Queue.context_skills)) is None


def test_cli_syntax() -> None:
    assert _context_skills(None) is None
    assert _context_skills(["open_claim=claims", "policy:auto = coches", "policy:life="]) == {
        "open_claim": "claims", "policy:auto": "coches", "policy:life": None}
    for bad in ("open_claim", "=claims"):
        with pytest.raises(InvalidInput) as err:
            _context_skills([bad])
        assert err.value.field == "context-skill"


async def test_api_sets_the_mapping_and_names_bad_fields(tmp_path: Path) -> None:
    async with admin_api(tmp_path) as (a, _applied):
        sup = await a.token("supervisor")
        assert (await send(a, "POST", "/api/v1/queues", sup, {"name": "autos"}))[0] == 201
        status, body = await send(a, "PATCH", "/api/v1/queues/autos", sup,
                                  {"context_skills": {"open_claim": "siniestros",
                                                      "policy:life": None}})
        assert status == 200, body
        assert body["queue"]["context_skills"] == {
            "open_claim": "siniestros", "policy:auto": "auto", "policy:home": "home",
            "policy:health": "health"}
        for bad, field in (({"context_skills": []}, "context_skills"),
                           ({"context_skills": "claims"}, "context_skills"),
                           ({"context_skills": {"vip": "vip"}}, "context_skills.vip"),
                           ({"context_skills": {"open_claim": 1}}, "context_skills.open_claim"),
                           ({"context_skills": {"open_claim": "a b"}},
                            "context_skills.open_claim")):
            status, body = await send(a, "PATCH", "/api/v1/queues/autos", sup, bad)
            assert (status, body.get("field")) == (422, field), body
        assert AcdStore(a.db).queue("autos")["context_skills"]["open_claim"] == "siniestros"  # type: ignore[index]


# -- the stored decision, and the schema ---------------------------------------------------


def test_decision_keeps_the_needs(db: Database) -> None:
    store = AcdStore(db)
    with db.session() as s:
        create_queue(s, name="autos")
    call = store.create_call(caller_channel="c1", queue="autos", language="en")
    needs = resolve([], customer(claims=[OPEN_CLAIM]), store.queue("autos") or {}).as_dict()
    log = CrmLink(db)

    def decide(call_id: str, chosen: str | None, reason: str,
               needs: dict[str, Any] | None = None) -> None:
        # as the call log writes it (control.acd.call_log)
        log.apply_now([{"op": "decision", "call_id": call_id, "candidates": [],
                        "chosen": chosen, "reason": reason, "needs": needs,
                        "decided_at": "2026-12-06T10:00:00+00:00"}])

    decide(call["id"], "1001", "first", needs)
    # a later decision without them (a call rebuilt after a restart, a transfer)
    # carries the call's needs on
    decide(call["id"], "1002", "after a restart")
    decisions = store.decisions(call["id"])
    assert [d["needs"] for d in decisions] == [needs, needs]
    assert decisions[0]["needs"]["language"] == {"value": "en", "source": "customer"}
    other = store.create_call(caller_channel="c2", queue="autos")
    decide(other["id"], None, "nobody")
    assert store.decisions(other["id"])[0]["needs"] is None


def test_migration_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)

    def tables(diff: Any) -> set[str]:
        names: set[str] = set()
        for item in diff if isinstance(diff, list) else [diff]:
            for part in item:
                table = getattr(part, "table", None)
                names.update(n for n in (part if isinstance(part, str) else
                                         getattr(part, "name", None),
                                         getattr(table, "name", None)) if n)
        return names

    assert [d for d in diffs if {"queues", "routing_decisions"} & tables(d)] == []
    assert {"context_skills"} <= {c.name for c in Queue.__table__.columns}
    assert {"needs"} <= {c.name for c in RoutingDecision.__table__.columns}
