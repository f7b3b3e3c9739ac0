"""Media nodes this box runs itself: more Asterisk instances beside the
stack's own, each a component of the supervisor (``asterisk-<name>``).

A node of this kind is a row of ``media_nodes`` with a *slot* (1, 2, ...;
``aitcomms node add NAME --local``). Everything else about it derives from
the slot and the stack's settings, so two nodes, or a node and another
stack on the same host, never share a port:

- SIP, AMI and ARI: the stack's Asterisk ports + slot x ``node_step``
  (100: 5180, 5138, 8188 for slot 1 of a default stack);
- RTP: ``node_rtp_span`` ports from ``node_rtp_min`` + (slot - 1) x span;
- folders: ``var/nodes/<name>/`` (its slot in ``node.json``, its own AMI and
  ARI secrets in a 0600 ``secrets.env``, generated there, never defaulted)
  and, inside the Asterisk root filesystem, the stack's folder's
  ``nodes/<name>/`` (etc, lib, spool, run, log).

The supervisor reads the nodes from ``var/nodes/*/node.json``, not from the
database: it must keep restarting daemons while the database is away, and
stays free of the database's imports. ``control.provisioning.nodes`` writes
those files from the rows; a node's row without its file is not run (yet).

How it fails: a ``node.json`` that cannot be read is skipped, with the
reason in :func:`read_local_nodes`' log line (the node is then not run, and
``aitcomms status`` does not list it): the other daemons are never held up
by one bad file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from control.settings import Ports, Settings

log = logging.getLogger(__name__)

NODES_DIR = "nodes"
# every Asterisk's own folder holds these (its asterisk.conf names them)
ASTERISK_FOLDERS = ("etc", "lib", "spool/recording", "spool/voicemail", "run", "log")
# A slot's ports must stay clear of the next one's and of the stack's other
# ports (Kamailio's 5060/5061, WSS 8443): node_step 100 leaves room for 4.
MAX_SLOTS = 4


@dataclass(frozen=True)
class LocalNode:
    """A media node run by this box's supervisor."""

    name: str
    slot: int

    @property
    def component(self) -> str:
        return component_name(self.name)


def component_name(name: str) -> str:
    return f"asterisk-{name}"


def node_ports(ports: Ports, slot: int) -> Ports:
    """The stack's ports as the node in ``slot`` sees them: its own Asterisk
    ports (SIP, AMI, ARI, RTP); Kamailio's, the control plane's and
    FastAGI's stay the stack's, so its dialplan reaches the same edge and
    the same control plane."""
    if not 1 <= slot <= MAX_SLOTS:
        raise ValueError(f"slot {slot}: expected 1 to {MAX_SLOTS}")
    shift = slot * ports.node_step
    rtp_min = ports.node_rtp_min + (slot - 1) * ports.node_rtp_span
    return replace(ports, asterisk_sip=ports.asterisk_sip + shift, ami=ports.ami + shift,
                   ari=ports.ari + shift, asterisk_rtp_min=rtp_min,
                   asterisk_rtp_max=rtp_min + ports.node_rtp_span - 1)


def entity_id(name: str) -> str:
    """A MAC-shaped id of its own (Asterisk's ``entityid``, the events'
    ``asterisk_id``): by default every instance on a host takes the host's
    MAC. 02: is a locally administered address, never a real card's."""
    digest = hashlib.sha1(name.encode()).digest()[:5]
    return ":".join(["02", *(f"{b:02x}" for b in digest)])


def var_dir(settings: Settings, name: str) -> Path:
    return settings.var_dir / NODES_DIR / name


def secrets_file(settings: Settings, name: str) -> Path:
    return var_dir(settings, name) / "secrets.env"


def chroot_dir(settings: Settings, name: str) -> str:
    """Its Asterisk folder as seen from inside the chroot."""
    return f"{settings.asterisk_chroot_dir}/{NODES_DIR}/{name}"


def asterisk_dir(settings: Settings, name: str) -> Path:
    """The same folder as seen from the host."""
    return settings.rootfs / chroot_dir(settings, name).lstrip("/")


def asterisk_conf(settings: Settings, name: str) -> str:
    return f"{chroot_dir(settings, name)}/etc/asterisk.conf"


def read_local_nodes(settings: Settings) -> list[LocalNode]:
    """The nodes this box runs, by slot."""
    found: list[LocalNode] = []
    for path in sorted((settings.var_dir / NODES_DIR).glob("*/node.json")):
        try:
            data = json.loads(path.read_text())
            node = LocalNode(name=str(data["name"]), slot=int(data["slot"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("media node file %s unreadable, node not run: %s", path, exc)
            continue
        if node.name != path.parent.name or not 1 <= node.slot <= MAX_SLOTS:
            log.error("media node file %s names %s in slot %s: not run", path, node.name,
                      node.slot)
            continue
        found.append(node)
    return sorted(found, key=lambda n: n.slot)


def write_local_node(settings: Settings, node: LocalNode) -> None:
    """Its file and folders (idempotent)."""
    folder = var_dir(settings, node.name)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    text = json.dumps({"name": node.name, "slot": node.slot}) + "\n"
    path = folder / "node.json"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".new")
        tmp.write_text(text)
        tmp.replace(path)
    for sub in ASTERISK_FOLDERS:
        (asterisk_dir(settings, node.name) / sub).mkdir(parents=True, exist_ok=True)


def forget_local_node(settings: Settings, name: str) -> None:
    """Its files and folders gone (its daemon must be stopped first)."""
    shutil.rmtree(var_dir(settings, name), ignore_errors=True)
    shutil.rmtree(asterisk_dir(settings, name), ignore_errors=True)
