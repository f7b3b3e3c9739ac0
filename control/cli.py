"""``aitcomms``: the command line of IT ops and of the Makefile."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable, Sequence

import sqlalchemy.exc

from control.acd.agents import create_agent, delete_agent, list_agents, live_channels, update_agent
from control.acd.models import AgentStatus
from control.acd.queues import (
    create_queue,
    delete_queue,
    list_queues,
    remove_member,
    set_member,
    update_queue,
)
from control.acd.recordings_disk import disk_state
from control.acd.store import AcdStore
from control.campaigns import cli as campaign_cli
from control.db import Database
from control.errors import Conflict, InvalidInput, NotFound, Unavailable
from control.ivr.flows import FlowError, dialplans_dir, load_flows
from control.provisioning import nodes_cli
from control.provisioning.dialplan import DialplanError
from control.provisioning.trunks import (
    create_did,
    create_trunk,
    delete_did,
    delete_trunk,
    list_dids,
    list_trunks,
    update_did,
)
from control.recordings import cli as recordings_cli
from control.settings import Settings, get_settings
from control.speech import cli as speech_cli
from control.stack.manager import Stack, StackError


def _csv(value: str) -> list[str]:
    return [v for v in (p.strip() for p in value.split(",")) if v]


def _apply(settings: Settings, db: Database, unregister: Sequence[str] = ()) -> None:
    """Push a data change into the running stack (or just render when down),
    keeping the resulting dialplan as a version; drop the registrations of
    the SIP users in `unregister`."""
    from control.provisioning.dialplan import apply_data_change

    apply_data_change(settings, db, unregister=unregister)


def _optional_csv(value: str | None) -> list[str] | None:
    """None: not given (unchanged); "" clears."""
    return None if value is None else _csv(value)


def _first_admin(settings: Settings) -> str | None:
    """On a new install, the first admin with a generated password, shown once."""
    from sqlalchemy import select

    from control.auth.audit import CLI
    from control.auth.models import Role, User
    from control.auth.service import create_user

    with Database(settings).session() as session:
        if session.scalar(select(User.id).where(User.role == Role.ADMIN.value)) is not None:
            return None
        password = secrets.token_urlsafe(12)
        create_user(session, actor=CLI, email="admin@aitcomms.local", role=Role.ADMIN.value,
                    password=password)
    return password


def cmd_up(settings: Settings, _args: argparse.Namespace) -> int:
    stack = Stack(settings)
    stack.up()
    if not _print_status(stack):  # it came up, and something is down again already
        print("\nAIT-COMMS is not fully up: see `why not` above and var/log/.", file=sys.stderr)
        return 3
    password = _first_admin(settings)
    if password:
        print(f"\nFirst admin: admin@aitcomms.local, password (shown once): {password}")
    print(f"\nAIT-COMMS is up.\n  agent desktop, wallboard, admin: {settings.control_url}/\n"
          f"  control plane + API: {settings.control_url}/api/v1/openapi.json\n"
          f"  SIP (desk phones):   sip:{settings.public_ip}:{settings.ports.sip} (UDP/TCP)\n"
          f"  SIP over WSS:        wss://{settings.public_ip}:{settings.ports.wss}\n"
          f"  logs:                {settings.log_dir}\n"
          "  add an agent:        aitcomms agent add 1001 --name 'Ana' --password '...'")
    return 0


def cmd_down(settings: Settings, _args: argparse.Namespace) -> int:
    Stack(settings).down()
    print("AIT-COMMS is down.")
    return 0


def _print_status(stack: Stack) -> bool:
    """One line per component (nothing else on stdout: scripts key lines by
    their first word); the supervisor's own line and the recordings disk's
    go to stderr."""
    rows = stack.status()
    width = max([10, *(len(r.name) for r in rows)])  # media nodes: asterisk-<name>
    print(f"{'component':<{width}} {'state':<5} {'pid':>7}  {'ports':<42} {'restarts':>8}  "
          f"{'last exit':<38} why not")
    for r in rows:
        restarts = "-" if r.restarts is None else str(r.restarts)
        print(f"{r.name:<{width}} {'up' if r.up else 'DOWN':<5} {r.pid or '-':>7}  {r.ports:<42} "
              f"{restarts:>8}  {r.last_exit or '-':<38} {r.reason}".rstrip())
    supervised, line = stack.supervisor_status()
    print(line, file=sys.stderr)
    disk = disk_state(stack.settings.recordings_dir)
    print(f"recordings: {stack.settings.recordings_dir}: "
          f"{disk.describe() if disk else 'the folder is not there'}", file=sys.stderr)
    return all(r.up for r in rows) and supervised


def cmd_status(settings: Settings, _args: argparse.Namespace) -> int:
    return 0 if _print_status(Stack(settings)) else 3


def cmd_supervise(settings: Settings, _args: argparse.Namespace) -> int:
    from control.stack.supervisor import supervise

    return supervise(settings)


def cmd_exec(settings: Settings, args: argparse.Namespace) -> int:
    Stack(settings).component(args.component).exec()
    return 1  # exec only returns by raising


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    from control.api.app import serve

    serve(settings)
    return 0


def cmd_apply(settings: Settings, _args: argparse.Namespace) -> int:
    db = Database(settings)
    from control.provisioning.dialplan import apply_data_change

    changed = apply_data_change(settings, db)
    print("\n".join(f"rendered {p}" for p in changed) or "nothing changed")
    return 0


def cmd_render(settings: Settings, _args: argparse.Namespace) -> int:
    Stack(settings).prepare(need_rootfs=False).dispose()
    print(f"configs rendered for Asterisk ({settings.asterisk_dir / 'etc'}) "
          f"and Kamailio ({settings.kamailio_dir})")
    return 0


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    Database(settings).upgrade()
    print("database schema is up to date")
    return 0


def cmd_db_seed(settings: Settings, args: argparse.Namespace) -> int:
    from control.crm.seed import seed

    db = Database(settings)
    db.upgrade()
    with db.session() as session:
        added = seed(session)
    print("\n".join(f"customer {name} added" for name in added)
          or "demo data already there")
    if args.demo:
        from control.onboarding.cli import seed_demo

        seed_demo(settings, db)
    return speech_cli.cmd_kb_seed(settings, args)  # the knowledge base's articles


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    from control.auth.audit import CLI
    from control.auth.service import create_user

    generated = None
    if args.password is None:
        generated = args.password = secrets.token_urlsafe(12)
    with Database(settings).session() as session:
        user = create_user(session, actor=CLI, email=args.email, role=args.role,
                           password=args.password, agent_extension=args.agent).as_dict()
    print(f"user {user['email']} created: role {user['role']}"
          + (f", agent {user['agent_extension']}" if user["agent_extension"] else ""))
    if generated:
        print(f"  generated password (shown once): {generated}")
    return 0


def cmd_user_totp(settings: Settings, args: argparse.Namespace) -> int:
    from control.auth.audit import CLI
    from control.auth.service import enable_totp

    with Database(settings).session() as session:
        uri = enable_totp(session, actor=CLI, email=args.email)
    print(f"two-factor enabled for {args.email.strip().lower()}: from now on login needs "
          "the code of an authenticator app")
    print(f"  add this to the app (shown once; as a QR code: qrencode -t ANSI URI): {uri}")
    return 0


def cmd_agent_add(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    with db.session() as session:
        agent, generated = create_agent(
            session, extension=args.extension, name=args.name, password=args.password,
            realm=settings.sip_domain, skills=_csv(args.skills), languages=_csv(args.languages),
            media_encryption=args.media_encryption,
        )
        summary = agent.as_dict()
    _apply(settings, db)
    print(f"agent {summary['extension']} ({summary['name']}) created; "
          f"skills={','.join(summary['skills']) or '-'} "  # type: ignore[arg-type]
          f"languages={','.join(summary['languages']) or '-'}")  # type: ignore[arg-type]
    if summary["media_encryption"] == "sdes":
        print(f"  SIP user {summary['extension']}, domain {settings.sip_domain}, registrar "
              f"sips:{settings.public_ip}:{settings.ports.sips} (TLS only; media SRTP, SDES)")
    else:
        print(f"  SIP user {summary['extension']}, domain {settings.sip_domain}, registrar "
              f"{settings.public_ip}:{settings.ports.sip} (UDP/TCP), "
              f"{settings.public_ip}:{settings.ports.sips} (TLS) or "
              f"wss://{settings.public_ip}:{settings.ports.wss}")
    if generated:
        print(f"  generated SIP password (shown once): {generated}")
    return 0


def cmd_agent_list(settings: Settings, _args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        for a in list_agents(session):
            print(f"{a.extension:<8} {a.name:<30} skills={','.join(a.skills) or '-'} "
                  f"languages={','.join(a.languages) or '-'}")
    return 0


def _agent_line(a: dict[str, object]) -> str:
    return (f"{a['extension']:<8} {a['name']:<30} "
            f"skills={','.join(a['skills']) or '-'} "  # type: ignore[arg-type]
            f"languages={','.join(a['languages']) or '-'}"  # type: ignore[arg-type]
            f"{' media=sdes' if a.get('media_encryption') == 'sdes' else ''}")


def cmd_agent_update(settings: Settings, args: argparse.Namespace) -> int:
    if all(v is None for v in (args.name, args.password, args.skills, args.languages,
                               args.media_encryption)):
        raise InvalidInput("agent update", "nothing to change: give --name, --password, "
                                           "--skills, --languages or --media-encryption")
    db = Database(settings)
    with db.session() as session:
        agent, password_changed = update_agent(
            session, args.extension, realm=settings.sip_domain, name=args.name,
            password=args.password, skills=_optional_csv(args.skills),
            languages=_optional_csv(args.languages), media_encryption=args.media_encryption)
        summary = agent.as_dict()
    _apply(settings, db, unregister=[args.extension] if password_changed else [])
    print(f"agent {_agent_line(summary)} updated")
    if password_changed:
        print("  its phones were unregistered: they register again (new password or "
              "media encryption)")
    return 0


def cmd_agent_remove(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    channels = live_channels(settings, args.extension)
    with db.session() as session:
        removed = delete_agent(session, args.extension, live_channels=channels)
    _apply(settings, db, unregister=[args.extension])
    queues, users = removed["queues"], removed["users"]
    print(f"agent {args.extension} removed; its registrations dropped"
          + (f"; it left queue {', '.join(queues)}" if queues else "")  # type: ignore[arg-type]
          + (f"; user {', '.join(users)} no longer answers as it"  # type: ignore[arg-type]
             if users else ""))
    return 0


def cmd_agent_status(settings: Settings, args: argparse.Namespace) -> int:
    try:
        status = AgentStatus(args.status)
    except ValueError as exc:
        raise InvalidInput("status", "one of available, paused, logged_out") from exc
    if status not in (AgentStatus.AVAILABLE, AgentStatus.PAUSED, AgentStatus.LOGGED_OUT):
        raise InvalidInput("status", "one of available, paused, logged_out")
    agent = AcdStore(Database(settings)).set_agent_status(
        args.extension, status, args.reason or ("break" if status == AgentStatus.PAUSED
                                                else None), 0)
    if agent is None:
        raise NotFound("agent", args.extension)
    print(f"agent {agent['extension']}: {agent['status']}"
          + (f" ({agent['pause_reason']})" if agent["pause_reason"] else ""))
    return 0


def cmd_queue_add(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    with db.session() as session:
        queue = create_queue(
            session, name=args.name, skills=_csv(args.skills), language=args.language,
            wrapup_s=args.wrapup, ring_timeout_s=args.ring_timeout, max_misses=args.max_misses,
            max_wait_s=args.max_wait, service_level_s=args.service_level,
            announce_every_s=args.announce_every,
            record=not args.no_record)
        for ext in _csv(args.members):
            set_member(session, queue.name, ext)
        summary = queue.as_dict()
    _apply(settings, db)
    members = ",".join(str(m["extension"]) for m in summary["members"])  # type: ignore[attr-defined]
    print(f"queue {summary['name']} created: skills={','.join(summary['skills']) or '-'} "  # type: ignore[arg-type]
          f"wrap-up {summary['wrapup_s']} s, members={members or '-'}")
    return 0


def _weights(pairs: list[str] | None) -> dict[str, object] | None:
    if not pairs:
        return None
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = float(raw)
        except ValueError:
            raise InvalidInput("weight", f"{pair!r}: expected NAME=NUMBER, e.g. "
                                         "language=30") from None
    return out


def _context_skills(pairs: list[str] | None) -> dict[str, object] | None:
    """--context-skill CONTEXT=SKILL (CONTEXT= : infer nothing from it)."""
    if not pairs:
        return None
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, skill = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput("context-skill", f"{pair!r}: expected CONTEXT=SKILL, e.g. "
                                                "open_claim=claims or policy:auto=auto")
        out[key.strip()] = skill.strip() or None
    return out


def _queue_line(q: dict[str, object]) -> str:
    members = ",".join(f"{m['extension']}" + (f"(-{m['penalty']})" if m["penalty"] else "")
                       for m in q["members"])  # type: ignore[attr-defined]
    weights = ",".join(f"{k}={v:g}" for k, v in q["weights"].items())  # type: ignore[attr-defined]
    context = ",".join(f"{k}={v}" for k, v in q["context_skills"].items())  # type: ignore[attr-defined]
    return (f"{q['name']:<12} skills={','.join(q['skills']) or '-'} "  # type: ignore[arg-type]
            f"language={q['language']} wrapup={q['wrapup_s']}s ring={q['ring_timeout_s']}s "
            f"misses={q['max_misses']} max_wait={q['max_wait_s']}s "
            f"sl={q['service_level_s']}s announce={q['announce_every_s']}s "
            f"record={'yes' if q['record'] else 'no'} weights={weights} "
            f"context_skills={context or '-'} members={members or '-'}")


def cmd_queue_list(settings: Settings, _args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        for q in list_queues(session):
            print(_queue_line(q.as_dict()))
    return 0


def cmd_queue_update(settings: Settings, args: argparse.Namespace) -> int:
    numbers = {"wrapup_s": args.wrapup, "ring_timeout_s": args.ring_timeout,
               "max_misses": args.max_misses, "max_wait_s": args.max_wait,
               "service_level_s": args.service_level, "announce_every_s": args.announce_every}
    weights = _weights(args.weight)
    context_skills = _context_skills(args.context_skill)
    if all(v is None for v in (*numbers.values(), args.skills, args.language, args.record,
                               weights, context_skills)):
        raise InvalidInput("queue update", "nothing to change (see aitcomms queue update -h)")
    db = Database(settings)
    with db.session() as session:
        queue = update_queue(session, args.name, skills=_optional_csv(args.skills),
                             language=args.language, record=args.record, weights=weights,
                             context_skills=context_skills, **numbers).as_dict()
    _apply(settings, db)
    print(f"queue {_queue_line(queue)}")
    return 0


def cmd_queue_remove(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    with db.session() as session:
        delete_queue(session, args.name)
    _apply(settings, db)
    print(f"queue {args.name} removed")
    return 0


def cmd_queue_member(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    with db.session() as session:
        if args.member_command == "add":
            queue = set_member(session, args.name, args.extension, args.penalty)
        else:
            queue = remove_member(session, args.name, args.extension)
        members = [f"{m.agent.extension}(penalty {m.penalty})" for m in queue.members]
    _apply(settings, db)
    print(f"queue {args.name}: members {', '.join(members) or '-'}")
    return 0


def cmd_trunk_add(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    with db.session() as session:
        trunk = create_trunk(session, name=args.name, host=args.host, port=args.port).as_dict()
    _apply(settings, db)
    print(f"trunk {trunk['name']} created: calls from {trunk['address']} are trusted; "
          f"outbound to {trunk['host']}:{trunk['port']}")
    return 0


def cmd_trunk_list(settings: Settings, _args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        for t in list_trunks(session):
            print(f"{t.name:<16} host={t.host} address={t.address} port={t.port}")
    return 0


def cmd_trunk_remove(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    with db.session() as session:
        trunk = delete_trunk(session, args.name)
        address = trunk.address
    _apply(settings, db)
    print(f"trunk {args.name} removed: calls from {address} are no longer trusted")
    return 0


def cmd_did_list(settings: Settings, _args: argparse.Namespace) -> int:
    with Database(settings).session() as session:
        for d in list_dids(session):
            print(f"{d.number:<16} -> {d.target}")
    return 0


def cmd_did_update(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    ivrs = load_flows(dialplans_dir(settings.root) / "ivr")
    with db.session() as session:
        did = update_did(session, args.number, target=args.to, ivrs=ivrs).as_dict()
    _apply(settings, db)
    print(f"DID {did['number']} -> {did['target']}")
    return 0


def cmd_did_remove(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    with db.session() as session:
        number = delete_did(session, args.number).number
    _apply(settings, db)
    print(f"DID {number} removed (its callers now hear that the number is not in service)")
    return 0


def cmd_did_add(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings)
    ivrs = load_flows(dialplans_dir(settings.root) / "ivr")
    with db.session() as session:
        did = create_did(session, number=args.number, target=args.to, ivrs=ivrs).as_dict()
    _apply(settings, db)
    print(f"DID {did['number']} -> {did['target']}")
    return 0


# -- dialplan: validate, diff, apply, history, rollback, simulate ------------


def cmd_dialplan_validate(settings: Settings, _args: argparse.Namespace) -> int:
    from control.provisioning import dialplan

    v = dialplan.validate(settings, Database(settings))
    for w in v.warnings:
        print(f"warning: {w}")
    dialplan.refuse_unless_valid(v)
    print(f"dialplan OK: {len(dialplan.contexts(v.text))} contexts, "
          f"{len(v.text.splitlines())} lines, {len(v.warnings)} warnings "
          "(rendered and loaded by a scratch Asterisk; nothing applied)")
    return 0


def cmd_dialplan_diff(settings: Settings, _args: argparse.Namespace) -> int:
    from control.provisioning import dialplan

    v = dialplan.validate(settings, Database(settings), with_asterisk=False)
    diff = dialplan.unified(dialplan.running_text(settings), v.text)
    print(diff or "no difference: the running dialplan is what the sources render")
    return 1 if diff else 0


def cmd_dialplan_apply(settings: Settings, args: argparse.Namespace) -> int:
    from control.provisioning import dialplan

    version, v = dialplan.apply(settings, Database(settings), author=args.author)
    for w in v.warnings:
        print(f"warning: {w}")
    if version is None:
        print("nothing to apply: the running dialplan is what the sources render")
        return 0
    added = sum(1 for line in version.diff.splitlines()
                if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in version.diff.splitlines()
                  if line.startswith("-") and not line.startswith("---"))
    print(f"dialplan version {version.id} applied by {version.author} "
          f"(+{added} -{removed} lines); Asterisk reloaded and verified")
    return 0


def cmd_dialplan_history(settings: Settings, _args: argparse.Namespace) -> int:
    from control.provisioning import dialplan

    rows = dialplan.history(Database(settings))
    print(f"{'version':>7}  {'applied at (UTC)':<19}  {'author':<20} {'action':<9} change")
    for r in rows:
        lines = r.diff.splitlines()
        change = (f"+{sum(1 for x in lines if x.startswith('+') and not x.startswith('+++'))} "
                  f"-{sum(1 for x in lines if x.startswith('-') and not x.startswith('---'))}")
        what = r.action + (f" {r.restored_from}" if r.restored_from else "")
        print(f"{r.id:>7}  {r.created_at:%Y-%m-%d %H:%M:%S}  {r.author[:20]:<20} "
              f"{what:<9} {change}  sha256 {r.sha256[:12]}")
    if not rows:
        print("no dialplan version stored yet (aitcomms dialplan apply)")
    return 0


def cmd_dialplan_rollback(settings: Settings, args: argparse.Namespace) -> int:
    from control.provisioning import dialplan

    version = dialplan.rollback(settings, Database(settings), args.version, author=args.author)
    print(f"dialplan version {args.version} restored as version {version.id}; Asterisk "
          "reloaded and verified.\n  note: the sources (dialplans/, database) still render "
          "the newer dialplan: `aitcomms dialplan diff` shows it; the next apply "
          "replaces this one")
    return 0


def _htable_entries(dump: str) -> list[dict[str, str]]:
    """The items of ``kamcmd htable.dump`` output (name, value, expires)."""
    entries: list[dict[str, str]] = []
    for line in dump.splitlines():
        key, sep, value = line.strip().partition(":")
        if not sep:
            continue
        if key == "name":
            entries.append({"name": value.strip()})
        elif key in ("value", "expires") and entries:
            entries[-1][key] = value.strip()
    return entries


def cmd_edge_bans(settings: Settings, _args: argparse.Namespace) -> int:
    stack = Stack(settings)
    for table, what in (("ipban", "address"), ("userban", "user")):
        for entry in _htable_entries(stack.kamailio_rpc("htable.dump", table)):
            reason = entry.get("value", "") if table == "ipban" else (
                "guessed, last from " + entry.get("value", "?"))
            print(f"{what} {entry['name']}  {reason}  {entry.get('expires', '?')} s left")
    return 0


def cmd_edge_unban(settings: Settings, args: argparse.Namespace) -> int:
    """Lift the ban of an address or the lock of a user, and forget their
    failed digests (or the next failure bans again at once)."""
    stack = Stack(settings)
    key = f"s:{args.target}"  # kamcmd reads digits as a number
    for table, name in (("ipban", key), ("userban", key), ("authfail", f"ip:{args.target}"),
                        ("authfail", f"user:{args.target}")):
        stack.kamailio_rpc("htable.delete", table, name)
    print(f"{args.target}: not banned")
    return 0


def cmd_dialplan_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from control.ivr.simulate import check_call, parse_at, simulate
    from control.provisioning import render

    at = parse_at(args.at, args.tz, settings.clock)
    db = Database(settings)
    data = render.load_data(settings, db)
    did = check_call(data, args.from_number, args.to, args.digits)
    outcome = simulate(db, data, caller=args.from_number, did=did, at=at, digits=args.digits)
    print("\n".join(outcome.lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aitcomms", description="AIT-COMMS contact center")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[Settings, argparse.Namespace], int], help: str,
            parent: argparse._SubParsersAction | None = None) -> argparse.ArgumentParser:  # type: ignore[type-arg]
        p = (parent or sub).add_parser(name, help=help, description=help)
        p.set_defaults(func=fn)
        return p

    add("up", cmd_up, "start every component that is not running")
    add("down", cmd_down, "stop the whole stack")
    add("status", cmd_status, "each component: up or down, pid, ports, and why not")
    add("serve", cmd_serve, "run the control plane in the foreground (used by `up`)")
    add("supervise", cmd_supervise, "run the stack's supervisor in the foreground (used by "
                                    "`up`): starts the daemons, restarts any that dies")
    p = add("exec", cmd_exec, "become one component in the foreground, as the supervisor "
                              "starts it (systemd units: deploy/systemd/)")
    p.add_argument("component", choices=["asterisk", "rtpengine", "kamailio", "control"])
    add("render", cmd_render, "set up secrets, schema and certificate; render every config")
    add("apply", cmd_apply, "render configs from the database and reload the running stack")

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    add("upgrade", cmd_db_upgrade, "migrate the schema to the latest version", db)
    p = add("seed", cmd_db_seed, "add the demo customers, policies, claim and tasks "
                                 "(idempotent)", db)
    p.add_argument("--demo", action="store_true",
                   help="on a new install also queues, two agents with their logins and a "
                        "number to the insurance IVR (passwords printed once)")

    user = sub.add_parser("user", help="users of the API and web UI").add_subparsers(
        dest="user_command", required=True)
    p = add("add", cmd_user_add, "create a user who logs in to the API and web UI", user)
    p.add_argument("email")
    p.add_argument("--role", required=True, choices=["admin", "supervisor", "agent"])
    p.add_argument("--password", help="at least 10 characters (generated and shown once "
                                      "if omitted)")
    p.add_argument("--agent", help="the agent extension this user answers calls as")
    p = add("totp", cmd_user_totp, "turn on two-factor login (TOTP) for a user; prints the "
                                   "otpauth URI once (again: a new secret)", user)
    p.add_argument("email")
    from control.auth.cli import register as register_users

    register_users(user, add)

    agent = sub.add_parser("agent", help="agents").add_subparsers(dest="agent_command",
                                                                   required=True)
    p = add("add", cmd_agent_add, "create an agent and its SIP endpoint", agent)
    p.add_argument("extension")
    p.add_argument("--name", required=True)
    p.add_argument("--password", help="SIP password (generated and shown once if omitted)")
    p.add_argument("--skills", default="", help="comma separated, e.g. auto,home")
    p.add_argument("--languages", default="", help="comma separated, e.g. es,en")
    p.add_argument("--media-encryption", default="none", choices=("none", "sdes"),
                   help="sdes: SRTP only, its phones over SIP TLS only")
    add("list", cmd_agent_list, "list agents", agent)
    p = add("update", cmd_agent_update, "change an agent; a new password unregisters its "
                                        "phones", agent)
    p.add_argument("extension")
    p.add_argument("--name")
    p.add_argument("--password", help="new SIP password (at least 8 characters)")
    p.add_argument("--skills", help="comma separated; replaces them (\"\" clears)")
    p.add_argument("--languages", help="comma separated; replaces them (\"\" clears)")
    p.add_argument("--media-encryption", choices=("none", "sdes"),
                   help="sdes: SRTP only, its phones over SIP TLS only")
    p = add("remove", cmd_agent_remove, "remove an agent (refused while it has a call or "
                                        "a DID rings it); drops its registrations", agent)
    p.add_argument("extension")
    p = add("status", cmd_agent_status, "log an agent in or out, pause or unpause", agent)
    p.add_argument("extension")
    p.add_argument("status", help="available, paused or logged_out")
    p.add_argument("--reason", help="pause reason code (e.g. break, training)")

    queue = sub.add_parser("queue", help="queues").add_subparsers(dest="queue_command",
                                                                   required=True)
    p = add("add", cmd_queue_add, "create a queue", queue)
    p.add_argument("name")
    p.add_argument("--skills", default="", help="skills its callers want, e.g. auto")
    p.add_argument("--language", default="es")
    p.add_argument("--wrapup", type=int, default=10, help="seconds of wrap-up after a call")
    p.add_argument("--ring-timeout", type=int, default=15, help="seconds before the next agent")
    p.add_argument("--max-misses", type=int, default=2, help="misses in a row before pause")
    p.add_argument("--max-wait", type=int, default=300, help="seconds before callback/voicemail")
    p.add_argument("--service-level", type=int, default=20, help="answer target in seconds")
    p.add_argument("--announce-every", type=int, default=30,
                   help="seconds between position/expected-wait announcements (0: none)")
    p.add_argument("--no-record", action="store_true", help="do not record this queue's calls")
    p.add_argument("--members", default="", help="agent extensions, comma separated")
    add("list", cmd_queue_list, "list queues with their settings and members", queue)
    p = add("update", cmd_queue_update, "change a queue's settings (the next call uses them)",
            queue)
    p.add_argument("name")
    p.add_argument("--skills", help="comma separated; replaces them (\"\" clears)")
    p.add_argument("--language")
    p.add_argument("--wrapup", type=int)
    p.add_argument("--ring-timeout", type=int)
    p.add_argument("--max-misses", type=int)
    p.add_argument("--max-wait", type=int)
    p.add_argument("--service-level", type=int)
    p.add_argument("--announce-every", type=int)
    p.add_argument("--record", action=argparse.BooleanOptionalAction, default=None,
                   help="record this queue's calls (--no-record: do not)")
    p.add_argument("--weight", action="append", metavar="NAME=NUMBER",
                   help="a score weight: previous_agent, language, skill or call_today "
                        "(repeatable), e.g. --weight language=30")
    p.add_argument("--context-skill", action="append", metavar="CONTEXT=SKILL",
                   help="the skill a caller's customer file adds (repeatable): CONTEXT is "
                        "open_claim or policy:auto|home|life|health, e.g. --context-skill "
                        "open_claim=claims; CONTEXT= adds none; others keep theirs")
    p = add("remove", cmd_queue_remove, "remove a queue (refused while a DID routes to it "
                                        "or a call of it is in progress)", queue)
    p.add_argument("name")
    member = queue.add_parser("member", help="queue membership").add_subparsers(
        dest="member_command", required=True)
    for action in ("add", "remove"):
        p = add(action, cmd_queue_member, f"{action} an agent", member)
        p.add_argument("name")
        p.add_argument("extension")
        p.add_argument("--penalty", type=int, default=0)

    trunk = sub.add_parser("trunk", help="SIP trunks").add_subparsers(dest="trunk_command",
                                                                      required=True)
    p = add("add", cmd_trunk_add, "add an IP-authenticated SIP trunk", trunk)
    p.add_argument("name")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=5060)
    add("list", cmd_trunk_list, "list trunks", trunk)
    p = add("remove", cmd_trunk_remove, "remove a trunk: its address is no longer trusted",
            trunk)
    p.add_argument("name")

    did = sub.add_parser("did", help="incoming numbers").add_subparsers(dest="did_command",
                                                                        required=True)
    p = add("add", cmd_did_add, "route an incoming number (E.164) to a target", did)
    p.add_argument("number", help="E.164, e.g. +34910000001")
    p.add_argument("--to", required=True, help="ext:EXTENSION, queue:NAME or ivr:NAME")
    add("list", cmd_did_list, "list incoming numbers and their targets", did)
    p = add("update", cmd_did_update, "send an incoming number to another target", did)
    p.add_argument("number", help="E.164, e.g. +34910000001")
    p.add_argument("--to", required=True, help="ext:EXTENSION, queue:NAME or ivr:NAME")
    p = add("remove", cmd_did_remove, "stop routing an incoming number", did)
    p.add_argument("number", help="E.164, e.g. +34910000001")

    from control.onboarding.cli import register as register_calls

    register_calls(sub, add)

    edge = sub.add_parser("edge", help="the SIP edge's guard").add_subparsers(
        dest="edge_command", required=True)
    add("bans", cmd_edge_bans, "addresses banned (flood, password guessing) and users locked "
                               "(password guessing), with the seconds left", edge)
    p = add("unban", cmd_edge_unban, "lift the ban of an address or the lock of a user now",
            edge)
    p.add_argument("target", metavar="ADDRESS|USER")

    dp = sub.add_parser("dialplan", help="the dialplan as versioned config").add_subparsers(
        dest="dialplan_command", required=True)
    add("validate", cmd_dialplan_validate,
        "render and lint the dialplan (and let a scratch Asterisk load it); touches nothing",
        dp)
    add("diff", cmd_dialplan_diff, "what applying would change in the running dialplan", dp)
    p = add("apply", cmd_dialplan_apply,
            "validate, write, reload Asterisk without dropping calls, verify, store a version",
            dp)
    p.add_argument("--author", help="who applies (default: the login name)")
    add("history", cmd_dialplan_history, "the stored dialplan versions", dp)
    p = add("rollback", cmd_dialplan_rollback, "restore a stored version exactly", dp)
    p.add_argument("version", type=int)
    p.add_argument("--author", help="who rolls back (default: the login name)")
    p = add("simulate", cmd_dialplan_simulate,
            "print the path a call would take (menus, branches, queue), placing no call", dp)
    p.add_argument("--from", dest="from_number", required=True, help="the caller's number")
    p.add_argument("--to", required=True, help="the DID dialled (E.164)")
    p.add_argument("--at", help='"YYYY-MM-DD HH:MM" (default: now, or AITCOMMS_CLOCK)')
    p.add_argument("--tz", default="Europe/Madrid", help="time zone of --at")
    p.add_argument("--digits", default="", help="keys pressed, in order, e.g. 21")
    recordings_cli.register(sub)
    speech_cli.register(sub)  # speech policy / search, kb (control/speech/cli.py)
    campaign_cli.register(sub, add)  # outbound campaigns, do-not-call lists
    nodes_cli.register(sub, add)  # media nodes (control/provisioning/nodes_cli.py)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    try:
        return int(args.func(settings, args))
    except (InvalidInput, Conflict, NotFound, Unavailable, FlowError, StackError,
            DialplanError) as exc:
        print(f"aitcomms: error: {exc}", file=sys.stderr)
        return 2
    except sqlalchemy.exc.ArgumentError:
        print("aitcomms: error: DATABASE_URL: not a database URL (e.g. postgresql://USER:"
              "PASSWORD@HOST:5432/NAME)", file=sys.stderr)
        return 2
    except sqlalchemy.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(f"aitcomms: error: the database cannot be reached ({reason})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
