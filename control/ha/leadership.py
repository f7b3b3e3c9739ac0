"""What only the routing control plane runs, started when it becomes it.

Alone (no ``AITCOMMS_CONTROL_PLANE``, or no Redis: the embedded default)
a control plane always routes: each starter runs at once, as before. One of
several waits for the routing lease (:mod:`control.ha.lease`); when it
takes it, the database's fencing token is raised to its own, the ACD's
writes start checking it, and the starters run in the order they were
given (the ACD and its ARI to every node, then the campaigns' dialer, the
speech tap, the alerts' watch). When it loses the lease, or a write finds
a newer token, it stops at once (exit status 75): its supervisor starts it
again, as a follower, and nothing it does meanwhile can change a call.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from control.acd.customers import CrmLink
from control.db import Database
from control.ha import fence
from control.ha.lease import RoutingLease

log = logging.getLogger(__name__)

Starter = Callable[[], Awaitable[None]]
EXIT_LOST = 75  # EX_TEMPFAIL: start again (as a follower)


class Leadership:
    def __init__(self, lease: RoutingLease | None, db: Database, crm: CrmLink) -> None:
        self.lease = lease
        self.db = db
        self.crm = crm
        self._starters: list[Starter] = []
        self.leading = asyncio.Event()
        if lease is not None:
            lease.on_acquired.append(self._acquired)
            lease.on_lost.append(self._lost)

    @property
    def alone(self) -> bool:
        return self.lease is None

    async def lead(self, starter: Starter) -> None:
        """Run ``starter`` now if this control plane routes, else once it does."""
        if self.lease is None:
            await starter()
        else:
            self._starters.append(starter)

    def start(self) -> None:
        """After every ``lead``: the lease is tried from now on."""
        if self.lease is None:
            self.leading.set()
        else:
            self.lease.start()

    async def close(self) -> None:
        if self.lease is not None:
            await self.lease.release()
            await self.lease.close()

    async def _acquired(self, token: int) -> None:
        await asyncio.to_thread(fence.raise_to, self.db, token)
        self.crm.fence = fence.checker(token)
        for starter in self._starters:
            await starter()
        self.leading.set()

    async def _lost(self, token: int) -> None:
        self.stop(f"routing lease (token {token}) lost")

    def stop(self, why: str) -> None:
        """Not one more change from here: the process ends now."""
        log.critical("%s: this control plane stops routing and exits", why)
        logging.shutdown()
        os._exit(EXIT_LOST)
