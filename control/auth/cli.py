"""``aitcomms user list|update|reset-password|reset-totp|remove``: the admin
page's user accounts from the server's shell (``user add`` and ``user totp``
are in control/cli.py). The CLI acts as root on the server (actor ``cli``),
under the same rules as the API: the last active admin stays."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from control.auth import users
from control.auth.audit import CLI
from control.db import Database
from control.errors import InvalidInput
from control.settings import Settings

Add = Callable[..., argparse.ArgumentParser]


def _line(u: dict[str, Any]) -> str:
    return (f"{u['email']:<32} {u['role']:<10} agent={u['agent_extension'] or '-':<6} "
            f"{'active' if u['active'] else 'DISABLED':<8} "
            f"two-factor={'yes' if u['two_factor'] else 'no'}")


def cmd_list(settings: Settings, _args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        for user in users.list_users(session, actor=CLI):
            print(_line(users.summary(user)))
    return 0


def cmd_update(settings: Settings, args: argparse.Namespace) -> int:
    if args.role is None and args.agent is None and not args.no_agent and args.active is None:
        raise InvalidInput("user update", "nothing to change: give --role, --agent, "
                                          "--no-agent or --active/--no-active")
    with Database(settings).session() as session:
        user = users.find_user(session, args.email)
        changed = users.update_user(session, actor=CLI, user_id=user.id, role=args.role,
                                    agent_extension=args.agent, unlink_agent=args.no_agent,
                                    active=args.active)
        print(f"user {_line(users.summary(changed))}")
    return 0


def cmd_reset_password(settings: Settings, args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        user = users.find_user(session, args.email)
        _, generated = users.reset_password(session, actor=CLI, user_id=user.id,
                                            password=args.password)
    print(f"user {args.email.strip().lower()}: new password set; its sessions ended")
    if generated:
        print(f"  generated password (shown once): {generated}")
    return 0


def cmd_reset_totp(settings: Settings, args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        users.reset_totp(session, actor=CLI, user_id=users.find_user(session, args.email).id)
    print(f"user {args.email.strip().lower()}: two-factor removed (password only until "
          "aitcomms user totp)")
    return 0


def cmd_remove(settings: Settings, args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        users.remove_user(session, actor=CLI, user_id=users.find_user(session, args.email).id)
    print(f"user {args.email.strip().lower()} removed")
    return 0


def register(user: Any, add: Add) -> None:
    """The commands, on the ``user`` sub-parsers."""
    add("list", cmd_list, "list users: role, agent extension, active, two-factor", user)
    p = add("update", cmd_update, "change a user's role, agent extension or whether it may "
                                  "sign in (the last active admin stays)", user)
    p.add_argument("email")
    p.add_argument("--role", choices=["admin", "supervisor", "agent"])
    p.add_argument("--agent", help="the agent extension this user answers calls as")
    p.add_argument("--no-agent", action="store_true", help="no agent extension")
    p.add_argument("--active", action=argparse.BooleanOptionalAction, default=None,
                   help="--no-active disables the account and ends its sessions")
    p = add("reset-password", cmd_reset_password, "set a new password (generated and shown "
                                                  "once if omitted); ends its sessions", user)
    p.add_argument("email")
    p.add_argument("--password", help="at least 10 characters")
    p = add("reset-totp", cmd_reset_totp, "remove a user's two-factor (a lost phone)", user)
    p.add_argument("email")
    p = add("remove", cmd_remove, "remove a user (not the last active admin)", user)
    p.add_argument("email")
