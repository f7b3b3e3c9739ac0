"""The HTTP surface against abuse, on the production app (create_app, no
Asterisk): failed logins limited per source address as well as per account,
security headers (a strict Content-Security-Policy the pages pass) on every
response, and the event socket's ``?token=`` never written to a log."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from argon2 import PasswordHasher

from control.auth import service
from control.auth.throttle import ADDRESS_FAILURES, LoginThrottle, address_key
from control.settings import PROJECT_ROOT
from control.web.security import content_security_policy, redact
from tests.harness.api import PASSWORD, USERS, Api, api

LOGIN = "/api/v1/auth/login"
DIST = PROJECT_ROOT / "web" / "dist"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(service, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024,
                                                          parallelism=1))
    yield


async def login_from(a: Api, source: str, email: str,
                     password: str) -> tuple[int, dict[str, object], dict[str, str]]:
    """POST a login over a connection from ``source`` (a loopback address:
    the server sees it as the peer, as it would a client's)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(a.client.make_url(LOGIN),
                                json={"email": email, "password": password}) as resp:
            return resp.status, await resp.json(), dict(resp.headers)


# -- login: per address and per account ------------------------------------------


async def test_failures_from_one_address_across_accounts_are_throttled(
        tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        # a spray: never 5 on one account (no account lock), many accounts
        for i in range(ADDRESS_FAILURES):
            email = f"nobody{i}@correduria.es" if i % 2 else list(USERS.values())[i // 2 % 4]
            status, body, _ = await login_from(a, "127.0.0.2", email, f"guess-{i}")
            assert (status, body["error"]) == (401, "invalid_credentials"), i
        # now even the right password is refused from there, before it is checked
        status, body, headers = await login_from(a, "127.0.0.2", USERS["agent"], PASSWORD)
        assert (status, body["error"]) == (429, "too_many_attempts")
        assert 1 <= int(headers["Retry-After"]) <= 601
        assert "Content-Security-Policy" in headers
        # another address is not affected, nor are the accounts
        for who in ("agent", "admin"):
            status, body, _ = await login_from(a, "127.0.0.3", USERS[who], PASSWORD)
            assert status == 200, body


async def test_a_burst_of_concurrent_guesses_gets_no_more_than_the_limit(
        tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        results = await asyncio.gather(*(
            login_from(a, "127.0.0.6", f"nobody{i}@correduria.es", "guess")
            for i in range(2 * ADDRESS_FAILURES)))
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [401] * ADDRESS_FAILURES + [429] * ADDRESS_FAILURES


async def test_the_account_lock_still_holds_from_every_address(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        for _ in range(service.MAX_FAILED_LOGINS):
            status, _, _ = await login_from(a, "127.0.0.4", USERS["agent"], "not-it-at-all")
            assert status == 401
        status, body, headers = await login_from(a, "127.0.0.5", USERS["agent"], PASSWORD)
        assert (status, body["error"]) == (429, "account_locked")
        assert 1 <= int(headers["Retry-After"]) <= 31
        # a locked account did not throttle either address for the others
        for source in ("127.0.0.4", "127.0.0.5"):
            status, _, _ = await login_from(a, source, USERS["admin"], PASSWORD)
            assert status == 200


def test_the_window_slides_and_ipv6_counts_per_64() -> None:
    now = [1000.0]
    throttle = LoginThrottle(limit=3, window_s=60, clock=lambda: now[0])
    throttle.succeeded("192.0.2.7", throttle.attempt("192.0.2.7"))  # a good login
    for _ in range(3):
        assert throttle.retry_after("192.0.2.7") is None
        throttle.attempt("192.0.2.7")  # then a failure
        now[0] += 10
    assert throttle.retry_after("192.0.2.7") == 31  # the first leaves at 1060
    assert throttle.retry_after("192.0.2.8") is None
    now[0] = 1060.5
    assert throttle.retry_after("192.0.2.7") is None  # one slot free again
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"


# -- security headers --------------------------------------------------------------


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


async def test_every_response_carries_the_security_headers(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        paths = ["/", "/agent", "/api/v1/health", "/api/v1/customers?q=x",  # 401
                 "/api/v1/no-such-thing", "/no-such-page"]
        if (DIST / "assets" / "app.js").exists():
            paths.append("/assets/app.js")
        port = a.client.port
        for path in paths:
            resp = await a.client.get(path)
            h = resp.headers
            assert h["X-Content-Type-Options"] == "nosniff", path
            assert h["Referrer-Policy"] == "no-referrer", path
            assert h["X-Frame-Options"] == "DENY", path
            csp = directives(h["Content-Security-Policy"])
            assert csp["script-src"] == ["'self'"], path
            assert csp["style-src"] == ["'self'"], path
            assert csp["img-src"] == ["'self'", "data:"]
            assert csp["frame-ancestors"] == ["'none'"]
            assert csp["base-uri"] == ["'none'"]
            assert csp["form-action"] == ["'self'"]
            # the API and event socket of this host, the softphone's WSS port
            assert csp["connect-src"] == [
                "'self'", f"ws://127.0.0.1:{port}", f"wss://127.0.0.1:{port}",
                "wss://127.0.0.1:8443"], path
        resp = await a.client.get("/api/v1/customers?q=x")
        assert resp.status == 401 and resp.content_type == "application/json"


async def test_a_hostile_host_header_is_not_written_into_the_policy(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        resp = await a.client.get("/", headers={"Host": "evil; script-src *"})
        policy = resp.headers["Content-Security-Policy"]
        assert "evil" not in policy and "*" not in policy
        assert directives(policy)["connect-src"] == ["'self'"]
    assert "wss://[::1]:8443" in content_security_policy("[::1]:8000", 8443)
    assert "wss://pbx.example.es:9443" in content_security_policy("pbx.example.es", 9443)


@pytest.mark.skipif(not (DIST / "index.html").exists(), reason="web/ is not built")
def test_the_pages_need_nothing_inline() -> None:
    """What the policy forbids is not in the built pages: no inline script,
    style element or attribute, event handler attribute, or eval in the bundle."""
    html = (DIST / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html and " style=" not in html
    assert re.search(r"\son[a-z]+=", html) is None
    bundle = (DIST / "assets" / "app.js").read_text()
    assert "eval(" not in bundle and "new Function" not in bundle
    for src in (PROJECT_ROOT / "web" / "src").glob("*.js"):
        # h(..., {style: ...}) would set a style attribute, which the policy blocks
        assert not re.search(r"\bstyle\s*:", src.read_text()), src.name
        assert "innerHTML" not in src.read_text(), src.name


# -- the event socket's token and the logs --------------------------------------------


async def test_the_socket_token_never_reaches_a_log(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with api(tmp_path) as a:
        token = await a.token("agent")
        async with a.client.ws_connect(f"/api/v1/events?token={token}") as ws:
            assert not ws.closed
        # a refused one too: 401 before the upgrade
        bad = token[:-4] + "AAAA"
        resp = await a.client.get(f"/api/v1/events?token={bad}")
        assert resp.status == 401
        resp = await a.client.get(f"/api/v1/events?x=1&token={bad}&y=2")
        assert resp.status == 401
    records = [r for r in caplog.records]
    access = [r for r in records if r.name == "aiohttp.access"]
    # the test server keeps aiohttp's access log: the URLs were logged...
    assert sum("/api/v1/events?" in r.getMessage() for r in access) >= 3
    assert any("token=[redacted]&y=2" in r.getMessage() for r in access)
    # ...with neither token in any record, message or attribute
    handler = logging.StreamHandler()
    for record in records:
        everything = handler.format(record) + repr(vars(record))
        for secret in (token, bad, token.split(".")[2]):
            assert secret not in everything, record.name


def test_redact() -> None:
    assert redact("GET /api/v1/events?token=a.b.c HTTP/1.1") == (
        "GET /api/v1/events?token=[redacted] HTTP/1.1")
    assert redact('"GET /x?a=1&token=abc&b=2"') == '"GET /x?a=1&token=[redacted]&b=2"'
    assert redact("no secrets here") == "no secrets here"
