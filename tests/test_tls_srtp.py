"""Desk phones over SIP TLS, with SRTP (SDES) as an agent's option.

A caller from the trunk reaches, through the queue, an agent whose
``media_encryption`` is ``sdes``: its phone is registered over TLS on the
edge's SIPS port, gets an RTP/SAVP offer with SDES keys, and the two parties
hear each other's tones, the phone's side encrypted (it decrypts with the
keys of the offer: plain RTP would fail libsrtp's authentication). The same
agent cannot register over plain TCP (its keys would travel in clear); an
agent without the option still registers over TLS.
"""

from __future__ import annotations

import pytest

from tests.conftest import StackUnderTest
from tests.harness.ami import Ami
from tests.harness.rtp import RtpEndpoint
from tests.harness.tls_phone import SrtpEndpoint, TlsPhone
from tests.harness.wait import wait_until
from tests.test_acd import add_agent, setup_queue
from tests.test_admin_api import admin_token, http
from tests.test_calls import TRUNK_IP, caller

pytestmark = pytest.mark.stack

SDES_AGENT = "1071"
PLAIN_AGENT = "1072"
DID = "+34910000071"


def _phone(stack: StackUnderTest, ext: str, transport: str = "tls") -> TlsPhone:
    return TlsPhone.of(stack, ext, f"secret-{ext}-pw", transport)


async def test_srtp_agent_over_tls_talks_with_a_caller(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, SDES_AGENT)
    stack.aitcomms("agent", "update", SDES_AGENT, "--media-encryption", "sdes")
    setup_queue(stack, "seguros", DID, SDES_AGENT, "--wrapup", "1")

    # plain signalling would carry the SRTP keys in clear: refused
    plain = _phone(stack, SDES_AGENT, transport="tcp")
    await plain.connect()
    try:
        refused = await plain.register()
        assert refused.status == 403, refused.first
    finally:
        await plain.close()
    assert "sip:1071@" not in stack.kamcmd("ul.dump")

    phone = _phone(stack, SDES_AGENT)
    await phone.connect()
    rtp = await RtpEndpoint.open(TRUNK_IP)
    try:
        registered = await phone.register()
        assert registered.status == 200, registered.first
        assert ";transport=tls" in stack.kamcmd("ul.dump")

        call = caller(stack, DID, rtp, call_ms=6000)
        await call.start()
        assert await phone.answered(15), f"the phone was never offered the call: " \
                                         f"{phone.requests}"
        offer = phone.remote_sdp
        assert "RTP/SAVP" in offer and "a=crypto:" in offer, offer
        # it answered with SRTP keyed from that offer, and speaks through it
        assert isinstance(phone.rtp, SrtpEndpoint), phone.rtp
        phone.say(660)
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            members = await ami.wait_for(
                lambda: ami.bridge_holding(f"PJSIP/agent-{SDES_AGENT}-", "PJSIP/edge-"), 10)
            assert members, "caller and agent never bridged"
            caller_chan = next(c for c in members if c.startswith("PJSIP/edge-"))
            rtp.send_tone(await ami.rtp_address(caller_chan), 1000)
        srtp = phone.rtp
        heard = await wait_until(lambda: srtp.energy(1000) > 100 and rtp.energy(660) > 100, 10)
        print(f"\nSRTP phone: {srtp.packets} SRTP packets decrypted "
              f"({srtp.undecryptable} not), caller's tone {srtp.energy(1000):.0f}; "
              f"caller: {rtp.packets} RTP packets, phone's tone {rtp.energy(660):.0f}")
        assert heard, (f"phone heard 1000 Hz at {srtp.energy(1000):.0f} "
                       f"({srtp.packets} packets, {srtp.undecryptable} "
                       f"undecryptable); caller heard 660 Hz at {rtp.energy(660):.0f}")
        assert srtp.undecryptable <= 2, "plain RTP reached the SRTP phone"
        result = await call.wait()
        assert result.returncode == 0, result.output
        assert await phone.hung_up(10), phone.requests
    finally:
        rtp.close()
        await phone.close()


async def test_plain_agent_registers_over_tls_too(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, PLAIN_AGENT)
    phone = _phone(stack, PLAIN_AGENT)
    await phone.connect()
    try:
        registered = await phone.register()
        assert registered.status == 200, registered.first
        assert f"sip:{PLAIN_AGENT}@" in stack.kamcmd("ul.dump")
    finally:
        await phone.close()


async def test_media_encryption_is_validated(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    add_agent(stack, PLAIN_AGENT)
    proc = stack.aitcomms("agent", "update", PLAIN_AGENT, "--media-encryption", "zrtp",
                          check=False)
    assert proc.returncode != 0 and "invalid choice" in proc.stderr
    token = admin_token(stack)
    status, body = http(stack, "PATCH", f"/api/v1/agents/{PLAIN_AGENT}",
                        {"media_encryption": "zrtp"}, token=token)
    assert status == 422 and body["field"] == "media_encryption", body
    status, body = http(stack, "PATCH", f"/api/v1/agents/{PLAIN_AGENT}",
                        {"media_encryption": "sdes"}, token=token)
    assert status == 200 and body["agent"]["media_encryption"] == "sdes", body
