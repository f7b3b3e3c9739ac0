"""Bring one stack up or down, apply config changes, and report its state.

``up`` starts the stack's supervisor (``supervisor.py``), which starts the
daemons and restarts any that dies; ``up`` waits for each to be up and fails
with the reason when one dies or does not come up (the supervisor keeps
trying, with back-off, until ``down``). ``down`` stops the supervisor first,
then the daemons, so nothing restarts what ``down`` stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from control.db import Database
from control.provisioning import render
from control.provisioning.nodes import (
    NodeRuntime,
    ensure_local_node,
    parse_dispatcher_list,
    sync_local_nodes,
)
from control.provisioning.registrations import ensure_location_table
from control.secrets import NODE_REQUIRED, ensure_secrets
from control.settings import Settings
from control.stack import media_nodes
from control.stack.components import (
    Component,
    components,
    last_error_line,
    supervisor_component,
)
from control.stack.state import STATE_FILE, ComponentRecord, SupervisorState


class StackError(RuntimeError):
    pass


@dataclass
class ComponentStatus:
    name: str
    up: bool
    pid: int | None
    ports: str
    reason: str
    restarts: int | None = None  # None: no supervisor record
    last_exit: str = ""


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.components = components(settings)
        self.supervisor = supervisor_component(settings)

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    # -- set-up -------------------------------------------------------------

    def prepare(self, need_rootfs: bool = True) -> Database:
        """Folders, secrets, certificate, schema and rendered configs. Idempotent.
        Without ``need_rootfs`` it only renders (docker-compose: Asterisk runs
        in its own container and reads the rendered files from a volume)."""
        s = self.settings
        if need_rootfs and not (s.rootfs / "usr/sbin/asterisk").exists():
            raise StackError(
                f"no Asterisk root filesystem at {s.rootfs}: run `make setup` "
                "(or asterisk/build-rootfs.sh DIR and set AITCOMMS_ROOTFS)"
            )
        for d in (s.var_dir, s.run_dir, s.log_dir, s.kamailio_dir, s.recordings_dir):
            d.mkdir(parents=True, exist_ok=True)
        s.var_dir.chmod(0o700)
        for sub in media_nodes.ASTERISK_FOLDERS:
            (s.asterisk_dir / sub).mkdir(parents=True, exist_ok=True)
        ensure_secrets(s.secrets_file)
        self._ensure_certificate()
        db = Database(s)
        db.upgrade()
        if s.kamailio_usrloc_db_mode:
            ensure_location_table(db)
        ensure_local_node(db, s)  # Kamailio's dispatcher needs one media node: this Asterisk
        if sync_local_nodes(db, s):  # the media nodes this box runs beside it
            self.components = components(s)
        self.render(db)
        return db

    def _ensure_certificate(self) -> None:
        tls = self.settings.tls_dir
        if (tls / "cert.pem").exists() and (tls / "key.pem").exists():
            return
        tls.mkdir(parents=True, exist_ok=True)
        tls.chmod(0o700)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
             "-subj", f"/CN={self.settings.sip_domain}",
             "-addext", f"subjectAltName=DNS:localhost,IP:127.0.0.1,IP:{self.settings.public_ip}",
             "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem")],
            check=True, capture_output=True,
        )
        (tls / "key.pem").chmod(0o600)

    def render(self, db: Database) -> list[Path]:
        """The stack's files, then each media node's it runs (the same data)."""
        secrets = ensure_secrets(self.settings.secrets_file)
        data = render.load_data(self.settings, db)
        files = render.render_all(self.settings, secrets, data)
        for node in media_nodes.read_local_nodes(self.settings):
            files += render.render_node(self.settings, node, self.node_secrets(node.name), data)
        return render.write(files)

    def node_secrets(self, name: str) -> dict[str, str]:
        """A media node's own AMI and ARI passwords (generated on first use)."""
        return ensure_secrets(media_nodes.secrets_file(self.settings, name), NODE_REQUIRED)

    def asterisks(self) -> list[tuple[Component, str]]:
        """Every Asterisk of this box (its own, then its media nodes): the
        component and its asterisk.conf inside the chroot."""
        found = [(self.component("asterisk"), self.settings.asterisk_conf)]
        for node in media_nodes.read_local_nodes(self.settings):
            comp = next((c for c in self.components if c.name == node.component), None)
            if comp is not None:
                found.append((comp, media_nodes.asterisk_conf(self.settings, node.name)))
        return found

    # -- lifecycle ----------------------------------------------------------

    @staticmethod
    def under_systemd() -> bool:
        """The units of deploy/systemd run this stack (their environment file
        sets AITCOMMS_SUPERVISOR=systemd): ``up``/``down`` would fight them."""
        return os.environ.get("AITCOMMS_SUPERVISOR") == "systemd"

    def up(self, timeout: float = 60.0) -> None:
        if self.under_systemd():
            raise StackError("this stack runs under systemd (AITCOMMS_SUPERVISOR=systemd): "
                             "systemctl start aitcomms.target")
        db = self.prepare()
        db.dispose()
        began = time.time()
        sup_pid = self.supervisor.pid()
        if sup_pid is None:
            self.supervisor.spawn()
            self._wait_for_supervisor()
        else:
            os.kill(sup_pid, signal.SIGHUP)  # retry what it may have given up on
        for comp in self.components:
            self._wait_up(comp, timeout, began)

    def _wait_for_supervisor(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.supervisor.pid() is None:
            if time.monotonic() > deadline:
                raise StackError(
                    "the supervisor did not start: "
                    f"{last_error_line(self.supervisor.log_file)}\n"
                    f"  log: {self.supervisor.log_file}")
            time.sleep(0.1)

    def _wait_up(self, comp: Component, timeout: float, began: float) -> None:
        deadline = time.monotonic() + timeout
        spawned = time.monotonic()
        why = ""
        while time.monotonic() < deadline:
            up, why = comp.status()
            if up:
                return
            if self.supervisor.pid() is None and time.monotonic() - spawned > 5:
                raise StackError(
                    "the supervisor is not running, so nothing starts the stack: "
                    f"{last_error_line(self.supervisor.log_file)}\n"
                    f"  log: {self.supervisor.log_file}")
            record = self.record(comp.name)
            if record and record.last_exit and record.last_exit.at >= began:
                # it died while starting: no point waiting out the timeout
                why = f"it died ({record.last_exit.describe()}); the supervisor retries " \
                      "with back-off until `aitcomms down`"
                break
            time.sleep(0.2)
        raise StackError(
            f"{comp.name} did not come up: {why}\n"
            f"  log: {comp.log_file}\n  last line: {last_error_line(comp.log_file)}"
        )

    def down(self) -> None:
        if self.under_systemd():
            raise StackError("this stack runs under systemd (AITCOMMS_SUPERVISOR=systemd): "
                             "systemctl stop aitcomms.target")
        # the supervisor first: it would restart what is stopped next
        self.supervisor.stop(timeout=15.0)
        for comp in reversed(self.components):
            comp.stop()

    # -- media nodes this box runs (control/stack/media_nodes.py) -----------------

    def start_local_node(self, db: Database, name: str, timeout: float = 60.0) -> bool:
        """After ``name``'s row is stored: its files, folders and configs, then
        the supervisor starts it (SIGUSR1: it re-reads its components) and
        this waits until it listens. False when no supervisor runs here (the
        next ``aitcomms up`` starts it); StackError when it does not come up."""
        s = self.settings
        if self.under_systemd():
            raise StackError("this stack runs under systemd (AITCOMMS_SUPERVISOR=systemd): "
                             "a media node of its own needs a unit of its own")
        sync_local_nodes(db, s)
        self.components = components(s)
        self.render(db)
        sup_pid = self.supervisor.pid()
        if sup_pid is None:
            return False
        began = time.time()
        os.kill(sup_pid, signal.SIGUSR1)
        self._wait_up(self.component(media_nodes.component_name(name)), timeout, began)
        return True

    def stop_local_node(self, name: str) -> None:
        """The supervisor forgets it first (else it would restart a daemon
        stopped with SIGKILL), then its Asterisk is stopped and its files and
        folders go. Its log stays in var/log."""
        cname = media_nodes.component_name(name)
        comp = next((c for c in self.components if c.name == cname), None)
        (media_nodes.var_dir(self.settings, name) / "node.json").unlink(missing_ok=True)
        self.components = components(self.settings)
        sup_pid = self.supervisor.pid()
        if sup_pid is not None:
            os.kill(sup_pid, signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                state = self.supervisor_state()
                if state is None or cname not in state.components:
                    break
                time.sleep(0.1)
            else:
                raise StackError(f"the supervisor did not let go of {cname} within 10 s "
                                 f"(see {self.supervisor.log_file}); its files are kept")
        if comp is not None:
            comp.stop()
            # a killed Asterisk's main thread goes first, its other threads (and
            # its sockets) a moment later: its slot is free for a new node after
            deadline = time.monotonic() + 5
            while any(up for _, _, up in comp.listening()) and time.monotonic() < deadline:
                time.sleep(0.1)
        media_nodes.forget_local_node(self.settings, name)

    def supervisor_state(self) -> SupervisorState | None:
        return SupervisorState.read(self.settings.run_dir / STATE_FILE)

    def record(self, name: str) -> ComponentRecord | None:
        state = self.supervisor_state()
        return state.components.get(name) if state else None

    def status(self) -> list[ComponentStatus]:
        state = self.supervisor_state()
        supervised = state is not None and self.supervisor.pid() == state.pid
        out = []
        for comp in self.components:
            up, reason = comp.status()
            ports = ", ".join(f"{proto}/{port}" for proto, port in comp.ports)
            rec = state.components.get(comp.name) if state else None
            if rec and not up and supervised:
                if rec.phase == "gave_up":
                    reason = (f"the supervisor gave up after {rec.streak} quick deaths in a "
                              f"row (see its log, then `aitcomms up`); {reason}")
                elif rec.phase == "stopped":
                    reason = f"stopped cleanly, not restarted (`aitcomms up` starts it); {reason}"
                elif rec.phase == "backoff" and rec.next_start_at:
                    wait = max(0.0, rec.next_start_at - time.time())
                    reason = f"restarting in {wait:.0f} s (back-off); {reason}"
                elif rec.phase == "starting":
                    reason = f"starting; {reason}"
            out.append(ComponentStatus(
                comp.name, up, comp.pid(), ports, reason,
                restarts=rec.restarts if rec else None,
                last_exit=rec.last_exit.describe() if rec and rec.last_exit else ""))
        return out

    def supervisor_status(self) -> tuple[bool, str]:
        """(running, a line for ops) of whatever restarts the stack's daemons."""
        if self.under_systemd():
            return True, "supervisor: systemd (deploy/systemd): systemctl status 'aitcomms-*'"
        pid = self.supervisor.pid()
        if pid is None:
            return False, ("supervisor: NOT RUNNING: nothing restarts a daemon that dies "
                           "(`aitcomms up` starts it)")
        return True, f"supervisor: up (pid {pid}), restarts any daemon that dies"

    # -- applying config changes -------------------------------------------

    def asterisk_cli(self, command: str, conf: str | None = None) -> str:
        """Run an Asterisk CLI command on this stack's running Asterisk (or, with
        ``conf``, the media node whose asterisk.conf that is)."""
        s = self.settings
        result = subprocess.run(
            ["chroot", str(s.rootfs), "/usr/sbin/asterisk", "-C", conf or s.asterisk_conf,
             "-rx", command],
            capture_output=True, text=True, timeout=30,
        )
        if result.returncode != 0:
            raise StackError(f"asterisk -rx {command!r} failed: {result.stderr.strip()}")
        return result.stdout

    def kamailio_rpc(self, *args: str) -> str:
        result = subprocess.run(
            ["kamcmd", "-s", f"tcp:127.0.0.1:{self.settings.ports.kamailio_ctl}", *args],
            capture_output=True, text=True, timeout=10,
        )
        if result.returncode != 0:
            raise StackError(f"kamcmd {' '.join(args)} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def channels(self, node: str | None = None) -> list[str]:
        """Names of the channels up in Asterisk now (``node``: that media node
        this box runs; [] when it is not running)."""
        name, conf = "asterisk", None
        if node is not None:
            name, conf = media_nodes.component_name(node), media_nodes.asterisk_conf(
                self.settings, node)
        comp = next((c for c in self.components if c.name == name), None)
        if comp is None or comp.pid() is None:
            return []
        out = self.asterisk_cli("core show channels concise", conf)
        return [line.split("!", 1)[0] for line in out.splitlines() if "!" in line]

    def drop_registrations(self, extension: str) -> bool:
        """Forget every contact of this SIP user at Kamailio (its phones and
        browsers); False when it had none or Kamailio is not running."""
        if self.component("kamailio").pid() is None:
            return False
        try:
            # "s:" keeps an extension a string for kamcmd
            self.kamailio_rpc("ul.rm", "location", f"s:{extension}")
        except StackError as exc:
            if "not found" in str(exc).lower():
                return False
            raise
        return True

    def reload_media_nodes(self) -> bool:
        """Kamailio re-reads its media nodes from the database (their drains
        too: a reload resets every other runtime state, so a node found dead
        counts as up again until its next unanswered ping). False when
        Kamailio is not running (it reads them at start)."""
        if self.component("kamailio").pid() is None:
            return False
        out = ""
        for _ in range(10):  # "Ongoing reload" within reload_delta (1 s) of the last one
            out = self.kamailio_rpc("dispatcher.reload")  # kamcmd exits 0 on errors too
            if not out.startswith("error"):
                return True
            if "ongoing reload" not in out.lower():
                break
            time.sleep(0.5)
        raise StackError(f"kamcmd dispatcher.reload failed: {out.strip()}")

    def media_nodes_runtime(self) -> dict[str, NodeRuntime] | None:
        """Kamailio's view of each media node by URI (up or not, calls up), or
        None when Kamailio is not running."""
        if self.component("kamailio").pid() is None:
            return None
        return parse_dispatcher_list(self.kamailio_rpc("dispatcher.list"))

    def apply(self, db: Database) -> list[Path]:
        """Re-render from the database and reload what changed in the running
        stack. Reloads never drop calls in progress: PJSIP and the dialplan
        reload in place, Kamailio reloads its trunk table over RPC."""
        changed = self.render(db)
        for comp, conf in self.asterisks():
            if comp.pid() is None:
                continue  # not running: it reads its files when it starts
            etc = Path(self.settings.rootfs, conf.lstrip("/")).parent
            names = {p.name for p in changed if p.parent == etc}
            if "pjsip.conf" in names:
                self.asterisk_cli("module reload res_pjsip.so", conf)
            if "extensions.conf" in names:
                self.asterisk_cli("dialplan reload", conf)
            if "queues.conf" in names:  # the fallback queues
                self.asterisk_cli("queue reload all", conf)
            if "voicemail.conf" in names:
                self.asterisk_cli("voicemail reload", conf)
        names = {p.name for p in changed}
        if "trunks.list" in names and self.component("kamailio").pid() is not None:
            # trunk addresses are cached by Kamailio; credentials are not
            self.kamailio_rpc("permissions.addressReload")
        return changed
