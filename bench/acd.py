"""ACD benchmark: the ceiling of the control plane's router and of Asterisk's
own app_queue, same machine, same run, same callers and agents.

SIPp callers (from a trunk address) call one queue served by SIPp agents
registered through Kamailio. The offered load is stepped (``--rates``, each
for ``--step-s`` seconds, then every call is let finish) first through the
control plane's router (Stasis/ARI), then, with the control plane stopped,
through the same dialplan's app_queue fallback with the same members.

Callers send a second of audio once answered, as phones do: Asterisk's
Answer() (the app_queue path) waits up to 500 ms for the caller's first media
frame, so silent SIPp callers would add 500 ms to app_queue's routing that no
real phone causes.

What counts, from Asterisk's AMI events (its own timestamps), per call (one
Linkedid):

- carried: an agent took it. The agent's channel went Up and the call lasted
  its talk time from there (``--talk-ms``, timed by the agent's SIPp from its
  own answer; the agent hangs up). A caller finishing its hold proves
  nothing: both paths answer the caller before routing.
- abandoned: the caller gave up. Callers wait ``--patience-s`` + talk time
  from their answer for the far end to hang up, then hang up themselves (also
  when an agent answered too late for the talk to end first).
- failed: anything else offered: never reached Asterisk, or ended by the
  system without an agent.
- routing latency: the caller's channel created (before the answer: the
  router answers in Stasis, so its own delay counts) to the first agent
  channel created, p50 and p99 of the calls that reached an agent. Two parts
  of it are shown apart, p99: the caller's answer (created to Up) and, after
  the call, the caller's hang-up behind the agent's (teardown).
- CPU ms per carried call: utime+stime of Asterisk, Kamailio (every process),
  the control plane and rtpengine over the step, from /proc, over carried
  calls.
- peak memory over the step, sampled every 0.5 s: VmRSS of Asterisk, the
  control plane and rtpengine; for Kamailio the sum of its processes' PSS
  (summing their RSS would count its shared memory once per process, ~6x).

A step fails when more than ``--max-fail-pct`` of its offered calls are not
carried (abandoned + failed), or its p99 latency passes ``--max-p99-ms``.
Stepping stops at the first failing step; the ceiling is the last passing
step's carried calls/s. The summary prints both ceilings, their ratio, and CPU
and memory per process at the highest rate both passed.

The edge bans a non-trunk address sending more than 30 requests in 2 s
(Kamailio pike). Agents' REGISTERs and BYEs are such requests, so agents are
spread over several 127.0.0.x addresses (not trunks) and registered at a
paced rate; every registration is checked in Kamailio's location table and
any ban logged by the edge is reported.

Usage: .venv/bin/python -m bench.acd [--rates 1,2,5,10,20,40] [--step-s 15]
       [--agents N] [--talk-ms 2000] [--patience-s 10] [--quick]
It starts its own stack (own folder and ports, offset 1500) and stops it;
the stack's folder (logs) is kept and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OFFSET = 1500
PORTS = {
    "SIP": 25060, "SIPS": 25061, "WS": 28080, "WSS": 28443, "ASTERISK_SIP": 25080, "AMI": 25038,
    "ARI": 28088, "HTTP": 28000, "FASTAGI": 24573, "AUDIOSOCKET": 24574, "RTPENGINE_NG": 22223,
    "KAMAILIO_CTL": 22049,
}
# Test sessions take 15000-19499 (tests/conftest.py ports_at); rtpengine is
# only on the browser path, so it gets a small range; Asterisk's is sized per
# run, up to 7000 ports, which only the ephemeral range has room for: a leg
# whose RTCP port an outgoing socket holds runs without RTCP statistics
# (the benchmark counts calls and audio, not those).
RTPENGINE_RANGE = (53000, 53999)
ASTERISK_RTP_MIN, ASTERISK_RTP_CAP = 54000, 60999
TRUNK_IP = "127.0.0.2"
DID = "+34910009999"
QUEUE = "bench"
FIRST_EXT = 3001
AGENT_HOST = "127.0.0.{}"  # agents' addresses: .11, .12, ... (no trunk among them)
FIRST_AGENT_HOST = 11
AGENT_PORT = 39500
RING_MS = 300
CALLER_AUDIO_MS = 1000  # media from each caller once answered (see bench/sipp/caller.xml)
# pike allows 30 requests per 2 s per address: stay well under half of it
AGENT_REQS_PER_S = 5.0
ROUTERS = ("control plane (ARI)", "app_queue (Asterisk)")
PROCS = ("asterisk", "kamailio", "control", "rtpengine")


def rtp_ports_needed(max_rate: float, patience_s: float, talk_s: float) -> int:
    """Asterisk RTP ports for the worst step: every caller of the step waiting
    its full patience, plus those talking. Each call is 2 legs (caller, agent)
    of 2 ports (RTP, RTCP)."""
    calls = max_rate * (patience_s + talk_s + RING_MS / 1000 + 2)
    return int(4 * calls * 1.25) + 200


def stack_env(var_dir: Path, rtp_ports: int = 2000, offset: int = OFFSET) -> dict[str, str]:
    env = {**os.environ, "AITCOMMS_VAR": str(var_dir)}
    env.update({f"AITCOMMS_PORT_{k}": str(v + offset) for k, v in PORTS.items()})
    rtp_max = min(ASTERISK_RTP_MIN + max(rtp_ports, 1000) - 1, ASTERISK_RTP_CAP)
    env.update({"AITCOMMS_PORT_ASTERISK_RTP_MIN": str(ASTERISK_RTP_MIN),
                "AITCOMMS_PORT_ASTERISK_RTP_MAX": str(rtp_max),
                "AITCOMMS_PORT_RTPENGINE_MIN": str(RTPENGINE_RANGE[0]),
                "AITCOMMS_PORT_RTPENGINE_MAX": str(RTPENGINE_RANGE[1])})
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


def cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "control", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"aitcomms {' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def provision(env: dict[str, str], spec: dict[str, Any]) -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.provision", json.dumps(spec)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"provisioning failed: {proc.stdout}{proc.stderr}")


# -- the stack's processes: CPU and memory ------------------------------------


class Procs:
    """The stack's processes by role, their CPU time and peak memory."""

    def __init__(self, var_dir: Path,
                 names: tuple[str, ...] = ("asterisk", "rtpengine", "control")) -> None:
        self.var_dir = var_dir
        self.names = names  # components with a pid file in run/ (Kamailio: found by its cfg)
        self.pids: dict[str, list[int]] = {}
        self.peak_kb: dict[str, int] = {}
        self._sampler: asyncio.Task[None] | None = None

    def discover(self) -> None:
        """Kamailio forks its workers at start: find them once per step."""
        self.pids = {}
        for name in self.names:
            try:
                pid = int((self.var_dir / "run" / f"{name}.pid").read_text())
            except (OSError, ValueError):
                continue
            if Path(f"/proc/{pid}").exists():
                self.pids[name] = [pid]
        cfg = str(self.var_dir / "kamailio" / "kamailio.cfg")
        kam = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if cfg in (proc / "cmdline").read_text():
                        kam.append(int(proc.name))
                except OSError:
                    pass
        self.pids["kamailio"] = kam

    def cpu_s(self) -> dict[str, dict[int, float]]:
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[str, dict[int, float]] = {}
        for name, pids in self.pids.items():
            out[name] = {}
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    out[name][pid] = (int(fields[11]) + int(fields[12])) / tick
                except (OSError, IndexError):
                    pass
        return out

    @staticmethod
    def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
                 ) -> dict[str, float]:
        """CPU seconds per role between two snapshots (processes alive at both)."""
        return {name: sum(after.get(name, {})[pid] - t for pid, t in pids.items()
                          if pid in after.get(name, {}))
                for name, pids in before.items()}

    @staticmethod
    def _kb(pid: int, key: str, path: str) -> int:
        try:
            for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def sample(self) -> None:
        for name, pids in self.pids.items():
            if name == "kamailio":
                kb = sum(self._kb(pid, "Pss:", "smaps_rollup") for pid in pids)
            else:
                kb = sum(self._kb(pid, "VmRSS:", "status") for pid in pids)
            self.peak_kb[name] = max(self.peak_kb.get(name, 0), kb)

    async def _sample_loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.5)

    def start_sampling(self) -> None:
        self.peak_kb = {}
        self._sampler = asyncio.create_task(self._sample_loop())

    async def stop_sampling(self) -> dict[str, int]:
        if self._sampler:
            self._sampler.cancel()
            try:
                await self._sampler
            except asyncio.CancelledError:
                pass
        self.sample()
        return dict(self.peak_kb)


# -- what Asterisk says happened ------------------------------------------------


@dataclass
class Call:
    """One caller and what happened to it, in Asterisk's timestamps."""

    created: float
    answered: float | None = None
    routed: float | None = None  # first agent channel created
    agent_channel: str | None = None  # the agent channel that went Up
    agent_up: float | None = None
    agent_hangup: float | None = None
    caller_hangup: float | None = None
    app_queue: bool = False  # joined an app_queue queue
    caller: str = ""  # the caller's number (tells apart the callers of one run)


class CallProbe:
    """Follows callers (PJSIP/edge-*) and agents (PJSIP/agent-*) by Linkedid
    over AMI, and every live channel (to know when a step has drained)."""

    EVENTS = ("Newchannel", "Newstate", "Hangup", "QueueCallerJoin")

    def __init__(self, port: int, secret: str) -> None:
        from panoramisk import Manager

        self.calls: dict[str, Call] = {}
        self.live: set[str] = set()
        self.idle = asyncio.Event()  # set while Asterisk has no channel
        self.idle.set()
        self.manager = Manager(host="127.0.0.1", port=port, username="aitcomms",
                               secret=secret, ping_delay=60)
        for event in self.EVENTS:
            self.manager.register_event(event, self._event)

    async def connect(self) -> None:
        self.manager.loop = asyncio.get_running_loop()
        await self.manager.connect()
        # filter at the server: Asterisk sends dozens of events per call
        for event in self.EVENTS:
            await self.manager.send_action({"Action": "Filter", "Operation": "Add",
                                            "Filter": f"Event: {event}"})

    def close(self) -> None:
        self.manager.close()

    def _event(self, _m: Any, e: Any) -> None:
        kind, chan, ts = e.get("Event"), e.get("Channel", ""), float(e.get("Timestamp", 0))
        linked, uid = e.get("Linkedid", ""), e.get("Uniqueid", "")
        if kind == "Newchannel":
            self.live.add(uid)
            self.idle.clear()
            if chan.startswith("PJSIP/edge-"):
                self.calls.setdefault(linked, Call(created=ts, caller=e.get("CallerIDNum", "")))
        if kind == "Hangup":
            self.live.discard(uid)
            if not self.live:
                self.idle.set()
        call = self.calls.get(linked)
        if call is None:
            return
        if chan.startswith("PJSIP/edge-"):
            if kind == "Newstate" and e.get("ChannelStateDesc") == "Up":
                call.answered = call.answered or ts
            elif kind == "Hangup":
                call.caller_hangup = call.caller_hangup or ts
            elif kind == "QueueCallerJoin":
                call.app_queue = True
        elif chan.startswith("PJSIP/agent-"):
            if kind == "Newchannel":
                call.routed = call.routed or ts
            elif (kind == "Newstate" and e.get("ChannelStateDesc") == "Up"
                  and call.agent_up is None):
                call.agent_up, call.agent_channel = ts, chan
            elif kind == "Hangup" and chan == call.agent_channel:
                call.agent_hangup = ts

    def reset(self) -> None:
        self.calls.clear()

    async def drained(self, within_s: float) -> bool:
        """True once Asterisk has no channel left (waiting at most within_s)."""
        try:
            async with asyncio.timeout(within_s):
                await self.idle.wait()
        except TimeoutError:
            return False
        return True


# -- SIPp -------------------------------------------------------------------------


async def sipp(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


def scenario(path: Path, work: Path, **placeholders: object) -> str:
    text = path.read_text()
    for key, value in placeholders.items():
        text = text.replace(f"@{key.upper()}@", str(value))
    out = work / f"{path.stem}-{len(list(work.glob(path.stem + '-*.xml')))}.xml"
    out.write_text(text)
    return str(out)


def caller_pcap(path: Path, ms: int) -> Path:
    """A pcap SIPp plays as the caller's voice: PCMU silence, 20 ms packets.
    SIPp sends the RTP inside the UDP payloads with the pcap's timing; the
    Ethernet/IP/UDP around them only have to parse."""
    frames = []
    for i in range(ms // 20):
        rtp = struct.pack("!BBHII", 0x80, 0, 1000 + i, 160 * i, 0x42454E43) + b"\xff" * 160
        udp = struct.pack("!HHHH", 7078, 7078, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([127, 0, 0, 2]), bytes([127, 0, 0, 1])) + udp
        eth = b"\x00" * 12 + b"\x08\x00" + ip
        at = 1_000_000 + i * 0.02
        frames.append(struct.pack("<IIII", int(at), round(at % 1 * 1e6), len(eth), len(eth))
                      + eth)
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                     + b"".join(frames))
    return path


def agent_hosts(exts: list[str], hosts: int) -> dict[str, list[str]]:
    """Agents spread round-robin over ``hosts`` loopback addresses."""
    out: dict[str, list[str]] = {}
    for i, ext in enumerate(exts):
        out.setdefault(AGENT_HOST.format(FIRST_AGENT_HOST + i % hosts), []).append(ext)
    return out


async def register_agents(target: str, by_host: dict[str, list[str]], work: Path,
                          password_prefix: str, agent_port: int = AGENT_PORT) -> None:
    """One SIPp per address registers its agents, paced under the flood guard
    (each registration is 2 requests: challenged, then authenticated)."""
    sf = scenario(ROOT / "bench" / "sipp" / "register.xml", work)

    async def one(host: str, exts: list[str]) -> None:
        inf = work / f"agents-{host}.csv"
        inf.write_text("SEQUENTIAL\n" + "".join(
            f"{e};[authentication username={e} password={password_prefix}{e}];\n"
            for e in exts))
        rc, out = await sipp(target, "-sf", sf, "-inf", str(inf), "-i", host, "-m",
                             str(len(exts)), "-r", str(AGENT_REQS_PER_S / 2), "-l", "4",
                             "-key", "contact_port", str(agent_port), "-key", "expires", "3600",
                             "-nostdin", "-timeout", "120s")
        if rc != 0:
            raise SystemExit(f"agents on {host} did not all register:\n{out[-2000:]}")

    await asyncio.gather(*(one(h, e) for h, e in by_host.items()))


def registered(env: dict[str, str], offset: int = OFFSET) -> set[str]:
    """The AoRs in Kamailio's location table."""
    out = subprocess.run(
        ["kamcmd", "-s", f"tcp:127.0.0.1:{PORTS['KAMAILIO_CTL'] + offset}", "ul.dump", "brief"],
        env=env, capture_output=True, text=True, timeout=30).stdout
    return set(re.findall(r"AoR:\s*(\S+)", out))


def flood_bans(var_dir: Path) -> list[str]:
    """Bans the edge logged (pike), as 'address (method)'."""
    found: list[str] = []
    for log in (var_dir / "log").glob("kamailio*"):
        found += [f"{m.group(1)} ({m.group(2)})" for m in re.finditer(
            r"flood from ([\d.]+):\d+ \((\w+)\)", log.read_text(errors="replace"))]
    return found


# -- one step -------------------------------------------------------------------


@dataclass
class Step:
    router: str
    rate: float
    offered: int
    carried: int = 0
    abandoned: int = 0
    failed: int = 0
    carried_cps: float = 0.0
    p50: float = math.nan
    p99: float = math.nan
    answer_p99: float = math.nan  # caller's channel created -> answered
    teardown_p99: float = math.nan  # agent hung up -> caller hung up
    talk_s: float = math.nan
    wrong_path: int = 0  # calls that went through the other router
    cpu_s: dict[str, float] = field(default_factory=dict)
    peak_kb: dict[str, int] = field(default_factory=dict)
    leftover_channels: int = 0
    verdict: str = ""

    @property
    def not_carried_pct(self) -> float:
        return 100.0 * (self.offered - self.carried) / self.offered if self.offered else 0.0

    def cpu_ms_per_call(self, name: str | None = None) -> float:
        if not self.carried:
            return math.nan
        used = self.cpu_s.get(name, 0.0) if name else sum(self.cpu_s.values())
        return 1000.0 * used / self.carried

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (p99 of fewer than 100 calls is their maximum)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def classify(step: Step, calls: Iterable[Call], patience_s: float, talk_s: float,
             app_queue: bool) -> None:
    latencies: list[float] = []
    answers: list[float] = []
    teardowns: list[float] = []
    talks: list[float] = []
    ups: list[float] = []
    caller_timer = patience_s + talk_s - 0.5  # the caller's own hang-up, minus slack
    for c in calls:
        if c.routed is not None:
            latencies.append(1000.0 * (c.routed - c.created))
        if c.answered is not None:
            answers.append(1000.0 * (c.answered - c.created))
        if c.app_queue != app_queue:
            step.wrong_path += 1
        ends = [t for t in (c.agent_hangup, c.caller_hangup) if t is not None]
        # the talk ran its course from the agent's answer (whichever leg's
        # hang-up Asterisk logged first: both come within a millisecond)
        if c.agent_up is not None and ends and min(ends) - c.agent_up >= talk_s - 0.1:
            step.carried += 1
            talks.append(min(ends) - c.agent_up)
            ups.append(c.agent_up)
            if c.agent_hangup is not None and c.caller_hangup is not None:
                teardowns.append(1000.0 * max(0.0, c.caller_hangup - c.agent_hangup))
        elif (c.caller_hangup is not None and c.answered is not None
              and c.caller_hangup - c.answered >= caller_timer):
            step.abandoned += 1
    step.failed = step.offered - step.carried - step.abandoned
    if ups:
        # the rate agents took calls at: n answers over the span of their
        # answers plus one interval (n calls offered at r come out at r)
        step.carried_cps = step.carried / (max(ups) - min(ups) + 1 / step.rate)
    step.p50, step.p99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
    step.answer_p99, step.teardown_p99 = quantile(answers, 0.99), quantile(teardowns, 0.99)
    step.talk_s = sum(talks) / len(talks) if talks else math.nan


def judge(step: Step, max_fail_pct: float, max_p99_ms: float) -> str:
    """A step's verdict: "pass", or "FAIL: " and why."""
    reasons = []
    if step.not_carried_pct > max_fail_pct:
        reasons.append(f"{step.not_carried_pct:.0f}% not carried")
    if math.isnan(step.p99):
        reasons.append("no call reached an agent")
    elif step.p99 > max_p99_ms:
        reasons.append(f"p99 {step.p99:.0f} ms > {max_p99_ms:g}")
    return "FAIL: " + ", ".join(reasons) if reasons else "pass"


async def run_step(router: str, rate: float, args: argparse.Namespace, target: str,
                   probe: CallProbe, procs: Procs, work: Path) -> Step:
    calls = max(1, round(rate * args.step_s))
    step = Step(router=router, rate=rate, offered=calls)
    caller_ms = int(1000 * args.patience_s) + args.talk_ms
    pcap = work / "caller-voice.pcap"
    if not pcap.exists():
        caller_pcap(pcap, CALLER_AUDIO_MS)
    sf = scenario(ROOT / "bench" / "sipp" / "caller.xml", work, call_ms=caller_ms,
                  audio_ms=CALLER_AUDIO_MS, pcap=pcap)
    key = f"{'router' if router == ROUTERS[0] else 'app_queue'}-{rate:g}"
    stat = work / f"sipp-callers-{key}.csv"
    probe.reset()
    procs.discover()
    procs.start_sampling()
    cpu0 = procs.cpu_s()
    await sipp(
        target, "-sf", sf, "-i", TRUNK_IP, "-mi", TRUNK_IP, "-s", DID,
        "-m", str(calls), "-r", f"{rate:g}", "-rp", "1000",
        # no throttling by SIPp: the offered load is the step's, whatever happens
        "-l", str(calls), "-key", "caller", "34600000000", "-key", "rtp_port", "7078",
        "-nostdin", "-timeout", f"{int(args.step_s + args.patience_s + 120)}s",
        "-trace_stat", "-stf", str(stat), "-fd", "3600")
    drained = await probe.drained(30)
    step.leftover_channels = len(probe.live)
    step.cpu_s = Procs.cpu_used(cpu0, procs.cpu_s())
    step.peak_kb = await procs.stop_sampling()
    rows = list(csv.DictReader((await asyncio.to_thread(stat.read_text)).splitlines(),
                               delimiter=";"))
    created = int(rows[-1]["OutgoingCall(C)"]) if rows else 0
    if created != calls:
        print(f"  ({router} at {rate:g}/s: SIPp placed {created} of {calls} calls)")
    # kept for a closer look: every call's timestamps, by Linkedid
    dump = json.dumps({k: vars(c) for k, c in probe.calls.items()}, indent=1)
    (work / f"calls-{key}.json").write_text(dump)
    classify(step, list(probe.calls.values()), args.patience_s, args.talk_ms / 1000,
             app_queue=router == ROUTERS[1])
    step.verdict = judge(step, args.max_fail_pct, args.max_p99_ms)
    if not drained:
        probe.live.clear()  # reported; the next step counts its own channels
        probe.idle.set()
    return step


async def step_router(router: str, args: argparse.Namespace, target: str, probe: CallProbe,
                      procs: Procs, work: Path) -> list[Step]:
    steps: list[Step] = []
    for rate in args.rates:
        print(f"  {router}: offering {rate:g} calls/s for {args.step_s:g} s ...", flush=True)
        step = await run_step(router, rate, args, target, probe, procs, work)
        print(f"    {row(step)}", flush=True)
        steps.append(step)
        if not step.passed:
            break
    return steps


# -- the report ---------------------------------------------------------------------


def _f(value: float, fmt: str) -> str:
    return "-" if math.isnan(value) else format(value, fmt)


HEADER = (f"{'router':<21} {'rate':>5} {'offered':>7} {'carried':>7} {'abandon':>7} "
          f"{'failed':>6} {'carr/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'ans p99':>7} "
          f"{'end p99':>7} {'talk s':>6} {'CPU ms/call':>11} {'peak MB':>7}  verdict")


def row(s: Step) -> str:
    return (f"{s.router:<21} {s.rate:>5g} {s.offered:>7} {s.carried:>7} {s.abandoned:>7} "
            f"{s.failed:>6} {s.carried_cps:>6.2f} {_f(s.p50, '7.0f'):>7} "
            f"{_f(s.p99, '7.0f'):>7} {_f(s.answer_p99, '7.0f'):>7} "
            f"{_f(s.teardown_p99, '7.0f'):>7} {_f(s.talk_s, '6.2f'):>6} "
            f"{_f(s.cpu_ms_per_call(), '11.1f'):>11} {sum(s.peak_kb.values()) / 1024:>7.0f}  "
            f"{s.verdict}")


def ceiling(steps: list[Step]) -> tuple[Step | None, Step | None]:
    """The last passing step and the failing one after it (None: none)."""
    passed = [s for s in steps if s.passed]
    failed = [s for s in steps if not s.passed]
    return (passed[-1] if passed else None), (failed[0] if failed else None)


def report(args: argparse.Namespace, results: dict[str, list[Step]], notes: list[str]) -> None:
    print(f"\nACD benchmark: {args.step_s:g} s of offered load per step, "
          f"{args.agents} agents, {args.talk_ms} ms talk from the agent's answer, callers wait "
          f"{args.patience_s:g} s; pass: <= {args.max_fail_pct:g}% not carried and p99 <= "
          f"{args.max_p99_ms:g} ms; {os.cpu_count()} cores\n")
    print(HEADER)
    for router in ROUTERS:
        for s in results.get(router, []):
            print(row(s))
    print("(rate: offered calls/s; p50/p99: caller's channel created -> first agent channel "
          "created; ans: created -> caller answered;\n end: agent hung up -> caller hung up; "
          "talk: mean from the agent's answer; CPU: Asterisk + Kamailio + control plane + "
          "rtpengine\n per carried call; peak MB: their peaks summed)")
    print("\nceilings (carried calls/s of the last passing step):")
    cps: dict[str, float] = {}
    for router in ROUTERS:
        ok, bad = ceiling(results.get(router, []))
        cps[router] = ok.carried_cps if ok else 0.0
        if ok is None:
            text = "none: the first step failed" + (f" ({bad.verdict})" if bad else "")
        else:
            text = f"{ok.carried_cps:.2f} calls/s (offered {ok.rate:g})"
        if bad is not None and ok is not None:
            text += f"; failed at {bad.rate:g} offered ({bad.verdict[6:]})"
        elif ok is not None:
            text += f"; not reached: passed every step up to {args.rates[-1]:g}"
        print(f"  {router:<21} {text}")
    if not cps[ROUTERS[0]] or not cps[ROUTERS[1]]:
        print("  ratio router/app_queue: - (a router passed no step)")
    else:
        # a ceiling not reached is a lower bound: the ratio is a bound then
        router_open = ceiling(results.get(ROUTERS[0], []))[1] is None
        queue_open = ceiling(results.get(ROUTERS[1], []))[1] is None
        ratio = f"{cps[ROUTERS[0]] / cps[ROUTERS[1]]:.2f}"
        if router_open and queue_open:
            text = f"{ratio} (neither ceiling reached: add higher --rates)"
        elif queue_open:
            text = f"<= {ratio} (app_queue's ceiling is above {args.rates[-1]:g} offered)"
        elif router_open:
            text = f">= {ratio} (the router's ceiling is above {args.rates[-1]:g} offered)"
        else:
            text = ratio
        print(f"  ratio router/app_queue: {text}")
    both = [r for r in args.rates
            if all(any(s.rate == r and s.passed for s in results.get(x, [])) for x in ROUTERS)]
    if both:
        rate = max(both)
        at = {x: next(s for s in results[x] if s.rate == rate) for x in ROUTERS}
        print(f"\nat {rate:g} calls/s offered, the highest rate both passed "
              "(CPU ms per carried call / peak MB):")
        print(f"  {'process':<10} {'router':>20} {'app_queue':>20}")
        for name in (*PROCS, "total"):
            cells = []
            for x in ROUTERS:
                s = at[x]
                if name != "total" and name not in s.peak_kb:
                    cells.append("not running")
                    continue
                cpu = s.cpu_ms_per_call(None if name == "total" else name)
                kb = (sum(s.peak_kb.values()) if name == "total" else s.peak_kb[name])
                cells.append(f"{_f(cpu, '.1f')} ms / {kb / 1024:.0f} MB")
            print(f"  {name:<10} {cells[0]:>20} {cells[1]:>20}")
        print("  (kamailio: all its processes, memory as summed PSS; Asterisk's memory only "
              "grows over a run,\n   and app_queue's steps run after the router's)")
    else:
        print("\nno rate passed for both routers: nothing to compare per call")
    for note in notes:
        print(f"note: {note}")


# -- the run -------------------------------------------------------------------------


async def start_agents(target: str, by_host: dict[str, list[str]], work: Path, talk_ms: int,
                       agent_port: int = AGENT_PORT) -> list[asyncio.subprocess.Process]:
    """One SIPp per address answering for its agents (they ring RING_MS, talk
    ``talk_ms`` from their answer, hang up). Stateless: stopped and started
    again with another talk time, the registrations still reach them."""
    agent_sf = scenario(ROOT / "bench" / "sipp" / "agent.xml", work, talk_ms=talk_ms,
                        ring_ms=RING_MS)
    procs = []
    for host in by_host:
        procs.append(await asyncio.create_subprocess_exec(
            "sipp", target, "-sf", agent_sf, "-i", host, "-mi", host, "-p", str(agent_port),
            "-key", "rtp_port", "7080", "-nostdin", "-trace_err",
            "-error_file", str(work / f"agent-{host}-errors.log"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))
    await asyncio.sleep(0.5)
    dead = [h for h, p in zip(by_host, procs, strict=True) if p.returncode is not None]
    if dead:
        await stop_agents(procs)
        raise SystemExit(f"the agents' SIPp could not start on {dead} (port {agent_port} "
                         "taken?)")
    return procs


async def stop_agents(procs: list[asyncio.subprocess.Process]) -> None:
    for p in procs:
        if p.returncode is None:
            p.kill()
            await p.wait()


@dataclass
class BenchStack:
    """A whole stack for a benchmark, its agents registered and answering."""

    env: dict[str, str]
    var_dir: Path
    work: Path  # SIPp scenarios, pcaps and logs
    target: str  # the edge's SIP address
    exts: list[str]
    probe: CallProbe
    procs: Procs
    # the agents' addresses and their SIPp (replaced in place to change the
    # talk time: start_agents; whatever is in it at the end is stopped)
    by_host: dict[str, list[str]] = field(default_factory=dict)
    agent_sipps: list[asyncio.subprocess.Process] = field(default_factory=list)


@contextlib.asynccontextmanager
async def bench_stack(prefix: str, *, agents: int, max_rate: float, patience_s: float,
                      talk_ms: int, offset: int = OFFSET, agent_port: int = AGENT_PORT,
                      env_extra: dict[str, str] | None = None) -> AsyncIterator[BenchStack]:
    """Start a stack at the benchmark's offset (refused if its ports are
    taken), provision ``agents`` agents in one queue behind the DID, start
    their SIPp phones on enough addresses that their own requests stay under
    the flood guard at ``max_rate`` calls/s, register them and connect the
    AMI probe; everything stopped after, whatever happened. ``env_extra``
    overrides the stack's environment (e.g. its RTP ranges)."""
    var_dir = Path(tempfile.mkdtemp(prefix=prefix))
    work = var_dir / "bench"
    work.mkdir()
    env = stack_env(var_dir, rtp_ports_needed(max_rate, patience_s, talk_ms / 1000), offset)
    env.update(env_extra or {})
    target = f"127.0.0.1:{PORTS['SIP'] + offset}"
    from control.stack.components import port_open

    # another benchmark (or a test session at this offset) holds them: say so
    # rather than half-start a second stack beside it
    if port_open("udp", PORTS["SIP"] + offset) or port_open("tcp", PORTS["AMI"] + offset):
        raise SystemExit(f"the benchmark's ports (SIP {PORTS['SIP'] + offset}) are taken: "
                         "is another benchmark running?")
    print(f"starting a stack in {var_dir} ...", flush=True)
    cli(env, "up")
    agent_sipps: list[asyncio.subprocess.Process] = []
    probe: CallProbe | None = None
    try:
        exts = [str(FIRST_EXT + i) for i in range(agents)]
        provision(env, {"trunk_host": TRUNK_IP, "extensions": exts,
                        "password_prefix": "bench-pw-", "did": DID,
                        "queue": {"name": QUEUE, "wrapup_s": 0, "ring_timeout_s": 10,
                                  "max_misses": 100, "max_wait_s": 120}})
        # agents' own requests (REGISTER, BYE) count against the flood guard per
        # address: enough addresses that the top rate's BYEs stay under it
        by_host = agent_hosts(exts, min(agents, max(1, math.ceil(max_rate / AGENT_REQS_PER_S))))
        agent_sipps += await start_agents(target, by_host, work, talk_ms, agent_port)
        t0 = time.monotonic()
        await register_agents(target, by_host, work, "bench-pw-", agent_port)
        missing = set(exts) - {aor.split("@")[0] for aor in registered(env, offset)}
        if missing:
            raise SystemExit(f"agents not in Kamailio's location table: {sorted(missing)}")
        print(f"{len(exts)} agents registered from {len(by_host)} addresses in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        secret = next(line.split("=", 1)[1] for line in
                      (var_dir / "secrets.env").read_text().splitlines()
                      if line.startswith("AMI_PASSWORD="))
        probe = CallProbe(PORTS["AMI"] + offset, secret)
        await probe.connect()
        yield BenchStack(env, var_dir, work, target, exts, probe, Procs(var_dir), by_host,
                         agent_sipps)
    finally:
        if probe is not None:
            probe.close()
        await stop_agents(agent_sipps)
        cli(env, "down")


async def run(args: argparse.Namespace) -> None:
    notes: list[str] = []
    if ASTERISK_RTP_MIN + rtp_ports_needed(max(args.rates), args.patience_s,
                                           args.talk_ms / 1000) - 1 > ASTERISK_RTP_CAP:
        notes.append(f"Asterisk's RTP range is capped at {ASTERISK_RTP_CAP}: the top rate may "
                     "need more ports, RTP ports may be the ceiling")
    results: dict[str, list[Step]] = {}
    async with bench_stack("aitcomms-bench-", agents=args.agents, max_rate=max(args.rates),
                           patience_s=args.patience_s, talk_ms=args.talk_ms) as bench:
        await asyncio.sleep(1)
        results[ROUTERS[0]] = await step_router(ROUTERS[0], args, bench.target, bench.probe,
                                                bench.procs, bench.work)
        control_pid = int((bench.var_dir / "run" / "control.pid").read_text())
        os.kill(control_pid, signal.SIGTERM)
        for _ in range(100):  # gone before app_queue's steps start counting
            try:
                os.kill(control_pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.1)
        else:
            raise SystemExit(f"the control plane (pid {control_pid}) outlived SIGTERM by 10 s")
        await asyncio.sleep(1)
        results[ROUTERS[1]] = await step_router(ROUTERS[1], args, bench.target, bench.probe,
                                                bench.procs, bench.work)

    bans = flood_bans(bench.var_dir)
    if bans:
        notes.append(f"the edge banned {len(bans)} time(s): {', '.join(sorted(set(bans)))}")
    for steps in results.values():
        for s in steps:
            if s.wrong_path:
                notes.append(f"{s.router} at {s.rate:g}/s: {s.wrong_path} calls went through "
                             "the other router")
            if s.leftover_channels:
                notes.append(f"{s.router} at {s.rate:g}/s: {s.leftover_channels} channels "
                             "still up 30 s after the callers were done")
    notes.append(f"stack folder (logs, SIPp files): {bench.var_dir}")
    report(args, results, notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # up to where this 2-core machine runs out for both routers: the ceilings
    parser.add_argument("--rates", default="5,10,20,40,50,60,70,80,100",
                        help="offered calls/s, stepped up in order (default 5,10,20,40,50,60,"
                        "70,80,100)")
    parser.add_argument("--step-s", type=float, default=15,
                        help="seconds of offered load per step (default 15)")
    parser.add_argument("--agents", type=int, default=0,
                        help="agents (default: enough that the top rate does not run out)")
    parser.add_argument("--talk-ms", type=int, default=2000,
                        help="talk time from the agent's answer (default 2000)")
    parser.add_argument("--patience-s", type=float, default=10,
                        help="how long a caller waits for an agent (default 10)")
    parser.add_argument("--max-fail-pct", type=float, default=1.0,
                        help="a step fails above this share of calls not carried (default 1)")
    parser.add_argument("--max-p99-ms", type=float, default=500,
                        help="a step fails above this p99 routing latency (default 500)")
    parser.add_argument("--quick", action="store_true",
                        help="one low step of a few calls, 3 agents (the test's smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.rates, args.step_s, args.talk_ms, args.patience_s = "1", 4, 1000, 6
        args.agents = args.agents or 3
    args.rates = sorted(float(r) for r in str(args.rates).split(","))
    if not args.agents:
        # every agent busy for ring + talk, at the top rate, with a margin
        args.agents = math.ceil(max(args.rates) * (RING_MS / 1000 + args.talk_ms / 1000 + 1)
                                * 1.25)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
