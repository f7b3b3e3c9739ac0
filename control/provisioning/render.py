"""The one place that renders templates: Asterisk and Kamailio configs and the
dialplan, from the templates in asterisk/, kamailio/ and dialplans/ and the
data in the database.

Rendering is pure (data in, text out); :func:`write` puts the files in place
atomically and says which ones changed, so a caller reloads only those.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from sqlalchemy import select

from control.acd.models import Agent, Queue
from control.db import Database
from control.ivr.flows import Flow, dialplans_dir, load_flows
from control.provisioning.models import Did, MediaNode, Trunk
from control.provisioning.nodes import is_loopback
from control.provisioning.targets import target_context
from control.settings import Ports, Settings
from control.stack import media_nodes
from control.stack.media_nodes import LocalNode

# Only what the stack uses; autoload is off (see asterisk/modules.conf.j2).
ASTERISK_MODULES = (
    # core services
    "res_timing_timerfd.so", "res_sorcery_config.so", "res_sorcery_memory.so",
    "res_sorcery_astdb.so", "pbx_config.so", "res_musiconhold.so", "res_agi.so",
    "res_http_websocket.so", "res_websocket_client.so", "res_mutestream.so",
    "res_audiosocket.so", "res_speech.so", "res_rtp_multicast.so",
    # SIP behind Kamailio
    "res_pjproject.so", "res_pjsip.so", "res_pjsip_session.so", "res_pjsip_pubsub.so",
    "chan_pjsip.so", "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_endpoint_identifier_user.so", "res_pjsip_caller_id.so",
    "res_pjsip_sdp_rtp.so", "res_pjsip_header_funcs.so", "res_pjsip_rfc3326.so",
    "res_pjsip_diversion.so", "res_pjsip_refer.so", "res_pjsip_nat.so",
    "res_pjsip_dtmf_info.so", "res_pjsip_logger.so", "res_pjsip_one_touch_record_info.so",
    "res_rtp_asterisk.so", "func_pjsip_endpoint.so", "func_pjsip_contact.so",
    # codecs and formats
    "codec_ulaw.so", "codec_alaw.so", "codec_a_mu.so", "codec_gsm.so",
    "codec_opus_open_source.so", "codec_resample.so", "res_format_attr_opus.so",
    "format_wav.so", "format_gsm.so", "format_pcm.so", "format_sln.so", "format_wav_gsm.so",
    # bridging, recording, supervision
    "bridge_simple.so", "bridge_softmix.so", "bridge_native_rtp.so", "bridge_holding.so",
    "bridge_builtin_features.so", "app_dial.so", "app_playback.so", "app_echo.so",
    "app_queue.so", "app_chanspy.so", "app_mixmonitor.so", "app_record.so", "app_read.so",
    "app_stasis.so", "app_verbose.so", "app_exec.so", "app_senddtmf.so", "app_userevent.so",
    "app_voicemail.so", "app_audiosocket.so", "app_originate.so", "app_stack.so",
    "app_sayunixtime.so", "app_playtones.so", "app_waituntil.so", "app_transfer.so",
    "app_bridgewait.so", "app_milliwatt.so", "app_amd.so",
    "chan_audiosocket.so", "chan_bridge_media.so", "chan_rtp.so",
    # dialplan functions
    "func_channel.so", "func_strings.so", "func_logic.so", "func_callerid.so",
    "func_global.so", "func_cut.so", "func_db.so", "func_timeout.so", "func_math.so",
    "func_uuid.so", "func_shell.so", "func_hangupcause.so", "func_devstate.so",
    "func_volume.so", "func_rand.so", "func_sprintf.so", "func_json.so",
    # ARI
    "res_stasis.so", "res_stasis_answer.so", "res_stasis_playback.so",
    "res_stasis_recording.so", "res_stasis_snoop.so", "res_stasis_device_state.so",
    "res_ari.so", "res_ari_model.so", "res_ari_applications.so", "res_ari_asterisk.so",
    "res_ari_bridges.so", "res_ari_channels.so", "res_ari_device_states.so",
    "res_ari_endpoints.so", "res_ari_events.so", "res_ari_playbacks.so",
    "res_ari_recordings.so", "res_ari_sounds.so",
)

# Templates folder -> what it renders.
TEMPLATE_DIRS = ("asterisk", "kamailio", "dialplans")


@dataclass(frozen=True)
class RenderedFile:
    path: Path
    text: str
    mode: int = 0o640


def _sip_quote(value: str) -> str:
    """A display name safe inside a quoted SIP string and an Asterisk config line."""
    return "".join(ch for ch in value if ch not in '"\\\r\n;')


def environment(root: Path) -> jinja2.Environment:
    dirs = [root / d for d in TEMPLATE_DIRS]
    dirs[TEMPLATE_DIRS.index("dialplans")] = dialplans_dir(root)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["sip_quote"] = _sip_quote
    env.filters["target_context"] = target_context
    return env


def kamailio_db_url(database_url: str) -> tuple[str, str]:
    """Kamailio's db_url and DB module for the project's database URL."""
    if database_url.startswith("sqlite"):
        return "sqlite://" + database_url.split("///", 1)[1], "db_sqlite.so"
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    auth = ""
    if url.username:
        auth = url.username + (f":{url.password}" if url.password else "") + "@"
    host = url.host or "127.0.0.1"
    port = f":{url.port}" if url.port else ""
    return f"postgres://{auth}{host}{port}/{url.database}", "db_postgres.so"


@dataclass(frozen=True)
class NodeAddresses:
    """Where an Asterisk listens and whom it talks to: all loopback for the
    stack's own and the nodes this box runs; a node run elsewhere listens
    for SIP on its own address and reaches Kamailio at the edge's."""

    sip: str = "127.0.0.1"  # its SIP transport (Kamailio sends calls there)
    control: str = "127.0.0.1"  # its ARI and AMI: loopback, always
    edge: str = "127.0.0.1"  # Kamailio, as the node reaches it (and trusts it)


@dataclass(frozen=True)
class RemoteSite:
    """A node run elsewhere (``aitcomms node files``): its folder as its
    Asterisk sees it, where the files are written, Kamailio's address from
    there, and its RTP ports."""

    folder: str
    out: Path
    edge: str
    rtp: tuple[int, int]


@dataclass
class StackData:
    """Everything the templates read from the database and the IVR files."""

    agents: list[Agent]
    trunks: list[Trunk]
    queues: list[Queue]
    dids: list[Did]
    ivrs: list[Flow]


def load_data(settings: Settings, db: Database) -> StackData:
    with db.session() as session:
        agents = list(session.scalars(select(Agent).order_by(Agent.extension)))
        trunks = list(session.scalars(select(Trunk).order_by(Trunk.name)))
        queues = list(session.scalars(select(Queue).order_by(Queue.name)))
        for queue in queues:  # loaded now: the templates read them after the session
            _ = [m.agent.extension for m in queue.members]
        dids = list(session.scalars(select(Did).order_by(Did.number)))
    return StackData(agents, trunks, queues, dids,
                     load_flows(dialplans_dir(settings.root) / "ivr"))


def render_dialplan(settings: Settings, secrets: Mapping[str, str], data: StackData) -> str:
    """extensions.conf alone (``aitcomms dialplan validate/diff/apply``)."""
    return environment(settings.root).get_template("extensions.conf.j2").render(
        _context(settings, secrets, data))


def _context(settings: Settings, secrets: Mapping[str, str], data: StackData) -> dict[str, Any]:
    db_url, db_module = kamailio_db_url(settings.database_url)
    listen_ips = ["127.0.0.1"]
    if settings.public_ip != "127.0.0.1":
        listen_ips.append(settings.public_ip)
    return {
        "ports": settings.ports,
        "secrets": secrets,
        "ast_dir": settings.asterisk_chroot_dir,
        "control_url": settings.control_url,
        "stasis_app": settings.stasis_app,
        "clock": settings.clock,
        "sip_domain": settings.sip_domain,
        "modules": ASTERISK_MODULES,
        "agents": data.agents,
        "trunks": data.trunks,
        "queues": data.queues,
        "dids": data.dids,
        "ivrs": data.ivrs,
        # what customers see when an agent calls them (acd.outbound picks the same)
        "outbound_caller_id": settings.outbound_caller_id or (
            data.dids[0].number if data.dids else ""),
        "db_url": db_url,
        "db_module": db_module,
        "usrloc_db_mode": settings.kamailio_usrloc_db_mode,
        "listen_ips": listen_ips,
        "tls_cfg": str(settings.kamailio_dir / "tls.cfg"),
        "tls_dir": str(settings.tls_dir),
        # the edge's flood guard, failed-digest counters, bans and trust
        "edge": settings.edge,
        # a media node this box runs beside its own Asterisk (render_node); None
        # for the stack's own, whose files stay as they always were
        # (not "node": the IVR templates' flow nodes are called so)
        "media_node": None,
        "addresses": NodeAddresses(),
    }


def render_all(settings: Settings, secrets: Mapping[str, str],
               data: StackData) -> list[RenderedFile]:
    env = environment(settings.root)
    context = _context(settings, secrets, data)
    files: list[RenderedFile] = []
    etc = settings.asterisk_dir / "etc"
    for template in sorted((settings.root / "asterisk").glob("*.conf.j2")):
        out = template.name.removesuffix(".j2")
        files.append(RenderedFile(etc / out, env.get_template(template.name).render(context)))
    files.append(RenderedFile(etc / "extensions.conf",
                              env.get_template("extensions.conf.j2").render(context)))
    kam = settings.kamailio_dir
    files.append(RenderedFile(kam / "kamailio.cfg",
                              env.get_template("kamailio.cfg.j2").render(context)))
    files.append(RenderedFile(kam / "tls.cfg", env.get_template("tls.cfg.j2").render(context)))
    files.append(RenderedFile(kam / "trunks.list",
                              env.get_template("trunks.list.j2").render(context)))
    return files


def render_node(settings: Settings, node: LocalNode, secrets: Mapping[str, str],
                data: StackData) -> list[RenderedFile]:
    """A media node's Asterisk files (control/stack/media_nodes.py), from the
    same templates and data as the stack's own: its ports, folders, names and
    AMI/ARI secrets differ; its dialplan reaches the same Kamailio and the
    same control plane (FastAGI; Stasis finds no app there, so queues take
    their app_queue fallback)."""
    return _node_files(settings, secrets, data, name=node.name,
                       ports=media_nodes.node_ports(settings.ports, node.slot),
                       ast_dir=media_nodes.chroot_dir(settings, node.name),
                       etc=media_nodes.asterisk_dir(settings, node.name) / "etc",
                       addresses=NodeAddresses())


def remote_addresses(node: MediaNode, edge: str) -> NodeAddresses:
    """A node run elsewhere: SIP and media on its address; ARI and AMI on
    its address when that is loopback (a node on another address of this
    host), else on its host's loopback (reached through a tunnel)."""
    control = node.address if is_loopback(node.address) else "127.0.0.1"
    return NodeAddresses(sip=node.address, control=control, edge=edge)


def remote_ari_port(node: MediaNode) -> int:
    port = urlsplit(node.ari_url or "").port
    assert port, "a node run elsewhere, with an ARI URL (check_ari_url wants its port)"
    return port


def render_remote_node(settings: Settings, node: MediaNode, secrets: Mapping[str, str],
                       data: StackData, site: RemoteSite) -> list[RenderedFile]:
    """The Asterisk files of a node run elsewhere (a row with ``ari_url``),
    to copy to its host (:func:`remote_addresses`): SIP on its port, ARI on
    its ARI URL's port, its own ARI and AMI passwords (``secrets``)."""
    ports = replace(settings.ports, asterisk_sip=node.port, ari=remote_ari_port(node),
                    asterisk_rtp_min=site.rtp[0], asterisk_rtp_max=site.rtp[1])
    files = _node_files(settings, secrets, data, name=node.name, ports=ports,
                        ast_dir=site.folder, etc=site.out / "etc",
                        addresses=remote_addresses(node, site.edge))
    return [replace(f, mode=0o600) for f in files]  # its secrets are in them


def _node_files(settings: Settings, secrets: Mapping[str, str], data: StackData, *, name: str,
                ports: Ports, ast_dir: str, etc: Path,
                addresses: NodeAddresses) -> list[RenderedFile]:
    env = environment(settings.root)
    context = _context(settings, secrets, data)
    context.update(ports=ports, ast_dir=ast_dir, addresses=addresses,
                   media_node={"name": name, "entityid": media_nodes.entity_id(name)})
    files = [RenderedFile(etc / t.name.removesuffix(".j2"),
                          env.get_template(t.name).render(context))
             for t in sorted((settings.root / "asterisk").glob("*.conf.j2"))]
    files.append(RenderedFile(etc / "extensions.conf",
                              env.get_template("extensions.conf.j2").render(context)))
    return files


def write(files: list[RenderedFile]) -> list[Path]:
    """Write files that differ from what is on disk; return those that changed."""
    changed: list[Path] = []
    for f in files:
        if f.path.exists() and f.path.read_text() == f.text:
            continue
        f.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.path.with_name(f.path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, f.mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(f.text)
        os.replace(tmp, f.path)
        changed.append(f.path)
    return changed
