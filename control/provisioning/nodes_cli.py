"""`aitcomms node`: the media nodes (Asterisk instances) Kamailio's dispatcher
spreads calls over. Each change is written to the database, then Kamailio
re-reads its list (``dispatcher.reload``); a drain is kept in the table, so
no reload or restart undoes it."""

from __future__ import annotations

import argparse
from typing import Any

from control.db import Database
from control.errors import InvalidInput
from control.provisioning import node_services, nodes
from control.settings import Settings
from control.stack import media_nodes
from control.stack.manager import Stack


def _said(reloaded: bool) -> str:
    if reloaded:
        return "Kamailio reloaded its media nodes"
    return ("Kamailio is not running here: it reads them at start (in containers: "
            "kamcmd dispatcher.reload)")


def _reloaded(settings: Settings) -> str:
    return _said(Stack(settings).reload_media_nodes())


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


def _started(settings: Settings, db: Database, name: str) -> str:
    """A node this box runs, just stored: started, then Kamailio told; in words."""
    started, reloaded = node_services.start_local(settings, db, name)
    component = media_nodes.component_name(name)
    told = _said(reloaded)
    if not started:
        return f"no supervisor runs here: `aitcomms up` starts {component}; {told}"
    return f"{component} is up; {told}"


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
            done = _started(settings, db, args.name)
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


def cmd_remove(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    try:
        stopped, reloaded = node_services.remove(settings, db, args.name)
    finally:
        db.dispose()
    also = f"; {media_nodes.component_name(args.name)} stopped" if stopped else ""
    print(f"media node {args.name} removed: no new calls go to it; {_said(reloaded)}{also}")
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
