"""Bring one stack up or down, apply config changes, and report its state."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from control.db import Database
from control.provisioning import render
from control.secrets import ensure_secrets
from control.settings import Settings
from control.stack.components import Component, components, last_error_line


class StackError(RuntimeError):
    pass


@dataclass
class ComponentStatus:
    name: str
    up: bool
    pid: int | None
    ports: str
    reason: str


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.components = components(settings)

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
        for sub in ("etc", "lib", "spool/recording", "spool/voicemail", "run", "log"):
            (s.asterisk_dir / sub).mkdir(parents=True, exist_ok=True)
        ensure_secrets(s.secrets_file)
        self._ensure_certificate()
        db = Database(s)
        db.upgrade()
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
        secrets = ensure_secrets(self.settings.secrets_file)
        data = render.load_data(self.settings, db)
        return render.write(render.render_all(self.settings, secrets, data))

    # -- lifecycle ----------------------------------------------------------

    def up(self, timeout: float = 60.0) -> None:
        db = self.prepare()
        db.dispose()
        for comp in self.components:
            if comp.status()[0]:
                continue
            comp.start()
            self._wait_up(comp, timeout)

    def _wait_up(self, comp: Component, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            up, _ = comp.status()
            if up:
                return
            if comp.pid() is None and time.monotonic() > deadline - timeout + 3:
                # it exited: no point waiting out the timeout
                break
            time.sleep(0.2)
        up, reason = comp.status()
        if not up:
            raise StackError(
                f"{comp.name} did not come up: {reason}\n"
                f"  log: {comp.log_file}\n  last line: {last_error_line(comp.log_file)}"
            )

    def down(self) -> None:
        for comp in reversed(self.components):
            comp.stop()

    def status(self) -> list[ComponentStatus]:
        out = []
        for comp in self.components:
            up, reason = comp.status()
            ports = ", ".join(f"{proto}/{port}" for proto, port in comp.ports)
            out.append(ComponentStatus(comp.name, up, comp.pid(), ports, reason))
        return out

    # -- applying config changes -------------------------------------------

    def asterisk_cli(self, command: str) -> str:
        """Run an Asterisk CLI command on this stack's running Asterisk."""
        s = self.settings
        result = subprocess.run(
            ["chroot", str(s.rootfs), "/usr/sbin/asterisk", "-C", s.asterisk_conf, "-rx", command],
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

    def channels(self) -> list[str]:
        """Names of the channels up in Asterisk now ([] when it is not running)."""
        if self.component("asterisk").pid() is None:
            return []
        out = self.asterisk_cli("core show channels concise")
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

    def apply(self, db: Database) -> list[Path]:
        """Re-render from the database and reload what changed in the running
        stack. Reloads never drop calls in progress: PJSIP and the dialplan
        reload in place, Kamailio reloads its trunk table over RPC."""
        changed = self.render(db)
        names = {p.name for p in changed}
        if self.component("asterisk").pid() is not None:
            if "pjsip.conf" in names:
                self.asterisk_cli("module reload res_pjsip.so")
            if "extensions.conf" in names:
                self.asterisk_cli("dialplan reload")
            if "queues.conf" in names:  # the fallback queues
                self.asterisk_cli("queue reload all")
            if "voicemail.conf" in names:
                self.asterisk_cli("voicemail reload")
        if "trunks.list" in names and self.component("kamailio").pid() is not None:
            # trunk addresses are cached by Kamailio; credentials are not
            self.kamailio_rpc("permissions.addressReload")
        return changed
