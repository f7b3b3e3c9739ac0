"""Load and check IVR flow files. A broken file is refused with its name and
the reason, before anything reaches Asterisk."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

STEP_KINDS = ("answer", "play", "hangup")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SOUND_RE = re.compile(r"^[A-Za-z0-9_/-]+$")


class FlowError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    kind: str
    arg: str = ""


@dataclass(frozen=True)
class Flow:
    name: str
    language: str
    steps: tuple[Step, ...]


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
    if language not in ("es", "en"):
        raise FlowError(f"{path.name}: language must be es or en")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise FlowError(f"{path.name}: steps must be a non-empty list")
    parsed = tuple(_parse_step(s, f"{path.name} step {i + 1}") for i, s in enumerate(steps))
    return Flow(name=name, language=language, steps=parsed)


def load_flows(folder: Path) -> list[Flow]:
    flows = [load_flow(p) for p in sorted(folder.glob("*.yaml"))]
    names = [f.name for f in flows]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise FlowError(f"IVR names used twice: {', '.join(sorted(dupes))}")
    return flows
