"""`aitcomms node`: the media nodes (Asterisk instances) Kamailio's dispatcher
spreads calls over. Each change is written to the database, then Kamailio
re-reads its list (``dispatcher.reload``); a drain is kept in the table, so
no reload or restart undoes it."""

from __future__ import annotations

import argparse
from pathlib import Path
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
    if args.local and args.ari_url is not None:
        raise InvalidInput("ari_url", "a node this box runs is reached at its slot's ARI port")
    db = Database(settings)
    try:
        with db.session() as session:
            if args.local:
                node = nodes.create_local_node(session, settings, name=args.name,
                                               weight=args.weight).as_dict()
            else:
                node = nodes.create_node(session, name=args.name, host=args.host,
                                         port=5080 if args.port is None else args.port,
                                         weight=args.weight, ari_url=args.ari_url).as_dict()
        if args.local:
            ports = media_nodes.node_ports(settings.ports, int(str(node["slot"])))
            done = _started(settings, db, args.name)
            print(f"media node {node['name']} added, run by this box (slot {node['slot']}: "
                  f"SIP {node['uri']}, AMI {ports.ami}, ARI {ports.ari}, RTP "
                  f"{ports.asterisk_rtp_min}-{ports.asterisk_rtp_max}); {done}")
            return 0
    finally:
        db.dispose()
    driven = ""
    if node["ari_url"]:
        driven = (f"; the control planes drive it over ARI at {node['ari_url']} (a password "
                  f"was generated for it: `aitcomms node files {node['name']} --out DIR` "
                  "writes its Asterisk folder, to copy to its host)")
    print(f"media node {node['name']} added at {node['uri']} (weight {node['weight']}): "
          f"it takes calls once it answers Kamailio's pings; {_reloaded(settings)}{driven}")
    return 0


def _rtp_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    low, _, high = text.partition("-")
    if not (low.isdigit() and high.isdigit()):
        raise InvalidInput("rtp", f"{text!r}: expected MIN-MAX, e.g. 10000-19999")
    return int(low), int(high)


def cmd_files(settings: Settings, args: argparse.Namespace) -> int:
    if not args.every > 0:
        raise InvalidInput("every", "seconds above 0")
    db = Database(settings)
    try:
        files = node_services.remote_files(settings, db, args.name, out=Path(args.out),
                                           root=Path(args.root), edge=args.edge,
                                           rtp=_rtp_range(args.rtp))
        written, changed = files.write(settings, db)
        conf = f"{files.site.folder.rstrip('/')}/etc/asterisk.conf"
        print(f"media node {args.name}: {len(written)} files written to {files.site.out}/etc "
              f"(mode 0600: they hold its ARI and AMI passwords); run its Asterisk with "
              f"-C {conf}", flush=True)
        if not args.follow:
            return 0
        print(f"following the database every {args.every:g} s: changes are written and "
              f"reloaded over its ARI ({files.ari_url}); Ctrl-C stops", flush=True)
        try:
            node_services.follow_remote_files(
                settings, db, files, lambda line: print(f"media node {args.name}: {line}",
                                                        flush=True), every_s=args.every,
                changed_first=changed)
        except KeyboardInterrupt:
            return 0
    finally:
        db.dispose()
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
        if n["ari_url"]:
            runs = f" driven over ARI at {n['ari_url']}"
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
    p.add_argument("--ari-url", dest="ari_url",
                   help="a node run elsewhere that the control planes drive over ARI: "
                        "http://HOST:PORT (its own address when on this host's loopback, "
                        "else the local end of a tunnel to its loopback); a password is "
                        "generated for it")
    p.add_argument("--weight", type=int, default=1,
                   help=f"relative weight, 1-{nodes.MAX_WEIGHT} (default 1; Kamailio's "
                        "algorithm 11: today calls are spread by call load, which ignores it)")
    p = add("files", cmd_files, "write the Asterisk folder of a node run elsewhere (added "
                                "with --ari-url), to copy to its host", group)
    p.add_argument("name")
    p.add_argument("--out", required=True, help="the folder to write (etc/, lib/, spool/, "
                                                "run/, log/)")
    p.add_argument("--root", default="/",
                   help="the node's root filesystem, if not / (the folder's paths are "
                        "written as its Asterisk sees them)")
    p.add_argument("--edge", help="Kamailio's address as the node reaches it (default: "
                                  "loopback for a node on loopback, else AITCOMMS_PUBLIC_IP)")
    p.add_argument("--rtp", help="its RTP ports, MIN-MAX (default: the stack's Asterisk's)")
    p.add_argument("--follow", action="store_true",
                   help="keep running: write the files again when agents, trunks, queues, "
                        "DIDs or IVRs change, and reload the node over its ARI (run it on "
                        "the node's host, or where its folder is mounted)")
    p.add_argument("--every", type=float, default=2.0, help="seconds between two looks at "
                                                            "the database (default 2)")
    add("list", cmd_list, "media nodes, their state, and what Kamailio sees of each "
                          "(up or down, calls)", group)
    p = add("drain", cmd_drain, "no new calls to a node (its calls go on); kept across "
                                "reloads and restarts", group)
    p.add_argument("name")
    p.add_argument("--undo", action="store_true", help="put a drained node back in service")
    p = add("remove", cmd_remove, "remove a media node (refused while it has calls up, and "
                                  "for local, the stack's own Asterisk)", group)
    p.add_argument("name")
