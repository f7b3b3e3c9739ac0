"""Optional two-factor login (TOTP, RFC 6238): the algorithm against the RFC's
own test vectors, `aitcomms user totp`, and login with and without the code
(a wrong code is a failed login and counts towards the lock-out)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from sqlalchemy import select

from control.auth import totp
from control.auth.audit import CLI
from control.auth.models import AuditEntry, User
from control.auth.service import MAX_FAILED_LOGINS, enable_totp
from control.db import Database
from control.settings import Settings
from tests.harness.api import PASSWORD, USERS, api
from tests.harness.crm import sqlite_database
from tests.test_auth_api import cheap_hashes  # noqa: F401  (autouse fixture)

ROOT = Path(__file__).resolve().parent.parent
# RFC 6238 appendix B: the SHA-1 seed is the ASCII "12345678901234567890"
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


def test_rfc_6238_vectors() -> None:
    for at, code in ((59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                     (1234567890, "89005924"), (2000000000, "69279037"),
                     (20000000000, "65353130")):
        assert totp.totp(RFC_SECRET, at, digits=8) == code
    assert totp.totp(RFC_SECRET, 59) == "287082"  # 6 digits: the last six
    assert totp.verify(RFC_SECRET, "287082", 59)
    assert totp.verify(RFC_SECRET, "287 082", 59 + 30)  # one step late is accepted
    assert not totp.verify(RFC_SECRET, "287082", 59 + 90)
    assert not totp.verify(RFC_SECRET, "abcdef", 59) and not totp.verify(RFC_SECRET, "", 59)
    secret = totp.new_secret()
    assert len(secret) == 32 and totp.verify(secret, totp.totp(secret))


async def test_login_needs_the_code_once_enabled(tmp_path: Path, database: Database) -> None:
    async with api(tmp_path, db=database, seed=True) as a:
        email = USERS["agent"]
        with a.db.session() as s:
            uri = enable_totp(s, actor=CLI, email=email.upper())
        parsed = urlparse(uri)
        assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
        secret = parse_qs(parsed.query)["secret"][0]
        with a.db.session() as s:
            user = s.scalar(select(User).where(User.email == email))
            assert user is not None and user.totp_secret == secret
            audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "enable_totp")).one()
            assert secret not in str(audit.after)

        creds = {"email": email, "password": PASSWORD}
        status, body = await a.call("POST", "/api/v1/auth/login", json=creds)
        assert (status, body["error"]) == (401, "totp_required")
        wrong = str((int(totp.totp(secret)) + 500_000) % 1_000_000).zfill(6)
        status, body = await a.call("POST", "/api/v1/auth/login", json={**creds, "totp": wrong})
        assert (status, body["error"]) == (401, "totp_invalid")
        with a.db.session() as s:
            user = s.scalar(select(User).where(User.email == email))
            assert user is not None and user.failed_logins == 1
        status, body = await a.call("POST", "/api/v1/auth/login",
                                    json={**creds, "totp": totp.totp(secret)})
        assert status == 200 and body["access_token"], body
        with a.db.session() as s:
            user = s.scalar(select(User).where(User.email == email))
            assert user is not None and user.failed_logins == 0
        # a wrong password is still just that, whatever the code
        status, body = await a.call("POST", "/api/v1/auth/login", json={
            "email": email, "password": "not-the-password", "totp": totp.totp(secret)})
        assert (status, body["error"]) == (401, "invalid_credentials")
        # wrong codes lock the account like wrong passwords do
        for _ in range(MAX_FAILED_LOGINS):
            status, body = await a.call("POST", "/api/v1/auth/login",
                                        json={**creds, "totp": wrong})
        status, body = await a.call("POST", "/api/v1/auth/login",
                                    json={**creds, "totp": totp.totp(secret)})
        assert (status, body["error"]) == (429, "account_locked")
        # users without two-factor log in as before, a stray code is ignored
        status, body = await a.call("POST", "/api/v1/auth/login", json={
            "email": USERS["supervisor"], "password": PASSWORD, "totp": "123456"})
        assert status == 200


def test_cli_enables_totp_and_prints_the_uri_once(tmp_path: Path) -> None:
    db = sqlite_database(tmp_path)
    db.dispose()
    env = {**os.environ, "AITCOMMS_VAR": str(tmp_path)}
    env.pop("DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "control", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    added = cli("user", "add", "ana@correduria.es", "--role", "supervisor", "--password",
                PASSWORD)
    assert added.returncode == 0, added.stderr
    proc = cli("user", "totp", "ana@correduria.es")
    assert proc.returncode == 0, proc.stderr
    uri = next(w for w in proc.stdout.split() if w.startswith("otpauth://totp/"))
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    db = Database(Settings(var_dir=tmp_path))
    with db.session() as s:
        user = s.scalar(select(User).where(User.email == "ana@correduria.es"))
        assert user is not None and user.totp_secret == secret
    db.dispose()
    assert totp.verify(secret, totp.totp(secret, time.time()))
    missing = cli("user", "totp", "nobody@correduria.es")
    assert missing.returncode == 2 and "email" in missing.stderr
