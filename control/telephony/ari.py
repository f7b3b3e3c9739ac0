"""ARI client: REST calls and the Stasis event websocket over one aiohttp session.

ARI does not queue events while the websocket is down, and a dropped websocket
deactivates the Stasis app silently: after every (re)connect the listeners in
``on_connect`` rebuild state from ``GET /channels`` and ``GET /bridges``.

The read loop never waits on a handler: each handler only files the event
(the ACD into the event's call lane, :mod:`control.acd.lanes`) and returns,
so one call's slow work never holds up another call's events.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], None]  # must not block: files the event
ConnectHandler = Callable[[], Awaitable[None]]


class AriError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"ARI {status}: {message}")
        self.status = status


async def quietly(request: Awaitable[Any], method: str, path: str) -> Any:
    """A request whose failure because the thing is already gone (404, 409,
    422: a channel that hung up) is not an error: None then."""
    try:
        return await request
    except AriError as exc:
        if exc.status not in (404, 409, 422):
            log.warning("ARI %s %s: %s", method, path, exc)
        return None


class AriClient:
    def __init__(self, base_url: str, username: str, password: str, app: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        # the header itself: aiohttp.BasicAuth is deprecated (aiohttp 4 drops it)
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.handlers: list[EventHandler] = []
        self.on_connect: list[ConnectHandler] = []

    def start(self) -> None:
        # idle connections closed well before Asterisk closes them (http.conf
        # session_keep_alive, 15 s, aiohttp's default too): a POST that went
        # out on a connection the server was closing would be refused (503);
        # aiohttp sends a GET, PUT or DELETE again by itself
        self._session = aiohttp.ClientSession(
            headers=self._headers, connector=aiohttp.TCPConnector(keepalive_timeout=5.0))
        self._task = asyncio.create_task(self._run(), name="ari-events")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._session:
            await self._session.close()

    async def request(self, method: str, path: str, **params: Any) -> Any:
        assert self._session is not None, "start() first"
        body = params.pop("json", None)
        query: list[tuple[str, str]] = []
        for key, value in params.items():
            for v in value if isinstance(value, list) else [value]:
                query.append((key, str(v).lower() if isinstance(v, bool) else str(v)))
        try:
            async with self._session.request(
                method, f"{self.base_url}/ari{path}", params=query, json=body,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise AriError(resp.status, text.strip())
                return json.loads(text) if text else None
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            # Asterisk's HTTP server away: callers handle it as a refusal
            raise AriError(503, f"Asterisk unreachable: {exc or type(exc).__name__}") from exc

    async def request_quietly(self, method: str, path: str, **params: Any) -> Any:
        return await quietly(self.request(method, path, **params), method, path)

    async def download(self, path: str, dst: Path) -> None:
        """``GET path`` (a file ARI serves: ``/recordings/stored/NAME/file``)
        written to ``dst``: streamed to ``dst.part``, renamed when whole, so a
        failure (an ``AriError``, or ``OSError`` for a full disk) leaves no
        half file at ``dst``. No bound on the whole transfer (an hour's
        recording over a slow tunnel takes what it takes), only on silence."""
        assert self._session is not None, "start() first"
        part = dst.with_name(dst.name + ".part")
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)
        try:
            async with self._session.get(f"{self.base_url}/ari{path}",
                                         timeout=timeout) as resp:
                if resp.status >= 400:
                    raise AriError(resp.status, (await resp.text()).strip())
                dst.parent.mkdir(parents=True, exist_ok=True)
                with part.open("wb") as out:
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        out.write(chunk)
            part.replace(dst)
        except (aiohttp.ClientError, TimeoutError) as exc:  # (a body cut short, too)
            raise AriError(503, f"Asterisk unreachable: {exc or type(exc).__name__}") from exc
        finally:
            part.unlink(missing_ok=True)

    async def originate(self, *, endpoint: str, channel_id: str, app_args: str,
                        ring_s: int, caller_id: str, originator: str | None = None,
                        variables: dict[str, str] | None = None) -> None:
        """Dial ``endpoint`` into this app with ``app_args``. Its events before
        an answer (a hang-up: no answer, busy, rejected) reach the app too:
        Asterisk subscribes the app to the channel before it dials
        (res/ari/resource_channels.c), so a busy that comes back at once is
        never missed (subscribing ourselves after the POST raced with it, and
        failed on a channel already gone)."""
        params: dict[str, Any] = {"endpoint": endpoint, "app": self.app, "appArgs": app_args,
                                  "channelId": channel_id, "timeout": ring_s,
                                  "callerId": caller_id}
        if originator:
            params["originator"] = originator
        if variables:
            params["json"] = {"variables": variables}
        await self.request("POST", "/channels", **params)

    async def _run(self) -> None:
        assert self._session is not None
        url = self.base_url.replace("http", "ws", 1) + "/ari/events"
        delay = 0.5
        while True:
            try:
                async with self._session.ws_connect(
                    url, params={"app": self.app, "subscribeAll": "false"}, heartbeat=10,
                ) as ws:
                    self.connected = True
                    delay = 0.5
                    log.info("ARI events connected (app %s)", self.app)
                    for hook in self.on_connect:
                        await hook()
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        event = json.loads(msg.data)
                        for handler in self.handlers:
                            try:
                                handler(event)
                            except Exception:  # one bad handler must not stop the stream
                                log.exception("ARI event handler failed on %s", event.get("type"))
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError) as exc:
                log.debug("ARI not reachable: %s", exc)
            finally:
                self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
