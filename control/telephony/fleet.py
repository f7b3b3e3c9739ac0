"""ARI to every media node as one client (docs/scale-out.md, section 5).

The ACD and the speech tap talk to :class:`AriFleet` exactly as they did to
one :class:`~control.telephony.ari.AriClient`; the fleet holds one client
per media node (its own URL, credentials and reconnect loop) and sends each
request to the node that owns what the request names:

- an id in the path (``/channels/ID``, ``/bridges/ID``, ``/playbacks/ID``,
  ``/recordings/live/NAME``) goes to the node the id was seen on. Ids are
  learned from each node's events, from the ids our own requests create
  (``channelId``, ``snoopId``, ``playbackId``, a recording's ``name``, the
  bridge a ``POST /bridges`` returns) and from each node's channel and
  bridge lists when it (re)connects; they are forgotten a while after
  their ``…Destroyed``/``…Finished`` event, so a late ``DELETE`` still
  finds its node. An id never seen goes to the node its ``systemname``
  prefix names (``media2-…``), else to the stack's own Asterisk;
- a request that names no id (``POST /bridges``, ``GET /channels``,
  ``externalMedia``, an originate without an originator) needs ``node=``.
  With one node that is the one; with several, a missing hint **raises**
  (a forgotten call site fails loudly, never on a silently wrong node that
  answers 404, which ``request_quietly`` would hide). Originates with an
  ``originator`` go to the originator's node (ARI wants them together).

Every event handed on carries ``event["_node"]``; ``on_connect`` hooks are
called with the node that (re)connected, so that reconcile judges only that
node's calls. Nodes come and go at run time: ``discover`` (the nodes this
box runs, :func:`local_nodes`, and those run elsewhere with an ARI URL in
the database, :class:`EveryNode`) is read every few seconds. A node run
elsewhere has no spool folder here: its recordings are fetched over ARI
(:meth:`AriFleet.download`).

How it fails: a node that is down answers every request with
``AriError(503)`` at once (its client is not connected), the other nodes are
untouched; a node whose secrets cannot be read is not connected (logged);
while the database cannot be read the fleet keeps the nodes it has (the
stack's own and this box's are read from files: connected all the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy.exc

from control.db import Database
from control.provisioning import nodes as node_rows
from control.secrets import read_secrets
from control.settings import Settings
from control.stack import media_nodes
from control.telephony.ari import AriClient, AriError, EventHandler, quietly

log = logging.getLogger(__name__)

LOCAL = "local"  # the stack's own Asterisk (its media_nodes row has this name)
FORGET_AFTER_S = 30.0
DISCOVER_EVERY_S = 2.0

NodeConnectHandler = Callable[[str], Awaitable[None]]
# /channels/ID..., /bridges/ID..., /playbacks/ID, /recordings/live|stored/NAME...
_PATH = re.compile(r"^/(channels|bridges|playbacks|recordings/live|recordings/stored)/([^/]+)")
_NOT_IDS = {"externalMedia", "create"}
# what an event's objects are: key in the event -> kind
_EVENT_OBJECTS = {"channel": "channels", "peer": "channels", "replace_channel": "channels",
                  "bridge": "bridges", "playback": "playbacks", "recording": "recordings"}
_GONE = {"ChannelDestroyed": ("channel", "channels"), "BridgeDestroyed": ("bridge", "bridges"),
         "PlaybackFinished": ("playback", "playbacks"),
         "RecordingFinished": ("recording", "recordings"),
         "RecordingFailed": ("recording", "recordings")}


class NodeClient(Protocol):
    """What the fleet needs of one node's client (AriClient; a fake in tests)."""

    connected: bool
    handlers: list[EventHandler]
    on_connect: list[Callable[[], Awaitable[None]]]

    def start(self) -> None: ...
    async def close(self) -> None: ...
    async def request(self, method: str, path: str, **params: Any) -> Any: ...
    async def download(self, path: str, dst: Path) -> None: ...


@dataclass(frozen=True)
class NodeAccess:
    """How to reach one node's ARI, and where its recordings land."""

    name: str
    url: str
    username: str
    password: str
    spool: Path | None = None


class AriFleet:
    def __init__(self, app: str, discover: Callable[[], list[NodeAccess]] | None = None,
                 default: str = LOCAL) -> None:
        self.app = app
        self.default = default
        self.handlers: list[EventHandler] = []
        self.on_connect: list[NodeConnectHandler] = []
        self.clients: dict[str, NodeClient] = {}
        self.spools: dict[str, Path] = {}
        self._access: dict[str, NodeAccess] = {}
        self._owner: dict[tuple[str, str], str] = {}  # (kind, id) -> node
        self._down_since: dict[str, float] = {}  # node -> loop time it was first seen down
        self._discover = discover
        self._started = False
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, client: NodeClient, app: str, name: str = LOCAL) -> AriFleet:
        """A fleet of one given client (unit tests: a fake ARI)."""
        fleet = cls(app, default=name)
        fleet.add(name, client)
        return fleet

    # -- nodes ---------------------------------------------------------------------

    def add(self, name: str, client: NodeClient, spool: Path | None = None) -> None:
        self.clients[name] = client
        if spool is not None:
            self.spools[name] = spool
        client.handlers.append(lambda event: self._on_event(name, event))

        async def connected() -> None:
            await self._connected(name)
        client.on_connect.append(connected)
        if self._started:
            client.start()

    async def remove(self, name: str) -> None:
        client = self.clients.pop(name, None)
        self.spools.pop(name, None)
        self._access.pop(name, None)
        for key in [k for k, v in self._owner.items() if v == name]:
            del self._owner[key]
        if client is not None:
            await client.close()

    async def sync(self, found: list[NodeAccess]) -> None:
        """Connect to the nodes ``found`` names, drop the others (a node
        whose URL or password changed is connected again)."""
        wanted = {a.name: a for a in found}
        for name in [n for n in self._access if self._access[n] != wanted.get(n)]:
            log.info("ARI: media node %s left the fleet", name)
            await self.remove(name)
        for access in wanted.values():
            self._join(access)

    def _join(self, access: NodeAccess) -> None:
        if access.name in self._access:
            return
        log.info("ARI: media node %s joins the fleet (%s)", access.name, access.url)
        self._access[access.name] = access
        self.add(access.name, AriClient(access.url, access.username, access.password,
                                        self.app), access.spool)

    def start(self) -> None:
        if self._discover is not None:  # the nodes known now, before anything asks
            try:
                found = self._discover()
            except Exception:  # the database away: the loop below tries again
                log.exception("ARI: reading the media nodes failed")
                found = []
            for access in found:
                self._join(access)
        self._started = True
        for client in self.clients.values():
            client.start()
        if self._discover is not None:
            self._task = asyncio.create_task(self._discovering(), name="ari-fleet")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in self.clients.values():
            await client.close()

    async def _discovering(self) -> None:
        assert self._discover is not None
        while True:
            try:
                await self.sync(await asyncio.to_thread(self._discover))
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad node file must not stop the others' updates
                log.exception("ARI: reading the media nodes failed")
            await asyncio.sleep(DISCOVER_EVERY_S)

    @property
    def connected(self) -> bool:
        """Any node reachable (health); :meth:`connected_to` per node."""
        return any(c.connected for c in self.clients.values())

    def connected_to(self, node: str | None) -> bool:
        client = self.clients.get(node or "")
        return bool(client and client.connected)

    def nodes(self) -> list[str]:
        return list(self.clients)

    def down_for(self, node: str) -> float:
        """How long the node's ARI has been seen unreachable (0 while it is
        connected; infinite for a node no longer in the fleet: removed).
        Counted from the first call that saw it down (the ACD asks every second)."""
        client = self.clients.get(node)
        if client is None:
            return float("inf")
        now = asyncio.get_running_loop().time()
        if client.connected:
            self._down_since.pop(node, None)
            return 0.0
        return now - self._down_since.setdefault(node, now)

    # -- which node ------------------------------------------------------------------

    def node_of(self, obj_id: str | None, kind: str = "channels") -> str | None:
        """The node that holds a channel (or bridge, playback, recording)."""
        if not obj_id:
            return None
        found = self._owner.get((kind, obj_id))
        if found is not None:
            return found
        if len(self.clients) == 1:
            return next(iter(self.clients))
        prefix = obj_id.split("-", 1)[0]
        if prefix in self.clients and prefix != obj_id:
            return prefix
        return self.default if self.default in self.clients else None

    def choose_node(self) -> str:
        """A node for a call that starts here (outbound): the connected one
        holding the fewest channels. Inbound spreading is Kamailio's."""
        up = [n for n, c in self.clients.items() if c.connected] or list(self.clients)
        if not up:
            raise AriError(503, "no media node")
        load = {n: 0 for n in up}
        for (kind, _id), node in self._owner.items():
            if kind == "channels" and node in load:
                load[node] += 1
        return min(up, key=lambda n: (load[n], n != self.default, n))

    def spool_of(self, node: str | None) -> Path | None:
        return self.spools.get(node or "")

    def _target(self, method: str, path: str) -> str:
        match = _PATH.match(path)
        if match and match.group(2) not in _NOT_IDS:
            kind = ("recordings" if match.group(1).startswith("recordings/")
                    else match.group(1))
            node = self.node_of(match.group(2), kind)
            if node is not None:
                return node
        if len(self.clients) == 1:
            return next(iter(self.clients))
        raise ValueError(f"ARI {method} {path}: several media nodes, and no node named")

    # -- requests --------------------------------------------------------------------

    async def request(self, method: str, path: str, *, node: str | None = None,
                      **params: Any) -> Any:
        target = node or self._target(method, path)
        client = self._client(target)
        if not client.connected and len(self.clients) > 1:
            raise AriError(503, f"media node {target} not connected")
        learn = self._learned_by(path, params)
        for key in learn:  # before the answer: its events may come first
            self._owner[key] = target
        result = await client.request(method, path, **params)
        if method == "POST" and path == "/bridges" and isinstance(result, dict) \
                and result.get("id"):
            self._owner[("bridges", str(result["id"]))] = target
        return result

    async def request_quietly(self, method: str, path: str, *, node: str | None = None,
                              **params: Any) -> Any:
        """See :func:`control.telephony.ari.quietly`."""
        return await quietly(self.request(method, path, node=node, **params), method, path)

    async def originate(self, *, endpoint: str, channel_id: str, app_args: str,
                        ring_s: int, caller_id: str, originator: str | None = None,
                        variables: dict[str, str] | None = None,
                        node: str | None = None) -> None:
        """Dial ``endpoint`` into this app (see AriClient.originate), on
        ``node``, else the originator's node."""
        params: dict[str, Any] = {"endpoint": endpoint, "app": self.app, "appArgs": app_args,
                                  "channelId": channel_id, "timeout": ring_s,
                                  "callerId": caller_id}
        if originator:
            params["originator"] = originator
            node = node or self.node_of(originator)
        if variables:
            params["json"] = {"variables": variables}
        await self.request("POST", "/channels", node=node, **params)

    async def download(self, path: str, dst: Path, *, node: str | None = None) -> None:
        """A file ARI serves (``/recordings/stored/NAME/file``) written to
        ``dst`` (see AriClient.download)."""
        await self._client(node or self._target("GET", path)).download(path, dst)

    def _client(self, node: str) -> NodeClient:
        client = self.clients.get(node)
        if client is None:
            raise AriError(503, f"media node {node} unknown")
        return client

    @staticmethod
    def _learned_by(path: str, params: dict[str, Any]) -> list[tuple[str, str]]:
        found = [("channels", str(params[k])) for k in ("channelId", "snoopId") if params.get(k)]
        if params.get("playbackId"):
            found.append(("playbacks", str(params["playbackId"])))
        if path.endswith("/record") and params.get("name"):
            found.append(("recordings", str(params["name"])))
        return found

    # -- events ------------------------------------------------------------------------

    def _on_event(self, node: str, event: dict[str, Any]) -> None:
        for key, kind in _EVENT_OBJECTS.items():
            obj = event.get(key)
            if isinstance(obj, dict):
                obj_id = obj.get("name" if kind == "recordings" else "id")
                if obj_id:
                    self._owner[(kind, str(obj_id))] = node
        gone = _GONE.get(str(event.get("type")))
        if gone is not None:
            obj = event.get(gone[0]) or {}
            obj_id = obj.get("name" if gone[1] == "recordings" else "id")
            if obj_id:
                self._forget_later(gone[1], str(obj_id), node)
        event["_node"] = node
        for handler in self.handlers:
            try:
                handler(event)
            except Exception:  # one bad handler must not stop the others
                log.exception("ARI event handler failed on %s", event.get("type"))

    def _forget_later(self, kind: str, obj_id: str, node: str) -> None:
        def forget() -> None:
            if self._owner.get((kind, obj_id)) == node:
                del self._owner[(kind, obj_id)]
        with contextlib.suppress(RuntimeError):  # no loop: nothing to forget later
            asyncio.get_running_loop().call_later(FORGET_AFTER_S, forget)

    async def _connected(self, node: str) -> None:
        """A node (re)connected: what it holds now is what it owns."""
        client = self.clients.get(node)
        if client is None:
            return
        try:
            channels = await client.request("GET", "/channels") or []
            bridges = await client.request("GET", "/bridges") or []
        except AriError as exc:
            log.warning("ARI: media node %s cannot list its channels: %s", node, exc)
        else:
            for key in [k for k, v in self._owner.items() if v == node]:
                del self._owner[key]
            for chan in channels:
                self._owner[("channels", str(chan["id"]))] = node
            for bridge in bridges:
                self._owner[("bridges", str(bridge["id"]))] = node
        for hook in self.on_connect:
            await hook(node)


def local_nodes(settings: Settings) -> list[NodeAccess]:
    """The stack's own Asterisk and every media node this box runs (their
    ports from their slots, their own ARI passwords). A node whose secrets
    are not written yet is left out until they are."""
    found = [NodeAccess(LOCAL, f"http://127.0.0.1:{settings.ports.ari}", "aitcomms",
                        read_secrets(settings.secrets_file).get("ARI_PASSWORD", ""),
                        settings.asterisk_dir / "spool" / "recording")]
    for node in media_nodes.read_local_nodes(settings):
        password = read_secrets(media_nodes.secrets_file(settings, node.name)).get(
            "ARI_PASSWORD")
        if not password:
            log.info("media node %s: no ARI password yet, not connected", node.name)
            continue
        ports = media_nodes.node_ports(settings.ports, node.slot)
        found.append(NodeAccess(
            node.name, f"http://127.0.0.1:{ports.ari}", "aitcomms", password,
            media_nodes.asterisk_dir(settings, node.name) / "spool" / "recording"))
    return found


class EveryNode:
    """The fleet's ``discover``: :func:`local_nodes` and the nodes run
    elsewhere that have an ARI URL (their rows; no spool folder here). While
    the database cannot be read, the nodes run elsewhere are those it last
    read (none, at a start with the database away: the stack's own
    Asterisk and this box's nodes are connected all the same)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db
        self.remote: list[NodeAccess] = []
        self.away = False

    def __call__(self) -> list[NodeAccess]:
        found = local_nodes(self.settings)
        try:
            with self.db.session() as session:
                rows = node_rows.remote_ari(session)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            if not self.away:
                log.warning("ARI: the media nodes cannot be read (%s): keeping the %d run "
                            "elsewhere already known", type(exc).__name__, len(self.remote))
            self.away = True
            return found + self.remote
        self.away = False
        self.remote = [NodeAccess(r.name, r.url, "aitcomms", r.password) for r in rows]
        return found + self.remote
