"""Soak: calls at a steady moderate rate for a long time, and whether any
process of the stack keeps growing.

The same stack, callers and agents as the ACD benchmark (``bench.acd``: SIPp
callers from a trunk address to one queue served by SIPp agents registered
through Kamailio, routed by the control plane), but one rate held until
``--calls`` calls were offered (default 5,000). Every ``--sample-s`` seconds
it samples each process's memory (VmRSS; Kamailio: the sum of its processes'
PSS) and open files (entries in /proc/PID/fd; Kamailio: summed), with the
calls finished so far.

The table gives, per process, the first sample taken once the stack has
carried calls for a minute (the baseline: caches and pools warmed), the
middle one and the last one, and the growth per 1,000 calls over the first
and the second half. A process levels off when its second half grows less
than half as much as its first, or less than 2 MB per 1,000 calls. The calls
count as in ``bench.acd`` (carried: the agent's channel went Up and the talk
ran its course; abandoned; failed), and the call rows written by the control
plane are counted against the calls Asterisk saw (0 lost).

Usage: .venv/bin/python -m bench.soak [--calls 5000] [--rate 5] [--talk-ms 2000]
       [--sample-s 10] [--quick]
It starts its own stack (bench.acd's folder layout and ports, offset 1500)
and stops it; the stack's folder (logs, samples as CSV) is kept and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.acd import (
    CALLER_AUDIO_MS,
    DID,
    QUEUE,
    RING_MS,
    ROOT,
    TRUNK_IP,
    CallProbe,
    Procs,
    Step,
    bench_stack,
    caller_pcap,
    classify,
    scenario,
    sipp,
)

WARM_UP_S = 60.0  # the baseline is taken after this much steady load
LEVEL_OFF_RATIO = 0.5
LEVEL_OFF_FLOOR_MB = 2.0  # per 1,000 calls


@dataclass
class Sample:
    at_s: float  # since the first call was offered
    calls_done: int
    kb: dict[str, int] = field(default_factory=dict)
    fds: dict[str, int] = field(default_factory=dict)


def open_files(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return total


def memory_kb(name: str, pids: list[int]) -> int:
    key, path = ("Pss:", "smaps_rollup") if name == "kamailio" else ("VmRSS:", "status")
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
                if line.startswith(key):
                    total += int(line.split()[1])
                    break
        except (OSError, ValueError, IndexError):
            pass
    return total


async def sample_loop(procs: Procs, probe: CallProbe, every_s: float, t0: float,
                      out: list[Sample]) -> None:
    while True:
        procs.discover()  # a restarted daemon would have a new pid: it is followed
        done = sum(1 for c in probe.calls.values() if c.caller_hangup is not None)
        out.append(Sample(
            at_s=time.monotonic() - t0, calls_done=done,
            kb={name: memory_kb(name, pids) for name, pids in procs.pids.items()},
            fds={name: open_files(pids) for name, pids in procs.pids.items()}))
        await asyncio.sleep(every_s)


def write_samples(path: Path, samples: list[Sample]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        names = sorted({n for s in samples for n in s.kb})
        writer.writerow(["at_s", "calls_done", *(f"{n}_kb" for n in names),
                         *(f"{n}_fds" for n in names)])
        for s in samples:
            writer.writerow([f"{s.at_s:.1f}", s.calls_done, *(s.kb.get(n, 0) for n in names),
                             *(s.fds.get(n, 0) for n in names)])


def call_rows(env: dict[str, str]) -> int:
    """Call rows the control plane wrote (inbound calls of the bench's queue)."""
    from sqlalchemy import text

    from control.db import Database
    from control.settings import Settings

    old = dict(os.environ)
    os.environ.update(env)
    try:
        db = Database(Settings.from_env())
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        with db.engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM calls WHERE queue = :q"),
                                    {"q": QUEUE}).scalar_one())
    finally:
        db.dispose()


def growth_per_1000(a: Sample, b: Sample, name: str) -> float:
    """MB per 1,000 calls between two samples."""
    calls = b.calls_done - a.calls_done
    if calls <= 0:
        return math.nan
    return (b.kb.get(name, 0) - a.kb.get(name, 0)) / 1024 / calls * 1000


def levels_off(first: float, second: float) -> bool:
    if math.isnan(first) or math.isnan(second):
        return False
    return second < LEVEL_OFF_FLOOR_MB or second < LEVEL_OFF_RATIO * first


def report(args: argparse.Namespace, step: Step, samples: list[Sample], rows: int,
           seen: int, elapsed_s: float, notes: list[str]) -> None:
    print()
    print(f"Soak: {step.offered} calls offered at {args.rate:g}/s over {elapsed_s / 60:.1f} min "
          f"(talk {args.talk_ms} ms, {args.agents} agents)")
    print(f"  carried {step.carried}, abandoned {step.abandoned}, failed {step.failed} "
          f"({step.not_carried_pct:.2f} % not carried); routing p50 {step.p50:.0f} ms, "
          f"p99 {step.p99:.0f} ms")
    print(f"  call rows written {rows} for {seen} calls Asterisk saw: "
          f"{max(0, seen - rows)} lost")
    warm = [s for s in samples if s.at_s >= WARM_UP_S and s.calls_done > 0]
    if len(warm) < 3:
        print("  too short for memory figures (fewer than 3 samples after the warm-up)")
        return
    base, mid, end = warm[0], warm[len(warm) // 2], warm[-1]
    print()
    print(f"{'process':<10} {'MB base':>8} {'MB mid':>8} {'MB end':>8} {'MB/1k 1st':>10} "
          f"{'MB/1k 2nd':>10} {'fds base':>8} {'fds end':>8}  verdict")
    print(f"{'(calls)':<10} {base.calls_done:>8} {mid.calls_done:>8} {end.calls_done:>8}")
    for name in ("control", "asterisk", "kamailio", "rtpengine"):
        first, second = growth_per_1000(base, mid, name), growth_per_1000(mid, end, name)
        verdict = "levels off" if levels_off(first, second) else "GROWS"
        print(f"{name:<10} {base.kb.get(name, 0) / 1024:>8.1f} {mid.kb.get(name, 0) / 1024:>8.1f} "
              f"{end.kb.get(name, 0) / 1024:>8.1f} {first:>10.2f} {second:>10.2f} "
              f"{base.fds.get(name, 0):>8} {end.fds.get(name, 0):>8}  {verdict}")
    for note in notes:
        print(f"note: {note}")


async def run(args: argparse.Namespace) -> None:
    samples: list[Sample] = []
    notes: list[str] = []
    async with bench_stack("aitcomms-soak-", agents=args.agents, max_rate=args.rate,
                           patience_s=args.patience_s, talk_ms=args.talk_ms) as bench:
        probe, work = bench.probe, bench.work
        bench.procs.discover()
        pcap = work / "caller-voice.pcap"
        caller_pcap(pcap, CALLER_AUDIO_MS)
        caller_sf = scenario(ROOT / "bench" / "sipp" / "caller.xml", work,
                             call_ms=int(1000 * args.patience_s) + args.talk_ms,
                             audio_ms=CALLER_AUDIO_MS, pcap=pcap)
        t0 = time.monotonic()
        sampler = asyncio.create_task(sample_loop(bench.procs, probe, args.sample_s, t0,
                                                  samples))
        print(f"offering {args.calls} calls at {args.rate:g}/s "
              f"(about {args.calls / args.rate / 60:.0f} min) ...", flush=True)
        rc, out = await sipp(
            bench.target, "-sf", caller_sf, "-i", TRUNK_IP, "-mi", TRUNK_IP, "-s", DID,
            "-m", str(args.calls), "-r", f"{args.rate:g}", "-rp", "1000", "-l", str(args.calls),
            "-key", "caller", "34600000000", "-key", "rtp_port", "7078", "-nostdin",
            "-timeout", f"{int(args.calls / args.rate + args.patience_s + 300)}s", "-fd", "3600")
        if rc not in (0, 1):  # 1: some calls failed, counted below
            notes.append(f"the callers' SIPp ended with {rc}: {out[-500:]}")
        if not await probe.drained(30):
            notes.append(f"{len(probe.live)} channels still up 30 s after the last caller")
        await asyncio.sleep(max(2.0, args.sample_s))  # one more sample, with every call done
        sampler.cancel()
        elapsed = time.monotonic() - t0
        step = Step(router="control plane (ARI)", rate=args.rate, offered=args.calls)
        classify(step, list(probe.calls.values()), args.patience_s, args.talk_ms / 1000,
                 app_queue=False)
        await asyncio.sleep(2)  # the call log's last batch
        rows, seen = call_rows(bench.env), len(probe.calls)
    write_samples(work / "soak-samples.csv", samples)
    notes.append(f"stack folder (logs, samples in bench/soak-samples.csv): {bench.var_dir}")
    report(args, step, samples, rows, seen, elapsed, notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls offered (default 5000)")
    parser.add_argument("--rate", type=float, default=5, help="calls/s (default 5)")
    parser.add_argument("--talk-ms", type=int, default=2000,
                        help="talk time from the agent's answer (default 2000)")
    parser.add_argument("--patience-s", type=float, default=10,
                        help="how long a caller waits for an agent (default 10)")
    parser.add_argument("--sample-s", type=float, default=10,
                        help="seconds between memory samples (default 10)")
    parser.add_argument("--agents", type=int, default=0,
                        help="agents (default: enough for the rate, with a margin)")
    parser.add_argument("--quick", action="store_true",
                        help="a couple of minutes: 400 calls at 4/s, samples every 5 s")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rate, args.sample_s = 400, 4, 5
    if not args.agents:
        args.agents = math.ceil(args.rate * (RING_MS / 1000 + args.talk_ms / 1000 + 1) * 1.5)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
