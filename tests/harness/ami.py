"""Ask the test stack's Asterisk what really happens (AMI, as the control plane does)."""

from __future__ import annotations

import asyncio
from typing import Any

from panoramisk import Manager


class AmiError(AssertionError):
    """AMI refused the login or an action: what the test asked cannot be known."""


USERNAME = "aitcomms"


class Ami:
    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.manager = Manager(host="127.0.0.1", port=port, username=USERNAME,
                               secret=secret, ping_delay=60, reconnect_timeout=1)

    async def __aenter__(self) -> Ami:
        self.manager.loop = asyncio.get_running_loop()
        try:
            await self.manager.connect()
        except OSError as err:
            self._close()
            raise AmiError(f"AMI on 127.0.0.1:{self.port} unreachable: {err}") from err
        for _ in range(50):
            if self.manager.authenticated:
                return self
            await asyncio.sleep(0.1)
        # a test must never read "no channels, no bridges" from a connection
        # that was refused: every check it makes would pass
        self._close()
        raise AmiError(f"AMI login as {USERNAME!r} on 127.0.0.1:{self.port} failed within "
                       "5 s (wrong secret, user not in manager.conf, or AMI not up)")

    async def __aexit__(self, *exc: object) -> None:
        self._close()

    def close(self) -> None:
        """For a connection opened with ``await Ami(...).__aenter__()``."""
        self._close()

    def _close(self) -> None:
        self.manager.reconnect_timeout = 10**6
        self.manager.close()

    async def _action(self, action: str, **params: str) -> Any:
        """The reply to one action; AmiError on an error reply."""
        reply = await self.manager.send_action({"Action": action, **params})
        if not isinstance(reply, list) and reply.get("Response") == "Error":
            raise AmiError(f"AMI {action} {params or ''} refused: {reply.get('Message')!r}")
        return reply

    async def _list(self, action: str, item_event: str, **params: str) -> list[dict[str, Any]]:
        # Not as_list=True: panoramisk then never resolves an error reply (a
        # bridge destroyed between BridgeList and BridgeInfo) and the test hangs.
        # A list reply ("EventList: start") comes back as a list; an error
        # reply raises (an empty answer from a broken AMI would pass every
        # "nothing left over" check).
        reply = await self._action(action, **params)
        if not isinstance(reply, list):
            raise AmiError(f"AMI {action}: a list was expected, got {dict(reply)}")
        return [dict(m) for m in reply if m.get("Event") == item_event]

    async def channels(self) -> list[dict[str, Any]]:
        return await self._list("CoreShowChannels", "CoreShowChannel")

    async def bridges(self) -> list[dict[str, Any]]:
        return await self._list("BridgeList", "BridgeListItem")

    async def bridge_channels(self, bridge_id: str) -> list[str]:
        try:
            items = await self._list("BridgeInfo", "BridgeInfoChannel",
                                     BridgeUniqueid=bridge_id)
        except AmiError as err:
            # destroyed between BridgeList and BridgeInfo: it holds nobody now.
            # Only that error: any other is the test's to see.
            if "not found" in str(err).lower():
                return []
            raise
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
        reply = await self._action("Getvar", Channel=channel, Variable=variable)
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
