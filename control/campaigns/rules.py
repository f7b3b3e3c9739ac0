"""The rules a dial must meet, as pure functions (no database, no clock of
their own: the caller passes ``now``), so that they are tested alone and the
dialer, the API and the tests read the same ones.

- calling hours are the lead's own: the time zone(s) of the number's region
  (``phonenumbers.timezone``); a number whose region spans several zones
  (Spanish mobiles: Madrid and the Canaries) is dialled only when the hours
  hold in every one of them;
- retries per result, the maximum number of attempts, dispositions that are
  final or retry;
- the calling list's CSV: one report line per row (invalid or impossible
  number, duplicate, on a do-not-call list), good rows kept.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezone

from control.crm.identity import DEFAULT_REGION
from control.errors import InvalidInput

UNKNOWN_ZONE = "Etc/Unknown"
BUSY_CAUSES = {17}
# ISDN causes of a number that cannot be reached at all (vs. one that rang out)
FAILED_CAUSES = {1, 2, 3, 4, 21, 22, 27, 28, 29, 34, 38, 41, 42, 44, 47, 58, 65, 66, 79, 88,
                 102, 111, 127}
MIN_RING_S = 15  # the rules: a phone rings at least 15 s before the dialer gives up


def parse_hhmm(raw: str, field_name: str) -> time:
    try:
        hours, minutes = raw.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError) as exc:
        raise InvalidInput(field_name, f"{raw!r} is not a time HH:MM") from exc


def lead_zones(e164: str) -> list[str]:
    """The time zones of the number's region (phonenumbers' geocoding data)."""
    try:
        zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return []
    return [z for z in zones if z != UNKNOWN_ZONE]


def within_hours(now: datetime, zones: list[str], start: str, end: str, days: list[int]) -> bool:
    """Is ``now`` (aware) inside the calling hours in every zone of the lead?
    ``end`` before ``start`` is a window across midnight. No zone known: no call
    (the rules cannot be checked)."""
    if not zones:
        return False
    begin, finish = parse_hhmm(start, "hours_start"), parse_hhmm(end, "hours_end")
    for zone in zones:
        local = now.astimezone(ZoneInfo(zone))
        at = local.time().replace(second=0, microsecond=0)
        if begin <= finish:
            inside = begin <= at < finish
            day = local.weekday()
        else:  # e.g. 22:00-02:00: after midnight belongs to the day before
            inside = at >= begin or at < finish
            day = local.weekday() if at >= begin else (local.weekday() - 1) % 7
        if not inside or day not in days:
            return False
    return True


def result_of_cause(cause: int | None) -> str:
    """The result of a customer leg that ended before answer, by its cause."""
    if cause in BUSY_CAUSES:
        return "busy"
    if cause in FAILED_CAUSES:
        return "failed"
    return "no_answer"


@dataclass(frozen=True)
class Next:
    """Where a list entry goes after an attempt: its status, and when to dial again."""
    status: str
    at: datetime | None = None


def after_attempt(result: str, abandoned: bool, attempts: int, max_attempts: int,
                  retry_rules: dict[str, int], now: datetime) -> Next:
    """After a dial that reached no agent (a person reached one: the agent's
    disposition decides, :func:`after_disposition`)."""
    key = "abandoned" if abandoned else result
    delay = retry_rules.get(key)
    if attempts >= max_attempts or delay is None:
        return Next("done")
    return Next("retry", now + timedelta(seconds=int(delay)))


def after_disposition(disposition: dict[str, Any], attempts: int, max_attempts: int,
                      now: datetime) -> Next:
    if disposition.get("final", True) or attempts >= max_attempts:
        return Next("done")
    return Next("retry", now + timedelta(seconds=int(disposition.get("retry_s") or 3600)))


def progressive_lines(agents_free: int, lines_in_progress: int) -> int:
    """Progressive dialing: never more lines out than free agents."""
    return max(0, agents_free - lines_in_progress)


# -- the calling list's CSV ------------------------------------------------------------

PHONE_COLUMNS = ("phone", "telefono", "teléfono", "number")
MAX_ROWS = 100_000


@dataclass
class ListRow:
    line: int
    phone: str
    name: str
    email: str | None
    zones: list[str]


@dataclass
class ListReport:
    good: list[ListRow] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # line, value, reason

    def as_dict(self) -> dict[str, Any]:
        return {"imported": len(self.good), "rejected": len(self.rejected),
                "rows": self.rejected}


def read_list(text: str, existing: set[str], dnc: set[str]) -> ListReport:
    """Check a calling list: a header with a ``phone`` column (``name`` and
    ``email`` optional), then one lead per row. Numbers are normalised to
    E.164 (Spanish when written without a country code); each rejected row
    is reported with its line and why. ``existing``: the campaign's numbers
    already listed; ``dnc``: numbers on a do-not-call list (global or the
    campaign's). A file without a phone column is refused whole."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    phone_col = next((h for h in header if h in PHONE_COLUMNS), None)
    if phone_col is None:
        raise InvalidInput("file", "the first line must name the columns, one of them "
                                   f"'phone' (found: {', '.join(header) or 'nothing'})")
    reader.fieldnames = header
    report = ListReport()
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if line > MAX_ROWS + 1:
            raise InvalidInput("file", f"at most {MAX_ROWS} rows per import")
        raw = (row.get(phone_col) or "").strip()
        if None in row:
            report.rejected.append({"line": line, "value": raw,
                                    "reason": "more values than columns"})
            continue
        reason, e164 = _check_number(raw)
        if e164 is None:
            report.rejected.append({"line": line, "value": raw, "reason": reason})
            continue
        if e164 in seen:
            report.rejected.append({"line": line, "value": raw, "reason":
                                    f"duplicate of line {seen[e164]} ({e164})"})
            continue
        seen[e164] = line
        if e164 in existing:
            report.rejected.append({"line": line, "value": raw,
                                    "reason": f"duplicate: {e164} is already on the list"})
            continue
        if e164 in dnc:
            report.rejected.append({"line": line, "value": raw,
                                    "reason": f"{e164} is on a do-not-call list"})
            continue
        zones = lead_zones(e164)
        if not zones:
            report.rejected.append({"line": line, "value": raw, "reason":
                                    f"{e164}: no time zone known for its region "
                                    "(calling hours cannot be kept)"})
            continue
        email = (row.get("email") or "").strip() or None
        report.good.append(ListRow(line, e164, (row.get("name") or "").strip() or e164,
                                   email, zones))
    return report


def _check_number(raw: str) -> tuple[str, str | None]:
    """(why not, None) or ("", E.164)."""
    if not raw:
        return "no phone number", None
    try:
        parsed = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        return f"not a phone number ({exc})", None
    if not phonenumbers.is_possible_number(parsed):
        return "impossible number (wrong length for its country)", None
    if not phonenumbers.is_valid_number(parsed):
        return "invalid number (no such numbering range)", None
    return "", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def read_numbers(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    """A do-not-call file: one number per line (or a CSV whose first column is
    the number; a header line is skipped). E.164 numbers and the rejected lines."""
    good: list[str] = []
    rejected: list[dict[str, Any]] = []
    for line, row in enumerate(csv.reader(io.StringIO(text.lstrip("\ufeff"))), start=1):
        raw = (row[0] if row else "").strip()
        if not raw or (line == 1 and raw.lower() in PHONE_COLUMNS):
            continue
        reason, e164 = _check_number(raw)
        if e164 is None:
            rejected.append({"line": line, "value": raw, "reason": reason})
        elif e164 not in good:
            good.append(e164)
    return good, rejected
