"""The routing lease: which control plane routes calls (docs/scale-out.md, 5.4).

Several control planes share PostgreSQL and Redis; every one serves the API
and the websockets, and exactly one, the lease's holder, routes: it alone
connects to the media nodes' ARI (one Stasis app name, ``aitcomms``, so the
dialplan stays as it is), runs the ACD and dials campaigns. The others wait
and forward what changes a call to it (:mod:`control.ha.forward`).

The lease is a Redis key set with ``NX`` and a time to live (``ttl_s``),
renewed every ``renew_s`` by its holder. Each acquisition draws a new
**fencing token** (``INCR``, in the same Lua script, so no two holders ever
share one) and writes it to the database (:func:`control.ha.fence.raise_to`);
every write the ACD makes checks, in its own transaction, that the
database's token is still its own (:func:`control.ha.fence.check`). A
holder that was paused past its lease (a stopped process, a partition) and
comes back finds a newer token there and stops before changing anything.

How it fails: Redis away, the holder cannot renew: after ``ttl_s`` it must
assume another holds the lease, so it gives it up (``on_lost``: the process
exits, its supervisor starts it again as a follower). Followers retry every
``renew_s``; the first to find the key expired takes it, within ``ttl_s`` +
``renew_s`` of the holder's last renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

KEY = "aitcomms:lease:routing"
TOKENS = "aitcomms:lease:routing:tokens"

# take the key if nobody holds it, with a token of its own
_ACQUIRE = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
local token = redis.call('incr', KEYS[2])
local value = cjson.decode(ARGV[1])
value['token'] = token
redis.call('set', KEYS[1], cjson.encode(value), 'PX', ARGV[2])
return token
"""
# keep it, if it is still ours (the token in the value says so)
_RENEW = """
local held = redis.call('get', KEYS[1])
if not held then return 0 end
if cjson.decode(held)['token'] ~= tonumber(ARGV[1]) then return 0 end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""
_RELEASE = """
local held = redis.call('get', KEYS[1])
if held and cjson.decode(held)['token'] == tonumber(ARGV[1]) then
  return redis.call('del', KEYS[1])
end
return 0
"""

Hook = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Holder:
    """Who holds the lease: its name, where its API answers, its token."""

    name: str
    url: str
    token: int


class RoutingLease:
    def __init__(self, redis_url: str, name: str, url: str, *, ttl_s: float = 3.0,
                 renew_s: float = 1.0) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(redis_url)
        self.name = name
        self.url = url
        self.ttl_ms = int(ttl_s * 1000)
        self.renew_s = renew_s
        self.token: int | None = None
        self.on_acquired: list[Hook] = []
        self.on_lost: list[Hook] = []
        self._renewed = 0.0  # monotonic time of the last renewal that worked
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return self.token is not None

    async def holder(self) -> Holder | None:
        """The holder now (None: nobody, or Redis cannot say)."""
        try:
            raw = await self._redis.get(KEY)
        except Exception as exc:
            log.warning("routing lease: Redis cannot say who holds it: %s", exc)
            return None
        if not raw:
            return None
        value = json.loads(raw)
        return Holder(str(value["name"]), str(value["url"]), int(value["token"]))

    async def try_acquire(self) -> int | None:
        value = json.dumps({"name": self.name, "url": self.url})
        token = int(await self._redis.eval(_ACQUIRE, 2, KEY, TOKENS, value, self.ttl_ms))
        return token or None

    async def renew(self) -> bool:
        assert self.token is not None
        return bool(await self._redis.eval(_RENEW, 1, KEY, self.token, self.ttl_ms))

    async def release(self) -> None:
        if self.token is not None:
            with contextlib.suppress(Exception):
                await self._redis.eval(_RELEASE, 1, KEY, self.token)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="routing-lease")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: a holder keeps it until its ttl ends
                log.warning("routing lease: Redis: %s", exc or type(exc).__name__)
                if self.held and time.monotonic() - self._renewed > self.ttl_ms / 1000:
                    await self._lose()
            await asyncio.sleep(self.renew_s)

    async def _step(self) -> None:
        if self.token is None:
            token = await self.try_acquire()
            if token is None:
                return
            self.token, self._renewed = token, time.monotonic()
            log.warning("routing lease taken by %s (token %d): this control plane routes",
                        self.name, token)
            for hook in self.on_acquired:
                await hook(token)
        elif await self.renew():
            self._renewed = time.monotonic()
        else:
            await self._lose()

    async def _lose(self) -> None:
        token, self.token = self.token, None
        log.error("routing lease lost by %s (token %s)", self.name, token)
        for hook in self.on_lost:
            await hook(token or 0)
