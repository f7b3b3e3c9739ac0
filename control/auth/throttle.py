"""Failed logins counted per source address, across accounts.

The per-account lock-out (:mod:`control.auth.service`) stops guessing one
account's password; it does not stop one address trying a few passwords on
many accounts (password spraying), nor hashing load from one source. This
counts the failed logins of each address in a sliding window: past
``limit`` failures within ``window`` the address is refused (429
``too_many_attempts``, ``Retry-After``) before any password is checked,
until its oldest counted failure leaves the window. A login being checked
counts as a failure until it succeeds, so a burst of concurrent guesses gets
no more than ``limit`` password checks. Other addresses are not
affected; a good login does not clear the count (a colleague's success
behind the same NAT must not reset an attacker's).

The address is the TCP peer (``request.remote``): behind a reverse proxy
that is the proxy, so every client shares one count (no trusted-proxy
setting yet). IPv6 peers are counted per /64, what one host usually has.

Kept in memory, per control plane instance: with several instances behind a
load balancer an address gets ``limit`` failures on each, and a restart
forgets the counts. The per-account lock-out is in the database and shared.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections import deque
from collections.abc import Callable

# an office behind one NAT address mistyping at the start of a shift stays
# well under this; a spray across accounts does not
ADDRESS_FAILURES = 20
ADDRESS_WINDOW_S = 600.0
MAX_TRACKED = 100_000  # addresses kept at most: memory stays bounded


def address_key(remote: str | None) -> str:
    """The key an address is counted under: IPv4 as is, IPv6 by its /64."""
    if not remote:
        return "unknown"
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote  # e.g. a unix socket peer
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    """Failed logins per address within a sliding window."""

    def __init__(self, limit: int = ADDRESS_FAILURES, window_s: float = ADDRESS_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def retry_after(self, remote: str | None) -> int | None:
        """Seconds until this address may try again, or None if it may now."""
        now = self.clock()
        failures = self._recent(address_key(remote), now)
        if failures is None or len(failures) < self.limit:
            return None
        # the oldest failure that keeps the count at the limit must leave the window
        return max(1, int(failures[-self.limit] + self.window_s - now) + 1)

    def attempt(self, remote: str | None) -> float:
        """Count a login about to be checked as failed until :meth:`succeeded`
        says otherwise: concurrent attempts from one address (each takes an
        argon2 hash) count at once, so a burst cannot pass the limit. Call
        right after :meth:`retry_after`, with no ``await`` between."""
        now = self.clock()
        key = address_key(remote)
        failures = self._recent(key, now) or deque(maxlen=self.limit)
        self._failures.pop(key, None)
        failures.append(now)
        self._failures[key] = failures  # the most recently failing last
        if len(self._failures) > MAX_TRACKED:
            for stale in list(self._failures)[: len(self._failures) - MAX_TRACKED]:
                del self._failures[stale]
        return now

    def succeeded(self, remote: str | None, stamp: float) -> None:
        """The attempt stamped ``stamp`` was not a failure: uncount it."""
        failures = self._failures.get(address_key(remote))
        if failures is not None:
            with contextlib.suppress(ValueError):  # already out of the window
                failures.remove(stamp)
