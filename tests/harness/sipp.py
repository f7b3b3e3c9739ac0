"""Run SIPp scenarios from tests/sipp/ against the test stack."""

from __future__ import annotations

import asyncio
import csv
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"


@dataclass
class SippResult:
    returncode: int
    successful: int
    failed: int
    output: str


def scenario(name: str, **placeholders: object) -> Path:
    """A scenario file with its @PLACEHOLDERS@ filled in."""
    text = (SCENARIOS / f"{name}.xml").read_text()
    for key, value in placeholders.items():
        text = text.replace(f"@{key.upper()}@", str(value))
    left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if left:  # SIPp would take "@X@" literally (an optional="@X@" is not true)
        raise ValueError(f"scenario {name}: no value for {', '.join(left)}")
    fd, path = tempfile.mkstemp(prefix=f"sipp-{name}-", suffix=".xml")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return Path(path)


def caller_scenario(call_ms: int, *, challenged: bool = False,
                    far_end_hangs_up: bool = False) -> Path:
    """caller.xml: a call of at most ``call_ms``.

    ``challenged``: the 407 digest challenge is required (a test proving auth;
    the call fails without it), else optional (a trunk, trusted by address).
    ``far_end_hangs_up``: the call must be ended by the far end's BYE within
    ``call_ms``; if the caller has to hang up itself, the call fails.
    """
    return scenario("caller", call_ms=call_ms, auth_optional=str(not challenged).lower(),
                    on_call_end="gave_up" if far_end_hangs_up else "hangup")


class Sipp:
    """One SIPp process. ``await run()`` for a client that ends by itself;
    ``start()`` then ``wait()`` for a UAS (an agent's phone) that answers later."""

    def __init__(self, scenario_file: Path, target: str, *, local_ip: str = "127.0.0.1",
                 local_port: int = 0, service: str | None = None, calls: int = 1,
                 rate: float | None = None, keys: dict[str, object] | None = None,
                 auth: tuple[str, str] | None = None, timeout_s: int = 30,
                 extra: list[str] | None = None) -> None:
        self.stat_file = Path(tempfile.mkstemp(prefix="sipp-stat-", suffix=".csv")[1])
        self.argv = ["sipp", target, "-sf", str(scenario_file), "-i", local_ip,
                     "-mi", local_ip, "-m", str(calls), "-nostdin",
                     "-timeout", f"{timeout_s}s", "-timeout_error",
                     "-trace_stat", "-stf", str(self.stat_file), "-fd", "1",
                     "-recv_timeout", "15000", "-max_retrans", "3"]
        if local_port:
            self.argv += ["-p", str(local_port)]
        if service:
            self.argv += ["-s", service]
        if rate:
            self.argv += ["-r", str(rate), "-rp", "1000"]
        if auth:
            self.argv += ["-au", auth[0], "-ap", auth[1]]
        for key, value in (keys or {}).items():
            self.argv += ["-key", key, str(value)]
        self.argv += extra or []
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )

    async def wait(self, timeout: float = 60) -> SippResult:
        assert self.proc is not None
        try:
            out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            self.proc.kill()
            out, _ = await self.proc.communicate()
        successful, failed = self.counts()
        return SippResult(self.proc.returncode or 0, successful, failed,
                          out.decode(errors="replace"))

    async def run(self, timeout: float = 60) -> SippResult:
        await self.start()
        return await self.wait(timeout)

    def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()

    def counts(self) -> tuple[int, int]:
        """Successful and failed calls so far (SIPp writes them once a second)."""
        try:
            rows = list(csv.DictReader(self.stat_file.open(), delimiter=";"))
        except OSError:
            return 0, 0
        if not rows:
            return 0, 0
        last = rows[-1]
        return int(last.get("SuccessfulCall(C)", 0) or 0), int(last.get("FailedCall(C)", 0) or 0)
