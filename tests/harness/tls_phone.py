"""A desk phone over SIP TLS, with SRTP (SDES) when offered: what Debian's SIPp cannot be.

SIPp here is built without TLS and without SRTP, so the tests of the edge's
SIPS port use this small user agent instead. On one connection, kept open as
desk phones behind NAT keep theirs (the edge must reach it back over it), it

- registers (a 401 or 407 digest challenge answered, with qop=auth or without);
- places a call: INVITE offering plain RTP/AVP, the challenge answered, ACK,
  and later BYE;
- answers a call: a plain RTP/AVP offer with plain RTP, an SDES RTP/SAVP offer
  with SRTP (:class:`SrtpEndpoint`, libsrtp via ``pylibsrtp``, keyed from the
  offer's ``a=crypto``); any other offer gets a 488;
- speaks a tone and hears through its media endpoint (``rtp``).

Over TLS it trusts only the stack's own certificate (``cafile``,
``var/tls/cert.pem``) and checks the host name, as a provisioned phone would:
a phone that took any certificate would prove nothing about the edge. With
``transport="tcp"`` it signals in clear, to see that refused.

How it fails: a certificate the cafile does not vouch for fails ``connect()``
(``ssl.SSLCertVerificationError``); a final reply that does not come within
the timeout, or a connection the stack closes, fails the wait for it with an
AssertionError naming the request and what arrived instead; a reply it cannot
parse ends its read loop, and the next wait raises that error. Replies are
returned, never judged: the tests assert on their statuses.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pylibsrtp import Policy, Session

from tests.harness.rtp import RtpEndpoint

if TYPE_CHECKING:
    from tests.conftest import StackUnderTest

SUITE = "AES_CM_128_HMAC_SHA1_80"

# RFC 3261 compact header names, as a proxy may send them
_COMPACT = {"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "l": "Content-Length",
            "m": "Contact", "c": "Content-Type", "k": "Supported"}


class SrtpEndpoint(RtpEndpoint):
    """An RTP endpoint that speaks SRTP: decrypts what arrives, encrypts what it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.key = os.urandom(30)  # master key (16) + salt (14)
        self.inbound: Session | None = None
        self.outbound = Session(Policy(key=self.key, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        self.undecryptable = 0

    def peer_key(self, key: bytes) -> None:
        self.inbound = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND))

    def decode(self, data: bytes) -> bytes | None:
        if self.inbound is None:
            self.undecryptable += 1
            return None
        try:
            return bytes(self.inbound.unprotect(data))
        except Exception:  # noqa: BLE001 - libsrtp's auth failure: not SRTP with our keys
            self.undecryptable += 1
            return None

    def encode(self, packet: bytes) -> bytes:
        return bytes(self.outbound.protect(packet))


@dataclass
class Message:
    """One SIP request or response; headers in order, compact names expanded."""

    first: str
    headers: list[tuple[str, str]]
    body: str = ""

    @property
    def status(self) -> int:
        return int(self.first.split()[1]) if self.first.startswith("SIP/2.0") else 0

    @property
    def method(self) -> str:
        return "" if self.status else self.first.split()[0]

    def get(self, name: str) -> str:
        return next(iter(self.all(name)), "")

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def digest(challenge: str, *, user: str, password: str, method: str, uri: str) -> str:
    """The credentials answering a Digest challenge (RFC 2617, MD5; qop=auth when offered)."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = params["realm"], params["nonce"]

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (SIP digest is MD5)

    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
    answer = (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
              'algorithm=MD5')
    if "opaque" in params:
        answer += f', opaque="{params["opaque"]}"'
    # the regex keeps the first of a quoted list ("auth,auth-int"): auth is what we do
    if params.get("qop") == "auth":
        cnonce, nc = secrets.token_hex(8), "00000001"
        response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        return answer + f', qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}"'
    return answer + f', response="{md5(f"{ha1}:{nonce}:{ha2}")}"'


@dataclass
class Dialog:
    """A call's dialog, from this phone's side (RFC 3261 12)."""

    call_id: str
    local: str  # our From (as caller) or To (as callee), with our tag
    remote: str  # theirs, with their tag
    target: str  # their Contact URI: where in-dialog requests go
    routes: list[str]  # the route set, in the order requests carry it
    cseq: int


def _sdp(host: str, port: int, profile: str, payloads: str, crypto: str = "") -> str:
    lines = ["v=0", f"o=- 1 1 IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} {profile} {payloads}", "a=rtpmap:0 PCMU/8000"]
    if "101" in payloads.split():
        lines.append("a=rtpmap:101 telephone-event/8000")
    if crypto:
        lines.append(crypto)
    return "\r\n".join([*lines, "a=sendrecv", ""])


def _audio(sdp: str) -> tuple[str, str, int] | None:
    """(profile, host, port) of an SDP's audio stream."""
    m = re.search(r"^m=audio (\d+) (\S+)", sdp, re.M)
    c = re.search(r"^c=IN IP4 (\S+)", sdp, re.M)
    return (m.group(2), c.group(1), int(m.group(1))) if m and c else None


def _record_routes(msg: Message) -> list[str]:
    # one header may carry several entries; URIs are <>-quoted, so split before a "<"
    return [r.strip() for rr in msg.all("Record-Route") for r in re.split(r",(?=\s*<)", rr)]


@dataclass(eq=False)
class TlsPhone:
    """One desk phone on one connection: registers, places and answers calls."""

    extension: str
    password: str
    host: str
    port: int
    domain: str  # the SIP domain and digest realm of the agents
    transport: str = "tls"  # "tls", or "tcp" to see plain signalling refused
    cafile: Path | None = None  # the only authority trusted over TLS
    rtp: RtpEndpoint | None = None  # the call's media (an SrtpEndpoint for SRTP)
    remote_sdp: str = ""  # the far end's SDP: the offer answered, or the answer got
    remote_media: tuple[str, int] | None = None
    requests: list[str] = field(default_factory=list)  # first lines of what came in
    dialog: Dialog | None = None
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _replies: asyncio.Queue[Message | None] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[None] | None = None
    _failed: Exception | None = None
    _answered: asyncio.Event = field(default_factory=asyncio.Event)
    _bye: asyncio.Event = field(default_factory=asyncio.Event)
    _local_sdp: str = ""
    _cseq: int = 0
    # one registration: one Call-ID and From tag for all its REGISTERs (RFC 3261 10.2)
    _reg_call_id: str = field(default_factory=lambda: secrets.token_hex(8))
    _reg_tag: str = field(default_factory=lambda: secrets.token_hex(4))

    @classmethod
    def of(cls, stack: StackUnderTest, extension: str, password: str,
           transport: str = "tls") -> TlsPhone:
        """A phone of this test stack: its SIPS port (or plain SIP over TCP) on
        loopback, its domain, its certificate."""
        port = stack.port("sips") if transport == "tls" else stack.port("sip")
        return cls(extension, password, "127.0.0.1", port, stack.settings.sip_domain,
                   transport, stack.var_dir / "tls" / "cert.pem")

    # -- the connection --------------------------------------------------------------

    async def connect(self) -> None:
        tls = None
        if self.transport == "tls":
            if self.cafile is None:
                raise ValueError("over TLS the phone verifies the stack: it needs a cafile")
            tls = ssl.create_default_context(cafile=str(self.cafile))
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, ssl=tls, server_hostname=self.host if tls else None)
        self._task = asyncio.create_task(self._read_loop())

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        if self._writer:
            self._writer.close()
        if self.rtp:
            self.rtp.close()

    @property
    def local(self) -> tuple[str, int]:
        assert self._writer is not None, "not connected"
        host, port = self._writer.get_extra_info("sockname")[:2]
        return str(host), int(port)

    @property
    def _contact(self) -> str:
        host, port = self.local
        return f"<sip:{self.extension}@{host}:{port};transport={self.transport}>"

    @property
    def _aor(self) -> str:
        return f"<sip:{self.extension}@{self.domain}>"

    # -- registration ------------------------------------------------------------------

    async def register(self, expires: int = 300, timeout: float = 10) -> Message:
        """REGISTER, answering one digest challenge: the final reply."""
        uri = f"sip:{self.domain}"
        auth: list[tuple[str, str]] = []
        for _ in range(2):
            self._cseq += 1
            cseq = f"{self._cseq} REGISTER"
            await self._send_request(f"REGISTER {uri}", [
                self._via(), ("From", f"{self._aor};tag={self._reg_tag}"), ("To", self._aor),
                ("Call-ID", self._reg_call_id), ("CSeq", cseq), ("Contact", self._contact),
                ("Expires", str(expires)), *auth])
            reply = await self._final(self._reg_call_id, cseq, timeout)
            if reply.status not in (401, 407):
                break
            auth = [self._credentials(reply, "REGISTER", uri)]
        return reply

    def _credentials(self, challenge: Message, method: str, uri: str) -> tuple[str, str]:
        # a registrar challenges with 401/WWW-, a proxy with 407/Proxy-
        proxy = challenge.status == 407
        header = challenge.get("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        return ("Proxy-Authorization" if proxy else "Authorization",
                digest(header, user=self.extension, password=self.password,
                       method=method, uri=uri))

    # -- a call it places --------------------------------------------------------------------

    async def call(self, number: str, timeout: float = 20) -> tuple[Message | None, Message]:
        """INVITE ``number`` offering plain RTP, answering one digest challenge:
        (the challenge, if any; the final reply). A 200 is ACKed and its dialog
        kept for :meth:`hang_up`; ``remote_media`` is then where to speak."""
        uri = f"sip:{number}@{self.domain}"
        self._use_media(await RtpEndpoint.open(self.local[0]))
        assert self.rtp is not None
        self._local_sdp = _sdp(self.local[0], self.rtp.port, "RTP/AVP", "0 101")
        call_id, local = secrets.token_hex(8), f"{self._aor};tag={secrets.token_hex(4)}"
        auth: list[tuple[str, str]] = []
        challenge = None
        cseq = 0
        while True:
            cseq += 1
            via = self._via()
            await self._send_request(f"INVITE {uri}", [
                via, ("From", local), ("To", f"<{uri}>"), ("Call-ID", call_id),
                ("CSeq", f"{cseq} INVITE"), ("Contact", self._contact),
                ("Content-Type", "application/sdp"), *auth], self._local_sdp)
            reply = await self._final(call_id, f"{cseq} INVITE", timeout)
            if reply.status >= 300:
                # a failure's ACK belongs to the INVITE's transaction: same Via branch
                await self._send_request(f"ACK {uri}", [
                    via, ("From", local), ("To", reply.get("To")), ("Call-ID", call_id),
                    ("CSeq", f"{cseq} ACK")])
            if reply.status in (401, 407) and challenge is None:
                challenge = reply
                auth = [self._credentials(reply, "INVITE", uri)]
                continue
            break
        if reply.status == 200:
            self.remote_sdp = reply.body
            self._start_dialog(reply, call_id, local, remote=reply.get("To"),
                               routes=list(reversed(_record_routes(reply))), cseq=cseq)
            await self._send_in_dialog("ACK")  # a 2xx's ACK is the dialog's own request
        return challenge, reply

    async def hang_up(self) -> Message:
        """BYE the call (placed or answered): the final reply."""
        assert self.dialog is not None, "no call to hang up"
        self.dialog.cseq += 1
        await self._send_in_dialog("BYE")
        if self.rtp:
            self.rtp.stop_tone()
        return await self._final(self.dialog.call_id, f"{self.dialog.cseq} BYE")

    def say(self, freq: float) -> None:
        """Send a tone to the far end's media (through the call's endpoint)."""
        assert self.rtp is not None and self.remote_media is not None, "no call's media"
        self.rtp.send_tone(self.remote_media, freq)

    # -- a call to the phone ---------------------------------------------------------------

    async def answered(self, timeout: float) -> bool:
        return await _within(self._answered, timeout)

    async def hung_up(self, timeout: float) -> bool:
        """Whether the far end sent BYE within ``timeout``."""
        return await _within(self._bye, timeout)

    async def _answer(self, invite: Message) -> str:
        """The final reply to a new INVITE: 200 with media of the offer's kind, or 488."""
        self.remote_sdp = invite.body
        media = _audio(invite.body)
        crypto = re.search(rf"^a=crypto:(\d+) {SUITE} inline:([A-Za-z0-9+/=]+)",
                           invite.body, re.M)
        host = self.local[0]
        if media and media[0] == "RTP/SAVP" and crypto:
            srtp = await SrtpEndpoint.open(host)
            assert isinstance(srtp, SrtpEndpoint)
            srtp.peer_key(base64.b64decode(crypto.group(2))[:30])
            line = f"a=crypto:{crypto.group(1)} {SUITE} inline:" \
                   f"{base64.b64encode(srtp.key).decode()}"
            self._use_media(srtp)
            self._local_sdp = _sdp(host, srtp.port, "RTP/SAVP", "0", line)
        elif media and media[0] == "RTP/AVP":
            plain = await RtpEndpoint.open(host)
            self._use_media(plain)
            self._local_sdp = _sdp(host, plain.port, "RTP/AVP", "0")
        else:  # an SRTP suite we lack, or no audio we can do
            return self._reply(invite, "488 Not Acceptable Here")
        local = f"{invite.get('To')};tag={secrets.token_hex(4)}"
        self._start_dialog(invite, invite.get("Call-ID"), local, remote=invite.get("From"),
                           routes=_record_routes(invite), cseq=0)
        self._answered.set()
        return self._reply(invite, "200 OK", body=self._local_sdp, to=local)

    def _use_media(self, endpoint: RtpEndpoint) -> None:
        if self.rtp:  # a call before this one: its port and tone end here
            self.rtp.close()
        self.rtp = endpoint

    def _start_dialog(self, msg: Message, call_id: str, local: str, *, remote: str,
                      routes: list[str], cseq: int) -> None:
        contact = re.search(r"<([^>]+)>", msg.get("Contact"))
        assert contact, f"no Contact in {msg.first}: {msg.headers}"
        self.dialog = Dialog(call_id, local, remote, contact.group(1), routes, cseq)
        media = _audio(msg.body)
        self.remote_media = (media[1], media[2]) if media else None

    # -- the wire -----------------------------------------------------------------------------

    def _via(self) -> tuple[str, str]:
        host, port = self.local
        return ("Via", f"SIP/2.0/{self.transport.upper()} {host}:{port};rport;"
                       f"branch=z9hG4bK{secrets.token_hex(6)}")

    async def _send_request(self, start: str, headers: list[tuple[str, str]],
                            body: str = "") -> None:
        await self._send(_wire(f"{start} SIP/2.0", [
            headers[0], ("Max-Forwards", "70"), *headers[1:],
            ("User-Agent", "aitcomms-test-deskphone")], body))

    async def _send_in_dialog(self, method: str) -> None:
        d = self.dialog
        assert d is not None
        await self._send_request(f"{method} {d.target}", [
            self._via(), ("From", d.local), ("To", d.remote), ("Call-ID", d.call_id),
            ("CSeq", f"{d.cseq} {method}"), *(("Route", r) for r in d.routes)])

    def _reply(self, req: Message, status: str, body: str = "", to: str = "") -> str:
        headers = [*(("Via", v) for v in req.all("Via")),
                   *(("Record-Route", v) for v in req.all("Record-Route")),
                   ("From", req.get("From")), ("To", to or req.get("To")),
                   ("Call-ID", req.get("Call-ID")), ("CSeq", req.get("CSeq"))]
        if body:
            headers += [("Contact", self._contact), ("Content-Type", "application/sdp")]
        return _wire(f"SIP/2.0 {status}", headers, body)

    async def _send(self, text: str) -> None:
        assert self._writer is not None, "not connected"
        self._writer.write(text.encode())
        await self._writer.drain()

    async def _final(self, call_id: str, cseq: str, timeout: float = 10) -> Message:
        """The final reply to the request (Call-ID, CSeq); provisional and stale ones skipped."""
        seen: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                msg = await asyncio.wait_for(self._replies.get(), deadline - loop.time())
            except TimeoutError:
                raise AssertionError(f"no final reply to {cseq} within {timeout} s "
                                     f"(replies seen: {seen})") from None
            if msg is None:
                self._replies.put_nowait(None)  # the next wait fails at once, too
                raise AssertionError(f"the connection ended before the reply to {cseq} "
                                     f"(replies seen: {seen})") from self._failed
            seen.append(msg.first)
            if msg.status >= 200 and msg.get("Call-ID") == call_id and msg.get("CSeq") == cseq:
                return msg

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                msg = await self._read()
                if msg is None:
                    continue
                if msg.status:
                    self._replies.put_nowait(msg)
                else:
                    self.requests.append(msg.first)
                    await self._on_request(msg)
        except Exception as exc:  # the connection closed, or a message we cannot read
            self._failed = exc
            self._replies.put_nowait(None)

    async def _read(self) -> Message | None:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        while lines and not lines[0]:  # CRLF keep-alives between messages
            lines.pop(0)
        if not lines:
            return None
        headers = []
        for line in lines[1:]:
            if ":" in line:
                name, value = (s.strip() for s in line.split(":", 1))
                headers.append((_COMPACT.get(name.lower(), name), value))
        msg = Message(lines[0], headers)
        length = int(msg.get("Content-Length") or 0)
        if length:
            msg.body = (await self._reader.readexactly(length)).decode()
        return msg

    async def _on_request(self, req: Message) -> None:
        if req.method == "ACK":
            return
        if req.method == "INVITE" and "tag=" not in req.get("To"):
            await self._send(self._reply(req, "100 Trying"))
            await self._send(await self._answer(req))
        elif req.method == "INVITE":  # a re-INVITE: the same media as before
            await self._send(self._reply(req, "200 OK", body=self._local_sdp))
        else:  # BYE, and what a phone just acknowledges (OPTIONS, NOTIFY, CANCEL ...)
            await self._send(self._reply(req, "200 OK"))
            if req.method == "BYE":
                if self.rtp:
                    self.rtp.stop_tone()
                self._bye.set()


def _wire(first: str, headers: list[tuple[str, str]], body: str) -> str:
    lines = [first, *(f"{k}: {v}" for k, v in headers),
             f"Content-Length: {len(body.encode())}", "", ""]
    return "\r\n".join(lines) + body


async def _within(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False
