"""Load and check IVR flow files. A broken file is refused with its name and
the reason, before anything reaches Asterisk.

Two shapes are accepted:

* ``steps``: a straight line of answer / play / hangup (the built-in
  ``welcome``);
* ``start`` + ``nodes``: a graph of named nodes, each one dialplan context
  (``[ivr-FLOW-NODE]``). Node types:

  ``play``       prompts, then ``next``
  ``menu``       prompts, DTMF ``options`` (key -> next node, optionally
                 setting ``language``, ``skills``, ``priority``), ``timeout``
                 seconds, ``retries`` failures (invalid key or timeout, each
                 answered with the ``invalid`` prompts and the menu again)
                 before ``on_fail``
  ``hours``      business hours per ``timezone`` (``open``: list of
                 ``{days: mon-fri, time: "09:00-19:00"}``, the end excluded)
                 and ``holidays`` (YYYY-MM-DD): ``next`` when open, ``closed``
                 otherwise. The time checked is now, unless the channel
                 variable ``AIT_CLOCK`` (epoch seconds) is set: the dialplan's
                 global of that name is rendered from the ``AITCOMMS_CLOCK``
                 setting, for tests (see README, Settings)
  ``identify``   the caller as a CRM customer, ``by`` caller_id, dni (keyed,
                 8 digits; NIE X/Y/Z as 0/1/2) or policy (its digits):
                 ``next`` when found, ``on_fail`` after ``retries``
  ``self_service`` reads the identified customer's policy: ``prompts``, then
                 per status ``status_prompts``, then the renewal date
  ``callback``   books a callback task for the caller's number: ``prompts``
                 (the confirmation), then ``next``
  ``queue``      hands the call to ``queue`` with ``language`` (default: the
                 one the caller chose in a menu, if any; else the ACD takes the
                 customer's, else the queue's), ``skills`` and ``priority`` set
  ``hangup``     prompts, then hang up

The same :class:`Flow` objects feed the dialplan template and
:mod:`control.ivr.simulate`, so what a call does and what ``aitcomms dialplan
simulate`` prints come from one definition.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

STEP_KINDS = ("answer", "play", "hangup")
NODE_KINDS = ("play", "menu", "hours", "identify", "self_service", "callback", "queue",
              "hangup")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SOUND_RE = re.compile(r"^[A-Za-z0-9_/-]+$")
KEY_RE = re.compile(r"^[0-9*#]$")
SKILL_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
NOTE_RE = re.compile(r"^[A-Za-z0-9 _.-]{0,80}$")
LANGUAGES = ("es", "en")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
IDENTIFY_BY = {"caller_id": 0, "dni": 8, "policy": 10}  # default digits to key


class FlowError(ValueError):
    pass


def dialplans_dir(root: Path) -> Path:
    """Where the dialplan templates and IVR flows are: ``dialplans/`` of the
    project, or ``AITCOMMS_DIALPLANS`` (a checkout of them elsewhere, a test's
    copy)."""
    return Path(os.environ.get("AITCOMMS_DIALPLANS") or root / "dialplans")


@dataclass(frozen=True)
class Step:
    kind: str
    arg: str = ""


@dataclass(frozen=True)
class Option:
    key: str
    next: str
    language: str | None = None
    skills: tuple[str, ...] | None = None
    priority: int | None = None


@dataclass(frozen=True)
class OpenHours:
    first_day: int  # 0 = Monday
    last_day: int
    start: time
    end: time  # exclusive

    @property
    def days(self) -> str:
        a, b = DAYS[self.first_day], DAYS[self.last_day]
        return a if a == b else f"{a}-{b}"

    @property
    def times(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def weekdays(self) -> list[int]:
        """0 = Monday; a range may wrap (sat-mon)."""
        return (list(range(self.first_day, self.last_day + 1)) if self.first_day <= self.last_day
                else [*range(self.first_day, 7), *range(0, self.last_day + 1)])

    @property
    def iso_days(self) -> str:
        """The days as strftime's %u digits (1 = Monday), for the dialplan's check."""
        return "".join(str(d + 1) for d in self.weekdays)

    def covers(self, weekday: int, at: time) -> bool:
        return weekday in self.weekdays and self.start <= at < self.end


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    prompts: tuple[str, ...] = ()
    next: str = ""
    on_fail: str = ""
    # menu / identify
    options: tuple[Option, ...] = ()
    timeout: int = 5
    retries: int = 3
    invalid: tuple[str, ...] = ("pbx-invalid",)
    # hours
    timezone: str = "Europe/Madrid"
    open: tuple[OpenHours, ...] = ()
    holidays: tuple[date, ...] = ()
    closed: str = ""
    # identify
    by: str = ""
    digits: int = 0
    # self_service
    status_prompts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # callback
    note: str = ""
    # queue
    queue: str = ""
    language: str | None = None
    skills: tuple[str, ...] | None = None
    priority: int | None = None

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    @property
    def targets(self) -> list[str]:
        """Nodes this one can go to."""
        out = [self.next, self.on_fail, self.closed, *(o.next for o in self.options)]
        return [t for t in out if t]


@dataclass(frozen=True)
class Flow:
    name: str
    language: str
    steps: tuple[Step, ...] = ()
    start: str = ""
    nodes: tuple[Node, ...] = field(default=())

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    @property
    def prompts(self) -> set[str]:
        out = {s.arg for s in self.steps if s.kind == "play"}
        for n in self.nodes:
            out.update(n.prompts, n.invalid if n.kind in ("menu", "identify") else ())
            for _status, prompts in n.status_prompts:
                out.update(prompts)
        return out

    @property
    def languages(self) -> set[str]:
        out = {self.language}
        for n in self.nodes:
            out.update(o.language for o in n.options if o.language)
            if n.language:
                out.add(n.language)
        return out


def _parse_step(raw: object, where: str) -> Step:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise FlowError(
            f"{where}: a step is a mapping with one key, one of {', '.join(STEP_KINDS)}")
    kind, arg = next(iter(raw.items()))
    if kind not in STEP_KINDS:
        raise FlowError(f"{where}: unknown step {kind!r} (expected one of {', '.join(STEP_KINDS)})")
    if kind == "play":
        if not isinstance(arg, str) or not SOUND_RE.match(arg):
            raise FlowError(f"{where}: play needs a sound name such as hello-world, got {arg!r}")
        return Step(kind, arg)
    return Step(kind)


def _prompts(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and SOUND_RE.match(v)
                                              for v in value):
        raise FlowError(f"{where}: prompts are sound names such as hello-world "
                        f"(letters, digits, - _ /), got {value!r}")
    return tuple(value)


def _int(value: object, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FlowError(f"{where}: expected a whole number from {low} to {high}, got {value!r}")
    return value


def _language(value: object, where: str) -> str:
    if value not in LANGUAGES:
        raise FlowError(f"{where}: language must be one of {', '.join(LANGUAGES)}, "
                        f"got {value!r}")
    return str(value)


def _skills(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) and SKILL_RE.match(s)
                                              for s in value):
        raise FlowError(f"{where}: skills are a list of names such as [auto, home]")
    return tuple(value)


def _days(value: str, where: str) -> tuple[int, int]:
    parts = value.lower().split("-")
    if len(parts) not in (1, 2) or any(p not in DAYS for p in parts):
        raise FlowError(f"{where}: days {value!r}: a day or a range such as mon-fri")
    return DAYS.index(parts[0]), DAYS.index(parts[-1])


def _hours(raw: object, where: str) -> OpenHours:
    if not isinstance(raw, dict) or set(raw) != {"days", "time"}:
        raise FlowError(f"{where}: each opening is {{days: mon-fri, time: \"09:00-19:00\"}}")
    first, last = _days(str(raw["days"]), where)
    m = re.match(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$", str(raw["time"]))
    if not m:
        raise FlowError(f"{where}: time {raw['time']!r}: expected HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise FlowError(f"{where}: time {raw['time']!r} is not a time of day")
    start, end = time(h1, m1), time(23, 59) if h2 == 24 else time(h2, m2)
    if end <= start:
        raise FlowError(f"{where}: time {raw['time']!r} ends before it starts")
    return OpenHours(first, last, start, end)


NODE_FIELDS: dict[str, set[str]] = {
    "play": {"prompts", "next"},
    "menu": {"prompts", "options", "timeout", "retries", "invalid", "on_fail"},
    "hours": {"timezone", "open", "holidays", "next", "closed"},
    "identify": {"by", "prompts", "digits", "timeout", "retries", "invalid", "next",
                 "on_fail"},
    "self_service": {"prompts", "status_prompts", "next", "on_fail", "timezone"},
    "callback": {"prompts", "note", "next", "on_fail"},
    "queue": {"queue", "language", "skills", "priority"},
    "hangup": {"prompts"},
}
REQUIRED: dict[str, set[str]] = {
    "play": {"next"}, "menu": {"options", "on_fail"}, "hours": {"open", "next", "closed"},
    "identify": {"by", "next", "on_fail"}, "self_service": {"next", "on_fail"},
    "callback": {"next"}, "queue": {"queue"}, "hangup": set(),
}


def _parse_node(name: str, raw: object, where: str) -> Node:
    where = f"{where} node {name}"
    if not NAME_RE.match(name):
        raise FlowError(f"{where}: node names are lowercase letters, digits, - or _")
    if not isinstance(raw, dict):
        raise FlowError(f"{where}: expected a mapping with a type")
    kind = raw.get("type")
    if kind not in NODE_KINDS:
        raise FlowError(f"{where}: type {kind!r}: expected one of {', '.join(NODE_KINDS)}")
    unknown = set(raw) - NODE_FIELDS[kind] - {"type"}
    if unknown:
        raise FlowError(f"{where}: {kind} does not take {', '.join(sorted(unknown))} "
                        f"(it takes {', '.join(sorted(NODE_FIELDS[kind]))})")
    missing = REQUIRED[kind] - set(raw)
    if missing:
        raise FlowError(f"{where}: {kind} needs {', '.join(sorted(missing))}")
    f: dict[str, Any] = {"name": name, "kind": kind}
    for key in ("next", "on_fail", "closed"):
        if key in raw:
            if not isinstance(raw[key], str) or not NAME_RE.match(raw[key]):
                raise FlowError(f"{where}: {key} must name a node, got {raw[key]!r}")
            f[key] = raw[key]
    f["prompts"] = _prompts(raw.get("prompts"), f"{where} prompts")
    if "invalid" in raw:
        f["invalid"] = _prompts(raw["invalid"], f"{where} invalid")
    if "timeout" in raw:
        f["timeout"] = _int(raw["timeout"], f"{where} timeout", 1, 60)
    if "retries" in raw:
        f["retries"] = _int(raw["retries"], f"{where} retries", 1, 9)
    if "timezone" in raw:
        try:
            ZoneInfo(str(raw["timezone"]))
        # OSError: the tzdata package's answer to a name too long for a file
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise FlowError(f"{where}: unknown time zone {raw['timezone']!r}") from exc
        f["timezone"] = str(raw["timezone"])
    if kind == "menu":
        options = raw["options"]
        if not isinstance(options, dict) or not options:
            raise FlowError(f"{where}: options map keys (0-9 * #) to nodes")
        parsed = []
        for key, opt in options.items():
            key = str(key)
            ow = f"{where} option {key}"
            if not KEY_RE.match(key):
                raise FlowError(f"{ow}: a key is one of 0-9 * #")
            if isinstance(opt, str):
                opt = {"next": opt}
            if not isinstance(opt, dict) or not isinstance(opt.get("next"), str) \
                    or set(opt) - {"next", "language", "skills", "priority"}:
                raise FlowError(f"{ow}: expected a node name or {{next, language, skills, "
                                "priority}")
            parsed.append(Option(
                key=key, next=opt["next"],
                language=_language(opt["language"], ow) if "language" in opt else None,
                skills=_skills(opt["skills"], ow) if "skills" in opt else None,
                priority=_int(opt["priority"], ow, 0, 100) if "priority" in opt else None))
        f["options"] = tuple(parsed)
    elif kind == "hours":
        if not isinstance(raw["open"], list) or not raw["open"]:
            raise FlowError(f"{where}: open is a list of {{days, time}}")
        f["open"] = tuple(_hours(h, f"{where} open") for h in raw["open"])
        holidays = raw.get("holidays") or []
        if not isinstance(holidays, list):
            raise FlowError(f"{where}: holidays is a list of dates (YYYY-MM-DD)")
        days = []
        for h in holidays:
            try:
                days.append(h if isinstance(h, date) else date.fromisoformat(str(h)))
            except ValueError as exc:
                raise FlowError(f"{where}: holiday {h!r} is not a date (YYYY-MM-DD)") from exc
        f["holidays"] = tuple(days)
    elif kind == "identify":
        if raw["by"] not in IDENTIFY_BY:
            raise FlowError(f"{where}: by must be one of {', '.join(IDENTIFY_BY)}")
        f["by"] = raw["by"]
        f["digits"] = (_int(raw["digits"], f"{where} digits", 1, 20) if "digits" in raw
                       else IDENTIFY_BY[raw["by"]])
    elif kind == "self_service":
        sp = raw.get("status_prompts") or {}
        if not isinstance(sp, dict):
            raise FlowError(f"{where}: status_prompts maps a policy status to prompts")
        f["status_prompts"] = tuple((str(k), _prompts(v, f"{where} status_prompts {k}"))
                                    for k, v in sp.items())
    elif kind == "callback":
        note = str(raw.get("note", ""))
        if not NOTE_RE.match(note):
            raise FlowError(f"{where}: note: at most 80 letters, digits, spaces, . _ -")
        f["note"] = note
    elif kind == "queue":
        if not isinstance(raw["queue"], str) or not NAME_RE.match(raw["queue"]):
            raise FlowError(f"{where}: queue must name a queue")
        f["queue"] = raw["queue"]
        if "language" in raw:
            f["language"] = _language(raw["language"], where)
        if "skills" in raw:
            f["skills"] = _skills(raw["skills"], where)
        if "priority" in raw:
            f["priority"] = _int(raw["priority"], f"{where} priority", 0, 100)
    return Node(**f)


def load_flow(path: Path) -> Flow:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise FlowError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise FlowError(f"{path.name}: expected a mapping with name, language and steps")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise FlowError(f"{path.name}: name must be lowercase letters, digits, - or _")
    language = data.get("language", "es")
    if language not in LANGUAGES:
        raise FlowError(f"{path.name}: language must be es or en")
    if "nodes" in data:
        return _load_graph(path, name, language, data)
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise FlowError(f"{path.name}: steps must be a non-empty list (or give start and "
                        "nodes)")
    parsed = tuple(_parse_step(s, f"{path.name} step {i + 1}") for i, s in enumerate(steps))
    return Flow(name=name, language=language, steps=parsed)


def _load_graph(path: Path, name: str, language: str, data: dict[str, Any]) -> Flow:
    nodes_raw = data["nodes"]
    if not isinstance(nodes_raw, dict) or not nodes_raw:
        raise FlowError(f"{path.name}: nodes must be a mapping of node name to node")
    nodes = tuple(_parse_node(str(k), v, path.name) for k, v in nodes_raw.items())
    names = {n.name for n in nodes}
    start = data.get("start")
    if start not in names:
        raise FlowError(f"{path.name}: start must name one of the nodes, got {start!r}")
    for node in nodes:
        for target in node.targets:
            if target not in names:
                raise FlowError(f"{path.name} node {node.name}: goes to {target!r}, "
                                "which is not a node of this flow")
    # every node reachable: a node nobody reaches is a typo waiting to bite
    seen, todo = set(), [start]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(next(x for x in nodes if x.name == n).targets)
    unreachable = names - seen
    if unreachable:
        raise FlowError(f"{path.name}: nodes never reached from {start}: "
                        f"{', '.join(sorted(unreachable))}")
    return Flow(name=name, language=language, start=str(start), nodes=nodes)


def load_flows(folder: Path) -> list[Flow]:
    flows = [load_flow(p) for p in sorted(folder.glob("*.yaml"))]
    names = [f.name for f in flows]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise FlowError(f"IVR names used twice: {', '.join(sorted(dupes))}")
    return flows
