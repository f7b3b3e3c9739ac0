"""Ask the test stack's Asterisk what really happens (AMI, as the control plane does)."""

from __future__ import annotations

import asyncio
from typing import Any

from panoramisk import Manager


class Ami:
    def __init__(self, port: int, secret: str) -> None:
        self.manager = Manager(host="127.0.0.1", port=port, username="aitcomms",
                               secret=secret, ping_delay=60, reconnect_timeout=1)

    async def __aenter__(self) -> Ami:
        self.manager.loop = asyncio.get_running_loop()
        await self.manager.connect()
        for _ in range(50):
            if self.manager.authenticated:
                break
            await asyncio.sleep(0.1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.manager.reconnect_timeout = 10**6
        self.manager.close()

    async def _list(self, action: str, item_event: str, **params: str) -> list[dict[str, Any]]:
        # Not as_list=True: panoramisk then never resolves an error reply (a
        # bridge destroyed between BridgeList and BridgeInfo) and the test hangs.
        # A list reply ("EventList: start") still comes back as a list.
        reply = await self.manager.send_action({"Action": action, **params})
        if not isinstance(reply, list):
            return []  # an error: nothing (left) to list
        return [dict(m) for m in reply if m.get("Event") == item_event]

    async def channels(self) -> list[dict[str, Any]]:
        return await self._list("CoreShowChannels", "CoreShowChannel")

    async def bridges(self) -> list[dict[str, Any]]:
        return await self._list("BridgeList", "BridgeListItem")

    async def bridge_channels(self, bridge_id: str) -> list[str]:
        items = await self._list("BridgeInfo", "BridgeInfoChannel", BridgeUniqueid=bridge_id)
        return [i["Channel"] for i in items]

    async def bridge_holding(self, *prefixes: str, size: int | None = None) -> list[str]:
        """The channels of the first bridge holding a channel that starts with
        each prefix (and exactly `size` channels, if given); [] if none."""
        for bridge in await self.bridges():
            members = await self.bridge_channels(bridge["BridgeUniqueid"])
            if size is not None and len(members) != size:
                continue
            if all(any(m.startswith(p) for m in members) for p in prefixes):
                return members
        return []

    def record(self, *names: str) -> list[dict[str, Any]]:
        """Every event of these names from now on, in a list that fills as they come."""
        seen: list[dict[str, Any]] = []
        for name in names:
            self.manager.register_event(name, lambda _manager, msg: seen.append(dict(msg)))
        return seen

    async def getvar(self, channel: str, variable: str) -> str:
        reply = await self.manager.send_action(
            {"Action": "Getvar", "Channel": channel, "Variable": variable})
        return str(reply.get("Value", ""))

    async def rtp_address(self, channel: str) -> tuple[str, int]:
        """Where Asterisk receives RTP for this channel (CHANNEL(rtp,src))."""
        value = await self.getvar(channel, "CHANNEL(rtp,src)")
        host, _, port = value.rpartition(":")
        return host, int(port)

    async def wait_for(self, predicate: Any, timeout: float = 10.0, every: float = 0.2) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = await predicate()
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                return result
            await asyncio.sleep(every)
