"""ACD benchmark: the control plane's router against Asterisk's own app_queue,
same machine, same run, same load.

N SIPp callers (from a trunk address) call one queue served by M SIPp agents
registered through Kamailio. Phase 1 routes through the control plane (ARI).
Phase 2 stops the control plane: the same dialplan then falls back to
app_queue with the same members, so both phases share everything but the
router. Printed side by side:

- calls/s sustained: successful calls over the phase's wall time;
- routing latency: the caller's channel answered (entering the queue) to the
  agent's channel created (the agent's phone starts ringing), from AMI events
  with Asterisk's own timestamps, p50 and p99;
- CPU per call: CPU seconds of Asterisk + Kamailio + control plane (+ rtpengine)
  over the phase, divided by the calls.

Usage: .venv/bin/python -m bench.acd [--calls 60] [--rate 4] [--agents 10]
It starts its own stack (own folder and ports, offset 1500) and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OFFSET = 1500
PORTS = {
    "SIP": 25060, "WS": 28080, "WSS": 28443, "ASTERISK_SIP": 25080, "AMI": 25038,
    "ARI": 28088, "HTTP": 28000, "FASTAGI": 24573, "RTPENGINE_NG": 22223, "KAMAILIO_CTL": 22049,
}
TRUNK_IP = "127.0.0.2"
DID = "+34910009999"


def stack_env(var_dir: Path) -> dict[str, str]:
    env = {**os.environ, "AITCOMMS_VAR": str(var_dir)}
    env.update({f"AITCOMMS_PORT_{k}": str(v + OFFSET) for k, v in PORTS.items()})
    env.update({"AITCOMMS_PORT_ASTERISK_RTP_MIN": "56000",
                "AITCOMMS_PORT_ASTERISK_RTP_MAX": "57999",
                "AITCOMMS_PORT_RTPENGINE_MIN": "58000", "AITCOMMS_PORT_RTPENGINE_MAX": "58999"})
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


def cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "control", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"aitcomms {' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def cpu_by_pid(var_dir: Path) -> dict[int, float]:
    """utime+stime of every process of this stack (by pid file, plus Kamailio's children)."""
    pids: set[int] = set()
    for name in ("asterisk", "rtpengine", "kamailio", "control"):
        try:
            pids.add(int((var_dir / "run" / f"{name}.pid").read_text()))
        except (OSError, ValueError):
            pass
    kamailio_cfg = str(var_dir / "kamailio" / "kamailio.cfg")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if kamailio_cfg in (proc / "cmdline").read_text():
                    pids.add(int(proc.name))
            except OSError:
                pass
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots by processes alive at both."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


class LatencyProbe:
    """Collects caller-answered and agent-channel-created times per linkedid."""

    def __init__(self, port: int, secret: str) -> None:
        from panoramisk import Manager

        self.entered: dict[str, float] = {}
        self.rang: dict[str, float] = {}
        self.manager = Manager(host="127.0.0.1", port=port, username="aitcomms",
                               secret=secret, ping_delay=60)
        self.manager.register_event("Newstate", self._newstate)
        self.manager.register_event("Newchannel", self._newchannel)

    def _newstate(self, _m: Any, e: Any) -> None:
        if e.get("Channel", "").startswith("PJSIP/edge-") and e.get("ChannelStateDesc") == "Up":
            self.entered.setdefault(e["Linkedid"], float(e["Timestamp"]))

    def _newchannel(self, _m: Any, e: Any) -> None:
        if e.get("Channel", "").startswith("PJSIP/agent-"):
            self.rang.setdefault(e["Linkedid"], float(e["Timestamp"]))

    def reset(self) -> None:
        self.entered.clear()
        self.rang.clear()

    def latencies_ms(self) -> list[float]:
        return sorted((self.rang[k] - t) * 1000 for k, t in self.entered.items() if k in self.rang)


async def sipp(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


def scenario(name: str, **placeholders: object) -> str:
    text = (ROOT / "tests" / "sipp" / f"{name}.xml").read_text()
    for key, value in placeholders.items():
        text = text.replace(f"@{key.upper()}@", str(value))
    fd, path = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".xml")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


async def phase(name: str, args: argparse.Namespace, target: str, probe: LatencyProbe,
                var_dir: Path) -> dict[str, Any]:
    probe.reset()
    stat = tempfile.mkstemp(prefix="bench-stat-", suffix=".csv")[1]
    cpu0, t0 = cpu_by_pid(var_dir), time.monotonic()
    rc, out = await sipp(
        target, "-sf", scenario("caller", call_ms=args.talk_ms), "-i", TRUNK_IP, "-mi", TRUNK_IP,
        "-s", DID, "-m", str(args.calls), "-r", str(args.rate), "-l", str(args.agents),
        "-key", "caller", "34600000000", "-key", "rtp_port", "7078", "-nostdin",
        "-timeout", "300s", "-trace_stat", "-stf", stat, "-fd", "1")
    wall, cpu = time.monotonic() - t0, cpu_used(cpu0, cpu_by_pid(var_dir))
    text = await asyncio.to_thread(Path(stat).read_text)
    rows = list(csv.DictReader(text.splitlines(), delimiter=";"))
    ok = int(rows[-1]["SuccessfulCall(C)"]) if rows else 0
    lat = probe.latencies_ms()
    return {
        "name": name, "calls": ok, "failed": args.calls - ok, "wall_s": wall,
        "cps": ok / wall if wall else 0.0,
        "p50": statistics.median(lat) if lat else float("nan"),
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
        "cpu_ms_per_call": 1000 * cpu / ok if ok else float("nan"),
    }


async def run(args: argparse.Namespace) -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="aitcomms-bench-"))
    env = stack_env(var_dir)
    target = f"127.0.0.1:{PORTS['SIP'] + OFFSET}"
    from control.stack.components import port_open

    # another benchmark (or a test session at this offset) holds them: say so
    # rather than half-start a second stack beside it
    if port_open("udp", PORTS["SIP"] + OFFSET) or port_open("tcp", PORTS["AMI"] + OFFSET):
        raise SystemExit(f"the benchmark's ports (SIP {PORTS['SIP'] + OFFSET}) are taken: "
                         "is another benchmark running?")
    print(f"starting a stack in {var_dir} ...", flush=True)
    cli(env, "up")
    agent_sipp = None
    try:
        cli(env, "trunk", "add", "bench", "--host", TRUNK_IP)
        exts = [str(3001 + i) for i in range(args.agents)]
        for ext in exts:
            cli(env, "agent", "add", ext, "--name", f"Bench {ext}", "--password", f"bench-{ext}-pw")
            cli(env, "agent", "status", ext, "available")
        cli(env, "queue", "add", "bench", "--members", ",".join(exts), "--wrapup", "0",
            "--ring-timeout", "10", "--max-misses", "100", "--max-wait", "120", "--no-record")
        cli(env, "did", "add", DID, "--to", "queue:bench")
        # one SIPp answers for every agent: each registers this port as its contact
        agent_port = 39500
        agent_sipp = await asyncio.create_subprocess_exec(
            "sipp", target, "-sf", scenario("agent"), "-i", "127.0.0.1", "-mi", "127.0.0.1",
            "-p", str(agent_port), "-m", str(10 * args.calls), "-key", "rtp_port", "7080",
            "-nostdin", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        for ext in exts:
            rc, out = await sipp(target, "-sf", scenario("register", expect=200, hold_ms=0),
                                 "-i", "127.0.0.1", "-m", "1", "-au", ext, "-ap",
                                 f"bench-{ext}-pw", "-key", "user", ext, "-key", "contact_port",
                                 str(agent_port), "-key", "expires", "3600", "-nostdin")
            if rc != 0:
                raise SystemExit(f"agent {ext} did not register:\n{out[-2000:]}")
        secret = next(line.split("=", 1)[1] for line in
                      (var_dir / "secrets.env").read_text().splitlines()
                      if line.startswith("AMI_PASSWORD="))
        probe = LatencyProbe(PORTS["AMI"] + OFFSET, secret)
        probe.manager.loop = asyncio.get_running_loop()
        await probe.manager.connect()
        await asyncio.sleep(1)

        results = [await phase("control plane (ARI)", args, target, probe, var_dir)]
        control_pid = int((var_dir / "run" / "control.pid").read_text())
        os.kill(control_pid, signal.SIGTERM)
        for _ in range(100):  # gone before phase 2 starts counting
            try:
                os.kill(control_pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        results.append(await phase("app_queue (Asterisk)", args, target, probe, var_dir))
        probe.manager.close()
    finally:
        if agent_sipp and agent_sipp.returncode is None:
            agent_sipp.kill()
        cli(env, "down")

    print(f"\nACD benchmark: {args.calls} calls/phase at {args.rate} calls/s, "
          f"{args.agents} agents, {args.talk_ms} ms talk; {os.cpu_count()} cores\n")
    print(f"{'router':<22} {'calls':>6} {'failed':>6} {'calls/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'CPU ms/call':>12}")
    for r in results:
        print(f"{r['name']:<22} {r['calls']:>6} {r['failed']:>6} {r['cps']:>8.2f} "
              f"{r['p50']:>8.1f} {r['p99']:>8.1f} {r['cpu_ms_per_call']:>12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--rate", type=float, default=4)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--talk-ms", type=int, default=2000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
