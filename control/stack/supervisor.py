"""The stack's own supervisor: restarts any daemon of the stack that dies.

These machines run no systemd (containers), so ``aitcomms up`` starts this
small process (``aitcomms supervise``, detached, pid file and lock in
var/run, log in var/log/supervisor.log). It starts each component the same
way ``up`` always did, in order (media, edge, control plane), and from then
on watches them: a daemon that dies is restarted after the back-off of
``backoff.py``, and its restarts and last exit (time, exit code or signal)
go to the state file ``aitcomms status`` reads (``state.py``). Like systemd's
``Restart=on-failure`` (the units in deploy/systemd/): a daemon that exits
cleanly (code 0, or SIGTERM, SIGINT, SIGHUP, SIGPIPE) was stopped on purpose
(``asterisk -rx 'core stop now'``, a benchmark measuring app_queue without the
control plane) and is left stopped until ``aitcomms up``.

How it knows a daemon died, with its exit status: every daemon is its child
(spawned here), and it is a *child subreaper*, so Kamailio's main process,
whose launcher exits after forking it, is re-parented to it too; one
``waitpid(-1)`` loop reaps them all (a daemon whose main thread is gone
while its other threads still exit, Asterisk killed, is waited for until
waitpid reports it). A daemon it did not start (left running
by a supervisor that was stopped) is adopted and watched by its pid alone:
its exit status is then unknown, and said so.

A daemon that hangs while alive (stopped, deadlocked, its loop blocked) is
found by its liveness probe (``probes.py``), asked from a thread every few
seconds while it runs: after several misses in a row the supervisor kills it
(SIGKILL to its process group) and the restart above follows; its last exit
then says it was killed for not answering.

How it fails: a probe only proves the daemon's front door answers, not that
every part of it works. If the supervisor itself dies, the daemons keep
running unsupervised (``aitcomms status`` says so; ``aitcomms up`` starts a
new one, which adopts them). SIGTERM (``aitcomms down``) stops it without
touching the daemons, so ``down`` can stop them without a race; SIGHUP
(``aitcomms up``) re-arms a daemon it had given up on; SIGUSR1 (``aitcomms
node add --local`` / ``node remove``) re-reads the media nodes it runs
(``media_nodes.py``), starting a new one and forgetting a removed one.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from control.settings import Settings
from control.stack.backoff import Backoff, after_exit
from control.stack.components import Component, components, kill_leftovers
from control.stack.state import STATE_FILE, ComponentRecord, ExitRecord, SupervisorState

log = logging.getLogger("aitcomms.supervisor")

POLL_S = 0.2
START_TIMEOUT_S = 60.0
# Kamailio's launcher exits once the main process runs; its pid file follows
PID_FILE_GRACE_S = 10.0
# A killed multi-threaded daemon (Asterisk): its main thread is a zombie in
# /proc before its other threads are gone, and waitpid() reports it only
# once they are; its exit status is waited for this long before "unknown"
EXIT_GRACE_S = 5.0
PR_SET_CHILD_SUBREAPER = 36


@dataclass
class Watch:
    """One component under watch."""

    comp: Component
    record: ComponentRecord = field(default_factory=ComponentRecord)
    pid: int | None = None  # the daemon (Kamailio: its main process)
    # what was spawned when the pid file may name another process (Kamailio),
    # until it is reaped or turns out to be the daemon itself
    launcher: int | None = None
    ours: bool = True  # our child: its exit status will be reaped here
    started: float = 0.0  # monotonic
    restart_at: float = 0.0  # monotonic, in back-off
    misses: int = 0  # liveness probes unanswered in a row (the prober thread's)
    last_miss: str = ""
    hung: str | None = None  # why it was killed for not answering, until reaped
    gone_at: float | None = None  # monotonic: seen dead, its exit status not yet reaped


class Supervisor:
    def __init__(self, settings: Settings, policy: Backoff | None = None,
                 comps: list[Component] | None = None, poll_s: float = POLL_S) -> None:
        self.settings = settings
        self.poll_s = poll_s
        self.policy = policy or Backoff()
        # components given (tests' toy daemons): fixed; else the stack's, re-read
        # on SIGUSR1 when a media node is added or removed (``refresh``)
        self._fixed = comps is not None
        self.watches = [Watch(c) for c in (comps if comps is not None else components(settings))]
        self.reaped: dict[int, tuple[int, float]] = {}  # pid -> (wait status, monotonic)
        self.state = SupervisorState(pid=os.getpid(), started_at=time.time(),
                                     components={w.comp.name: w.record for w in self.watches})
        self._stopping = False
        self._rearm = False
        self._reread = False
        self._dirty = True
        self._probing = threading.Event()  # set: stop probing

    # -- the process ------------------------------------------------------------

    def run(self) -> int:
        s = self.settings
        s.run_dir.mkdir(parents=True, exist_ok=True)
        lock = open(s.run_dir / "supervisor.lock", "a")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another supervisor holds %s: nothing to do", lock.name)
            return 0
        pid_file = s.run_dir / "supervisor.pid"
        pid_file.write_text(f"{os.getpid()}\n")
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_rearm)
        signal.signal(signal.SIGUSR1, self._on_reread)
        if not _become_subreaper():
            log.warning("not a child subreaper: Kamailio's exit status will be unknown")
        log.info("supervising %s (pid %d)", ", ".join(w.comp.name for w in self.watches),
                 os.getpid())
        prober = threading.Thread(target=self._probe_loop, name="liveness", daemon=True)
        try:
            self._adopt()
            prober.start()
            while not self._stopping:
                try:
                    self.tick()
                except Exception:  # a bug here must not end all supervision
                    log.exception("supervisor pass failed; carrying on")
                time.sleep(self.poll_s)
            self._finish_starts()
        finally:
            self._probing.set()
            self._write_state(force=True)
            with contextlib.suppress(OSError):
                if pid_file.read_text().strip() == str(os.getpid()):
                    pid_file.unlink()
            log.info("supervisor stopped; daemons left as they are")
        return 0

    def _on_stop(self, _sig: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _on_rearm(self, _sig: int, _frame: FrameType | None) -> None:
        self._rearm = True

    def _on_reread(self, _sig: int, _frame: FrameType | None) -> None:
        self._reread = True

    def refresh(self) -> None:
        """The stack's components read again (``aitcomms node add --local``
        or ``node remove`` changed the media nodes it runs): a new one starts
        on the next ticks, in its place in the start order; one that is gone
        is no longer watched, and its daemon is left as it is: ``node remove``
        stops it once this is done (stopped before, with SIGKILL if it hung,
        it would have been restarted)."""
        if self._fixed:
            return
        wanted = components(self.settings)
        by_name = {w.comp.name: w for w in self.watches}
        now = time.monotonic()
        watches = []
        for comp in wanted:
            w = by_name.pop(comp.name, None)
            if w is None:
                w = Watch(comp)
                w.record.phase, w.restart_at = "backoff", now
                log.info("%s: new component, starting it", comp.name)
            watches.append(w)
        for name, gone in by_name.items():
            if gone.pid is not None and _alive(gone.pid):
                log.info("%s: no longer a component, no longer watched (pid %d: `node "
                         "remove` stops it)", name, gone.pid)
            else:
                log.info("%s: no longer a component", name)
        self.watches = watches
        self.state.components = {w.comp.name: w.record for w in watches}
        self._dirty = True

    def _adopt(self) -> None:
        """Daemons already running are watched as they are; the others start
        in order on the first ticks."""
        now = time.monotonic()
        for w in self.watches:
            pid = w.comp.pid()
            if pid is None:
                w.record.phase, w.restart_at = "backoff", now
                continue
            w.pid, w.ours, w.started = pid, False, now
            w.record.pid = pid
            w.record.phase = "running" if w.comp.status()[0] else "starting"
            log.info("%s: adopted pid %d (its exit status will be unknown)", w.comp.name, pid)

    def _finish_starts(self) -> None:
        """Stopping while Kamailio's launcher runs: wait for its pid file, so
        that ``down`` finds the main process to stop."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(
                w.record.phase == "starting" and w.pid is None for w in self.watches):
            self._reap()
            for w in self.watches:
                if w.pid is None and w.comp.writes_own_pid:
                    w.pid = w.comp.pid()
            time.sleep(0.1)

    # -- liveness ---------------------------------------------------------------

    def _probe_loop(self) -> None:
        """Off the main loop: a probe may wait its whole timeout. It only
        counts misses; the kill is decided in ``tick``."""
        live = self.settings.liveness
        while not self._probing.wait(live.interval_s):
            for w in self.watches:
                pid = w.pid
                if w.comp.probe is None or pid is None or w.record.phase != "running" \
                        or w.hung is not None:
                    w.misses = 0
                    continue
                why = w.comp.probe()
                if w.pid != pid:  # it died and restarted meanwhile
                    continue
                if why is None:
                    w.misses = 0
                else:
                    w.misses, w.last_miss = w.misses + 1, why
                    log.warning("%s: no answer to its liveness probe (%d in a row): %s",
                                w.comp.name, w.misses, why)

    def _kill_if_hung(self, w: Watch) -> None:
        failures = self.settings.liveness.failures
        if w.pid is None or w.hung is not None or w.misses < failures:
            return
        w.hung = (f"killed by the supervisor: {w.misses} liveness probes unanswered "
                  f"({w.last_miss})")
        log.error("%s: hung (pid %d, %s); killing it", w.comp.name, w.pid, w.last_miss)
        try:
            os.killpg(w.pid, signal.SIGKILL)  # its group: Kamailio's workers too
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(w.pid, signal.SIGKILL)

    # -- one pass ---------------------------------------------------------------

    def tick(self) -> None:
        self._reap()
        if self._reread:
            self._reread = False
            self.refresh()
        if self._rearm:
            self._rearm = False
            for w in self.watches:
                if w.record.phase in ("gave_up", "stopped"):
                    log.info("%s: re-armed", w.comp.name)
                    w.record.phase, w.record.streak, w.restart_at = "backoff", 0, 0.0
                    self._dirty = True
        starting = False  # a component waits while one before it starts
        for w in self.watches:
            self._check(w, blocked=starting)
            starting = starting or w.record.phase == "starting"
        horizon = time.monotonic() - 120  # statuses of processes never claimed
        self.reaped = {p: v for p, v in self.reaped.items() if v[1] > horizon}
        self._write_state()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped[pid] = (status, time.monotonic())

    def _check(self, w: Watch, *, blocked: bool) -> None:
        now = time.monotonic()
        phase = w.record.phase
        if phase in ("gave_up", "stopped"):
            return
        if phase == "backoff":
            if now >= w.restart_at and not blocked:
                self._start(w)
            return
        if w.pid is None and w.comp.writes_own_pid:
            w.pid = w.comp.pid()
            if w.pid is not None:
                w.record.pid = w.pid
                self._dirty = True
                if w.pid == w.launcher:  # it did not fork: the launcher is the daemon
                    w.launcher = None
        if w.launcher is not None and w.launcher in self.reaped:
            status, _ = self.reaped.pop(w.launcher)
            w.launcher = None
            if w.pid is None and status != 0:
                self._died(w, ExitRecord.from_wait_status(status, time.time(), now - w.started))
                return
        if w.pid is None and w.launcher is None and w.comp.writes_own_pid \
                and now - w.started > PID_FILE_GRACE_S:
            self._died(w, ExitRecord(at=time.time(), uptime_s=now - w.started,
                                     reason="no pid file after its launcher exited"))
            return
        if w.pid is not None and not _alive(w.pid):
            self._reap()  # it may have died since this tick's reaping
            found = self.reaped.pop(w.pid, None)
            if found is None and w.ours and Path(f"/proc/{w.pid}").exists():
                w.gone_at = w.gone_at or now
                if now - w.gone_at < EXIT_GRACE_S:
                    return  # its other threads are still exiting: next tick
            if found is not None:
                record = ExitRecord.from_wait_status(found[0], time.time(), now - w.started)
            else:
                whose = "reaped elsewhere" if w.ours else "not started by this supervisor"
                record = ExitRecord(at=time.time(), uptime_s=now - w.started,
                                    reason=f"exit status unknown ({whose})")
            self._died(w, record)
            return
        if phase == "running":
            self._kill_if_hung(w)
        if phase == "starting":
            up, why = w.comp.status()
            if up:
                w.record.phase = "running"
                self._dirty = True
                log.info("%s: up (pid %s) after %.1f s", w.comp.name, w.pid, now - w.started)
            elif now - w.started > START_TIMEOUT_S:
                if w.pid is not None:
                    os.kill(w.pid, signal.SIGKILL)
                    kill_leftovers(w.pid)
                self._died(w, ExitRecord(at=time.time(), uptime_s=now - w.started,
                                         reason=f"did not come up in {START_TIMEOUT_S:.0f} s: "
                                                f"{why}"))

    def _start(self, w: Watch) -> None:
        restart = w.record.last_exit is not None
        w.started = time.monotonic()
        w.pid, w.launcher, w.ours = None, None, True
        try:
            spawned = w.comp.spawn()
        except OSError as exc:
            self._died(w, ExitRecord(at=time.time(), reason=f"could not start: {exc}"))
            return
        if w.comp.writes_own_pid:
            w.launcher = spawned
        else:
            w.pid = spawned
        w.record.pid = w.pid
        w.record.phase = "starting"
        w.record.next_start_at = None
        if restart:
            w.record.restarts += 1
        self._dirty = True
        log.info("%s: %s (pid %d)", w.comp.name, "restarted" if restart else "started", spawned)

    def _died(self, w: Watch, record: ExitRecord) -> None:
        if w.pid is not None:
            kill_leftovers(w.pid)  # e.g. Kamailio's workers, which hold its ports
        if w.hung is not None:
            record.reason, w.hung = w.hung, None
        w.misses, w.gone_at = 0, None
        w.record.last_exit = record
        w.record.pid = None
        w.pid = w.launcher = None
        self._dirty = True
        if record.clean:
            w.record.phase, w.record.next_start_at = "stopped", None
            log.info("%s: stopped (%s); not restarted until `aitcomms up`", w.comp.name,
                     record.describe())
            return
        decision = after_exit(self.policy, w.record.streak, record.uptime_s)
        w.record.streak = decision.streak
        if decision.delay_s is None:
            w.record.phase = "gave_up"
            w.record.next_start_at = None
            log.error("%s: died (%s); gave up after %d quick deaths in a row: see %s, then "
                      "`aitcomms up`", w.comp.name, record.describe(), decision.streak,
                      w.comp.log_file)
            return
        w.record.phase = "backoff"
        w.restart_at = time.monotonic() + decision.delay_s
        w.record.next_start_at = time.time() + decision.delay_s
        log.warning("%s: died (%s); restarting in %.0f s", w.comp.name, record.describe(),
                    decision.delay_s)

    def _write_state(self, force: bool = False) -> None:
        if not (self._dirty or force):
            return
        self._dirty = False
        try:
            self.state.write(self.settings.run_dir / STATE_FILE)
        except OSError as exc:  # a full disk must not stop the restarting
            log.warning("could not write the state file: %s", exc)


def _alive(pid: int) -> bool:
    """Running, not a zombie (a child of ours that exited and is not reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def supervise(settings: Settings) -> int:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return Supervisor(settings).run()


if __name__ == "__main__":  # what `up` starts: without the CLI's imports, a third the memory
    sys.exit(supervise(Settings.from_env()))
