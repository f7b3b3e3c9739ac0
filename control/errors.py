"""Errors a user can fix: shown as a message (CLI) or a 4xx naming the field (API)."""

from __future__ import annotations


class InvalidInput(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(LookupError):
    def __init__(self, what: str, key: str, field: str | None = None) -> None:
        super().__init__(f"no {what} {key!r}")
        self.what = what
        self.key = key
        self.field = field


class Conflict(ValueError):
    """A duplicate, or a change the current state forbids (409)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class Forbidden(PermissionError):
    """Signed in, but this user may not see or do this (an agent asking for
    another agent's call): 403, naming the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Unavailable(RuntimeError):
    """Something the request needs is away for now (Asterisk reconnecting): 503,
    try again in a moment."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
