"""``aitcomms dialplan simulate``: the path a call would take, without a call.

It walks the same :class:`~control.ivr.flows.Flow` objects the dialplan is
rendered from, node by node with the semantics of ``dialplans/ivr-node.conf.j2``
(menus retry on an invalid key or a timeout, ``retries`` failures go to
``on_fail``; business hours by the node's time zone, holidays first), and asks
the CRM through the same read-only functions the FastAGI server uses
(:mod:`agi.handlers`). Nothing is written: a callback is reported, not booked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agi import handlers
from control.acd.needs import resolve as resolve_needs
from control.crm.customers import customer_context, find_customer_by_phone
from control.crm.models import Customer
from control.db import Database
from control.errors import InvalidInput
from control.ivr.flows import Flow, Node
from control.provisioning.render import StackData
from control.provisioning.targets import parse_target
from control.provisioning.trunks import normalise_did


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    end: str = ""  # queue | hangup | voicemail | agent | unknown
    queue: str = ""
    language: str = ""
    skills: tuple[str, ...] = ()
    priority: int = 0
    customer_id: int | None = None
    nodes: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.lines.append(text)


def parse_at(text: str | None, tz: str = "Europe/Madrid",
             default: datetime | None = None) -> datetime:
    """``--at`` / ``at``: "YYYY-MM-DD HH:MM" in ``tz``; none given: ``default``
    (the stack's forced clock, AITCOMMS_CLOCK) or now."""
    try:
        zone = ZoneInfo(tz)
    # OSError: the tzdata package's answer to a name too long for a file
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidInput("tz", f"{tz!r} is not a time zone such as Europe/Madrid") from exc
    if not text:
        return (default or datetime.now(zone)).astimezone(zone)
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone)
    except ValueError as exc:
        raise InvalidInput("at", f"{text!r}: expected \"YYYY-MM-DD HH:MM\"") from exc


def check_call(data: StackData, caller: str, did: str, digits: str) -> str:
    """Refuse what no call could be, naming the field; the DID in E.164."""
    if not re.fullmatch(r"\+?[0-9]{1,20}", caller):
        raise InvalidInput("from", f"{caller!r}: the caller's number, digits (and a leading +)")
    try:
        number = normalise_did(did)
    except InvalidInput as exc:
        raise InvalidInput("to", exc.reason) from exc
    if not any(d.number == number for d in data.dids):
        raise InvalidInput("to", f"{number} is not a DID of this stack "
                                 f"(aitcomms did add {number} --to ...)")
    if not re.fullmatch(r"[0-9*#]{0,64}", digits):
        raise InvalidInput("digits", "keys are 0-9, * and #, at most 64")
    return number


def simulate(db: Database, data: StackData, *, caller: str, did: str, at: datetime,
             digits: str = "") -> Outcome:
    out = Outcome()
    number = normalise_did(did)
    route = next((d for d in data.dids if d.number == number), None)
    if route is None:
        out.say(f"DID {number}: not routed -> 'no service' prompt, hang up")
        out.end = "unknown"
        return out
    kind, name = parse_target(route.target)
    out.say(f"DID {number} -> {route.target} (caller {caller}, at {at:%Y-%m-%d %H:%M %Z})")
    if kind == "ext":
        out.say(f"rings agent {name} (30 s), then 'nobody available'")
        out.end = "agent"
        return out
    if kind == "queue":
        _queue(out, db, data, name, "", (), 0, None, caller)
        return out
    flow = next(f for f in data.ivrs if f.name == name)
    if not flow.nodes:
        out.say(f"ivr {flow.name} ({flow.language}): "
                + ", ".join(f"{s.kind} {s.arg}".strip() for s in flow.steps) + ", hang up")
        out.end = "hangup"
        return out
    _walk(out, db, data, flow, caller, at, list(digits))
    return out


def _queue(out: Outcome, db: Database, data: StackData, queue: str, language: str,
           skills: tuple[str, ...], priority: int, customer_id: int | None,
           caller: str) -> None:
    row = next((q for q in data.queues if q.name == queue), None)
    if row is None:
        out.say(f"queue {queue}: does not exist -> voicemail (acd-overflow)")
        out.end = "voicemail"
        return
    out.end, out.queue = "queue", queue
    # what the ACD's router makes of it (control.acd.needs), with the customer
    # it would find: the one identified in the IVR, else the caller ID's
    with db.session() as s:
        found = (s.get(Customer, customer_id) if customer_id is not None else None) \
            or find_customer_by_phone(s, caller)
        context = customer_context(s, found.id) if found else {}
    needs = resolve_needs([language, "|".join(skills)], context, {
        "language": row.language, "skills": row.skills, "context_skills": row.context_skills})
    out.language, out.skills = needs.language, needs.skills
    out.priority, out.customer_id = priority, customer_id
    out.say(f"queue {queue}: AIT_LANGUAGE={language} AIT_SKILLS={'|'.join(skills)} "
            f"AIT_PRIORITY={priority if priority else ''} "
            f"AIT_CUSTOMER_ID={customer_id if customer_id is not None else ''}"
            f" -> ACD: language {out.language}, skills {','.join(out.skills) or '-'}")


def _walk(out: Outcome, db: Database, data: StackData, flow: Flow, caller: str,
          at: datetime, keys: list[str]) -> None:
    # the prompts' language, and the one the caller chose (only that one
    # routes: otherwise the customer's record, else the queue, decides)
    language, chosen, priority = flow.language, "", 0
    skills: tuple[str, ...] = ()
    customer: str = ""
    policy_number = ""
    out.say(f"ivr {flow.name}: language {language}, answer")
    node: Node | None = flow.node(flow.start)
    steps = 0
    while node is not None:
        steps += 1
        if steps > 200:
            out.say("... more than 200 steps: stopped (a loop with no exit?)")
            out.end = "loop"
            return
        out.nodes.append(node.name)
        here = f"[{node.name}] {node.kind}"
        nxt: str = ""
        if node.kind == "play":
            out.say(f"{here}: play {' & '.join(node.prompts)}")
            nxt = node.next
        elif node.kind == "hours":
            local = at.astimezone(ZoneInfo(node.timezone))
            if local.date() in node.holidays:
                out.say(f"{here}: {local:%Y-%m-%d %H:%M} {node.timezone} is a holiday -> closed")
                nxt = node.closed
            elif any(h.covers(local.weekday(), local.time()) for h in node.open):
                out.say(f"{here}: {local:%a %H:%M} {node.timezone} open")
                nxt = node.next
            else:
                out.say(f"{here}: {local:%a %H:%M} {node.timezone} closed")
                nxt = node.closed
        elif node.kind == "menu":
            tries = 0
            while True:
                out.say(f"{here}: play {' & '.join(node.prompts) or '(nothing)'}, "
                        f"wait {node.timeout} s for a key")
                key = keys.pop(0) if keys else None
                opt = node.option(key) if key else None
                if opt is not None:
                    sets = []
                    if opt.language:
                        language = chosen = opt.language
                        sets.append(f"language={language}")
                    if opt.skills is not None:
                        skills = opt.skills
                        sets.append(f"skills={'|'.join(skills)}")
                    if opt.priority is not None:
                        priority = opt.priority
                        sets.append(f"priority={priority}")
                    out.say(f"  key {key} -> {opt.next}" + (f" ({', '.join(sets)})"
                                                            if sets else ""))
                    nxt = opt.next
                    break
                tries += 1
                what = f"invalid key {key}" if key else "no key (timeout)"
                if tries >= node.retries:
                    out.say(f"  {what}, failure {tries} of {node.retries} -> {node.on_fail}")
                    nxt = node.on_fail
                    break
                out.say(f"  {what}, failure {tries} of {node.retries}: "
                        f"play {' & '.join(node.invalid) or '(nothing)'}, menu again")
        elif node.kind == "identify":
            if node.by == "caller_id":
                with db.session() as s:
                    found = handlers.identify(s, "phone", caller)
                customer = found["AIT_CUSTOMER_ID"]
                out.say(f"{here}: caller ID {caller} -> "
                        + (f"customer {customer}" if customer else "unknown"))
                nxt = node.next if customer else node.on_fail
            else:
                tries = 0
                while True:
                    keyed = "".join(keys[:node.digits])
                    del keys[:node.digits]
                    out.say(f"{here}: play {' & '.join(node.prompts)}, read up to "
                            f"{node.digits} digits: {keyed or '(none)'}")
                    if keyed:
                        with db.session() as s:
                            found = handlers.identify(s, node.by, keyed)
                        if found["AIT_CUSTOMER_ID"]:
                            customer = found["AIT_CUSTOMER_ID"]
                            policy_number = found.get("AIT_POLICY_NUMBER", "")
                            out.say(f"  {node.by} {keyed} -> customer {customer}")
                            nxt = node.next
                            break
                        customer = ""
                    tries += 1
                    if tries >= node.retries:
                        out.say(f"  not identified, failure {tries} of {node.retries} -> "
                                f"{node.on_fail}")
                        nxt = node.on_fail
                        break
                    out.say(f"  not identified, failure {tries} of {node.retries}: "
                            f"play {' & '.join(node.invalid)}, ask again")
        elif node.kind == "self_service":
            with db.session() as s:
                st = handlers.policy_status(s, customer, policy_number, node.timezone)
            if not st["AIT_POLICY_STATUS"]:
                out.say(f"{here}: no policy for customer {customer or '-'} -> {node.on_fail}")
                nxt = node.on_fail
            else:
                renewal = datetime.fromtimestamp(int(st["AIT_POLICY_RENEWAL"]),
                                                 ZoneInfo(node.timezone))
                out.say(f"{here}: policy {st['AIT_POLICY_NUMBER']} {st['AIT_POLICY_STATUS']}, "
                        f"renewal {renewal:%Y-%m-%d} read out")
                nxt = node.next
        elif node.kind == "callback":
            out.say(f"{here}: books a callback task for {caller}"
                    + (f" (customer {customer})" if customer else "")
                    + (f", play {' & '.join(node.prompts)}" if node.prompts else ""))
            nxt = node.next
        elif node.kind == "queue":
            lang = node.language or chosen
            if node.skills is not None:
                skills = node.skills
            if node.priority is not None:
                priority = node.priority
            out.say(f"{here}: -> queue {node.queue}")
            _queue(out, db, data, node.queue, lang, skills, priority,
                   int(customer) if customer else None, caller)
            return
        elif node.kind == "hangup":
            out.say(f"{here}: play {' & '.join(node.prompts) or '(nothing)'}, hang up")
            out.end = "hangup"
            return
        node = flow.node(nxt) if nxt else None
    out.end = "hangup"
