"""When to restart a daemon that died: exponential back-off, pure and tested apart.

A daemon that dies after a long healthy run is restarted at once (after
``first_s``); one that keeps dying soon after each start waits twice as long
each time (1 s, 2 s, 4 s ... up to ``cap_s``), so a broken config or a port
taken by someone else does not turn into a fork storm that buries the log.
After ``give_up_after`` quick deaths in a row the supervisor stops trying and
says so in ``aitcomms status``: restarting it again would not fix anything a
person has to fix (``aitcomms up`` re-arms it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 30.0
    # a run at least this long was healthy: its death starts a new streak
    stable_s: float = 60.0
    give_up_after: int = 6  # this many quick deaths in a row: stop restarting


@dataclass(frozen=True)
class Decision:
    streak: int  # quick deaths in a row, this one included
    delay_s: float | None  # None: give up


def after_exit(policy: Backoff, streak: int, uptime_s: float) -> Decision:
    """What to do about a daemon that just died after running ``uptime_s``,
    ``streak`` being the quick deaths in a row before this one."""
    streak = 1 if uptime_s >= policy.stable_s else streak + 1
    if streak >= policy.give_up_after:
        return Decision(streak, None)
    return Decision(streak, min(policy.cap_s, policy.first_s * policy.factor ** (streak - 1)))
