"""The processes of one stack and how to start, stop and check each.

Each component runs detached (its own session) with a pid file in var/run and
its output in var/log, so ``aitcomms up`` returns while the stack keeps running
and ``aitcomms status`` can tell, for each, whether it is up and why not.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from control.settings import Settings


@dataclass
class Component:
    name: str
    argv: list[str]
    ports: list[tuple[str, int]]  # (protocol, port) it must listen on, on 127.0.0.1
    pid_file: Path
    log_file: Path
    # Kamailio daemonises itself and writes its own pid file; the others are
    # ours to record.
    writes_own_pid: bool = False
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[], None] | None = None

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        # A zombie is not running (a child of ours that exited).
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        return None if state == "Z" else pid

    def listening(self) -> list[tuple[str, int, bool]]:
        return [(proto, port, port_open(proto, port)) for proto, port in self.ports]

    def status(self) -> tuple[bool, str]:
        """(up, why not)."""
        pid = self.pid()
        if pid is None:
            reason = "not running"
            tail = last_error_line(self.log_file)
            if tail:
                reason += f" (last log line: {tail})"
            return False, reason
        closed = [f"{proto}/{port}" for proto, port, ok in self.listening() if not ok]
        if closed:
            return False, f"running (pid {pid}) but not listening on {', '.join(closed)}"
        return True, ""

    def start(self) -> None:
        if self.pid() is not None:
            return
        if self.prepare:
            self.prepare()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.unlink(missing_ok=True)
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        env = {**os.environ, **self.env}
        proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, close_fds=True,
        )
        log.close()
        if not self.writes_own_pid:
            self.pid_file.write_text(f"{proc.pid}\n")

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.1)
        if self.pid() is not None:
            _signal_group(pid, signal.SIGKILL)
            time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(os.getpgid(pid), sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def port_open(proto: str, port: int, host: str = "127.0.0.1") -> bool:
    """Is something listening there? TCP: connect. UDP: look in /proc/net/udp."""
    if proto == "tcp":
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            return s.connect_ex((host, port)) == 0
    wanted = f":{port:04X}"
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1].endswith(wanted) for line in lines)


def last_error_line(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            lines = fh.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if any(word in line for word in ("ERROR", "CRITICAL", "error", "failed", "Traceback")):
            return line.strip()[:200]
    return lines[-1].strip()[:200] if lines else ""


def components(settings: Settings) -> list[Component]:
    """In start order: media first, then the edge, then the control plane."""
    p = settings.ports
    run, log = settings.run_dir, settings.log_dir
    rtp_ip = settings.public_ip
    return [
        Component(
            name="asterisk",
            argv=["chroot", str(settings.rootfs), "/usr/sbin/asterisk", "-f", "-n", "-C",
                  settings.asterisk_conf],
            ports=[("udp", p.asterisk_sip), ("tcp", p.ami), ("tcp", p.ari)],
            pid_file=run / "asterisk.pid",
            log_file=log / "asterisk.log",
        ),
        Component(
            name="rtpengine",
            argv=["rtpengine", "--foreground", "--log-stderr", "--config-file=none",
                  "--table=-1", f"--interface={rtp_ip}",
                  f"--listen-ng=127.0.0.1:{p.rtpengine_ng}",
                  f"--port-min={p.rtpengine_min}", f"--port-max={p.rtpengine_max}",
                  "--delete-delay=5", "--log-level=5"],
            ports=[("udp", p.rtpengine_ng)],
            pid_file=run / "rtpengine.pid",
            log_file=log / "rtpengine.log",
        ),
        Component(
            name="kamailio",
            argv=["kamailio", "-DD", "-E", "-f", str(settings.kamailio_dir / "kamailio.cfg"),
                  "-P", str(run / "kamailio.pid"), "-Y", str(run / "kamailio")],
            ports=[("udp", p.sip), ("tcp", p.sip), ("tcp", p.ws), ("tcp", p.wss)],
            pid_file=run / "kamailio.pid",
            log_file=log / "kamailio.log",
            writes_own_pid=True,
            prepare=lambda: (run / "kamailio").mkdir(parents=True, exist_ok=True),
        ),
        Component(
            name="control",
            argv=[sys.executable, "-m", "control", "serve"],
            ports=[("tcp", p.http)],
            pid_file=run / "control.pid",
            log_file=log / "control.log",
            env={"AITCOMMS_VAR": str(settings.var_dir)},
        ),
    ]
