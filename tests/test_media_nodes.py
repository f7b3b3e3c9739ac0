"""Media nodes behind Kamailio's dispatcher (docs/scale-out.md, build order
step 1): Kamailio reads the nodes from the database (the view
``kamailio_dispatcher`` of ``media_nodes``), probes each with OPTIONS, and
sends every call to one that answers.

The second node is either nothing at all (a port nobody listens on) or a
stand-in that answers pings and refuses INVITEs with 503
(tests/harness/sip_node.py): a call Kamailio gives it must fail over to the
stack's own Asterisk, so every call still connects.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from control.db import Database
from control.errors import Conflict, InvalidInput, NotFound
from control.provisioning.models import MediaNode
from control.provisioning.nodes import (
    FLAGS,
    LOCAL,
    NodeRuntime,
    create_node,
    delete_node,
    ensure_local_node,
    list_nodes,
    parse_dispatcher_list,
    set_state,
)
from control.settings import Settings
from tests.conftest import StackUnderTest
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sip_node import FakeNode
from tests.harness.wait import wait_until
from tests.test_calls import TRUNK_IP, caller

DID = "+34910000071"


# -- pure: the rows and the view, no stack ----------------------------------------

def _db(tmp_path: Path) -> tuple[Settings, Database]:
    settings = Settings(var_dir=tmp_path)
    db = Database(settings)
    db.upgrade()
    return settings, db


def test_local_node_is_created_once_and_follows_the_port_setting(tmp_path: Path) -> None:
    settings, db = _db(tmp_path)
    ensure_local_node(db, settings)
    ensure_local_node(db, settings)  # idempotent
    with db.session() as s:
        nodes = list(s.scalars(select(MediaNode)))
        assert [(n.name, n.address, n.port, n.state) for n in nodes] == [
            (LOCAL, "127.0.0.1", settings.ports.asterisk_sip, "active")]
        nodes[0].state = "draining"
        nodes[0].port = 1  # a stale port (the setting changed)
    ensure_local_node(db, settings)
    with db.session() as s:
        node = s.scalars(select(MediaNode)).one()
        assert (node.port, node.state) == (settings.ports.asterisk_sip, "draining")
    db.dispose()


def test_dispatcher_view_has_kamailios_columns_and_flags(tmp_path: Path) -> None:
    settings, db = _db(tmp_path)
    ensure_local_node(db, settings)
    with db.session() as s:
        s.add(MediaNode(name="node2", address="10.0.0.2", port=5080, weight=3, state="draining"))
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT setid, destination, flags, priority, attrs, description "
            "FROM kamailio_dispatcher ORDER BY description")).all()
        version = conn.execute(text(
            "SELECT table_version FROM kamailio_version "
            "WHERE table_name = 'kamailio_dispatcher'")).scalar()
    port = settings.ports.asterisk_sip
    assert [tuple(r) for r in rows] == [
        (1, f"sip:127.0.0.1:{port}", FLAGS["active"], 0, "duid=local;maxload=0;rweight=1",
         "local"),
        (1, "sip:10.0.0.2:5080", FLAGS["draining"], 0, "duid=node2;maxload=0;rweight=3",
         "node2"),
    ]
    assert version == 4  # Kamailio 5.6's dispatcher table
    db.dispose()


LIST = """{
	NRSETS: 1
	RECORDS: {
		SET: {
			ID: 1
			TARGETS: {
				DEST: {
					URI: sip:127.0.0.1:5080
					FLAGS: AP
					PRIORITY: 0
					RUNTIME: {
						DLGLOAD: 3
					}
				}
				DEST: {
					URI: sip:10.0.0.2:5080
					FLAGS: DX
					PRIORITY: 0
				}
			}
		}
	}
}"""


def test_dispatcher_list_is_read_per_node() -> None:
    nodes = parse_dispatcher_list(LIST)
    assert nodes == {
        "sip:127.0.0.1:5080": NodeRuntime("sip:127.0.0.1:5080", "AP", 3),
        "sip:10.0.0.2:5080": NodeRuntime("sip:10.0.0.2:5080", "DX", 0),
    }
    assert nodes["sip:127.0.0.1:5080"].up and not nodes["sip:10.0.0.2:5080"].up
    assert parse_dispatcher_list("error: 500 - No destination sets") == {}


def test_node_rules_name_port_weight_duplicates_local_and_live_calls(tmp_path: Path) -> None:
    settings, db = _db(tmp_path)
    ensure_local_node(db, settings)
    port = settings.ports.asterisk_sip

    def refused(exc: type[Exception], field: str | None, **kwargs: Any) -> None:
        with pytest.raises(exc) as info, db.session() as s:
            create_node(s, **{"name": "node2", "host": "127.0.0.2", **kwargs})
        assert getattr(info.value, "field", None) == field, info.value

    refused(InvalidInput, "name", name="Node 2")
    refused(InvalidInput, "name", name="n" * 33)
    refused(InvalidInput, "port", port=0)
    refused(InvalidInput, "port", port=True)
    refused(InvalidInput, "weight", weight=101)
    refused(InvalidInput, "host", host=" ")
    refused(Conflict, "host", host="127.0.0.1", port=port)
    refused(Conflict, "name", name="local")
    with db.session() as s:
        assert create_node(s, name="node2", host="127.0.0.2", weight=3).uri == \
            "sip:127.0.0.2:5080"
    with db.session() as s:
        with pytest.raises(InvalidInput):
            set_state(s, "node2", "asleep")
        assert set_state(s, "node2", "draining").state == "draining"
        with pytest.raises(NotFound):
            set_state(s, "node9", "draining")
    with pytest.raises(Conflict, match="own Asterisk"), db.session() as s:
        delete_node(s, LOCAL, live_calls=None)
    with pytest.raises(Conflict, match="2 call"), db.session() as s:
        delete_node(s, "node2", live_calls=2)
    with db.session() as s:
        delete_node(s, "node2", live_calls=0)
        assert [n.name for n in list_nodes(s)] == [LOCAL]
    db.dispose()


# -- the real stack ---------------------------------------------------------------

def dispatcher_flags(stack: StackUnderTest) -> dict[str, str]:
    """``kamcmd dispatcher.list``: each node's URI and its flags (AP active and
    probed, IP inactive, DX disabled...)."""
    out = stack.kamcmd("dispatcher.list")
    return dict(re.findall(r"URI: (\S+)\s+FLAGS: (\S+)", out))


def _put_node(stack: StackUnderTest, name: str, port: int, state: str = "active") -> None:
    """A node row, then Kamailio re-reads the list (step 1 has no `node` command yet)."""
    db = Database(stack.settings)
    with db.session() as s:
        node = s.scalar(select(MediaNode).where(MediaNode.name == name))
        if node is None:
            s.add(MediaNode(name=name, address="127.0.0.1", port=port, weight=1, state=state))
        else:
            node.state = state
    db.dispose()
    _reload(stack)


def _reload(stack: StackUnderTest) -> None:
    # within reload_delta (1 s) of the last reload Kamailio answers "Ongoing reload"
    for _ in range(10):
        out = stack.kamcmd("dispatcher.reload")
        if "error" not in out.lower():
            return
        time.sleep(0.5)
    raise AssertionError(f"dispatcher.reload: {out}")


def _ivr_did(stack: StackUnderTest) -> None:
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP)
    stack.aitcomms("did", "add", DID, "--to", "ivr:welcome")


async def _calls(stack: StackUnderTest, count: int, *, together: int = 1) -> list[int]:
    """``count`` trunk calls to the IVR, ``together`` at a time; their SIPp exit codes."""
    codes: list[int] = []
    for first in range(0, count, together):
        rtps = [await RtpEndpoint.open(TRUNK_IP) for _ in range(min(together, count - first))]
        try:
            results = await asyncio.gather(*(caller(stack, DID, rtp, call_ms=3000).run()
                                             for rtp in rtps))
        finally:
            for rtp in rtps:
                rtp.close()
        codes += [r.returncode for r in results]
    return codes


def test_one_node_by_default_the_stacks_own_asterisk(stack: StackUnderTest) -> None:
    local = f"sip:127.0.0.1:{stack.port('asterisk_sip')}"
    assert dispatcher_flags(stack) == {local: "AP"}


async def test_a_dead_node_is_marked_inactive_and_calls_go_on(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    _ivr_did(stack)
    local = f"sip:127.0.0.1:{stack.port('asterisk_sip')}"
    dead = f"sip:127.0.0.1:{sip_port()}"  # nobody listens there
    log_from = len(stack.log("kamailio"))
    _put_node(stack, "ghost", int(dead.rsplit(":", 1)[1]))
    assert set(dispatcher_flags(stack)) == {local, dead}
    # calls right away: while the ghost still looks up (no ping failed yet)
    # a call given to it times out in 1 s and goes to the live node
    codes = await _calls(stack, 4, together=2)
    assert codes == [0, 0, 0, 0], codes
    flags = await wait_until(lambda: dispatcher_flags(stack)[dead] == "IP" and
                             dispatcher_flags(stack), 10)
    assert flags and flags[dead] == "IP" and flags[local] == "AP", dispatcher_flags(stack)
    assert f"media node down: {dead}" in stack.log("kamailio", since=log_from)
    assert await _calls(stack, 2) == [0, 0]


async def test_a_failing_node_hands_calls_over_and_a_drained_one_gets_none(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    _ivr_did(stack)
    local = f"sip:127.0.0.1:{stack.port('asterisk_sip')}"
    with FakeNode("127.0.0.1", sip_port()) as node:
        _put_node(stack, "standin", node.port)
        up = await wait_until(lambda: dispatcher_flags(stack).get(node.uri) == "AP"
                              and node.received["OPTIONS"] > 0, 10)
        assert up, (dispatcher_flags(stack), node.received)
        # two at a time: with one call up on the Asterisk, call load (alg 10)
        # gives the next to the stand-in, whose 503 sends it back
        codes = await _calls(stack, 4, together=2)
        assert codes == [0, 0, 0, 0], codes
        assert node.received["INVITE"] >= 1, node.received

        _put_node(stack, "standin", node.port, state="draining")
        assert dispatcher_flags(stack) == {local: "AP", node.uri: "DX"}
        invites, pings = node.received["INVITE"], node.received["OPTIONS"]
        codes = await _calls(stack, 4, together=2)
        assert codes == [0, 0, 0, 0], codes
        assert node.received["INVITE"] == invites, "a drained node got a new call"
        assert node.received["OPTIONS"] <= pings + 1, "a drained node is still probed"
        # and the drain holds across a reload (it is in the table, not only in memory)
        _reload(stack)
        assert dispatcher_flags(stack)[node.uri] == "DX"


# -- nodes as data: `aitcomms node` and /api/v1/nodes (build order step 2) ---------

def _ring(stack: StackUnderTest, did: str) -> socket.socket:
    """An INVITE from the trunk's address, left ringing (no ACK, no CANCEL):
    a call in progress on whichever node Kamailio picks."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((TRUNK_IP, sip_port(TRUNK_IP)))
    port, tag = sock.getsockname()[1], uuid.uuid4().hex[:12]
    sock.sendto((
        f"INVITE sip:{did}@127.0.0.1:{stack.port('sip')} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {TRUNK_IP}:{port};rport;branch=z9hG4bK{tag}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:34600000000@{TRUNK_IP}>;tag={tag}\r\n"
        f"To: <sip:{did}@127.0.0.1>\r\n"
        f"Call-ID: {tag}@{TRUNK_IP}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:34600000000@{TRUNK_IP}:{port}>\r\n"
        "Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", stack.port("sip")))
    return sock


async def test_node_cli_adds_drains_and_removes_and_refuses_bad_input(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    _ivr_did(stack)
    local = f"sip:127.0.0.1:{stack.port('asterisk_sip')}"
    listed = stack.aitcomms("node", "list").stdout
    assert re.search(rf"^local\s+{local}\s+weight=1 state=active\s+kamailio: up, 0 call",
                     listed, re.M), listed

    def refused(*args: str) -> str:
        proc = stack.aitcomms("node", *args, check=False)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        return proc.stderr

    assert "name: lowercase letters" in refused("add", "Node 2", "--host", "127.0.0.1")
    assert "port: must be between 1 and 65535" in refused(
        "add", "node2", "--host", "127.0.0.1", "--port", "0")
    assert "weight: must be between 1 and 100" in refused(
        "add", "node2", "--host", "127.0.0.1", "--weight", "0")
    assert "host: an IP address or a DNS name" in refused("add", "node2", "--host", " ")
    assert "media node local is already at 127.0.0.1" in refused(
        "add", "node2", "--host", "127.0.0.1", "--port", str(stack.port("asterisk_sip")))
    assert "no media node 'node9'" in refused("drain", "node9")
    assert "local is this stack's own Asterisk" in refused("remove", "local")

    with FakeNode("127.0.0.1", sip_port(), invite_code=180) as node:
        out = stack.aitcomms("node", "add", "standin", "--host", "127.0.0.1",
                             "--port", str(node.port)).stdout
        assert "Kamailio reloaded its media nodes" in out, out
        assert "a media node named standin already exists" in refused(
            "add", "standin", "--host", "127.0.0.2")
        assert await wait_until(lambda: dispatcher_flags(stack).get(node.uri) == "AP", 10), \
            dispatcher_flags(stack)
        assert re.search(r"^standin\s.*kamailio: up", stack.aitcomms("node", "list").stdout,
                         re.M)

        # local drained: every new call goes to the stand-in, which leaves it ringing
        stack.aitcomms("node", "drain", "local")
        assert dispatcher_flags(stack) == {local: "DX", node.uri: "AP"}
        assert "state=draining" in stack.aitcomms("node", "list").stdout
        sock = _ring(stack, DID)
        try:
            assert await wait_until(lambda: node.pending, 10), node.received
            assert "standin has 1 call(s) up" in refused("remove", "standin")
            node.finish(480)  # that call ends
            assert await wait_until(
                lambda: "DLGLOAD: 0" in stack.kamcmd("dispatcher.list"), 5)
        finally:
            sock.close()
        out = stack.aitcomms("node", "remove", "standin").stdout
        assert "media node standin removed" in out, out
        assert dispatcher_flags(stack) == {local: "DX"}
    stack.aitcomms("node", "drain", "local", "--undo")
    assert dispatcher_flags(stack) == {local: "AP"}
    assert await _calls(stack, 1) == [0]


async def test_nodes_api_on_the_stack(clean_stack: StackUnderTest) -> None:
    from tests.test_admin_api import http

    stack = clean_stack
    local = f"sip:127.0.0.1:{stack.port('asterisk_sip')}"
    status, body = http(stack, "GET", "/api/v1/nodes")
    assert status == 200, body
    assert [(n["name"], n["uri"], n["state"], n["kamailio"]) for n in body["nodes"]] == [
        ("local", local, "active", {"flags": "AP", "up": True, "calls": 0})]

    for payload, status_, field in (
            ({"name": "Node 2", "host": "127.0.0.1"}, 422, "name"),
            ({"name": "node2", "host": "127.0.0.1", "port": 70000}, 422, "port"),
            ({"name": "node2", "host": "127.0.0.1", "port": "5080"}, 422, "port"),
            ({"name": "node2", "host": "127.0.0.1", "weight": 0}, 422, "weight"),
            ({"name": "node2"}, 422, "host"),
            ({"name": "node2", "host": "127.0.0.1", "colour": 1}, 422, "colour"),
            ({"name": "node2", "host": "127.0.0.1", "port": stack.port("asterisk_sip")},
             409, "host")):
        got, answer = http(stack, "POST", "/api/v1/nodes", payload)
        assert (got, answer.get("field")) == (status_, field), (payload, answer)
        assert answer["error"] in ("invalid", "conflict") and answer["reason"], answer

    port = sip_port()
    got, answer = http(stack, "POST", "/api/v1/nodes",
                       {"name": "node2", "host": "127.0.0.1", "port": port, "weight": 5})
    assert got == 201 and answer["node"]["uri"] == f"sip:127.0.0.1:{port}", answer
    assert http(stack, "POST", "/api/v1/nodes", {"name": "node2", "host": "127.0.0.3"})[1] \
        == {"error": "conflict", "field": "name",
            "reason": "a media node named node2 already exists"}
    assert f"sip:127.0.0.1:{port}" in dispatcher_flags(stack)

    got, answer = http(stack, "PATCH", "/api/v1/nodes/node2", {"state": "asleep"})
    assert (got, answer["error"], answer["field"]) == (422, "invalid", "state"), answer
    got, answer = http(stack, "PATCH", "/api/v1/nodes/node2", {"state": "draining"})
    assert got == 200 and answer["node"]["state"] == "draining", answer
    assert dispatcher_flags(stack)[f"sip:127.0.0.1:{port}"] == "DX"
    assert http(stack, "PATCH", "/api/v1/nodes/nope", {"state": "draining"})[0] == 404

    got, answer = http(stack, "DELETE", "/api/v1/nodes/local")
    assert (got, answer["error"], answer["field"]) == (409, "conflict", "name"), answer
    assert http(stack, "DELETE", "/api/v1/nodes/nope")[0] == 404
    assert http(stack, "DELETE", "/api/v1/nodes/node2")[0] == 204
    assert dispatcher_flags(stack) == {local: "AP"}


async def test_nodes_api_is_for_admins_and_audited(tmp_path: Path) -> None:
    from tests.test_admin_api import admin_api, audit, send

    async with admin_api(tmp_path) as (a, _applied):
        admin = await a.token("admin")
        for role in ("agent", "supervisor"):
            token = await a.token(role)
            assert (await send(a, "GET", "/api/v1/nodes", token))[0] == 403
            assert (await send(a, "POST", "/api/v1/nodes", token,
                               {"name": "n2", "host": "127.0.0.1"}))[0] == 403
        # no Kamailio here: stored, and Kamailio reads it at start
        status, body = await send(a, "POST", "/api/v1/nodes", admin,
                                  {"name": "n2", "host": "127.0.0.9", "port": 5090})
        assert status == 201 and body["node"]["state"] == "active", body
        status, body = await send(a, "GET", "/api/v1/nodes", admin)
        assert [(n["name"], n["kamailio"]) for n in body["nodes"]] == [("n2", None)]
        assert (await send(a, "PATCH", "/api/v1/nodes/n2", admin, {"state": "draining"}))[0] \
            == 200
        assert (await send(a, "DELETE", "/api/v1/nodes/n2", admin))[0] == 204
        assert [e["action"] for e in audit(a.db, "media_nodes")] == [
            "create", "update", "delete"]
