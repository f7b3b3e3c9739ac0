"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1,
6 digits, 30-second steps, what every authenticator app uses by default."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote

DIGITS = 6
STEP_S = 30
WINDOW = 1  # steps accepted either side of now: clocks drift, people type slowly


def new_secret() -> str:
    """160 random bits in base32 without padding (RFC 4226 recommends 160)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def hotp(secret: str, counter: int, digits: int = DIGITS) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(code).zfill(digits)


def totp(secret: str, at: float | None = None, digits: int = DIGITS) -> str:
    return hotp(secret, int((time.time() if at is None else at) // STEP_S), digits)


def verify(secret: str, code: str, at: float | None = None) -> bool:
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return False
    step = int((time.time() if at is None else at) // STEP_S)
    return any(hmac.compare_digest(hotp(secret, step + d), code)
               for d in range(-WINDOW, WINDOW + 1))


def otpauth_uri(secret: str, account: str, issuer: str = "AIT-COMMS") -> str:
    """What an authenticator app reads from a QR code (Key Uri Format)."""
    label = quote(f"{issuer}:{account}")
    return (f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer)}"
            f"&algorithm=SHA1&digits={DIGITS}&period={STEP_S}")
