"""AMI client: panoramisk's Manager, which reconnects on its own, plus the
connection state the health endpoint reports."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from panoramisk import Manager

log = logging.getLogger(__name__)


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self.manager = Manager(
            host=host, port=port, username=username, secret=secret,
            ping_delay=5, ping_interval=5, reconnect_timeout=1,
            # no events: the control plane reads calls through ARI; each AMI
            # event would cost it parsing for nothing (tests' AMI users get them)
            events="off",
            on_login=self._on_login, on_disconnect=self._on_disconnect,
        )
        self.logged_in = asyncio.Event()

    def _on_login(self, _manager: Manager) -> None:
        log.info("AMI logged in")
        self.logged_in.set()

    def _on_disconnect(self, _manager: Manager, exc: Exception | None) -> None:
        log.warning("AMI connection lost: %s", exc)
        self.logged_in.clear()

    @property
    def connected(self) -> bool:
        return self.logged_in.is_set() and bool(self.manager.authenticated)

    def start(self) -> None:
        self.manager.loop = asyncio.get_running_loop()
        self.manager.connect()

    async def action(self, action: dict[str, str], as_list: bool | None = None) -> Any:
        return await self.manager.send_action(action, as_list=as_list)

    def close(self) -> None:
        # no reconnect after a deliberate close
        self.manager.reconnect_timeout = 10**6
        self.manager.close()
