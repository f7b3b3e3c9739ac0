"""Liveness probes: does a running daemon still answer?

A daemon can hang while alive (a deadlock, a stopped process, a blocked
event loop): its pid and its listening sockets are still there, so only a
question it must answer tells. Each probe asks the cheapest question the
daemon answers from its own main work loop, without credentials, and
returns ``None`` when answered or why not:

- Asterisk: the AMI banner, which its manager thread writes on accept (a
  kernel accepts TCP connections for a stopped process, so a connect alone
  proves nothing);
- rtpengine: ``ping`` on its control (NG) port, answered ``pong``;
- Kamailio: SIP ``OPTIONS`` to itself, which its config answers 200 (one
  request per interval from 127.0.0.1, far under the flood guard);
- the control plane: any HTTP answer on its API port (a 401 is an answer:
  its event loop ran).

The supervisor runs them off its main loop and kills a daemon that misses
several in a row; the normal restart path then applies (``supervisor.py``).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable

Probe = Callable[[], "str | None"]


def ami_banner(port: int, timeout_s: float) -> Probe:
    def probe() -> str | None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
                s.settimeout(timeout_s)
                banner = s.recv(64)
        except OSError as exc:
            return f"AMI: {exc or type(exc).__name__}"
        return None if banner.startswith(b"Asterisk Call Manager") else \
            f"AMI answered {banner[:30]!r}"
    return probe


def rtpengine_ping(port: int, timeout_s: float) -> Probe:
    def probe() -> str | None:
        cookie = secrets.token_hex(4).encode()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout_s)
                s.sendto(cookie + b" d7:command4:pinge", ("127.0.0.1", port))
                reply = s.recv(1024)
        except OSError as exc:
            return f"NG ping: {exc or type(exc).__name__}"
        return None if reply.startswith(cookie) and b"pong" in reply else \
            f"NG ping answered {reply[:40]!r}"
    return probe


def sip_options(port: int, timeout_s: float) -> Probe:
    def probe() -> str | None:
        tag, call_id = secrets.token_hex(6), secrets.token_hex(10)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            local = s.getsockname()[1]
            request = (
                f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{tag};rport\r\n"
                "Max-Forwards: 5\r\n"
                f"From: <sip:supervisor@127.0.0.1>;tag={tag}\r\n"
                f"To: <sip:127.0.0.1:{port}>\r\n"
                f"Call-ID: {call_id}@supervisor\r\n"
                "CSeq: 1 OPTIONS\r\n"
                "User-Agent: aitcomms-supervisor\r\n"
                "Content-Length: 0\r\n\r\n")
            try:
                s.settimeout(timeout_s)
                s.sendto(request.encode(), ("127.0.0.1", port))
                reply = s.recv(4096)
            except OSError as exc:
                return f"SIP OPTIONS: {exc or type(exc).__name__}"
        return None if reply.startswith(b"SIP/2.0 ") else f"SIP answered {reply[:30]!r}"
    return probe


def http_answer(port: int, timeout_s: float) -> Probe:
    def probe() -> str | None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
                s.settimeout(timeout_s)
                s.sendall(b"GET /api/v1/events/catalog HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Connection: close\r\n\r\n")
                status = s.recv(32)
        except OSError as exc:
            return f"HTTP: {exc or type(exc).__name__}"
        return None if status.startswith(b"HTTP/1.") else f"HTTP answered {status!r}"
    return probe
