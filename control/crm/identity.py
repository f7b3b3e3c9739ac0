"""How customers are recognised: phone numbers (E.164), Spanish DNI/NIE, e-mail, names.

Every value is normalised once, on the way in, so that a lookup is an exact
match on an indexed column whatever format the caller ID, the agent or the
customer typed.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from control.errors import Conflict, InvalidInput

# The broker's customers are in Spain: numbers without a country code are Spanish.
DEFAULT_REGION = "ES"

# DNI: 8 digits + check letter; NIE: X/Y/Z + 7 digits + check letter, where the
# X/Y/Z stands for a leading 0/1/2 when computing the letter (Real Decreto 1553/2005).
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_DNI_RE = re.compile(r"^([0-9]{8}|[XYZ][0-9]{7})([A-Z])$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def dni_letter(digits: str) -> str:
    """The check letter of a DNI number, or of an NIE with its X/Y/Z prefix."""
    number = int(digits.replace("X", "0").replace("Y", "1").replace("Z", "2"))
    return DNI_LETTERS[number % 23]


def normalise_dni(raw: str, field: str = "dni") -> str:
    """``12345678-z`` → ``12345678Z``; refuses a wrong check letter."""
    value = re.sub(r"[\s.-]", "", raw).upper()
    m = _DNI_RE.match(value)
    if not m:
        raise InvalidInput(field, f"{raw!r} is not a DNI (8 digits + letter) "
                                  "or NIE (X/Y/Z + 7 digits + letter)")
    expected = dni_letter(m.group(1))
    if m.group(2) != expected:
        raise InvalidInput(field, f"{raw!r}: wrong check letter (expected {expected})")
    return value


def parse_phone(raw: str) -> str | None:
    """E.164 of a phone number in any usual format, or None if it is not one.

    Caller IDs from Spanish trunks arrive as ``612345678``, ``0034612345678``,
    ``+34 612 34 56 78`` or ``34612345678``: the last one only makes sense as an
    international number without its ``+``, so that is tried second.
    """
    raw = raw.strip()
    if not raw:
        return None
    candidates = [raw]
    digits = re.sub(r"[\s().-]", "", raw)
    if digits.isdigit() and len(digits) > 9:
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, DEFAULT_REGION)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


def normalise_phone(raw: str, field: str = "phone") -> str:
    e164 = parse_phone(raw)
    if e164 is None:
        raise InvalidInput(field, f"{raw!r} is not a valid phone number")
    return e164


def normalise_email(raw: str, field: str = "email") -> str:
    value = raw.strip().lower()
    if len(value) > 255 or not _EMAIL_RE.match(value):
        raise InvalidInput(field, f"{raw!r} is not an e-mail address")
    return value


def fold(text: str) -> str:
    """Lower case without accents: agents type ``garcia`` for ``García``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


class DuplicateValue(Conflict):
    """A value that must be unique (a DNI, a user's e-mail) is already taken."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
