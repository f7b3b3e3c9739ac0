"""``aitcomms call test`` and the demo step of ``aitcomms db seed --demo``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from control.auth.audit import SEED
from control.db import Database
from control.ivr.flows import dialplans_dir, load_flows
from control.onboarding import caller, demo
from control.secrets import Secrets
from control.settings import Settings

Add = Callable[..., argparse.ArgumentParser]


def cmd_call_test(settings: Settings, args: argparse.Namespace) -> int:
    ivrs = load_flows(dialplans_dir(settings.root) / "ivr")
    with Database(settings).session() as session:
        call = caller.plan(session, to=args.to, caller_id=args.from_number, ivrs=ivrs)
    asyncio.run(caller.place_once("127.0.0.1", settings.ports.ami, "aitcomms",
                                     Secrets(settings.secrets_file)["AMI_PASSWORD"], call))
    print(f"test call placed: from {call.caller_id} to {call.to} ({call.target}); the caller "
          f"says a prompt for about a minute (channel {call.channel_id})")
    return 0


def seed_demo(settings: Settings, db: Database) -> demo.Demo | None:
    """The demo on a new install (printed once), pushed into the running stack."""
    from control.provisioning.dialplan import apply_data_change

    ivrs = load_flows(dialplans_dir(settings.root) / "ivr")
    with db.session() as session:
        made = demo.seed_demo(session, actor=SEED, realm=settings.sip_domain, ivrs=ivrs)
    if made is None:
        print("demo: not added (this install already has agents, queues or numbers)")
        return None
    apply_data_change(settings, db)
    print(f"\nDemo: queues {', '.join(made.queues)}; number {made.did} -> IVR {made.ivr}.\n"
          "  Agents and their logins (passwords shown once):")
    for a in made.accounts:
        print(f"    {a.extension} {a.name}: login {a.email} password {a.password} "
              f"(SIP password for a desk phone: {a.sip_password})")
    print(f"  First call: sign in as {made.accounts[0].email} at {settings.control_url}/, "
          "set yourself Available, then press Test call on the admin page or run\n"
          f"    aitcomms call test --to {made.accounts[0].extension}      "
          f"# or --to queue:operador, or --to {made.did} (the IVR, in business hours)")
    return made


def register(sub: Any, add: Add) -> None:
    call = sub.add_parser("call", help="calls").add_subparsers(dest="call_command",
                                                               required=True)
    p = add("test", cmd_call_test, "place a test call from a built-in caller in Asterisk "
                                   "(a prompt for about a minute) into a number", call)
    p.add_argument("--to", required=True,
                   help="a number of this contact center (+34...), an agent's extension, "
                        "queue:NAME or ivr:NAME")
    p.add_argument("--from", dest="from_number", default=caller.DEFAULT_FROM,
                   help="the caller's number (default: a seeded customer's, for the "
                        "screen pop)")
