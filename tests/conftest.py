"""One real stack (Asterisk, rtpengine, Kamailio, control plane) per test session.

It runs on its own ports and its own var folder, so a `make run` stack on the
same host is left alone. Between tests, agents, trunks and DIDs are removed,
registrations dropped and the flood ban list cleared.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# AITCOMMS_TEST_PORT_OFFSET (a multiple of 500) shifts them all, so that two
# test sessions can run on one machine at once. A test that needs a second
# stack (PostgreSQL and Redis paths) takes the offset 500 above.
_OFFSET = int(os.environ.get("AITCOMMS_TEST_PORT_OFFSET", "0"))
SECOND_STACK_OFFSET = _OFFSET + 500


@dataclass
class StackUnderTest:
    env: dict[str, str] = field(repr=False)
    var_dir: Path

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        from control.settings import Settings

        old = dict(os.environ)
        os.environ.update(self.env)
        try:
            return Settings.from_env()
        finally:
            os.environ.clear()
            os.environ.update(old)

    def port(self, name: str) -> int:
        return int(self.env[f"AITCOMMS_PORT_{name.upper()}"])

    @property
    def sip_target(self) -> str:
        return f"127.0.0.1:{self.port('sip')}"

    def secret(self, key: str) -> str:
        from control.secrets import ensure_secrets

        return ensure_secrets(self.var_dir / "secrets.env")[key]

    def aitcomms(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The real CLI, as IT ops run it."""
        proc = subprocess.run([sys.executable, "-m", "control", *args], env=self.env,
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
        if check and proc.returncode != 0:
            raise AssertionError(f"aitcomms {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}{proc.stderr}")
        return proc

    def ensure_user(self, email: str, *, role: str, password: str,
                    agent: str | None = None) -> None:
        """An API/UI user, created once per session (users outlive clean_stack):
        added with the real CLI if absent; if present, it must be the same user
        (role, agent extension, active). Any other failure of `user add` fails
        the test, loudly. (The password is proven by the test's login.)"""
        if self._user(email) is None:
            self.aitcomms("user", "add", email, "--role", role, "--password", password,
                          *(("--agent", agent) if agent else ()))
        user = self._user(email)
        assert user is not None, f"`aitcomms user add {email}` succeeded but no user row"
        found = (user["role"], user["agent_extension"], bool(user["active"]))
        assert found == (role, agent, True), (
            f"user {email} exists as (role, agent, active) {found}, "
            f"the test needs {(role, agent, True)}")

    def _user(self, email: str) -> dict[str, object] | None:
        from sqlalchemy import text

        from control.db import Database

        db = Database(self.settings)
        try:
            with db.engine.connect() as conn:
                row = conn.execute(text("SELECT role, agent_extension, active FROM users "
                                        "WHERE email = :email"), {"email": email}).first()
        finally:
            db.dispose()
        return dict(row._mapping) if row is not None else None

    def kamcmd(self, *args: str) -> str:
        # kamcmd reads digits as integers: "s:" keeps an extension a string
        args = tuple(f"s:{a}" if a.isdigit() else a for a in args)
        return subprocess.run(["kamcmd", "-s", f"tcp:127.0.0.1:{self.port('kamailio_ctl')}",
                               *args], capture_output=True, text=True, timeout=10).stdout

    def log(self, component: str) -> str:
        return (self.var_dir / "log" / f"{component}.log").read_text(errors="replace")


def ports_at(offset: int) -> dict[str, int]:
    """The stack's ports at a port offset (a multiple of 500)."""
    return {name: port + offset for name, port in {
        "SIP": 25060, "WS": 28080, "WSS": 28443, "ASTERISK_SIP": 25080, "AMI": 25038,
        "ARI": 28088, "HTTP": 28000, "FASTAGI": 24573, "RTPENGINE_NG": 22223,
        "KAMAILIO_CTL": 22049,
    }.items()} | {
        "ASTERISK_RTP_MIN": 50000 + 2 * offset, "ASTERISK_RTP_MAX": 50499 + 2 * offset,
        "RTPENGINE_MIN": 50500 + 2 * offset, "RTPENGINE_MAX": 50999 + 2 * offset,
    }


TEST_PORTS = ports_at(_OFFSET)


@contextmanager
def running_stack(offset: int, **env_extra: str) -> Iterator[StackUnderTest]:
    """A whole stack (Asterisk, rtpengine, Kamailio, control plane) in its own
    folder at a port offset, on embedded defaults unless env_extra says
    otherwise (DATABASE_URL, REDIS_URL); its logs kept in test-artifacts/."""
    var_dir = Path(tempfile.mkdtemp(prefix="aitcomms-test-"))
    ports = ports_at(offset)
    env = {**os.environ, "AITCOMMS_VAR": str(var_dir)}
    env.update({f"AITCOMMS_PORT_{k}": str(v) for k, v in ports.items()})
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(env_extra)
    ts = StackUnderTest(env=env, var_dir=var_dir)
    from control.stack.components import port_open

    if port_open("udp", ports["SIP"]) or port_open("tcp", ports["AMI"]):
        pytest.fail(f"the test ports (SIP {ports['SIP']}) are taken: another test "
                    "session is running on this machine")
    up = ts.aitcomms("up", check=False)
    if up.returncode != 0:
        ts.aitcomms("down", check=False)
        pytest.fail(f"test stack did not come up:\n{up.stdout}{up.stderr}")
    try:
        yield ts
    finally:
        ts.aitcomms("down", check=False)
        artifacts = ROOT / "test-artifacts" / "logs"
        if offset != _OFFSET:
            artifacts = artifacts / f"offset-{offset}"
        artifacts.mkdir(parents=True, exist_ok=True)
        for log in (var_dir / "log").glob("*.log"):
            shutil.copy(log, artifacts / log.name)
        shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[StackUnderTest]:
    with running_stack(_OFFSET) as ts:
        yield ts


@pytest.fixture
def clean_stack(stack: StackUnderTest) -> Iterator[StackUnderTest]:
    """The shared stack, emptied of this test's agents, trunks, DIDs and registrations."""
    yield stack
    from sqlalchemy import text

    from control.db import Database
    from control.stack.manager import Stack

    # calls a test left behind (a killed SIPp) must not reach the next test
    Stack(stack.settings).asterisk_cli("channel request hangup all")
    db = Database(stack.settings)
    with db.session() as session:
        extensions = [r[0] for r in session.execute(text("SELECT extension FROM agents"))]
        for table in ("routing_decisions", "calls", "queue_members", "queues", "dids", "trunks",
                      "agents", "tasks", "interactions", "customer_phones", "customers"):
            session.execute(text(f"DELETE FROM {table}"))
    db.dispose()
    stack.aitcomms("apply")
    for ext in extensions:
        stack.kamcmd("ul.rm", "location", ext)
    for table in ("ipban", "authfail", "userban", "trusted"):  # the edge's memory
        stack.kamcmd("htable.flush", table)


# -- the database of the API and CRM tests, on each backend ----------------------------

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One throwaway PostgreSQL database for the session, migrated once: its URL."""
    from tests.harness.crm import create_pg_database, drop_pg_database, migrate, pg_unreachable

    reason = pg_unreachable()
    if reason:
        pytest.skip(f"postgresql backend: {reason}")
    from control.db import Database
    from control.settings import Settings

    url = create_pg_database("aitcomms_suite")
    try:
        db = Database(Settings(var_dir=Path(tempfile.mkdtemp(prefix="aitcomms-pg-")),
                               database_url_env=url))
        migrate(db)
        db.dispose()
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """An empty database at the latest schema, SQLite or PostgreSQL (the test
    runs once on each; the PostgreSQL run is skipped, saying why, without a server)."""
    from tests.harness.crm import postgres_database, sqlite_database

    if request.param == "postgresql":
        db = postgres_database(tmp_path, request.getfixturevalue("pg_database"))
    else:
        db = sqlite_database(tmp_path)
    yield db
    db.dispose()
