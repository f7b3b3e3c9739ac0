"""AriFleet, the ARI of every media node as one client (control/telephony/
fleet.py), with a fake ARI per node: which node each request goes to, what
the fleet learns and forgets, and the loud failure of a request that names
no node when there are several."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from control.telephony import fleet as fleet_module
from control.telephony.ari import AriError
from control.telephony.fleet import AriFleet
from tests.harness.fake_ari import FakeAri


def _two() -> tuple[AriFleet, FakeAri, FakeAri]:
    fleet = AriFleet("aitcomms")
    one, two = FakeAri(), FakeAri()
    fleet.add("local", one)
    fleet.add("media2", two)
    return fleet, one, two


def _paths(ari: FakeAri) -> list[str]:
    return [f"{m} {p}" for m, p, _ in ari.requests]


async def test_one_node_takes_every_request_as_before() -> None:
    ari = FakeAri()
    fleet = ari.fleet()
    await fleet.request("POST", "/bridges", type="mixing")
    await fleet.request("GET", "/channels")
    await fleet.request_quietly("DELETE", "/channels/never-seen")
    assert _paths(ari) == ["POST /bridges", "GET /channels", "DELETE /channels/never-seen"]
    assert fleet.node_of("anything") == "local"


async def test_ids_go_to_the_node_their_events_came_from_tagged_with_it() -> None:
    fleet, one, two = _two()
    seen: list[dict[str, Any]] = []
    fleet.handlers.append(seen.append)
    two.emit({"type": "StasisStart", "args": ["queue", "q"], "channel": {"id": "1800.7"}})
    assert seen[0]["_node"] == "media2"
    await fleet.request("POST", "/channels/1800.7/answer")
    assert _paths(two) == ["POST /channels/1800.7/answer"] and one.requests == []
    # a bridge that event names, and a playback
    one.emit({"type": "BridgeCreated", "bridge": {"id": "b-1"}})
    one.emit({"type": "PlaybackStarted", "playback": {"id": "pb-1"}})
    await fleet.request("DELETE", "/bridges/b-1")
    await fleet.request("DELETE", "/playbacks/pb-1")
    assert _paths(one) == ["DELETE /bridges/b-1", "DELETE /playbacks/pb-1"]


async def test_ids_a_request_creates_belong_to_the_node_it_went_to() -> None:
    fleet, one, two = _two()
    two.emit({"type": "StasisStart", "channel": {"id": "media2-1800.1"}})
    # an originate with an originator goes to the originator's node
    await fleet.originate(endpoint="PJSIP/agent-1001", channel_id="acd-x", app_args="agent,c",
                          ring_s=15, caller_id="600", originator="media2-1800.1")
    bridge = await fleet.request("POST", "/bridges", node="media2", type="mixing")
    await fleet.request("POST", f"/bridges/{bridge['id']}/record", name="call-1")
    await fleet.request("POST", "/channels/acd-x/snoop", snoopId="snoop-1")
    await fleet.request("POST", "/channels/acd-x/play", playbackId="announce-1")
    for path in ("/channels/acd-x", "/channels/snoop-1", f"/bridges/{bridge['id']}",
                 "/recordings/live/call-1/pause", "/playbacks/announce-1"):
        await fleet.request("DELETE", path)
    assert one.requests == []
    assert len(two.requests) == 10


async def test_a_request_that_names_no_node_raises_when_there_are_several() -> None:
    fleet, one, two = _two()
    with pytest.raises(ValueError, match="no node named"):
        await fleet.request("POST", "/bridges", type="mixing")
    with pytest.raises(ValueError, match="no node named"):
        await fleet.originate(endpoint="PJSIP/agent-1001", channel_id="c", app_args="x",
                              ring_s=1, caller_id="1")
    await fleet.request("GET", "/channels", node="media2")
    assert one.requests == [] and _paths(two) == ["GET /channels"]


async def test_an_id_never_seen_goes_by_its_systemname_prefix_else_to_the_stacks_own() -> None:
    fleet, one, two = _two()
    await fleet.request_quietly("DELETE", "/channels/media2-1800.4")
    await fleet.request_quietly("DELETE", "/channels/1800.4")
    assert _paths(two) == ["DELETE /channels/media2-1800.4"]
    assert _paths(one) == ["DELETE /channels/1800.4"]


async def test_a_node_that_is_down_refuses_at_once_and_the_other_is_untouched() -> None:
    fleet, one, two = _two()
    two.connected = False
    two.emit({"type": "StasisStart", "channel": {"id": "c2"}})
    with pytest.raises(AriError) as err:
        await fleet.request("POST", "/channels/c2/answer")
    assert err.value.status == 503
    assert await fleet.request_quietly("POST", "/channels/c2/answer") is None
    assert fleet.connected and not fleet.connected_to("media2")
    assert fleet.choose_node() == "local"  # calls placed here avoid it


async def test_destroyed_ids_are_forgotten_after_a_grace(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setattr(fleet_module, "FORGET_AFTER_S", 0.01)
    fleet, one, two = _two()
    two.emit({"type": "StasisStart", "channel": {"id": "c9"}})
    two.emit({"type": "ChannelDestroyed", "channel": {"id": "c9"}})
    assert fleet.node_of("c9") == "media2"  # a late DELETE still finds it
    await asyncio.sleep(0.05)
    assert fleet.node_of("c9") == "local"  # forgotten: the default


async def test_a_node_reconnecting_lists_what_it_holds_then_tells_the_hooks() -> None:
    fleet, one, two = _two()
    told: list[str] = []

    async def hook(node: str) -> None:
        told.append(node)
    fleet.on_connect.append(hook)

    async def listing(method: str, path: str, **params: Any) -> Any:
        return [{"id": "held-1"}] if path == "/channels" else [{"id": "br-9"}]
    two.request = listing  # type: ignore[method-assign]
    for connect in two.on_connect:
        await connect()
    assert told == ["media2"]
    assert fleet.node_of("held-1") == "media2" and fleet.node_of("br-9", "bridges") == "media2"


async def test_choose_node_takes_the_least_busy_connected_node() -> None:
    fleet, one, two = _two()
    for i in range(3):
        one.emit({"type": "StasisStart", "channel": {"id": f"l{i}"}})
    two.emit({"type": "StasisStart", "channel": {"id": "m0"}})
    assert fleet.choose_node() == "media2"


async def test_a_recording_is_fetched_from_the_node_that_made_it(tmp_path: Path) -> None:
    fleet, one, two = _two()
    two.emit({"type": "BridgeCreated", "bridge": {"id": "b-2"}})
    await fleet.request("POST", "/bridges/b-2/record", name="call-2", format="wav")
    two.files["/recordings/stored/call-2/file"] = b"RIFF...."
    await fleet.download("/recordings/stored/call-2/file", tmp_path / "call-2.wav")
    assert (tmp_path / "call-2.wav").read_bytes() == b"RIFF...."
    assert _paths(two)[-1] == "GET /recordings/stored/call-2/file" and one.requests == []
    await fleet.request_quietly("DELETE", "/recordings/stored/call-2")
    assert _paths(two)[-1] == "DELETE /recordings/stored/call-2"


def test_every_node_adds_the_nodes_run_elsewhere_keeps_them_with_the_database_away(
        tmp_path: Path) -> None:
    from control.provisioning import nodes
    from control.settings import Settings
    from tests.harness.crm import sqlite_database

    settings = Settings(var_dir=tmp_path / "var", rootfs=tmp_path / "rootfs")
    db = sqlite_database(tmp_path)
    try:
        with db.session() as session:
            nodes.create_node(session, name="far1", host="127.0.0.3", port=5080,
                              ari_url="http://127.0.0.3:8088/")
            nodes.create_node(session, name="kamailio-only", host="127.0.0.4", port=5080)
        every_node = fleet_module.EveryNode(settings, db)
        found = every_node()
        assert [(a.name, a.url, a.spool) for a in found] == [
            ("local", f"http://127.0.0.1:{settings.ports.ari}",
             settings.asterisk_dir / "spool" / "recording"),
            ("far1", "http://127.0.0.3:8088", None)]  # no spool here: fetched over ARI
        with db.session() as session:
            stored = nodes.get_node(session, "far1").ari_password
        assert stored and len(stored) >= 24 and found[1].password == stored
    finally:
        db.dispose()
    # the database away: the nodes last read, the stack's own still read from its files
    for path in tmp_path.glob("aitcomms.db*"):
        path.unlink()
    (tmp_path / "aitcomms.db").mkdir()  # (a path that cannot be opened as a database)
    assert [a.name for a in every_node()] == ["local", "far1"] and every_node.away
    # at a start with the database away: the stack's own all the same
    assert [a.name for a in fleet_module.EveryNode(settings, db)()] == ["local"]


@pytest.mark.parametrize("url", ["ftp://x:1", "http://x", "http://u:p@x:1", "http://x:1/ari",
                                 "http://x:1?a=1", "x:1", "", "http://x:99999"])
def test_an_ari_url_is_http_host_and_port_only(url: str) -> None:
    from control.errors import InvalidInput
    from control.provisioning import nodes

    with pytest.raises(InvalidInput) as refused:
        nodes.check_ari_url(url)
    assert refused.value.field == "ari_url"
    assert nodes.check_ari_url("https://media1.example:8089/") == "https://media1.example:8089"
