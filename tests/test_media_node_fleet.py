"""N real Asterisk media nodes on one box (docs/scale-out.md, build order
step 2): ``aitcomms node add media2 --local`` starts a second Asterisk under
the stack's supervisor, and Kamailio's dispatcher spreads real trunk calls
(SIPp) over it and the stack's own.

The control plane connects to every node's ARI (control/telephony/fleet.py)
and routes the callers of both: each call row names its node
(``calls.media_node``), media2's AMI sees no ``QueueCallerJoin`` (the
app_queue fallback stays unused), and a call on media2 is transcribed (the
speech tap's legs on media2), held, listened to by a supervisor (his phone
and the snoop on media2), transferred, hung up and recorded through the API
like any other. Each node's AMI says
which calls it took (``Newchannel`` from the edge).

The pure parts first (ports, rendering, the supervisor's re-read), then one
stack of its own with two nodes: the spread, ``kill -9`` of media2 under
traffic, and a drain followed by ``node remove``, in that order (module
scope: the later tests use the node the first ones left running).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from control.provisioning import render
from control.settings import Ports, Settings
from control.stack import media_nodes
from control.stack.components import components, port_open
from control.stack.manager import Stack
from control.stack.media_nodes import LocalNode, node_ports
from control.stack.supervisor import Supervisor
from tests.conftest import (
    _OFFSET,
    ROOT,
    SECOND_STACK_OFFSET,
    StackUnderTest,
    ports_at,
    running_stack,
)
from tests.harness import figures
from tests.harness.ami import Ami
from tests.harness.ports import sip_port
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import Sipp, caller_scenario
from tests.harness.wait import wait_until
from tests.test_acd import add_agent, agent_phones, api_post, calls, login, supervisor_token
from tests.test_admin_api import http
from tests.test_calls import TRUNK_IP, caller, trunk_calls

QUEUE_DID = "+34910000081"  # a queue nobody takes: callers wait (4 s each)
IVR_DID = "+34910000082"
AGENT_DID = "+34910000083"  # a queue with one agent
AGENT = "1081"
AGENT2 = "1082"  # only by transfer
SUPERVISOR = "1084"  # a supervisor's own phone
NODE = "media2"
COMPONENT = "asterisk-media2"

# -- pure: ports, rendering, the supervisor's list -----------------------------------


def test_node_ports_shift_asterisks_own_and_keep_the_edges() -> None:
    base = Ports()
    one, two = node_ports(base, 1), node_ports(base, 2)
    assert (one.asterisk_sip, one.ami, one.ari) == (5180, 5138, 8188)
    assert (two.asterisk_sip, two.ami, two.ari) == (5280, 5238, 8288)
    assert (one.asterisk_rtp_min, one.asterisk_rtp_max) == (20000, 21999)
    assert (two.asterisk_rtp_min, two.asterisk_rtp_max) == (22000, 23999)
    # the edge, the control plane and FastAGI stay the stack's
    assert (one.sip, one.http, one.fastagi, one.kamailio_ctl) == (
        base.sip, base.http, base.fastagi, base.kamailio_ctl)
    for bad in (0, media_nodes.MAX_SLOTS + 1):
        with pytest.raises(ValueError):
            node_ports(base, bad)


def _ports(values: dict[str, int]) -> Ports:
    return Ports(**{k.lower(): v for k, v in values.items()})


def test_test_stacks_nodes_never_take_another_stacks_port() -> None:
    """Every test offset's stack and its two nodes: no node port is any
    stack's or another node's, no RTP range overlaps another (the session's
    stacks run side by side)."""
    single: dict[int, str] = {}
    ranges: list[tuple[int, int, str]] = []
    stacks = [(offset, _ports(ports_at(offset))) for offset in range(0, 4001, 500)]
    for offset, p in stacks:
        ranges += [(p.asterisk_rtp_min, p.asterisk_rtp_max, f"{offset} asterisk"),
                   (p.rtpengine_min, p.rtpengine_max, f"{offset} rtpengine")]
        for name in ("sip", "sips", "ws", "wss", "asterisk_sip", "ami", "ari", "http",
                     "fastagi", "audiosocket", "rtpengine_ng", "kamailio_ctl"):
            single.setdefault(getattr(p, name), f"{offset} stack {name}")
    for offset, p in stacks:
        for k in (1, 2):
            q = node_ports(p, k)
            for name in ("asterisk_sip", "ami", "ari"):
                port = getattr(q, name)
                assert port not in single, (offset, k, name, port, single[port])
                single[port] = f"{offset} slot {k} {name}"
            ranges.append((q.asterisk_rtp_min, q.asterisk_rtp_max, f"{offset} slot {k}"))
    ranges.sort()
    for (_lo1, hi1, a), (lo2, _hi2, b) in zip(ranges, ranges[1:], strict=False):
        assert hi1 < lo2, (a, b)
    for lo, hi, who in ranges:
        assert hi < 32768, who  # below the kernel's ephemeral ports
        clash = [port for port in single if lo <= port <= hi]
        assert not clash, (who, clash)
        # test_faults' agents (20000-20080)
        assert hi < 20000 or lo > 20080, who


def _data(root: Path) -> render.StackData:
    from control.ivr.flows import dialplans_dir, load_flows

    return render.StackData([], [], [], [], load_flows(dialplans_dir(root) / "ivr"))


def test_a_node_renders_its_own_names_ports_folders_and_secrets(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", rootfs=tmp_path / "rootfs")
    stack_secrets = {"AMI_PASSWORD": "stack-ami", "ARI_PASSWORD": "stack-ari",
                     "JWT_SECRET": "jwt"}
    node_secrets = {"AMI_PASSWORD": "node-ami", "ARI_PASSWORD": "node-ari"}
    data = _data(settings.root)
    own = {f.path.name: f.text for f in render.render_all(settings, stack_secrets, data)}
    files = render.render_node(settings, LocalNode("media2", 1), node_secrets, data)
    node = {f.path.name: f.text for f in files}
    etc = media_nodes.asterisk_dir(settings, "media2") / "etc"
    assert all(f.path.parent == etc for f in files)
    assert set(node) <= set(own) and {"extensions.conf", "asterisk.conf"} <= set(node)
    assert not {"kamailio.cfg", "trunks.list"} & set(node)
    assert "systemname" not in own["asterisk.conf"]  # the stack's own: as it always was
    assert "systemname = media2\n" in node["asterisk.conf"]
    assert re.search(r"^entityid = 02(:[0-9a-f]{2}){5}$", node["asterisk.conf"], re.M)
    assert f"astetcdir => {media_nodes.chroot_dir(settings, 'media2')}/etc" in \
        node["asterisk.conf"]
    p = node_ports(settings.ports, 1)
    assert f"bind = 127.0.0.1:{p.asterisk_sip}" in node["pjsip.conf"]
    assert f"port = {p.ami}\nbindaddr = 127.0.0.1" in node["manager.conf"]
    assert f"bindaddr = 127.0.0.1\nbindport = {p.ari}" in node["http.conf"]
    assert f"rtpstart = {p.asterisk_rtp_min}\nrtpend = {p.asterisk_rtp_max}" in node["rtp.conf"]
    assert "secret = node-ami" in node["manager.conf"] and "stack-ami" not in node["manager.conf"]
    assert "password = node-ari" in node["ari.conf"]
    # the same dialplan: the same edge, the same control plane (FastAGI, Stasis app)
    assert node["extensions.conf"] == own["extensions.conf"]
    assert media_nodes.entity_id("media2") != media_nodes.entity_id("media3")


def test_a_node_run_elsewhere_renders_its_address_ari_port_and_password(
        tmp_path: Path) -> None:
    from control.provisioning.models import MediaNode

    settings = Settings(var_dir=tmp_path / "var", rootfs=tmp_path / "rootfs")
    data = _data(settings.root)
    site = render.RemoteSite(folder="/srv/media1", out=tmp_path / "media1", edge="10.0.0.1",
                             rtp=(10000, 10999))
    node = MediaNode(name="media1", address="10.0.0.11", port=5080,
                     ari_url="http://127.0.0.1:18088", ari_password="far-ari-pw")
    secrets = {"ARI_PASSWORD": "far-ari-pw", "AMI_PASSWORD": "far-ami-pw"}
    files = {f.path.name: f for f in render.render_remote_node(settings, node, secrets, data,
                                                                site)}
    assert all(f.mode == 0o600 and f.path.parent == site.out / "etc" for f in files.values())
    text = {name: f.text for name, f in files.items()}
    # SIP and media on its own address; Kamailio trusted and reached at the edge's
    assert "bind = 10.0.0.11:5080" in text["pjsip.conf"]
    assert "media_address = 10.0.0.11" in text["pjsip.conf"]
    assert "match = 10.0.0.1\n" in text["pjsip.conf"]
    # ARI and AMI on its host's loopback (reached through a tunnel), its own passwords
    assert "bindaddr = 127.0.0.1" in text["http.conf"] and "bindport = 18088" in text["http.conf"]
    assert "bindaddr = 127.0.0.1" in text["manager.conf"]
    assert "password = far-ari-pw" in text["ari.conf"]
    assert "secret = far-ami-pw" in text["manager.conf"]
    assert "astspooldir => /srv/media1/spool" in text["asterisk.conf"]
    assert "systemname = media1" in text["asterisk.conf"]
    assert "rtpstart = 10000" in text["rtp.conf"] and "rtpend = 10999" in text["rtp.conf"]
    # the stack's own files say none of it
    own = {f.path.name: f.text for f in render.render_all(
        settings, {"AMI_PASSWORD": "a", "ARI_PASSWORD": "b", "JWT_SECRET": "j"}, data)}
    assert "media_address" not in own["pjsip.conf"] and "match = 127.0.0.1\n" in own["pjsip.conf"]


class _Rounds(Exception):
    """Ends the follower's endless loop after the rounds a test wants."""


def _follow(monkeypatch: pytest.MonkeyPatch, rounds: list[Any], ari_up: list[bool] | None = None,
            changed_first: list[Path] | None = None) -> tuple[list[list[str]], list[str]]:
    """``node files --follow`` without a database or an Asterisk: each of
    ``rounds`` is what a write changed, or what it raised; ``ari_up``: whether
    each reload is answered. (The modules reloaded, what it said.)"""
    from control.provisioning import node_services

    reloads: list[list[str]] = []
    answers = iter(ari_up or [])

    class Files:
        site = render.RemoteSite(folder="/srv/media1", out=Path("/srv/media1"),
                                 edge="127.0.0.1", rtp=(10000, 10999))

        def write(self, _settings: Any, _db: Any) -> tuple[list[Path], list[Path]]:
            step = rounds.pop(0)
            if isinstance(step, Exception):
                raise step
            return [], step

        def reload(self, changed: list[Path]) -> list[str]:
            if not next(answers, True):
                raise OSError("connection refused")
            modules = sorted({node_services.REMOTE_RELOADS[p.name] for p in changed
                              if p.name in node_services.REMOTE_RELOADS})
            reloads.append(modules)
            return modules

    def sleep(_s: float) -> None:
        if not rounds:
            raise _Rounds

    monkeypatch.setattr(node_services.time, "sleep", sleep)
    told: list[str] = []
    with pytest.raises(_Rounds):
        node_services.follow_remote_files(Settings(), Any, Files(),  # type: ignore[arg-type]
                                          told.append, changed_first=changed_first)
    return reloads, told


def test_a_follower_reloads_what_changed_and_says_each_trouble_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A restarted follower reloads what its first write changed; the
    database away, then the node's ARI away, are each said once, and their
    end once; a reload that failed is tried again until it is done."""
    import sqlalchemy.exc

    etc = Path("/srv/media1/etc")
    away = sqlalchemy.exc.OperationalError("SELECT", {}, OSError("refused"))
    reloads, told = _follow(monkeypatch, [
        [], away, away,
        [etc / "pjsip.conf", etc / "extensions.conf"],  # back: the ARI is away now
        [],
        [etc / "queues.conf"],  # the ARI back: all three reloaded in one go
        []], ari_up=[True, False, False, True], changed_first=[etc / "pjsip.conf"])
    assert reloads == [["res_pjsip.so"],  # the first write's change, at once
                       ["app_queue.so", "pbx_config.so", "res_pjsip.so"]]
    assert [t.split(" (")[0] for t in told] == [
        "pjsip.conf changed; reloaded res_pjsip.so",
        "the database cannot be read",
        "file(s) changed; its ARI did not answer",  # (one trouble for another)
        "extensions.conf, pjsip.conf, queues.conf changed; reloaded app_queue.so, "
        "pbx_config.so, res_pjsip.so",
        "back in step"], told


def test_a_follower_whose_write_stopped_halfway_reloads_everything_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk stops a write after some files were replaced: they will
    not show as changed again, so every module is reloaded once it can be."""
    from control.provisioning import node_services

    reloads, told = _follow(monkeypatch, [OSError(28, "No space left on device"),
                                          [Path("/srv/media1/etc/rtp.conf")]])
    assert reloads == [sorted(set(node_services.REMOTE_RELOADS.values()))], (reloads, told)
    assert told[0].startswith("its folder cannot be written") and told[-1] == "back in step"


def test_node_files_are_read_by_slot_and_bad_ones_skipped(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", rootfs=tmp_path / "rootfs")
    media_nodes.write_local_node(settings, LocalNode("media3", 2))
    media_nodes.write_local_node(settings, LocalNode("media2", 1))
    bad = settings.var_dir / "nodes" / "broken"
    bad.mkdir()
    (bad / "node.json").write_text("{not json")
    (settings.var_dir / "nodes" / "liar").mkdir()
    (settings.var_dir / "nodes" / "liar" / "node.json").write_text(
        json.dumps({"name": "other", "slot": 1}))
    assert media_nodes.read_local_nodes(settings) == [LocalNode("media2", 1),
                                                      LocalNode("media3", 2)]
    assert (media_nodes.asterisk_dir(settings, "media2") / "spool" / "recording").is_dir()
    assert oct((settings.var_dir / "nodes" / "media2").stat().st_mode & 0o777) == "0o700"
    names = [c.name for c in components(settings)]
    assert names == ["asterisk", "asterisk-media2", "asterisk-media3", "rtpengine",
                     "kamailio", "control"]
    media_nodes.forget_local_node(settings, "media3")
    assert not media_nodes.asterisk_dir(settings, "media3").exists()
    assert [n.name for n in media_nodes.read_local_nodes(settings)] == ["media2"]


def test_supervisor_rereads_its_components_keeping_the_records_it_has(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", rootfs=tmp_path / "rootfs")
    sup = Supervisor(settings)  # nothing is started before run()
    assert [w.comp.name for w in sup.watches] == ["asterisk", "rtpengine", "kamailio",
                                                  "control"]
    sup.watches[0].record.restarts = 3
    media_nodes.write_local_node(settings, LocalNode("media2", 1))
    sup.refresh()
    assert [w.comp.name for w in sup.watches] == ["asterisk", COMPONENT, "rtpengine",
                                                  "kamailio", "control"]
    assert sup.watches[0].record.restarts == 3  # the same watch, not a new one
    new = sup.watches[1]
    assert new.record.phase == "backoff" and new.restart_at <= time.monotonic()
    assert list(sup.state.components) == [w.comp.name for w in sup.watches]
    media_nodes.forget_local_node(settings, "media2")
    sup.refresh()
    assert COMPONENT not in sup.state.components and len(sup.watches) == 4


# -- one stack of its own with two media nodes ------------------------------------------


class Fleet:
    """The stack and what the tests ask of its two nodes."""

    def __init__(self, stack: StackUnderTest) -> None:
        self.stack = stack
        self.ports = node_ports(stack.settings.ports, 1)
        self.local_uri = f"sip:127.0.0.1:{stack.port('asterisk_sip')}"
        self.node_uri = f"sip:127.0.0.1:{self.ports.asterisk_sip}"

    def node_secret(self) -> str:
        return Stack(self.stack.settings).node_secrets(NODE)["AMI_PASSWORD"]

    def amis(self) -> tuple[Ami, Ami]:
        return (Ami(self.stack.port("ami"), self.stack.secret("AMI_PASSWORD")),
                Ami(self.ports.ami, self.node_secret()))

    def flags(self) -> dict[str, str]:
        return dict(re.findall(r"URI: (\S+)\s+FLAGS: (\S+)", self.stack.kamcmd("dispatcher.list")))

    def up(self, name: str = COMPONENT) -> bool:
        comps = Stack(self.stack.settings).components
        comp = next((c for c in comps if c.name == name), None)
        return comp is not None and comp.status()[0]

    def pid(self) -> int:
        return int((self.stack.var_dir / "run" / f"{COMPONENT}.pid").read_text())

    def ari_connected(self, name: str) -> bool:
        """The control plane's ARI connection to the node is up (the nodes API)."""
        got, body = http(self.stack, "GET", "/api/v1/nodes")
        return got == 200 and any(n["name"] == name and n["ari"] for n in body["nodes"])

    def open_calls(self, node: str) -> list[dict[str, Any]]:
        return [c for c in calls(self.stack) if c["media_node"] == node
                and c["state"] in ("waiting", "ringing", "answered")]


def wait_for_sync(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


def _arrivals(events: list[dict[str, Any]]) -> list[str]:
    """Callers' numbers of the calls that came in from the edge."""
    return [e.get("CallerIDNum", "") for e in events
            if e.get("Context") == "from-edge" and e.get("Channel", "").startswith("PJSIP/")]


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    # at the session's offset when this module runs alone, else beside it
    taken = port_open("udp", ports_at(_OFFSET)["SIP"])
    with running_stack(SECOND_STACK_OFFSET if taken else _OFFSET) as stack:
        stack.aitcomms("trunk", "add", "carrier", "--host", TRUNK_IP, "--port", "5060")
        stack.aitcomms("queue", "add", "ventas", "--max-wait", "60")
        stack.aitcomms("did", "add", QUEUE_DID, "--to", "queue:ventas")
        add_agent(stack, AGENT, languages="es")
        add_agent(stack, AGENT2, languages="es", available=False)
        add_agent(stack, SUPERVISOR, available=False)
        stack.aitcomms("user", "add", "sup-nodes@example.com", "--role", "supervisor",
                       "--password", "sup-nodes-pw-1", "--agent", SUPERVISOR)
        stack.aitcomms("queue", "add", "soporte", "--members", f"{AGENT},{AGENT2}",
                       "--wrapup", "1")
        stack.aitcomms("did", "add", AGENT_DID, "--to", "queue:soporte")
        stack.aitcomms("speech", "policy", "soporte", "--on")  # its calls are transcribed
        out = stack.aitcomms("node", "add", NODE, "--local").stdout
        assert f"{COMPONENT} is up; Kamailio reloaded its media nodes" in out, out
        # added after the node: `apply` must reach media2's dialplan too
        stack.aitcomms("did", "add", IVR_DID, "--to", "ivr:welcome")
        fleet = Fleet(stack)
        # the control plane finds the node (its files, every 2 s) and connects to its ARI
        assert wait_for_sync(lambda: fleet.ari_connected(NODE), 20), http(
            stack, "GET", "/api/v1/nodes")
        yield fleet


@pytest.mark.stack
async def test_node_add_local_runs_a_second_asterisk_under_the_supervisor(
        fleet: Fleet) -> None:
    stack = fleet.stack
    status = stack.aitcomms("status").stdout
    line = next(ln for ln in status.splitlines() if ln.startswith(COMPONENT))
    assert line.split()[1] == "up", status
    assert f"udp/{fleet.ports.asterisk_sip}, tcp/{fleet.ports.ami}, tcp/{fleet.ports.ari}" \
        in line, line
    listed = stack.aitcomms("node", "list").stdout
    assert re.search(rf"^{NODE}\s+{fleet.node_uri}\s.*kamailio: up.*runs here as {COMPONENT}",
                     listed, re.M), listed
    assert await wait_until(lambda: fleet.flags() == {fleet.local_uri: "AP",
                                                      fleet.node_uri: "AP"}, 10), fleet.flags()
    # its own secrets, 0600, not the stack's
    secrets_file = media_nodes.secrets_file(stack.settings, NODE)
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    assert fleet.node_secret() != stack.secret("AMI_PASSWORD")
    refused = stack.aitcomms("node", "add", "media9", "--local", "--port", "5090", check=False)
    assert refused.returncode == 2 and "port:" in refused.stderr, refused.stderr
    shown = Stack(stack.settings).asterisk_cli(
        "core show settings", media_nodes.asterisk_conf(stack.settings, NODE))
    assert re.search(rf"System name:\s+{NODE}$", shown, re.M), shown
    # its AMI answers its own secret
    async with Ami(fleet.ports.ami, fleet.node_secret()) as ami:
        assert await ami.channels() == []


@pytest.mark.stack
async def test_twenty_calls_spread_over_both_nodes_and_all_connect(fleet: Fleet) -> None:
    stack = fleet.stack
    local_ami, node_ami = fleet.amis()
    async with local_ami, node_ami:
        on_local, on_node = local_ami.record("Newchannel"), node_ami.record("Newchannel")
        joined = node_ami.record("QueueCallerJoin")
        before = {c["id"] for c in calls(stack)}
        # one SIPp, 20 calls of 4 s, 5 new ones a second: up to ~20 up at once
        result = await trunk_calls(stack, QUEUE_DID, calls=20, rate=5, call_ms=4000,
                                   from_user="34600100100")
        local_n = len(_arrivals(on_local))
        node_n = await wait_until(lambda: len(_arrivals(on_node)), 3)
        figures.report(f"media nodes: 20 trunk calls to a queue, 5/s, 4 s each -> local "
                       f"{local_n}, {NODE} {node_n}; {result.successful} answered, "
                       f"{result.failed} failed")
        assert result.returncode == 0 and result.successful == 20, result.output[-2000:]
        assert local_n + node_n == 20 and local_n > 0 and node_n > 0, (local_n, node_n)
        # the control plane routed both nodes' callers: each row names its node,
        # and media2's app_queue fallback took none
        def per_node() -> dict[str, int]:
            rows = [c for c in calls(stack) if c["id"] not in before]
            return {n: sum(1 for c in rows if c["media_node"] == n) for n in ("local", NODE)}
        assert await wait_until(lambda: per_node() == {"local": local_n, NODE: node_n}, 10), \
            (per_node(), local_n, node_n)
        assert joined == [], joined[:2]

    # on media2 alone (the stack's own drained): the IVR, its DID added after
    # the node started (the caller hears the prompt, and the IVR ends the
    # call), and a queue with an agent: the control plane rings the agent's
    # phone from media2 (through Kamailio), the agent takes the call, and
    # the API holds, transfers and hangs it up; its recording is filed from
    # media2's spool
    stack.aitcomms("node", "drain", "local")
    try:
        async with Ami(fleet.ports.ami, fleet.node_secret()) as node_ami:
            on_node = node_ami.record("Newchannel")
            rtp = await RtpEndpoint.open(TRUNK_IP)
            try:
                result = await caller(stack, IVR_DID, rtp, call_ms=10000, from_user="34600200200",
                                      far_end_hangs_up=True).run()
            finally:
                rtp.close()
            assert result.returncode == 0, result.output[-2000:]
            assert "34600200200" in _arrivals(on_node)
            assert rtp.packets > 40 and rtp.rms() > 300, (rtp.packets, rtp.rms())

            token = supervisor_token(stack)
            sup_token = login(stack, "sup-nodes@example.com", "sup-nodes-pw-1")
            async with agent_phones(stack, AGENT, AGENT2, SUPERVISOR) as phones:
                rtp = await RtpEndpoint.open(TRUNK_IP)
                call = caller(stack, AGENT_DID, rtp, call_ms=60000, from_user="34600200201")
                try:
                    await call.start()
                    bridged = await node_ami.wait_for(
                        lambda: node_ami.bridge_holding(f"PJSIP/agent-{AGENT}-", size=2), 10)
                    assert bridged, "the agent never took the call on media2"
                    row = calls(stack)[-1]
                    assert (row["media_node"], row["agent_extension"], row["state"]) == (
                        NODE, AGENT, "answered"), row
                    path = f"/api/v1/calls/{row['id']}"

                    async def tapped() -> bool:  # the speech tap's legs, on the call's node
                        return any(c["Channel"].startswith("AudioSocket/")
                                   for c in await node_ami.channels())
                    assert await node_ami.wait_for(tapped, 10), "no speech tap on media2"
                    music = node_ami.record("MusicOnHoldStart")
                    assert api_post(stack, f"{path}/hold", {}, token)[0] == 202
                    assert await wait_until(lambda: music, 5), "no music on hold on media2"
                    assert api_post(stack, f"{path}/unhold", {}, token)[0] == 202
                    # a supervisor listens: his phone and the snoop are on media2 too
                    status, body = api_post(stack, "/api/v1/supervision",
                                            {"call_id": row["id"], "mode": "listen"}, sup_token)
                    assert status == 202, body
                    sup_members = await node_ami.wait_for(lambda: node_ami.bridge_holding(
                        f"PJSIP/agent-{SUPERVISOR}-", "Snoop/"), 10)
                    assert sup_members, "no supervisor bridge with a snoop on media2"
                    phones[SUPERVISOR].rtp.reset()
                    assert await wait_until(lambda: phones[SUPERVISOR].rtp.packets >= 10, 5), \
                        "no audio reaches the supervisor"
                    sup_chan = next(m for m in sup_members
                                    if m.startswith(f"PJSIP/agent-{SUPERVISOR}-"))
                    await node_ami.manager.send_action({"Action": "Hangup", "Channel": sup_chan})
                    status, body = api_post(stack, f"{path}/transfer", {"to": f"ext:{AGENT2}"},
                                            token)
                    assert status == 202, body
                    assert await node_ami.wait_for(
                        lambda: node_ami.bridge_holding(f"PJSIP/agent-{AGENT2}-", size=2), 10), \
                        f"not bridged with {AGENT2} on media2 after the transfer"
                    assert (await phones[AGENT].result(10)).returncode == 0
                    await asyncio.sleep(1)  # a second of the new agent on the recording
                    assert api_post(stack, f"{path}/hangup", {}, token)[0] == 202
                    assert (await call.wait(20)).returncode == 0  # the caller got a BYE
                    assert (await phones[AGENT2].result(10)).returncode == 0
                finally:
                    call.kill()
                    rtp.close()
            assert "34600200201" in _arrivals(on_node)
            done = await wait_until(
                lambda: (c := next(x for x in calls(stack) if x["id"] == row["id"]))[
                    "state"] == "completed" and Path(c["recording"] or "").is_absolute() and c,
                15)  # filed: the row had only the file's name while it was recorded
            assert done and done["agent_extension"] == AGENT2, done
            recording = Path(done["recording"])
            assert recording.parent == stack.settings.recordings_dir, recording
            with wave.open(str(recording)) as wav:
                assert wav.getnframes() > wav.getframerate(), "under a second of audio"
    finally:
        stack.aitcomms("node", "drain", "local", "--undo")


async def _when(predicate: Any, timeout: float) -> float | None:
    """The monotonic time ``predicate`` first held (polled as wait_until
    does), or None."""
    return time.monotonic() if await wait_until(predicate, timeout) else None


@pytest.mark.stack
async def test_kill_9_of_the_second_node_new_calls_go_to_the_survivor(fleet: Fleet) -> None:
    stack = fleet.stack
    assert await wait_until(lambda: fleet.flags().get(fleet.node_uri) == "AP", 10)
    local_ami, node_ami = fleet.amis()
    held: list[tuple[str, Sipp, RtpEndpoint]] = []
    async with local_ami, node_ami:
        on_local, on_node = local_ami.record("Newchannel"), node_ami.record("Newchannel")
        try:
            # four long calls, one after the other: call load (alg 10) puts them
            # two and two
            for i in range(4):
                number = f"3460030030{i}"
                rtp = await RtpEndpoint.open(TRUNK_IP)
                call = caller(stack, QUEUE_DID, rtp, call_ms=14000, from_user=number)
                await call.start()
                held.append((number, call, rtp))
                assert await wait_until(lambda n=number: n in _arrivals(on_local) + _arrivals(
                    on_node), 5), f"call {number} did not arrive"
            on_local_held = [n for n, _, _ in held if n in _arrivals(on_local)]
            assert on_local_held and len(on_local_held) < 4, _arrivals(on_local)

            pid = fleet.pid()
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            back_at = asyncio.ensure_future(_when(lambda: fleet.up() and fleet.pid() != pid, 20))
            # new calls right away, 4 a second, while Kamailio still thinks media2 is up
            rtp = await RtpEndpoint.open(TRUNK_IP)
            stream = Sipp(caller_scenario(2000), stack.sip_target, local_ip=TRUNK_IP,
                          local_port=sip_port(TRUNK_IP), service=QUEUE_DID, calls=12, rate=4,
                          keys={"caller": "34600400400", "rtp_port": rtp.port}, timeout_s=40)
            await stream.start()
            down = await wait_until(lambda: (flags := fleet.flags().get(fleet.node_uri, "A"))
                                    and not flags.startswith("A") and flags, 10)
            detected = time.monotonic() - killed
            active_at = asyncio.ensure_future(
                _when(lambda: fleet.flags().get(fleet.node_uri) == "AP", 30))
            result = await stream.wait(60)
            rtp.close()
            figures.report(f"media nodes: {NODE} killed (SIGKILL) under traffic: Kamailio "
                           f"marked it down ({down}) {detected:.2f} s after the kill; 12 new "
                           f"calls at 4/s from the kill on: {result.successful} answered, "
                           f"{result.failed} failed")
            assert down, f"{NODE} still up at Kamailio 10 s after the kill: {fleet.flags()}"
            assert result.returncode == 0 and result.successful == 12, result.output[-2000:]

            # the calls on the stack's own Asterisk never noticed
            for number, call, _ in held:
                if number in on_local_held:
                    assert (await call.wait(30)).returncode == 0, number
        finally:
            for _, call, rtp in held:
                call.kill()
                rtp.close()

    # the supervisor brings it back, Kamailio's pings find it, it takes calls
    back, active = await back_at, await active_at
    assert back is not None and active is not None, (fleet.up(), fleet.flags())
    figures.report(f"media nodes: {NODE} restarted by the supervisor, listening "
                   f"{back - killed:.1f} s after the kill, in service at Kamailio again "
                   f"{active - killed:.1f} s after it")
    # the control plane reconnects to it and ends, once, the calls the kill took
    # (rows closed, agents freed); the calls on the other node were never judged
    assert await wait_until(lambda: fleet.ari_connected(NODE), 15)
    assert await wait_until(lambda: fleet.open_calls(NODE) == [], 15), fleet.open_calls(NODE)
    line = next(ln for ln in stack.aitcomms("status").stdout.splitlines()
                if ln.startswith(COMPONENT))
    assert re.search(r"\s1\s+\d\d:\d\d:\d\dZ signal 9 \(SIGKILL\)", line), line
    async with Ami(fleet.ports.ami, fleet.node_secret()) as node_ami:
        on_node = node_ami.record("Newchannel")
        result = await trunk_calls(stack, QUEUE_DID, calls=6, rate=4, call_ms=3000,
                                   from_user="34600500500", timeout_s=40)
        assert result.returncode == 0 and result.successful == 6, result.output[-2000:]
        assert _arrivals(on_node), f"{NODE} took none of 6 calls after it came back"


@pytest.mark.stack
async def test_drain_then_remove_the_second_node(fleet: Fleet) -> None:
    stack = fleet.stack
    assert await wait_until(lambda: fleet.flags().get(fleet.node_uri) == "AP", 10)
    local_ami, node_ami = fleet.amis()
    async with local_ami, node_ami:
        on_node = node_ami.record("Newchannel")
        # a call that lands on media2 (the stack's own drained for it)
        stack.aitcomms("node", "drain", "local")
        rtp_a = await RtpEndpoint.open(TRUNK_IP)
        # long enough for four CLI commands on a busy machine before it ends
        call_a = caller(stack, QUEUE_DID, rtp_a, call_ms=16000, from_user="34600600600")
        try:
            await call_a.start()
            assert await wait_until(lambda: "34600600600" in _arrivals(on_node), 5)
            stack.aitcomms("node", "drain", "local", "--undo")
            out = stack.aitcomms("node", "drain", NODE).stdout
            assert "draining" in out, out
            assert fleet.flags() == {fleet.local_uri: "AP", fleet.node_uri: "DX"}, fleet.flags()

            # Kamailio's call count for it restarted at 0 with the reloads of
            # the drains: the node's own channels tell
            assert Stack(stack.settings).channels(NODE), "call A is not up on media2"
            refused = stack.aitcomms("node", "remove", NODE, check=False)
            assert refused.returncode == 2 and f"{NODE} has 1 call(s) up" in refused.stderr, \
                refused.stdout + refused.stderr
            assert fleet.up()

            before = len(_arrivals(on_node))
            result = await trunk_calls(stack, QUEUE_DID, calls=6, rate=4, call_ms=2000,
                                       from_user="34600700700", timeout_s=40)
            assert result.returncode == 0 and result.successful == 6, result.output[-2000:]
            assert len(_arrivals(on_node)) == before, "a drained node got a new call"
            # the call already on it finishes normally (its BYE answered)
            assert (await call_a.wait(30)).returncode == 0
        finally:
            call_a.kill()
            rtp_a.close()

    assert await wait_until(lambda: not Stack(stack.settings).channels(NODE), 5)
    pid = fleet.pid()
    out = stack.aitcomms("node", "remove", NODE).stdout
    assert f"{COMPONENT} stopped" in out, out
    assert await wait_until(lambda: not Path(f"/proc/{pid}").exists()
                            or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2], 10)
    assert fleet.flags() == {fleet.local_uri: "AP"}
    status = stack.aitcomms("status").stdout
    assert COMPONENT not in status, status
    assert not port_open("tcp", fleet.ports.ami)
    assert not media_nodes.var_dir(stack.settings, NODE).exists()
    # and the supervisor does not bring it back
    assert not await wait_until(lambda: port_open("tcp", fleet.ports.ami), 3)


@pytest.mark.stack
def test_nodes_api_adds_and_removes_a_node_this_box_runs(fleet: Fleet) -> None:
    stack = fleet.stack
    for payload, field in (({"name": "media3", "local": "yes"}, "local"),
                           ({"name": "media3", "local": True, "host": "127.0.0.1"}, "host"),
                           ({"name": "media3", "local": True, "port": 5090}, "port")):
        got, answer = http(stack, "POST", "/api/v1/nodes", payload)
        assert (got, answer.get("field")) == (422, field), (payload, answer)
    got, answer = http(stack, "POST", "/api/v1/nodes", {"name": "media3", "local": True})
    assert got == 201, answer
    node = answer["node"]
    ports = node_ports(stack.settings.ports, node["slot"])  # 1 once media2 is removed
    assert (node["local"], node["uri"]) == (True, f"sip:127.0.0.1:{ports.asterisk_sip}"), node
    assert fleet.up("asterisk-media3")  # up before the answer
    _, listed = http(stack, "GET", "/api/v1/nodes")
    assert {n["name"]: n["local"] for n in listed["nodes"] if n["name"] != NODE} == {
        "local": False, "media3": True}
    assert http(stack, "DELETE", "/api/v1/nodes/media3")[0] == 204
    assert not fleet.up("asterisk-media3")
    # stopped before the answer: its ports are free for the next node
    assert not port_open("tcp", ports.ami), f"media3's AMI ({ports.ami}) still answers"
    assert "asterisk-media3" not in stack.aitcomms("status").stdout


# -- a node run elsewhere: on its own loopback address, driven over its ARI URL ----------

REMOTE = "remote1"
REMOTE_IP = "127.0.0.3"  # another "host": its SIP and ARI listen there, not on 127.0.0.1
LATE_AGENT = "1085"  # added once the remote node runs: its files follow the database
LATE_DID = "+34910000085"


async def _remote_ari(url: str, password: str, path: str, **params: str) -> Any:
    """GET on the remote node's own ARI (what it says, not the control plane)."""
    import aiohttp

    auth = {"Authorization": aiohttp.encode_basic_auth("aitcomms", password)}
    async with aiohttp.ClientSession(headers=auth) as s, \
            s.get(f"{url}/ari{path}", params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.mark.stack
async def test_a_node_run_elsewhere_is_driven_over_its_ari_url(fleet: Fleet) -> None:
    """``node add --host --ari-url`` and ``node files``: an Asterisk the box's
    supervisor does not run, in a folder of its own, listening on another
    address; the control plane finds it in the database, connects to its ARI
    there, routes its caller to an agent (the agent's leg from that node,
    through Kamailio), and fetches the call's recording over ARI (no spool
    folder shared), deleting it there."""
    stack = fleet.stack
    ports = node_ports(stack.settings.ports, 1)  # media2's, free again (removed above)
    ari_url = f"http://{REMOTE_IP}:{ports.ari}"
    rootfs = stack.settings.rootfs
    host_dir = stack.settings.asterisk_dir / "hosts" / REMOTE  # "its host's" folder

    # bad input: each refused with its field, nothing stored
    for args, field in ((["--host", REMOTE_IP, "--ari-url", "ftp://x:1"], "ari_url"),
                        (["--host", REMOTE_IP, "--ari-url", "http://x"], "ari_url"),
                        (["--local", "--ari-url", ari_url], "ari_url")):
        refused = stack.aitcomms("node", "add", REMOTE, *args, check=False)
        assert refused.returncode == 2 and f"{field}:" in refused.stderr, refused.stderr
    got, answer = http(stack, "POST", "/api/v1/nodes", {"name": REMOTE, "host": REMOTE_IP,
                                                          "ari_url": "http://x:1/ari?u=1"})
    assert (got, answer.get("field")) == (422, "ari_url"), answer
    refused = stack.aitcomms("node", "files", "local", "--out", str(host_dir), check=False)
    assert refused.returncode == 2 and "name:" in refused.stderr, refused.stderr

    out = stack.aitcomms("node", "add", REMOTE, "--host", REMOTE_IP, "--port",
                         str(ports.asterisk_sip), "--ari-url", ari_url).stdout
    assert f"drive it over ARI at {ari_url}" in out, out
    _, listed = http(stack, "GET", "/api/v1/nodes")
    row = next(n for n in listed["nodes"] if n["name"] == REMOTE)
    assert (row["ari_url"], row["local"]) == (ari_url, False), row
    assert "password" not in json.dumps(listed), "a node's password left the API"
    refused = stack.aitcomms("node", "files", REMOTE, "--out", "/tmp/elsewhere", "--root",
                             str(rootfs), check=False)
    assert refused.returncode == 2 and "out:" in refused.stderr, refused.stderr
    refused = stack.aitcomms("node", "files", REMOTE, "--out", "/etc/hostname/media",
                             check=False)  # (a folder that cannot be made)
    assert refused.returncode == 2 and "out: /etc/hostname/media: Not a directory" in \
        refused.stderr, refused.stderr
    out = stack.aitcomms("node", "files", REMOTE, "--out", str(host_dir), "--root", str(rootfs),
                         "--rtp", f"{ports.asterisk_rtp_min}-{ports.asterisk_rtp_max}").stdout
    etc = host_dir / "etc"
    http_conf, ari_conf = (etc / "http.conf").read_text(), (etc / "ari.conf").read_text()
    assert f"bindaddr = {REMOTE_IP}" in http_conf and f"bindport = {ports.ari}" in http_conf
    assert f"bind = {REMOTE_IP}:{ports.asterisk_sip}" in (etc / "pjsip.conf").read_text()
    assert (etc / "ari.conf").stat().st_mode & 0o777 == 0o600
    password = re.search(r"^password = (\S+)$", ari_conf, re.M)
    assert password and password.group(1) != stack.secret("ARI_PASSWORD"), ari_conf

    conf = "/" + str((etc / "asterisk.conf").relative_to(rootfs))
    assert conf in out, out
    secret = password.group(1)
    log = (host_dir / "log" / "asterisk.out").open("wb")
    node = await asyncio.create_subprocess_exec(
        "chroot", str(rootfs), "/usr/sbin/asterisk", "-f", "-n", "-C", conf,
        stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL)
    # its host keeps its files in step with the database, and reloads it over its ARI
    follow_log = host_dir / "log" / "follow.out"
    follower = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "control", "node", "files", REMOTE, "--out", str(host_dir),
        "--root", str(rootfs), "--rtp", f"{ports.asterisk_rtp_min}-{ports.asterisk_rtp_max}",
        "--follow", "--every", "0.5", env=stack.env, cwd=ROOT,
        stdout=(follow_out := follow_log.open("wb")), stderr=asyncio.subprocess.STDOUT)
    uri = f"sip:{REMOTE_IP}:{ports.asterisk_sip}"
    try:
        # Kamailio pings it at its address; the control plane connects to its ARI
        assert await wait_until(lambda: fleet.flags().get(uri) == "AP", 20), fleet.flags()
        assert await wait_until(lambda: fleet.ari_connected(REMOTE), 20), http(
            stack, "GET", "/api/v1/nodes")
        # an agent, a queue and a DID added now reach the running node
        add_agent(stack, LATE_AGENT, languages="es")
        stack.aitcomms("queue", "add", "remota", "--members", LATE_AGENT, "--wrapup", "1")
        stack.aitcomms("did", "add", LATE_DID, "--to", "queue:remota")
        for _ in range(60):
            endpoints = await _remote_ari(ari_url, secret, "/endpoints/PJSIP")
            if any(e["resource"] == f"agent-{LATE_AGENT}" for e in endpoints):
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError(f"agent-{LATE_AGENT} never reached the node: "
                                 f"{follow_log.read_text()}")

        stack.aitcomms("node", "drain", "local")  # the call can land on the remote only
        try:
            async with agent_phones(stack, LATE_AGENT) as phones:
                rtp = await RtpEndpoint.open(TRUNK_IP)
                call = caller(stack, LATE_DID, rtp, call_ms=7000, from_user="34600900900")
                try:
                    await call.start()
                    for _ in range(60):  # its own ARI says the caller and the agent meet there
                        names = {c["id"]: c["name"]
                                 for c in await _remote_ari(ari_url, secret, "/channels")}
                        both = [b["channels"] for b in await _remote_ari(ari_url, secret,
                                                                         "/bridges")
                                if sorted(names.get(c, "")[:12] for c in b["channels"]) == [
                                    "PJSIP/agent-", "PJSIP/edge-0"]]
                        if both:
                            break
                        await asyncio.sleep(0.25)
                    else:
                        raise AssertionError("no call bridged on the remote node")
                    mine = calls(stack)[-1]
                    assert (mine["media_node"], mine["agent_extension"], mine["state"]) == (
                        REMOTE, LATE_AGENT, "answered"), mine
                    # each party talks with its own tone, to where the node receives its RTP
                    for chan in both[0]:
                        name = names[chan]
                        src = (await _remote_ari(ari_url, secret, f"/channels/{chan}/variable",
                                                 variable="CHANNEL(rtp,src)"))["value"]
                        # its media sockets are bound to its own address (its SDP's)
                        where = (REMOTE_IP, int(src.rpartition(":")[2]))
                        if name.startswith(f"PJSIP/agent-{LATE_AGENT}-"):
                            phones[LATE_AGENT].rtp.send_tone(where, 440)
                        else:
                            rtp.send_tone(where, 1000)
                    await asyncio.sleep(2.0)  # a measurement: 2 s of both tones
                    assert (await call.wait(30)).returncode == 0
                    heard = phones[LATE_AGENT].rtp
                    assert heard.packets > 50 and rtp.packets > 50, (heard.packets, rtp.packets)
                    assert heard.energy(1000) > 10 * max(heard.energy(440), 1)
                    assert rtp.energy(440) > 10 * max(rtp.energy(1000), 1)
                    assert (await phones[LATE_AGENT].result(10)).returncode == 0
                finally:
                    call.kill()
                    rtp.close()
        finally:
            stack.aitcomms("node", "drain", "local", "--undo")

        done = await wait_until(
            lambda: (c := next(x for x in calls(stack) if x["id"] == mine["id"]))[
                "state"] == "completed" and Path(c["recording"] or "").is_absolute() and c, 15)
        assert done, next(x for x in calls(stack) if x["id"] == mine["id"])
        recording = Path(done["recording"])
        assert recording.parent == stack.settings.recordings_dir, recording
        with wave.open(str(recording)) as wav:
            assert wav.getnframes() > 2 * wav.getframerate(), "under two seconds of audio"
        # fetched, then deleted on the node
        assert not (host_dir / "spool" / "recording" / recording.name).exists()
    except BaseException:  # its follower goes with it (no node remove comes to stop it)
        follower.kill()
        await follower.wait()
        follow_out.close()
        raise
    finally:
        node.send_signal(signal.SIGKILL)
        await node.wait()
        log.close()
    assert await wait_until(lambda: fleet.flags().get(uri, "").startswith("I"), 10), \
        fleet.flags()
    try:
        out = stack.aitcomms("node", "remove", REMOTE).stdout
        assert f"media node {REMOTE} removed" in out, out
        # its follower stops, saying why
        assert await asyncio.wait_for(follower.wait(), 15) == 2, follow_log.read_text()
    finally:
        if follower.returncode is None:
            follower.kill()
            await follower.wait()
        follow_out.close()
    followed = follow_log.read_text()
    assert "reloaded pbx_config.so, res_pjsip.so" in followed, followed
    assert REMOTE in followed.splitlines()[-1], followed
    assert await wait_until(lambda: not any(
        n["name"] == REMOTE for n in http(stack, "GET", "/api/v1/nodes")[1]["nodes"]), 5)
