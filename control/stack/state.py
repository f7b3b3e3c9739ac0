"""The supervisor's record of each daemon, in a JSON file in var/run.

The supervisor writes it (atomically: a temporary file renamed over the old
one, so a reader never sees half a file) whenever something changes: a daemon
came up, died, is waiting out its back-off, or was given up on. ``aitcomms
status`` and ``aitcomms up`` only read it. A missing or unreadable file reads
as "no record": status then shows no restart counts, it does not fail.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATE_FILE = "supervisor.json"  # in var/run


@dataclass
class ExitRecord:
    at: float  # epoch seconds
    code: int | None = None  # exit code, when it exited
    signal: int | None = None  # signal number, when killed
    uptime_s: float = 0.0
    reason: str = ""  # when there is no status: why it counts as dead

    @classmethod
    def from_wait_status(cls, status: int, at: float, uptime_s: float) -> ExitRecord:
        if os.WIFSIGNALED(status):
            return cls(at=at, signal=os.WTERMSIG(status), uptime_s=uptime_s)
        return cls(at=at, code=os.waitstatus_to_exitcode(status), uptime_s=uptime_s)

    @property
    def clean(self) -> bool:
        """Stopped on purpose, as systemd's Restart=on-failure counts it."""
        if self.signal is not None:
            return self.signal in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)
        return self.code == 0

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.at, UTC).strftime("%H:%M:%SZ")
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = "?"
            what = f"signal {self.signal} ({name})"
        elif self.code is not None:
            what = f"exit code {self.code}"
        else:
            return f"{when} {self.reason or 'unknown'} after {self.uptime_s:.0f}s"
        why = f" ({self.reason})" if self.reason else ""
        return f"{when} {what} after {self.uptime_s:.0f}s{why}"


@dataclass
class ComponentRecord:
    phase: str = "starting"  # starting, running, backoff, gave_up, stopped (cleanly)
    pid: int | None = None
    restarts: int = 0
    streak: int = 0
    next_start_at: float | None = None  # epoch seconds, in back-off
    last_exit: ExitRecord | None = None


@dataclass
class SupervisorState:
    pid: int = 0
    started_at: float = 0.0
    components: dict[str, ComponentRecord] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> SupervisorState | None:
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
            comps = {}
            for name, rec in raw.get("components", {}).items():
                last = rec.pop("last_exit", None)
                comps[name] = ComponentRecord(**rec,
                                              last_exit=ExitRecord(**last) if last else None)
            return cls(pid=int(raw["pid"]), started_at=float(raw["started_at"]),
                       components=comps)
        except (OSError, ValueError, KeyError, TypeError):
            return None
