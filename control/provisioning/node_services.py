"""What the CLI (``aitcomms node``) and the API (/api/v1/nodes) do to a
media node beyond its row (:mod:`control.provisioning.nodes`): ask the
running Kamailio how many calls a node has, start a node this box runs and
have Kamailio take it in, remove a node and stop it. Here, not in
``nodes.py``, because these need the stack (:mod:`control.stack.manager`),
which itself reads the rows.

How they fail: ``StackError`` when a node does not come up or the
supervisor does not let go of it (the row stays as stored); the domain
errors of ``nodes.py`` (NotFound, Conflict with calls up) before anything
is touched.
"""

from __future__ import annotations

from pathlib import Path

from control.auth.audit import CLI, Actor
from control.db import Database
from control.errors import InvalidInput
from control.provisioning import nodes, render
from control.settings import Settings
from control.stack import media_nodes
from control.stack.manager import Stack


def live_calls(stack: Stack, uri: str) -> int | None:
    """Calls Kamailio dispatched to the node at ``uri`` that are still up
    (its call load), or None when Kamailio is not running."""
    runtime = stack.media_nodes_runtime()
    if runtime is None:
        return None
    node = runtime.get(uri)
    return node.load if node else 0


def start_local(settings: Settings, db: Database, name: str) -> tuple[bool, bool]:
    """A node this box runs, just stored: its Asterisk started (waited for),
    then Kamailio re-reads its nodes, so that no call is offered to a node
    still starting. (whether a supervisor started it: False when none runs
    here, the next ``aitcomms up`` does; whether Kamailio reloaded.)"""
    stack = Stack(settings)
    started = stack.start_local_node(db, name)
    return started, stack.reload_media_nodes()


def remove(settings: Settings, db: Database, name: str,
           actor: Actor = CLI) -> tuple[bool, bool]:
    """The row removed (refused with calls up), Kamailio told, then a node this
    box runs stopped (Kamailio sends it nothing new by then). (whether it ran
    here, whether Kamailio reloaded: False when it is not running)."""
    stack = Stack(settings)
    with db.session() as session:
        node = nodes.get_node(session, name)
        calls = live_calls(stack, node.uri) if node.name != nodes.LOCAL else None
        runs_here = node.runs_here
        if runs_here:
            # its own word too: Kamailio's count restarts at 0 with Kamailio
            calls = max(calls or 0, len(stack.channels(name)))
        nodes.delete_node(session, name, live_calls=calls, actor=actor)
    reloaded = stack.reload_media_nodes()
    if runs_here:
        stack.stop_local_node(name)
    return runs_here, reloaded


def write_remote_files(settings: Settings, db: Database, name: str, *, out: Path,
                       root: Path = Path("/"), edge: str | None = None,
                       rtp: tuple[int, int] | None = None) -> list[Path]:
    """The Asterisk folder of a node run elsewhere (``etc/`` and the folders
    its asterisk.conf names) written to ``out``, which its Asterisk sees as
    ``out`` relative to ``root`` (its root filesystem). ``edge``: Kamailio's
    address as the node reaches it (default: loopback for a node on this
    host's loopback, else AITCOMMS_PUBLIC_IP). Refused, touching nothing,
    for a node without an ARI URL or a folder outside ``root``."""
    with db.session() as session:
        node = nodes.get_node(session, name)
        if not (node.ari_url and node.ari_password) or node.runs_here:
            raise InvalidInput("name", f"{name} is not a node run elsewhere with an ARI URL "
                                       "(aitcomms node add NAME --host H --ari-url URL)")
        session.expunge(node)
    out, root = out.resolve(), root.resolve()
    if not out.is_relative_to(root):
        raise InvalidInput("out", f"{out} is not inside the node's root filesystem {root}")
    if edge is None:
        edge = "127.0.0.1" if nodes.is_loopback(node.address) else settings.public_ip
        if edge == "127.0.0.1" and not nodes.is_loopback(node.address):
            raise InvalidInput("edge", "give Kamailio's address as the node reaches it "
                                       "(AITCOMMS_PUBLIC_IP is loopback here)")
    rtp = rtp or (settings.ports.asterisk_rtp_min, settings.ports.asterisk_rtp_max)
    if not 1024 <= rtp[0] < rtp[1] <= 65535:
        raise InvalidInput("rtp", "expected MIN-MAX, 1024 <= MIN < MAX <= 65535")
    site = render.RemoteSite(folder="/" + str(out.relative_to(root)).lstrip("."), out=out,
                             edge=edge, rtp=rtp)
    files = render.render_remote_node(settings, node, render.load_data(settings, db), site)
    for folder in media_nodes.ASTERISK_FOLDERS:
        (out / folder).mkdir(parents=True, exist_ok=True)
    render.write(files)
    return [f.path for f in files]
