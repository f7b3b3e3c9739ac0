"""``aitcomms campaign ...`` and ``aitcomms dnc ...``: outbound campaigns from
the command line, through the same audited services as the API (actor
``cli``). A campaign is named by its id or name (a sales campaign,
``/api/v1/campaigns``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from control.auth.audit import CLI
from control.campaigns import services
from control.campaigns.pacing import ADAPTS
from control.db import Database
from control.errors import InvalidInput
from control.settings import Settings

Command = Callable[[Settings, argparse.Namespace], int]


def _read(path: str, field: str = "file") -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(field, f"cannot read {path}: {exc}") from exc


def _print_report(report: dict[str, Any]) -> None:
    print(f"imported {report['imported']}, rejected {report['rejected']}")
    for row in report["rows"]:
        where = f"line {row['line']}" if "line" in row else f"lead {row.get('lead_id')}"
        print(f"  {where}: {row.get('value') or ''!s:<18} {row['reason']}")


def _settings_from(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.mode:
        data["mode"] = args.mode
    if args.agents is not None:
        data["agents"] = [a for a in args.agents.split(",") if a]
    if args.queues is not None:
        data["queues"] = [q for q in args.queues.split(",") if q]
    if args.caller_id is not None:
        data["caller_id"] = args.caller_id or None
    if args.hours:
        start, _, end = args.hours.partition("-")
        data["hours_start"], data["hours_end"] = start, end
    if args.days:
        try:
            data["days"] = [int(d) for d in args.days.split(",")]
        except ValueError as exc:
            raise InvalidInput("days", "weekdays 0 (Monday) to 6, comma separated") from exc
    if args.retry:
        rules: dict[str, int | None] = {}
        for part in args.retry.split(","):
            key, _, value = part.partition("=")
            try:
                rules[key.strip()] = None if value in ("", "never") else int(value)
            except ValueError as exc:
                raise InvalidInput(f"retry_rules.{key}", "seconds or never") from exc
        data["retry_rules"] = rules
    for name in ("max_attempts", "ring_s", "machine_action", "abandon_cap_pct",
                 "abandon_window_s", "adapt", "wrapup_s"):
        value = getattr(args, name)
        if value is not None:
            data[name] = value
    if args.amd is not None:
        data["amd"] = args.amd
    if args.message is not None:
        data["message"] = args.message or None
    if args.script_file:
        data["script"] = _read(args.script_file, "script")
    if args.dispositions_file:
        try:
            data["dispositions"] = json.loads(_read(args.dispositions_file, "dispositions"))
        except json.JSONDecodeError as exc:
            raise InvalidInput("dispositions", f"not JSON: {exc}") from exc
    return data


def cmd_dialing(settings: Settings, args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        campaign = services.find_campaign(session, args.campaign)
        row = services.configure(session, campaign.id, _settings_from(args), actor=CLI)
        out = row.as_dict()
        session.commit()
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    text = _read(args.file)
    with Database(settings).session() as session:
        campaign = services.find_campaign(session, args.campaign)
        report = services.import_list(session, campaign.id, text, actor=CLI)
        session.commit()
    _print_report(report)
    return 0


def cmd_add_leads(settings: Settings, args: argparse.Namespace) -> int:
    ids = [int(i) for i in args.lead_ids.split(",")] if args.lead_ids else None
    with Database(settings).session() as session:
        campaign = services.find_campaign(session, args.campaign)
        report = services.add_leads(session, campaign.id, ids, actor=CLI)
        session.commit()
    _print_report(report)
    return 0


def _running(flag: bool) -> Command:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        with Database(settings).session() as session:
            campaign = services.find_campaign(session, args.campaign)
            services.set_running(session, campaign.id, flag, actor=CLI)
            session.commit()
        print(f"campaign {args.campaign}: {'running' if flag else 'stopped'}")
        return 0
    return run


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        campaign = services.find_campaign(session, args.campaign)
        out = {"dialing": services.dialing(session, campaign.id).as_dict(),
               "figures": services.figures(session, campaign.id, datetime.now(UTC))}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_dnc_import(settings: Settings, args: argparse.Namespace) -> int:
    text = _read(args.file)
    with Database(settings).session() as session:
        cid = services.find_campaign(session, args.campaign).id if args.campaign else None
        report = services.add_dnc(session, text, cid, args.reason or "", actor=CLI)
        session.commit()
    _print_report(report)
    return 0


def cmd_dnc_list(settings: Settings, args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        cid = services.find_campaign(session, args.campaign).id if args.campaign else None
        for number in services.list_dnc(session, cid):
            print(f"{number['phone']:<16} {number['added_at'] or '':<32} {number['reason']}")
    return 0


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """The ``campaign`` and ``dnc`` commands (``add`` as in control.cli.build_parser)."""
    camp = sub.add_parser("campaign", help="outbound campaigns: dialing, lists, start/stop"
                          ).add_subparsers(dest="campaign_command", required=True)
    p = add("dialing", cmd_dialing, "create or change a campaign's dialing settings "
                                    "(only the options given)", camp)
    p.add_argument("campaign", help="id or name")
    p.add_argument("--mode", choices=["preview", "progressive", "predictive"])
    p.add_argument("--agents", help="extensions, comma separated (\"\" clears)")
    p.add_argument("--queues", help="queues whose members dial, comma separated")
    p.add_argument("--caller-id", help="E.164 shown to customers (\"\": the first DID)")
    p.add_argument("--hours", help="calling hours in the lead's own time, e.g. 09:00-21:00")
    p.add_argument("--days", help="weekdays, 0 (Monday) to 6, e.g. 0,1,2,3,4")
    p.add_argument("--retry", help="per result, seconds: busy=600,no_answer=3600,"
                                   "machine=never,abandoned=3600")
    p.add_argument("--max-attempts", dest="max_attempts", type=int)
    p.add_argument("--ring", dest="ring_s", type=int, help="seconds (at least 15)")
    p.add_argument("--amd", action=argparse.BooleanOptionalAction, default=None,
                   help="answering-machine detection (off by default)")
    p.add_argument("--machine-action", dest="machine_action",
                   choices=["hangup", "message", "agent"])
    p.add_argument("--message", help="the recorded message (an Asterisk sound name)")
    p.add_argument("--cap", dest="abandon_cap_pct", type=float, help="abandonment cap, %%")
    p.add_argument("--window", dest="abandon_window_s", type=int,
                   help="seconds the abandonment is measured over (86400: a day)")
    p.add_argument("--adapt", choices=ADAPTS,
                   help="predictive: how the cap is kept (hard_limit stops at the cap)")
    p.add_argument("--wrapup", dest="wrapup_s", type=int,
                   help="the agent's wrap-up after each call, seconds")
    p.add_argument("--script-file", help="the script shown to the agent (a text file)")
    p.add_argument("--dispositions-file", help="JSON list of {code, label, final, retry_s, "
                                               "dnc}")
    p = add("import", cmd_import, "import a calling list (CSV with a phone column); prints "
                                  "the rows left out and why", camp)
    p.add_argument("campaign", help="id or name")
    p.add_argument("file", help="the CSV file (- for stdin)")
    p = add("add-leads", cmd_add_leads, "put existing leads on the calling list", camp)
    p.add_argument("campaign", help="id or name")
    p.add_argument("--lead-ids", help="comma separated (default: the campaign's own leads)")
    p = add("start", _running(True), "start dialing", camp)
    p.add_argument("campaign", help="id or name")
    p = add("stop", _running(False), "stop dialing (calls in progress go on)", camp)
    p.add_argument("campaign", help="id or name")
    p = add("show", cmd_show, "the dialing settings and today's figures", camp)
    p.add_argument("campaign", help="id or name")

    dnc = sub.add_parser("dnc", help="do-not-call lists").add_subparsers(
        dest="dnc_command", required=True)
    p = add("import", cmd_dnc_import, "add numbers (one per line, or a CSV's first column)",
            dnc)
    p.add_argument("file", help="the file (- for stdin)")
    p.add_argument("--campaign", help="this campaign's list (default: the global one)")
    p.add_argument("--reason", help="why, kept with each number")
    p = add("list", cmd_dnc_list, "the numbers on a do-not-call list", dnc)
    p.add_argument("--campaign", help="this campaign's list (default: the global one)")
