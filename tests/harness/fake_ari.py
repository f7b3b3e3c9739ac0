"""A fake ARI for unit tests of the ACD (acceptance tests use the real
Asterisk): it records every request, answers with what the ACD reads back,
and lets a test make a request hang or fail for one channel. Events are
fed to the ACD as the real client does: ``handlers`` called synchronously.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from control.telephony.ari import AriError
from control.telephony.fleet import AriFleet


class FakeAri:
    def __init__(self, app: str = "aitcomms") -> None:
        self.app = app
        self.connected = True
        self.handlers: list[Callable[[dict[str, Any]], None]] = []
        self.on_connect: list[Any] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        # path fragment -> what to do: an Exception to raise, or an Event to wait for
        self.trouble: dict[str, BaseException | asyncio.Event] = {}
        self._ids = itertools.count(1)
        self.changed = asyncio.Event()
        self.files: dict[str, bytes] = {}  # what GET .../file serves (download)

    def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def fleet(self) -> AriFleet:
        """This fake as the one node of a fleet (what the ACD talks to)."""
        return AriFleet.of(self, self.app)

    async def request(self, method: str, path: str, **params: Any) -> Any:
        for fragment, what in self.trouble.items():
            if fragment in path:
                if isinstance(what, asyncio.Event):
                    await what.wait()
                else:
                    raise what
        self.requests.append((method, path, params))
        self.changed.set()
        if method == "POST" and path == "/bridges":
            return {"id": f"bridge-{next(self._ids)}", "channels": []}
        if method == "GET" and path in ("/channels", "/bridges"):
            return []
        if method == "GET" and path.startswith("/bridges/"):
            return {"channels": []}
        return {}

    async def download(self, path: str, dst: Path) -> None:
        """A file this fake serves (``files``: path -> bytes), else 404."""
        await self.request("GET", path)
        if path not in self.files:
            raise AriError(404, '{"message":"Recording not found"}')
        await asyncio.to_thread(dst.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(dst.write_bytes, self.files[path])

    async def request_quietly(self, method: str, path: str, **params: Any) -> Any:
        try:
            return await self.request(method, path, **params)
        except AriError:
            return None

    async def originate(self, *, endpoint: str, channel_id: str, app_args: str,
                        ring_s: int, caller_id: str, originator: str | None = None,
                        variables: dict[str, str] | None = None) -> None:
        await self.request("POST", "/channels", endpoint=endpoint, channelId=channel_id,
                           appArgs=app_args, timeout=ring_s, callerId=caller_id)

    # -- what a test does ------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        for handler in self.handlers:
            handler(event)

    def caller_arrives(self, channel: str, queue: str, number: str = "600000000",
                       language: str = "", skills: str = "") -> None:
        self.emit({"type": "StasisStart", "args": ["queue", queue, language, skills, "0", ""],
                   "channel": {"id": channel, "caller": {"number": number}}})

    def answers(self, channel: str, call_id: str) -> None:
        self.emit({"type": "StasisStart", "args": ["agent", call_id],
                   "channel": {"id": channel, "state": "Up"}})

    def hangs_up(self, channel: str) -> None:
        self.emit({"type": "StasisEnd", "channel": {"id": channel}})

    def rung(self) -> list[dict[str, Any]]:
        """The agents' phones rung so far: the originate parameters, in order."""
        return [p for m, path, p in self.requests if m == "POST" and path == "/channels"]

    async def wait_rung(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.rung()) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.rung()
