"""Acceptance: no dead air at arrival, whatever the database is doing.

A new caller arrives while the database cannot take writes: SQLite locked by
another process (its busy timeout is 15 s), or PostgreSQL refusing every
connection (a second stack on DATABASE_URL). The caller is answered and
hears music within 1 s, is put through to an agent (the agent's leg in the
bridge), and the call's rows (the call, its routing decision, the agent's
states) appear once the database is back: nothing is lost, nothing waited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import SECOND_STACK_OFFSET, StackUnderTest, running_stack
from tests.harness.ami import Ami
from tests.harness.crm import (
    create_pg_database,
    drop_pg_database,
    pg_set_available,
    pg_unreachable,
)
from tests.harness.rtp import RtpEndpoint
from tests.test_acd import add_agent, agent_phones, calls, rows, setup_queue, wait_until
from tests.test_acd_resilience import database_locked
from tests.test_calls import TRUNK_IP, caller


async def _first_audio(rtp: RtpEndpoint, timeout: float) -> float | None:
    """Loop time of the first RTP packet the caller hears (None: none)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if rtp.packets:
            return loop.time()
        await asyncio.sleep(0.01)
    return None


async def _caller_reaches_agent_with_database_away(stack: StackUnderTest, did: str,
                                                   away: object) -> str:
    """Place a call while ``away`` (a context manager) holds the database
    away; assert music within 1 s and the agent bridged; return the call's
    caller number for finding its row afterwards."""
    loop = asyncio.get_running_loop()
    async with agent_phones(stack, "1002") as phones, \
            Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        rtp = await RtpEndpoint.open(TRUNK_IP)
        call = caller(stack, did, rtp, call_ms=4000, from_user="34600777666")
        try:
            with away:  # type: ignore[attr-defined]
                started = loop.time()
                await call.start()
                heard = await _first_audio(rtp, 5.0)
                assert heard is not None, "the caller heard nothing"
                assert heard - started < 1.0, f"music after {heard - started:.2f} s"
                members = await ami.wait_for(
                    lambda: ami.bridge_holding("PJSIP/agent-1002-", size=2), 10)
                assert members, "the agent never took the call"
                assert (await call.wait(20)).returncode == 0  # talked, hung up
                assert (await phones["1002"].result(10)).returncode == 0
        finally:
            call.kill()
            rtp.close()
    return "34600777666"


async def _rows_written(stack: StackUnderTest, number: str) -> None:
    def done() -> list[dict[str, object]]:
        return [c for c in calls(stack) if number in c["caller_number"]
                and c["state"] == "completed"]

    found = await wait_until(done, 30)
    assert found, calls(stack)
    call = found[0]
    assert call["agent_extension"] == "1002" and call["answered_at"] is not None
    decisions = rows(stack, f"SELECT chosen FROM routing_decisions "
                            f"WHERE call_id = '{call['id']}'")
    assert decisions == [{"chosen": "1002"}]
    assert await wait_until(lambda: rows(
        stack, "SELECT status FROM agents WHERE extension = '1002'")
        == [{"status": "available"}], 15)


async def test_sqlite_locked_new_caller_hears_music_and_reaches_an_agent(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, "1002", languages="es")
    setup_queue(stack, "autos", "+34910000041", "1002", "--wrapup", "1")
    await asyncio.sleep(1.5)  # the ACD's roster holds the new queue and agent
    number = await _caller_reaches_agent_with_database_away(
        stack, "+34910000041", database_locked(stack))
    await _rows_written(stack, number)


@pytest.fixture(scope="module")
def pg_stack() -> Iterator[tuple[StackUnderTest, str]]:
    reason = pg_unreachable()
    if reason:
        pytest.skip(f"postgresql backend: {reason}")
    url = create_pg_database("aitcomms_stack")
    try:
        with running_stack(SECOND_STACK_OFFSET, DATABASE_URL=url) as stack:
            yield stack, url
    finally:
        drop_pg_database(url)


@contextmanager
def pg_refusing(url: str) -> Iterator[None]:
    """PostgreSQL refuses every connection to the stack's database and has
    ended the open ones (a restart or a failover, as the control plane sees it)."""
    pg_set_available(url, False)
    try:
        yield
    finally:
        pg_set_available(url, True)


async def test_postgresql_away_new_caller_hears_music_and_reaches_an_agent(
        pg_stack: tuple[StackUnderTest, str]) -> None:
    stack, url = pg_stack
    assert stack.settings.database_url.startswith("postgresql")
    add_agent(stack, "1002", languages="es")
    setup_queue(stack, "autos", "+34910000042", "1002", "--wrapup", "1")
    await asyncio.sleep(1.5)
    number = await _caller_reaches_agent_with_database_away(
        stack, "+34910000042", pg_refusing(url))
    await _rows_written(stack, number)
