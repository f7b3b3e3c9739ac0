"""Acceptance: outbound campaigns dial real calls.

One SIPp on the trunk's address plays every customer behind the carrier
(tests/sipp/customers.xml): what a customer does is the last digit of the
number (1 a person who answers and talks, 2 busy, 3 no answer, 4 an answering
machine playing a spoken greeting). Agents are SIPp phones registered through
Kamailio. What happened is read from Asterisk (AMI: channels on the trunk,
bridges), from what the carrier received (SIPp's counters), from the
customer's RTP, and from the rows the dialer wrote.
"""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import text

from control.db import Database
from tests.conftest import StackUnderTest
from tests.harness import figures
from tests.harness.ami import Ami
from tests.harness.ports import media_port, sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import Sipp, scenario
from tests.harness.wait import wait_until
from tests.test_acd import add_agent, agent_phones, api_send, rows, supervisor_token
from tests.test_calls import TRUNK_IP

ALL_DAY = {"hours_start": "00:00", "hours_end": "23:59", "days": [0, 1, 2, 3, 4, 5, 6],
           "caller_id": "+34910000090"}
TRUNK_LEG = "PJSIP/trunk-carrier-"


class Carrier:
    """The customers behind the trunk (one SIPp UAS for all of them)."""

    def __init__(self, sipp: Sipp, rtp: RtpEndpoint) -> None:
        self.sipp = sipp
        self.rtp = rtp

    def incoming(self) -> int:
        """Calls the carrier received so far (SIPp's own counter)."""
        try:
            lines = list(csv.DictReader(self.sipp.stat_file.open(), delimiter=";"))
        except OSError:
            return 0
        return int(lines[-1].get("IncomingCall(C)", 0) or 0) if lines else 0


@asynccontextmanager
async def carrier(stack: StackUnderTest, talk_ms: int = 2500,
                  ring_ms: tuple[int, int] = (300, 300)) -> AsyncIterator[Carrier]:
    rtp = await RtpEndpoint.open(TRUNK_IP)
    port = sip_port(TRUNK_IP)
    sipp = Sipp(scenario("customers", talk_ms=talk_ms, ring_min_ms=ring_ms[0],
                         ring_max_ms=ring_ms[1]), stack.sip_target, local_ip=TRUNK_IP,
                local_port=port, calls=1000, keys={"rtp_port": rtp.port}, timeout_s=600,
                extra=["-mp", str(media_port(TRUNK_IP))])
    await sipp.start()
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP, "--port", str(port))
    try:
        yield Carrier(sipp, rtp)
    finally:
        sipp.kill()
        rtp.close()


@pytest.fixture
def campaigns_stopped(clean_stack: StackUnderTest) -> Iterator[StackUnderTest]:
    """The shared stack; every campaign stopped afterwards (the dialer runs on)."""
    yield clean_stack
    db = Database(clean_stack.settings)
    with db.session() as session:
        session.execute(text("UPDATE campaign_dialing SET running = false"))
        session.commit()
    db.dispose()


def new_campaign(stack: StackUnderTest, numbers: list[str], **dialing: Any) -> int:
    token = supervisor_token(stack)
    status, body = api_send(stack, "POST", "/api/v1/campaigns", {
        "name": f"outbound-{uuid.uuid4().hex[:8]}", "channel": "phone",
        "start_date": date.today().isoformat()}, token)
    assert status == 201, body
    cid = int(body["campaign"]["id"])
    status, body = api_send(stack, "PUT", f"/api/v1/campaigns/{cid}/dialing",
                            ALL_DAY | dialing, token)
    assert status == 200, body
    if numbers:
        listing = "name,phone\n" + "".join(f"Lead {n},{n}\n" for n in numbers)
        status, body = api_send(stack, "POST", f"/api/v1/campaigns/{cid}/list",
                                {"csv": listing}, token)
        assert status == 200 and body["report"]["imported"] == len(numbers), body
    return cid


def start(stack: StackUnderTest, cid: int) -> None:
    status, body = api_send(stack, "POST", f"/api/v1/campaigns/{cid}/start", {},
                            supervisor_token(stack))
    assert status == 200, body


def attempts(stack: StackUnderTest, cid: int) -> list[dict[str, Any]]:
    return rows(stack, f"SELECT * FROM campaign_attempts WHERE campaign_id = {cid} ORDER BY id")


def entries(stack: StackUnderTest, cid: int) -> dict[str, dict[str, Any]]:
    return {r["phone"]: r for r in rows(
        stack, f"SELECT * FROM campaign_list WHERE campaign_id = {cid}")}


def at(value: Any) -> datetime:
    found = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return found if found.tzinfo else found.replace(tzinfo=UTC)


async def campaign_stats(stack: StackUnderTest, cid: int, count: int = 1) -> dict[str, Any]:
    """The ``count``-th campaign.stats of the campaign on the event socket
    (they come every few seconds while it runs)."""
    url = (f"http://127.0.0.1:{stack.port('http')}/api/v1/events"
           f"?token={supervisor_token(stack)}")
    seen: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        while len(seen) < count:
            msg = await ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            event = json.loads(msg.data)
            if event["type"] == "campaign.stats" and event["data"]["campaign_id"] == cid:
                seen.append(event["data"]["figures"])
    return seen[-1]


async def trunk_channels(ami: Ami) -> list[str]:
    return [c["Channel"] for c in await ami.channels() if c["Channel"].startswith(TRUNK_LEG)]


# -- 1. progressive: never more lines out than free agents -------------------------------


async def test_progressive_never_dials_more_lines_than_free_agents(
        campaigns_stopped: StackUnderTest) -> None:
    stack = campaigns_stopped
    add_agent(stack, "1001")
    add_agent(stack, "1002")
    persons = [f"+3460010{i:03d}1" for i in range(4)]
    async with carrier(stack) as customers, agent_phones(stack, "1001", "1002", calls=4):
        cid = new_campaign(stack, persons, mode="progressive", agents=["1001", "1002"])
        start(stack, cid)
        most, widest = 0, []
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while loop.time() < deadline:
                # every customer's leg on the trunk, dialling or talking: each
                # needs its own agent, so never more than the two agents
                legs = await trunk_channels(ami)
                if len(legs) > most:
                    most, widest = len(legs), legs
                done = [a for a in attempts(stack, cid) if a["ended_at"]]
                if len(done) == len(persons):
                    break
                await asyncio.sleep(0.1)
        made = attempts(stack, cid)
    print(f"\nmost customer legs at once: {most} {widest}; attempts: "
          f"{[(a['phone'], a['agent_extension'], a['started_at'], a['ended_at']) for a in made]}")
    assert 1 <= most <= 2, most
    assert customers.incoming() == len(persons)
    assert sorted(a["phone"] for a in made) == sorted(persons)
    for attempt in made:
        assert attempt["result"] == "human" and not attempt["abandoned"], attempt
        assert attempt["connected_at"] and attempt["agent_extension"] in ("1001", "1002")
        assert attempt["talk_s"] > 1.0, attempt
    assert {a["agent_extension"] for a in made} == {"1001", "1002"}
    totals = api_get(stack, f"/api/v1/campaigns/{cid}/figures")["figures"]
    assert (totals["dialled"], totals["answered"], totals["abandoned"]) == (4, 4, 0), totals
    assert totals["penetration_pct"] == 100.0 and totals["abandoned_pct"] == 0.0
    assert totals["talk_minutes_per_agent_hour"] > 0 and totals["live"]["agents"] == 2


def api_get(stack: StackUnderTest, path: str) -> dict[str, Any]:
    from tests.test_acd import api

    return api(stack, path)


# -- 3. do-not-call and calling hours ---------------------------------------------------------


async def test_no_call_to_do_not_call_numbers_nor_outside_the_leads_hours(
        campaigns_stopped: StackUnderTest) -> None:
    stack = campaigns_stopped
    add_agent(stack, "1001")
    token = supervisor_token(stack)
    allowed, on_global, on_campaign = "+34600200011", "+34600200021", "+34600200031"
    new_york = "+12127365001"  # a person too, but six hours behind Madrid
    # the calling hours: four hours around Madrid's (and the Canaries') time
    # now, so New York is outside them now; the dialer's clock is the real one
    madrid = datetime.now(ZoneInfo("Europe/Madrid"))
    hours = {"hours_start": (madrid - timedelta(hours=2)).strftime("%H:%M"),
             "hours_end": (madrid + timedelta(hours=2)).strftime("%H:%M"),
             "days": [0, 1, 2, 3, 4, 5, 6]}
    async with carrier(stack) as customers, agent_phones(stack, "1001", calls=3):
        cid = new_campaign(stack, [allowed, on_global, on_campaign, new_york],
                           mode="progressive", agents=["1001"], **hours)
        # on the lists after the import: taken off the calling list at once
        status, body = api_send(stack, "POST", "/api/v1/dnc", {"csv": on_global}, token)
        assert status == 200 and body["report"]["imported"] == 1, body
        status, body = api_send(stack, "POST", f"/api/v1/campaigns/{cid}/dnc",
                                {"csv": f"phone\n{on_campaign}\n"}, token)
        assert status == 200 and body["report"]["imported"] == 1, body
        start(stack, cid)
        done = await wait_until(lambda: [a for a in attempts(stack, cid) if a["ended_at"]],
                                timeout=30)
        assert done, attempts(stack, cid)
        # several more dialer steps, with the agent free again: nothing else goes
        # out; meanwhile the campaign's live figures come on the event socket
        stats = await campaign_stats(stack, cid, count=2)
        made = attempts(stack, cid)
        assert customers.incoming() == 1, customers.incoming()
    assert [a["phone"] for a in made] == [allowed], made
    assert (stats["dialled"], stats["answered"], stats["abandoned_pct"]) == (1, 1, 0.0), stats
    assert stats["live"]["agents"] == 1 and stats["listed"] == 4, stats
    listed = entries(stack, cid)
    assert listed[on_global]["status"] == listed[on_campaign]["status"] == "dnc"
    assert (listed[new_york]["status"], listed[new_york]["attempts"]) == ("pending", 0)
    assert listed[new_york]["timezone"] == "America/New_York"
    # dnc afterwards also stops a number from being imported again
    status, body = api_send(stack, "POST", f"/api/v1/campaigns/{cid}/list",
                            {"csv": f"phone\n{on_global}\n"}, token)
    assert status == 200 and body["report"]["imported"] == 0, body


# -- 4. an answering machine follows the campaign's action ------------------------------------


async def test_answering_machine_follows_the_campaigns_action(
        campaigns_stopped: StackUnderTest) -> None:
    stack = campaigns_stopped
    add_agent(stack, "1001")
    token = supervisor_token(stack)
    async with carrier(stack) as customers, agent_phones(stack, "1001", calls=2):
        cid = new_campaign(stack, ["+34600300014"], mode="progressive", agents=["1001"],
                           amd=True, machine_action="hangup")
        start(stack, cid)
        first = await wait_until(lambda: [a for a in attempts(stack, cid) if a["ended_at"]],
                                 timeout=30)
        assert first, attempts(stack, cid)
        assert (first[0]["result"], first[0]["amd_status"]) == ("machine", "MACHINE"), first
        assert first[0]["agent_extension"] is None and not first[0]["connected_at"]
        # hung up at once: the machine's greeting (7 s) was not played out
        assert (at(first[0]["ended_at"]) - at(first[0]["answered_at"])).total_seconds() < 3
        # now the machines go to an agent: the agent's phone is bridged with it
        status, body = api_send(stack, "PUT", f"/api/v1/campaigns/{cid}/dialing",
                                {"machine_action": "agent"}, token)
        assert status == 200, body
        status, body = api_send(stack, "POST", f"/api/v1/campaigns/{cid}/list",
                                {"csv": "phone\n+34600300024\n"}, token)
        assert status == 200 and body["report"]["imported"] == 1, body
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            bridged = await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/agent-1001-", TRUNK_LEG), timeout=30)
        assert bridged, "the machine was not passed to the agent"
        assert customers.incoming() == 2
        machine_call = next(a["call_id"] for a in attempts(stack, cid)
                            if a["phone"] == "+34600300024")
        status, body = api_send(stack, "POST", f"/api/v1/calls/{machine_call}/hangup", {}, token)
        assert status == 202, body
    second = await wait_until(lambda: [a for a in attempts(stack, cid)[1:] if a["ended_at"]],
                              timeout=30)
    assert second and (second[0]["result"], second[0]["agent_extension"]) == (
        "machine", "1001"), attempts(stack, cid)


# -- 5. retries follow the rules; a scheduled callback rings its agent -------------------------


async def test_retries_follow_the_rules_and_a_callback_rings_its_agent(
        campaigns_stopped: StackUnderTest) -> None:
    stack = campaigns_stopped
    add_agent(stack, "1001")
    add_agent(stack, "1002")
    token = supervisor_token(stack)
    busy, person = "+34600400012", "+34600400021"
    async with carrier(stack, talk_ms=2000) as customers, \
            agent_phones(stack, "1001", "1002", calls=3):
        cid = new_campaign(stack, [busy, person], mode="progressive",
                           agents=["1001", "1002"], max_attempts=2,
                           retry_rules={"busy": 3, "no_answer": 60})
        start(stack, cid)
        tried = await wait_until(lambda: len([a for a in attempts(stack, cid)
                                              if a["phone"] == busy and a["ended_at"]]) == 2,
                                 timeout=40)
        assert tried, attempts(stack, cid)
        talked = await wait_until(lambda: [a for a in attempts(stack, cid)
                                           if a["phone"] == person and a["ended_at"]], timeout=30)
        assert talked and talked[0]["connected_at"], attempts(stack, cid)
        # agent 1002 books a call back to the person, a few seconds from now
        callback_at = datetime.now(UTC) + timedelta(seconds=6)
        entry = entries(stack, cid)[person]
        status, body = api_send(stack, "POST", "/api/v1/campaign-callbacks", {
            "entry_id": entry["id"], "at": callback_at.isoformat(),
            "agent_extension": "1002"}, token)
        assert status == 201, body
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            bridged = await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/agent-1002-", TRUNK_LEG), timeout=30)
        assert bridged, "the callback did not reach agent 1002"
        assert datetime.now(UTC) >= callback_at
        await asyncio.sleep(2)  # a third busy attempt would be out by now
        made = attempts(stack, cid)
        assert customers.incoming() == len(made) == 4, made
    busy_tries = [a for a in made if a["phone"] == busy]
    assert [a["result"] for a in busy_tries] == ["busy", "busy"]
    gap = (at(busy_tries[1]["started_at"]) - at(busy_tries[0]["ended_at"])).total_seconds()
    assert 3 <= gap < 8, gap  # the rule: busy again in 3 s
    assert entries(stack, cid)[busy]["status"] == "done"  # max 2 attempts
    callback = [a for a in made if a["phone"] == person][1]
    assert callback["agent_extension"] == "1002"
    assert at(callback["started_at"]) >= callback_at - timedelta(seconds=1)


# -- 2 (part). an abandoned person hears the recorded message -------------------------------


async def test_a_person_nobody_takes_within_2_s_hears_the_message(
        campaigns_stopped: StackUnderTest) -> None:
    stack = campaigns_stopped
    add_agent(stack, "1001")
    async with carrier(stack, talk_ms=8000) as customers, \
            agent_phones(stack, "1001", noanswer=("1001",)):
        cid = new_campaign(stack, ["+34600500011"], mode="progressive", agents=["1001"],
                           message="vm-nobodyavail", max_attempts=1)
        start(stack, cid)
        answered = await wait_until(lambda: [a for a in attempts(stack, cid)
                                             if a["ended_at"]], timeout=30)
        assert answered, attempts(stack, cid)
        customers.rtp.reset()
        # the message (about 2 s of speech) reaches the person's phone
        heard = await wait_until(lambda: customers.rtp.packets > 50 and
                                 customers.rtp.rms() > 300, timeout=10)
        print(f"\nthe abandoned person received {customers.rtp.packets} RTP packets, "
              f"RMS {customers.rtp.rms():.0f}")
        assert heard
    attempt = attempts(stack, cid)[0]
    assert attempt["result"] == "human" and attempt["abandoned"], attempt
    assert attempt["connected_at"] is None
    assert (at(attempt["ended_at"]) - at(attempt["answered_at"])).total_seconds() < 3.5
    totals = api_get(stack, f"/api/v1/campaigns/{cid}/figures")["figures"]
    assert totals["abandoned"] == 1 and totals["abandoned_pct"] == 100.0, totals


# -- preview: the agent sees the lead, then dials or skips ----------------------------------


async def test_preview_the_agent_sees_the_lead_then_dials_or_skips(
        campaigns_stopped: StackUnderTest) -> None:
    stack = campaigns_stopped
    add_agent(stack, "1001")
    from tests.test_outbound import agent_token

    token = agent_token(stack)  # an agent user answering as 1001
    first, second = "+34600600011", "+34600600021"
    async with carrier(stack) as customers, agent_phones(stack, "1001"):
        cid = new_campaign(stack, [first, second], mode="preview", agents=["1001"],
                           script="Buenos días, le llamo de la correduría...")
        status, shown = api_send(stack, "POST", f"/api/v1/campaigns/{cid}/preview", {}, token)
        assert status == 200 and shown["entry"]["phone"] == first, shown
        assert shown["lead"]["name"] == f"Lead {first}" and shown["script"].startswith("Buenos")
        status, body = api_send(stack, "POST",
                                f"/api/v1/campaigns/{cid}/preview/{shown['entry']['id']}",
                                {"action": "skip"}, token)
        assert status == 200 and body["entry"]["status"] == "pending", body
        status, shown = api_send(stack, "POST", f"/api/v1/campaigns/{cid}/preview", {}, token)
        assert status == 200 and shown["entry"]["phone"] == second, shown
        status, body = api_send(stack, "POST",
                                f"/api/v1/campaigns/{cid}/preview/{shown['entry']['id']}",
                                {"action": "teleport"}, token)
        assert status == 422 and body["field"] == "action"
        status, body = api_send(stack, "POST",
                                f"/api/v1/campaigns/{cid}/preview/{shown['entry']['id']}",
                                {"action": "dial"}, token)
        assert status == 202, body
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            bridged = await ami.wait_for(
                lambda: ami.bridge_holding("PJSIP/agent-1001-", TRUNK_LEG), timeout=20)
        assert bridged, "the lead dialled from preview never reached the agent"
        done = await wait_until(lambda: [a for a in attempts(stack, cid) if a["ended_at"]],
                                timeout=20)
        assert customers.incoming() == 1  # the skipped lead was not dialled
    assert done and (done[0]["phone"], done[0]["agent_extension"]) == (second, "1001"), done
    assert done[0]["connected_at"] and done[0]["talk_s"] > 1.0


# -- the rules: a phone rings at least 15 s before the dialer gives up --------------------------


async def test_a_phone_nobody_answers_rings_15_s_then_waits_for_its_retry(
        campaigns_stopped: StackUnderTest) -> None:
    stack = campaigns_stopped
    add_agent(stack, "1001")
    async with carrier(stack) as customers, agent_phones(stack, "1001"):
        cid = new_campaign(stack, ["+34600700013"], mode="progressive", agents=["1001"],
                           ring_s=15, retry_rules={"no_answer": 3600})
        start(stack, cid)
        rang = await wait_until(lambda: [a for a in attempts(stack, cid) if a["ended_at"]],
                                timeout=40)
        assert rang and customers.incoming() == 1, attempts(stack, cid)
    attempt = rang[0]
    assert attempt["result"] == "no_answer" and attempt["answered_at"] is None, attempt
    assert (at(attempt["ended_at"]) - at(attempt["started_at"])).total_seconds() >= 15
    entry = entries(stack, cid)["+34600700013"]
    assert entry["status"] == "retry" and entry["last_result"] == "no_answer", entry
    retry_in = (at(entry["next_attempt_at"]) - at(attempt["ended_at"])).total_seconds()
    assert 3590 <= retry_in <= 3610, retry_in  # the rule: no answer, again in an hour


# -- 2. predictive mode on real calls: 500 leads, dialled ahead, abandonment within the cap ----

LEADS = 500
PREDICTIVE_AGENTS = [str(1001 + i) for i in range(10)]


def simulated_list(count: int) -> list[str]:
    """Customers with fixed shares, by the number's last digit: 40 % a person
    (answers after 2-6 s of ringing, talks 2 s), 40 % busy, 20 % no answer
    (rings the 15 s the rules ask)."""
    kinds = "11223"
    return [f"+346{i:07d}{kinds[i % len(kinds)]}" for i in range(count)]


async def test_predictive_mode_dials_ahead_through_a_500_lead_list_within_the_cap(
        campaigns_stopped: StackUnderTest) -> None:
    """The predictive pacer (control.campaigns.pacing) driving real calls end to
    end: more customer lines out than agents (which progressive never does),
    the whole list worked once, abandonment at or under the 3 % cap."""
    stack = campaigns_stopped
    for ext in PREDICTIVE_AGENTS:
        add_agent(stack, ext)
    numbers = simulated_list(LEADS)
    async with carrier(stack, talk_ms=2000, ring_ms=(2000, 6000)) as customers, \
            agent_phones(stack, *PREDICTIVE_AGENTS, calls=LEADS, timeout_s=600) as phones:
        cid = new_campaign(stack, numbers, mode="predictive", agents=PREDICTIVE_AGENTS,
                           retry_rules={"busy": None, "no_answer": None}, max_attempts=1,
                           ring_s=15, wrapup_s=1, message="vm-nobodyavail")
        start(stack, cid)
        most, levels = 0, [0.0]
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            loop = asyncio.get_running_loop()
            started = loop.time()
            while loop.time() < started + 420:
                # every customer's leg on the trunk, ringing or talking: more
                # than the agents means lines dialled ahead of free agents
                most = max(most, len(await trunk_channels(ami)))
                live = api_get(stack, f"/api/v1/campaigns/{cid}/figures")["figures"]["live"]
                if live["dial_level"] is not None:  # once the dialer has the campaign
                    levels.append(live["dial_level"])
                done = rows(stack, "SELECT count(*) AS n FROM campaign_attempts WHERE "
                            f"campaign_id = {cid} AND ended_at IS NOT NULL")[0]["n"]
                if done == LEADS:
                    break
                await asyncio.sleep(0.5)
            took = loop.time() - started
        made = attempts(stack, cid)
        # SIPp writes its counters once a second
        assert await wait_until(lambda: customers.incoming() == LEADS, timeout=5), (
            customers.incoming())
        answered_by_agents = sum(phone.sipp.counts()[0] for phone in phones.values())
    totals = api_get(stack, f"/api/v1/campaigns/{cid}/figures")["figures"]
    figures.report(
        f"predictive, {LEADS} leads, {len(PREDICTIVE_AGENTS)} agents: list worked in "
        f"{took:.0f} s; most customer legs at once {most}; dial level up to "
        f"{max(levels):.2f}; answered {totals['answered']}, abandoned {totals['abandoned']} "
        f"({totals['abandoned_pct']} %, cap {totals['abandon_cap_pct']} %); talk "
        f"{totals['talk_minutes']} min; agents' phones took {answered_by_agents} calls")
    assert len(made) == LEADS and all(a["ended_at"] for a in made)
    assert sorted(a["phone"] for a in made) == sorted(numbers)  # each lead once
    assert most > len(PREDICTIVE_AGENTS) and max(levels) > 1.0, (most, max(levels))
    assert totals["mode"] == "predictive"
    persons = [a for a in made if a["result"] == "human"]
    assert len(persons) == totals["answered"] == LEADS * 2 // 5
    assert totals["abandoned_pct"] <= totals["abandon_cap_pct"], totals
    assert sum(1 for a in persons if a["connected_at"]) == len(persons) - totals["abandoned"]
