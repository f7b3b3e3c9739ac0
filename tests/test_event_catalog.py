"""One event catalogue (control/events/catalog.py): the bus refuses names
outside it, the code that publishes, the web UI that listens and the README
all use its names, and the API serves it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from control.events.bus import EventBus
from control.events.catalog import EVENTS, UnknownEvent
from tests.harness.api import api

ROOT = Path(__file__).resolve().parent.parent
NAME = r"[a-z_]+\.[a-z_]+"


async def test_the_bus_refuses_a_name_outside_the_catalogue() -> None:
    bus = EventBus()
    with pytest.raises(UnknownEvent):
        await bus.publish("call.teleported", {"call_id": "x"})
    async with bus.subscribe() as queue:
        await bus.publish("call.queued", {"call_id": "x", "agent_extension": None})
        assert queue.get_nowait().type == "call.queued"


def test_every_name_published_or_listened_to_is_in_the_catalogue() -> None:
    published: set[str] = set()
    for path in (ROOT / "control").rglob("*.py"):
        text = path.read_text()
        published |= set(re.findall(rf'(?:publish|_send|_call)\(\s*(?:request,\s*)?"({NAME})"',
                                    text))
        published |= set(re.findall(rf'EventType\("({NAME})"', text))
    assert published, "no publisher found: the pattern is stale"
    assert published <= set(EVENTS), sorted(published - set(EVENTS))
    listened: set[str] = set()
    for path in (ROOT / "web" / "src").glob("*.js"):
        text = path.read_text()
        listened |= set(re.findall(rf"(?:case |type === )'({NAME})'", text))
    assert {"call.incoming", "agent.status_changed", "queue.stats"} <= listened
    assert listened <= set(EVENTS), sorted(listened - set(EVENTS))


def test_the_readme_lists_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in EVENTS if f"`{name}`" not in readme]
    assert missing == [], f"README lacks {missing}"


async def test_the_api_serves_the_catalogue(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        status, body = await a.call("GET", "/api/v1/events/catalog", await a.token("agent"))
        assert status == 200
        served = {e["name"]: e for e in body["events"]}
        assert set(served) == set(EVENTS)
        assert served["call.incoming"]["audience"] == "agent"
        assert "agent_extension" in served["call.incoming"]["keys"]
        status, body = await a.call("GET", "/api/v1/events/catalog")
        assert status == 401
