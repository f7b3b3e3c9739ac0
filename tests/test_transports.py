"""Agents register over every transport the edge offers: UDP and TCP (desk
phones, SIPp) and secure WebSocket (browsers; here a real WSS client speaking
SIP with digest auth, as JsSIP does)."""

from __future__ import annotations

import hashlib
import re
import ssl
import uuid

import aiohttp
import pytest

from tests.conftest import StackUnderTest
from tests.harness.ports import sip_port
from tests.harness.sipp import Sipp, scenario
from tests.harness.wait import wait_until


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_desk_phone_registers_over_udp_and_tcp(clean_stack: StackUnderTest,
                                                     transport: str) -> None:
    stack = clean_stack
    stack.aitcomms("agent", "add", "1001", "--name", "Ana", "--password", "ana-secret-1")
    contact_port = sip_port()
    phone = Sipp(scenario("register", expect=200, hold_ms=3000), stack.sip_target,
                 local_port=sip_port(), auth=("1001", "ana-secret-1"),
                 keys={"user": "1001", "contact_port": contact_port, "expires": 300},
                 extra=["-t", transport])
    await phone.start()
    # registered while the phone holds its registration (hold_ms): the contact
    # is in Kamailio's location table
    lookup = await wait_until(
        lambda: (found := stack.kamcmd("ul.lookup", "location", "1001"))
        and f":{contact_port}" in found and found, timeout=5) \
        or stack.kamcmd("ul.lookup", "location", "1001")
    result = await phone.wait()
    assert result.returncode == 0, result.output
    assert f":{contact_port}" in lookup, lookup


def _register(user: str, domain: str, call_id: str, cseq: int, auth: str = "") -> str:
    branch = "z9hG4bK" + uuid.uuid4().hex[:12]
    return (
        f"REGISTER sip:{domain} SIP/2.0\r\n"
        f"Via: SIP/2.0/WSS browser.invalid;branch={branch}\r\n"
        "Max-Forwards: 69\r\n"
        f"To: <sip:{user}@{domain}>\r\n"
        f"From: <sip:{user}@{domain}>;tag=ws{call_id[:6]}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{user}@browser.invalid;transport=ws>;expires=300\r\n"
        f"{auth}Expires: 300\r\nContent-Length: 0\r\n\r\n"
    )


def _digest(challenge: str, user: str, password: str, uri: str) -> str:
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge.split(" ", 1)[1]))
    ha1 = hashlib.md5(f"{user}:{params['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    if "qop" in params:
        cnonce, nc = uuid.uuid4().hex[:8], "00000001"
        resp = hashlib.md5(
            f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        resp = hashlib.md5(f"{ha1}:{params['nonce']}:{ha2}".encode()).hexdigest()
        extra = ""
    return (f'Authorization: Digest username="{user}", realm="{params["realm"]}", '
            f'nonce="{params["nonce"]}", uri="{uri}", response="{resp}", '
            f"algorithm=MD5{extra}\r\n")


async def _wss_register(stack: StackUnderTest, password: str) -> str:
    """Register 1001 over WSS; the final status line."""
    domain = stack.settings.sip_domain
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the stack's self-signed certificate
    call_id = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"wss://127.0.0.1:{stack.port('wss')}", protocols=("sip",), ssl=ctx) as ws:
        await ws.send_str(_register("1001", domain, call_id, 1))
        challenge_msg = await ws.receive_str(timeout=5)
        assert challenge_msg.startswith("SIP/2.0 401"), challenge_msg
        challenge = next(line for line in challenge_msg.split("\r\n")
                         if line.lower().startswith("www-authenticate:")).split(":", 1)[1]
        auth = _digest(challenge.strip(), "1001", password, f"sip:{domain}")
        await ws.send_str(_register("1001", domain, call_id, 2, auth))
        final = await ws.receive_str(timeout=5)
        if final.startswith("SIP/2.0 200"):
            # the registration lives while the websocket does: check it now
            lookup = stack.kamcmd("ul.lookup", "location", "1001")
            assert "transport=ws" in lookup, lookup
        return final.split("\r\n", 1)[0]


async def test_browser_registers_over_wss(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("agent", "add", "1001", "--name", "Ana", "--password", "ana-secret-1")
    assert await _wss_register(stack, "ana-secret-1") == "SIP/2.0 200 OK"
    assert (await _wss_register(stack, "wrong-password")).startswith("SIP/2.0 403")
