"""Outbound campaigns through the API (no Asterisk): calling lists from CSV with
their row-by-row report, do-not-call lists, settings refused field by field,
existing leads added, dispositions and callbacks driving the list, the audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

import control.models  # noqa: F401  (every table on Base.metadata)
from control.auth.models import AuditEntry
from control.campaigns import services
from control.campaigns.models import Attempt, ListEntry
from control.crm.seed import seed
from control.db import Base, Database
from tests.harness.api import Api, api
from tests.test_auth_api import cheap_hashes  # noqa: F401  (autouse fixture)

CAMPAIGN_TABLES = {"campaign_dialing", "campaign_list", "do_not_call", "campaign_attempts"}


def test_migration_matches_the_models(database: Database) -> None:
    with database.engine.connect() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    mine = [d for d in diffs if any(name in str(d) for name in CAMPAIGN_TABLES)]
    assert mine == []


async def _campaign(a: Api, token: str, **dialing: Any) -> int:
    status, body = await a.call("POST", "/api/v1/campaigns", token, json={
        "name": f"Renove {len(dialing)} {datetime.now(UTC).timestamp()}", "channel": "phone",
        "start_date": "2026-03-01"})
    assert status == 201, body
    cid = int(body["campaign"]["id"])
    status, body = await a.call("PUT", f"/api/v1/campaigns/{cid}/dialing", token,
                                json={"agents": ["1001"], **dialing})
    assert status == 200, body
    return cid


def _entries(db: Database, cid: int) -> list[dict[str, Any]]:
    with db.session() as s:
        return [e.as_dict() for e in s.scalars(
            select(ListEntry).where(ListEntry.campaign_id == cid).order_by(ListEntry.id))]


async def test_a_bad_csv_gets_a_row_by_row_report_and_only_good_rows(
        tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        sup = await a.token("supervisor")
        cid = await _campaign(a, sup)
        status, body = await a.call("POST", f"/api/v1/campaigns/{cid}/list", sup,
                                    json={"csv": "name,phone\nAna,612345678\nLuis,600111222\n"})
        assert status == 200 and body["report"]["imported"] == 2, body
        # one of them has been dialled twice: its state must survive any import
        with a.db.session() as s:
            entry = s.scalar(select(ListEntry).where(ListEntry.phone == "+34612345678"))
            assert entry is not None
            entry.attempts, entry.status, entry.last_result = 2, "retry", "busy"
            s.commit()
        before = _entries(a.db, cid)
        await a.call("POST", "/api/v1/dnc", sup, json={"csv": "+34 699 000 111"})
        # wrong columns: refused whole, nothing imported
        status, body = await a.call("POST", f"/api/v1/campaigns/{cid}/list", sup,
                                    data="nombre,movil\nEva,611222333\n")
        assert status == 422 and body["field"] == "file" and "phone" in body["reason"], body
        assert _entries(a.db, cid) == before
        bad = ("name,phone,email\n"
               "Eva,611 22 23 33,eva@example.com\n"  # 2: good
               "Tom,12,\n"  # 3: impossible (too short)
               "Sam,+34 612 345 678,\n"  # 4: already on the list
               "Kim,+1 212 736 5001,\n"  # 5: good (New York)
               "Bob,611222333,\n"  # 6: duplicate of line 2
               "Zoe,hello,\n"  # 7: not a number
               "Ian,+34 699 000 111,\n"  # 8: on the global do-not-call list
               "Lee,+34 500 000 000,\n"  # 9: no such numbering range
               "Max,,\n"  # 10: empty
               "Ned,622333444,x,extra\n")  # 11: more values than columns
        status, body = await a.call("POST", f"/api/v1/campaigns/{cid}/list", sup,
                                    data=bad.encode())
        assert status == 200, body
        report = body["report"]
        assert (report["imported"], report["rejected"]) == (2, 8), report
        reasons = {row["line"]: row["reason"] for row in report["rows"]}
        assert sorted(reasons) == [3, 4, 6, 7, 8, 9, 10, 11], reasons
        assert "impossible" in reasons[3] and "already on the list" in reasons[4]
        assert "duplicate of line 2" in reasons[6] and "not a phone number" in reasons[7]
        assert "do-not-call" in reasons[8] and "invalid" in reasons[9]
        assert "no phone number" in reasons[10] and "more values" in reasons[11]
        after = _entries(a.db, cid)
        assert after[:2] == before  # nothing stored changed
        added = {e["phone"]: e for e in after[2:]}
        assert set(added) == {"+34611222333", "+12127365001"}
        assert added["+12127365001"]["timezone"] == "America/New_York"
        assert set(added["+34611222333"]["timezone"].split(",")) <= {
            "Europe/Madrid", "Atlantic/Canary"}
        assert all(e["status"] == "pending" and e["attempts"] == 0 for e in added.values())
        with a.db.session() as s:
            audit = [(e.action, e.after) for e in s.scalars(
                select(AuditEntry).where(AuditEntry.action == "campaign.list_import"))]
        assert audit[-1] == ("campaign.list_import", {"imported": 2, "rejected": 8})


async def test_settings_are_refused_field_by_field(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        sup, agent = await a.token("supervisor"), await a.token("agent")
        cid = await _campaign(a, sup)
        status, body = await a.call("GET", f"/api/v1/campaigns/{cid}/dialing", sup)
        settings = body["dialing"]
        assert (settings["mode"], settings["abandon_cap_pct"], settings["amd"]) == (
            "progressive", 3.0, False)
        assert settings["retry_rules"]["busy"] == 600 and settings["retry_rules"]["no_answer"] \
            == 3600
        for bad, field in (({"mode": "turbo"}, "mode"), ({"ring_s": 10}, "ring_s"),
                           ({"retry_rules": {"busy": -1}}, "retry_rules.busy"),
                           ({"retry_rules": {"busyy": 60}}, "retry_rules.busyy"),
                           ({"hours_start": "25:00"}, "hours_start"), ({"days": [7]}, "days"),
                           ({"abandon_cap_pct": 120}, "abandon_cap_pct"),
                           ({"machine_action": "dance"}, "machine_action"),
                           ({"adapt": "reckless"}, "adapt"), ({"wrapup_s": -1}, "wrapup_s"),
                           ({"dispositions": [{"code": "a"}, {"code": "a"}]}, "dispositions[1]"),
                           ({"message": "../../etc/passwd"}, "message"),
                           ({"caller_id": "12"}, "caller_id"), ({"colour": "red"}, "colour"),
                           ({"amd": True, "machine_action": "message"}, "message")):
            status, body = await a.call("PUT", f"/api/v1/campaigns/{cid}/dialing", sup, json=bad)
            assert status == 422 and body["field"] == field, (bad, body)
        status, body = await a.call("GET", f"/api/v1/campaigns/{cid}/dialing", sup)
        assert body["dialing"] == settings  # nothing of the refused changes stored
        status, body = await a.call("PUT", f"/api/v1/campaigns/{cid}/dialing", agent,
                                    json={"mode": "predictive"})
        assert status == 403
        status, body = await a.call("PUT", f"/api/v1/campaigns/{cid}/dialing", sup, json={
            "mode": "predictive", "retry_rules": {"busy": 300, "no_answer": None},
            "abandon_window_s": 86400, "message": "custom/acme-abandon", "adapt": "tapered",
            "wrapup_s": 5})
        assert status == 200 and body["dialing"]["retry_rules"] == {"busy": 300}
        assert (body["dialing"]["adapt"], body["dialing"]["wrapup_s"]) == ("tapered", 5)
        status, body = await a.call("PUT", "/api/v1/campaigns/999/dialing", sup, json={})
        assert status == 404
        status, body = await a.call("POST", f"/api/v1/campaigns/{cid}/list", sup, json={})
        assert status == 422 and body["field"] == "csv"


async def test_existing_leads_and_do_not_call_lists(tmp_path: Path, database: Database) -> None:
    with database.session() as s:
        seed(s)  # seed 002's leads among the rest
        s.commit()
    async with api(tmp_path, db=database, seed=True) as a:
        sup = await a.token("supervisor")
        cid = await _campaign(a, sup)
        status, body = await a.call("GET", "/api/v1/leads", sup)
        leads = [lead for lead in body["leads"] if lead["phone"]]
        assert leads, body
        status, body = await a.call("POST", "/api/v1/dnc", sup,
                                    json={"csv": f"phone\n{leads[0]['phone']}\nnot-a-number\n"})
        assert status == 200 and body["report"]["imported"] == 1, body
        assert body["report"]["rows"][0]["line"] == 3
        status, body = await a.call("POST", f"/api/v1/campaigns/{cid}/leads", sup,
                                    json={"lead_ids": [lead["id"] for lead in leads]})
        assert status == 200, body
        report = body["report"]
        assert report["imported"] == len(leads) - 1 and report["rows"][0]["lead_id"] == \
            leads[0]["id"], report
        status, body = await a.call("POST", f"/api/v1/campaigns/{cid}/leads", sup,
                                    json={"lead_ids": [999999]})
        assert status == 404 and body["field"] == "lead_ids"
        # a campaign's own list, then a number already listed comes off the calling list
        listed = leads[1]["phone"]
        status, body = await a.call("POST", f"/api/v1/campaigns/{cid}/dnc", sup,
                                    json={"csv": listed})
        assert status == 200 and body["report"]["imported"] == 1
        status, body = await a.call("GET", f"/api/v1/campaigns/{cid}/list?status=dnc", sup)
        assert [e["phone"] for e in body["entries"]] == [listed]
        status, body = await a.call("GET", f"/api/v1/campaigns/{cid}/dnc", sup)
        assert [n["phone"] for n in body["numbers"]] == [listed]


async def test_dispositions_and_callbacks_drive_the_list(tmp_path: Path,
                                                         database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        sup, agent = await a.token("supervisor"), await a.token("agent")
        cid = await _campaign(a, sup, max_attempts=3)
        await a.call("POST", f"/api/v1/campaigns/{cid}/list", sup,
                     json={"csv": "phone\n612345678\n600111222\n"})
        now = datetime.now(UTC)
        with a.db.session() as s:  # two calls the dialer made and an agent took
            for i, entry in enumerate(s.scalars(select(ListEntry).where(
                    ListEntry.campaign_id == cid).order_by(ListEntry.id))):
                entry.status, entry.attempts = "calling", 1
                s.flush()
                services.start_attempt(s, entry, f"call-{i}", now, "1001")
                services.finish_attempt(s, f"call-{i}", now, result="human",
                                        answered_at=now, connected_at=now, agent="1001",
                                        talk_s=30.0)
            s.commit()
        status, body = await a.call("POST", "/api/v1/campaign-calls/call-0/disposition",
                                    agent, json={"disposition": "teleport"})
        assert status == 422 and body["field"] == "disposition"
        status, body = await a.call("POST", "/api/v1/campaign-calls/call-0/disposition",
                                    agent, json={"disposition": "do_not_call"})
        assert status == 200 and body["entry"]["status"] == "dnc", body
        status, body = await a.call("GET", f"/api/v1/campaigns/{cid}/dnc", sup)
        assert [n["phone"] for n in body["numbers"]] == ["+34612345678"]
        later = now + timedelta(hours=2)
        status, body = await a.call("POST", "/api/v1/campaign-calls/call-1/disposition",
                                    agent, json={"disposition": "call_back",
                                                 "callback_at": later.isoformat()})
        assert status == 200, body
        entry = body["entry"]
        assert (entry["status"], entry["callback_agent"]) == ("callback", "1001")
        assert datetime.fromisoformat(entry["callback_at"]) == later
        status, body = await a.call("POST", "/api/v1/campaign-callbacks", agent, json={
            "entry_id": entry["id"], "at": (now - timedelta(minutes=1)).isoformat()})
        assert status == 422 and body["field"] == "at"
        status, body = await a.call("POST", "/api/v1/campaign-callbacks", agent, json={
            "entry_id": entry["id"], "at": "tomorrow"})
        assert status == 422 and body["field"] == "at"
        status, body = await a.call("GET", f"/api/v1/campaigns/{cid}/figures", sup)
        figures = body["figures"]
        assert (figures["dialled"], figures["answered"], figures["abandoned_pct"]) == (2, 2, 0.0)
        assert figures["talk_minutes"] == 1.0 and figures["penetration_pct"] == 100.0
        with a.db.session() as s:
            assert s.scalar(select(Attempt.disposition).where(Attempt.call_id == "call-1")) \
                == "call_back"
