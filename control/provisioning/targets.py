"""Where a DID can send a call: an agent's extension, a queue or an IVR.

Written ``ext:1001``, ``queue:sales`` or ``ivr:welcome`` in the CLI, the API
and the database alike.
"""

from __future__ import annotations

import re

TARGET_RE = re.compile(r"^(ext|queue|ivr):([A-Za-z0-9_-]{1,40})$")


class TargetError(ValueError):
    pass


def parse_target(value: str) -> tuple[str, str]:
    match = TARGET_RE.match(value)
    if not match:
        raise TargetError(
            f"target {value!r}: expected ext:EXTENSION, queue:NAME or ivr:NAME"
        )
    return match.group(1), match.group(2)


def target_context(value: str) -> str:
    """The dialplan location (context,exten,priority) a target starts at."""
    kind, name = parse_target(value)
    if kind == "ext":
        return f"agents,{name},1"
    if kind == "ivr":
        return f"ivr-{name},s,1"
    return f"queue-{name},s,1"
