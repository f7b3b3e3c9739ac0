"""Acceptance: the stack as IT ops see it — status, idempotent start, health,
secrets, loopback-only AMI/ARI, clear errors for bad input, and an edge that
shrugs off malformed SIP."""

from __future__ import annotations

import json
import socket
import stat
import urllib.request
from pathlib import Path

from tests.conftest import StackUnderTest


def test_status_shows_every_component_up(stack: StackUnderTest) -> None:
    proc = stack.aitcomms("status")
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:] if line.strip()}
    assert set(lines) == {"asterisk", "rtpengine", "kamailio", "control"}
    for name, line in lines.items():
        assert line.split()[1] == "up", f"{name}: {line}"
        assert line.split()[2].isdigit(), f"{name} has no pid: {line}"


def test_second_up_starts_nothing_new(stack: StackUnderTest) -> None:
    before = stack.aitcomms("status").stdout
    again = stack.aitcomms("up").stdout
    assert stack.aitcomms("status").stdout == before  # same pids: nothing restarted
    # the first admin was created (password shown once) by the first `up` only
    assert "First admin" not in again
    from sqlalchemy import text

    from control.db import Database

    db = Database(stack.settings)
    with db.engine.connect() as conn:
        admins = conn.execute(text("SELECT email FROM users WHERE role = 'admin'")).all()
    db.dispose()
    # (other tests of the session add admins of their own)
    assert [a[0] for a in admins].count("admin@aitcomms.local") == 1


def test_status_says_why_a_component_is_down(stack: StackUnderTest) -> None:
    pid_file = stack.var_dir / "run" / "rtpengine.pid"
    pid = pid_file.read_text()
    pid_file.write_text("999999\n")  # as if it had died
    try:
        proc = stack.aitcomms("status", check=False)
        assert proc.returncode == 3
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("rtpengine"))
        assert "DOWN" in line and "not running" in line
    finally:
        pid_file.write_text(pid)
    assert stack.aitcomms("status", check=False).returncode == 0


def test_health_reports_ami_and_ari(stack: StackUnderTest) -> None:
    url = f"http://127.0.0.1:{stack.port('http')}/health"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.loads(resp.read())
    assert body == {"status": "ok", "ami": "up", "ari": "up", "database": "up",
                    "event_bus": "up"}


def _listening_addresses(port: int) -> set[str]:
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hexport = local.split(":")
        if state == "0A" and int(hexport, 16) == port:  # LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return found


def test_secrets_are_private_and_ami_ari_on_loopback(stack: StackUnderTest) -> None:
    secrets = stack.var_dir / "secrets.env"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    ami_password = stack.secret("AMI_PASSWORD")
    assert len(ami_password) >= 24
    for log in (stack.var_dir / "log").glob("*.log"):
        assert ami_password not in log.read_text(errors="replace"), f"secret in {log.name}"
    assert _listening_addresses(stack.port("ami")) == {"127.0.0.1"}
    assert _listening_addresses(stack.port("ari")) == {"127.0.0.1"}


def test_cli_refuses_bad_input_with_the_field_and_keeps_data(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("agent", "add", "1001", "--name", "Ana", "--password", "ana-secret-1")
    cases = [
        (["agent", "add", "01", "--name", "X", "--password", "long-enough"], "extension"),
        (["agent", "add", "1002", "--name", "X", "--password", "short"], "password"),
        (["agent", "add", "1003", "--name", "X", "--password", "long-enough",
          "--languages", "spanish"], "languages"),
        (["agent", "add", "1001", "--name", "Again", "--password", "long-enough"],
         "already belongs"),
        (["trunk", "add", "Bad Name", "--host", "127.0.0.2"], "name"),
        (["trunk", "add", "t1", "--host", "127.0.0.2", "--port", "70000"], "port"),
        (["trunk", "add", "t2", "--host", "no-such-host.invalid"], "host"),
        (["did", "add", "12345", "--to", "ext:1001"], "number"),
        (["did", "add", "+34910000009", "--to", "ext:4444"], "target"),
        (["did", "add", "+34910000009", "--to", "somewhere"], "target"),
        (["did", "add", "+34910000009", "--to", "ivr:nope"], "target"),
    ]
    for args, expected in cases:
        proc = stack.aitcomms(*args, check=False)
        assert proc.returncode == 2, f"{args}: {proc.returncode} {proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith("aitcomms: error:") and expected in proc.stderr, proc.stderr
    listing = stack.aitcomms("agent", "list").stdout
    assert listing.split()[0:2] == ["1001", "Ana"] and "Again" not in listing


def _options(target: tuple[str, int], source_ip: str) -> str:
    msg = (
        f"OPTIONS sip:{target[0]}:{target[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source_ip}:5999;branch=z9hG4bK-probe1;rport\r\n"
        f"From: <sip:probe@{source_ip}>;tag=probe\r\nTo: <sip:{target[0]}>\r\n"
        "Call-ID: probe-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source_ip, 0))
        s.settimeout(3)
        s.sendto(msg.encode(), target)
        return s.recv(4096).decode(errors="replace")


def test_edge_survives_malformed_sip(stack: StackUnderTest) -> None:
    target = ("127.0.0.1", stack.port("sip"))
    garbage = [
        b"\x00\xff" * 200,
        b"INVITE sip:1001@x SIP/2.0\r\nVia: nonsense\r\n\r\n",
        b"REGISTER sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\nabc",
        b"SIP/2.0 200 OK\r\n\r\n",
        "INVITE sip:\u00e9\u00e9@\u00e9 SIP/2.0\r\n\r\n".encode(),
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.6", 0))
        for datagram in garbage:
            s.sendto(datagram, target)
    reply = _options(target, "127.0.0.7")
    assert reply.startswith("SIP/2.0 200"), reply
    assert stack.aitcomms("status", check=False).returncode == 0


def test_data_changes_are_dialplan_versions(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    before = stack.aitcomms("dialplan", "history").stdout
    stack.aitcomms("agent", "add", "1007", "--name", "Versioned", "--password", "versioned-pw")
    after = stack.aitcomms("dialplan", "history").stdout
    assert len(after.splitlines()) > len(before.splitlines()), after
    assert "data" in after.splitlines()[-1], after


def test_cli_says_what_is_wrong_with_the_database_not_a_traceback(tmp_path: Path) -> None:
    """A media host's follower (docker-compose: node-files) pointed at a
    database URL it cannot parse, or at a database that is not there."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    for url, expected in (("set AITCOMMS_SHARED_DATABASE_URL in .env",
                           "DATABASE_URL: not a database URL"),
                          ("postgresql://x:y@127.0.0.1:1/z", "the database cannot be reached")):
        env = {**os.environ, "DATABASE_URL": url, "AITCOMMS_VAR": str(tmp_path)}
        proc = subprocess.run([sys.executable, "-m", "control", "node", "files", "media1",
                               "--out", str(tmp_path / "media1")], env=env, cwd=root,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith(f"aitcomms: error: {expected}"), proc.stderr
