"""The edge against brute force and scanners, without banning real offices.

Real SIPp against the test stack's Kamailio, at production defaults
(control.settings.EdgeGuard): 10 failed digests from one address in 5 min
ban it, 20 for one user lock that user, an address that authenticated is
trusted. Attackers send from addresses that are no trunk (the flood guard
exempts trunks): 127.0.0.4 to 127.0.0.7; agents' phones are on 127.0.0.1,
the trunk on 127.0.0.2.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from control.provisioning import render
from control.settings import EdgeGuard, Settings
from tests.conftest import ROOT, StackUnderTest
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import Sipp, SippResult, scenario
from tests.test_calls import caller, register

TRUNK_IP = "127.0.0.2"
GUESSER_IP = "127.0.0.4"
SECOND_GUESSER_IP = "127.0.0.5"
OFFICE_IP = "127.0.0.6"
STRANGER_IP = "127.0.0.7"
AUTH_FAILURES = 10  # EdgeGuard.auth_failures
USER_FAILURES = 20  # EdgeGuard.user_failures
EDGE_TABLES = ("ipban", "authfail", "userban", "trusted")


@pytest.fixture
def edge(clean_stack: StackUnderTest) -> Iterator[StackUnderTest]:
    """The clean stack with the edge's counters, bans and trust forgotten,
    before and after: one test's guesses must not lock the next one out."""
    for table in EDGE_TABLES:
        clean_stack.kamcmd("htable.flush", table)
    yield clean_stack
    for table in EDGE_TABLES:
        clean_stack.kamcmd("htable.flush", table)


async def guess(stack: StackUnderTest, ip: str, ext: str, password: str, *,
                calls: int = 1, rate: float | None = None, expect: int = 403) -> SippResult:
    """REGISTERs of ``ext`` from ``ip``; a call succeeds when answered ``expect``."""
    return await Sipp(scenario("register", expect=expect, hold_ms=0), stack.sip_target,
                      local_ip=ip, local_port=sip_port(ip), auth=(ext, password),
                      calls=calls, rate=rate, timeout_s=60,
                      keys={"user": ext, "contact_port": sip_port(ip), "expires": 300},
                      extra=["-max_retrans", "1", "-recv_timeout", "2000"]).run(timeout=90)


async def options(stack: StackUnderTest, ip: str, user_agent: str) -> SippResult:
    return await Sipp(scenario("options", ua=user_agent), stack.sip_target, local_ip=ip,
                      local_port=sip_port(ip), timeout_s=10).run()


def test_edge_settings_are_rendered_into_a_valid_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AITCOMMS_EDGE_AUTH_FAILURES", "5")
    monkeypatch.setenv("AITCOMMS_EDGE_TRUST_S", "120")
    edge = EdgeGuard.from_env()
    assert (edge.auth_failures, edge.trust_s, edge.auth_ban_s) == (5, 120, 900)
    settings = Settings(var_dir=tmp_path / "var", rootfs=tmp_path / "rootfs", edge=edge)
    data = render.StackData([], [], [], [], [])
    files = render.render_all(settings, {"AMI_PASSWORD": "a", "ARI_PASSWORD": "b",
                                         "JWT_SECRET": "c"}, data)
    render.write(files)
    cfg = settings.kamailio_dir / "kamailio.cfg"
    text = cfg.read_text()
    assert "#!define AUTH_FAILURES 5\n" in text
    assert "trusted=>size=10;autoexpire=120;" in text
    proc = subprocess.run(["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    monkeypatch.setenv("AITCOMMS_EDGE_AUTH_BAN_S", "0")
    with pytest.raises(SystemExit, match="AITCOMMS_EDGE_AUTH_BAN_S"):
        EdgeGuard.from_env()


def add_agents(stack: StackUnderTest, extensions: list[str]) -> None:
    """Many agents in one transaction and one apply (the CLI applies per agent)."""
    code = (
        "import sys\n"
        "from control.acd.agents import create_agent\n"
        "from control.db import Database\n"
        "from control.provisioning.dialplan import apply_data_change\n"
        "from control.settings import get_settings\n"
        "s = get_settings(); db = Database(s)\n"
        "with db.session() as session:\n"
        "    for ext in sys.argv[1:]:\n"
        "        create_agent(session, extension=ext, name='Office ' + ext,\n"
        "                     password='office-pass-' + ext, realm=s.sip_domain)\n"
        "apply_data_change(s, db)\n"
    )
    subprocess.run([sys.executable, "-c", code, *extensions], env=stack.env, cwd=ROOT,
                   check=True, timeout=120, capture_output=True)


def credentials_file(extensions: list[str]) -> Path:
    """SIPp's injection file for register_many.xml: each phone's credentials."""
    inf = Path(tempfile.mkstemp(prefix="sipp-office-", suffix=".csv")[1])
    inf.write_text("SEQUENTIAL\n" + "".join(
        f"{e};[authentication username={e} password=office-pass-{e}]\n" for e in extensions))
    return inf


async def test_password_guesser_is_banned_while_agents_keep_working(
        edge: StackUnderTest) -> None:
    stack = edge
    stack.aitcomms("agent", "add", "1001", "--name", "Ana", "--password", "ana-secret-1")
    stack.aitcomms("agent", "add", "1002", "--name", "Luis", "--password", "luis-secret-2")
    rtp_1001, rtp_1002 = await RtpEndpoint.open(), await RtpEndpoint.open()
    phone_port = sip_port()
    phone = Sipp(scenario("agent"), stack.sip_target, local_port=phone_port,
                 keys={"rtp_port": rtp_1001.port})
    await phone.start()
    try:
        assert await register(stack, "1001", "ana-secret-1", phone_port) == 0
        # a slow guesser, 2 wrong passwords a second: refused (403) until
        # banned, then not answered at all
        guesses = await guess(stack, GUESSER_IP, "1001", "password123", calls=20, rate=2)
        assert guesses.successful == AUTH_FAILURES, guesses.output
        assert guesses.failed == 20 - AUTH_FAILURES, guesses.output
        # even the right password gets no answer from there now
        right = await guess(stack, GUESSER_IP, "1001", "ana-secret-1", expect=200)
        assert right.successful == 0 and right.failed == 1, right.output
        bans = stack.kamcmd("htable.dump", "ipban")
        assert GUESSER_IP in bans and "auth" in bans, bans
        assert f"password guessing from {GUESSER_IP}" in stack.log("kamailio")
        # the agent's phone elsewhere re-registers and is reachable
        assert await register(stack, "1001", "ana-secret-1", phone_port) == 0
        call = await caller(stack, "1001", rtp_1002, ip="127.0.0.1", call_ms=2000,
                            auth=("1002", "luis-secret-2"), from_user="1002").run()
        assert call.returncode == 0, call.output
        assert (await phone.wait(timeout=15)).returncode == 0
        # ops see the ban, and lifting it (htable.delete) lets the address in again
        assert f"address {GUESSER_IP}  auth" in stack.aitcomms("edge", "bans").stdout
        stack.aitcomms("edge", "unban", GUESSER_IP)
        assert GUESSER_IP not in stack.aitcomms("edge", "bans").stdout
        assert (await guess(stack, GUESSER_IP, "1001", "ana-secret-1",
                            expect=200)).successful == 1
    finally:
        phone.kill()
        rtp_1001.close()
        rtp_1002.close()


async def test_guessing_one_user_from_many_addresses_locks_that_user(
        edge: StackUnderTest) -> None:
    stack = edge
    stack.aitcomms("agent", "add", "1001", "--name", "Ana", "--password", "ana-secret-1")
    # Ana's own phone, at her office, authenticated before the attack
    assert (await guess(stack, OFFICE_IP, "1001", "ana-secret-1", expect=200)).successful == 1
    for ip in (GUESSER_IP, SECOND_GUESSER_IP):  # a distributed guesser
        result = await guess(stack, ip, "1001", "wrong-pass", calls=AUTH_FAILURES, rate=5)
        assert result.successful == AUTH_FAILURES, result.output
    assert "1001" in stack.kamcmd("htable.dump", "userban")
    assert "user 1001  guessed" in stack.aitcomms("edge", "bans").stdout
    # a new address gets the wrong-password answer even with the right one
    locked = await guess(stack, STRANGER_IP, "1001", "ana-secret-1", expect=403)
    assert locked.successful == 1, locked.output
    # Ana's office still gets in
    assert (await guess(stack, OFFICE_IP, "1001", "ana-secret-1", expect=200)).successful == 1


async def test_forty_phones_behind_one_address_register_at_once(
        edge: StackUnderTest) -> None:
    stack = edge
    extensions = [str(2001 + i) for i in range(40)]
    add_agents(stack, extensions)
    inf = credentials_file(extensions)
    # all 40 within 100 ms, as after a power cut at the office
    office = Sipp(scenario("register_many"), stack.sip_target, local_ip=OFFICE_IP,
                  local_port=sip_port(OFFICE_IP), calls=40, rate=400, timeout_s=30,
                  extra=["-inf", str(inf), "-l", "40"])
    result = await office.run()
    assert result.successful == 40 and result.failed == 0, result.output
    registered = stack.kamcmd("ul.dump")
    assert all(f"sip:{e}@{OFFICE_IP}" in registered for e in extensions)
    assert OFFICE_IP not in stack.kamcmd("htable.dump", "ipban")


@pytest.mark.parametrize("user_agent", ["friendly-scanner", "sipvicious-0.3.4",
                                        "sipcli/v1.8", "VaxSIPUserAgent/3.1", "pplsip"])
async def test_scanners_get_no_answer(edge: StackUnderTest, user_agent: str) -> None:
    scan = await options(edge, STRANGER_IP, user_agent)
    assert scan.successful == 0 and scan.failed == 1, scan.output
    # the same request from the same address with a phone's User-Agent is answered
    phone = await options(edge, STRANGER_IP, "Yealink SIP-T46S 66.86.0.15")
    assert phone.successful == 1, phone.output


@pytest.mark.parametrize(("what", "header", "content_length", "pad_bytes", "expect"), [
    ("broken header", "Expires: soon", "[len]", 0, 400),
    ("wrong Content-Length", "Expires: 60", "900", 0, 400),
    ("oversized", "Expires: 60", "[len]", 20000, 513),
])
async def test_malformed_invite_is_refused_and_calls_go_on(
        edge: StackUnderTest, what: str, header: str, content_length: str, pad_bytes: int,
        expect: int) -> None:
    stack = edge
    stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP)
    stack.aitcomms("did", "add", "+34910000001", "--to", "ivr:welcome")
    bad = await Sipp(scenario("malformed", header=header, content_length=content_length,
                              pad="a=x-pad:" + "x" * pad_bytes if pad_bytes else "",
                              expect=expect),
                     stack.sip_target, local_ip=STRANGER_IP, local_port=sip_port(STRANGER_IP),
                     service="+34910000001", timeout_s=10).run()
    assert bad.successful == 1, f"{what}: {bad.output}"
    # the sender is not banned, and a real call connects
    assert (await options(stack, STRANGER_IP, "Yealink SIP-T46S")).successful == 1
    rtp = await RtpEndpoint.open(TRUNK_IP)
    try:
        legit = await caller(stack, "+34910000001", rtp, call_ms=3000).run()
    finally:
        rtp.close()
    assert legit.returncode == 0, legit.output
    assert rtp.packets > 40
