"""The FastAGI server the dialplan's ``AGI(agi://127.0.0.1:PORT/NAME,...)``
reaches: panoramisk's asyncio FastAGI :class:`~panoramisk.fast_agi.Request`
for the AGI conversation, handlers from :mod:`agi.handlers` run on a thread
(the data layer is synchronous).

Routes: ``identify`` (by, value), ``policy_status`` (customer id, policy
number), ``callback`` (phone, customer id, note). Whatever goes wrong, the
dialplan goes on (it checks the variables and ``AGISTATUS``): a caller is
never left in silence because the CRM did not answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from panoramisk.fast_agi import Request

from agi import handlers
from control.db import Database

log = logging.getLogger(__name__)

HEADER_LIMIT = 16384


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


class FastAgiServer:
    def __init__(self, db: Database, host: str, port: int) -> None:
        self.db = db
        self.host = host
        self.port = port
        self.server: asyncio.Server | None = None
        self.routes: dict[str, Callable[..., dict[str, str]]] = {
            "identify": self._identify,
            "policy_status": self._policy_status,
            "callback": self._callback,
        }

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, self.host, self.port)
        log.info("FastAGI listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    # -- handlers (on a thread, one session each) ---------------------------

    def _identify(self, by: str = "", value: str = "", *_: str) -> dict[str, str]:
        with self.db.session() as s:
            return handlers.identify(s, by, value)

    def _policy_status(self, customer_id: str = "", number: str = "", *_: str
                       ) -> dict[str, str]:
        with self.db.session() as s:
            return handlers.policy_status(s, customer_id, number)

    def _callback(self, phone: str = "", customer_id: str = "", note: str = "", *_: str
                  ) -> dict[str, str]:
        with self.db.session() as s:
            return handlers.callback(s, phone, customer_id, note)

    # -- the AGI conversation -------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            headers = await self._headers(reader)
            if headers is None:
                return
            script = headers.get("agi_network_script", "")
            args = [headers[f"agi_arg_{i}"] for i in range(1, 20)
                    if f"agi_arg_{i}" in headers]
            route = self.routes.get(script)
            if route is None:
                log.error("FastAGI: no route %r", script)
                return
            try:
                variables = await asyncio.to_thread(route, *args)
            except Exception:
                log.exception("FastAGI %s%r failed", script, args)
                variables = {}
            log.info("FastAGI %s%r -> %s", script, args, variables)
            request = Request(app=None, headers=headers, reader=reader, writer=writer)
            for name, value in variables.items():
                result: dict[str, Any] = await asyncio.wait_for(
                    request.send_command(f"SET VARIABLE {name} {_quote(value)}"), 5)
                if "error" in result:
                    log.warning("FastAGI SET VARIABLE %s: %s", name, result)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.warning("FastAGI connection dropped: %s", exc)
        finally:
            writer.close()

    @staticmethod
    async def _headers(reader: asyncio.StreamReader) -> dict[str, str] | None:
        """The agi_* lines up to the blank line (None if the peer went away)."""
        headers: dict[str, str] = {}
        size = 0
        while True:
            line = await asyncio.wait_for(reader.readline(), 10)
            size += len(line)
            if not line or size > HEADER_LIMIT:
                return None
            text = line.decode(errors="replace").rstrip("\r\n")
            if not text:
                return headers
            key, sep, value = text.partition(": ")
            if sep:
                headers[key] = value


def fastagi_context(db: Database, port: int, host: str = "127.0.0.1"
                    ) -> Callable[[Any], AsyncIterator[None]]:
    """For aiohttp's ``app.cleanup_ctx``: the server runs as long as the app."""

    async def ctx(_app: Any) -> AsyncIterator[None]:
        server = FastAgiServer(db, host, port)
        await server.start()
        try:
            yield
        finally:
            await server.close()

    return ctx
