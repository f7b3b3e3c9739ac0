"""What the API and the CLI do with past calls and their recordings: plain
functions of a session, audited in the caller's transaction (see
control/auth/audit.py).

Plays and downloads are audited: who, which call, play or download. A
player fetches one file in many range requests (and again on each seek);
only a request from the start of the file counts as a play, so the log
says one line per listening, not one per chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from control.auth.audit import Actor, record
from control.recordings import filters, history
from control.recordings.history import Viewer
from control.recordings.retention import disk_used, policies

PLAY, DOWNLOAD = "play", "download"


def search_calls(session: Session, query: Mapping[str, str], *, viewer: Viewer
                 ) -> dict[str, Any]:
    """The call history: a page of calls matching the query's filters."""
    return history.search(session, filters.parse(query), viewer=viewer)


def search_recordings(session: Session, query: Mapping[str, str], *, viewer: Viewer,
                      recordings_dir: Path) -> dict[str, Any]:
    """The recordings library: calls with a recording still kept; for admins
    also the disk the recordings take and each queue's retention."""
    found = history.search(session, filters.parse(query), viewer=viewer, recorded_only=True)
    if viewer.role == "admin":
        found["disk"] = disk_used(recordings_dir)
        found["retention"] = policies(session)
    return found


def call_detail(session: Session, call_id: str, *, viewer: Viewer) -> dict[str, Any]:
    return history.detail(session, call_id, viewer=viewer)


def recording_to_play(session: Session, call_id: str, *, viewer: Viewer, actor: Actor,
                      recordings_dir: Path, download: bool, from_start: bool) -> Path:
    """The recording's file for this viewer; a play (or download) from the
    start is written to the audit log."""
    path = history.recording_file(session, call_id, viewer=viewer,
                                  recordings_dir=recordings_dir)
    if download or from_start:
        record(session, actor, DOWNLOAD if download else PLAY, "recordings", call_id,
               after={"file": path.name})
    return path
