"""The campaign rules alone, with the clock forced: calling hours in the lead's
own time zone, retries per result, and the dialer's choice of numbers (never
a do-not-call number, never outside the hours, callbacks to their agent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

import control.models  # noqa: F401  (every table on Base.metadata)
from control.auth.audit import CLI
from control.campaigns import rules, services
from control.campaigns.dialer import forced_clock, make_pacer
from control.campaigns.models import EntryStatus, ListEntry
from control.crm.sales import Campaign
from control.db import Database
from tests.harness.crm import sqlite_database

MADRID_NOON_WED = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # 12:00 in Madrid, 06:00 in New York
WEEKDAYS = [0, 1, 2, 3, 4]


def test_calling_hours_are_the_leads_own() -> None:
    madrid, canary, new_york = ["Europe/Madrid"], ["Atlantic/Canary"], ["America/New_York"]
    assert rules.within_hours(MADRID_NOON_WED, madrid, "09:00", "21:00", WEEKDAYS)
    assert not rules.within_hours(MADRID_NOON_WED, new_york, "09:00", "21:00", WEEKDAYS)
    # a Spanish mobile may be in the Canaries, an hour behind: both must allow it
    early = MADRID_NOON_WED.replace(hour=8, minute=30)  # 09:30 Madrid, 08:30 Canaries
    assert rules.within_hours(early, madrid, "09:00", "21:00", WEEKDAYS)
    assert not rules.within_hours(early, madrid + canary, "09:00", "21:00", WEEKDAYS)
    # the end is exclusive; a window across midnight; weekdays in the lead's zone
    assert not rules.within_hours(MADRID_NOON_WED.replace(hour=20), madrid, "09:00", "21:00",
                                  WEEKDAYS)
    late = MADRID_NOON_WED.replace(hour=23, minute=30)  # 00:30 Thursday in Madrid
    assert rules.within_hours(late, madrid, "22:00", "02:00", [2])  # Wednesday's window
    assert not rules.within_hours(late, madrid, "22:00", "02:00", [3])
    saturday = MADRID_NOON_WED + timedelta(days=3)
    assert not rules.within_hours(saturday, madrid, "09:00", "21:00", WEEKDAYS)
    assert not rules.within_hours(MADRID_NOON_WED, [], "00:00", "23:59", WEEKDAYS)
    assert rules.lead_zones("+12127365001") == ["America/New_York"]
    assert "Europe/Madrid" in rules.lead_zones("+34612345678")


def test_retries_follow_the_rules() -> None:
    now = MADRID_NOON_WED
    rules_s = {"busy": 600, "no_answer": 3600, "abandoned": 7200}
    assert rules.after_attempt("busy", False, 1, 3, rules_s, now) == rules.Next(
        "retry", now + timedelta(minutes=10))
    assert rules.after_attempt("no_answer", False, 2, 3, rules_s, now).at == now + \
        timedelta(hours=1)
    assert rules.after_attempt("human", True, 1, 3, rules_s, now).at == now + timedelta(hours=2)
    assert rules.after_attempt("busy", False, 3, 3, rules_s, now) == rules.Next("done")
    assert rules.after_attempt("machine", False, 1, 3, rules_s, now) == rules.Next("done")
    assert rules.after_disposition({"final": False, "retry_s": 60}, 1, 3, now).at == \
        now + timedelta(minutes=1)
    assert rules.after_disposition({"final": True}, 1, 3, now).status == "done"
    assert [rules.result_of_cause(c) for c in (17, 19, 18, 34, None)] == [
        "busy", "no_answer", "no_answer", "failed", "no_answer"]


def test_progressive_never_more_lines_than_free_agents() -> None:
    pacer = make_pacer({"mode": "progressive", "abandon_cap_pct": 3.0,
                        "abandon_window_s": 86400, "adapt": "hard_limit"})
    for free in range(0, 5):
        for out in range(0, 6):
            lines = pacer.lines_to_dial(0.0, agents_free=free, agents_soon_free=3,
                                        lines_in_progress=out)
            assert lines + out <= max(free, out) and lines >= 0


def test_the_campaigns_method_and_cap_reach_its_pacer() -> None:
    pacer = make_pacer({"mode": "predictive", "abandon_cap_pct": 5.0,
                        "abandon_window_s": 3600, "adapt": "tapered"})
    assert (pacer.settings.mode, pacer.settings.adapt) == ("predictive", "tapered")
    assert (pacer.settings.abandon_cap, pacer.settings.window_s) == (0.05, 3600.0)


def _campaign(db: Database, numbers: list[str], **dialing: object) -> int:
    with db.session() as s:
        campaign = Campaign(name="Renove", channel="phone",
                            start_date=MADRID_NOON_WED.date(), status="active")
        s.add(campaign)
        s.flush()
        services.configure(s, campaign.id, {"agents": ["1001", "1002"], "days": WEEKDAYS,
                                            **dialing}, actor=CLI)
        services.import_list(s, campaign.id, "phone\n" + "\n".join(numbers), actor=CLI)
        s.commit()
        return campaign.id


def test_the_dialer_never_picks_do_not_call_nor_out_of_hours_numbers(tmp_path: Path) -> None:
    db = sqlite_database(tmp_path)
    numbers = ["+34612000001", "+34612000002", "+12127365001", "+34612000003"]
    cid = _campaign(db, numbers, hours_start="09:00", hours_end="21:00")
    with db.session() as s:
        services.add_dnc(s, "+34612000002", None, "asked", actor=CLI)
        services.add_dnc(s, "+34612000003", cid, "asked", actor=CLI)
        s.commit()
    clock = forced_clock(MADRID_NOON_WED)
    with db.session() as s:
        picked = services.claim_due(s, cid, 10, clock(), {"1001", "1002"})
        assert [e.phone for e, _ in picked] == ["+34612000001"]
        s.commit()
    # at 06:00 in Madrid nobody; at 15:00 in New York the American lead
    for at, expected in ((MADRID_NOON_WED.replace(hour=5), []),
                         (MADRID_NOON_WED.replace(hour=20), ["+12127365001"])):
        with db.session() as s:
            s.execute(ListEntry.__table__.update().where(
                ListEntry.status == EntryStatus.CALLING.value).values(status="pending"))
            picked = services.claim_due(s, cid, 10, at, {"1001"})
            assert [e.phone for e, _ in picked if e.phone != "+34612000001"] == expected, at
            s.rollback()
    with db.session() as s:
        statuses = {e.phone: e.status for e in s.scalars(select(ListEntry))}
    assert statuses["+34612000002"] == statuses["+34612000003"] == "dnc"
    db.dispose()


def test_a_callback_waits_for_its_agent_then_goes_to_anyone(tmp_path: Path) -> None:
    db = sqlite_database(tmp_path)
    cid = _campaign(db, ["+34612000001", "+34612000004"], hours_start="00:00",
                    hours_end="23:59", days=[0, 1, 2, 3, 4, 5, 6])
    now = MADRID_NOON_WED
    with db.session() as s:
        entry = s.scalar(select(ListEntry).where(ListEntry.phone == "+34612000004"))
        assert entry is not None
        services.schedule_callback(s, entry.id, now + timedelta(minutes=5), "1002", actor=CLI)
        others = s.scalar(select(ListEntry).where(ListEntry.phone == "+34612000001"))
        assert others is not None
        others.status = "done"
        s.commit()
    with db.session() as s:  # not yet its time
        assert services.claim_due(s, cid, 5, now, {"1001", "1002"}) == []
        s.rollback()
    at = now + timedelta(minutes=5)
    with db.session() as s:  # its time, its agent busy: kept for them
        assert services.claim_due(s, cid, 5, at, {"1001"}) == []
        s.rollback()
    with db.session() as s:  # its agent free: dialled for that agent
        picked = services.claim_due(s, cid, 0, at, {"1001", "1002"})
        assert [(e.phone, agent) for e, agent in picked] == [("+34612000004", "1002")]
        s.rollback()
    late = at + timedelta(seconds=services.CALLBACK_GRACE_S + 1)
    with db.session() as s:  # the agent never came free: anyone
        picked = services.claim_due(s, cid, 1, late, {"1001"})
        assert [(e.phone, agent) for e, agent in picked] == [("+34612000004", None)]
        s.rollback()
    db.dispose()
