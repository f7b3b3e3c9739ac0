"""Queues' settings as routing reads them: kept in memory, refreshed from the
database every second (and at once after a change made through this
process's API), so that a caller is answered, queued and routed with the
database locked or down. A queue nobody has read yet is read on demand,
bounded in time: past the bound the caller goes on to the dialplan's
``app_queue`` fallback rather than wait in silence.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from control.acd.store import AcdStore

log = logging.getLogger(__name__)

LOOKUP_BOUND_S = 0.3  # what a caller's routing may wait for the database


class QueueBook:
    def __init__(self, store: AcdStore) -> None:
        self.store = store
        self.queues: dict[str, dict[str, Any]] = {}

    def load(self, rows: list[dict[str, Any]]) -> None:
        self.queues = {str(q["name"]): q for q in rows}

    def get(self, name: str) -> dict[str, Any] | None:
        return self.queues.get(name)

    async def fetch(self, name: str) -> dict[str, Any] | None:
        """The queue, from memory or else from the database within the bound.
        Raises TimeoutError (or the database's error) when it cannot tell."""
        queue = self.queues.get(name)
        if queue is not None:
            return queue
        queue = await asyncio.wait_for(asyncio.to_thread(self.store.queue, name),
                                       LOOKUP_BOUND_S)
        if queue is not None:
            self.queues[name] = queue
        return queue
