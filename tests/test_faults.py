"""Faults with live calls: 50 calls up, more waiting, then something breaks.

SIPp callers from the trunk (each a CRM customer with its own number) call a
queue of 50 agents whose phones (SIPp, one process per address, registered
through Kamailio) answer and talk: 50 calls are bridged with RTP flowing both
ways (Asterisk's own per-channel counters, sampled twice) and 5 more callers
wait with music. Then one fault, as it happens in the field:

1. ``kill -9`` of the control plane (its supervisor restarts it);
2. a Redis restart, with ``REDIS_URL`` set (a private ``redis-server``);
3. PostgreSQL stopped for 30 s, with ``DATABASE_URL`` set (a private cluster);
4. a Kamailio restart, with registrations kept in the database (usrloc);
5. an Asterisk restart (the calls on it are lost);
6. the recordings disk full (a 1 MB tmpfs as the stack's recordings folder).

Each test measures and prints a report, and asserts it: calls kept (still
bridged, same channels, after the fault), calls lost, rows lost (every call
must have exactly one row, closed, and one interaction afterwards: none
missing, none doubled), and the time to recover: from the fault until a new
call is put through to an agent by the control plane's router (a probe call
to a queue of its own, its caller channel in the Stasis app, not Asterisk's
fallback queue). At the end the agents hang up every call (the waiting
callers are then served too) and the rows are counted.

Two stacks, one after the other (a class each): the embedded defaults
(SQLite, usrloc in the database) for faults 1, 4, 5 and 6, and PostgreSQL +
Redis, both private to the test, for faults 2 and 3. The machine's shared
PostgreSQL and Redis are never touched. Faults that need root (the tmpfs)
or the PostgreSQL binaries are skipped, saying so, where those are missing.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from control.stack.components import port_open
from control.stack.manager import Stack
from tests.conftest import (
    _OFFSET,
    ROOT,
    SECOND_STACK_OFFSET,
    StackUnderTest,
    ports_at,
    running_stack,
)
from tests.harness import figures
from tests.harness.ami import Ami, AmiError
from tests.harness.rtp import RtpEndpoint
from tests.harness.sipp import scenario
from tests.harness.wait import wait_until
from tests.test_acd import _health, api, calls, rows
from tests.test_acd_resilience import events
from tests.test_calls import TRUNK_IP, caller

# minutes per fault: `make test-resilience`, not `make test` (see the Makefile)
pytestmark = pytest.mark.resilience

LOAD = 50  # calls bridged when the fault strikes
WAITING = 5  # callers waiting in the queue meanwhile
LOAD_DID, PROBE_DID = "+34910000081", "+34910000082"
LOAD_EXTS = [str(4001 + i) for i in range(LOAD)]
PROBE_EXT = "4099"
PASSWORD = "fault-pw-"
# the agents' phones: 10 per address, none of them a trunk (127.0.0.2) nor an
# address other tests play (flooders, strangers)
AGENT_HOSTS = [f"127.0.0.{21 + i}" for i in range(LOAD // 10)]
PROBE_HOST = "127.0.0.26"
CALLS_PER_FAULT = LOAD + WAITING
PROBES_PER_FAULT = 20
FAULTS = 6


def _agent_sip_port(stack: StackUnderTest) -> int:
    # below the ephemeral range, apart for every stack's port offset
    return 20000 + (stack.port("sip") - ports_at(0)["SIP"]) // 50


def caller_number(fault: int, i: int) -> str:
    """The i-th load caller of a fault (i >= CALLS_PER_FAULT: its probes)."""
    return f"346005{fault:02d}{i:03d}"


# -- the stack's people: agents, queues, DIDs, customers --------------------------

PROVISION = textwrap.dedent("""
    import json, sys
    from control.acd.agents import create_agent
    from control.acd.models import AgentStatus
    from control.acd.queues import create_queue, set_member
    from control.acd.store import AcdStore
    from control.auth.audit import Actor
    from control.crm.customers import create_customer
    from control.db import Database
    from control.ivr.flows import dialplans_dir, load_flows
    from control.provisioning.dialplan import apply_data_change
    from control.provisioning.trunks import create_did, create_trunk
    from control.settings import get_settings

    spec = json.loads(sys.argv[1])
    settings = get_settings()
    db = Database(settings)
    ivrs = load_flows(dialplans_dir(settings.root) / "ivr")
    with db.session() as s:
        create_trunk(s, name="carrier", host=spec["trunk"], port=5060)
        for ext in spec["load"] + [spec["probe"]]:
            create_agent(s, extension=ext, name=f"Agente {ext}",
                         password=spec["password"] + ext, realm=settings.sip_domain)
        for name, members, record in (("carga", spec["load"], spec["record"]),
                                      ("sonda", [spec["probe"]], False)):
            create_queue(s, name=name, wrapup_s=1, ring_timeout_s=10, max_misses=100,
                         max_wait_s=900, announce_every_s=0, record=record)
            for ext in members:
                set_member(s, name, ext)
        create_did(s, number=spec["load_did"], target="queue:carga", ivrs=ivrs)
        create_did(s, number=spec["probe_did"], target="queue:sonda", ivrs=ivrs)
        for number in spec["customers"]:
            create_customer(s, actor=Actor("test"), name=f"Cliente {number}",
                            phones=["+" + number], language="es")
    store = AcdStore(db)
    for ext in spec["load"] + [spec["probe"]]:
        store.set_agent_status(ext, AgentStatus.AVAILABLE, None, 0)
    apply_data_change(settings, db)
    db.dispose()
""")


def provision(stack: StackUnderTest) -> None:
    """Agents, the load and probe queues (not recorded: the disk-full test
    turns recording on), their DIDs, and every caller as a customer."""
    import json

    customers = [caller_number(f, i) for f in range(1, FAULTS + 1)
                 for i in range(CALLS_PER_FAULT + PROBES_PER_FAULT)]
    spec = {"trunk": TRUNK_IP, "load": LOAD_EXTS, "probe": PROBE_EXT, "password": PASSWORD,
            "record": False, "load_did": LOAD_DID, "probe_did": PROBE_DID,
            "customers": customers}
    proc = subprocess.run([sys.executable, "-c", PROVISION, json.dumps(spec)], env=stack.env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- the agents' phones ----------------------------------------------------------------


class Phones:
    """One SIPp per address answers for every agent registered from it."""

    def __init__(self, stack: StackUnderTest, work: Path) -> None:
        self.stack, self.work = stack, work
        self.port = _agent_sip_port(stack)
        self.rtp_port = self.port + 1000  # where Talkers listen, on each address
        self.procs: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def by_host() -> dict[str, list[str]]:
        hosts: dict[str, list[str]] = {h: [] for h in AGENT_HOSTS}
        for i, ext in enumerate(LOAD_EXTS):
            hosts[AGENT_HOSTS[i % len(AGENT_HOSTS)]].append(ext)
        return hosts | {PROBE_HOST: [PROBE_EXT]}

    def start(self) -> None:
        sf = scenario("fault_agent")
        for host in self.by_host():
            self.procs.append(subprocess.Popen(
                ["sipp", self.stack.sip_target, "-sf", str(sf), "-i", host, "-mi", host,
                 "-p", str(self.port), "-key", "rtp_port", str(self.rtp_port), "-nostdin",
                 # a message SIPp reads while the call waits to send (an ACK
                 # late behind a re-INVITE, SIPp itself overloaded) is passed
                 # over, not a reason to drop the call (its default)
                 "-default_behaviors", "all,-abortunexp",
                 "-trace_err", "-error_file", str(self.work / f"agent-{host}-errors.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        assert all(p.poll() is None for p in self.procs), \
            f"an agents' SIPp did not start (port {self.port} taken?)"

    def register(self) -> None:
        """Every agent registers (digest), paced under the flood guard: one
        SIPp per address, all at once."""
        sf = ROOT / "bench" / "sipp" / "register.xml"
        procs = []
        for host, exts in self.by_host().items():
            inf = self.work / f"register-{host}.csv"
            inf.write_text("SEQUENTIAL\n" + "".join(
                f"{e};[authentication username={e} password={PASSWORD}{e}];\n" for e in exts))
            procs.append((host, subprocess.Popen(
                ["sipp", self.stack.sip_target, "-sf", str(sf), "-inf", str(inf), "-i", host,
                 "-m", str(len(exts)), "-r", "2", "-l", "4", "-key", "contact_port",
                 str(self.port), "-key", "expires", "3600", "-nostdin", "-timeout", "60s"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
        for host, proc in procs:
            out, _ = proc.communicate(timeout=90)
            assert proc.returncode == 0, f"agents on {host} not registered:\n{out[-2000:]!r}"

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def registered(stack: StackUnderTest) -> set[str]:
    """The agents in Kamailio's location table."""
    out = stack.kamcmd("ul.dump", "brief")
    return {line.split("AoR:", 1)[1].strip().split("@")[0]
            for line in out.splitlines() if "AoR:" in line}


# -- the phones' media ------------------------------------------------------------------


TALK_ON_S = 30.0  # how long a phone's media goes on after it last heard the far end


class Talkers(asyncio.DatagramProtocol):
    """The media of every phone at one address (the SDP of each SIPp there
    names this port): whoever sends RTP here is answered with a stream of our
    own (PCMU, every 20 ms) until TALK_ON_S after it last sent, and what comes
    from each source (one Asterisk channel each) is counted. Asterisk counts
    what it receives on each channel: together, RTP both ways on every leg."""

    def __init__(self) -> None:
        self.received: dict[tuple[str, int], int] = {}
        self.heard_at: dict[tuple[str, int], float] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, host: str) -> Talkers:
        loop = asyncio.get_running_loop()
        _t, proto = await loop.create_datagram_endpoint(cls, local_addr=(host, 0))
        proto.start()
        return proto

    def start(self) -> None:
        self._task = asyncio.create_task(self._talk())

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) >= 12 and data[0] >> 6 == 2:
            self.received[addr] = self.received.get(addr, 0) + 1
            self.heard_at[addr] = time.monotonic()

    def sources_flowing(self) -> int:
        """Sources heard within the last second."""
        now = time.monotonic()
        return sum(1 for t in self.heard_at.values() if now - t < 1.0)

    async def _talk(self) -> None:
        seq = 0
        payload = b"\x7e" * 160  # a quiet PCMU murmur
        while True:
            now = time.monotonic()
            seq += 1
            header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF,
                                 0x46415554)
            for addr, at in list(self.heard_at.items()):
                # as a phone does, it keeps talking through a silence: with
                # 2 s here, a call whose far end paused (a loaded machine)
                # fell silent both ways for good
                if now - at < TALK_ON_S and self.transport is not None:
                    self.transport.sendto(header + payload, addr)
            await asyncio.sleep(0.02)

    def close(self) -> None:
        if self._task:
            self._task.cancel()
        if self.transport:
            self.transport.close()


# -- what Asterisk holds -------------------------------------------------------------


async def load_bridges(ami: Ami) -> dict[str, str]:
    """Caller channel -> agent channel, for every bridge of a load call."""
    found = {}
    for bridge in await ami.bridges():
        members = await ami.bridge_channels(bridge["BridgeUniqueid"])
        callers = [m for m in members if m.startswith("PJSIP/edge-")]
        agents = [m for m in members if m.startswith("PJSIP/agent-4")
                  and not m.startswith(f"PJSIP/agent-{PROBE_EXT}-")]
        if len(members) == 2 and callers and agents:
            found[callers[0]] = agents[0]
    return found


async def caller_channels(ami: Ami) -> dict[str, dict[str, Any]]:
    return {c["Channel"]: c for c in await ami.channels()
            if c["Channel"].startswith("PJSIP/edge-")}


def rtp_counters(stack: StackUnderTest) -> dict[str, int]:
    """The RTP packets Asterisk received, per channel (as its CLI names them).
    (Its sent counts stay at 0 on bridged legs: the phones count those.)"""
    out = Stack(stack.settings).asterisk_cli("pjsip show channelstats")
    counters = {}
    for line in out.splitlines():
        # [BridgeId] ChannelId UpTime Codec  Count Lost Pct Jitter  Count Lost Pct Jitter RTT
        #            (received .........................) (sent ...........................)
        parts = line.split()
        at = next((i for i, p in enumerate(parts[:2]) if p.startswith(("edge-", "agent-"))),
                  None)
        if at is not None and len(parts) > at + 7 and parts[at + 3].isdigit() \
                and parts[at + 7].isdigit():
            counters[parts[at]] = int(parts[at + 3])
    return counters


@dataclass
class Media:
    """The callers' media (on the trunk's address) and the agents' (one per address)."""

    callers: Talkers
    agents: list[Talkers]

    @classmethod
    async def open(cls, phones: Phones) -> Media:
        agents = []
        loop = asyncio.get_running_loop()
        for host in phones.by_host():
            _t, proto = await loop.create_datagram_endpoint(
                Talkers, local_addr=(host, phones.rtp_port))
            proto.start()
            agents.append(proto)
        return cls(await Talkers.open(TRUNK_IP), agents)

    def close(self) -> None:
        for t in (self.callers, *self.agents):
            t.close()


async def rtp_both_ways(stack: StackUnderTest, media: Media, channels: list[str],
                        ami: Ami | None = None) -> str:
    """What is wrong with RTP on these legs over the last second ('' if it
    moves both ways on each): Asterisk received on each leg, and each phone
    received from Asterisk (one source port per leg)."""
    before = rtp_counters(stack)
    await asyncio.sleep(1.0)
    after = rtp_counters(stack)

    def received(chan: str, counters: dict[str, int]) -> int | None:
        # the CLI cuts long channel names: match on what it shows
        name = chan.split("/", 1)[1]
        found = [v for k, v in counters.items() if name.startswith(k)]
        return found[0] if len(found) == 1 else None

    quiet, unlisted = [], []
    for chan in channels:
        b, a = received(chan, before), received(chan, after)
        if a is None or b is None:
            unlisted.append(chan)
        elif a <= b:
            quiet.append(f"{chan} {b}->{a}")
    if unlisted and ami is not None:
        # a leg the CLI's table left out (seen once with 105 channels up): its
        # own counter, through AMI, over another second
        async def rx(chan: str) -> str:
            try:
                return await ami.getvar(chan, "CHANNEL(rtcp,rxcount,audio)")
            except AmiError as err:  # the channel is gone: the call ended
                return str(err).rsplit("refused: ", 1)[-1]

        first = [await rx(chan) for chan in unlisted]
        await asyncio.sleep(1.0)
        for chan, b_rx in zip(unlisted, first, strict=True):
            a_rx = await rx(chan)
            if not (b_rx.isdigit() and a_rx.isdigit() and int(a_rx) > int(b_rx)):
                found: dict[str, str] = {}
                for what in ("rtp,src", "rtp,dest", "audionativeformat", "pjsip,call-id"):
                    try:
                        found[what] = await ami.getvar(chan, f"CHANNEL({what})")
                    except AmiError as err:
                        found[what] = str(err).rsplit("refused: ", 1)[-1]
                quiet.append(f"{chan} (not in the CLI's table; AMI {b_rx}->{a_rx}; {found})")
    elif unlisted:
        quiet += [f"{chan} None->None" for chan in unlisted]
    callers = sum(1 for c in channels if c.startswith("PJSIP/edge-"))
    heard = (media.callers.sources_flowing(), sum(t.sources_flowing() for t in media.agents))
    problems = []
    if quiet:
        problems.append(f"Asterisk received nothing on {len(quiet)} legs: {quiet[:4]}")
    if heard[0] < callers or heard[1] < len(channels) - callers:
        problems.append(f"phones hear {heard[0]} caller legs of {callers}, {heard[1]} agent "
                        f"legs of {len(channels) - callers}")
    return "; ".join(problems)


# -- the report ---------------------------------------------------------------------


@dataclass
class Report:
    fault: str
    bridged: int = 0
    waiting: int = 0
    kept: int = 0
    lost: int = 0
    waiting_kept: int = 0
    recover_s: float | None = None
    rows_expected: int = 0
    rows_lost: int = 0
    rows_doubled: int = 0
    rows_open: int = 0
    interactions_lost: int = 0
    interactions_doubled: int = 0
    fallback_served: int = 0  # probes put through by Asterisk's own queue meanwhile
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        rec = "-" if self.recover_s is None else f"{self.recover_s:.1f}"
        return (f"{self.fault:<26} {self.bridged:>4}+{self.waiting:<2} {self.kept:>5} "
                f"{self.lost:>5} {self.waiting_kept:>7} {rec:>9} {self.rows_expected:>5} "
                f"{self.rows_lost:>5} {self.rows_doubled:>5} {self.rows_open:>5} "
                f"{self.interactions_lost:>5} {self.fallback_served:>5}  "
                f"{'; '.join(self.notes)}")


HEADER = (f"{'fault':<26} {'up+wait':>7} {'kept':>5} {'lost':>5} {'w.kept':>7} "
          f"{'recover s':>9} {'rows':>5} {'lost':>5} {'dup':>5} {'open':>5} {'inter':>5} "
          f"{'fallb':>5}")
REPORTS: list[Report] = []


@pytest.fixture(scope="module", autouse=True)
def _print_reports() -> Iterator[None]:
    yield
    if REPORTS:
        figures.report(
            "\nfaults with live calls (kept/lost: of the calls bridged when it struck; "
            "w.kept: waiting callers served after it;\n recover: fault -> the next call "
            "put through by the router; rows: calls offered, then rows missing, "
            "doubled,\n left open, and interactions missing; fallb: new calls put through by "
            "Asterisk's own queue meanwhile)\n" + HEADER + "\n"
            + "\n".join(report.line() for report in REPORTS))


# -- one fault ---------------------------------------------------------------------------


@dataclass
class Rig:
    stack: StackUnderTest
    phones: Phones
    work: Path


async def _probe_once(rig: Rig, ami: Ami, number: str, timeout: float) -> str | None:
    """One new call to the probe queue: "router" if the control plane put it
    through (the caller's channel in the Stasis app), "fallback" if
    Asterisk's own queue did, None if it reached no agent."""
    rtp = await RtpEndpoint.open(TRUNK_IP)
    call = caller(rig.stack, PROBE_DID, rtp, call_ms=30000, from_user=number)
    try:
        await call.start()

        async def bridged() -> str | None:
            members = await ami.bridge_holding(f"PJSIP/agent-{PROBE_EXT}-", size=2)
            edge = next((m for m in members if m.startswith("PJSIP/edge-")), None)
            chan = (await caller_channels(ami)).get(edge or "")
            if chan is None:
                return None
            return "router" if chan.get("Application") == "Stasis" else "fallback"

        try:
            how = await ami.wait_for(bridged, timeout, every=0.2)
        except Exception:  # AMI itself away (Asterisk restarting)
            how = None
        if how:  # the agent hangs up; the caller sees the far end's BYE
            for chan in await ami.channels():
                if chan["Channel"].startswith(f"PJSIP/agent-{PROBE_EXT}-"):
                    await ami.manager.send_action({"Action": "Hangup",
                                                   "Channel": chan["Channel"]})
            if (await call.wait(15)).returncode != 0:
                how = None
        return how
    finally:
        call.kill()
        rtp.close()


async def recover(rig: Rig, fault: int, since: float, report: Report,
                  limit_s: float = 90) -> list[str]:
    """Probe calls one after the other until one is put through by the
    router (the time from ``since`` goes in the report, and how many were
    served by Asterisk's fallback queue meanwhile): the router's probes."""
    routed = []
    for i in range(PROBES_PER_FAULT):
        if time.monotonic() - since > limit_s:
            break
        number = caller_number(fault, CALLS_PER_FAULT + i)
        try:
            async with Ami(rig.stack.port("ami"), rig.stack.secret("AMI_PASSWORD")) as ami:
                how = await _probe_once(rig, ami, number, 8)
        except AssertionError:  # AMI not up yet
            how = None
            await asyncio.sleep(1)
        if how == "router":
            routed.append(number)
            report.recover_s = time.monotonic() - since
            break
        if how == "fallback":
            report.fallback_served += 1
    return routed


async def hang_up_everything(stack: StackUnderTest, ami: Ami, limit_s: float = 60) -> bool:
    """The agents hang up every call, until no caller is left (the waiting
    ones are put through to the agents freed, then hung up in turn)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        chans = await ami.channels()
        if not any(c["Channel"].startswith("PJSIP/edge-") for c in chans):
            return True
        for c in chans:
            if c["Channel"].startswith("PJSIP/agent-") and c.get("ChannelStateDesc") == "Up":
                await ami.manager.send_action({"Action": "Hangup", "Channel": c["Channel"]})
        await asyncio.sleep(1.0)
    return False


def _agents_not_on_call(stack: StackUnderTest) -> dict[str, str]:
    return {a["extension"]: a["status"] for a in api(stack, "/api/v1/agents")["agents"]
            if a["status"] != "on_call"}


def count_rows(stack: StackUnderTest, numbers: list[str], report: Report,
               earlier: set[str]) -> bool:
    """Fill the report's row figures; True once every row is closed. Rows in
    ``earlier`` (written before this fault began: a rerun's first try used the
    same numbers) are not counted."""
    found = [r for r in calls(stack) if r["id"] not in earlier]
    by_number: dict[str, list[dict[str, Any]]] = {n: [] for n in numbers}
    for row in found:
        for n in numbers:
            if row["caller_number"] and n in row["caller_number"]:
                by_number[n].append(row)
    ids = [r["id"] for rs in by_number.values() for r in rs]
    inter: dict[str, int] = {}
    if ids:
        quoted = ",".join(f"'{i}'" for i in ids)
        for r in rows(stack, f"SELECT call_id FROM interactions WHERE call_id IN ({quoted})"):
            inter[r["call_id"]] = inter.get(r["call_id"], 0) + 1
    report.rows_expected = len(numbers)
    report.rows_lost = sum(1 for rs in by_number.values() if not rs)
    report.rows_doubled = sum(len(rs) - 1 for rs in by_number.values() if len(rs) > 1)
    report.rows_open = sum(1 for rs in by_number.values() for r in rs
                           if r["ended_at"] is None
                           or r["state"] in ("queued", "ringing", "answered"))
    report.interactions_lost = sum(1 for i in ids if inter.get(i, 0) == 0)
    report.interactions_doubled = sum(v - 1 for v in inter.values() if v > 1)
    return not (report.rows_lost or report.rows_open or report.interactions_lost)


async def live_calls_fault(rig: Rig, fault: int, name: str,
                           strike: Callable[[], Awaitable[None]], *,
                           calls_survive: bool,
                           after: Callable[[Report], Awaitable[None]] | None = None,
                           over: Callable[[], Awaitable[None]] | None = None,
                           rows_within_s: float = 60) -> Report:
    """50 calls bridged and 5 waiting, then ``strike``; the time to recover;
    ``over`` (if given) waits for the fault to end (a database back after
    its outage); then the calls kept are counted, ``after`` checks what else
    the fault needs, the agents hang up, and the rows are counted: the
    report, asserted."""
    stack = rig.stack
    report = Report(name)
    earlier = {r["id"] for r in calls(stack)}
    lost_calls: list[str] = []
    media = await Media.open(rig.phones)
    numbers = [caller_number(fault, i) for i in range(CALLS_PER_FAULT)]
    inf = rig.work / f"callers-{fault}.csv"
    inf.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers))
    sf = scenario("fault_caller", call_ms=300000)
    callers = await asyncio.create_subprocess_exec(
        "sipp", stack.sip_target, "-sf", str(sf), "-inf", str(inf), "-i", TRUNK_IP,
        "-mi", TRUNK_IP, "-s", LOAD_DID, "-m", str(CALLS_PER_FAULT), "-r", "10", "-l",
        str(CALLS_PER_FAULT), "-key", "rtp_port", str(media.callers.port), "-nostdin",
        "-timeout", "400s", "-trace_stat", "-stf", str(rig.work / f"callers-{fault}-stat.csv"),
        "-fd", "1", "-trace_err", "-error_file", str(rig.work / f"callers-{fault}-errors.log"),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    ami_port, secret = stack.port("ami"), stack.secret("AMI_PASSWORD")
    watch = await HangupWatch.open(ami_port, secret)
    try:
        async with Ami(ami_port, secret) as ami:
            async def all_up() -> bool:
                return (len(await load_bridges(ami)) == LOAD
                        and len(await caller_channels(ami)) == CALLS_PER_FAULT)

            assert await ami.wait_for(all_up, 60, every=0.5), (
                f"{len(await load_bridges(ami))} calls bridged, "
                f"{len(await caller_channels(ami))} callers in Asterisk; agents not on a "
                f"call: {_agents_not_on_call(stack)}")
            bridges = await load_bridges(ami)
            numbers_of = {c: v.get("CallerIDNum", "") for c, v in
                          (await caller_channels(ami)).items()}
            waiting = set(await caller_channels(ami)) - set(bridges)
            report.bridged, report.waiting = len(bridges), len(waiting)
            legs = [*bridges, *bridges.values()]
            # a leg bridged a moment ago may not have its first packets yet:
            # each is given a few seconds, then every one must carry RTP
            for _ in range(5):
                stuck = await rtp_both_ways(stack, media, legs, ami)
                if not stuck:
                    break
            involved = " ".join(f"{c} {a}" for c, a in bridges.items()
                                if c.split("/")[-1] in stuck or a.split("/")[-1] in stuck)
            if stuck:
                became = await _what_became_of(
                    stack, ami, {c: a for c, a in bridges.items() if c in involved}, {},
                    numbers_of)
                raise AssertionError(f"RTP not flowing both ways: {stuck}; hangups before "
                                     f"the fault: {watch.about(involved)}; calls: {became}\n"
                                     + _sipp_errors(rig.work, fault))
        # "up" means the router has written them: each bridged call's row says
        # answered (a kill -9 within the call log's lag, before a call's row is
        # written, is a gap the note of stop 18 describes: reconcile would end
        # that call)
        def written() -> bool:
            answered = [r for r in calls(stack) if r["state"] == "answered"
                        and any(n in (r["caller_number"] or "") for n in numbers)]
            return len(answered) >= report.bridged

        assert await wait_until(written, 30), (
            f"the router never wrote the {report.bridged} bridged calls' rows as answered")
        print(f"\n{name}: {report.bridged} calls bridged with RTP both ways on all "
              f"{len(legs)} legs, {report.waiting} waiting")

        since = time.monotonic()
        await strike()
        probes = await recover(rig, fault, since, report)
        if over is not None:
            await over()

        async with Ami(ami_port, secret) as ami:
            now = await load_bridges(ami)
            report.kept = sum(1 for c, a in bridges.items() if now.get(c) == a)
            report.lost = report.bridged - report.kept
            if report.lost:
                lost_calls = await _what_became_of(
                    stack, ami, {c: a for c, a in bridges.items() if now.get(c) != a},
                    now, numbers_of)
            if report.kept:
                kept_legs = [c for c in bridges if now.get(c) == bridges[c]]
                kept_legs += [bridges[c] for c in kept_legs]
                for _ in range(3):  # (a loaded machine may pause a phone a moment)
                    stuck = await rtp_both_ways(stack, media, kept_legs, ami)
                    if not stuck:
                        break
                assert not stuck, f"RTP after the fault, on the calls kept: {stuck}"
            still_waiting = set(await caller_channels(ami)) & waiting
            if after is not None:
                await after(report)
            done = await hang_up_everything(stack, ami)
            assert done, "callers still in Asterisk 60 s after the agents hung up"
        report.waiting_kept = len(still_waiting)
    except BaseException:
        # nothing left behind for the next fault: every call ends
        Stack(stack.settings).asterisk_cli("channel request hangup all")
        raise
    finally:
        watch.close()
        media.close()
        if callers.returncode is None:
            try:
                await asyncio.wait_for(callers.wait(), 20)
            except TimeoutError:
                callers.kill()
                await callers.wait()

    numbers_expected = numbers + probes
    await wait_until(lambda: count_rows(stack, numbers_expected, report, earlier),
                     rows_within_s)
    count_rows(stack, numbers_expected, report, earlier)
    REPORTS.append(report)
    print(HEADER)
    print(report.line())  # each as it comes; the table at the end (figures.report)

    assert report.recover_s is not None, f"{name}: no call was put through after the fault"
    if calls_survive:
        assert report.kept == LOAD, (
            f"{name}: {report.lost} calls lost: {lost_calls}; hangups: "
            f"{watch.about(' '.join(lost_calls))}\n"
            + _sipp_errors(rig.work, fault))
    assert report.rows_lost == 0 and report.rows_doubled == 0, report
    assert report.rows_open == 0, f"{name}: rows left open (ghost calls): {report}"
    assert report.interactions_lost == 0 and report.interactions_doubled == 0, report
    return report


class HangupWatch:
    """Every hangup Asterisk reports while a fault runs, for a failure message:
    who asked for it (a SoftHangupRequest is an application's, the control
    plane's ARI or the test's AMI; a HangupRequest the far end's BYE), when,
    and the cause. Its own AMI connection, which reconnects after a restart."""

    def __init__(self, ami: Ami) -> None:
        self.ami, self.t0 = ami, time.monotonic()
        self.seen: list[tuple[float, str, str, str]] = []
        for name in ("Hangup", "HangupRequest", "SoftHangupRequest"):
            ami.manager.register_event(name, self._on)

    @classmethod
    async def open(cls, port: int, secret: str) -> HangupWatch:
        return cls(await Ami(port, secret).__aenter__())

    def _on(self, _manager: object, msg: Any) -> None:
        self.seen.append((time.monotonic() - self.t0, str(msg.get("Event")),
                          str(msg.get("Channel")), str(msg.get("Cause", ""))
                          + " " + str(msg.get("Cause-txt", ""))))

    def about(self, text: str) -> list[str]:
        """The events of the channels named in ``text``."""
        return [f"{t:.1f}s {event} {chan} cause {cause.strip()}"
                for t, event, chan, cause in self.seen if chan.split("/")[-1] in text]

    def close(self) -> None:
        self.ami.close()


async def _what_became_of(stack: StackUnderTest, ami: Ami, lost: dict[str, str],
                          now: dict[str, str], numbers_of: dict[str, str]) -> list[str]:
    """For a lost call's failure message: are its two legs still in Asterisk
    (in what state, bridged with whom), and what its row says."""
    chans = {c["Channel"]: c for c in await ami.channels()}

    def leg(name: str) -> str:
        c = chans.get(name)
        return "gone" if c is None else f"{c.get('ChannelStateDesc')} in {c.get('Application')}"

    found = []
    for caller_chan, agent_chan in list(lost.items())[:5]:
        number = numbers_of.get(caller_chan, "")
        row = next((r for r in calls(stack) if number and number in (r["caller_number"] or "")),
                   None)
        found.append(f"{caller_chan} ({number}: {leg(caller_chan)}, now with "
                     f"{now.get(caller_chan)}) and {agent_chan} ({leg(agent_chan)}); row "
                     + (f"{row['state']} agent {row['agent_extension']} ended {row['ended_at']}"
                        if row else "none"))
    return found


def _sipp_errors(work: Path, fault: int) -> str:
    """The phones' SIPp error logs, each entry's first line (why a phone
    ended or refused a call), the last 12 of each log."""
    out = []
    for log in sorted(work.glob("agent-*-errors.log")) + [work / f"callers-{fault}-errors.log"]:
        if log.exists() and log.stat().st_size:
            entries = [line[:300] for line in log.read_text(errors="replace").splitlines()
                       if re.match(r"\d{4}-\d\d-\d\d\t", line)]
            out.append(f"{log.name}:\n" + "\n".join(entries[-12:]))
    return "\n".join(out) or "(no SIPp errors logged)"


# -- the embedded stack: SQLite, usrloc in the database, a small recordings disk --------


def _offset() -> int:
    """The session's offset when this module runs alone, else beside the
    session stack; once the TCP ports of the stack that ran there before are
    out of TIME_WAIT (Kamailio will not bind its WS port before)."""
    offset = SECOND_STACK_OFFSET if port_open("udp", ports_at(_OFFSET)["SIP"]) else _OFFSET
    ports = {str(p) for k, p in ports_at(offset).items() if "RTP" not in k}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        out = subprocess.run(["ss", "-Htan"], capture_output=True, text=True).stdout
        local = {line.split()[3].rsplit(":", 1)[-1] for line in out.splitlines()
                 if len(line.split()) > 3}
        if not local & ports:
            break
        time.sleep(1)
    return offset


@contextmanager
def _small_disk(size: str = "16m") -> Iterator[Path | None]:
    """A tmpfs of ``size`` (None where mounting is not allowed)."""
    path = Path(tempfile.mkdtemp(prefix="aitcomms-recdisk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(path)], capture_output=True).returncode == 0
    try:
        yield path if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def rig_on(stack: StackUnderTest) -> Iterator[Rig]:
    work = Path(tempfile.mkdtemp(prefix="aitcomms-faults-"))
    provision(stack)
    phones = Phones(stack, work)
    try:
        phones.start()
        phones.register()
        missing = set(LOAD_EXTS + [PROBE_EXT]) - registered(stack)
        assert not missing, f"not in Kamailio's location table: {sorted(missing)}"
        yield Rig(stack, phones, work)
    finally:
        phones.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="class")
def embedded_stack() -> Iterator[tuple[StackUnderTest, Path | None]]:
    with _small_disk() as disk:
        extra = {"AITCOMMS_KAMAILIO_USRLOC_DB_MODE": "2"}
        if disk is not None:
            extra["AITCOMMS_RECORDINGS"] = str(disk)
        with running_stack(_offset(), **extra) as stack:
            yield stack, disk


def _kill(stack: StackUnderTest, name: str) -> int:
    pid = int((stack.var_dir / "run" / f"{name}.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    return pid


def _up(stack: StackUnderTest, name: str) -> bool:
    return Stack(stack.settings).component(name).status()[0]


class TestFaultsOnTheEmbeddedStack:
    """Faults 1, 4, 5, 6 on one stack (they leave it whole: each waits until
    the stack is healthy again before the next)."""

    @pytest.fixture(scope="class")
    def rig(self, embedded_stack: tuple[StackUnderTest, Path | None]) -> Iterator[Rig]:
        stack, _disk = embedded_stack
        with rig_on(stack) as rig:
            yield rig

    async def test_control_plane_killed(self, rig: Rig) -> None:
        stack = rig.stack

        async def strike() -> None:
            _kill(stack, "control")

        await live_calls_fault(rig, 1, "control plane kill -9", strike, calls_survive=True)
        assert await wait_until(lambda: _health(stack) == "ok", 20)

    async def test_kamailio_restarted_registrations_kept(self, rig: Rig) -> None:
        stack = rig.stack
        before = registered(stack)

        def stored() -> bool:  # written back within usrloc's timer (10 s)
            names = {r["username"] for r in rows(stack, "SELECT username FROM location")}
            return names >= set(LOAD_EXTS + [PROBE_EXT])

        assert await wait_until(stored, 30), "registrations are not in the database"

        async def strike() -> None:
            old = _kill(stack, "kamailio")
            assert await wait_until(lambda: not _up(stack, "kamailio"), 5)
            assert await wait_until(lambda: _up(stack, "kamailio"), 15), "Kamailio not back"
            assert int((stack.var_dir / "run" / "kamailio.pid").read_text()) != old

        async def after(report: Report) -> None:
            missing = set(LOAD_EXTS + [PROBE_EXT]) - registered(stack)
            report.notes.append(f"{len(before) - len(missing)}/{len(before)} registrations "
                                "kept")
            # (nobody registered since: the agents' SIPp only answer calls)
            assert not missing, f"registrations lost in the restart: {sorted(missing)}"

        await live_calls_fault(rig, 4, "Kamailio restart", strike, calls_survive=True,
                               after=after)

    async def test_asterisk_restarted_calls_lost_nothing_stuck(self, rig: Rig) -> None:
        stack = rig.stack

        async def strike() -> None:
            _kill(stack, "asterisk")
            assert await wait_until(lambda: not _up(stack, "asterisk"), 5)

        async def after(report: Report) -> None:
            # no ghost: the router holds no call, no agent is left on one
            live = await wait_until(lambda: not api(stack, "/api/v1/calls/live")["calls"], 15)
            assert live, api(stack, "/api/v1/calls/live")["calls"][:3]

            def stuck() -> list[str]:
                return [a["extension"] for a in api(stack, "/api/v1/agents")["agents"]
                        if a["status"] not in ("available", "wrap_up")]

            assert not await wait_until(lambda: not stuck(), 15) or not stuck(), stuck()
            report.notes.append("no ghost call, no agent stuck on a call")

        report = await live_calls_fault(rig, 5, "Asterisk restart", strike,
                                        calls_survive=False, after=after)
        assert report.lost == LOAD, "the calls on a restarted Asterisk cannot have survived"
        assert await wait_until(lambda: _health(stack) == "ok", 20)

    async def test_recordings_disk_full(
            self, rig: Rig, embedded_stack: tuple[StackUnderTest, Path | None]) -> None:
        stack, disk = embedded_stack
        if disk is None:
            pytest.skip("no tmpfs to fill: mounting one needs root")
        stack.aitcomms("queue", "update", "carga", "--record")
        earlier = {r["id"] for r in calls(stack)}  # (a rerun's first try: same numbers)
        filler = disk / "filler"
        alerts: list[str] = []
        try:
            async with events(stack) as ws:
                async def strike() -> None:
                    # the disk fills while 50 recorded calls are up
                    await asyncio.to_thread(_fill, filler)
                    alert = await ws.wait_for("recordings.disk_full", 15)
                    assert alert["data"]["path"] == str(disk), alert
                    # (in a thread: the phones' media runs on this event loop)
                    status = await asyncio.to_thread(stack.aitcomms, "status", check=False)
                    line = next(ln for ln in status.stderr.splitlines()
                                if ln.startswith("recordings:"))
                    assert "FULL" in line, line
                    alerts.append(line)

                async def after(report: Report) -> None:
                    report.notes.append("alert: recordings.disk_full + status FULL")

                report = await live_calls_fault(rig, 6, "recordings disk full", strike,
                                                calls_survive=True, after=after)
                # every recording was kept (in Asterisk's spool) and its row says where
                def filed() -> list[str]:
                    found = [r["recording"] for r in rows(
                        stack, "SELECT id, recording FROM calls WHERE queue = 'carga' "
                               "AND caller_number LIKE '%34600506%'")
                             if r["id"] not in earlier]
                    # filed: a path (on the recordings disk, or kept in the
                    # spool); until then the row holds the recording's bare name
                    done = [f for f in found if f and os.path.isabs(f)]
                    return done if len(done) == CALLS_PER_FAULT else []

                paths = await wait_until(filed, 30)
                assert paths, rows(stack, "SELECT id, recording FROM calls "
                                          "WHERE caller_number LIKE '%34600506%'")[:3]
                missing = _missing(paths)
                assert not missing, f"recordings lost: {missing[:3]}"
                report.notes.append(f"{len(paths)} recordings kept in the spool")
                filler.unlink()
                ok = await ws.wait_for("recordings.disk_ok", 15)
                assert ok["data"]["free_bytes"] > 0
        finally:
            filler.unlink(missing_ok=True)
            stack.aitcomms("queue", "update", "carga", "--no-record")
        assert alerts


def _missing(paths: list[str]) -> list[str]:
    return [p for p in paths if not Path(p).exists()]


def _fill(path: Path) -> None:
    """Write until the disk says it is full."""
    chunk = b"\0" * (1 << 20)
    with path.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError:
            pass


# -- PostgreSQL and Redis, private to the test ----------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True,
                          text=True, timeout=120)


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb in a temporary folder,
    on a test port): stopping it disturbs nobody else."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="aitcomms-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/aitcomms"

    def init(self) -> None:
        proc = _as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
                            "-U", "postgres", "--no-sync")
        assert proc.returncode == 0, proc.stderr
        self.start()
        proc = _as_postgres(str(PG_BIN / "createdb"), "-h", str(self.dir), "-p",
                            str(self.port), "aitcomms")
        assert proc.returncode == 0, proc.stderr

    def start(self) -> None:
        proc = _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                            str(self.dir / "log"), "-o",
                            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                            "-c fsync=off -c max_connections=200", "start")
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def stop(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of the test's own on a test port (no persistence: a
    restart comes back empty, as a cache node replaced would)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open("tcp", self.port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="class")
def pg_redis_stack() -> Iterator[tuple[StackUnderTest, PrivatePostgres, PrivateRedis]]:
    if not (PG_BIN / "initdb").exists() or shutil.which("redis-server") is None \
            or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL 15's initdb, redis-server or runuser missing")
    offset = _offset()
    base = 20500 + offset // 50  # apart from the agents' ports, per port offset
    pg, redis = PrivatePostgres(base), PrivateRedis(base + 1)
    pg.init()
    redis.start()
    try:
        with running_stack(offset, DATABASE_URL=pg.url, REDIS_URL=redis.url) as stack:
            yield stack, pg, redis
    finally:
        redis.stop()
        pg.remove()


class TestFaultsOnPostgresqlAndRedis:
    """Faults 2 and 3 on a stack on PostgreSQL and Redis (both private to it)."""

    @pytest.fixture(scope="class")
    def rig(self, pg_redis_stack: tuple[StackUnderTest, PrivatePostgres, PrivateRedis]
            ) -> Iterator[Rig]:
        with rig_on(pg_redis_stack[0]) as rig:
            yield rig

    async def test_redis_restarted(
            self, rig: Rig,
            pg_redis_stack: tuple[StackUnderTest, PrivatePostgres, PrivateRedis]) -> None:
        stack, _pg, redis = pg_redis_stack
        assert stack.settings.redis_url == redis.url
        async with events(stack) as ws:
            async def strike() -> None:
                redis.stop()
                assert await wait_until(lambda: not port_open("tcp", redis.port), 5)
                redis.start()

            async def after(report: Report) -> None:
                # the bus carries events again: the ones of calls ending now
                ws.messages.clear()

            report = await live_calls_fault(rig, 2, "Redis restart", strike,
                                            calls_survive=True, after=after)
            ended = await wait_until(lambda: len(ws.of("call.completed")) >= CALLS_PER_FAULT,
                                     15)
            report.notes.append(f"{len(ws.of('call.completed'))} call.completed on the "
                                "wallboard after the restart")
            assert ended, f"events lost after the restart: {len(ws.of('call.completed'))}"

    async def test_postgresql_stopped_30_s(
            self, rig: Rig,
            pg_redis_stack: tuple[StackUnderTest, PrivatePostgres, PrivateRedis]) -> None:
        stack, pg, _redis = pg_redis_stack
        assert stack.settings.database_url == pg.url
        restarted: list[asyncio.Task[None]] = []

        async def back_in_30_s() -> None:
            await asyncio.sleep(30)
            await asyncio.to_thread(pg.start)

        async def strike() -> None:
            await asyncio.to_thread(pg.stop)
            restarted.append(asyncio.create_task(back_in_30_s()))

        async def over() -> None:
            await restarted[0]

        async def after(report: Report) -> None:
            # Kamailio reads credentials from PostgreSQL again: a phone registers
            rc = await asyncio.to_thread(_register_once, rig, PROBE_EXT)
            assert rc == 0, "no registration after PostgreSQL came back"
            report.notes.append("down 30 s; a REGISTER after it passes")

        try:
            await live_calls_fault(rig, 3, "PostgreSQL stopped 30 s", strike,
                                   calls_survive=True, over=over, after=after,
                                   rows_within_s=90)
        finally:
            for task in restarted:
                if not task.done():
                    await task


def _register_once(rig: Rig, ext: str) -> int:
    inf = rig.work / f"register-again-{ext}.csv"
    inf.write_text(f"SEQUENTIAL\n{ext};[authentication username={ext} password="
                   f"{PASSWORD}{ext}];\n")
    return subprocess.run(
        ["sipp", rig.stack.sip_target, "-sf", str(ROOT / "bench" / "sipp" / "register.xml"),
         "-inf", str(inf), "-i", PROBE_HOST, "-m", "1", "-key", "contact_port",
         str(rig.phones.port), "-key", "expires", "3600", "-nostdin", "-timeout", "30s"],
        capture_output=True, timeout=60).returncode
