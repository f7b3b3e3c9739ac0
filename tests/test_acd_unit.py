"""Unit tests of the ACD against a fake ARI (tests/harness/fake_ari.py) and
a real SQLite database: the agents' state machine, per-call lanes, routing
order, and that one call's trouble (a request that hangs or fails, a slow
CRM lookup) never delays another call's routing. The real-call tests
(test_acd.py and others) prove the same paths end to end on Asterisk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from control.acd.agent_states import TRANSITIONS, allowed
from control.acd.agents import create_agent
from control.acd.customers import CrmLink
from control.acd.lanes import Lanes
from control.acd.models import AgentStatus
from control.acd.queues import create_queue, set_member
from control.acd.router import Router
from control.acd.store import AcdStore
from control.db import Database
from control.events.bus import EventBus
from tests.harness.crm import sqlite_database
from tests.harness.fake_ari import FakeAri

S = AgentStatus


# -- the state machine, pure -----------------------------------------------------------


def test_transitions_cover_every_state_and_forbid_nonsense() -> None:
    assert set(TRANSITIONS) == set(AgentStatus)
    assert allowed(S.AVAILABLE, S.RINGING) and allowed(S.RINGING, S.ON_CALL)
    assert allowed(S.ON_CALL, S.WRAP_UP) and allowed(S.WRAP_UP, S.AVAILABLE)
    # an agent logged out or paused is never rung by the ACD for a queue: the
    # distributor only picks available ones; outbound calls may ring them
    assert not allowed(S.LOGGED_OUT, S.WRAP_UP)
    assert not allowed(S.PAUSED, S.WRAP_UP) or S.WRAP_UP in TRANSITIONS[S.PAUSED]


# -- scoring, pure -----------------------------------------------------------------------


def test_scoring_adds_each_preference_and_breaks_ties_by_idle_time() -> None:
    from datetime import UTC, datetime, timedelta

    from control.acd.models import DEFAULT_WEIGHTS
    from control.acd.scoring import CallNeeds, Candidate, explain, rank

    t0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)

    def agent(ext: str, *, languages: tuple[str, ...] = (), skills: tuple[str, ...] = (),
              today: int = 0, penalty: int = 0, idle_min: int = 0) -> Candidate:
        return Candidate(ext, languages, skills, today, penalty, t0 - timedelta(minutes=idle_min))

    weights = {k: float(v) for k, v in DEFAULT_WEIGHTS.items()}
    needs = CallNeeds("en", ("auto", "claims"), previous_agent="1004")
    ranked = rank([
        agent("1001", languages=("es",), skills=("auto",)),             # 10
        agent("1002", languages=("en",), skills=("auto", "claims")),    # 20 + 20 = 40
        agent("1003", languages=("en",), skills=("auto", "claims"), today=3),  # 40 - 6
        agent("1004", penalty=5),                                       # 50 - 5
        agent("1005", languages=("en",), skills=("auto", "claims"), idle_min=5),  # 40, idle longer
    ], needs, weights)
    assert [s.extension for s in ranked] == ["1004", "1005", "1002", "1003", "1001"]
    assert ranked[0].breakdown == {"previous_agent": 50.0, "penalty": -5.0}
    assert ranked[3].breakdown == {"language": 20.0, "skills": 20.0, "calls_today": -6.0}
    assert explain(ranked[0], ranked).startswith("1004 scored 45 (previous_agent +50, penalty -5)")
    assert "next best 1005 at 40" in explain(ranked[0], ranked)
    # per-queue weights: language worth more than the previous agent here
    heavy = weights | {"language": 100.0}
    assert rank([agent("1004"), agent("1002", languages=("en",))], needs,
                heavy)[0].extension == "1002"
    # a tie in score and idle time: the lowest extension
    assert [s.extension for s in rank([agent("1009"), agent("1008")], CallNeeds("es", (), None),
                                      weights)] == ["1008", "1009"]


# -- lanes -----------------------------------------------------------------------------


async def test_a_lane_keeps_order_and_a_hanging_lane_holds_only_itself() -> None:
    lanes = Lanes()
    done: list[str] = []
    never = asyncio.Event()

    async def step(name: str, wait: asyncio.Event | None = None) -> str:
        if wait is not None:
            await wait.wait()
        await asyncio.sleep(0)
        done.append(name)
        return name

    lanes.submit("hung", lambda: step("hung-1", never))
    lanes.submit("hung", lambda: step("hung-2"))
    for i in range(5):
        lanes.submit("a", lambda i=i: step(f"a-{i}"))  # type: ignore[misc]
    assert await lanes.run("b", lambda: step("b-0")) == "b-0"
    await asyncio.sleep(0.05)
    assert [d for d in done if d.startswith("a-")] == [f"a-{i}" for i in range(5)]
    assert "hung-2" not in done  # behind its own lane's first job only

    async def boom() -> None:
        raise RuntimeError("bad handler")

    lanes.submit("c", boom)
    lanes.submit("c", lambda: step("c-after"))
    await asyncio.sleep(0.05)
    assert "c-after" in done  # a job that raises does not stop its lane
    with pytest.raises(RuntimeError):
        await lanes.run("d", boom)
    await lanes.close()
    assert lanes.busy() == 0


# -- the router against a fake ARI -------------------------------------------------------


class SlowCrm(CrmLink):
    """A CRM whose lookup of one number takes ``delay`` seconds."""

    def __init__(self, db: Database, slow_number: str, delay: float) -> None:
        super().__init__(db)
        self.slow_number, self.delay = slow_number, delay

    async def lookup(self, number: str) -> tuple[int | None, str | None, bool, dict[str, Any]]:
        if number == self.slow_number:
            await asyncio.sleep(self.delay)
        return await super().lookup(number)


def _seed(db: Database, agents: dict[str, list[str]], queue: str = "ventas") -> None:
    with db.session() as s:
        for ext, languages in agents.items():
            create_agent(s, extension=ext, name=f"Agent {ext}", password="secret-pw-1",
                         realm="test", languages=languages)
        create_queue(s, name=queue, language="es", wrapup_s=1, ring_timeout_s=15)
        for ext in agents:
            set_member(s, queue, ext)


@pytest_asyncio.fixture(loop_scope="function")
async def acd(tmp_path: Path) -> AsyncIterator[tuple[Router, FakeAri, Database]]:
    db = sqlite_database(tmp_path)
    _seed(db, {"1001": ["es"], "1002": ["en"], "1003": ["es"]})
    ari = FakeAri()
    router = Router(ari.fleet(), AcdStore(db), EventBus(), recordings_spool=tmp_path / "spool",
                    recordings_dir=tmp_path / "rec",
                    crm=SlowCrm(db, "600999999", 30.0))
    router.start()
    await router.refresh()
    yield router, ari, db
    await router.close()
    db.dispose()


async def _available(router: Router, *extensions: str) -> None:
    for ext in extensions:
        await router.request_status(ext, S.AVAILABLE, None)


async def test_caller_is_answered_with_music_before_lookup_and_rings_best_agent(
        acd: tuple[Router, FakeAri, Database]) -> None:
    router, ari, db = acd
    await _available(router, "1001", "1002")
    ari.caller_arrives("chan-1", "ventas", language="en")
    rung = await ari.wait_rung(1)
    assert rung[0]["endpoint"] == "PJSIP/agent-1002"  # speaks the caller's language
    paths = [p for _m, p, _ in ari.requests]
    assert paths.index("/channels/chan-1/answer") < paths.index("/channels/chan-1/moh")
    assert router.agents.status("1002") == "ringing"
    call_id = rung[0]["appArgs"].split(",")[1]
    ari.answers(rung[0]["channelId"], call_id)
    for _ in range(100):
        if router.agents.status("1002") == "on_call":
            break
        await asyncio.sleep(0.01)
    assert router.agents.status("1002") == "on_call"
    await router.call_log.flush()
    row = router.store.call(call_id)
    assert row and row["state"] == "answered" and row["agent_extension"] == "1002"
    decisions = router.store.decisions(call_id)
    assert decisions[0]["chosen"] == "1002"
    # hang-up: wrap-up (1 s), then available again
    ari.hangs_up("chan-1")
    for _ in range(300):
        if router.agents.status("1002") == "available" and not router.calls.calls:
            break
        await asyncio.sleep(0.01)
    assert router.agents.status("1002") == "available"
    await router.call_log.flush()
    assert router.store.call(call_id)["state"] == "completed"  # type: ignore[index]


async def test_a_hanging_or_failing_call_does_not_delay_another_calls_routing(
        acd: tuple[Router, FakeAri, Database]) -> None:
    router, ari, _db = acd
    await _available(router, "1001", "1003")
    ari.trouble["/channels/chan-hang/answer"] = asyncio.Event()  # never set: hangs
    ari.trouble["/channels/chan-fail/answer"] = RuntimeError("a bug in a handler")
    ari.caller_arrives("chan-hang", "ventas", number="600000001")
    ari.caller_arrives("chan-fail", "ventas", number="600000002")
    ari.caller_arrives("chan-ok", "ventas", number="600000003")
    # (bounds for waiting generous: this machine is shared; the proof is that
    # the others ring while the hanging one never gets anywhere)
    rung = await ari.wait_rung(1, timeout=10.0)
    assert [r["callerId"] for r in rung] == ["600000003"]
    ok_call = router.calls.of_channel("chan-ok")
    assert ok_call is not None and ok_call.ringing_agent in ("1001", "1003")
    # the hanging one is still stuck in its own lane, the failed one went nowhere
    assert router.calls.of_channel("chan-hang") is None
    assert router.calls.of_channel("chan-fail") is None
    assert router.lanes.busy() >= 1
    # an agent is still free for the next caller: nothing was taken by the stuck ones
    ari.caller_arrives("chan-next", "ventas", number="600000004")
    rung = await ari.wait_rung(2, timeout=10.0)
    assert rung[1]["callerId"] == "600000004"


async def test_a_slow_crm_lookup_is_bounded_and_delays_no_other_call(
        acd: tuple[Router, FakeAri, Database]) -> None:
    router, ari, _db = acd
    await _available(router, "1001", "1003")
    loop = asyncio.get_running_loop()
    started = loop.time()
    ari.caller_arrives("chan-slow", "ventas", number="600999999")  # lookup takes 30 s
    ari.caller_arrives("chan-fast", "ventas", number="600111111")
    rung = await ari.wait_rung(2, timeout=10.0)
    # the slow lookup takes 30 s: both rang long before, the slow one without its file
    assert loop.time() - started < 10.0
    callers = {r["callerId"] for r in rung}
    assert callers == {"600999999", "600111111"}
    slow = router.calls.of_channel("chan-slow")
    assert slow is not None and slow.customer_id is None


async def test_missed_rings_pause_the_agent_and_a_pause_during_a_call_waits(
        acd: tuple[Router, FakeAri, Database], monkeypatch: pytest.MonkeyPatch) -> None:
    from control.acd import distribution

    monkeypatch.setattr(distribution, "RETRY_S", 0.5)
    router, ari, _db = acd
    await _available(router, "1001")
    ari.caller_arrives("chan-1", "ventas")
    rung = await ari.wait_rung(1)
    # no answer: the agent's leg ends; a miss (max_misses 2: still available),
    # and the only agent is offered the caller again after the retry pause
    loop = asyncio.get_running_loop()
    missed_at = loop.time()
    ari.hangs_up(rung[0]["channelId"])
    rung = await ari.wait_rung(2)
    assert loop.time() - missed_at >= 0.5
    assert router.agents.get("1001")["missed_in_a_row"] == 1  # type: ignore[index]
    ari.hangs_up(rung[1]["channelId"])
    for _ in range(100):
        if router.agents.status("1001") == "paused":
            break
        await asyncio.sleep(0.01)
    assert router.agents.get("1001")["pause_reason"] == "missed_calls"  # type: ignore[index]
    # back, answers, asks for a pause during the call: taken after wrap-up
    await _available(router, "1001")
    rung = await ari.wait_rung(3)
    ari.answers(rung[2]["channelId"], rung[2]["appArgs"].split(",")[1])
    for _ in range(100):
        if router.agents.status("1001") == "on_call":
            break
        await asyncio.sleep(0.01)
    agent, deferred = await router.request_status("1001", S.PAUSED, "lunch")
    assert deferred and agent and agent["status"] == "on_call"
    ari.hangs_up("chan-1")
    for _ in range(300):
        if router.agents.status("1001") == "paused":
            break
        await asyncio.sleep(0.01)
    assert router.agents.get("1001")["pause_reason"] == "lunch"  # type: ignore[index]


# -- the call log's writes --------------------------------------------------------------


def test_a_calls_writes_coalesce_and_replay_to_the_same_rows(tmp_path: Path) -> None:
    from control.acd.store import coalesce

    db = sqlite_database(tmp_path)
    _seed(db, {"1001": ["es"]})
    t0 = "2026-12-06T10:00:00+00:00"
    ops: list[dict[str, Any]] = [
        {"op": "call", "id": "c-1", "fields": {"caller_channel": "ch", "queue": "ventas",
                                               "entered_at": t0, "state": "waiting"}},
        {"op": "agent", "extension": "1001", "status": "ringing", "reason": None,
         "missed": None, "since": t0},
        {"op": "call", "id": "c-1", "fields": {"state": "ringing", "agent_channel": "a"}},
        {"op": "decision", "call_id": "c-1", "decided_at": t0, "candidates": [],
         "chosen": "1001", "reason": "best", "needs": {"language": "es"}},
        {"op": "agent", "extension": "1001", "status": "on_call", "reason": None,
         "missed": 0, "since": t0},
        {"op": "call", "id": "c-1", "fields": {"state": "answered", "answered_at": t0,
                                               "agent_extension": "1001"}},
        {"op": "ended", "close": True, "call": {
            "id": "c-1", "queue": "ventas", "caller_number": "", "customer_id": None,
            "state": "completed", "entered_at": t0, "answered_at": t0,
            "ended_at": "2026-12-06T10:01:00+00:00", "agent_extension": "1001",
            "recording": None, "direction": "inbound", "task_id": None}},
        {"op": "call", "id": "c-1", "fields": {"state": "waiting"}},  # after the end: ignored
    ]
    merged = coalesce(ops)
    assert [o["op"] for o in merged] == ["call", "agent", "decision", "ended", "call"]
    assert merged[1]["status"] == "on_call" and merged[1]["missed"] == 0
    link = CrmLink(db)
    link.apply_now(ops)
    link.apply_now(ops[:3] + ops[4:])  # a replay (the decision aside) changes nothing
    store = AcdStore(db)
    call = store.call("c-1")
    assert call and call["state"] == "completed" and call["agent_extension"] == "1001"
    assert [d["chosen"] for d in store.decisions("c-1")] == ["1001"]
    assert store.agent("1001")["status"] == "on_call"  # type: ignore[index]
    db.dispose()


async def test_two_nodes_each_call_on_its_own_and_a_lost_nodes_calls_end_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two media nodes (control/telephony/fleet.py): a caller on media2 is
    answered, its agent rung and bridged there, never on the stack's own;
    a reconnect of the stack's own judges only its calls; media2 unreachable
    past the bound: its call ends once (row closed, agent to wrap-up)."""
    from control.acd import reconcile
    from control.telephony.fleet import AriFleet

    monkeypatch.setattr(reconcile, "NODE_LOST_S", 0.5)
    db = sqlite_database(tmp_path)
    _seed(db, {"1001": ["es"]})
    local, media2 = FakeAri(), FakeAri()
    fleet = AriFleet("aitcomms")
    fleet.add("local", local)
    fleet.add("media2", media2)
    router = Router(fleet, AcdStore(db), EventBus(), recordings_spool=tmp_path / "spool",
                    recordings_dir=tmp_path / "rec", crm=CrmLink(db))
    router.start()
    await router.refresh()
    try:
        await _available(router, "1001")
        media2.caller_arrives("media2-1.1", "ventas")
        rung = await media2.wait_rung(1)
        call_id = rung[0]["appArgs"].split(",")[1]
        media2.answers(rung[0]["channelId"], call_id)
        for _ in range(200):
            if router.agents.status("1001") == "on_call":
                break
            await asyncio.sleep(0.01)
        assert router.agents.status("1001") == "on_call"
        assert local.requests == [], local.requests  # nothing of it on the other node
        bridges = [p for m, p, _ in media2.requests if m == "POST" and p == "/bridges"]
        assert bridges, media2.requests
        # the stack's own reconnects: it lists nothing, media2's call is not judged
        for hook in local.on_connect:
            await hook()
        assert router.calls.get(call_id) is not None
        await router.call_log.flush()
        assert [r["media_node"] for r in router.store.open_calls()] == ["media2"]
        # media2 unreachable past the bound: the call is over, once
        media2.connected = False
        for _ in range(400):
            if router.calls.get(call_id) is None:
                break
            await asyncio.sleep(0.01)
        assert router.calls.get(call_id) is None
        assert router.agents.status("1001") in ("wrap_up", "available")
        await router.call_log.flush()
        rows = router.store.open_calls()
        assert rows == [], rows
        assert router.store.call(call_id)["state"] == "completed"  # type: ignore[index]
    finally:
        await router.close()
        db.dispose()


async def test_a_recording_of_a_node_run_elsewhere_is_fetched_over_its_ari(
        tmp_path: Path) -> None:
    """No spool folder of that node here: the recording is fetched over its
    ARI into the recordings folder, then deleted there; a node that cannot
    hand it over keeps it (nothing half-written here)."""
    from control.acd import lifecycle
    from control.acd.calls import PendingRecording
    from control.telephony.ari import AriError
    from control.telephony.fleet import AriFleet

    db = sqlite_database(tmp_path)
    local, far = FakeAri(), FakeAri()
    fleet = AriFleet("aitcomms")
    fleet.add("local", local, spool=tmp_path / "spool")
    fleet.add("far1", far)  # run elsewhere: no spool
    router = Router(fleet, AcdStore(db), EventBus(), recordings_spool=tmp_path / "spool",
                    recordings_dir=tmp_path / "rec", crm=CrmLink(db))
    router.start()  # (its call log: the node's copy goes once the row is written)
    try:
        # the call's node says where (after a takeover the fleet has not seen
        # the recording start)
        far.files["/recordings/stored/c-1/file"] = b"RIFF-audio"
        router.recordings_pending["c-1"] = PendingRecording("1001", "far1")
        await lifecycle.recording_finished(router, "c-1")
        assert (tmp_path / "rec" / "c-1.wav").read_bytes() == b"RIFF-audio"
        assert ("DELETE", "/recordings/stored/c-1", {}) in far.requests
        assert "c-1" not in router.recordings_pending and local.requests == []

        far.trouble["/recordings/stored/c-2"] = AriError(503, "Asterisk unreachable")
        router.recordings_pending["c-2"] = PendingRecording("1001", "far1")
        await lifecycle.recording_finished(router, "c-2")
        assert not (tmp_path / "rec" / "c-2.wav").exists()
        assert not any(m == "DELETE" and "c-2" in p for m, p, _ in far.requests)
        assert "c-2" not in router.recordings_pending
    finally:
        await router.close()
        db.dispose()


async def test_a_recording_left_unfiled_by_a_dead_control_plane_is_filed_at_reconcile(
        tmp_path: Path, database: Database) -> None:
    """The control plane that ended the call died before Asterisk closed its
    recording: the survivor, reconciling the call's node, files it (here
    from a node run elsewhere, over its ARI); older calls and filed ones are
    left as they are."""
    from datetime import UTC, datetime, timedelta

    from control.acd.models import Call
    from control.telephony.fleet import AriFleet

    db = database  # SQLite, and PostgreSQL when one runs
    _seed(db, {"1001": ["es"]})
    ended = datetime.now(UTC) - timedelta(minutes=1)
    with db.session() as s:
        for call_id, recording, at in (("c-1", "c-1.wav", ended),
                                       ("c-2", str(tmp_path / "rec" / "c-2.wav"), ended),
                                       ("c-3", "c-3.wav", ended - timedelta(hours=1))):
            s.add(Call(id=call_id, caller_channel=f"far1-{call_id}", queue="ventas",
                       state="completed", agent_extension="1001", entered_at=at,
                       answered_at=at, ended_at=at, recording=recording, media_node="far1"))
    local, far = FakeAri(), FakeAri()
    far.files = {f"/recordings/stored/{c}/file": b"RIFF-" + c.encode() for c in ("c-1", "c-3")}
    fleet = AriFleet("aitcomms")
    fleet.add("local", local, spool=tmp_path / "spool")
    fleet.add("far1", far)
    router = Router(fleet, AcdStore(db), EventBus(), recordings_spool=tmp_path / "spool",
                    recordings_dir=tmp_path / "rec", crm=CrmLink(db))
    router.start()
    try:
        await router.reconcile("far1")
        for _ in range(200):  # (filed in the call's lane: the row, then the node's copy)
            await router.call_log.flush()
            if ("DELETE", "/recordings/stored/c-1", {}) in far.requests:
                break
            await asyncio.sleep(0.01)
        assert router.store.call("c-1")["recording"] == str(tmp_path / "rec" / "c-1.wav")  # type: ignore[index]
        assert (tmp_path / "rec" / "c-1.wav").read_bytes() == b"RIFF-c-1"
        assert ("DELETE", "/recordings/stored/c-1", {}) in far.requests
        fetched = [p for m, p, _ in far.requests if m == "GET" and p.startswith("/recordings")]
        assert fetched == ["/recordings/stored/c-1/file"], fetched  # not c-2 (filed), c-3 (old)
        assert router.store.call("c-3")["recording"] == "c-3.wav"  # type: ignore[index]
    finally:
        await router.close()
