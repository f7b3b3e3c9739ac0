"""Local ports for the SIP phones and trunks the tests play.

They come from below the kernel's ephemeral range (32768 and up by default),
where outgoing connections of the stack itself can never hold them, are
checked free on UDP and TCP, and are not handed out twice in one session (a
port a SIPp just closed may still be in TIME_WAIT).
"""

from __future__ import annotations

import itertools
import random
import socket

from tests.harness.session import BASE_OFFSET, WORKER, WORKERS

# each worker of the session has its own slice of the range; a second test
# session (AITCOMMS_TEST_PORT_OFFSET) starts elsewhere in each slice
_SPAN = (32700 - 29000) // WORKERS
_FIRST = 29000 + WORKER * _SPAN
_LAST = _FIRST + _SPAN
_start = _FIRST + (BASE_OFFSET * 3) % _SPAN
_cursor = itertools.cycle(itertools.chain(range(_start, _LAST), range(_FIRST, _start)))


def _free(ip: str, port: int, kinds: tuple[int, ...] = (socket.SOCK_DGRAM,
                                                          socket.SOCK_STREAM)) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((ip, port))
            except OSError:
                return False
    return True


def sip_port(ip: str = "127.0.0.1") -> int:
    """A port free on ``ip`` for UDP and TCP, not handed out before."""
    for _ in range(_LAST - _FIRST):
        port = next(_cursor)
        if _free(ip, port):
            return port
    raise RuntimeError(f"no free SIP port on {ip} in {_FIRST}-{_LAST}")


def media_port(ip: str = "127.0.0.1") -> int:
    """An even port with the three above it free on ``ip`` (SIPp's ``-mp``: audio
    and its RTCP; video two up)."""
    for _ in range(200):
        port = random.randrange(40000, 45000, 2)
        if all(_free(ip, p, (socket.SOCK_DGRAM,)) for p in range(port, port + 4)):
            return port
    raise RuntimeError(f"no free media port on {ip}")

