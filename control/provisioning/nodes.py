"""Media nodes: the Asterisk instances behind Kamailio's dispatcher.

Kamailio reads them through the view ``kamailio_dispatcher`` (migration
0015), in the same database it reads agents' credentials and trunks from, and
re-reads them on ``dispatcher.reload``. The stack's own Asterisk is the node
``local``: set-up keeps it (:func:`ensure_local_node`), so a single box needs
nothing new.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.auth.audit import CLI, Actor, record
from control.db import Database
from control.errors import Conflict, InvalidInput, NotFound
from control.provisioning import trunks
from control.provisioning.models import MediaNode
from control.settings import Settings
from control.stack import media_nodes

LOCAL = "local"  # the stack's own Asterisk, run by its supervisor
LOCAL_ADDRESS = "127.0.0.1"  # pjsip.conf.j2 binds it to loopback
STATES = ("active", "draining")

# Kamailio's dispatcher flags for a node's state (the view's CASE, here for
# the tests and the CLI): 8 probing (selectable until a ping fails), 4 disabled.
FLAGS = {"active": 8, "draining": 4}


def ensure_local_node(db: Database, settings: Settings) -> None:
    """The row of the stack's own Asterisk (idempotent): created with the
    configured SIP port, and moved when that port setting changes. Its state
    (a drain) is left as it is."""
    with db.session() as session:
        node = session.scalar(select(MediaNode).where(MediaNode.name == LOCAL))
        port = settings.ports.asterisk_sip
        if node is None:
            node = MediaNode(name=LOCAL, address=LOCAL_ADDRESS, port=port, weight=1,
                             state="active")
            session.add(node)
        elif (node.address, node.port) != (LOCAL_ADDRESS, port):
            node.address, node.port = LOCAL_ADDRESS, port


def list_nodes(session: Session) -> list[MediaNode]:
    return list(session.scalars(select(MediaNode).order_by(MediaNode.name)))


# -- nodes as data (`aitcomms node`, /api/v1/nodes) -------------------------------

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_WEIGHT = 100  # dispatcher's rweight (relative weight) range


def get_node(session: Session, name: str) -> MediaNode:
    node = session.scalar(select(MediaNode).where(MediaNode.name == name))
    if node is None:
        raise NotFound("media node", name, "name")
    return node


def create_node(session: Session, *, name: str, host: str, port: int = 5080, weight: int = 1,
                actor: Actor = CLI, slot: int | None = None,
                ari_url: str | None = None) -> MediaNode:
    """A new node, in service as soon as it answers Kamailio's pings (once the
    dispatcher list is reloaded: :func:`reload_dispatcher`). ``slot``: one
    this box runs (:func:`create_local_node`). ``ari_url``: one run
    elsewhere that the control planes drive over ARI; its password is
    generated here (its files, with it: ``aitcomms node files``)."""
    if ari_url is not None:
        if slot is not None:
            raise InvalidInput("ari_url", "a node this box runs is reached at its slot's ARI "
                                          "port; give ari_url for a node run elsewhere")
        ari_url = check_ari_url(ari_url)
    if not NAME_RE.match(name):
        raise InvalidInput("name", "lowercase letters, digits, - and _ (at most 32)")
    if not _is_int(port) or not 1 <= port <= 65535:
        raise InvalidInput("port", "must be between 1 and 65535")
    if not _is_int(weight) or not 1 <= weight <= MAX_WEIGHT:
        raise InvalidInput("weight", f"must be between 1 and {MAX_WEIGHT}")
    host = host.strip()
    if not host or len(host) > 255:
        raise InvalidInput("host", "an IP address or a DNS name, at most 255 characters")
    if session.scalar(select(MediaNode).where(MediaNode.name == name)):
        raise Conflict(f"a media node named {name} already exists", "name")
    address = trunks.resolve_host(host)  # Kamailio knows a node's requests by source address
    other = session.scalar(select(MediaNode).where(MediaNode.address == address,
                                                   MediaNode.port == port))
    if other is not None:
        raise Conflict(f"media node {other.name} is already at {address}:{port}", "host")
    node = MediaNode(name=name, address=address, port=port, weight=weight, state="active",
                     slot=slot, ari_url=ari_url,
                     ari_password=secrets.token_urlsafe(24) if ari_url else None)
    session.add(node)
    session.flush()
    record(session, actor, "create", "media_nodes", name, after=node.as_dict())
    return node


def create_local_node(session: Session, settings: Settings, *, name: str, weight: int = 1,
                      actor: Actor = CLI) -> MediaNode:
    """A node this box runs itself, in the first free slot: its address is
    loopback and its SIP port derives from the slot (its other ports and
    folders too: control/stack/media_nodes.py). Its Asterisk is started by
    the caller (``Stack.start_local_node``) once the row is stored."""
    taken = set(session.scalars(select(MediaNode.slot).where(MediaNode.slot.is_not(None))))
    free = [k for k in range(1, media_nodes.MAX_SLOTS + 1) if k not in taken]
    if not free:
        raise Conflict(f"this box already runs {media_nodes.MAX_SLOTS} media nodes of its own, "
                       "the most its ports leave room for", "name")
    port = media_nodes.node_ports(settings.ports, free[0]).asterisk_sip
    return create_node(session, name=name, host=LOCAL_ADDRESS, port=port, weight=weight,
                       actor=actor, slot=free[0])


def check_ari_url(url: str) -> str:
    """``http(s)://HOST:PORT``, nothing else (the client adds ``/ari``)."""
    reason = ("expected http://HOST:PORT or https://HOST:PORT (the node's ARI, or the "
              "local end of a tunnel to it)")
    if not isinstance(url, str):
        raise InvalidInput("ari_url", reason)
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if (parts.scheme not in ("http", "https") or not parts.hostname or port is None
            or parts.username or parts.password or parts.path not in ("", "/")
            or parts.query or parts.fragment):
        raise InvalidInput("ari_url", reason)
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RemoteAri:
    """How the control planes reach a node run elsewhere (``ari_url``)."""

    name: str
    url: str
    password: str


def remote_ari(session: Session) -> list[RemoteAri]:
    """The nodes run elsewhere that the control planes drive over ARI."""
    rows = session.scalars(select(MediaNode).where(MediaNode.ari_url.is_not(None))
                           .order_by(MediaNode.name))
    return [RemoteAri(n.name, n.ari_url, n.ari_password) for n in rows
            if n.ari_url and n.ari_password]


def local_nodes(session: Session) -> list[media_nodes.LocalNode]:
    """The rows of the nodes this box runs, by slot."""
    rows = session.scalars(select(MediaNode).where(MediaNode.slot.is_not(None))
                           .order_by(MediaNode.slot))
    return [media_nodes.LocalNode(n.name, n.slot) for n in rows if n.slot is not None]


def sync_local_nodes(db: Database, settings: Settings) -> list[media_nodes.LocalNode]:
    """The files the supervisor reads the nodes from, written from the rows
    (set-up, ``up``). Only added, never removed here: ``node remove`` stops a
    node's Asterisk before it forgets its files."""
    with db.session() as session:
        found = local_nodes(session)
    for node in found:
        media_nodes.write_local_node(settings, node)
    return found


def set_state(session: Session, name: str, state: str, *, actor: Actor = CLI) -> MediaNode:
    """``draining``: no new calls (its calls go on); ``active``: back in service."""
    if state not in STATES:
        raise InvalidInput("state", f"one of {', '.join(STATES)}")
    node = get_node(session, name)
    before = node.as_dict()
    node.state = state
    session.flush()
    record(session, actor, "update", "media_nodes", name, before=before, after=node.as_dict())
    return node


def delete_node(session: Session, name: str, *, live_calls: int | None,
                actor: Actor = CLI) -> MediaNode:
    """Refused for the stack's own Asterisk (its supervisor runs it: drain it
    instead) and while the node has calls (``live_calls``: None when nobody
    can tell, i.e. Kamailio is not running, so no call is up through it)."""
    node = get_node(session, name)
    if node.name == LOCAL:
        raise Conflict("local is this stack's own Asterisk and cannot be removed "
                       "(drain it instead: no new calls)", "name")
    if live_calls:
        raise Conflict(f"media node {name} has {live_calls} call(s) up: drain it, "
                       "wait for them to end, then remove it", "name")
    before = node.as_dict()
    session.delete(node)
    session.flush()
    record(session, actor, "delete", "media_nodes", name, before=before)
    return node


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- Kamailio's side: its list and its view of each node -------------------------

@dataclass(frozen=True)
class NodeRuntime:
    """One node in ``kamcmd dispatcher.list``."""

    uri: str
    flags: str  # AP active+probing, IP inactive+probing, DX disabled (drained)...
    load: int  # calls dispatched to it that are up (alg 10's DLGLOAD)

    @property
    def up(self) -> bool:
        return self.flags.startswith("A")


def parse_dispatcher_list(out: str) -> dict[str, NodeRuntime]:
    """``kamcmd dispatcher.list`` output, by URI."""
    nodes: dict[str, NodeRuntime] = {}
    for block in out.split("DEST:")[1:]:
        uri = re.search(r"URI:\s*(\S+)", block)
        flags = re.search(r"FLAGS:\s*(\S+)", block)
        load = re.search(r"DLGLOAD:\s*(\d+)", block)
        if uri and flags:
            nodes[uri.group(1)] = NodeRuntime(uri.group(1), flags.group(1),
                                              int(load.group(1)) if load else 0)
    return nodes
