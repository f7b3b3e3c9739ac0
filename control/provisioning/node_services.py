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

from control.auth.audit import CLI, Actor
from control.db import Database
from control.provisioning import nodes
from control.settings import Settings
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
