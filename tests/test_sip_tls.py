"""Acceptance: a desk phone over SIP TLS (Kamailio's SIPS port).

SIPp here is built without TLS, so the desk phone is the tests' own user
agent (tests/harness/tls_phone.py) on a TLS connection, checking the stack's
certificate (the same one WSS serves, ``var/tls/cert.pem``): it registers
with digest auth (401, then 200), Kamailio then holds its contact over TLS;
it calls a colleague (a SIPp phone over UDP) with digest auth (407, then
200), its RTP tone is heard by the colleague, and it hangs up.
"""

from __future__ import annotations

from tests.conftest import StackUnderTest
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import Sipp, scenario
from tests.harness.tls_phone import TlsPhone
from tests.harness.wait import wait_until
from tests.test_calls import register


async def test_desk_phone_registers_over_tls_and_completes_a_call(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("agent", "add", "1001", "--name", "Ana", "--password", "ana-secret-1")
    stack.aitcomms("agent", "add", "1002", "--name", "Luis", "--password", "luis-secret-2")
    phone = TlsPhone.of(stack, "1001", "ana-secret-1")
    rtp_1002 = await RtpEndpoint.open()
    port_1002 = sip_port()
    colleague = Sipp(scenario("agent"), stack.sip_target, local_port=port_1002,
                     keys={"rtp_port": rtp_1002.port})
    await colleague.start()
    try:
        await phone.connect()
        registered = await phone.register()
        assert registered.status == 200, registered.first
        lookup = stack.kamcmd("ul.lookup", "location", "1001")
        assert "transport=tls" in lookup, lookup
        assert await register(stack, "1002", "luis-secret-2", port_1002) == 0

        challenge, ok = await phone.call("1002")
        assert challenge is not None and challenge.status == 407, \
            "the call was let in without a digest challenge"
        assert ok.status == 200, ok.first
        phone.say(1000)
        heard = await wait_until(lambda: rtp_1002.energy(1000) > 500 or None, 10)
        assert heard, f"the colleague did not hear the TLS phone (rtp {rtp_1002.packets})"
        bye = await phone.hang_up()
        assert bye.status == 200, bye.first
        assert (await colleague.wait(15)).returncode == 0
    finally:
        await phone.close()
        colleague.kill()
        rtp_1002.close()


async def test_a_wrong_password_over_tls_is_refused(clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    stack.aitcomms("agent", "add", "1001", "--name", "Ana", "--password", "ana-secret-1")
    phone = TlsPhone.of(stack, "1001", "not-the-password")
    try:
        await phone.connect()
        reply = await phone.register()
        assert reply.status == 403, reply.first
        assert "not found" in stack.kamcmd("ul.lookup", "location", "1001").lower()
    finally:
        await phone.close()
