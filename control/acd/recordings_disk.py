"""The recordings disk: calls go on when it fills, and supervisors are told.

Asterisk records a call into its own spool (in its root filesystem); when
the call is over the control plane files the recording into the recordings
folder (``AITCOMMS_RECORDINGS``, by default ``recordings/``). When that
folder's disk is full the filing fails: the recording stays in Asterisk's
spool (the call's row and interaction name it there, so nothing is lost),
the calls themselves go on untouched, and supervisors get
``recordings.disk_full`` (``recordings.disk_ok`` once there is room again).
The control plane also looks every few seconds, so that a disk filling up
is announced before a recording is refused: "low" is less free space than
5 % of the disk or 1 GiB, whichever is smaller. ``aitcomms status`` prints
the same state (computed by the CLI itself: it works with the control plane
down). Recordings left in the spool are not moved later by themselves: the
alert says where they are.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from control.acd.notifier import AcdNotifier

log = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0
LOW_SHARE = 0.05
LOW_CAP = 1 << 30  # 1 GiB


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


@dataclass(frozen=True)
class DiskState:
    path: Path
    free: int
    total: int

    @property
    def low(self) -> bool:
        return self.free < min(self.total * LOW_SHARE, LOW_CAP)

    def describe(self) -> str:
        if self.low:
            return (f"FULL: {_size(self.free)} free of {_size(self.total)}; new recordings "
                    "stay in Asterisk's spool")
        return f"{_size(self.free)} free of {_size(self.total)}"


def disk_state(path: Path) -> DiskState | None:
    """The free space where ``path`` is (None: the folder is not there)."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    return DiskState(path, usage.free, usage.total)


class RecordingsDisk:
    """Tells supervisors when the recordings disk fills and when it has room."""

    def __init__(self, path: Path, notifier: AcdNotifier) -> None:
        self.path = path
        self.notifier = notifier
        self.full = False

    async def check(self) -> None:
        state = disk_state(self.path)
        if state is None:
            return
        if state.low and not self.full:
            await self._full(state, "low on space")
        elif not state.low and self.full:
            self.full = False
            log.warning("recordings disk %s has room again: %s", self.path, state.describe())
            await self.notifier.recordings_disk_ok(state)

    async def refused(self, exc: OSError, kept: Path) -> None:
        """A recording could not be filed (``kept``: where it stays)."""
        log.error("recording %s not filed into %s (%s): it stays in Asterisk's spool",
                  kept.name, self.path, exc)
        state = disk_state(self.path) or DiskState(self.path, 0, 0)
        if not self.full:
            await self._full(state, f"a recording could not be filed: "
                                    f"{os.strerror(exc.errno) if exc.errno else exc}")

    async def _full(self, state: DiskState, reason: str) -> None:
        self.full = True
        log.error("recordings disk %s: %s (%s)", self.path, reason, state.describe())
        await self.notifier.recordings_disk_full(state, reason)
