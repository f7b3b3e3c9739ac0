"""Acceptance: calls are routed on the caller's needs as the customer's file
defines them (real SIPp calls from the trunk through Kamailio and Asterisk to
SIPp agents' phones, the control plane's router on ARI).

A DID that goes straight to a queue passes no IVR language or skills: the
customer's record decides the language (else the queue), and an open claim
or an active policy adds a skill through the queue's mapping. Each test also
places the same call from an unknown number, which rings the other agent:
what changed the choice is the customer's file. The stored decision says
where each need came from.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from control.auth.audit import Actor
from control.db import Database
from tests.conftest import StackUnderTest
from tests.harness.rtp import RtpEndpoint
from tests.test_acd import (
    add_agent,
    agent_phones,
    api,
    api_send,
    calls,
    rows,
    setup_queue,
    supervisor_token,
    wait_until,
)
from tests.test_calls import TRUNK_IP, caller

UNKNOWN = "34699000111"  # a caller ID no customer has


def add_customer(stack: StackUnderTest, phone: str, language: str,
                 open_claim: bool = False) -> int:
    """A customer with ``phone``; with ``open_claim``, an active auto policy
    and a claim on it still open."""
    from control.crm.book import open_claim as report_claim
    from control.crm.customers import create_customer, create_policy

    actor = Actor("test")
    db = Database(stack.settings)
    with db.session() as session:
        customer = create_customer(session, actor=actor, name="Emma Clarke", phones=[phone],
                                   language=language)
        if open_claim:
            today = datetime.now(UTC).date()
            policy = create_policy(session, actor=actor, customer_id=customer.id,
                                   number="AUT-2026-0042", type="auto", carrier="Mapfre",
                                   start_date=today - timedelta(days=90),
                                   end_date=today + timedelta(days=275), premium="455.90")
            report_claim(session, actor=actor, policy_id=policy.id,
                         incident_date=today - timedelta(days=2),
                         description="rear-ended at a traffic light")
        customer_id = customer.id
    db.dispose()
    return customer_id


async def call_and_answer(stack: StackUnderTest, did: str, from_user: str,
                          phones: dict[str, Any], expected: str) -> dict[str, Any]:
    """One call from ``from_user`` to ``did``, answered by ``expected`` while
    the other phones stay silent; the completed calls row."""
    others = {ext: phone.rtp.packets for ext, phone in phones.items() if ext != expected}
    rtp = await RtpEndpoint.open(TRUNK_IP)
    try:
        result = await caller(stack, did, rtp, call_ms=3000, from_user=from_user).run()
    finally:
        rtp.close()
    assert result.returncode == 0, result.output
    answered = await phones[expected].result()
    assert answered.returncode == 0 and answered.successful == 1, answered.output
    for ext, before in others.items():
        assert phones[ext].rtp.packets == before, f"{ext} was bridged, not {expected}"
    row = await wait_until(lambda: (c := calls(stack)[-1])["state"] == "completed" and c) \
        or calls(stack)[-1]
    assert row["state"] == "completed" and row["agent_extension"] == expected, row
    return dict(row)


def decisions(stack: StackUnderTest, call_id: str) -> list[dict[str, Any]]:
    return list(api(stack, f"/api/v1/calls/{call_id}/routing")["decisions"])


async def test_known_customer_in_english_rings_the_english_speaking_agent_first(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    # 1001 speaks the queue's Spanish only and has waited longest: without the
    # customer's record it would be first (test_acd covers that scoring)
    add_agent(stack, "1001", languages="es")
    add_agent(stack, "1002", languages="en")
    customer_id = add_customer(stack, "+34600222333", language="en")
    setup_queue(stack, "ventas", "+34910000040", "1001,1002", "--language", "es",
                "--wrapup", "1")
    async with agent_phones(stack, "1001", "1002") as phones:
        known = await call_and_answer(stack, "+34910000040", "34600222333", phones, "1002")
        stranger = await call_and_answer(stack, "+34910000040", UNKNOWN, phones, "1001")

    assert known["customer_id"] == customer_id and known["language"] == "en"
    [decision] = decisions(stack, known["id"])  # rang once: the English speaker
    assert decision["chosen"] == "1002"
    assert decision["needs"] == {"language": {"value": "en", "source": "customer"},
                                 "skills": []}
    breakdown = {c["extension"]: c["breakdown"] for c in decision["candidates"]}
    assert breakdown == {"1002": {"language": 20}, "1001": {}}

    # the same DID from a number nobody has: the queue's language, the other agent
    assert stranger["customer_id"] is None and stranger["language"] == "es"
    [decision] = decisions(stack, stranger["id"])
    assert decision["chosen"] == "1001"
    assert decision["needs"]["language"] == {"value": "es", "source": "queue"}


async def test_customer_with_an_open_claim_rings_the_claims_agent_first(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    # both take the queue's auto calls in Spanish; 1003 has waited longest
    add_agent(stack, "1003", languages="es", skills="auto")
    add_agent(stack, "1004", languages="es", skills="auto,claims")
    customer_id = add_customer(stack, "+34600333444", language="es", open_claim=True)
    setup_queue(stack, "autos", "+34910000041", "1003,1004", "--skills", "auto",
                "--language", "es", "--wrapup", "1")
    async with agent_phones(stack, "1003", "1004") as phones:
        known = await call_and_answer(stack, "+34910000041", "34600333444", phones, "1004")
        stranger = await call_and_answer(stack, "+34910000041", UNKNOWN, phones, "1003")

    assert known["customer_id"] == customer_id
    assert json.loads(known["skills"]) == ["auto", "claims"]  # raw row: JSON text
    [decision] = decisions(stack, known["id"])
    assert decision["chosen"] == "1004"
    # auto is the queue's (the auto policy maps to it too: listed once), claims
    # comes from the open claim in the customer's file
    assert decision["needs"] == {
        "language": {"value": "es", "source": "customer"},
        "skills": [{"skill": "auto", "source": "queue"},
                   {"skill": "claims", "source": "customer"}]}
    breakdown = {c["extension"]: c["breakdown"] for c in decision["candidates"]}
    assert breakdown == {"1004": {"language": 20, "skills": 20},
                         "1003": {"language": 20, "skills": 10}}

    [decision] = decisions(stack, stranger["id"])
    assert decision["chosen"] == "1003"
    assert decision["needs"]["skills"] == [{"skill": "auto", "source": "queue"}]


async def test_context_skill_mapping_refuses_bad_input_and_leaves_queues_as_they_were(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("queue", "add", "autos", "--skills", "auto")
    token = supervisor_token(stack)
    updates = ("SELECT actor FROM audit_log WHERE entity = 'queues' AND action = 'update' "
               "AND id > {}")
    last_audit = rows(stack, "SELECT coalesce(max(id), 0) AS id FROM audit_log")[0]["id"]
    before = api(stack, "/api/v1/queues")["queues"]
    assert before[0]["context_skills"] == {
        "open_claim": "claims", "policy:auto": "auto", "policy:home": "home",
        "policy:life": "life", "policy:health": "health"}
    for bad, field in (({"context_skills": ["claims"]}, "context_skills"),
                       ({"context_skills": {"vip": "vip"}}, "context_skills.vip"),
                       ({"context_skills": {"open_claim": "Bad Skill"}},
                        "context_skills.open_claim"),
                       # a good entry beside a bad one is not stored either
                       ({"context_skills": {"policy:home": "hogar", "policy:boat": "x"}},
                        "context_skills.policy:boat"),
                       ({"context_skill": {"open_claim": "claims"}}, "context_skill")):
        status, body = api_send(stack, "PATCH", "/api/v1/queues/autos", bad, token)
        assert (status, body.get("field")) == (422, field), body
    proc = stack.aitcomms("queue", "update", "autos", "--context-skill", "policy:boat=boats",
                          check=False)
    assert proc.returncode == 2 and "context_skills.policy:boat" in proc.stderr, proc.stderr
    assert api(stack, "/api/v1/queues")["queues"] == before
    assert not rows(stack, updates.format(last_audit))

    # good input: the CLI and the API change it, audited
    out = stack.aitcomms("queue", "update", "autos", "--context-skill", "open_claim=siniestros",
                         "--context-skill", "policy:life=").stdout
    assert "open_claim=siniestros" in out and "policy:life" not in out
    status, body = api_send(stack, "PATCH", "/api/v1/queues/autos",
                            {"context_skills": {"policy:home": "hogar"}}, token)
    assert status == 200, body
    assert body["queue"]["context_skills"] == {
        "open_claim": "siniestros", "policy:auto": "auto", "policy:home": "hogar",
        "policy:health": "health"}
    assert [r["actor"] for r in rows(stack, updates.format(last_audit))] == [
        "cli", "wallboard@example.com"]
