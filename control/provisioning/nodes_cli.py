"""`aitcomms node`: the media nodes (Asterisk instances) Kamailio's dispatcher
spreads calls over. Each change is written to the database, then Kamailio
re-reads its list (``dispatcher.reload``); a drain is kept in the table, so
no reload or restart undoes it."""

from __future__ import annotations

import argparse
from typing import Any

from control.db import Database
from control.provisioning import nodes
from control.settings import Settings
from control.stack.manager import Stack


def _reloaded(settings: Settings) -> str:
    if Stack(settings).reload_media_nodes():
        return "Kamailio reloaded its media nodes"
    return ("Kamailio is not running here: it reads them at start (in containers: "
            "kamcmd dispatcher.reload)")


def live_calls(stack: Stack, uri: str) -> int | None:
    """Calls Kamailio dispatched to the node at ``uri`` that are still up
    (its call load), or None when Kamailio is not running."""
    runtime = stack.media_nodes_runtime()
    if runtime is None:
        return None
    node = runtime.get(uri)
    return node.load if node else 0


def kamailio_state(runtime: nodes.NodeRuntime | None) -> str:
    """What Kamailio makes of a node now, in words."""
    if runtime is None:
        return "not in Kamailio's list"
    if runtime.flags.startswith("D"):
        word = "drained"
    elif runtime.up:
        word = "up"
    else:
        word = "down (no answer to its pings)"
    return f"{word}, {runtime.load} call(s) ({runtime.flags})"


def cmd_add(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    try:
        with db.session() as session:
            node = nodes.create_node(session, name=args.name, host=args.host, port=args.port,
                                     weight=args.weight).as_dict()
    finally:
        db.dispose()
    print(f"media node {node['name']} added at {node['uri']} (weight {node['weight']}): "
          f"it takes calls once it answers Kamailio's pings; {_reloaded(settings)}")
    return 0


def cmd_list(settings: Settings, _args: argparse.Namespace) -> int:
    db = Database(settings)
    try:
        with db.session() as session:
            rows = [n.as_dict() for n in nodes.list_nodes(session)]
    finally:
        db.dispose()
    runtime = Stack(settings).media_nodes_runtime()
    for n in rows:
        seen = ("Kamailio not running" if runtime is None
                else kamailio_state(runtime.get(str(n["uri"]))))
        print(f"{n['name']:<16} {n['uri']:<28} weight={n['weight']} state={n['state']:<9} "
              f"kamailio: {seen}")
    return 0


def cmd_drain(settings: Settings, args: argparse.Namespace) -> int:
    state = "active" if args.undo else "draining"
    db = Database(settings)
    try:
        with db.session() as session:
            node = nodes.set_state(session, args.name, state).as_dict()
    finally:
        db.dispose()
    done = ("back in service: it takes new calls again" if args.undo
            else "draining: no new calls; its calls in progress go on")
    print(f"media node {node['name']} {done}; {_reloaded(settings)}")
    return 0


def cmd_remove(settings: Settings, args: argparse.Namespace) -> int:
    stack = Stack(settings)
    db = Database(settings)
    try:
        with db.session() as session:
            node = nodes.get_node(session, args.name)
            calls = live_calls(stack, node.uri) if node.name != nodes.LOCAL else None
            nodes.delete_node(session, args.name, live_calls=calls)
    finally:
        db.dispose()
    print(f"media node {args.name} removed: no new calls go to it; {_reloaded(settings)}")
    return 0


def register(sub: Any, add: Any) -> None:
    """The `node` command and its subcommands, on the CLI's parser."""
    group = sub.add_parser("node", help="media nodes (Asterisk) behind Kamailio's "
                                        "dispatcher").add_subparsers(dest="node_command",
                                                                     required=True)
    p = add("add", cmd_add, "add a media node: Kamailio probes it and sends it calls once it "
                            "answers", group)
    p.add_argument("name")
    p.add_argument("--host", required=True, help="its SIP address (IP or DNS name, resolved "
                                                 "now)")
    p.add_argument("--port", type=int, default=5080, help="its SIP port (default 5080)")
    p.add_argument("--weight", type=int, default=1,
                   help=f"relative weight, 1-{nodes.MAX_WEIGHT} (default 1; Kamailio's "
                        "algorithm 11: today calls are spread by call load, which ignores it)")
    add("list", cmd_list, "media nodes, their state, and what Kamailio sees of each "
                          "(up or down, calls)", group)
    p = add("drain", cmd_drain, "no new calls to a node (its calls go on); kept across "
                                "reloads and restarts", group)
    p.add_argument("name")
    p.add_argument("--undo", action="store_true", help="put a drained node back in service")
    p = add("remove", cmd_remove, "remove a media node (refused while it has calls up, and "
                                  "for local, the stack's own Asterisk)", group)
    p.add_argument("name")
