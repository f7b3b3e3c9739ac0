"""The dialplan as versioned config: validate, diff, apply, history, rollback.

* **validate** renders ``extensions.conf`` from the templates, the IVR flows
  and the database, then lints it twice without touching the running system:
  our own checks (every jump lands on a context that exists, every prompt is
  an installed sound, every IVR queue exists), and Asterisk itself loading
  the file in a scratch configuration (a throw-away Asterisk in the same root
  filesystem, no network) whose parser warnings and unknown applications are
  errors.
* **apply** refuses what does not validate, writes the file, ``dialplan
  reload``s (calls in progress stay up: a reload swaps the contexts, channels
  keep their place), checks with ``dialplan show`` that Asterisk loaded every
  context, and stores the version (text, author, time, diff). Verification
  failed: the previous file is put back and reloaded.
* **rollback N** puts version N's exact text back the same way.
"""

from __future__ import annotations

import difflib
import getpass
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from sqlalchemy import select

from control.db import Database
from control.ivr.flows import FlowError
from control.provisioning import render
from control.provisioning.models import DialplanVersion
from control.secrets import ensure_secrets
from control.settings import Settings
from control.stack.manager import Stack, StackError

log = logging.getLogger(__name__)


class DialplanError(RuntimeError):
    pass


@dataclass
class Validation:
    text: str
    data: render.StackData
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


CONTEXT_RE = re.compile(r"^\[([^\]]+)\]")
LINE_RE = re.compile(r"^(exten|same)\s*=>\s*(.*)$")
APP_RE = re.compile(r"^(?:[^,]+,)?(?:[^,()]+)(?:\([^)]*\))?,([A-Za-z][A-Za-z0-9_]*)\(")
# Goto(ctx,exten,prio) / ?ctx,exten,prio / :ctx,exten,prio
JUMP_RE = re.compile(r"(?:Goto\(|\?|:)([A-Za-z0-9_-]+),([^,()?:]+),(\d+)\)?")


def _author() -> str:
    return os.environ.get("SUDO_USER") or getpass.getuser()


def running_file(settings: Settings) -> Path:
    return settings.asterisk_dir / "etc" / "extensions.conf"


def contexts(text: str) -> list[str]:
    return [m.group(1) for line in text.splitlines() if (m := CONTEXT_RE.match(line))]


# -- validate ---------------------------------------------------------------


def _own_checks(v: Validation, settings: Settings) -> None:
    names = contexts(v.text)
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        v.errors.append(f"contexts defined twice: {', '.join(dupes)}")
    known = set(names)
    context = ""
    for no, line in enumerate(v.text.splitlines(), 1):
        stripped = line.strip()
        if m := CONTEXT_RE.match(stripped):
            context = m.group(1)
            continue
        if not stripped or stripped.startswith(";"):
            continue
        m = LINE_RE.match(stripped)
        if m is None:
            if "=" not in stripped:
                v.errors.append(f"line {no} [{context}]: not a dialplan line: {stripped!r}")
            continue
        body = m.group(2)
        if body.count("(") != body.count(")"):
            v.errors.append(f"line {no} [{context}]: unbalanced parentheses: {stripped!r}")
        if body.count("${") > body.count("}") or body.count("$[") > body.count("]"):
            v.errors.append(f"line {no} [{context}]: unclosed ${{...}} or $[...]: {stripped!r}")
        for jump in JUMP_RE.finditer(body):
            target = jump.group(1)
            if target not in known and "$" not in target:
                v.errors.append(f"line {no} [{context}]: jumps to context {target!r}, "
                                "which does not exist")
    # prompts: installed in the root filesystem, in each language the flow uses
    sounds = settings.rootfs / "usr/share/asterisk/sounds"
    if sounds.exists():
        for flow in v.data.ivrs:
            for prompt in sorted(flow.prompts):
                missing = [lang for lang in sorted(flow.languages)
                           if not _sound_exists(settings.rootfs, f"{lang}/{prompt}")]
                if len(missing) == len(flow.languages):
                    v.errors.append(f"IVR {flow.name}: prompt {prompt!r} is not an installed "
                                    f"sound (looked in {', '.join(sorted(flow.languages))})")
                elif missing:
                    v.warnings.append(f"IVR {flow.name}: prompt {prompt!r} has no "
                                      f"{'/'.join(missing)} recording (Asterisk plays en)")
    queues = {q.name for q in v.data.queues}
    for flow in v.data.ivrs:
        for node in flow.nodes:
            if node.kind == "queue" and node.queue not in queues:
                v.warnings.append(f"IVR {flow.name} node {node.name}: no queue named "
                                  f"{node.queue}: its callers go to voicemail "
                                  f"(aitcomms queue add {node.queue} ...)")


def _sound_exists(rootfs: Path, name: str) -> bool:
    """Does sounds/NAME.* exist inside the root filesystem (its symlinks are
    absolute paths inside it)?"""
    lang, _, rest = name.partition("/")
    folder = _resolve_in(rootfs, f"/usr/share/asterisk/sounds/{lang}")
    if folder is None:
        return False
    target = folder / rest
    return any(target.parent.glob(target.name + ".*")) if target.parent.is_dir() else False


def _resolve_in(rootfs: Path, path: str) -> Path | None:
    for _ in range(10):
        host = rootfs / path.lstrip("/")
        if host.is_symlink():
            link = os.readlink(host)
            path = link if link.startswith("/") else str(Path(path).parent / link)
            continue
        return host if host.exists() else None
    return None


def _scratch_modules() -> list[str]:
    """What the scratch Asterisk loads: the stack's modules less SIP and
    anything that would listen on the network."""
    skip = ("res_pjsip", "chan_pjsip", "res_pjproject", "func_pjsip", "res_rtp",
            "chan_audiosocket", "chan_rtp")
    return [m for m in render.ASTERISK_MODULES if not m.startswith(skip)]


def asterisk_parse(settings: Settings, text: str, timeout: float = 15) -> tuple[list[str], str]:
    """Load ``text`` in a scratch Asterisk (same root filesystem, own folder,
    no network): (its warnings about the dialplan, its `core show
    applications`)."""
    chroot_base = f"{settings.asterisk_chroot_dir}/scratch"
    host_base = settings.rootfs / chroot_base.lstrip("/")
    host_base.mkdir(parents=True, exist_ok=True)
    host = Path(tempfile.mkdtemp(prefix="dp-", dir=host_base))
    inner = f"{chroot_base}/{host.name}"
    try:
        for sub in ("etc", "run", "log", "lib", "spool"):
            (host / sub).mkdir()
        (host / "etc/asterisk.conf").write_text(
            "[directories]\n"
            f"astetcdir => {inner}/etc\n"
            "astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules\n"
            "astvarlibdir => /var/lib/asterisk\n"
            f"astdbdir => {inner}/lib\n"
            "astkeydir => /var/lib/asterisk\n"
            "astdatadir => /usr/share/asterisk\n"
            f"astspooldir => {inner}/spool\nastrundir => {inner}/run\n"
            f"astlogdir => {inner}/log\nastsbindir => /usr/sbin\n"
            "[options]\ndefaultlanguage = en\n")
        (host / "etc/modules.conf").write_text(
            "[modules]\nautoload = no\n" + "".join(f"load = {m}\n" for m in _scratch_modules()))
        (host / "etc/logger.conf").write_text(
            "[logfiles]\nmessages.log => notice,warning,error\n")
        (host / "etc/extensions.conf").write_text(text)
        for empty in ("queues.conf", "voicemail.conf", "musiconhold.conf", "amd.conf"):
            (host / "etc" / empty).write_text("[general]\n")  # or their app declines
        conf = f"{inner}/etc/asterisk.conf"
        proc = subprocess.Popen(
            ["chroot", str(settings.rootfs), "/usr/sbin/asterisk", "-f", "-n", "-C", conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            apps = ""
            while time.monotonic() < deadline:
                if (host / "run/asterisk.ctl").exists():
                    r = subprocess.run(["chroot", str(settings.rootfs), "/usr/sbin/asterisk",
                                        "-C", conf, "-rx", "core waitfullybooted"],
                                       capture_output=True, text=True, timeout=10)
                    r = subprocess.run(["chroot", str(settings.rootfs), "/usr/sbin/asterisk",
                                        "-C", conf, "-rx", "core show applications"],
                                       capture_output=True, text=True, timeout=10)
                    if "Applications Registered" in r.stdout:
                        apps = r.stdout
                        break
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
            if not apps:
                raise DialplanError("the scratch Asterisk did not start to check the dialplan")
            time.sleep(0.3)  # the logger thread writes the last lines
        finally:
            if proc.poll() is None:  # a throw-away: no need for a clean stop
                proc.kill()
                proc.wait()
        log = (host / "log/messages.log").read_text(errors="replace")
    finally:
        shutil.rmtree(host, ignore_errors=True)
    problems = []
    for line in log.splitlines():
        if re.search(r"(WARNING|ERROR)\[\d+\] (pbx_config|pbx|config)\.c:", line) \
                and ("extensions.conf" in line or "extension" in line or "context" in line):
            problems.append(re.sub(r"^\[[^\]]+\] ", "", line))
    return problems, apps


def validate(settings: Settings, db: Database, with_asterisk: bool = True) -> Validation:
    """Render and lint; never touches the running system."""
    try:
        data = render.load_data(settings, db)
        text = render.render_dialplan(settings, ensure_secrets(settings.secrets_file), data)
    except FlowError as exc:
        raise DialplanError(f"IVR flow refused: {exc}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise DialplanError(f"template {exc.filename or exc.name}, line {exc.lineno}: "
                            f"{exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise DialplanError(f"template error: {exc}") from exc
    v = Validation(text=text, data=data)
    if settings.clock:
        forced = f"{settings.clock:%Y-%m-%d %H:%M %Z}"
        v.warnings.append(f"AITCOMMS_CLOCK is set: IVR hours checks see {forced}, not the "
                          "real time (for tests; apply without it)")
    _own_checks(v, settings)
    if with_asterisk and (settings.rootfs / "usr/sbin/asterisk").exists():
        problems, apps = asterisk_parse(settings, text)
        v.errors += [f"Asterisk: {p}" for p in problems]
        known = {m.group(1).lower() for m in re.finditer(r"^\s*(\w+):", apps, re.M)}
        for no, line in enumerate(text.splitlines(), 1):
            m = LINE_RE.match(line.strip())
            if m and (am := APP_RE.match(m.group(2))) and am.group(1).lower() not in known:
                v.errors.append(f"line {no}: application {am.group(1)!r} does not exist in "
                                "this Asterisk (or its module is not loaded)")
    return v


def refuse_unless_valid(v: Validation) -> None:
    if not v.ok:
        raise DialplanError("the dialplan does not validate; nothing was changed:\n  "
                            + "\n  ".join(v.errors))


# -- diff, apply, history, rollback -------------------------------------------


def unified(old: str, new: str, old_name: str = "running", new_name: str = "rendered") -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True), old_name, new_name))


def running_text(settings: Settings) -> str:
    f = running_file(settings)
    return f.read_text() if f.exists() else ""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _load(settings: Settings, text: str) -> None:
    """Write, reload in Asterisk, and check that it loaded every context; on
    failure put the previous file back."""
    stack = Stack(settings)
    path = running_file(settings)
    previous = running_text(settings)
    _write(path, text)
    if stack.component("asterisk").pid() is None:
        return  # not running: it reads the file when it starts
    try:
        stack.asterisk_cli("dialplan reload")
        shown = stack.asterisk_cli("dialplan show")
        loaded = set(re.findall(r"\[ Context '([^']+)' created by 'pbx_config' \]", shown))
        missing = [c for c in contexts(text) if c not in ("general", "globals")
                   and c not in loaded]
        if missing:
            raise DialplanError("Asterisk did not load contexts "
                                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    except (DialplanError, StackError) as exc:
        _write(path, previous)
        try:
            stack.asterisk_cli("dialplan reload")
        except StackError:
            pass
        raise DialplanError(f"{exc}; the previous dialplan was put back") from exc
    _load_on_nodes(stack, text)


def _load_on_nodes(stack: Stack, text: str) -> None:
    """The media nodes this box runs take the same dialplan (it names no port
    of theirs), once the stack's own Asterisk has loaded it. A node that
    does not reload keeps its previous one until it restarts: logged."""
    for comp, conf in stack.asterisks()[1:]:
        _write(Path(stack.settings.rootfs, conf.lstrip("/")).parent / "extensions.conf", text)
        if comp.pid() is None:
            continue
        try:
            stack.asterisk_cli("dialplan reload", conf)
        except StackError as exc:
            log.warning("%s did not reload the dialplan: %s", comp.name, exc)


def _latest(session: object) -> DialplanVersion | None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return session.scalar(select(DialplanVersion).order_by(DialplanVersion.id.desc()).limit(1))


def _store(db: Database, *, text: str, previous: str, action: str, author: str,
           restored_from: int | None = None) -> DialplanVersion:
    with db.session() as session:
        latest = _latest(session)
        if previous and (latest is None or latest.sha256 != _sha(previous)):
            # what ran before was never stored (first apply, or `aitcomms
            # apply` after a data change): keep it, so it can be restored
            session.add(DialplanVersion(
                created_at=datetime.now(UTC), author="(running before)", action="baseline",
                sha256=_sha(previous), text=previous,
                diff=unified(latest.text if latest else "", previous, "stored", "running")))
            session.flush()
        version = DialplanVersion(
            created_at=datetime.now(UTC), author=author, action=action,
            restored_from=restored_from, sha256=_sha(text), text=text,
            diff=unified(previous, text, "before", "after"))
        session.add(version)
        session.flush()
        session.expunge(version)
        return version


def apply(settings: Settings, db: Database, author: str | None = None
          ) -> tuple[DialplanVersion | None, Validation]:
    v = validate(settings, db)
    refuse_unless_valid(v)
    previous = running_text(settings)
    if previous == v.text:
        return None, v
    _load(settings, v.text)
    return _store(db, text=v.text, previous=previous, action="apply",
                  author=author or _author()), v


_DATA_LOCK = threading.Lock()


def apply_data_change(settings: Settings, db: Database, author: str | None = None,
                      unregister: Sequence[str] = ()) -> list[Path]:
    """After agents, trunks, DIDs or queues changed: re-render, reload what
    changed (Stack.apply), and keep the resulting dialplan as a version, so
    that history shows every dialplan Asterisk ran and any can be restored.
    ``unregister``: SIP users whose registrations Kamailio drops afterwards
    (an agent removed, or given a new password)."""
    with _DATA_LOCK:  # API requests of one process: one render and reload at a time
        previous = running_text(settings)
        stack = Stack(settings)
        changed = stack.apply(db)
        text = running_text(settings)
        if text != previous:
            _store(db, text=text, previous=previous, action="data",
                   author=author or _author())
        for extension in unregister:
            stack.drop_registrations(extension)
    return changed


def history(db: Database) -> list[DialplanVersion]:
    with db.session() as session:
        rows = list(session.scalars(select(DialplanVersion).order_by(DialplanVersion.id)))
        for r in rows:
            session.expunge(r)
        return rows


def get_version(db: Database, version_id: int) -> DialplanVersion:
    with db.session() as session:
        row = session.get(DialplanVersion, version_id)
        if row is None:
            raise DialplanError(f"no dialplan version {version_id} (see aitcomms dialplan "
                                "history)")
        session.expunge(row)
        return row


def rollback(settings: Settings, db: Database, version_id: int, author: str | None = None
             ) -> DialplanVersion:
    target = get_version(db, version_id)
    problems, _apps = asterisk_parse(settings, target.text) \
        if (settings.rootfs / "usr/sbin/asterisk").exists() else ([], "")
    if problems:
        raise DialplanError(f"version {version_id} no longer loads in Asterisk:\n  "
                            + "\n  ".join(problems))
    previous = running_text(settings)
    _load(settings, target.text)
    return _store(db, text=target.text, previous=previous, action="rollback",
                  author=author or _author(), restored_from=version_id)
