"""Users, passwords and tokens.

- Passwords: argon2id (argon2-cffi), parameters stored in the hash so they can
  be raised later; a hash made with older parameters is redone at next login.
- Access tokens: JWT (HS256, the stack's JWT_SECRET), 15 minutes, not stored:
  every request is checked without touching the database.
- Refresh tokens: JWT too, but each one's id is a row in refresh_tokens, so
  logout revokes it, and using it rotates it (the old one is revoked). Using a
  revoked refresh token again means it was stolen or replayed: every refresh
  token of that user is revoked.
- Lock-out: the 5th failed login in a row locks the account for 30 s, each
  further failure doubles that, up to 15 minutes; a good login resets it. A
  locked account is refused before its password is checked.
- Two-factor (optional, per user): with a TOTP secret (``aitcomms user totp``)
  login also needs the current RFC 6238 code; a wrong code is a failed login.
"""

from __future__ import annotations

import re
import secrets as _random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control.acd.models import Agent
from control.auth import totp as _totp
from control.auth.audit import Actor, record
from control.auth.models import RefreshToken, Role, User
from control.crm.identity import DuplicateValue, normalise_email
from control.errors import InvalidInput

ACCESS_TTL = timedelta(minutes=15)
# one working shift: an agent logs in once per shift
REFRESH_TTL = timedelta(hours=12)
MAX_FAILED_LOGINS = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)
MIN_PASSWORD = 10
ALGORITHM = "HS256"

HASHER = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
# verified against when the e-mail is unknown, so that the answer takes as long
# as for a known user and does not tell which e-mails exist
_DUMMY_HASH = HASHER.hash(_random.token_urlsafe(16))


class AuthError(Exception):
    """A refused request: the API answers ``status`` with ``{"error": code}``."""

    status = 401

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Forbidden(AuthError):
    status = 403


class TooManyAttempts(AuthError):
    """429 with Retry-After: too many failed logins from the caller's address."""

    status = 429

    def __init__(self, retry_after_s: int, code: str = "too_many_attempts",
                 reason: str = "too many failed logins from your address") -> None:
        super().__init__(code, f"{reason}; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class AccountLocked(TooManyAttempts):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s, "account_locked", "too many failed logins")


@dataclass(frozen=True)
class Principal:
    """The user a valid access token speaks for."""

    user_id: int
    email: str
    role: str
    agent_extension: str | None

    @property
    def actor(self) -> Actor:
        return Actor(self.email, self.user_id)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    user: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "token_type": "Bearer", "expires_in": int(ACCESS_TTL.total_seconds()),
                "user": self.user}


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite gives back naive datetimes for what was stored as UTC
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- users --------------------------------------------------------------------


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def create_user(session: Session, *, actor: Actor, email: str, role: str, password: str,
                agent_extension: str | None = None) -> User:
    email = normalise_email(email)
    if role not in [r.value for r in Role]:
        raise InvalidInput("role", f"{role!r} is not one of {', '.join(r.value for r in Role)}")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"at least {MIN_PASSWORD} characters")
    if agent_extension is not None:
        if not re.fullmatch(r"[1-9][0-9]{1,7}", agent_extension):
            raise InvalidInput("agent", "2 to 8 digits, not starting with 0")
        # an agent's user must answer as an existing agent: a typo would leave
        # them logged in with no calls and no screen pop
        if session.scalar(select(Agent.id).where(Agent.extension == agent_extension)) is None:
            raise InvalidInput("agent", f"no agent with extension {agent_extension}")
    if session.scalar(select(User.id).where(User.email == email)):
        raise DuplicateValue("email", f"a user {email} already exists")
    user = User(email=email, role=role, password_hash=hash_password(password),
                agent_extension=agent_extension, active=True, failed_logins=0)
    session.add(user)
    session.flush()
    # the hash is not audited: it is a secret, and useless to a reader
    record(session, actor, "create", "users", user.id, after=user.as_dict())
    return user


# -- tokens -------------------------------------------------------------------


def issue_access_token(secret: str, user: User, now: datetime | None = None) -> str:
    now = now or _now()
    claims = {"sub": str(user.id), "email": user.email, "role": user.role,
              "ext": user.agent_extension, "typ": "access", "jti": str(uuid.uuid4()),
              "iat": now, "exp": now + ACCESS_TTL}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _issue_refresh_token(session: Session, secret: str, user: User, now: datetime) -> str:
    jti = str(uuid.uuid4())
    session.add(RefreshToken(jti=jti, user_id=user.id, issued_at=now,
                             expires_at=now + REFRESH_TTL))
    return jwt.encode({"sub": str(user.id), "typ": "refresh", "jti": jti, "iat": now,
                       "exp": now + REFRESH_TTL}, secret, algorithm=ALGORITHM)


def _decode(secret: str, token: str, kind: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "typ", "jti"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token_expired", f"the {kind} token has expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("invalid_token", f"not a valid {kind} token") from exc
    if claims.get("typ") != kind:
        raise AuthError("invalid_token", f"not a valid {kind} token")
    return claims


def verify_access_token(secret: str, token: str) -> Principal:
    claims = _decode(secret, token, "access")
    try:
        return Principal(user_id=int(claims["sub"]), email=str(claims["email"]),
                         role=str(claims["role"]), agent_extension=claims.get("ext"))
    except (KeyError, ValueError) as exc:
        raise AuthError("invalid_token", "not a valid access token") from exc


# -- login, refresh, logout ----------------------------------------------------


def _lock_for(failures: int) -> timedelta:
    doublings = failures - MAX_FAILED_LOGINS
    return min(FIRST_LOCK * (2 ** min(doublings, 10)), LONGEST_LOCK)


def _failed(session: Session, user: User, now: datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = now + _lock_for(user.failed_logins)
        record(session, Actor(user.email, user.id), "lock", "users", user.id,
               after={"failed_logins": user.failed_logins,
                      "locked_until": user.locked_until.isoformat()})


def login(session: Session, secret: str, email: str, password: str,
          now: datetime | None = None, totp: str | None = None) -> TokenPair | AuthError:
    """A token pair, or the refusal. The refusal is returned, not raised: a
    failed attempt must still be committed (the failure count is the lock-out).
    A user with two-factor also needs ``totp``: without it the answer is
    ``totp_required`` (not a failure: the client asks for the code), with a
    wrong one ``totp_invalid`` (a failure)."""
    now = now or _now()
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        try:
            HASHER.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        return AuthError("invalid_credentials", "wrong e-mail or password")
    if user.locked_until is not None and _aware(user.locked_until) > now:
        return AccountLocked(int((_aware(user.locked_until) - now).total_seconds()) + 1)
    try:
        HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        _failed(session, user, now)
        return AuthError("invalid_credentials", "wrong e-mail or password")
    if user.totp_secret:
        if not totp:
            return AuthError("totp_required", "send the code of your authenticator app "
                                              "as totp")
        if not _totp.verify(user.totp_secret, totp, now.timestamp()):
            _failed(session, user, now)
            return AuthError("totp_invalid", "wrong or expired two-factor code")
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return TokenPair(issue_access_token(secret, user, now),
                     _issue_refresh_token(session, secret, user, now), user.as_dict())


def refresh(session: Session, secret: str, refresh_token: str,
            now: datetime | None = None) -> TokenPair | AuthError:
    """A new pair for a valid refresh token, which is revoked (rotation)."""
    now = now or _now()
    try:
        claims = _decode(secret, refresh_token, "refresh")
    except AuthError as exc:
        return exc
    row = session.get(RefreshToken, str(claims["jti"]))
    if row is None:
        return AuthError("invalid_token", "unknown refresh token")
    if row.revoked_at is not None:
        # a revoked token used again: someone else holds a copy, end every session
        session.execute(update(RefreshToken)
                        .where(RefreshToken.user_id == row.user_id,
                               RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=now))
        return AuthError("token_revoked", "this refresh token was revoked")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return AuthError("invalid_token", "the user is no longer active")
    row.revoked_at = now
    return TokenPair(issue_access_token(secret, user, now),
                     _issue_refresh_token(session, secret, user, now), user.as_dict())


def logout(session: Session, secret: str, refresh_token: str,
           now: datetime | None = None) -> AuthError | None:
    """Revoke a refresh token. Its access tokens live on for at most 15 minutes."""
    try:
        claims = _decode(secret, refresh_token, "refresh")
    except AuthError as exc:
        if exc.code != "token_expired":
            return exc
        return None  # already unusable: logging out of it succeeds
    row = session.get(RefreshToken, str(claims["jti"]))
    if row is None:
        return AuthError("invalid_token", "unknown refresh token")
    if row.revoked_at is None:
        row.revoked_at = now or _now()
    return None


def enable_totp(session: Session, *, actor: Actor, email: str) -> str:
    """Give a user a new TOTP secret (replacing any): its otpauth:// URI, to
    be shown once. The secret itself is not audited."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise InvalidInput("email", f"no user {email.strip().lower()}")
    user.totp_secret = _totp.new_secret()
    record(session, actor, "enable_totp", "users", user.id, after={"totp": True})
    return _totp.otpauth_uri(user.totp_secret, user.email)


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)
