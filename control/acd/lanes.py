"""Lanes: one call's events and actions run one after another, in the order
they came, while different calls never wait on each other.

ARI delivers every event of every call on one websocket. Awaiting each
handler inside the read loop made one slow call (a locked database, a slow
CRM lookup, an ARI request timing out) hold up every other call's routing.
Here the read loop only files the event into its call's lane (a key: the
call id, or a channel or agent id before there is a call) and goes on; each
lane has one worker task that runs its jobs in order and ends when the lane
is empty. Order matters per call, not per box.

Every task is owned: :meth:`close` cancels the workers still running and
the timers (:meth:`later`) not yet fired. A job
that raises is logged and the lane goes on with the next one; a job that
hangs holds only its own lane (callers that must not wait on it bound it).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Any]]


class Lanes:
    def __init__(self) -> None:
        self._jobs: dict[str, deque[tuple[Job, str, asyncio.Future[Any] | None]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._closed = False

    def submit(self, key: str, job: Job, what: str = "") -> None:
        """Run ``job`` after what is already in ``key``'s lane; do not wait."""
        self._enqueue(key, job, what, None)

    async def run(self, key: str, job: Job, what: str = "") -> Any:
        """Run ``job`` in ``key``'s lane and wait for its result (or error)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(key, job, what, future)
        return await future

    def later(self, delay: float, key: str, job: Job, what: str = "") -> asyncio.TimerHandle:
        """Submit ``job`` to ``key``'s lane in ``delay`` seconds; the timer is
        the lanes' (cancelled by :meth:`close`), the handle the caller's to
        cancel sooner."""
        def fire() -> None:
            self._timers.discard(handle)
            self.submit(key, job, what)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)
        return handle

    def cancel(self, handle: asyncio.TimerHandle | None) -> None:
        if handle is not None:
            handle.cancel()
            self._timers.discard(handle)

    def busy(self) -> int:
        """Lanes with work in progress (for the health page and tests)."""
        return len(self._workers)

    def _enqueue(self, key: str, job: Job, what: str,
                 future: asyncio.Future[Any] | None) -> None:
        if self._closed:
            if future is not None:
                future.set_exception(RuntimeError("the ACD is shutting down"))
            return
        self._jobs.setdefault(key, deque()).append((job, what, future))
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"lane-{key}")

    async def _work(self, key: str) -> None:
        jobs = self._jobs[key]
        try:
            while jobs:
                job, what, future = jobs.popleft()
                try:
                    result = await job()
                except asyncio.CancelledError:
                    if future is not None and not future.done():
                        future.cancel()
                    raise
                except Exception as exc:
                    if future is not None:
                        if not future.done():
                            future.set_exception(exc)
                    else:
                        log.exception("lane %s: %s failed", key, what or "job")
                else:
                    if future is not None and not future.done():
                        future.set_result(result)
        finally:
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
            if not jobs:
                self._jobs.pop(key, None)

    async def close(self) -> None:
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for jobs in self._jobs.values():
            for _job, _what, future in jobs:
                if future is not None and not future.done():
                    future.cancel()
        self._jobs.clear()
