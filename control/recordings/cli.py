"""`aitcomms recordings`: apply the retention policies now, and set one."""

from __future__ import annotations

import argparse
from typing import Any

from control.auth.audit import CLI
from control.db import Database
from control.errors import InvalidInput
from control.recordings import retention
from control.settings import Settings


def cmd_purge(settings: Settings, _args: argparse.Namespace) -> int:
    db = Database(settings)
    try:
        with db.session() as session:
            done = retention.purge(session, recordings_dir=settings.recordings_dir, actor=CLI)
    finally:
        db.dispose()
    for queue, ids in sorted(done.calls.items()):
        print(f"queue {queue}: {len(ids)} recording(s) deleted")
    for call_id in done.failed:
        print(f"call {call_id}: recording not deleted (see the log)")
    print(f"{done.count} recording(s) deleted, {done.freed_bytes} bytes freed")
    return 1 if done.failed else 0


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    raw = args.days.strip().lower()
    if raw == "forever":
        days = None
    elif raw.isdigit():
        days = int(raw)
    else:
        raise InvalidInput("days", f"{args.days!r}: a number of days, or forever")
    db = Database(settings)
    try:
        with db.session() as session:
            policy = retention.set_retention(session, args.queue, days, actor=CLI)
    finally:
        db.dispose()
    kept = "for ever" if policy["days"] is None else f"{policy['days']} days"
    print(f"queue {policy['queue']}: recordings kept {kept}")
    return 0


def register(sub: Any) -> None:
    """The `recordings` command and its subcommands, on the CLI's parser."""
    group = sub.add_parser("recordings", help="call recordings: retention").add_subparsers(
        dest="recordings_command", required=True)
    p = group.add_parser("purge", help="delete the recordings older than their queue's "
                                       "retention now (the control plane also does it "
                                       "every hour)")
    p.set_defaults(func=cmd_purge)
    p = group.add_parser("retention", help="keep a queue's recordings N days (or forever)")
    p.add_argument("queue")
    p.add_argument("days", help="a number of days, or forever")
    p.set_defaults(func=cmd_retention)
