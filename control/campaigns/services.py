"""Outbound campaigns' services: plain functions ``fn(session, ..., *, actor)``
audited in the caller's transaction (API, CLI and admin page call the same),
and the few unaudited writes the dialer makes as calls happen.

A campaign is a sales campaign (``control.crm.sales.Campaign``); dialing it
needs its dialing settings (:func:`configure`). Every field is checked here
and a wrong one is refused with its name (:class:`InvalidInput`, 422): the
settings row is written only whole. Imports (calling list, do-not-call) keep
the good rows and report the others line by line; rows already stored are
never changed by an import.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control.auth.audit import Actor, record
from control.campaigns import rules
from control.campaigns.models import (
    Attempt,
    CampaignDialing,
    DialMode,
    DoNotCall,
    EntryStatus,
    ListEntry,
    MachineAction,
    utc,
)
from control.campaigns.pacing import ADAPTS
from control.crm.sales import Campaign, Lead
from control.errors import Conflict, InvalidInput, NotFound

RESULT_KEYS = ("busy", "no_answer", "machine", "failed", "abandoned")
MAX_RETRY_S = 30 * 86400


def campaign(session: Session, campaign_id: int) -> Campaign:
    found = session.get(Campaign, campaign_id)
    if found is None:
        raise NotFound("campaign", str(campaign_id), "campaign_id")
    return found


def find_campaign(session: Session, key: str) -> Campaign:
    """By id or by name (the CLI's way)."""
    found = (session.get(Campaign, int(key)) if key.isdigit() else
             session.scalar(select(Campaign).where(Campaign.name == key)))
    if found is None:
        raise NotFound("campaign", key, "campaign")
    return found


def dialing(session: Session, campaign_id: int) -> CampaignDialing:
    campaign(session, campaign_id)
    found = session.get(CampaignDialing, campaign_id)
    if found is None:
        raise NotFound("dialing settings of campaign", str(campaign_id), "campaign_id")
    return found


# -- settings ----------------------------------------------------------------------------


def _int(data: dict[str, Any], name: str, low: int, high: int) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(name, "expected a whole number")
    if not low <= value <= high:
        raise InvalidInput(name, f"between {low} and {high}")
    return value


def _str_list(data: dict[str, Any], name: str, max_items: int = 200) -> list[str]:
    value = data[name]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(name, "expected a list of names")
    if len(value) > max_items:
        raise InvalidInput(name, f"at most {max_items}")
    return list(dict.fromkeys(value))


def _text(data: dict[str, Any], name: str, max_len: int, nullable: bool = False) -> str | None:
    value = data[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidInput(name, f"expected a string of at most {max_len} characters")
    return value


def check_settings(data: dict[str, Any]) -> dict[str, Any]:
    """The settings given, each checked; unknown names refused."""
    out: dict[str, Any] = {}
    for name in data:
        if name not in SETTINGS:
            raise InvalidInput(name, f"unknown field; known: {', '.join(SETTINGS)}")
        out[name] = SETTINGS[name](data, name)
    if out.get("caller_id"):
        from control.crm.identity import normalise_phone

        out["caller_id"] = normalise_phone(out["caller_id"], "caller_id")
    return out


def _one_of(choices: tuple[str, ...]) -> Any:
    """A setting that must be one of ``choices`` (the field named if not)."""
    def check(data: dict[str, Any], name: str) -> str:
        value = data[name]
        if value not in choices:
            raise InvalidInput(name, f"one of {', '.join(choices)}")
        return str(value)
    return check


def _hours(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise InvalidInput(name, "expected HH:MM")
    at = rules.parse_hhmm(value, name)
    return at.strftime("%H:%M")


def _days(data: dict[str, Any], name: str) -> list[int]:
    value = data[name]
    if (not isinstance(value, list) or not value or
            not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6
                    for d in value)):
        raise InvalidInput(name, "a list of weekdays, 0 (Monday) to 6 (Sunday)")
    return sorted(set(value))


def _retry_rules(data: dict[str, Any], name: str) -> dict[str, int]:
    value = data[name]
    if not isinstance(value, dict):
        raise InvalidInput(name, f"an object: result ({', '.join(RESULT_KEYS)}) -> seconds")
    out = {}
    for key, seconds in value.items():
        if key not in RESULT_KEYS:
            raise InvalidInput(f"{name}.{key}", f"one of {', '.join(RESULT_KEYS)}")
        if seconds is None:
            continue  # that result is not retried
        if isinstance(seconds, bool) or not isinstance(seconds, int) or \
                not 1 <= seconds <= MAX_RETRY_S:
            raise InvalidInput(f"{name}.{key}", f"seconds, 1 to {MAX_RETRY_S}, or null")
        out[key] = seconds
    return out


def _dispositions(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data[name]
    if not isinstance(value, list) or not value or len(value) > 40:
        raise InvalidInput(name, "a list of 1 to 40 dispositions")
    out, codes = [], set()
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("code"), str) or \
                not item["code"] or len(item["code"]) > 32:
            raise InvalidInput(where, "an object with a code (at most 32 characters)")
        if item["code"] in codes:
            raise InvalidInput(where, f"code {item['code']!r} twice")
        unknown = set(item) - {"code", "label", "final", "retry_s", "dnc"}
        if unknown:
            raise InvalidInput(where, f"unknown keys {', '.join(sorted(unknown))}")
        retry = item.get("retry_s")
        if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int)
                                  or not 1 <= retry <= MAX_RETRY_S):
            raise InvalidInput(f"{where}.retry_s", f"seconds, 1 to {MAX_RETRY_S}")
        for flag in ("final", "dnc"):
            if flag in item and not isinstance(item[flag], bool):
                raise InvalidInput(f"{where}.{flag}", "true or false")
        codes.add(item["code"])
        out.append({"code": item["code"], "label": str(item.get("label") or item["code"])[:60],
                    "final": bool(item.get("final", retry is None)), "retry_s": retry,
                    "dnc": bool(item.get("dnc", False))})
    return out


def _flag(data: dict[str, Any], name: str) -> bool:
    if not isinstance(data[name], bool):
        raise InvalidInput(name, "true or false")
    return bool(data[name])


def _cap(data: dict[str, Any], name: str) -> float:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise InvalidInput(name, "a percentage, 0 to 100")
    return float(value)


SETTINGS: dict[str, Any] = {
    "mode": _one_of(tuple(m.value for m in DialMode)),
    "agents": _str_list,
    "queues": _str_list,
    "caller_id": lambda d, n: _text(d, n, 20, nullable=True),
    "hours_start": _hours,
    "hours_end": _hours,
    "days": _days,
    "retry_rules": _retry_rules,
    "max_attempts": lambda d, n: _int(d, n, 1, 20),
    # the rules: at least 15 s of ringing before giving up
    "ring_s": lambda d, n: _int(d, n, rules.MIN_RING_S, 120),
    "script": lambda d, n: _text(d, n, 20000),
    "dispositions": _dispositions,
    "message": lambda d, n: _message(d, n),
    "amd": _flag,
    "machine_action": _one_of(tuple(m.value for m in MachineAction)),
    "abandon_cap_pct": _cap,
    "abandon_window_s": lambda d, n: _int(d, n, 60, 366 * 86400),
    "adapt": _one_of(ADAPTS),
    "wrapup_s": lambda d, n: _int(d, n, 0, 3600),
}


def _message(data: dict[str, Any], name: str) -> str | None:
    value = _text(data, name, 120, nullable=True)
    if value and (not all(c.isalnum() or c in "/_-." for c in value) or ".." in value):
        raise InvalidInput(name, "an Asterisk sound name (letters, digits, / _ - .)")
    return value or None


def configure(session: Session, campaign_id: int, data: dict[str, Any], *,
              actor: Actor) -> CampaignDialing:
    """Create or change a campaign's dialing settings (only the fields given)."""
    found = campaign(session, campaign_id)
    fields = check_settings(data)
    row = session.get(CampaignDialing, campaign_id)
    before = row.as_dict() if row else None
    if row is None:
        row = CampaignDialing(campaign_id=found.id, mode=DialMode.PROGRESSIVE.value, agents=[],
                              queues=[], hours_start="09:00", hours_end="21:00",
                              days=[0, 1, 2, 3, 4], max_attempts=3, ring_s=20, script="",
                              amd=False, machine_action=MachineAction.HANGUP.value,
                              abandon_cap_pct=3.0, abandon_window_s=30 * 86400, adapt="hard_limit",
                              wrapup_s=10, running=False)
        from control.campaigns.models import DEFAULT_DISPOSITIONS, DEFAULT_RETRY_S

        row.retry_rules = dict(DEFAULT_RETRY_S)
        row.dispositions = [dict(d) for d in DEFAULT_DISPOSITIONS]
        session.add(row)
    for key, value in fields.items():
        setattr(row, key, value)
    if row.machine_action == MachineAction.MESSAGE.value and row.amd and not row.message:
        raise InvalidInput("message", "leaving a message on machines needs a recorded message")
    session.flush()
    record(session, actor, "campaign.dialing", "campaign", campaign_id, before, row.as_dict())
    return row


def set_running(session: Session, campaign_id: int, running: bool, *,
                actor: Actor) -> CampaignDialing:
    row = dialing(session, campaign_id)
    if running and not (row.agents or row.queues):
        raise Conflict("the campaign has no agents or queues to dial for", "agents")
    before = row.running
    row.running = running
    record(session, actor, "campaign.start" if running else "campaign.stop", "campaign",
           campaign_id, {"running": before}, {"running": running})
    return row


# -- the calling list ---------------------------------------------------------------


def _dnc_numbers(session: Session, campaign_id: int) -> set[str]:
    return set(session.scalars(select(DoNotCall.phone).where(
        (DoNotCall.campaign_id.is_(None)) | (DoNotCall.campaign_id == campaign_id))))


def _listed(session: Session, campaign_id: int) -> set[str]:
    return set(session.scalars(select(ListEntry.phone).where(
        ListEntry.campaign_id == campaign_id)))


def import_list(session: Session, campaign_id: int, text: str, *,
                actor: Actor) -> dict[str, Any]:
    """A CSV calling list: the good rows become leads of the campaign and
    entries of its list; the report says why each other row was left out."""
    found = campaign(session, campaign_id)
    report = rules.read_list(text, _listed(session, campaign_id),
                             _dnc_numbers(session, campaign_id))
    for row in report.good:
        lead = Lead(name=row.name[:160], phone=row.phone, email=None, source="list import",
                    campaign_id=found.id, notes="")
        if row.email:
            try:
                lead.email = row.email
            except InvalidInput:
                pass  # a lead without an e-mail is still a number to call
        session.add(lead)
        session.flush()
        session.add(ListEntry(campaign_id=found.id, lead_id=lead.id, phone=row.phone,
                              timezone=",".join(row.zones), status=EntryStatus.PENDING.value,
                              attempts=0))
    out = report.as_dict()
    record(session, actor, "campaign.list_import", "campaign", campaign_id, None,
           {"imported": out["imported"], "rejected": out["rejected"]})
    return out


def add_leads(session: Session, campaign_id: int, lead_ids: list[int] | None, *,
              actor: Actor) -> dict[str, Any]:
    """Existing leads onto the list: those named, or (None) every lead of the
    sales campaign. A lead without a valid number, already listed or on a
    do-not-call list is reported, not added."""
    found = campaign(session, campaign_id)
    query = select(Lead).order_by(Lead.id)
    query = (query.where(Lead.id.in_(lead_ids)) if lead_ids is not None
             else query.where(Lead.campaign_id == found.id))
    leads = list(session.scalars(query))
    missing = set(lead_ids or ()) - {lead.id for lead in leads}
    if missing:
        raise NotFound("lead", ", ".join(str(i) for i in sorted(missing)), "lead_ids")
    listed, dnc = _listed(session, campaign_id), _dnc_numbers(session, campaign_id)
    added, rejected = 0, []
    for lead in leads:
        reason = ("no phone number" if not lead.phone else
                  "already on the list" if lead.phone in listed else
                  "on a do-not-call list" if lead.phone in dnc else "")
        zones = rules.lead_zones(lead.phone) if lead.phone else []
        if not reason and not zones:
            reason = "no time zone known for the number's region"
        if reason:
            rejected.append({"lead_id": lead.id, "value": lead.phone, "reason": reason})
            continue
        assert lead.phone is not None
        listed.add(lead.phone)
        session.add(ListEntry(campaign_id=found.id, lead_id=lead.id, phone=lead.phone,
                              timezone=",".join(zones), status=EntryStatus.PENDING.value,
                              attempts=0))
        added += 1
    record(session, actor, "campaign.leads_added", "campaign", campaign_id, None,
           {"imported": added, "rejected": len(rejected)})
    return {"imported": added, "rejected": len(rejected), "rows": rejected}


def list_entries(session: Session, campaign_id: int, status: str | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:
    campaign(session, campaign_id)
    query = select(ListEntry).where(ListEntry.campaign_id == campaign_id)
    if status:
        if status not in [s.value for s in EntryStatus]:
            raise InvalidInput("status", f"one of {', '.join(s.value for s in EntryStatus)}")
        query = query.where(ListEntry.status == status)
    return [e.as_dict() for e in session.scalars(query.order_by(ListEntry.id).limit(limit))]


def attempts(session: Session, campaign_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    campaign(session, campaign_id)
    return [a.as_dict() for a in session.scalars(
        select(Attempt).where(Attempt.campaign_id == campaign_id)
        .order_by(Attempt.id).limit(limit))]


# -- do not call --------------------------------------------------------------------------


def add_dnc(session: Session, text: str, campaign_id: int | None, reason: str, *,
            actor: Actor) -> dict[str, Any]:
    """Numbers (one per line, or a CSV's first column) onto the global list
    (``campaign_id`` None) or a campaign's. Numbers of that list's campaigns
    still to be dialled are taken off their calling lists at once."""
    if campaign_id is not None:
        campaign(session, campaign_id)
    numbers, rejected = rules.read_numbers(text)
    have = set(session.scalars(select(DoNotCall.phone).where(
        DoNotCall.campaign_id.is_(None) if campaign_id is None
        else DoNotCall.campaign_id == campaign_id)))
    added = [n for n in numbers if n not in have]
    for number in added:
        session.add(DoNotCall(phone=number, campaign_id=campaign_id, reason=reason[:120]))
    if added:
        query = select(ListEntry).where(ListEntry.phone.in_(added), ListEntry.status.in_(
            [EntryStatus.PENDING.value, EntryStatus.RETRY.value, EntryStatus.CALLBACK.value]))
        if campaign_id is not None:
            query = query.where(ListEntry.campaign_id == campaign_id)
        for entry in session.scalars(query):
            entry.status = EntryStatus.DNC.value
    record(session, actor, "dnc.import", "do_not_call", campaign_id or "global", None,
           {"added": len(added), "rejected": len(rejected)})
    return {"imported": len(added), "already": len(numbers) - len(added),
            "rejected": len(rejected), "rows": rejected}


def list_dnc(session: Session, campaign_id: int | None) -> list[dict[str, Any]]:
    query = select(DoNotCall).where(DoNotCall.campaign_id.is_(None) if campaign_id is None
                                    else DoNotCall.campaign_id == campaign_id)
    return [d.as_dict() for d in session.scalars(query.order_by(DoNotCall.id))]


def on_dnc(session: Session, campaign_id: int, phone: str) -> bool:
    return session.scalar(select(func.count()).select_from(DoNotCall).where(
        DoNotCall.phone == phone,
        (DoNotCall.campaign_id.is_(None)) | (DoNotCall.campaign_id == campaign_id))) != 0


# -- what agents do -------------------------------------------------------------------


def schedule_callback(session: Session, entry_id: int, at: datetime, agent: str, *,
                      actor: Actor) -> ListEntry:
    """An agent books a call back to a lead, to be dialled at ``at`` and
    put through to that agent first."""
    entry = session.get(ListEntry, entry_id)
    if entry is None:
        raise NotFound("list entry", str(entry_id), "entry_id")
    if entry.status == EntryStatus.DNC.value or on_dnc(session, entry.campaign_id, entry.phone):
        raise Conflict("the number is on a do-not-call list", "entry_id")
    before = entry.as_dict()
    entry.status = EntryStatus.CALLBACK.value
    entry.callback_at = at.astimezone(UTC)
    entry.callback_agent = agent
    entry.next_attempt_at = at.astimezone(UTC)
    record(session, actor, "campaign.callback", "campaign_list", entry_id, before,
           entry.as_dict())
    return entry


def dispose(session: Session, call_id: str, code: str, *, actor: Actor, now: datetime,
            callback_at: datetime | None = None, agent: str | None = None) -> dict[str, Any]:
    """The agent's disposition of a campaign call: it drives the lead's retries
    (final, or again after the disposition's delay), a ``dnc`` one puts the
    number on the campaign's do-not-call list, and ``callback_at`` books a
    call back to this agent."""
    attempt = session.scalar(select(Attempt).where(Attempt.call_id == call_id))
    if attempt is None:
        raise NotFound("campaign call", call_id, "call_id")
    settings = dialing(session, attempt.campaign_id)
    found = next((d for d in settings.dispositions if d["code"] == code), None)
    if found is None:
        raise InvalidInput("disposition", "one of " + ", ".join(
            d["code"] for d in settings.dispositions))
    entry = session.get(ListEntry, attempt.entry_id)
    assert entry is not None
    before = entry.as_dict()
    attempt.disposition = entry.disposition = code
    if found.get("dnc"):
        if not on_dnc(session, entry.campaign_id, entry.phone):
            session.add(DoNotCall(phone=entry.phone, campaign_id=entry.campaign_id,
                                  reason=f"disposition {code} by {actor.name}"[:120]))
        entry.status = EntryStatus.DNC.value
    elif callback_at is not None:
        if callback_at <= now:
            raise InvalidInput("callback_at", "must be in the future")
        entry.status = EntryStatus.CALLBACK.value
        entry.callback_at = entry.next_attempt_at = callback_at.astimezone(UTC)
        entry.callback_agent = agent or attempt.agent_extension
    else:
        nxt = rules.after_disposition(found, entry.attempts, settings.max_attempts, now)
        entry.status, entry.next_attempt_at = nxt.status, nxt.at
    record(session, actor, "campaign.disposition", "campaign_list", entry.id, before,
           entry.as_dict())
    return {"attempt": attempt.as_dict(), "entry": entry.as_dict()}


# -- the dialer's own writes (not admin changes: not audited) -----------------------------


def claim_due(session: Session, campaign_id: int, lines: int, now: datetime,
              free_agents: set[str]) -> list[tuple[ListEntry, str | None]]:
    """Up to ``lines`` entries to dial now, each marked ``calling`` with its
    attempt counted, and with the agent it is reserved for (a callback whose
    agent is free). Never a number on a do-not-call list (marked ``dnc``),
    never outside the calling hours in the lead's own time zone(s), never past
    the maximum attempts. Callbacks due come first; a callback whose agent is
    busy waits for them up to :data:`CALLBACK_GRACE_S`, then goes to anyone."""
    settings = dialing(session, campaign_id)
    dnc = _dnc_numbers(session, campaign_id)
    due = select(ListEntry).where(
        ListEntry.campaign_id == campaign_id,
        ListEntry.status.in_([EntryStatus.PENDING.value, EntryStatus.RETRY.value,
                              EntryStatus.CALLBACK.value]),
        (ListEntry.next_attempt_at.is_(None)) | (ListEntry.next_attempt_at <= now),
    ).order_by((ListEntry.status != EntryStatus.CALLBACK.value),
               func.coalesce(ListEntry.next_attempt_at, ListEntry.created_at),
               ListEntry.id).limit(max(50, lines * 10))
    out: list[tuple[ListEntry, str | None]] = []
    free = set(free_agents)
    for entry in session.scalars(due):
        reserved = None
        if entry.phone in dnc:
            entry.status = EntryStatus.DNC.value
            continue
        if entry.attempts >= settings.max_attempts and entry.status != EntryStatus.CALLBACK.value:
            entry.status = EntryStatus.DONE.value
            continue
        if not rules.within_hours(now, entry.timezone.split(","), settings.hours_start,
                                  settings.hours_end, settings.days):
            continue
        if entry.status == EntryStatus.CALLBACK.value and entry.callback_agent:
            if entry.callback_agent in free:
                reserved = entry.callback_agent
                free.discard(reserved)
            elif (utc(entry.callback_at) or now) + timedelta(seconds=CALLBACK_GRACE_S) > now:
                continue  # to that agent first
        elif len([1 for _, r in out if r is None]) >= lines:
            continue
        entry.status = EntryStatus.CALLING.value
        entry.attempts += 1
        out.append((entry, reserved))
    return out


CALLBACK_GRACE_S = 300


def start_attempt(session: Session, entry: ListEntry, call_id: str, now: datetime,
                  agent: str | None) -> int:
    attempt = Attempt(campaign_id=entry.campaign_id, entry_id=entry.id, call_id=call_id,
                      phone=entry.phone, started_at=now, abandoned=False, talk_s=0.0,
                      agent_extension=agent)
    session.add(attempt)
    session.flush()
    return attempt.id


def finish_attempt(session: Session, call_id: str, now: datetime, *, result: str,
                   abandoned: bool = False, amd_status: str | None = None,
                   answered_at: datetime | None = None, connected_at: datetime | None = None,
                   agent: str | None = None, talk_s: float = 0.0) -> None:
    """A dial is over: its attempt, and where its list entry goes next (a call
    an agent talked in waits for the agent's disposition, else the retry rules)."""
    attempt = session.scalar(select(Attempt).where(Attempt.call_id == call_id))
    if attempt is None:
        return
    attempt.ended_at = now
    attempt.result = result
    attempt.abandoned = abandoned
    attempt.amd_status = amd_status
    attempt.answered_at = answered_at
    attempt.connected_at = connected_at
    attempt.agent_extension = agent or attempt.agent_extension
    attempt.talk_s = talk_s
    entry = session.get(ListEntry, attempt.entry_id)
    settings = session.get(CampaignDialing, attempt.campaign_id)
    if entry is None or settings is None:
        return
    entry.last_result = "abandoned" if abandoned else result
    if entry.status != EntryStatus.CALLING.value:
        return  # disposed of (or put on a do-not-call list) meanwhile
    if connected_at is not None:
        # talked with an agent: the disposition decides; until one comes, done
        entry.status = EntryStatus.DONE.value
        entry.callback_at = entry.callback_agent = None
        return
    nxt = rules.after_attempt(result, abandoned, entry.attempts, settings.max_attempts,
                              settings.retry_rules, now)
    entry.status, entry.next_attempt_at = nxt.status, nxt.at
    entry.callback_at = entry.callback_agent = None


def release_unfinished(session: Session) -> int:
    """At start: entries left ``calling`` by a control plane that died go back
    to be retried (their attempt's end is unknown)."""
    stuck = list(session.scalars(select(ListEntry).where(
        ListEntry.status == EntryStatus.CALLING.value)))
    for entry in stuck:
        entry.status = EntryStatus.RETRY.value
    return len(stuck)


def running_campaigns(session: Session) -> list[dict[str, Any]]:
    return [d.as_dict() for d in session.scalars(
        select(CampaignDialing).where(CampaignDialing.running.is_(True)))]


# -- figures --------------------------------------------------------------------------


def figures(session: Session, campaign_id: int, now: datetime,
            agent_hours: float | None = None) -> dict[str, Any]:
    """The wallboard's figures of a campaign: today's dials (since midnight
    UTC), the abandonment rate over the campaign's window (abandoned persons
    over persons answered: machines are not persons, AMD's mistakes are), and
    list penetration (numbers dialled at least once over numbers listed)."""
    settings = dialing(session, campaign_id)
    since_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since_window = now - timedelta(seconds=settings.abandon_window_s)

    def count(*where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(Attempt).where(
            Attempt.campaign_id == campaign_id, *where)) or 0)

    today = (Attempt.started_at >= since_day,)
    window = (Attempt.started_at >= since_window,)
    humans_window = count(*window, Attempt.result == "human")
    abandoned_window = count(*window, Attempt.abandoned.is_(True))
    talk_s = float(session.scalar(select(func.coalesce(func.sum(Attempt.talk_s), 0.0)).where(
        Attempt.campaign_id == campaign_id, *today)) or 0.0)
    listed = int(session.scalar(select(func.count()).select_from(ListEntry).where(
        ListEntry.campaign_id == campaign_id)) or 0)
    touched = int(session.scalar(select(func.count()).select_from(ListEntry).where(
        ListEntry.campaign_id == campaign_id, ListEntry.attempts > 0)) or 0)
    return {
        "campaign_id": campaign_id, "mode": settings.mode, "running": settings.running,
        "dialled": count(*today), "answered": count(*today, Attempt.result == "human"),
        "machines": count(*today, Attempt.result == "machine"),
        "busy": count(*today, Attempt.result == "busy"),
        "no_answer": count(*today, Attempt.result == "no_answer"),
        "abandoned": count(*today, Attempt.abandoned.is_(True)),
        "abandoned_pct": round(100.0 * abandoned_window / humans_window, 2)
        if humans_window else 0.0,
        "abandon_cap_pct": settings.abandon_cap_pct,
        "abandon_window_s": settings.abandon_window_s,
        "talk_minutes": round(talk_s / 60, 1),
        "talk_minutes_per_agent_hour": round(talk_s / 60 / agent_hours, 1)
        if agent_hours else None,
        "listed": listed, "penetration_pct": round(100.0 * touched / listed, 1) if listed else 0.0,
    }
