"""A stand-in media node for Kamailio's dispatcher: SIP signalling only, on
UDP. It answers OPTIONS pings 200 (so Kamailio takes it as up) and every
INVITE with ``invite_code`` (503 by default: Kamailio must then fail over to
another node), and counts what it got. No media, no dialogs.

With ``invite_code`` 180 it rings and keeps the INVITE pending (a call in
progress on this node, for Kamailio's call load) until :meth:`finish`."""

from __future__ import annotations

import socket
import threading
from collections import Counter


class FakeNode:
    def __init__(self, ip: str, port: int, invite_code: int = 503) -> None:
        self.ip, self.port, self.invite_code = ip, port, invite_code
        self.received: Counter[str] = Counter()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((ip, port))
        self._sock.settimeout(0.2)
        self.pending: list[tuple[str, tuple[str, int]]] = []  # ringing INVITEs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def uri(self) -> str:
        return f"sip:{self.ip}:{self.port}"

    def __enter__(self) -> FakeNode:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode(errors="replace")
            first = text.split("\r\n", 1)[0]
            if first.startswith("SIP/2.0"):
                continue  # a reply (to nothing we sent)
            method = first.split(" ", 1)[0]
            self.received[method] += 1
            if method == "OPTIONS":
                self._sock.sendto(reply(text, 200, "OK"), peer)
            elif method == "INVITE" and self.invite_code == 180:
                if all(text != t for t, _ in self.pending):  # not a retransmission
                    self.pending.append((text, peer))
                self._sock.sendto(reply(text, 180, "Ringing"), peer)
            elif method == "INVITE":
                self._sock.sendto(reply(text, self.invite_code, "Node Unavailable"), peer)

    def finish(self, code: int = 480) -> None:
        """A final answer to every ringing INVITE: those calls end here."""
        for text, peer in self.pending:
            self._sock.sendto(reply(text, code, "Gone"), peer)
        self.pending.clear()


def reply(request: str, code: int, reason: str) -> bytes:
    """A final reply to ``request`` (headers a proxy needs: Via, From, To with a
    tag, Call-ID, CSeq)."""
    head = request.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    keep = []
    for line in head:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            keep.append(line)
        elif name in ("to", "t"):
            keep.append(line if ";tag=" in line else line + ";tag=fake-node")
    return ("\r\n".join([f"SIP/2.0 {code} {reason}", *keep, "Content-Length: 0"])
            + "\r\n\r\n").encode()
