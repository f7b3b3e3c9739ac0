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

import base64
import ipaddress
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy.exc

from control.auth.audit import CLI, Actor
from control.db import Database
from control.errors import InvalidInput
from control.provisioning import nodes, render
from control.secrets import ensure_secrets
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


# what a changed file needs reloaded, as ARI names the module (PUT /asterisk/modules/M)
REMOTE_RELOADS = {"pjsip.conf": "res_pjsip.so", "extensions.conf": "pbx_config.so",
                  "queues.conf": "app_queue.so", "voicemail.conf": "app_voicemail.so"}


@dataclass
class RemoteFiles:
    """The folder of a node run elsewhere, and how to render and reload it
    (:func:`remote_files`)."""

    name: str
    site: render.RemoteSite
    ari_url: str  # its ARI as the host it runs on reaches it (reloads)
    secrets: dict[str, str]  # its AMI password, and its ARI one once written

    def write(self, settings: Settings, db: Database) -> tuple[list[Path], list[Path]]:
        """Render from the database; (every file, those that changed)."""
        with db.session() as session:
            node = nodes.get_node(session, self.name)
            session.expunge(node)
        if not node.ari_url or not node.ari_password:
            raise InvalidInput("name", f"{self.name} no longer has an ARI URL")
        self.secrets["ARI_PASSWORD"] = node.ari_password
        files = render.render_remote_node(settings, node, self.secrets,
                                          render.load_data(settings, db), self.site)
        for folder in media_nodes.ASTERISK_FOLDERS:
            (self.site.out / folder).mkdir(parents=True, exist_ok=True)
        return [f.path for f in files], render.write(files)

    def reload(self, changed: list[Path]) -> list[str]:
        """Reload what ``changed`` needs in the running node, over its ARI
        (reloads keep calls up); the modules reloaded. Raises OSError (ARI
        unreachable: not running, it reads its files when it starts)."""
        modules = sorted({REMOTE_RELOADS[p.name] for p in changed if p.name in REMOTE_RELOADS})
        password = self.secrets["ARI_PASSWORD"]
        token = base64.b64encode(f"aitcomms:{password}".encode()).decode()
        for module in modules:
            request = urllib.request.Request(f"{self.ari_url}/ari/asterisk/modules/{module}",
                                             method="PUT",
                                             headers={"Authorization": f"Basic {token}"})
            with _NO_PROXY.open(request, timeout=10):
                pass
        return modules


# the node's ARI is on its host's loopback (or a tunnel's end): never through
# an HTTP proxy the environment names, which would get its password
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def remote_files(settings: Settings, db: Database, name: str, *, out: Path,
                 root: Path = Path("/"), edge: str | None = None,
                 rtp: tuple[int, int] | None = None) -> RemoteFiles:
    """The folder of a node run elsewhere: ``out`` (``etc/`` and the folders
    its asterisk.conf names), which its Asterisk sees as ``out`` relative to
    ``root`` (its root filesystem); its AMI password generated once into
    ``out/secrets.env`` (0600). ``edge``: Kamailio's address as the node
    reaches it (default: loopback for a node on this host's loopback, else
    AITCOMMS_PUBLIC_IP). Refused, touching nothing, for a node without an
    ARI URL or a folder outside ``root``."""
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
    try:
        ipaddress.ip_address(edge)
    except ValueError:
        raise InvalidInput("edge", f"{edge!r}: Kamailio's IP address as the node "
                                   "reaches it") from None
    rtp = rtp or (settings.ports.asterisk_rtp_min, settings.ports.asterisk_rtp_max)
    if not 1024 <= rtp[0] < rtp[1] <= 65535:
        raise InvalidInput("rtp", "expected MIN-MAX, 1024 <= MIN < MAX <= 65535")
    site = render.RemoteSite(folder="/" + str(out.relative_to(root)).lstrip("."), out=out,
                             edge=edge, rtp=rtp)
    try:
        out.mkdir(parents=True, exist_ok=True)
        secrets = ensure_secrets(out / "secrets.env", ("AMI_PASSWORD",))
    except OSError as exc:
        raise InvalidInput("out", f"{out}: {exc.strerror or exc}") from None
    control = render.remote_addresses(node, edge).control
    return RemoteFiles(name, site, f"http://{control}:{render.remote_ari_port(node)}",
                       {"AMI_PASSWORD": secrets["AMI_PASSWORD"]})


def follow_remote_files(settings: Settings, db: Database, files: RemoteFiles,
                        told: Callable[[str], None], every_s: float = 2.0,
                        changed_first: list[Path] | None = None) -> None:
    """Keep a node's folder in step with the database (run on its host, or
    where its folder is mounted): re-render every ``every_s``, reload what
    changed over the node's ARI; a reload that fails is tried again on the
    next round. ``changed_first``: what the first write changed (a follower
    restarted while the node ran on: reloaded too). A database away, or a
    folder that cannot be written, is waited out; each trouble is said once,
    as is its end. Runs until interrupted."""
    pending: set[Path] = set(changed_first or ())
    trouble = ""  # what is said of the current trouble, once
    while True:
        try:
            _, changed = files.write(settings, db)
            now_trouble = ""
        except sqlalchemy.exc.SQLAlchemyError as exc:  # the node runs on as it is
            now_trouble = f"the database cannot be read ({type(exc).__name__}): waiting"
            changed = []
        except OSError as exc:  # its folder: full, or not writable
            now_trouble = f"its folder cannot be written ({exc}): trying again"
            # a write that stopped halfway replaced some files, which will not
            # show as changed again: everything is reloaded once it can be
            changed = [files.site.out / "etc" / name for name in REMOTE_RELOADS]
        pending.update(changed)
        if pending and not now_trouble:
            try:
                modules = files.reload(sorted(pending))
                told(f"{', '.join(sorted(p.name for p in pending))} changed; reloaded "
                     f"{', '.join(modules) or 'nothing'}")
                pending.clear()
            except OSError as exc:
                now_trouble = (f"file(s) changed; its ARI did not answer ({exc}): it reads "
                               "them when it starts, or they are reloaded once it answers")
        if now_trouble != trouble:
            told(now_trouble or "back in step")
            trouble = now_trouble
        time.sleep(every_s)

