"""User accounts through the API (a temporary database, SQLite and
PostgreSQL, no Asterisk): admins create, change, disable, remove users and
reset their password or two-factor; supervisors manage agents' accounts
only; nobody raises their own role; the last active admin stays; every
refusal names its field and stores nothing; every change is in the audit
log. Also: an agent made with its login in one request, the demo of a new
install, the ``aitcomms user`` commands, and the test call's refusals
(placing it for real is tests/test_first_call.py's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from control.auth import service, users
from control.auth.audit import CLI, SEED
from control.auth.models import AuditEntry, RefreshToken, User
from control.db import Database
from control.errors import Conflict
from control.ivr.flows import dialplans_dir, load_flows
from control.onboarding import demo
from control.settings import Settings
from tests.harness.api import USERS, Api, api
from tests.test_admin_api import admin_api, audit, refused, send
from tests.test_crm import cli_env  # noqa: F401 (a fixture)


def user_id(a: Api, email: str) -> int:
    with a.db.session() as s:
        found = s.scalar(select(User.id).where(User.email == email))
    assert found is not None, email
    return found


async def login(a: Api, email: str, password: str, **extra: Any) -> tuple[int, Any]:
    return await a.call("POST", "/api/v1/auth/login",
                        json={"email": email, "password": password, **extra})


def counts(a: Api) -> tuple[int, int]:
    with a.db.session() as s:
        return (s.scalar(select(func.count(User.id))) or 0,
                s.scalar(select(func.count(AuditEntry.id))) or 0)


async def test_an_admin_manages_accounts(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        admin = await a.token("admin")
        status, body = await send(a, "GET", "/api/v1/users", admin)
        assert status == 200 and {u["email"] for u in body["users"]} == set(USERS.values())
        assert all("password_hash" not in u and "totp_secret" not in u for u in body["users"])

        # create, without a password: one is generated and shown once
        status, body = await send(a, "POST", "/api/v1/users", admin,
                                  {"email": "Marta@Correduria.es", "role": "agent",
                                   "agent_extension": "1002"})
        assert status == 201, body
        marta, generated = body["user"], body["generated_password"]
        assert (marta["email"], marta["role"], marta["agent_extension"], marta["active"],
                marta["two_factor"]) == ("marta@correduria.es", "agent", "1002", True, False)
        status, pair = await login(a, "marta@correduria.es", generated)
        assert status == 200 and pair["user"]["agent_extension"] == "1002"

        # change the role and the agent extension, then unlink it
        path = f"/api/v1/users/{marta['id']}"
        status, body = await send(a, "PATCH", path, admin, {"role": "supervisor",
                                                           "agent_extension": "1001"})
        assert status == 200 and (body["user"]["role"], body["user"]["agent_extension"]) == (
            "supervisor", "1001"), body
        status, body = await send(a, "PATCH", path, admin, {"agent_extension": None})
        assert status == 200 and body["user"]["agent_extension"] is None

        # disabled: no login, and its refresh token is revoked
        status, body = await send(a, "PATCH", path, admin, {"active": False})
        assert status == 200 and body["user"]["active"] is False
        assert (await login(a, "marta@correduria.es", generated))[0] == 401
        status, _ = await a.call("POST", "/api/v1/auth/refresh",
                                 json={"refresh_token": pair["refresh_token"]})
        assert status == 401
        status, body = await send(a, "PATCH", path, admin, {"active": True})
        assert status == 200 and body["user"]["active"] is True

        # reset the password: the old one stops, the given or generated one works
        status, body = await send(a, "POST", f"{path}/reset_password", admin,
                                  {"password": "una-nueva-clave-9"})
        assert status == 200 and "generated_password" not in body, body
        assert (await login(a, "marta@correduria.es", generated))[0] == 401
        status, pair = await login(a, "marta@correduria.es", "una-nueva-clave-9")
        assert status == 200
        status, body = await send(a, "POST", f"{path}/reset_password", admin)
        assert status == 200 and len(body["generated_password"]) >= 10
        assert (await login(a, "marta@correduria.es", "una-nueva-clave-9"))[0] == 401
        with a.db.session() as s:
            live = s.scalar(select(func.count(RefreshToken.jti)).where(
                RefreshToken.user_id == marta["id"], RefreshToken.revoked_at.is_(None)))
        assert live == 0, "a reset password ends the user's sessions"
        new_password = body["generated_password"]

        # reset two-factor: a user who lost the phone signs in with the password only
        with a.db.session() as s:
            service.enable_totp(s, actor=CLI, email="marta@correduria.es")
        status, body = await login(a, "marta@correduria.es", new_password)
        assert (status, body["error"]) == (401, "totp_required")
        status, body = await send(a, "POST", f"{path}/reset_totp", admin)
        assert status == 200 and body["user"]["two_factor"] is False
        assert (await login(a, "marta@correduria.es", new_password))[0] == 200

        status, _ = await send(a, "DELETE", path, admin)
        assert status == 204
        assert (await login(a, "marta@correduria.es", new_password))[0] == 401
        assert (await send(a, "PATCH", path, admin, {"active": True}))[0] == 404

        # every change is in the audit log, by the admin, without a secret in it
        entries = audit(a.db, "users")
        mine = [(e["action"], e["actor"]) for e in entries
                if e["entity_id"] == str(marta["id"]) and e["actor"] == USERS["admin"]]
        assert mine == [("create", USERS["admin"]), ("update", USERS["admin"]),
                        ("update", USERS["admin"]), ("update", USERS["admin"]),
                        ("update", USERS["admin"]), ("reset_password", USERS["admin"]),
                        ("reset_password", USERS["admin"]), ("reset_totp", USERS["admin"]),
                        ("delete", USERS["admin"])], mine
        role_change = next(e for e in entries if e["entity_id"] == str(marta["id"])
                           and e["action"] == "update")
        assert (role_change["before"]["role"], role_change["after"]["role"]) == (
            "agent", "supervisor")
        for e in entries:
            text = repr(e)
            assert "argon2" not in text and generated not in text and new_password not in text


async def test_who_may_change_whom(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        sup = await a.token("supervisor")
        agent = await a.token("agent")
        sup_id, agent_id, admin_id = (user_id(a, USERS[w]) for w in ("supervisor", "agent",
                                                                       "admin"))
        before = counts(a)
        # nobody raises their own role
        answer = await refused(a, "PATCH", f"/api/v1/users/{sup_id}", sup, {"role": "admin"},
                               403, "role")
        assert "own role" in answer["reason"], answer
        # supervisors grant no role above theirs and touch agents' accounts only
        for role in ("admin", "supervisor"):
            await refused(a, "PATCH", f"/api/v1/users/{agent_id}", sup, {"role": role},
                          403, "role")
        await refused(a, "POST", "/api/v1/users", sup,
                      {"email": "jefe@correduria.es", "role": "admin"}, 403, "role")
        await refused(a, "PATCH", f"/api/v1/users/{admin_id}", sup, {"active": False},
                      403, "user")
        await refused(a, "POST", f"/api/v1/users/{admin_id}/reset_password", sup, None,
                      403, "user")
        # agents do not manage accounts at all
        for method, path in (("GET", "/api/v1/users"),
                             ("PATCH", f"/api/v1/users/{agent_id}")):
            status, _ = await send(a, method, path, agent, {"role": "admin"}
                                   if method == "PATCH" else None)
            assert status == 403
        assert counts(a) == before, "a refused change stores nothing"

        # what a supervisor may: an agent's account
        status, body = await send(a, "POST", "/api/v1/users", sup,
                                  {"email": "nuevo@correduria.es", "role": "agent"})
        assert status == 201, body
        status, body = await send(a, "PATCH", f"/api/v1/users/{agent_id}", sup,
                                  {"active": False})
        assert status == 200 and body["user"]["active"] is False
        # lowering one's own role is allowed (an admin who steps down, with another admin)
        status, body = await send(a, "PATCH", f"/api/v1/users/{sup_id}", sup,
                                  {"role": "agent"})
        assert status == 200 and body["user"]["role"] == "agent"
        # ...and from then on the database's role counts, not the token's
        await refused(a, "POST", "/api/v1/users", sup,
                      {"email": "otro@correduria.es", "role": "agent"}, 403, "user")


async def test_the_last_active_admin_stays(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        admin = await a.token("admin")
        admin_id = user_id(a, USERS["admin"])
        path = f"/api/v1/users/{admin_id}"
        answer = await refused(a, "PATCH", path, admin, {"role": "supervisor"}, 409, "role")
        assert "last active admin" in answer["reason"], answer
        await refused(a, "PATCH", path, admin, {"active": False}, 409, "active")
        await refused(a, "DELETE", path, admin, None, 409, "id")
        # a second admin who is disabled does not count
        status, body = await send(a, "POST", "/api/v1/users", admin, {
            "email": "admin2@correduria.es", "role": "admin", "password": "otra-clave-larga"})
        assert status == 201
        second = body["user"]["id"]
        assert (await send(a, "PATCH", f"/api/v1/users/{second}", admin,
                           {"active": False}))[0] == 200
        await refused(a, "PATCH", path, admin, {"role": "agent"}, 409, "role")
        # with another active admin, stepping down is fine
        assert (await send(a, "PATCH", f"/api/v1/users/{second}", admin,
                           {"active": True}))[0] == 200
        status, body = await send(a, "PATCH", path, admin, {"role": "supervisor"})
        assert status == 200 and body["user"]["role"] == "supervisor"
        # the remaining admin cannot be removed or disabled, even by the CLI
        with a.db.session() as s:
            for change in (lambda: users.remove_user(s, actor=CLI, user_id=second),
                           lambda: users.update_user(s, actor=CLI, user_id=second,
                                                     active=False)):
                try:
                    change()
                except Conflict as exc:
                    assert exc.field in ("id", "active") and "last active admin" in exc.reason
                else:
                    raise AssertionError("the last active admin was removed or disabled")


async def test_bad_input_names_the_field(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        admin = await a.token("admin")
        agent_id = user_id(a, USERS["agent"])
        before = counts(a)
        for body, field in (
                ({"email": "not-an-email", "role": "agent"}, "email"),
                ({"email": "x@correduria.es", "role": "boss"}, "role"),
                ({"email": "x@correduria.es", "role": "agent", "password": "short"},
                 "password"),
                ({"email": "x@correduria.es", "role": "agent", "agent_extension": "9999"},
                 "agent_extension"),
                ({"email": "x@correduria.es", "role": "agent", "agent_extension": "0abc"},
                 "agent_extension"),
                ({"email": "x@correduria.es", "role": "agent", "phone": "1"}, "phone"),
                ({"role": "agent"}, "email"),
                ({"email": 7, "role": "agent"}, "email")):
            await refused(a, "POST", "/api/v1/users", admin, body, 422, field)
        await refused(a, "POST", "/api/v1/users", admin,
                      {"email": USERS["agent"].upper(), "role": "agent"}, 409, "email")
        path = f"/api/v1/users/{agent_id}"
        for body, field in (({}, "body"), ({"active": "no"}, "active"),
                            ({"role": "root"}, "role"), ({"agent_extension": "4242"},
                                                         "agent_extension"),
                            ({"email": "y@correduria.es"}, "email")):
            await refused(a, "PATCH", path, admin, body, 422, field)
        await refused(a, "PATCH", "/api/v1/users/abc", admin, {"active": True}, 422, "id")
        await refused(a, "PATCH", "/api/v1/users/999", admin, {"active": True}, 404, "id")
        await refused(a, "POST", f"{path}/reset_password", admin, {"password": "corta"},
                      422, "password")
        assert counts(a) == before, "a refused request stores nothing"


async def test_an_agent_is_made_with_its_login(tmp_path: Path) -> None:
    async with admin_api(tmp_path) as (a, applied):
        admin = await a.token("admin")
        status, body = await send(a, "POST", "/api/v1/agents", admin, {
            "extension": "1005", "name": "Elena Vidal", "user_email": "elena@correduria.es"})
        assert status == 201, body
        assert body["user"] == {"id": body["user"]["id"], "email": "elena@correduria.es",
                                "role": "agent", "agent_extension": "1005", "active": True}
        assert applied, "the new agent is pushed into the stack"
        status, pair = await login(a, "elena@correduria.es", body["generated_user_password"])
        assert status == 200 and pair["user"]["agent_extension"] == "1005"
        actions = [(e["entity"], e["action"]) for e in audit(a.db, "agents")
                   + audit(a.db, "users") if e["entity_id"] in ("1005", str(body["user"]["id"]))]
        assert ("agents", "create") in actions and ("users", "create") in actions
        # a bad login e-mail: neither the agent nor its login is stored
        await refused(a, "POST", "/api/v1/agents", admin, {
            "extension": "1006", "name": "Otro", "user_email": "nope"}, 422, "email")
        await refused(a, "POST", "/api/v1/agents", admin, {
            "extension": "1006", "name": "Otro", "user_email": USERS["agent"]}, 409, "email")
        status, agents = await send(a, "GET", "/api/v1/agents", admin)
        assert "1006" not in {x["extension"] for x in agents["agents"]}


async def test_test_call_refusals(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        admin, agent = await a.token("admin"), await a.token("agent")
        for body, field in (({"to": "+34999999999"}, "to"), ({"to": "queue:nadie"}, "to"),
                            ({"to": "7777"}, "to"), ({"to": "hola"}, "to"),
                            ({"to": "1001", "from": "12"}, "from"), ({}, "to")):
            await refused(a, "POST", "/api/v1/calls/test", admin, body, 422, field)
        assert (await send(a, "POST", "/api/v1/calls/test", agent, {"to": "1001"}))[0] == 403
        # a real number, but this app has no Asterisk: 503, try again
        answer = await refused(a, "POST", "/api/v1/calls/test", admin, {"to": "1001"}, 503,
                               None)
        assert answer["error"] == "unavailable", answer


async def test_the_demo_of_a_new_install(tmp_path: Path) -> None:
    from tests.harness.crm import sqlite_database

    db = sqlite_database(tmp_path)
    settings = Settings(var_dir=tmp_path)
    ivrs = load_flows(dialplans_dir(settings.root) / "ivr")
    try:
        with db.session() as s:
            made = demo.seed_demo(s, actor=SEED, realm="aitcomms.local", ivrs=ivrs)
        assert made is not None
        assert [x.extension for x in made.accounts] == ["1001", "1002"]
        assert made.queues == ["autos", "hogar", "operador"]
        with db.session() as s:
            for account in made.accounts:
                pair = service.login(s, "k" * 32, account.email, account.password)
                assert not isinstance(pair, service.AuthError), pair
                assert pair.user["agent_extension"] == account.extension
            assert made.accounts[0].password != made.accounts[1].password
            dids = [e.after for e in s.scalars(select(AuditEntry).where(
                AuditEntry.entity == "dids"))]
            assert dids and dids[0]["target"] == "ivr:seguros", dids
            actors = set(s.scalars(select(AuditEntry.actor)))
            assert actors == {"seed"}, actors
        with db.session() as s:  # a configured install gets no demo
            assert demo.seed_demo(s, actor=SEED, realm="aitcomms.local", ivrs=ivrs) is None
    finally:
        db.dispose()


def test_user_commands_of_the_cli(cli_env: Path,  # noqa: F811
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from control.cli import main
    from control.db import Database

    assert main(["db", "upgrade"]) == 0
    assert main(["user", "add", "jefa@correduria.es", "--role", "admin"]) == 0
    assert main(["user", "add", "pepe@correduria.es", "--role", "agent",
                 "--password", "una-clave-larga"]) == 0
    capsys.readouterr()
    assert main(["user", "update", "PEPE@correduria.es", "--role", "supervisor",
                 "--no-active"]) == 0
    assert "pepe@correduria.es" in capsys.readouterr().out
    assert main(["user", "list"]) == 0
    listed = capsys.readouterr().out
    assert "jefa@correduria.es" in listed and "DISABLED" in listed, listed
    assert main(["user", "reset-password", "pepe@correduria.es"]) == 0
    assert "generated password (shown once)" in capsys.readouterr().out
    assert main(["user", "reset-totp", "pepe@correduria.es"]) == 0
    assert main(["user", "remove", "pepe@correduria.es"]) == 0
    capsys.readouterr()
    for argv, message in ((["update", "jefa@correduria.es", "--role", "agent"],
                           "last active admin"),
                          (["remove", "jefa@correduria.es"], "last active admin"),
                          (["update", "jefa@correduria.es"], "nothing to change"),
                          (["remove", "nadie@correduria.es"], "no user")):
        assert main(["user", *argv]) == 2, argv
        assert message in capsys.readouterr().err, argv
    db = Database(Settings(var_dir=cli_env))
    try:
        with db.session() as s:
            actions = [e.action for e in s.scalars(select(AuditEntry).where(
                AuditEntry.entity == "users", AuditEntry.actor == "cli"))]
        assert actions == ["create", "create", "update", "reset_password", "reset_totp",
                           "delete"], actions
    finally:
        db.dispose()


def test_call_test_from_the_cli_without_a_stack(cli_env: Path,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from control.cli import main
    from control.settings import reset_settings
    from tests.harness.ports import sip_port

    monkeypatch.setenv("AITCOMMS_PORT_AMI", str(sip_port()))  # free: nothing listens
    reset_settings()
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["call", "test", "--to", "queue:nadie"]) == 2
    assert "to: no queue named nadie" in capsys.readouterr().err
    # a real target, but no Asterisk: said at once, no traceback
    assert main(["call", "test", "--to", "ivr:welcome"]) == 2
    err = capsys.readouterr().err
    assert "is the stack up?" in err and "Traceback" not in err, err
