"""The processes of one stack and how to start, stop and check each.

Each component runs detached (its own session, so its own process group) with
a pid file in var/run and its output in var/log, so ``aitcomms up`` returns
while the stack keeps running and ``aitcomms status`` can tell, for each,
whether it is up and why not. The stack's supervisor (``supervisor.py``)
starts them with ``spawn`` and restarts them when they die.

Stopping signals the whole process group: Kamailio's workers outlive a
killed main process and keep its ports, so a restart or ``down`` that only
signalled the main pid would leave them behind (and the next Kamailio could
not bind).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from control.settings import Ports, Settings
from control.stack import media_nodes, probes


@dataclass
class Component:
    name: str
    argv: list[str]
    ports: list[tuple[str, int]]  # (protocol, port) it must listen on, on 127.0.0.1
    pid_file: Path
    log_file: Path
    # Kamailio writes its own pid file (with -DD -E the process started stays
    # its main one here, but calls setsid; the supervisor copes with a fork
    # too); the others' pids are ours to record.
    writes_own_pid: bool = False
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[], None] | None = None
    # asked while it runs: None when it answers, else why not (probes.py)
    probe: probes.Probe | None = None

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

    def spawn(self) -> int:
        """Start it detached and return the pid of the process started (for
        Kamailio the launcher, which exits once its main process has forked and
        written the pid file). ``posix_spawn`` rather than ``subprocess``: the
        supervisor reaps every child itself, and Popen objects would reap (and
        hide) exit statuses of their own."""
        if self.prepare:
            self.prepare()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.unlink(missing_ok=True)
        pid = os.posix_spawnp(
            self.argv[0], self.argv, {**os.environ, **self.env},
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(self.log_file),
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
        if not self.writes_own_pid:
            self.pid_file.write_text(f"{pid}\n")
        return pid

    def exec(self) -> None:
        """Become the component, in the foreground (systemd units): same
        command and environment as ``spawn``, output to the caller's."""
        if self.prepare:
            self.prepare()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        if not self.writes_own_pid:
            self.pid_file.write_text(f"{os.getpid()}\n")
        os.execvpe(self.argv[0], self.argv, {**os.environ, **self.env})

    def recorded_pid(self) -> int | None:
        """The pid in the pid file, alive or not."""
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            # its leader died: what is left of its group (Kamailio's workers) goes
            stale = self.recorded_pid()
            if stale is not None:
                kill_leftovers(stale)
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
    # every component leads its own group (setsid at spawn; Kamailio's main
    # calls setsid itself), so its pid is its group's id, also once it is dead
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_leftovers(dead_leader: int) -> None:
    """SIGKILL what is left of the process group of a leader that is dead.
    Safe with a stale pid: the kernel does not hand out a pid while a group
    of that id exists, so a group with this id can only be the dead leader's."""
    try:
        os.kill(dead_leader, 0)
        alive = Path(f"/proc/{dead_leader}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, OSError, IndexError):
        alive = False
    if alive:  # the pid is in use again: not ours to touch
        return
    try:
        os.killpg(dead_leader, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
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


def supervisor_component(settings: Settings) -> Component:
    """The supervisor as a process: started by ``up``, it writes its own pid
    file once it holds the stack's supervisor lock."""
    return Component(
        name="supervisor",
        # `aitcomms supervise` without the CLI's imports
        argv=[sys.executable, "-m", "control.stack.supervisor"],
        ports=[],
        pid_file=settings.run_dir / "supervisor.pid",
        log_file=settings.log_dir / "supervisor.log",
        writes_own_pid=True,
        env={"AITCOMMS_VAR": str(settings.var_dir)},
    )


def _asterisk(settings: Settings, name: str, conf: str, p: Ports) -> Component:
    run, log = settings.run_dir, settings.log_dir
    return Component(
        name=name,
        argv=["chroot", str(settings.rootfs), "/usr/sbin/asterisk", "-f", "-n", "-C", conf],
        ports=[("udp", p.asterisk_sip), ("tcp", p.ami), ("tcp", p.ari)],
        pid_file=run / f"{name}.pid",
        log_file=log / f"{name}.log",
        probe=probes.ami_banner(p.ami, settings.liveness.timeout_s),
    )


def node_components(settings: Settings) -> list[Component]:
    """The media nodes this box runs beside its own Asterisk
    (``media_nodes.py``), by slot: ``asterisk-<name>``."""
    return [_asterisk(settings, node.component, media_nodes.asterisk_conf(settings, node.name),
                      media_nodes.node_ports(settings.ports, node.slot))
            for node in media_nodes.read_local_nodes(settings)]


def components(settings: Settings) -> list[Component]:
    """In start order: media first (the stack's own Asterisk, then the media
    nodes it runs), then the edge, then the control plane."""
    p = settings.ports
    run, log = settings.run_dir, settings.log_dir
    wait = settings.liveness.timeout_s
    rtp_ip = settings.public_ip
    return [
        _asterisk(settings, "asterisk", settings.asterisk_conf, p),
        *node_components(settings),
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
            probe=probes.rtpengine_ping(p.rtpengine_ng, wait),
        ),
        Component(
            name="kamailio",
            argv=["kamailio", "-DD", "-E", "-f", str(settings.kamailio_dir / "kamailio.cfg"),
                  "-P", str(run / "kamailio.pid"), "-Y", str(run / "kamailio")],
            ports=[("udp", p.sip), ("tcp", p.sip), ("tcp", p.sips), ("tcp", p.ws), ("tcp", p.wss)],
            pid_file=run / "kamailio.pid",
            log_file=log / "kamailio.log",
            writes_own_pid=True,
            prepare=lambda: (run / "kamailio").mkdir(parents=True, exist_ok=True),
            probe=probes.sip_options(p.sip, wait),
        ),
        Component(
            name="control",
            argv=[sys.executable, "-m", "control", "serve"],
            ports=[("tcp", p.http)],
            pid_file=run / "control.pid",
            log_file=log / "control.log",
            env={"AITCOMMS_VAR": str(settings.var_dir)},
            probe=probes.http_answer(p.http, wait),
        ),
    ]
