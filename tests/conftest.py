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

from tests.harness.session import (
    BASE_OFFSET,
    MAX_OFFSET,
    PORT_OFFSET,
    WORKER_STRIDE,
    WORKERS,
)

ROOT = Path(__file__).resolve().parent.parent
# AITCOMMS_TEST_PORT_OFFSET (a multiple of 500) shifts them all, so that two
# test sessions can run on one machine at once, and each worker of a session
# has its own offset (tests/harness/session.py). A test that needs a second
# stack (PostgreSQL and Redis paths) takes the offset 500 above.
_OFFSET = PORT_OFFSET
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

    def aitcomms(self, *args: str, check: bool = True,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The real CLI, as IT ops run it."""
        proc = subprocess.run([sys.executable, "-m", "control", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if check and proc.returncode != 0:
            raise AssertionError(f"aitcomms {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}{proc.stderr}")
        return proc

    def ensure_user(self, email: str, *, role: str, password: str,
                    agent: str | None = None) -> None:
        """An API/UI user, created once per session (users outlive clean_stack):
        added with the real CLI if absent; if present, it must be the same user
        (role, agent extension, active). Any other failure of `user add` fails
        the test, loudly. (The password is proven by the test's login.)

        One difference is expected and mended, with the real CLI: a user with
        no agent where the test wants one. Removing an agent through the API
        or the CLI unlinks its users (so that a new agent given the extension
        does not inherit them), and a test file on the same worker may have
        done that since another file made this user (test_campaigns and
        test_outbound share one)."""
        found_first = self._user(email)
        if found_first is None:
            self.aitcomms("user", "add", email, "--role", role, "--password", password,
                          *(("--agent", agent) if agent else ()))
        elif agent and found_first["agent_extension"] is None:
            self.aitcomms("user", "update", email, "--agent", agent)
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

    def log(self, component: str, since: int = 0) -> str:
        """A daemon's log; ``since``: from that length on (a length taken
        earlier), so that lines written before, by other tests of the
        session, do not count."""
        return (self.var_dir / "log" / f"{component}.log").read_text(errors="replace")[since:]


def ports_at(offset: int) -> dict[str, int]:
    """The stack's ports at a port offset (a multiple of 500)."""
    return {name: port + offset for name, port in {
        "SIP": 25060, "SIPS": 25061, "WS": 28080, "WSS": 28443, "ASTERISK_SIP": 25080, "AMI": 25038,
        "ARI": 28088, "HTTP": 28000, "FASTAGI": 24573, "AUDIOSOCKET": 24574,
        "RTPENGINE_NG": 22223,
        "KAMAILIO_CTL": 22049,
    }.items()} | {
        # below the kernel's ephemeral range (32768 and up), like every other
        # port of the stack: there any process's outgoing socket may hold a
        # port first (another stack's Kamailio talking to its rtpengine held
        # 52387 for hours), and Asterisk, finding its RTCP port (RTP + 1)
        # taken, runs the call without RTCP: no statistics, so the leg is
        # missing from `pjsip show channelstats`. 400 Asterisk ports (200
        # legs), 100 for rtpengine (browsers and SRTP phones only); clear of
        # a `make run` stack's ranges (10000-14999, 30000-34999)
        "ASTERISK_RTP_MIN": 15000 + offset, "ASTERISK_RTP_MAX": 15399 + offset,
        "RTPENGINE_MIN": 15400 + offset, "RTPENGINE_MAX": 15499 + offset,
        # media nodes the stack runs itself (control/stack/media_nodes.py):
        # their SIP/AMI/ARI ports are the stack's + 100 per slot (no other
        # stack's port), their RTP ranges 100 ports each (50 legs), 200 per
        # offset between 20100 and 21900 (test_faults' agents sit at 20000-20080,
        # Kamailio's ctl at 22049 and up): two nodes per stack
        "NODE_RTP_MIN": 20100 + offset // 500 * 200, "NODE_RTP_SPAN": 100,
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

    if offset > MAX_OFFSET:
        pytest.fail(f"port offset {offset} puts the stack's ports in the kernel's ephemeral "
                    f"range (32768 and up): keep AITCOMMS_TEST_PORT_OFFSET at most "
                    f"{MAX_OFFSET - WORKER_STRIDE * (WORKERS - 1) - 500} with {WORKERS} workers")

    if port_open("udp", ports["SIP"]) or port_open("tcp", ports["AMI"]):
        pytest.fail(f"the test ports (SIP {ports['SIP']}) are taken: another test "
                    "session is running on this machine")
    try:
        # `up` waits up to 60 s for each daemon: a loaded machine may need more
        up = ts.aitcomms("up", check=False, timeout=240)
        failed = f"{up.stdout}{up.stderr}" if up.returncode != 0 else ""
    except subprocess.TimeoutExpired as exc:
        failed = f"`aitcomms up` still running after {exc.timeout} s"
    if failed:  # nothing left running on the test ports for the next session
        ts.aitcomms("down", check=False)
        pytest.fail(f"test stack did not come up:\n{failed}")
    try:
        yield ts
    finally:
        ts.aitcomms("down", check=False)
        artifacts = ROOT / "test-artifacts" / "logs"
        if offset != BASE_OFFSET:  # another worker's stack, or a second stack
            artifacts = artifacts / f"offset-{offset}"
        if artifacts.is_dir() and any(artifacts.glob("*.log")):
            # an earlier stack at this offset (the fault tests run one stack per
            # class): its logs are kept as <dir>.1, .2 ... (the newest highest)
            n = 1
            while artifacts.with_name(f"{artifacts.name}.{n}").exists():
                n += 1
            earlier = artifacts.with_name(f"{artifacts.name}.{n}")
            earlier.mkdir()
            for log in artifacts.glob("*.log"):
                log.rename(earlier / log.name)
        artifacts.mkdir(parents=True, exist_ok=True)
        for log in (var_dir / "log").glob("*.log"):
            shutil.copy(log, artifacts / log.name)
        shutil.rmtree(var_dir, ignore_errors=True)


# AITCOMMS_TEST_DATA=postgresql: the session's stack keeps its data in a
# throwaway PostgreSQL database and publishes its events on Redis (a database
# number of its own per port offset), the production data path; `make test`
# runs the real-call tests that write rows or publish events that way too.
TEST_DATA = os.environ.get("AITCOMMS_TEST_DATA", "embedded")


@pytest.fixture(scope="session")
def stack() -> Iterator[StackUnderTest]:
    if TEST_DATA == "embedded":
        with running_stack(_OFFSET) as ts:
            yield ts
        return
    if TEST_DATA != "postgresql":
        pytest.fail(f"AITCOMMS_TEST_DATA={TEST_DATA!r}: expected embedded or postgresql")
    with production_data() as env, running_stack(_OFFSET, **env) as ts:
        yield ts


@contextmanager
def production_data() -> Iterator[dict[str, str]]:
    """DATABASE_URL (a new PostgreSQL database, dropped after) and REDIS_URL
    (emptied first) for a stack. Without the servers (a user's fresh
    machine) the tests are skipped, saying why, as the API tests' PostgreSQL
    runs are."""
    import redis

    from tests.harness.crm import create_pg_database, drop_pg_database, pg_unreachable

    reason = pg_unreachable()
    if reason:
        pytest.skip(f"AITCOMMS_TEST_DATA=postgresql: {reason}")
    redis_url = f"redis://127.0.0.1:6379/{1 + (_OFFSET // 500) % 14}"
    try:
        redis.Redis.from_url(redis_url).flushdb()
    except redis.RedisError as exc:
        pytest.skip(f"AITCOMMS_TEST_DATA=postgresql: no Redis at {redis_url}: {exc}")
    url = create_pg_database("aitcomms_stack")
    try:
        yield {"DATABASE_URL": url, "REDIS_URL": redis_url}
    finally:
        drop_pg_database(url)


@pytest.fixture
def clean_stack(stack: StackUnderTest) -> Iterator[StackUnderTest]:
    """The shared stack, emptied of this test's agents, trunks, DIDs, queues (with
their speech policies), calls, customers and registrations; media nodes back
to the stack's own Asterisk alone, in service."""
    yield stack
    from sqlalchemy import text

    from control.db import Database
    from control.stack.manager import Stack

    # calls a test left behind (a killed SIPp) must not reach the next test
    Stack(stack.settings).asterisk_cli("channel request hangup all")
    db = Database(stack.settings)
    with db.session() as session:
        extensions = [r[0] for r in session.execute(text("SELECT extension FROM agents"))]
        # speech_policies: a queue's transcription, by the queue's name (no
        # foreign key): a later file's queue of that name would be transcribed
        for table in ("routing_decisions", "calls", "queue_members", "queues", "dids", "trunks",
                      "agents", "tasks", "interactions", "customer_phones", "customers",
                      "speech_policies"):
            session.execute(text(f"DELETE FROM {table}"))
        # media nodes: only the stack's own Asterisk, in service
        nodes_changed = session.execute(text(
            "DELETE FROM media_nodes WHERE name != 'local'")).rowcount
        nodes_changed += session.execute(text(
            "UPDATE media_nodes SET state = 'active' "
            "WHERE state != 'active'")).rowcount
    db.dispose()
    stack.aitcomms("apply")
    if nodes_changed:
        stack.kamcmd("dispatcher.reload")
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


# -- figures the tests measured, printed at the end of the session ----------------------

def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, or a plain run
        from tests.harness import figures

        figures.clear()


# A test that failed and was run again (make test: --reruns 1) is not a pass
# to forget, nor, when it failed again, a failure whose first cause may be
# hidden by the second (a rerun meets what the first try left): why it failed
# the first time is printed at the end and kept whole in
# test-artifacts/reruns.txt (on the controller: xdist hands it the workers'
# reports).
_RERUNS: list[tuple[str, str]] = []
_WORKER: list[bool] = []  # set at configure: an xdist worker leaves it to the controller


def pytest_configure(config: pytest.Config) -> None:
    _WORKER.append(hasattr(config, "workerinput"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.outcome != "rerun" or any(_WORKER):
        return
    text = report.longreprtext or ""
    errors = [ln.strip() for ln in text.splitlines() if ln.startswith("E ")]
    _RERUNS.append((report.nodeid, (errors[0] if errors else text[-300:]).strip()[:300]))
    folder = ROOT / "test-artifacts"
    folder.mkdir(exist_ok=True)
    with open(folder / "reruns.txt", "a") as out:
        out.write(f"=== {report.nodeid} ({report.when}), failed once\n{text}\n\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.harness import figures

    found = figures.collected()
    if found:
        terminalreporter.section("figures measured by the tests")
        terminalreporter.write(found)
    if _RERUNS:
        terminalreporter.section("tests run again: why the first try failed "
                                 "(test-artifacts/reruns.txt)")
        for nodeid, why in _RERUNS:
            terminalreporter.write_line(f"{nodeid}: {why}")
