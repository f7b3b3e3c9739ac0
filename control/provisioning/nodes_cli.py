"""`aitcomms node`: the media nodes (Asterisk instances) Kamailio's dispatcher
spreads calls over. Each change is written to the database, then Kamailio
re-reads its list (``dispatcher.reload``); a drain is kept in the table, so
no reload or restart undoes it."""

from __future__ import annotations

import argparse
from typing import Any

from control.auth.audit import CLI, Actor
from control.db import Database
from control.errors import InvalidInput
from control.provisioning import nodes
from control.settings import Settings
from control.stack import media_nodes
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


def start_local(settings: Settings, db: Database, name: str) -> str:
    """A node this box runs, just stored: its Asterisk started (waited for),
    then Kamailio re-reads its nodes, so that no call is offered to a node
    still starting. What happened, in words."""
    stack = Stack(settings)
    started = stack.start_local_node(db, name)
    component = media_nodes.component_name(name)
    if not started:
        return (f"no supervisor runs here: `aitcomms up` starts {component}; "
                f"{_reloaded(settings)}")
    return f"{component} is up; {_reloaded(settings)}"


def cmd_add(settings: Settings, args: argparse.Namespace) -> int:
    if args.local == bool(args.host):
        raise InvalidInput("host", "give --host (a node run elsewhere) or --local (a node "
                                   "this box runs), not both")
    if args.local and args.port is not None:
        raise InvalidInput("port", "a node this box runs takes its ports from its slot")
    db = Database(settings)
    try:
        with db.session() as session:
            if args.local:
                node = nodes.create_local_node(session, settings, name=args.name,
                                               weight=args.weight).as_dict()
            else:
                node = nodes.create_node(session, name=args.name, host=args.host,
                                         port=5080 if args.port is None else args.port,
                                         weight=args.weight).as_dict()
        if args.local:
            ports = media_nodes.node_ports(settings.ports, int(str(node["slot"])))
            done = start_local(settings, db, args.name)
            print(f"media node {node['name']} added, run by this box (slot {node['slot']}: "
                  f"SIP {node['uri']}, AMI {ports.ami}, ARI {ports.ari}, RTP "
                  f"{ports.asterisk_rtp_min}-{ports.asterisk_rtp_max}); {done}")
            return 0
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
        runs = f" runs here as {media_nodes.component_name(str(n['name']))}" \
            if n["local"] else ""
        print(f"{n['name']:<16} {n['uri']:<28} weight={n['weight']} state={n['state']:<9} "
              f"kamailio: {seen}{runs}")
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


def cmd_remove(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    try:
        stopped, reloaded = remove(settings, db, args.name)
    finally:
        db.dispose()
    told = ("Kamailio reloaded its media nodes" if reloaded else
            "Kamailio is not running here: it reads them at start (in containers: "
            "kamcmd dispatcher.reload)")
    also = f"; {media_nodes.component_name(args.name)} stopped" if stopped else ""
    print(f"media node {args.name} removed: no new calls go to it; {told}{also}")
    return 0


def register(sub: Any, add: Any) -> None:
    """The `node` command and its subcommands, on the CLI's parser."""
    group = sub.add_parser("node", help="media nodes (Asterisk) behind Kamailio's "
                                        "dispatcher").add_subparsers(dest="node_command",
                                                                     required=True)
    p = add("add", cmd_add, "add a media node: Kamailio probes it and sends it calls once it "
                            "answers", group)
    p.add_argument("name")
    p.add_argument("--host", help="its SIP address (IP or DNS name, resolved now)")
    p.add_argument("--port", type=int, help="its SIP port (default 5080)")
    p.add_argument("--local", action="store_true",
                   help="a node this box runs: another Asterisk beside the stack's own, "
                        "started by its supervisor as asterisk-NAME, its ports derived from "
                        "the stack's")
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
