"""The one event bus: in-process by default, Redis Streams with REDIS_URL.

With Redis every control plane instance appends its events to one stream and
reads the stream from where it joined, so an event raised in any instance
reaches every subscriber of every instance (each websocket, each listener).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from control.events.catalog import event_type

log = logging.getLogger(__name__)

STREAM = "aitcomms:events"
STREAM_MAXLEN = 10_000


@dataclass(frozen=True)
class Event:
    type: str  # e.g. call.incoming, agent.status_changed
    data: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ts: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "type": self.type, "ts": self.ts, "data": self.data})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        d = json.loads(raw)
        return cls(type=d["type"], data=d["data"], id=d["id"], ts=d["ts"])


class EventBus:
    """In-process fan-out. Subclasses change where events travel, not the API."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    @property
    def healthy(self) -> bool:
        return True

    async def publish(self, type: str, data: dict[str, Any]) -> Event:
        event_type(type)  # one catalogue: an unknown name is a bug, said at once
        event = Event(type=type, data=data)
        await self._transport(event)
        return event

    async def _transport(self, event: Event) -> None:
        self._deliver(event)

    def deliver_local(self, event: Event) -> None:
        """Hand an event to this instance's subscribers only: for figures every
        instance computes for itself (queue.stats), which must not be
        multiplied by the number of instances on a shared stream."""
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("a slow subscriber missed event %s", event.type)

    @asynccontextmanager
    async def subscribe(self, maxsize: int = 1000) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


class RedisEventBus(EventBus):
    def __init__(self, url: str) -> None:
        super().__init__()
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url)
        self._reader: asyncio.Task[None] | None = None
        self._ok = False
        self._last_id: str | bytes | None = None

    async def start(self) -> None:
        # Where this instance joins the stream: after its newest entry, found
        # before start() returns, so that an event published right after
        # start-up (by this instance or another) is not skipped.
        try:
            self._last_id = await self._newest()
            self._ok = True
        except Exception as exc:  # Redis down at start: the reader keeps trying
            log.warning("event bus: redis unavailable: %s", exc)
        self._reader = asyncio.create_task(self._read(), name="event-bus-reader")

    async def _newest(self) -> str | bytes:
        newest = await self._redis.xrevrange(STREAM, count=1)
        return newest[0][0] if newest else "0-0"

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        await self._redis.aclose()

    @property
    def healthy(self) -> bool:
        return self._ok

    async def _transport(self, event: Event) -> None:
        # Delivered locally when it comes back from the stream, like everyone else's.
        await self._redis.xadd(STREAM, {"event": event.to_json()}, maxlen=STREAM_MAXLEN,
                               approximate=True)

    async def _read(self) -> None:
        # Always from the id of the last entry read, never "$" (which means
        # "after the newest entry at the time of this XREAD": an event added
        # between two XREADs would be lost).
        while True:
            try:
                if self._last_id is None:
                    self._last_id = await self._newest()
                last_id = self._last_id
                replies = await self._redis.xread({STREAM: last_id}, block=1000, count=100)
                self._ok = True
                for _stream, entries in replies or []:
                    for entry_id, fields in entries:
                        self._last_id = entry_id
                        self._deliver(Event.from_json(fields[b"event"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep trying, report unhealthy
                self._ok = False
                log.warning("event bus: redis unavailable: %s", exc)
                await asyncio.sleep(1)


def make_bus(redis_url: str | None) -> EventBus:
    return RedisEventBus(redis_url) if redis_url else EventBus()
