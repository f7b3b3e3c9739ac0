"""Control plane takeover (issue 11, must-show 3's failover time): how long,
after ``kill -9`` of the control plane that holds the routing lease, until
another routes the calls it had.

One stack on PostgreSQL and Redis (a throwaway database; Redis database
13), its own control plane "a" and a second one, "b", started here on other
ports. ``--callers`` callers wait in a queue nobody serves (each on the line
until the end). Each trial kills the current holder (``a`` by its pid file:
its supervisor starts it again, as a follower; ``b``: started again here)
and times, from the kill:

- lease: a control plane holds the lease with a newer token (Redis);
- ari: the new holder's ``/health`` says its ARI is up (connected, reconcile
  started);
- live: the new holder's ``/api/v1/calls/live`` lists every caller again
  (its view rebuilt from Asterisk and the rows: it routes them from here).

The bound, by construction: the lease's 3 s time to live after the dead
holder's last renewal (at most 1 s before the kill), plus up to 1 s until a
follower's next try, plus the reconnect and the reconcile.

How it fails: without PostgreSQL or Redis it says so and measures nothing;
a trial that does not complete within 30 s is reported as failed.

Usage: .venv/bin/python -m bench.takeover [--trials 3] [--callers 10]
It uses the port offset 1500, like bench/acd.py (one benchmark at a time);
bench/scale.py runs it at its own offset, after its stack is down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.acd import (
    DID,
    OFFSET,
    PORTS,
    ROOT,
    TRUNK_IP,
    caller_pcap,
    cli,
    scenario,
    stack_env,
)
from control.settings import Ports

PG_ADMIN = os.environ.get("AITCOMMS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("AITCOMMS_BENCH_REDIS", "redis://127.0.0.1:6379/13")
LEASE_KEY = "aitcomms:lease:routing"
USER, PASSWORD = "bench-supervisor@example.com", "bench-supervisor-pw-1"


@dataclass
class Trial:
    killed: str
    lease_s: float | None
    ari_s: float | None
    live_s: float | None
    survivor: str | None


def _holder() -> dict[str, Any] | None:
    import redis

    raw: Any = redis.Redis.from_url(REDIS).get(LEASE_KEY)
    return json.loads(raw) if raw else None


def _get(port: int, path: str, token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
    except (OSError, ValueError):
        return 0, None


def _login(port: int) -> str:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/auth/login", method="POST",
        data=json.dumps({"email": USER, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(json.loads(resp.read())["access_token"])


async def _until(predicate: Any, within_s: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < within_s:
        if predicate():
            return time.monotonic()
        await asyncio.sleep(0.05)
    return None


class Planes:
    def __init__(self, env: dict[str, str]) -> None:
        self.http_a = int(env["AITCOMMS_PORT_HTTP"])
        self.http_b = self.http_a + 50
        default = Ports()
        own = {name: int(env.get(f"AITCOMMS_PORT_{name.upper()}", getattr(default, name)))
               for name in ("fastagi", "audiosocket")}
        self.env_b = {**env, "AITCOMMS_CONTROL_PLANE": "b",
                      "AITCOMMS_PORT_HTTP": str(self.http_b),
                      "AITCOMMS_PORT_FASTAGI": str(own["fastagi"] + 50),
                      "AITCOMMS_PORT_AUDIOSOCKET": str(own["audiosocket"] + 50)}
        self.var_dir = Path(env["AITCOMMS_VAR"])
        self.b: subprocess.Popen[bytes] | None = None

    def start_b(self) -> None:
        log = (self.var_dir / "log" / "control-b.log").open("ab")
        self.b = subprocess.Popen([sys.executable, "-m", "control", "serve"], env=self.env_b,
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def stop_b(self) -> None:
        if self.b and self.b.poll() is None:
            self.b.terminate()
            try:
                self.b.wait(15)
            except subprocess.TimeoutExpired:
                self.b.kill()

    def port(self, name: str) -> int:
        return self.http_a if name == "a" else self.http_b

    def kill(self, name: str) -> None:
        if name == "a":
            os.kill(int((self.var_dir / "run" / "control.pid").read_text()), signal.SIGKILL)
        else:
            assert self.b is not None
            self.b.kill()
            self.b.wait()


async def trial(planes: Planes, callers: int, token: dict[str, str]) -> Trial:
    before = _holder()
    assert before is not None, "nobody holds the lease"
    name = str(before["name"])
    killed = time.monotonic()
    planes.kill(name)
    lease_at = await _until(lambda: (h := _holder()) is not None
                            and h["token"] > before["token"], 30)
    holder = _holder()
    survivor = str(holder["name"]) if holder and lease_at else None
    ari_at = live_at = None
    if survivor:
        port = planes.port(survivor)
        ari_at = await _until(lambda: (_get(port, "/health")[1] or {}).get("ari") == "up", 30)
        if survivor not in token:
            token[survivor] = _login(port)

        def live() -> bool:
            got, body = _get(port, "/api/v1/calls/live", token[survivor])
            return got == 200 and len(body["calls"]) == callers
        live_at = await _until(live, 30)
    if name == "b":
        planes.start_b()  # the supervisor restarts "a" by itself
    # the killed one is back (as a follower) before the next trial
    await _until(lambda: (_get(planes.port(name), "/health")[1] or {}).get("ari")
                 == "following", 60)

    def since(at: float | None) -> float | None:
        return None if at is None else at - killed
    return Trial(name, since(lease_at), since(ari_at), since(live_at), survivor)


def _pg_url() -> str | None:
    import psycopg

    name = f"aitcomms_takeover_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"takeover: no PostgreSQL at {PG_ADMIN} ({exc}): not measured")
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _pg_drop(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[-1]}" WITH (FORCE)')


async def measure(trials: int = 3, callers: int = 10, offset: int = OFFSET
                  ) -> list[Trial] | None:
    """The trials, or None when PostgreSQL or Redis is missing (said why)."""
    import redis

    try:
        redis.Redis.from_url(REDIS).flushdb()
    except redis.RedisError as exc:
        print(f"takeover: no Redis at {REDIS} ({exc}): not measured")
        return None
    url = _pg_url()
    if url is None:
        return None
    var_dir = Path(tempfile.mkdtemp(prefix="aitcomms-takeover-"))
    env = {**stack_env(var_dir, offset=offset), "DATABASE_URL": url, "REDIS_URL": REDIS,
           "AITCOMMS_CONTROL_PLANE": "a"}
    planes = Planes(env)
    sipp: asyncio.subprocess.Process | None = None
    try:
        print(f"takeover: starting a stack (PostgreSQL, Redis) in {var_dir} ...", flush=True)
        cli(env, "up")
        cli(env, "trunk", "add", "carrier", "--host", TRUNK_IP)
        cli(env, "queue", "add", "takeover", "--max-wait", "600")
        cli(env, "did", "add", DID, "--to", "queue:takeover")
        cli(env, "user", "add", USER, "--role", "supervisor", "--password", PASSWORD)
        planes.start_b()
        if await _until(lambda: (_get(planes.http_b, "/health")[1] or {}).get("ari")
                        == "following", 60) is None:
            raise SystemExit("takeover: control plane b did not come up as a follower")
        work = var_dir / "bench"
        work.mkdir(exist_ok=True)
        caller = scenario(ROOT / "bench" / "sipp" / "caller.xml", work, call_ms=600000,
                          audio_ms=1000, pcap=caller_pcap(work / "voice.pcap", 1000))
        sipp = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{PORTS['SIP'] + offset}", "-sf", caller, "-i", TRUNK_IP,
            "-mi", TRUNK_IP, "-s", DID, "-m", str(callers), "-l", str(callers), "-r", "5",
            "-key", "caller", "34600000000", "-key", "rtp_port", "7090", "-nostdin",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        token = {"a": _login(planes.http_a)}
        if await _until(lambda: len((_get(planes.http_a, "/api/v1/calls/live", token["a"])[1]
                                     or {}).get("calls", [])) == callers, 30) is None:
            raise SystemExit(f"takeover: the {callers} callers did not all arrive")
        results = []
        for i in range(trials):
            result = await trial(planes, callers, token)
            token.pop(result.killed, None)  # a new process: its login again
            print(f"  trial {i + 1}: killed {result.killed}, survivor {result.survivor}, "
                  f"lease {_s(result.lease_s)}, ARI {_s(result.ari_s)}, "
                  f"calls live {_s(result.live_s)}", flush=True)
            results.append(result)
        return results
    finally:
        if sipp and sipp.returncode is None:
            sipp.kill()
        planes.stop_b()
        cli(env, "down")
        _pg_drop(url)


def _s(value: float | None) -> str:
    return "failed" if value is None else f"{value:.2f} s"


def summary(results: list[Trial] | None) -> str:
    """One line: the median and worst of each time over the trials."""
    if not results:
        return "not measured (needs PostgreSQL and Redis)"
    parts = []
    for label, values in (("lease", [r.lease_s for r in results]),
                          ("ARI", [r.ari_s for r in results]),
                          ("calls live", [r.live_s for r in results])):
        done = [v for v in values if v is not None]
        failed = len(values) - len(done)
        parts.append(f"{label} {statistics.median(done):.2f}/{max(done):.2f} s"
                     if done else f"{label} failed")
        if failed:
            parts[-1] += f" ({failed} failed)"
    return f"median/worst of {len(results)}: " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--callers", type=int, default=10)
    args = parser.parse_args()
    results = asyncio.run(measure(args.trials, args.callers))
    print(f"control plane takeover (kill -9 of the lease holder, {args.callers} callers "
          f"waiting): {summary(results)}")


if __name__ == "__main__":
    main()
