"""IT ops manage agents, queues, trunks and DIDs from the API and the CLI,
without a restart and without dropping calls.

The first tests drive the API on a temporary database (no Asterisk): every
refusal names its field, roles are enforced, every write is audited and
handed to apply with what it needs. The last ones run on the real stack: an
agent and a DID made through the API take a real SIPp call from the trunk;
a new password unregisters the old one; a busy agent cannot be removed; a
removed agent cannot register; a removed trunk's address is challenged like
a stranger's; the CLI does the same.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from control.acd.agents import sip_ha1
from control.acd.models import Agent, Call, Queue, QueueMember
from control.acd.store import AcdStore
from control.auth.models import AuditEntry, User
from control.db import Database
from control.provisioning.models import Did, Trunk
from tests.conftest import StackUnderTest
from tests.harness.ami import Ami
from tests.harness.api import USERS, Api, api
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import Sipp, scenario
from tests.test_acd import TOKEN_REUSE_S
from tests.test_calls import TRUNK_IP, caller, register

REALM = "aitcomms.local"


@asynccontextmanager
async def admin_api(tmp_path: Path) -> AsyncIterator[tuple[Api, list[tuple[str, list[str]]]]]:
    """The API with the ACD and provisioning routes; apply only records what
    it was asked (author, registrations to drop)."""
    applied: list[tuple[str, list[str]]] = []

    def apply(author: str, unregister: Any) -> None:
        applied.append((author, list(unregister)))

    async with api(tmp_path, apply=apply) as a:
        yield a, applied


async def send(a: Api, method: str, path: str, token: str, body: Any = None,
               raw: bytes | None = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"data": raw} if raw is not None else (
        {"json": body} if body is not None else {})
    resp = await a.client.request(method, path, headers={"Authorization": f"Bearer {token}"},
                                  **kwargs)
    if resp.status == 204:
        assert not await resp.read()
        return 204, None
    assert resp.content_type == "application/json", await resp.text()
    return resp.status, await resp.json()


def audit(db: Database, entity: str) -> list[dict[str, Any]]:
    with db.session() as s:
        return [e.as_dict() for e in s.scalars(
            select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id))]


async def refused(a: Api, method: str, path: str, token: str, body: Any, status: int,
                  field: str | None) -> dict[str, Any]:
    got, answer = await send(a, method, path, token, body)
    assert got == status, (body, answer)
    if field is not None:
        assert answer["field"] == field, (body, answer)
    return dict(answer)


# -- on a temporary database ---------------------------------------------------------


async def test_agents_through_the_api(tmp_path: Path) -> None:
    async with admin_api(tmp_path) as (a, applied):
        admin, sup = await a.token("admin"), await a.token("supervisor")
        agent_token = await a.token("agent")
        status, body = await send(a, "POST", "/api/v1/agents", admin, {
            "extension": "1003", "name": "Marta Ruiz", "password": "marta-secret-3",
            "skills": ["auto", "Home"], "languages": ["es", "en"]})
        assert status == 201, body
        assert body["agent"]["skills"] == ["auto", "home"] and "generated_password" not in body
        assert applied[-1] == (USERS["admin"], [])
        with a.db.session() as s:
            ha1 = s.scalar(select(Agent.sip_ha1).where(Agent.extension == "1003"))
        assert ha1 == sip_ha1("1003", REALM, "marta-secret-3")
        entry = audit(a.db, "agents")[-1]
        assert (entry["action"], entry["actor"], entry["entity_id"]) == (
            "create", USERS["admin"], "1003")
        assert "sip_ha1" not in json.dumps(entry)
        # no password: one is generated and shown once
        status, body = await send(a, "POST", "/api/v1/agents", admin,
                                  {"extension": "1004", "name": "Pablo"})
        assert status == 201 and len(body["generated_password"]) >= 12

        # bad input: the field and why; nothing stored
        for bad, code, field in (
                ({"extension": "0123", "name": "X", "password": "long-enough"}, 422,
                 "extension"),
                ({"extension": 1005, "name": "X"}, 422, "extension"),
                ({"extension": "1005"}, 422, "name"),
                ({"extension": "1005", "name": "  "}, 422, "name"),
                ({"extension": "1005", "name": "X", "password": "short"}, 422, "password"),
                ({"extension": "1005", "name": "X", "skills": "auto"}, 422, "skills"),
                ({"extension": "1005", "name": "X", "skills": ["Bad Skill"]}, 422, "skills"),
                ({"extension": "1005", "name": "X", "languages": ["spanish"]}, 422,
                 "languages"),
                ({"extension": "1005", "name": "X", "phone": "1"}, 422, "phone"),
                ({"extension": "1003", "name": "Twice", "password": "long-enough"}, 409,
                 "extension")):
            await refused(a, "POST", "/api/v1/agents", admin, bad, code, field)
        status, body = await send(a, "POST", "/api/v1/agents", admin, raw=b"{nope")
        assert status == 400 and body["error"] == "invalid_json"
        await refused(a, "POST", "/api/v1/agents", admin, [1], 422, "body")
        with a.db.session() as s:
            assert s.scalar(select(Agent.name).where(Agent.extension == "1003")) == "Marta Ruiz"
            assert s.scalar(text("SELECT count(*) FROM agents")) == 4

        # admins only
        new = {"extension": "1006", "name": "X", "password": "long-enough"}
        await refused(a, "POST", "/api/v1/agents", sup, new, 403, None)
        await refused(a, "PATCH", "/api/v1/agents/1003", agent_token, {"name": "Me"}, 403,
                      None)
        await refused(a, "DELETE", "/api/v1/agents/1003", sup, None, 403, None)

        # change: a new password is a new HA1, and its phones are to be unregistered
        applied.clear()
        status, body = await send(a, "PATCH", "/api/v1/agents/1003", admin,
                                  {"password": "marta-new-secret"})
        assert status == 200, body
        assert applied == [(USERS["admin"], ["1003"])]
        with a.db.session() as s:
            assert s.scalar(select(Agent.sip_ha1).where(Agent.extension == "1003")) == \
                sip_ha1("1003", REALM, "marta-new-secret")
        assert audit(a.db, "agents")[-1]["after"]["sip_password"] == "changed"
        status, body = await send(a, "PATCH", "/api/v1/agents/1003", admin,
                                  {"name": "Marta R.", "skills": [], "languages": ["fr"]})
        assert status == 200 and body["agent"]["name"] == "Marta R."
        assert body["agent"]["skills"] == [] and body["agent"]["languages"] == ["fr"]
        assert applied[-1] == (USERS["admin"], [])  # same password: phones stay
        last = audit(a.db, "agents")[-1]
        assert last["before"]["name"] == "Marta Ruiz" and last["after"]["name"] == "Marta R."
        for bad, code, field in (({}, 422, "body"), ({"languages": "es"}, 422, "languages"),
                                 ({"password": "short"}, 422, "password"),
                                 ({"name": 5}, 422, "name"), ({"ha1": "x"}, 422, "ha1")):
            await refused(a, "PATCH", "/api/v1/agents/1003", admin, bad, code, field)
        await refused(a, "PATCH", "/api/v1/agents/1999", admin, {"name": "X"}, 404,
                      "extension")

        # remove: refused while a DID rings it or it has a call
        with a.db.session() as s:
            s.add(Did(number="+34910000001", target="ext:1002"))
            queue = Queue(name="autos", weights={})
            s.add(queue)
            s.flush()
            s.add(QueueMember(queue_id=queue.id, agent_id=s.scalar(
                select(Agent.id).where(Agent.extension == "1002")), penalty=0))
        answer = await refused(a, "DELETE", "/api/v1/agents/1002", admin, None, 409,
                               "extension")
        assert "+34910000001" in answer["reason"]
        with a.db.session() as s:
            s.execute(text("DELETE FROM dids"))
            s.execute(text("UPDATE agents SET status = 'on_call' WHERE extension = '1002'"))
        answer = await refused(a, "DELETE", "/api/v1/agents/1002", admin, None, 409,
                               "extension")
        assert "on_call" in answer["reason"]
        with a.db.session() as s:
            s.execute(text("UPDATE agents SET status = 'available' WHERE extension = '1002'"))
        applied.clear()
        assert (await send(a, "DELETE", "/api/v1/agents/1002", admin))[0] == 204
        assert applied == [(USERS["admin"], ["1002"])]  # its registrations dropped
        with a.db.session() as s:
            assert s.scalar(select(Agent).where(Agent.extension == "1002")) is None
            assert s.scalar(text("SELECT count(*) FROM queue_members")) == 0
            # its user no longer answers as 1002 (a new 1002 must not inherit it)
            assert s.scalar(select(User.agent_extension).where(
                User.email == USERS["agent2"])) is None
        removed = audit(a.db, "agents")[-1]
        assert removed["action"] == "delete" and removed["before"]["queues"] == ["autos"]
        assert audit(a.db, "users")[-1]["before"]["agent_extension"] == "1002"
        await refused(a, "DELETE", "/api/v1/agents/1002", admin, None, 404, "extension")


async def test_queues_through_the_api(tmp_path: Path) -> None:
    async with admin_api(tmp_path) as (a, applied):
        sup, agent_token = await a.token("supervisor"), await a.token("agent")
        status, body = await send(a, "POST", "/api/v1/queues", sup,
                                  {"name": "autos", "members": ["1001"]})
        assert status == 201, body
        status, body = await send(a, "PATCH", "/api/v1/queues/autos", sup, {
            "wrapup_s": 5, "ring_timeout_s": 20, "max_misses": 3, "max_wait_s": 120,
            "service_level_s": 30, "announce_every_s": 0, "record": False,
            "skills": ["auto"], "language": "en", "weights": {"language": 30, "skill": 15.5}})
        assert status == 200, body
        q = body["queue"]
        assert (q["wrapup_s"], q["ring_timeout_s"], q["max_misses"], q["max_wait_s"],
                q["service_level_s"], q["announce_every_s"], q["record"], q["skills"],
                q["language"]) == (5, 20, 3, 120, 30, 0, False, ["auto"], "en")
        assert q["weights"] == {"previous_agent": 50, "language": 30, "skill": 15.5,
                                "call_today": -2}
        assert q["members"] == [{"extension": "1001", "penalty": 0}]
        # what the router reads at its next decision; one weight changed, the rest kept
        await send(a, "PATCH", "/api/v1/queues/autos", sup, {"weights": {"call_today": -5}})
        assert AcdStore(a.db).queue("autos")["weights"] == {  # type: ignore[index]
            "previous_agent": 50, "language": 30, "skill": 15.5, "call_today": -5}
        assert applied[-1] == (USERS["supervisor"], [])
        entries = audit(a.db, "queues")
        assert [e["action"] for e in entries] == ["create", "update", "update", "update"]
        assert entries[-1]["before"]["weights"]["call_today"] == -2
        assert entries[-1]["actor"] == USERS["supervisor"]

        for bad, field in (({"wrapup_s": "5"}, "wrapup_s"), ({"ring_timeout_s": 1},
                                                             "ring_timeout_s"),
                           ({"max_misses": True}, "max_misses"), ({"language": "esp"},
                                                                   "language"),
                           ({"record": "yes"}, "record"), ({"weights": []}, "weights"),
                           ({"weights": {"colour": 1}}, "weights.colour"),
                           ({"weights": {"skill": "10"}}, "weights.skill"),
                           ({"weights": {"skill": 5000}}, "weights.skill"),
                           ({"skills": ["x y"]}, "skills"), ({"members": ["1002"]}, "members"),
                           ({}, "body")):
            await refused(a, "PATCH", "/api/v1/queues/autos", sup, bad, 422, field)
        assert AcdStore(a.db).queue("autos")["wrapup_s"] == 5  # type: ignore[index]
        await refused(a, "PATCH", "/api/v1/queues/nope", sup, {"wrapup_s": 1}, 404, "name")
        await refused(a, "PATCH", "/api/v1/queues/autos", agent_token, {"wrapup_s": 1}, 403,
                      None)
        await refused(a, "DELETE", "/api/v1/queues/autos", agent_token, None, 403, None)

        # remove: refused while a DID routes to it or a call of it is waiting
        with a.db.session() as s:
            s.add(Did(number="+34910000002", target="queue:autos"))
        answer = await refused(a, "DELETE", "/api/v1/queues/autos", sup, None, 409, "name")
        assert "+34910000002" in answer["reason"]
        with a.db.session() as s:
            s.execute(text("DELETE FROM dids"))
        store = AcdStore(a.db)
        call = store.create_call(caller_channel="c1", queue="autos")
        await refused(a, "DELETE", "/api/v1/queues/autos", sup, None, 409, "name")
        store.update_call(call["id"], state="abandoned")
        assert (await send(a, "DELETE", "/api/v1/queues/autos", sup))[0] == 204
        with a.db.session() as s:
            assert s.scalar(select(Queue)) is None
            assert s.scalar(select(QueueMember)) is None
            assert s.get(Call, call["id"]) is not None  # history is kept
        assert audit(a.db, "queues")[-1]["action"] == "delete"
        await refused(a, "DELETE", "/api/v1/queues/autos", sup, None, 404, "name")


async def test_trunks_and_dids_through_the_api(tmp_path: Path) -> None:
    async with admin_api(tmp_path) as (a, applied):
        admin, sup = await a.token("admin"), await a.token("supervisor")
        agent_token = await a.token("agent")
        status, body = await send(a, "POST", "/api/v1/trunks", admin,
                                  {"name": "carrier", "host": "127.0.0.2", "port": 5070})
        assert status == 201 and body["trunk"]["address"] == "127.0.0.2", body
        status, body = await send(a, "POST", "/api/v1/trunks", admin,
                                  {"name": "backup", "host": "127.0.0.5"})
        assert status == 201 and body["trunk"]["port"] == 5060
        for bad, code, field in (({"name": "carrier", "host": "127.0.0.9"}, 409, "name"),
                                 ({"name": "other", "host": "127.0.0.2"}, 409, "host"),
                                 ({"name": "Bad Name", "host": "127.0.0.9"}, 422, "name"),
                                 ({"name": "x", "host": "127.0.0.9", "port": "5060"}, 422,
                                  "port"),
                                 ({"name": "x", "host": "127.0.0.9", "port": 70000}, 422,
                                  "port"),
                                 ({"name": "x"}, 422, "host"),
                                 ({"name": "x", "host": " "}, 422, "host")):
            await refused(a, "POST", "/api/v1/trunks", admin, bad, code, field)
        status, body = await send(a, "GET", "/api/v1/trunks", admin)
        assert [t["name"] for t in body["trunks"]] == ["backup", "carrier"]
        assert (await send(a, "DELETE", "/api/v1/trunks/backup", admin))[0] == 204
        await refused(a, "DELETE", "/api/v1/trunks/backup", admin, None, 404, "name")
        assert [e["action"] for e in audit(a.db, "trunks")] == ["create", "create", "delete"]

        status, body = await send(a, "POST", "/api/v1/dids", admin,
                                  {"number": "+34 910 00 00 01", "target": "ext:1001"})
        assert status == 201 and body["did"] == {"id": body["did"]["id"],
                                                 "number": "+34910000001",
                                                 "target": "ext:1001"}
        for bad, code, field in (({"number": "12345", "target": "ext:1001"}, 422, "number"),
                                 ({"number": "+34910000009", "target": "queue:nope"}, 422,
                                  "target"),
                                 ({"number": "+34910000009", "target": "ext:1999"}, 422,
                                  "target"),
                                 ({"number": "+34910000009", "target": "pstn:1"}, 422,
                                  "target"),
                                 ({"number": "+34910000009"}, 422, "target"),
                                 ({"number": "+34910000001", "target": "ivr:welcome"}, 409,
                                  "number")):
            await refused(a, "POST", "/api/v1/dids", admin, bad, code, field)
        status, body = await send(a, "PATCH", "/api/v1/dids/%2B34910000001", admin,
                                  {"target": "ivr:welcome"})
        assert status == 200 and body["did"]["target"] == "ivr:welcome", body
        await refused(a, "PATCH", "/api/v1/dids/%2B34910000001", admin, {"target": 5}, 422,
                      "target")
        await refused(a, "PATCH", "/api/v1/dids/%2B34910000001", admin,
                      {"target": "ivr:nope"}, 422, "target")
        await refused(a, "PATCH", "/api/v1/dids/12345", admin, {"target": "ivr:welcome"}, 422,
                      "number")
        await refused(a, "PATCH", "/api/v1/dids/%2B34910000099", admin,
                      {"target": "ivr:welcome"}, 404, "number")
        status, body = await send(a, "GET", "/api/v1/dids", admin)
        assert body["dids"] == [{"id": body["dids"][0]["id"], "number": "+34910000001",
                                 "target": "ivr:welcome"}]
        assert (await send(a, "DELETE", "/api/v1/dids/%2B34910000001", admin))[0] == 204
        await refused(a, "DELETE", "/api/v1/dids/%2B34910000001", admin, None, 404, "number")
        dids = audit(a.db, "dids")
        assert [e["action"] for e in dids] == ["create", "update", "delete"]
        assert dids[1]["before"]["target"] == "ext:1001" and dids[1]["actor"] == USERS["admin"]
        assert all(author == USERS["admin"] for author, _ in applied)

        # admins only, reads included
        for method, path in (("GET", "/api/v1/trunks"), ("POST", "/api/v1/trunks"),
                             ("DELETE", "/api/v1/trunks/carrier"), ("GET", "/api/v1/dids"),
                             ("POST", "/api/v1/dids"), ("PATCH", "/api/v1/dids/%2B349"),
                             ("DELETE", "/api/v1/dids/%2B349")):
            for token in (sup, agent_token):
                assert (await send(a, method, path, token, {}))[0] == 403, (method, path)
        with a.db.session() as s:
            assert [t.name for t in s.scalars(select(Trunk))] == ["carrier"]


# -- on the real stack ---------------------------------------------------------------

_admin: dict[str, tuple[str, float]] = {}  # per stack: (token, when issued)


def http(stack: StackUnderTest, method: str, path: str, body: Any = None,
         token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.port('http')}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {token or admin_token(stack)}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
            return resp.status, json.loads(data) if data else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def admin_token(stack: StackUnderTest) -> str:
    """An admin of the stack (created once per stack: users outlive cleanups);
    its token fetched again once older than TOKEN_REUSE_S (they live 15 min)."""
    key = str(stack.var_dir)
    cached = _admin.get(key)
    if cached is None or time.monotonic() - cached[1] > TOKEN_REUSE_S:
        proc = stack.aitcomms("user", "add", "it-ops@example.com", "--role", "admin",
                              "--password", "it-ops-pass-1", check=False)
        assert proc.returncode == 0 or "already" in proc.stderr, proc.stderr
        status, body = http(stack, "POST", "/api/v1/auth/login",
                            {"email": "it-ops@example.com", "password": "it-ops-pass-1"},
                            token="-")
        assert status == 200, body
        _admin[key] = (body["access_token"], time.monotonic())
    return _admin[key][0]


def last_id(stack: StackUnderTest, table: str) -> int:
    """The highest id in a table that outlives clean_stack (audit_log,
    dialplan_versions): what other tests of the session wrote stays below it."""
    db = Database(stack.settings)
    with db.engine.connect() as conn:
        found = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar()
    db.dispose()
    return int(found or 0)


async def test_api_made_agent_and_did_take_a_call_then_change_and_go(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    # audit rows and dialplan versions of other files (test_tls_srtp's admin
    # patches an agent as it-ops too) are older than these marks
    audit_mark, version_mark = last_id(stack, "audit_log"), last_id(stack, "dialplan_versions")
    assert http(stack, "POST", "/api/v1/agents", {
        "extension": "1001", "name": "Ana García", "password": "ana-secret-1",
        "languages": ["es"]})[0] == 201
    assert http(stack, "POST", "/api/v1/trunks", {"name": "carrier", "host": TRUNK_IP,
                                                   "port": 5060})[0] == 201
    status, body = http(stack, "POST", "/api/v1/dids",
                        {"number": "+34910000031", "target": "ext:1001"})
    assert status == 201, body

    # the agent registers and takes a call from the trunk to the DID
    agent_rtp, caller_rtp = await RtpEndpoint.open(), await RtpEndpoint.open(TRUNK_IP)
    agent_port = sip_port()
    phone = Sipp(scenario("agent"), stack.sip_target, local_port=agent_port,
                 keys={"rtp_port": agent_rtp.port})
    await phone.start()
    try:
        assert await register(stack, "1001", "ana-secret-1", agent_port) == 0
        call = caller(stack, "+34910000031", caller_rtp, call_ms=4000)
        await call.start()
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            members = await ami.wait_for(lambda: ami.bridge_holding(size=2), timeout=10)
            agent_chan = next(c for c in members if c.startswith("PJSIP/agent-1001-"))
            caller_chan = next(c for c in members if c.startswith("PJSIP/edge-"))
            # each talks with its own tone; each must hear the other's
            caller_rtp.send_tone(await ami.rtp_address(caller_chan), 1000)
            agent_rtp.send_tone(await ami.rtp_address(agent_chan), 440)
            # on a call: it cannot be removed, and nothing changes
            status, body = http(stack, "DELETE", "/api/v1/agents/1001")
            assert status == 409 and "call" in body["reason"], body
        result, phone_result = await call.wait(), await phone.wait(timeout=15)
    finally:
        phone.kill()
        agent_rtp.close()
        caller_rtp.close()
    assert result.returncode == 0, result.output
    assert phone_result.returncode == 0, phone_result.output
    assert caller_rtp.packets > 50 and agent_rtp.packets > 50
    assert agent_rtp.energy(1000) > 10 * max(agent_rtp.energy(440), 1)
    assert caller_rtp.energy(440) > 10 * max(caller_rtp.energy(1000), 1)

    # a new password: the registration made with the old one is dropped, the
    # old password is refused, the new one works
    assert "AoR: 1001" in stack.kamcmd("ul.lookup", "location", "1001")
    status, body = http(stack, "PATCH", "/api/v1/agents/1001",
                        {"password": "ana-new-secret-2", "skills": ["auto"]})
    assert status == 200 and body["agent"]["skills"] == ["auto"], body
    assert "not found" in stack.kamcmd("ul.lookup", "location", "1001").lower()
    assert await register(stack, "1001", "ana-secret-1", sip_port(), expect=403) == 0
    assert await register(stack, "1001", "ana-new-secret-2", sip_port()) == 0

    # a DID rings it: refused until the DID goes elsewhere
    status, body = http(stack, "DELETE", "/api/v1/agents/1001")
    assert status == 409 and "+34910000031" in body["reason"], body
    status, body = http(stack, "PATCH", "/api/v1/dids/%2B34910000031",
                        {"target": "ivr:welcome"})
    assert status == 200, body
    assert http(stack, "DELETE", "/api/v1/agents/1001")[0] == 204
    # gone from Kamailio (registrations, credentials) and from Asterisk
    assert "not found" in stack.kamcmd("ul.lookup", "location", "1001").lower()
    assert await register(stack, "1001", "ana-new-secret-2", sip_port(), expect=403) == 0
    from control.stack.manager import Stack

    endpoints = Stack(stack.settings).asterisk_cli("pjsip show endpoints")
    assert "agent-1001" not in endpoints
    assert "exten => 1001," not in (stack.settings.asterisk_dir / "etc/extensions.conf"
                                     ).read_text()

    # the trunk removed: calls from its address are challenged like a stranger's
    assert TRUNK_IP in stack.kamcmd("permissions.addressDump")
    assert http(stack, "DELETE", "/api/v1/trunks/carrier")[0] == 204
    assert TRUNK_IP not in stack.kamcmd("permissions.addressDump")
    from_trunk = await Sipp(scenario("flood"), stack.sip_target, local_ip=TRUNK_IP,
                            local_port=sip_port(TRUNK_IP), service="+34910000031").run()
    assert from_trunk.returncode == 0 and from_trunk.successful == 1, from_trunk.output
    async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
        assert await ami.channels() == []
    # each change is a stored dialplan version, written by the admin
    db = Database(stack.settings)
    with db.session() as s:
        authors = set(s.scalars(text("SELECT author FROM dialplan_versions "
                                     "WHERE action = 'data' AND id > :mark"),
                                {"mark": version_mark}))
        actions = list(s.execute(text("SELECT action, entity FROM audit_log "
                                      "WHERE actor = 'it-ops@example.com' AND entity IN "
                                      "('agents', 'trunks', 'dids') AND id > :mark "
                                      "ORDER BY id"), {"mark": audit_mark}))
    db.dispose()
    assert "it-ops@example.com" in authors
    # (users of the session linked to 1001 are unlinked too: "update users")
    assert [tuple(r) for r in actions] == [
        ("create", "agents"), ("create", "trunks"), ("create", "dids"), ("update", "agents"),
        ("update", "dids"), ("delete", "agents"), ("delete", "trunks")]


async def test_cli_manages_queues_trunks_dids_and_agents(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    # other files' CLI writes (test_routing_needs' `queue update`) are older
    audit_mark = last_id(stack, "audit_log")
    from control.stack.manager import Stack

    asterisk = Stack(stack.settings).asterisk_cli
    # set up through the API (the CLI's add commands are tests/test_calls.py's)
    for path, body in (("/api/v1/agents", {"extension": "1001", "name": "Ana"}),
                       ("/api/v1/trunks", {"name": "carrier", "host": TRUNK_IP}),
                       ("/api/v1/queues", {"name": "autos", "members": ["1001"]}),
                       ("/api/v1/dids", {"number": "+34910000032", "target": "queue:autos"})):
        assert http(stack, "POST", path, body)[0] == 201, path

    out = stack.aitcomms("queue", "update", "autos", "--weight", "language=30", "--wrapup",
                         "4", "--no-record", "--skills", "auto").stdout
    assert "language=30" in out and "record=no" in out, out
    assert "wrapuptime = 4" in (stack.settings.asterisk_dir / "etc/queues.conf").read_text()
    assert "language=30" in stack.aitcomms("queue", "list").stdout
    proc = stack.aitcomms("queue", "update", "autos", "--weight", "colour=3", check=False)
    assert proc.returncode == 2 and "weights.colour: unknown weight" in proc.stderr
    proc = stack.aitcomms("queue", "remove", "autos", check=False)
    assert proc.returncode == 2 and "+34910000032" in proc.stderr
    assert "+34910000032     -> queue:autos" in stack.aitcomms("did", "list").stdout
    stack.aitcomms("did", "remove", "+34910000032")
    stack.aitcomms("queue", "remove", "autos")
    assert "No such queue" in asterisk("queue show autos")

    out = stack.aitcomms("agent", "update", "1001", "--name", "Ana G.", "--languages",
                         "es,en").stdout
    assert "Ana G." in out and "languages=es,en" in out
    assert "agent-1001" in asterisk("pjsip show endpoints")
    stack.aitcomms("agent", "remove", "1001")
    assert "agent-1001" not in asterisk("pjsip show endpoints")

    assert f"address={TRUNK_IP}" in stack.aitcomms("trunk", "list").stdout
    stack.aitcomms("trunk", "remove", "carrier")
    assert TRUNK_IP not in stack.kamcmd("permissions.addressDump")

    # the CLI's writes are audited too
    db = Database(stack.settings)
    with db.session() as s:
        rows = list(s.execute(text("SELECT action, entity FROM audit_log WHERE actor = 'cli' "
                                   "AND entity IN ('queues', 'dids', 'agents', 'trunks') "
                                   "AND id > :mark ORDER BY id"), {"mark": audit_mark}))
    db.dispose()
    assert ("update", "queues") in rows and ("delete", "queues") in rows
    assert ("delete", "dids") in rows and ("delete", "agents") in rows
    assert ("delete", "trunks") in rows
