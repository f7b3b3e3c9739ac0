"""Staffing: Erlang C (pyworkforce) on the published worked example, Erlang A
against Palm's closed case, the Erlang C limit and a simulation of the
M/M/N+M queue, the forecast from seeded history rows, its API, and the
alert rules (the live alert on the real stack is in test_alerts.py)."""

from __future__ import annotations

import heapq
import math
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyworkforce.queuing import ErlangC

from control.acd.models import Call
from control.auth.audit import CLI
from control.db import Database
from control.staffing import alerts, erlang_a
from control.staffing.forecast import Targets, erlang_c, forecast
from control.staffing.models import DEFAULTS
from tests.harness.api import api
from tests.test_auth_api import cheap_hashes  # noqa: F401  (autouse fixture)

# -- Erlang C: the published worked example ------------------------------------------


def test_erlang_c_worked_example_14_agents_20_after_shrinkage() -> None:
    # 100 calls in 30 min, 180 s handle time, 80 % answered within 20 s, at most
    # 85 % occupancy, 30 % shrinkage (pyworkforce's documented example)
    found = erlang_c(100, 180, Targets(service_level_s=20, service_level_target=0.8,
                                       shrinkage=0.3, max_occupancy=0.85))
    assert found["agents"] == 14
    assert found["scheduled"] == 20
    assert found["service_level"] == pytest.approx(0.888, abs=0.001)
    assert found["occupancy"] == pytest.approx(0.714, abs=0.001)
    assert found["p_wait"] == pytest.approx(0.174, abs=0.001)


def test_erlang_c_of_an_empty_half_hour_needs_nobody() -> None:
    assert erlang_c(0, 180, Targets(20, 0.8, 0.3, 0.85))["agents"] == 0


# -- Erlang A ----------------------------------------------------------------------------


def test_erlang_a_patience_equal_to_handle_time_is_palms_poisson_case() -> None:
    """theta = mu: the number of callers in the system is Poisson(A) whatever
    N (Palm; Mandelbaum & Zeltyn, section 3), so P(wait) = P(Poisson(A) >= N)
    and E[Q] = E[(Poisson(A) - N)+]."""
    load, agents, aht = 12.0, 10, 180.0
    r = erlang_a.evaluate(load / aht, aht, aht, agents, 20)
    poisson = [math.exp(-load) * load ** k / math.factorial(k) for k in range(120)]
    assert r.p_wait == pytest.approx(sum(poisson[agents:]), rel=1e-9)
    queue = sum((k - agents) * p for k, p in enumerate(poisson) if k > agents)
    assert r.p_abandon == pytest.approx(queue / load, rel=1e-9)  # theta E[Q] / lam


def test_erlang_a_without_abandonment_is_the_published_erlang_c() -> None:
    """Patient callers (mean patience ~4 months): Erlang A meets the worked
    example's Erlang C figures at 14 agents (P(wait) 0.174, service level 0.888)."""
    r = erlang_a.evaluate(100 / 1800, 180, 1e7, 14, 20)
    assert r.p_wait == pytest.approx(0.174, abs=0.0005)
    assert r.service_level == pytest.approx(0.888, abs=0.0005)
    assert r.p_abandon < 1e-5
    agents, scheduled, _ = erlang_a.required_agents(100 / 1800, 180, 1e7, 20, 0.8, 0.85, 0.3)
    assert (agents, scheduled) == (14, 20)


def test_erlang_a_needs_fewer_agents_when_callers_give_up() -> None:
    lam = 100 / 1800
    patient, _, _ = erlang_a.required_agents(lam, 180, 1e7, 20, 0.8)
    impatient, _, r = erlang_a.required_agents(lam, 180, 60, 20, 0.8)
    assert impatient < patient
    assert r.service_level >= 0.8 and r.p_abandon > 0


def simulate(lam: float, aht: float, patience: float, agents: int, target: float,
             calls: int, seed: int) -> dict[str, float]:
    """An M/M/N+M queue, FCFS, simulated: each caller takes the first agent
    free after every earlier caller still waiting was placed, unless their
    patience runs out first (then they take no agent)."""
    rng = random.Random(seed)
    free_at = [0.0] * agents  # a heap of the times agents become free
    now = 0.0
    waited = within = abandoned = 0
    for _ in range(calls):
        now += rng.expovariate(lam)
        give_up = now + rng.expovariate(1 / patience)
        start = max(now, free_at[0])
        if start > give_up:
            abandoned += 1
            continue
        waited += start > now
        within += start - now <= target
        heapq.heapreplace(free_at, start + rng.expovariate(1 / aht))
    return {"p_wait_served": waited / calls, "p_abandon": abandoned / calls,
            "service_level": within / calls}


@pytest.mark.parametrize(("lam", "agents", "patience"), [
    (100 / 1800, 12, 120.0),   # the worked example's load, under-staffed
    (1 / 10, 16, 60.0),        # offered load 18 Erlangs on 16 agents: overloaded
])
def test_erlang_a_agrees_with_a_simulation_of_the_queue(lam: float, agents: int,
                                                         patience: float) -> None:
    aht, target = 180.0, 20.0
    model = erlang_a.evaluate(lam, aht, patience, agents, target)
    sim = simulate(lam, aht, patience, agents, target, calls=60_000, seed=7)
    assert model.p_abandon == pytest.approx(sim["p_abandon"], abs=0.015), (model, sim)
    assert model.service_level == pytest.approx(sim["service_level"], abs=0.02), (model, sim)
    # waited and then reached an agent: P(wait) less the abandoned
    assert model.p_wait - model.p_abandon == pytest.approx(sim["p_wait_served"], abs=0.02)


def test_erlang_a_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        erlang_a.evaluate(0, 180, 60, 3, 20)
    with pytest.raises(ValueError):
        erlang_a.evaluate(0.1, 180, 60, 0, 20)
    with pytest.raises(ValueError):
        erlang_a.required_agents(0.1, 180, 60, 20, 1.5)


# -- the forecast from history ------------------------------------------------------------


def _call(queue: str, at: datetime, *, talk: float | None = 170, wait: float = 5,
          abandoned: bool = False, direction: str = "inbound") -> Call:
    answered = None if abandoned or talk is None else at + timedelta(seconds=wait)
    ended = (at + timedelta(seconds=wait) if abandoned
             else answered + timedelta(seconds=talk) if answered and talk else None)
    return Call(caller_channel="c", queue=queue, caller_number="+34600000000",
                state="abandoned" if abandoned else "completed", entered_at=at,
                answered_at=answered, ended_at=ended, direction=direction,
                agent_extension=None if abandoned else "1001")


def _seed_history(db: Database, day: date) -> None:
    from control.acd import queues as queue_admin

    with db.session() as s:
        queue_admin.create_queue(s, name="autos", wrapup_s=10, service_level_s=20, actor=CLI)
        one, two = day - timedelta(weeks=1), day - timedelta(weeks=2)
        at = lambda d, h, m=0: datetime(d.year, d.month, d.day, h, m, tzinfo=UTC)  # noqa: E731
        # 09:00-09:30, the same weekday: 10 calls a week ago, 30 two weeks ago
        for i in range(10):
            s.add(_call("autos", at(one, 9, i)))
        for i in range(30):
            s.add(_call("autos", at(two, 9, i % 30), talk=230))
        # 14:00-14:30 a week ago: 2 callers who gave up after 30 s and 50 s
        s.add(_call("autos", at(one, 14, 5), wait=30, abandoned=True))
        s.add(_call("autos", at(one, 14, 10), wait=50, abandoned=True))
        # not counted: another weekday, another queue, an outbound call, and
        # three weeks ago (the queue's history starts two weeks ago ...)
        s.add(_call("autos", at(day - timedelta(days=1), 9, 5)))
        s.add(_call("hogar", at(one, 9, 5)))
        s.add(_call("autos", at(one, 9, 7), direction="outbound"))


def test_forecast_from_seeded_history(database: Database) -> None:
    day = date(2026, 12, 8)  # a Tuesday
    _seed_history(database, day)
    with database.session() as s:
        found = forecast(s, "autos", day.isoformat(), "UTC", weeks=4,
                         now=datetime(2026, 12, 7, 12, tzinfo=UTC))
    # two weeks of history for that weekday, not four
    assert found["weeks"] == 2
    assert found["history_days"] == ["2026-12-01", "2026-11-24"]
    slots = found["slots"]
    assert len(slots) == 48 and slots[18]["start"] == "2026-12-08T09:00:00+00:00"
    nine, two_pm = slots[18], slots[28]
    assert nine["expected_calls"] == (10 + 30) / 2
    # handle time: talk + the queue's 10 s wrap-up over those 40 calls
    assert nine["aht_s"] == pytest.approx((10 * 180 + 30 * 240) / 40)
    assert two_pm["expected_calls"] == 1.0  # 2 calls over 2 weeks
    assert slots[19]["expected_calls"] == 0 and slots[19]["erlang_c"]["agents"] == 0
    # patience: every caller's wait over those who gave up (censored estimate):
    # 40 answered after 5 s, 2 gave up after 30 and 50 s, the other weekday's
    # caller (5 s) is in the window too
    assert found["patience_s"] == pytest.approx((41 * 5 + 30 + 50) / 2)
    # Erlang C straight from pyworkforce with the queue's default targets
    aht = nine["aht_s"]
    direct = ErlangC(transactions=20, aht=aht, asa=20, interval=1800,
                     shrinkage=DEFAULTS["shrinkage"]).required_positions(
        service_level=DEFAULTS["service_level_target"],
        max_occupancy=DEFAULTS["max_occupancy"])
    assert nine["erlang_c"]["agents"] == direct["raw_positions"]
    assert nine["erlang_c"]["scheduled"] == direct["positions"]
    # Erlang A with the measured patience: no more agents than Erlang C, and
    # meeting the target it was asked for
    assert 1 <= nine["erlang_a"]["agents"] <= nine["erlang_c"]["agents"]
    assert nine["erlang_a"]["service_level"] >= DEFAULTS["service_level_target"]


async def test_forecast_api(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        _seed_history(a.db, datetime.now(UTC).date() + timedelta(days=1))
        sup, agent = await a.token("supervisor"), await a.token("agent")
        status, body = await a.call("GET", "/api/v1/forecast?queue=autos", sup)
        assert status == 200, body
        assert body["date"] == (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
        assert body["slots"][18]["expected_calls"] == 20.0
        assert body["agents_logged_in"] == 0
        for query, field in (("", "queue"), ("queue=autos&date=tomorrow", "date"),
                             ("queue=autos&tz=Mars/Base", "tz"),
                             ("queue=autos&weeks=0", "weeks"),
                             ("queue=autos&weeks=x", "weeks")):
            status, body = await a.call("GET", f"/api/v1/forecast?{query}", sup)
            assert (status, body.get("field")) == (422, field), (query, body)
        status, body = await a.call("GET", "/api/v1/forecast?queue=nada", sup)
        assert status == 404 and body["field"] == "queue"
        status, _ = await a.call("GET", "/api/v1/forecast?queue=autos", agent)
        assert status == 403
        # the queue's target changes the staffing, audited
        status, body = await a.call("PATCH", "/api/v1/queues/autos/targets", sup,
                                    json={"service_level_target": 0.95, "shrinkage": 0})
        assert status == 200 and body["targets"]["service_level_target"] == 0.95
        status, body = await a.call("GET", "/api/v1/forecast?queue=autos", sup)
        nine = body["slots"][18]["erlang_c"]
        assert nine["service_level"] >= 0.95 and nine["scheduled"] == nine["agents"]
        for change, field in (({"shrinkage": 1.5}, "shrinkage"),
                              ({"alert_longest_wait_s": 0}, "alert_longest_wait_s"),
                              ({"alert_paused_min": "5"}, "alert_paused_min"),
                              ({"colour": 1}, "colour"), ({}, "body")):
            status, body = await a.call("PATCH", "/api/v1/queues/autos/targets", sup,
                                        json=change)
            assert (status, body.get("field")) == (422, field), (change, body)
        from sqlalchemy import text

        with a.db.engine.connect() as conn:
            audited = conn.execute(text("SELECT actor, entity_id, after FROM audit_log "
                                        "WHERE entity = 'queue_targets'")).all()
        assert len(audited) == 1 and audited[0][0] == "sup@correduria.es"


# -- alert rules ----------------------------------------------------------------------------


def test_alert_rules() -> None:
    now = datetime(2026, 12, 8, 10, tzinfo=UTC)
    limits = {**DEFAULTS, "alert_longest_wait_s": 30, "alert_wrapup_min": 2,
              "alert_paused_min": None}
    queues = {"autos": {"members": [{"extension": "1001"}, {"extension": "1002"}]}}
    ago = lambda s: (now - timedelta(seconds=s)).isoformat()  # noqa: E731
    agents = [{"extension": "1001", "status": "wrap_up", "status_since": ago(121)},
              {"extension": "1002", "status": "paused", "status_since": ago(9999)},
              {"extension": "1003", "status": "wrap_up", "status_since": ago(9999)}]
    found = alerts.evaluate(queues, {"autos": limits},
                            {"autos": {"waiting": 1, "longest_wait_s": 31.0}}, agents,
                            {"autos": 0.75}, now)
    assert set(found) == {"service_level_low:autos", "longest_wait:autos",
                          "agent_wrapup_long:autos:1001"}
    assert found["service_level_low:autos"]["threshold"] == 0.8
    # back to normal: nothing holds
    agents[0]["status_since"] = ago(30)
    assert alerts.evaluate(queues, {"autos": limits},
                           {"autos": {"waiting": 1, "longest_wait_s": 29.0}}, agents,
                           {"autos": 0.8}, now) == {}
