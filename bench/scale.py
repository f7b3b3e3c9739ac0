"""Scale-out benchmark (issue 11, must-show 6): one media node against two,
on this machine, in one run, with the same callers and agents.

One stack of its own (offset 3000, its own RTP ranges), one queue behind a
DID served by SIPp agents registered through Kamailio, SIPp callers from a
trunk address (bench/acd.py's parties and counting), and a second real
Asterisk, ``aitcomms node add media2 --local`` (run by the supervisor;
Kamailio's dispatcher, alg 10, spreads the trunk calls by call load). For
the 1-node figures media2 is drained (``aitcomms node drain``: Kamailio
sends it nothing; it idles and its process is not counted); for the 2-node
ones it is back in service. The two run back to back at each rate, so both
see about the same background load on a shared machine:

1. calls/s ceiling, 1 node vs 2: the offered load stepped (``--rates``, each
   ``--step-s``) as bench/acd.py does; a step passes with at most
   ``--max-fail-pct`` of its calls not carried and p99 routing latency under
   ``--max-p99-ms``; the ceiling is the last passing step's carried calls/s.
2. concurrent calls, 1 node vs 2: long calls (``--ramp-rate`` new ones a
   second, up to ``--max-concurrent``), each caller sending audio for the
   whole call (PCMU, 50 packets/s) to an agent who holds it until the ramp
   is over. A call fails when no agent answered it within ``--answer-s`` or
   it ended before its hold; the ramp stops (SIPp places no more calls) at
   the first. The figure is the most calls up at once (agent answered, not
   yet ended) before the first failed call was offered (or before its early
   end). CPU (share of one core) and peak memory per process over the ramp,
   sampled as bench/acd.py does (Kamailio: PSS of all its processes), and
   the SIPps' own CPU (they share the 2 cores).
3. failover of a media node (must-show 2): under ``--failover-rate`` calls/s
   (traffic A), ``kill -9`` media2's Asterisk; timed on this side (Kamailio's
   ``dispatcher.list`` over its ctl socket, polled every 50 ms; the
   supervisor's pid file and the node's SIP port): (a) kill -> Kamailio
   marks it inactive, (b) new calls from the mark on (traffic B, started at
   the mark) that were not carried, which should be 0, (c) kill -> the
   supervisor has it listening again, and -> Kamailio marks it active.
   Under traffic (a) is mostly the 1 s INVITE timer: the first call Kamailio
   sends to the dead node and gets no answer from marks it (``ds_mark_dst``);
   an idle node is found by its pings (docs/scale-out.md, 3.3).
   Traffic A's calls that were up on media2 at the kill die with it (its
   media is gone): they are counted apart, not as failures of the failover.
4. failover of the control plane (must-show 3): bench/takeover.py, after
   this stack is down, on a stack of its own on PostgreSQL and Redis at the
   same offset: ``kill -9`` of the control plane holding the routing lease
   with 10 callers waiting, timed to the lease taken, the survivor's ARI and
   every caller live on it (``--takeover-trials``; without PostgreSQL or
   Redis the row says so).

A call counts as carried, per node from that node's AMI, when an agent's
channel went Up and the talk ran its time from there (bench/acd.py's
``classify``), whatever routed it: the control plane (Stasis/ARI) drives the
stack's own Asterisk; on media2 today ``Stasis()`` finds no application and
the control plane drives every node this box runs (control/telephony/
fleet.py), so both nodes' calls go through the router. Which path carried the calls on each
node is printed (``QueueCallerJoin`` on that node's AMI: app_queue; none:
the control plane).

How it fails: the stack's ports taken (another run at offset 3000) stops it
before anything starts; a phase that cannot run (media2 not added, not back
after the kill) is reported as such and the other figures are still printed.
The machine is shared: the figures are for reading, nothing is asserted.

Usage: .venv/bin/python -m bench.scale [--quick] [--rates 10,20,40,50,60,70,80,100]
       [--step-s 8] [--max-concurrent 500] [--ramp-rate 25] [--failover-rate 4]
(about 6 minutes; --quick about 2).
The stack's folder (logs, SIPp files, every call's timestamps) is kept and
printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import logging
import math
import os
import resource
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench import takeover
from bench.acd import (
    CALLER_AUDIO_MS,
    DID,
    HEADER,
    PORTS,
    RING_MS,
    ROOT,
    TRUNK_IP,
    BenchStack,
    Call,
    CallProbe,
    Procs,
    Step,
    bench_stack,
    caller_pcap,
    ceiling,
    classify,
    cli,
    judge,
    row,
    scenario,
    start_agents,
    stop_agents,
)
from control.settings import Ports

OFFSET = 3000  # this benchmark's stack: every port of bench/acd.py's PORTS + 3000
NODE = "media2"
COMPONENT = f"asterisk-{NODE}"
# RTP: Asterisk's own and media2's (slot 1) ranges, in the ephemeral range as
# bench/acd.py's (54000-60999) but clear of it and of the tests' SIPp media
# (40000-45000); rtpengine (not on the trunk path) above the ephemeral range
ASTERISK_RTP = (45100, 48999)
NODE_RTP_MIN, NODE_RTP_SPAN = 49000, 4000
RTPENGINE_RTP = (61000, 61499)
# SIPp's own ports, clear of the tests' (29000-32699) and of bench/acd.py's
AGENT_PORT = 32750
CALLER_PORTS = (32760, 32762)  # two caller SIPps at once (failover: A, then B)
CALLER_MEDIA_PORTS = (61600, 61700)
CALLERS = {"load": "34600000000", "A": "34600000001", "B": "34600000002"}
CONFIGS = ("1 node", "2 nodes")
PROCS = ("asterisk", COMPONENT, "kamailio", "control", "rtpengine")
POLL_S = 0.05
# media2 takes slot 1: its SIP, AMI and ARI ports are the stack's + one step
# (control/stack/media_nodes.py's node_ports)
NODE_SHIFT = Ports.node_step


# -- pure: the peak held before the first failure -------------------------------------


@dataclass(frozen=True)
class Held:
    """One call of the concurrency ramp, in Asterisk's timestamps."""

    created: float  # the caller's channel
    up: float | None  # the agent's channel went Up
    end: float | None  # the first hang-up after that
    ok: bool  # held: answered in time, and the hold ran its time from the answer
    node: str = ""
    in_time: bool = True  # an agent answered it soon enough


def failed_at(c: Held) -> float:
    """When a failed call failed: its early end if an agent answered it in
    time, else when it was offered (everything up before it was held with no
    failure)."""
    if c.in_time and c.up is not None and c.end is not None:
        return c.end
    return c.created


def up_at(calls: Iterable[Held], t: float) -> int:
    """Carried calls up at ``t`` (answered at or before, not yet ended)."""
    return sum(1 for c in calls if c.ok and c.up is not None and c.up <= t
               and (c.end is None or c.end > t))


def peak_held(calls: Iterable[Held]) -> tuple[int, float | None, float | None]:
    """The most carried calls up at once before the first failure, when that
    peak was first reached, and when the first failure was (None: none)."""
    calls = list(calls)
    first_fail = min((failed_at(c) for c in calls if not c.ok), default=None)
    events: list[tuple[float, int]] = []
    for c in calls:
        if c.ok and c.up is not None:
            events.append((c.up, 1))
            if c.end is not None:
                events.append((c.end, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    held = peak = 0
    peak_t: float | None = None
    for t, delta in events:
        if first_fail is not None and t >= first_fail:
            break
        held += delta
        if held > peak:
            peak, peak_t = held, t
    return peak, peak_t, first_fail


# -- the nodes: AMI probes, Kamailio's view, processes ------------------------------


@dataclass
class Node:
    name: str  # "local" (the stack's own Asterisk) or NODE
    uri: str  # as Kamailio's dispatcher lists it
    ami_port: int
    secret: str
    probe: CallProbe
    # calls of probes this node had before (media2's after its kill)
    earlier: list[Call] = field(default_factory=list)

    def calls(self, caller: str | None = None) -> list[Call]:
        found = self.earlier + list(self.probe.calls.values())
        return [c for c in found if caller is None or c.caller == caller]


def secret_of(path: Path) -> str:
    return next(line.split("=", 1)[1] for line in path.read_text().splitlines()
                if line.startswith("AMI_PASSWORD="))


async def connect_probe(port: int, secret: str, within_s: float = 15) -> CallProbe:
    """An AMI probe, retried while the Asterisk behind it starts."""
    deadline = time.monotonic() + within_s
    while True:
        probe = CallProbe(port, secret)
        try:
            async with asyncio.timeout(5):
                await probe.connect()
            return probe
        except (OSError, TimeoutError) as exc:
            probe.close()
            if time.monotonic() > deadline:
                raise SystemExit(f"AMI at {port} not answering: {exc}") from exc
            await asyncio.sleep(0.2)


async def dispatcher(ctl: int) -> dict[str, str]:
    """Kamailio's flags per node URI (AP active, IP inactive, DX drained)."""
    from control.provisioning.nodes import parse_dispatcher_list

    proc = await asyncio.create_subprocess_exec(
        "kamcmd", "-s", f"tcp:127.0.0.1:{ctl}", "dispatcher.list",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return {uri: n.flags for uri, n in parse_dispatcher_list(out.decode()).items()}


async def when(predicate: Callable[[], Awaitable[bool]], within_s: float) -> float | None:
    """The monotonic time ``predicate`` first held (polled), or None."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await predicate():
            return time.monotonic()
        await asyncio.sleep(POLL_S)
    return None


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class Fleet:
    """The stack and its nodes as the benchmark sees them."""

    def __init__(self, bench: BenchStack) -> None:
        self.bench = bench
        self.ctl = PORTS["KAMAILIO_CTL"] + OFFSET
        self.nodes = [Node("local", f"sip:127.0.0.1:{PORTS['ASTERISK_SIP'] + OFFSET}",
                           PORTS["AMI"] + OFFSET, secret_of(bench.var_dir / "secrets.env"),
                           bench.probe)]
        # the processes counted: media2's only while it takes calls
        self.procs = Procs(bench.var_dir, ("asterisk", "rtpengine", "control"))
        self.serving = 1  # nodes taking new calls
        # per node, the calls an agent answered by the path that routed them,
        # over the whole run (counted at each reset)
        self.paths: dict[str, dict[str, int]] = {}

    @property
    def probes(self) -> list[CallProbe]:
        return [n.probe for n in self.nodes]

    def count_paths(self) -> None:
        """Adds the calls seen since the last reset to ``paths``."""
        for n in self.nodes:
            by = self.paths.setdefault(n.name, {"router": 0, "app_queue": 0})
            for c in n.calls():
                if c.agent_up is not None:
                    by["app_queue" if c.app_queue else "router"] += 1

    def reset(self) -> None:
        self.count_paths()
        for n in self.nodes:
            n.probe.reset()
            n.earlier = []

    async def drained(self, within_s: float) -> bool:
        return all(await asyncio.gather(*(p.drained(within_s) for p in self.probes)))

    def all_calls(self) -> list[Call]:
        return [c for n in self.nodes for c in n.calls()]

    async def add_node(self) -> Node:
        """media2, started by the supervisor and taken in by Kamailio."""
        out = cli(self.bench.env, "node", "add", NODE, "--local")
        if f"{COMPONENT} is up" not in out:
            raise SystemExit(f"node add: {out}")
        ami, secret = PORTS["AMI"] + OFFSET + NODE_SHIFT, secret_of(
            self.bench.var_dir / "nodes" / NODE / "secrets.env")
        node = Node(NODE, f"sip:127.0.0.1:{PORTS['ASTERISK_SIP'] + OFFSET + NODE_SHIFT}",
                    ami, secret, await connect_probe(ami, secret))
        self.nodes.append(node)
        if await when(self.all_active, 20) is None:
            raise SystemExit(f"Kamailio does not take {NODE} in: {await dispatcher(self.ctl)}")
        self.serving = 2
        self.procs = Procs(self.bench.var_dir, ("asterisk", COMPONENT, "rtpengine", "control"))
        return node

    async def use(self, config: str) -> None:
        """1 node: media2 drained (Kamailio sends it nothing, it idles and
        is not counted); 2 nodes: both in service."""
        serving = CONFIGS.index(config) + 1
        if serving == self.serving or len(self.nodes) < 2:
            return
        media2 = self.nodes[1]
        cli(self.bench.env, "node", "drain", NODE, *(["--undo"] if serving == 2 else []))

        async def settled() -> bool:
            flags = await dispatcher(self.ctl)
            wanted = "A" if serving == 2 else "D"
            return (flags.get(self.nodes[0].uri, "").startswith("A")
                    and flags.get(media2.uri, "").startswith(wanted))

        if await when(settled, 20) is None:
            raise SystemExit(f"Kamailio's list did not follow the drain: "
                             f"{await dispatcher(self.ctl)}")
        names = ("asterisk", COMPONENT) if serving == 2 else ("asterisk",)
        self.procs = Procs(self.bench.var_dir, (*names, "rtpengine", "control"))
        self.serving = serving

    async def all_active(self) -> bool:
        flags = await dispatcher(self.ctl)
        return all(flags.get(n.uri, "").startswith("A") for n in self.nodes)


def carried(c: Call, talk_s: float) -> bool:
    """bench/acd.py's test: the agent answered and the talk ran its time."""
    ends = [t for t in (c.agent_hangup, c.caller_hangup) if t is not None]
    return c.agent_up is not None and bool(ends) and min(ends) - c.agent_up >= talk_s - 0.1


# -- SIPp callers ----------------------------------------------------------------------


async def callers(bench: BenchStack, sf: str, *, calls: int, rate: float, caller: str,
                  stat: Path, which: int = 0) -> asyncio.subprocess.Process:
    """A SIPp placing ``calls`` calls at ``rate`` from the trunk (started,
    not awaited: SIGUSR1 stops it placing more)."""
    return await asyncio.create_subprocess_exec(
        "sipp", bench.target, "-sf", sf, "-i", TRUNK_IP, "-mi", TRUNK_IP,
        "-p", str(CALLER_PORTS[which]), "-mp", str(CALLER_MEDIA_PORTS[which]), "-s", DID,
        "-m", str(calls), "-r", f"{rate:g}", "-rp", "1000",
        "-l", str(calls),  # no throttling by SIPp: the offered load is ours
        "-key", "caller", caller, "-key", "rtp_port", "7078", "-nostdin",
        "-timeout", f"{int(calls / rate + 180)}s", "-trace_stat", "-stf", str(stat),
        "-fd", "3600", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)


def placed(stat: Path) -> int:
    """Calls SIPp placed, from its statistics file."""
    try:
        rows = list(csv.DictReader(stat.read_text().splitlines(), delimiter=";"))
    except OSError:
        return 0
    return int(rows[-1]["OutgoingCall(C)"]) if rows else 0


def caller_sf(work: Path, *, call_ms: int, audio_ms: int) -> str:
    pcap = work / f"caller-voice-{audio_ms}.pcap"
    if not pcap.exists():
        caller_pcap(pcap, audio_ms)
    return scenario(ROOT / "bench" / "sipp" / "caller.xml", work, call_ms=call_ms,
                    audio_ms=audio_ms, pcap=pcap)


async def set_talk(bench: BenchStack, talk_ms: int) -> None:
    """The agents' phones again, with another talk time."""
    await stop_agents(bench.agent_sipps)
    bench.agent_sipps[:] = await start_agents(bench.target, bench.by_host, bench.work, talk_ms,
                                              AGENT_PORT)


# -- 1. the ceiling --------------------------------------------------------------------


@dataclass
class FleetStep:
    step: Step  # all nodes together
    per_node: dict[str, Step]


async def run_step(fleet: Fleet, config: str, rate: float,
                   args: argparse.Namespace) -> FleetStep:
    bench = fleet.bench
    calls = max(1, round(rate * args.step_s))
    step = Step(router=config, rate=rate, offered=calls)
    sf = caller_sf(bench.work, call_ms=int(1000 * args.patience_s) + args.talk_ms,
                   audio_ms=CALLER_AUDIO_MS)
    key = f"{config.replace(' ', '')}-{rate:g}"
    stat = bench.work / f"sipp-callers-{key}.csv"
    fleet.reset()
    fleet.procs.discover()
    fleet.procs.start_sampling()
    cpu0 = fleet.procs.cpu_s()
    sipp = await callers(bench, sf, calls=calls, rate=rate, caller=CALLERS["load"], stat=stat)
    await sipp.wait()
    drained = await fleet.drained(30)
    step.leftover_channels = sum(len(p.live) for p in fleet.probes)
    step.cpu_s = Procs.cpu_used(cpu0, fleet.procs.cpu_s())
    step.peak_kb = await fleet.procs.stop_sampling()
    if (made := placed(stat)) != calls:
        print(f"    (SIPp placed {made} of {calls} calls)")
    dump = {n.name: {k: vars(c) for k, c in n.probe.calls.items()} for n in fleet.nodes}
    (bench.work / f"calls-{key}.json").write_text(json.dumps(dump, indent=1))
    classify(step, fleet.all_calls(), args.patience_s, args.talk_ms / 1000, app_queue=False)
    step.verdict = judge(step, args.max_fail_pct, args.max_p99_ms)
    per_node = {}
    for n in fleet.nodes[:fleet.serving]:
        s = Step(router=n.name, rate=rate, offered=len(n.calls()))
        classify(s, n.calls(), args.patience_s, args.talk_ms / 1000, app_queue=False)
        per_node[n.name] = s
    if not drained:
        for p in fleet.probes:
            p.live.clear()
            p.idle.set()
    return FleetStep(step, per_node)


def per_node_text(fs: FleetStep) -> str:
    return ", ".join(f"{name} {s.carried}" + (f"/{s.offered}" if s.carried != s.offered else "")
                     for name, s in fs.per_node.items())


async def ceiling_steps(fleet: Fleet, configs: tuple[str, ...], args: argparse.Namespace
                        ) -> dict[str, list[FleetStep]]:
    """Each rate for each config in turn (same minute, same background load),
    a config's stepping stopped at its first failing step."""
    steps: dict[str, list[FleetStep]] = {c: [] for c in configs}
    for rate in args.rates:
        for config in configs:
            if steps[config] and not steps[config][-1].step.passed:
                continue
            await fleet.use(config)
            print(f"  {config}: offering {rate:g} calls/s for {args.step_s:g} s ...",
                  flush=True)
            fs = await run_step(fleet, config, rate, args)
            print(f"    {row(fs.step)}  [{per_node_text(fs)}]", flush=True)
            steps[config].append(fs)
    return steps


# -- 2. concurrent calls ---------------------------------------------------------------


@dataclass
class Ramp:
    config: str
    offered: int = 0
    carried: int = 0
    failed: int = 0
    peak: int = 0
    peak_per_node: dict[str, int] = field(default_factory=dict)
    first_failure_s: float | None = None  # from the first call
    first_failure: str = ""  # which call, on which node, and how
    stopped_by: str = ""
    cpu_share: dict[str, float] = field(default_factory=dict)  # of one core, over the ramp
    peak_kb: dict[str, int] = field(default_factory=dict)
    hold_s: float = 0.0
    wall_s: float = 0.0


def children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended (SIPp's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def hold_calls(fleet: Fleet, hold_s: float, answer_s: float) -> list[tuple[Held, Call]]:
    """The ramp's calls; held: an agent answered within ``answer_s`` and the
    call lasted its hold from there."""
    out = []
    for n in fleet.nodes:
        for c in n.calls(CALLERS["load"]):
            ends = [t for t in (c.agent_hangup, c.caller_hangup) if t is not None]
            in_time = c.agent_up is not None and c.agent_up - c.created <= answer_s
            out.append((Held(c.created, c.agent_up, min(ends) if ends else None,
                             in_time and carried(c, hold_s), n.name, in_time), c))
    return out


def how_it_failed(h: Held, c: Call, hold_s: float) -> str:
    path = "app_queue" if c.app_queue else "router"
    rung = ("no agent rung" if c.routed is None
            else f"first agent rung after {c.routed - c.created:.1f} s")
    if h.up is None:
        return f"{h.node} ({path}): no agent answered, {rung}"
    if not h.in_time:
        return f"{h.node} ({path}): agent answered after {h.up - h.created:.1f} s, {rung}"
    held = (h.end - h.up) if h.end is not None else 0.0
    return f"{h.node} ({path}): ended after {held:.1f} s of its {hold_s:.0f} s hold"


async def ramp(fleet: Fleet, config: str, args: argparse.Namespace) -> Ramp:
    """Long calls, ``ramp_rate`` new ones a second up to ``max_concurrent``,
    stopped at the first failure."""
    bench = fleet.bench
    cap, rate = args.max_concurrent, args.ramp_rate
    hold_s = cap / rate + args.hold_margin_s
    result = Ramp(config, hold_s=hold_s)
    await fleet.use(config)
    await set_talk(bench, int(hold_s * 1000))
    sipp_cpu0 = children_cpu_s()
    sf = caller_sf(bench.work, call_ms=int(1000 * (args.patience_s + hold_s)),
                   audio_ms=int(1000 * (hold_s + RING_MS / 1000 + 1)))
    stat = bench.work / f"sipp-ramp-{config.replace(' ', '')}.csv"
    fleet.reset()
    fleet.procs.discover()
    fleet.procs.start_sampling()
    cpu0, t0 = fleet.procs.cpu_s(), time.monotonic()
    sipp = await callers(bench, sf, calls=cap, rate=rate, caller=CALLERS["load"], stat=stat)
    print(f"  {config}: up to {cap} calls at {rate:g}/s, each held {hold_s:.0f} s ...",
          flush=True)
    while sipp.returncode is None:
        now = time.time()
        for c in fleet.all_calls():
            late = (c.agent_up if c.agent_up is not None else now) - c.created > args.answer_s
            ends = [t for t in (c.agent_hangup, c.caller_hangup) if t is not None]
            early = (c.agent_up is not None and bool(ends)
                     and min(ends) - c.agent_up < hold_s - 0.1)
            if (late or early) and not result.stopped_by:
                result.stopped_by = ("a call waited over "
                                     f"{args.answer_s:g} s for an agent" if late
                                     else "a call ended before its hold")
                sipp.send_signal(signal.SIGUSR1)  # no new calls; the placed ones go on
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await sipp.wait()
    await fleet.drained(30)
    result.wall_s = time.monotonic() - t0
    used = Procs.cpu_used(cpu0, fleet.procs.cpu_s())
    result.cpu_share = {k: v / result.wall_s for k, v in used.items()}
    result.peak_kb = await fleet.procs.stop_sampling()
    await set_talk(bench, args.talk_ms)
    # the callers' SIPp and the agents' (stopped and waited for by set_talk)
    result.cpu_share["SIPp"] = (children_cpu_s() - sipp_cpu0) / result.wall_s
    pairs = hold_calls(fleet, hold_s, args.answer_s)
    calls = [h for h, _ in pairs]
    dump = {n.name: {k: vars(c) for k, c in n.probe.calls.items()} for n in fleet.nodes}
    (bench.work / f"calls-ramp-{config.replace(' ', '')}.json").write_text(
        json.dumps(dump, indent=1))
    result.offered = max(placed(stat), len(calls))
    result.carried = sum(1 for c in calls if c.ok)
    result.failed = result.offered - result.carried
    result.peak, at, fail = peak_held(calls)
    if at is not None:
        result.peak_per_node = {n.name: up_at([c for c in calls if c.node == n.name], at)
                                for n in fleet.nodes[:fleet.serving]}
    if fail is not None and calls:
        result.first_failure_s = fail - min(c.created for c in calls)
        h, c = min(((h, c) for h, c in pairs if not h.ok), key=lambda hc: failed_at(hc[0]))
        result.first_failure = how_it_failed(h, c, hold_s)
    if not result.stopped_by:
        result.stopped_by = f"the cap ({cap} calls)"
    return result


# -- 3. kill -9 of media2 --------------------------------------------------------------


@dataclass
class Failover:
    mark_s: float | None = None  # kill -> Kamailio marks it inactive
    flags_at_mark: str = ""
    listening_s: float | None = None  # kill -> restarted, SIP port bound
    active_s: float | None = None  # kill -> Kamailio marks it active again
    a_offered: int = 0
    a_carried: int = 0
    a_lost_on_node: int = 0  # up on media2 at the kill
    a_failed_other: int = 0
    b_offered: int = 0
    b_carried: int = 0
    b_failed: int = 0
    b_on_node_after: int = 0  # B's calls media2 took once back
    note: str = ""


async def failover(fleet: Fleet, node: Node, args: argparse.Namespace) -> Failover:
    bench, out = fleet.bench, Failover()
    rate = args.failover_rate
    await fleet.use(CONFIGS[1])
    if await when(fleet.all_active, 10) is None:
        out.note = f"not both nodes active before the kill: {await dispatcher(fleet.ctl)}"
        return out
    fleet.reset()
    sf = caller_sf(bench.work, call_ms=int(1000 * args.patience_s) + args.talk_ms,
                   audio_ms=CALLER_AUDIO_MS)
    stats = (bench.work / "sipp-failover-A.csv", bench.work / "sipp-failover-B.csv")
    a = await callers(bench, sf, calls=int(rate * 120), rate=rate, caller=CALLERS["A"],
                      stat=stats[0], which=0)
    await asyncio.sleep(args.pre_kill_s)
    pid_file = bench.var_dir / "run" / f"{COMPONENT}.pid"
    pid = read_pid(pid_file)
    if pid is None:
        a.kill()
        await a.wait()
        out.note = f"no pid in {pid_file}"
        return out
    node.probe.manager.reconnect_timeout = 3600  # a probe of its own once it is back
    killed_wall, killed = time.time(), time.monotonic()
    os.kill(pid, signal.SIGKILL)
    node.probe.close()

    async def marked() -> bool:
        flags = (await dispatcher(fleet.ctl)).get(node.uri, "")
        out.flags_at_mark = flags
        return bool(flags) and not flags.startswith("A")

    async def listening() -> bool:
        from control.stack.components import port_open

        now = read_pid(pid_file)
        return now is not None and now != pid and port_open(
            "udp", PORTS["ASTERISK_SIP"] + OFFSET + NODE_SHIFT)

    async def active() -> bool:
        return (await dispatcher(fleet.ctl)).get(node.uri, "") == "AP"

    async def reattach() -> None:
        from control.stack.components import port_open

        async def ami_open() -> bool:
            now = read_pid(pid_file)
            return now is not None and now != pid and port_open("tcp", node.ami_port)

        if await when(ami_open, 60) is not None:
            node.earlier = list(node.probe.calls.values())
            node.probe = await connect_probe(node.ami_port, node.secret)

    back = asyncio.create_task(when(listening, 60))
    again = asyncio.create_task(reattach())
    mark = await when(marked, 30)
    b: asyncio.subprocess.Process | None = None
    if mark is None:
        out.note = f"Kamailio did not mark {NODE} inactive within 30 s"
    else:
        out.mark_s = mark - killed
        a.send_signal(signal.SIGUSR1)  # A stops placing calls: from here on, B's are new
        b = await callers(bench, sf, calls=int(rate * args.after_mark_s), rate=rate,
                          caller=CALLERS["B"], stat=stats[1], which=1)
    listening_at = await back
    out.listening_s = None if listening_at is None else listening_at - killed
    active_at = await when(active, 60)
    out.active_s = None if active_at is None else active_at - killed
    await again
    if b is not None:
        await b.wait()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.patience_s + args.talk_ms / 1000 + 30):
            await a.wait()
    if a.returncode is None:
        a.kill()
        await a.wait()
    await fleet.drained(30)
    talk_s = args.talk_ms / 1000
    a_calls = [(n.name, c) for n in fleet.nodes for c in n.calls(CALLERS["A"])]
    out.a_offered = max(placed(stats[0]), len(a_calls))
    out.a_carried = sum(1 for _, c in a_calls if carried(c, talk_s))
    # up on media2 when it died: created there before the kill, not ended by then
    out.a_lost_on_node = sum(1 for name, c in a_calls if name == NODE and not carried(c, talk_s)
                             and c.created < killed_wall)
    out.a_failed_other = out.a_offered - out.a_carried - out.a_lost_on_node
    if b is not None:
        b_calls = [(n.name, c) for n in fleet.nodes for c in n.calls(CALLERS["B"])]
        out.b_offered = max(placed(stats[1]), len(b_calls))
        out.b_carried = sum(1 for _, c in b_calls if carried(c, talk_s))
        out.b_failed = out.b_offered - out.b_carried
        out.b_on_node_after = sum(1 for name, c in b_calls if name == NODE and carried(c, talk_s))
    dump = {n.name: {k: vars(c) for k, c in n.probe.calls.items()} for n in fleet.nodes}
    (bench.work / "calls-failover.json").write_text(json.dumps(dump, indent=1))
    return out


# -- the report ------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _mb(kb: int) -> str:
    return f"{kb / 1024:.0f} MB"


def report(args: argparse.Namespace, steps: dict[str, list[FleetStep]],
           ramps: dict[str, Ramp], fo: Failover | None, paths: dict[str, dict[str, int]],
           notes: list[str]) -> None:
    print(f"\nScale-out benchmark (issue 11, must-show 6): 1 media node vs 2, {os.cpu_count()} "
          f"cores; load average {args.loads[0]:.1f} at the start, {args.loads[-1]:.1f} after "
          "the ceiling steps (the machine is shared;\n during the ramps SIPp's audio threads, "
          "one per call, count in it too)")
    for name, by in paths.items():
        words = []
        if by["router"]:
            words.append(f"the control plane's router (Stasis/ARI) {by['router']}")
        if by["app_queue"]:
            words.append(f"app_queue (dialplan fallback, QueueCallerJoin) {by['app_queue']}")
        print(f"  calls an agent answered on {name}: {', '.join(words) or 'none'}")
    kinds = {name: {k for k, v in by.items() if v} for name, by in paths.items()}
    if len({frozenset(k) for k in kinds.values() if k}) > 1:
        print("  (the nodes route by different paths: the 2-node figures are one node of each "
              "kind, not twice one node)")

    print(f"\n1. calls/s ceiling: {args.step_s:g} s per step, {args.agents} agents, "
          f"{args.talk_ms} ms talk, callers wait {args.patience_s:g} s; pass: <= "
          f"{args.max_fail_pct:g}% not carried, p99 <= {args.max_p99_ms:g} ms\n")
    print(HEADER.replace("router     ", "media nodes", 1) + "  [carried per node]")
    for config in CONFIGS:
        for fs in steps.get(config, []):
            print(f"{row(fs.step)}  [{per_node_text(fs)}]")
    cps: dict[str, float] = {}
    for config in CONFIGS:
        ok, bad = ceiling([fs.step for fs in steps.get(config, [])])
        cps[config] = ok.carried_cps if ok else 0.0
        if not steps.get(config):
            text = "not run"
        elif ok is None:
            text = "none: the first step failed" + (f" ({bad.verdict})" if bad else "")
        else:
            text = f"{ok.carried_cps:.2f} calls/s (offered {ok.rate:g})"
            text += (f"; failed at {bad.rate:g} ({bad.verdict[6:]})" if bad else
                     f"; not reached: passed every step up to {args.rates[-1]:g}")
        print(f"  ceiling, {config:<8} {text}")
    if all(cps.values()):
        open_ = [c for c in CONFIGS if ceiling([fs.step for fs in steps[c]])[1] is None]
        ratio = f"{cps[CONFIGS[1]] / cps[CONFIGS[0]]:.2f}"
        if open_:
            ratio += f" (not reached for {', '.join(open_)}: a bound; add higher --rates)"
        print(f"  ratio 2 nodes / 1 node: {ratio}")
    both = [r for r in args.rates if all(any(fs.step.rate == r and fs.step.passed
                                             for fs in steps.get(c, [])) for c in CONFIGS)]
    if both:
        rate = max(both)
        at = {c: next(fs.step for fs in steps[c] if fs.step.rate == rate) for c in CONFIGS}
        print(f"  at {rate:g} calls/s, the highest rate both passed (CPU ms per carried call "
              "/ peak memory):")
        print(f"    {'process':<16} {CONFIGS[0]:>20} {CONFIGS[1]:>20}")
        for name in (*PROCS, "total"):
            cells = []
            for c in CONFIGS:
                s = at[c]
                if name != "total" and name not in s.peak_kb:
                    cells.append("not running")
                    continue
                cpu = s.cpu_ms_per_call(None if name == "total" else name)
                kb = sum(s.peak_kb.values()) if name == "total" else s.peak_kb[name]
                cells.append(f"{cpu:.1f} ms / {_mb(kb)}")
            print(f"    {name:<16} {cells[0]:>20} {cells[1]:>20}")

    print(f"\n2. concurrent calls held: {args.ramp_rate:g} new calls/s up to "
          f"{args.max_concurrent}, each held until the ramp is over, the caller's audio all "
          f"along; stops at a call not answered within {args.answer_s:g} s or ended early\n")
    print(f"  {'media nodes':<11} {'offered':>7} {'carried':>7} {'failed':>6} "
          f"{'peak held':>9}  {'per node at the peak':<24} {'1st failure':>11}  stopped by")
    for config in CONFIGS:
        r = ramps.get(config)
        if r is None:
            print(f"  {config:<11} not run")
            continue
        per = ", ".join(f"{k} {v}" for k, v in r.peak_per_node.items())
        first = "-" if r.first_failure_s is None else f"{r.first_failure_s:.1f} s"
        capped = " (cap)" if r.peak >= args.max_concurrent else ""
        print(f"  {config:<11} {r.offered:>7} {r.carried:>7} {r.failed:>6} "
              f"{str(r.peak) + capped:>9}  {per:<24} {first:>11}  {r.stopped_by}")
    if ramps:
        print("  (failed: no agent answered within --answer-s, or it ended before its hold; "
              "peak held: most calls up\n   at once, agent answered, before the first failed "
              "call was offered; 1st failure: from the first call)")
        for config in CONFIGS:
            r = ramps.get(config)
            if r is not None and r.first_failure:
                print(f"  first failure, {config}: {r.first_failure}")
        print("\n  per process over the ramp (CPU: share of one core; peak memory):")
        print(f"    {'process':<16} " + " ".join(f"{c:>20}" for c in CONFIGS))
        for name in PROCS:
            cells = []
            for c in CONFIGS:
                r = ramps.get(c)
                if r is None or name not in r.peak_kb:
                    cells.append("not running")
                    continue
                cells.append(f"{100 * r.cpu_share.get(name, 0.0):.0f} % / {_mb(r.peak_kb[name])}")
            print(f"    {name:<16} " + " ".join(f"{cell:>20}" for cell in cells))
        cells = [f"{100 * ramps[c].cpu_share.get('SIPp', 0.0):.0f} %" if c in ramps else "-"
                 for c in CONFIGS]
        print(f"    {'SIPp (the load)':<16} " + " ".join(f"{cell:>20}" for cell in cells))

    print(f"\n3. failover of a media node (must-show 2): kill -9 of {NODE}'s Asterisk under "
          f"{args.failover_rate:g} calls/s, {args.talk_ms} ms talk")
    if fo is None:
        print("  not run")
    else:
        if fo.note:
            print(f"  {fo.note}")
        print(f"  (a) kill -> Kamailio marks it inactive:        {_s(fo.mark_s)}"
              + (f" (flags {fo.flags_at_mark})" if fo.mark_s is not None else ""))
        print(f"  (b) new calls from the mark on, not carried:   {fo.b_failed} of "
              f"{fo.b_offered} (carried {fo.b_carried}; {NODE} took {fo.b_on_node_after} "
              "of them once back)")
        print(f"  (c) kill -> restarted by the supervisor:       {_s(fo.listening_s)} "
              "(its SIP port bound)")
        print(f"      kill -> Kamailio marks it active again:    {_s(fo.active_s)}")
        print(f"  traffic through the kill: {fo.a_offered} calls, carried {fo.a_carried}; "
              f"up on {NODE} at the kill (lost with it): {fo.a_lost_on_node}; other failures: "
              f"{fo.a_failed_other}")

    print("\n4. failover of the control plane (must-show 3): kill -9 of the routing lease's "
          "holder, 10 callers waiting (bench/takeover.py)")
    for i, t in enumerate(args.takeover or [], 1):
        print(f"  trial {i}: killed {t.killed}, the lease taken by {t.survivor} after "
              f"{_s(t.lease_s)}, its ARI up {_s(t.ari_s)}, every caller live on it {_s(t.live_s)}")
    summary(args, steps, ramps, fo)
    for note in notes:
        print(f"note: {note}")


def summary(args: argparse.Namespace, steps: dict[str, list[FleetStep]],
            ramps: dict[str, Ramp], fo: Failover | None) -> None:
    """The four answers side by side."""
    cells: dict[str, list[str]] = {"calls/s ceiling (carried)": [],
                                   "concurrent calls held, 0 failures": []}
    for config in CONFIGS:
        ok, bad = ceiling([fs.step for fs in steps.get(config, [])])
        if not steps.get(config):
            cells["calls/s ceiling (carried)"].append("not run")
        elif ok is None:
            cells["calls/s ceiling (carried)"].append("none")
        else:
            bound = "" if bad is not None else ">= "
            cells["calls/s ceiling (carried)"].append(f"{bound}{ok.carried_cps:.1f}")
        r = ramps.get(config)
        if r is None:
            cells["concurrent calls held, 0 failures"].append("not run")
        elif r.peak >= args.max_concurrent:
            cells["concurrent calls held, 0 failures"].append(f">= {r.peak} (the cap)")
        else:
            cells["concurrent calls held, 0 failures"].append(str(r.peak))
    width = 39
    print(f"\nsummary{'':<{width - 7}} {CONFIGS[0]:>16} {CONFIGS[1]:>16}")
    for name, values in cells.items():
        print(f"{name:<{width}} {values[0]:>16} {values[1]:>16}")
    if fo is None or fo.mark_s is None:
        media = "not measured" + (f": {fo.note}" if fo is not None and fo.note else "")
    else:
        media = (f"marked inactive {fo.mark_s:.2f} s after the kill; new calls lost "
                 f"{fo.b_failed} of {fo.b_offered}; restarted {_s(fo.listening_s)}, "
                 f"active again {_s(fo.active_s)}")
    print(f"{'failover, media node (must-show 2)':<{width}} {media}")
    print(f"{'failover, control plane (must-show 3)':<{width}} "
          f"{takeover.summary(args.takeover)}")


# -- the run -------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    logging.getLogger("panoramisk").setLevel(logging.CRITICAL)  # media2's AMI dies on purpose
    notes: list[str] = []
    steps: dict[str, list[FleetStep]] = {}
    ramps: dict[str, Ramp] = {}
    fo: Failover | None = None
    env_extra = {
        "AITCOMMS_PORT_ASTERISK_RTP_MIN": str(ASTERISK_RTP[0]),
        "AITCOMMS_PORT_ASTERISK_RTP_MAX": str(ASTERISK_RTP[1]),
        "AITCOMMS_PORT_NODE_RTP_MIN": str(NODE_RTP_MIN),
        "AITCOMMS_PORT_NODE_RTP_SPAN": str(NODE_RTP_SPAN),
        "AITCOMMS_PORT_RTPENGINE_MIN": str(RTPENGINE_RTP[0]),
        "AITCOMMS_PORT_RTPENGINE_MAX": str(RTPENGINE_RTP[1]),
    }
    started = time.monotonic()
    args.loads = [os.getloadavg()[0]]
    async with bench_stack("aitcomms-scale-", agents=args.agents, max_rate=max(args.rates),
                           patience_s=args.patience_s, talk_ms=args.talk_ms, offset=OFFSET,
                           agent_port=AGENT_PORT, env_extra=env_extra) as bench:
        fleet = Fleet(bench)
        t0 = time.monotonic()
        try:
            node: Node | None = await fleet.add_node()
            print(f"{NODE} added and in Kamailio's list in {time.monotonic() - t0:.1f} s",
                  flush=True)
        except SystemExit as exc:  # the 1-node figures are still worth printing
            notes.append(f"{NODE} could not be added: {exc}")
            node = None
        configs = CONFIGS if node is not None else CONFIGS[:1]
        await asyncio.sleep(1)
        print("-- 1. the ceiling", flush=True)
        steps = await ceiling_steps(fleet, configs, args)
        args.loads.append(os.getloadavg()[0])
        print("-- 2. concurrent calls", flush=True)
        for config in configs:
            ramps[config] = await ramp(fleet, config, args)
        if node is not None:
            print(f"-- 3. failover: kill -9 of {NODE}", flush=True)
            fo = await failover(fleet, node, args)
        fleet.count_paths()
        paths = fleet.paths
        for n in fleet.nodes:
            n.probe.close()
    from bench.acd import flood_bans

    bans = flood_bans(bench.var_dir)
    if bans:
        notes.append(f"the edge banned {len(bans)} time(s): {', '.join(sorted(set(bans)))}")
    for config, fss in steps.items():
        for fs in fss:
            if fs.step.leftover_channels:
                notes.append(f"{config} at {fs.step.rate:g}/s: {fs.step.leftover_channels} "
                             "channels still up 30 s after the callers were done")
    notes.append(f"the whole run took {(time.monotonic() - started) / 60:.1f} min; stack folder "
                 f"(logs, SIPp files, calls-*.json): {bench.var_dir}")
    print("-- 4. control plane takeover (a stack on PostgreSQL and Redis)", flush=True)
    args.takeover = await takeover.measure(args.takeover_trials, 10, offset=OFFSET)
    report(args, steps, ramps, fo, paths, notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="10,20,40,50,60,70,80,100",
                        help="offered calls/s for the ceiling, stepped up in order "
                        "(default 10,20,40,50,60,70,80,100)")
    parser.add_argument("--step-s", type=float, default=8,
                        help="seconds of offered load per step (default 8)")
    parser.add_argument("--talk-ms", type=int, default=2000,
                        help="talk time from the agent's answer (default 2000)")
    parser.add_argument("--patience-s", type=float, default=6,
                        help="how long a caller waits for an agent (default 6)")
    parser.add_argument("--max-fail-pct", type=float, default=1.0,
                        help="a step fails above this share of calls not carried (default 1)")
    parser.add_argument("--max-p99-ms", type=float, default=500,
                        help="a step fails above this p99 routing latency (default 500)")
    parser.add_argument("--max-concurrent", type=int, default=500,
                        help="the concurrency ramp's cap, in calls (default 500)")
    parser.add_argument("--ramp-rate", type=float, default=25,
                        help="new calls/s of the concurrency ramp (default 25)")
    parser.add_argument("--hold-margin-s", type=float, default=5,
                        help="every ramp call is held this long after the ramp's last call "
                        "(default 5)")
    parser.add_argument("--answer-s", type=float, default=3,
                        help="a ramp call that waits longer for an agent stops the ramp "
                        "(default 3)")
    parser.add_argument("--failover-rate", type=float, default=4,
                        help="calls/s through the kill of a node (default 4)")
    parser.add_argument("--pre-kill-s", type=float, default=4,
                        help="traffic before the kill (default 4)")
    parser.add_argument("--after-mark-s", type=float, default=12,
                        help="new calls from the mark on for this long (default 12)")
    parser.add_argument("--agents", type=int, default=0,
                        help="agents (default: enough for the top rate and the ramp's cap)")
    parser.add_argument("--takeover-trials", type=int, default=3,
                        help="kills of the routing control plane (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="three low steps, a ramp to 60 calls (about 2 minutes)")
    if parser.parse_args().quick:  # its own defaults; options given still win
        parser.set_defaults(rates="5,10,20", step_s=5, max_concurrent=60, hold_margin_s=3,
                            pre_kill_s=3, after_mark_s=8, takeover_trials=1)
    args = parser.parse_args()
    args.rates = sorted(float(r) for r in str(args.rates).split(","))
    if not args.agents:
        need = math.ceil(max(args.rates) * (RING_MS / 1000 + args.talk_ms / 1000 + 1) * 1.25)
        args.agents = max(need, math.ceil(args.max_concurrent * 1.1))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
