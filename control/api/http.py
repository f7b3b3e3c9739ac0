"""What every JSON endpoint shares: one error shape, and typed reading of bodies
and query strings.

Every refusal is JSON ``{"error": code, "field": name, "reason": text}`` (the
same shape as the ACD's routes): 400 for a body that is not JSON, 422 for a
field of the wrong type or value, 404 for an unknown id, 409 for a duplicate,
401/403/429 for authentication. An unexpected exception is logged and answered
500 ``{"error": "internal"}``: never a traceback to the client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any

from aiohttp import web

from control.api.keys import APPLY, DB
from control.auth.service import AuthError, TooManyAttempts
from control.db import Database
from control.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from control.telephony.ari import AriError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, code: str, field: str | None = None, reason: str = "",
          headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": code}
    if field:
        body["field"] = field
    if reason:
        body["reason"] = reason
    return web.json_response(body, status=status, headers=headers)


class BadJson(Exception):
    pass


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadJson as exc:
        return error(400, "invalid_json", reason=str(exc))
    except InvalidInput as exc:
        return error(422, "invalid", exc.field, exc.reason)
    except NotFound as exc:
        return error(404, "not_found", getattr(exc, "field", None) or "id",
                     f"no {exc.what} {exc.key}")
    except Forbidden as exc:
        return error(403, "forbidden", exc.field, exc.reason)
    except Conflict as exc:
        return error(409, "conflict", getattr(exc, "field", None),
                     getattr(exc, "reason", None) or str(exc))
    except Unavailable as exc:
        return error(503, "unavailable", exc.field, exc.reason, headers={"Retry-After": "2"})
    except AriError as exc:  # Asterisk refused what was asked of it
        if exc.status == 503:
            return error(503, "unavailable", reason=str(exc), headers={"Retry-After": "2"})
        return error(409, "refused", reason=f"Asterisk refused: {exc}")
    except TooManyAttempts as exc:  # a locked account, or a throttled address
        return error(exc.status, exc.code, reason=exc.reason,
                     headers={"Retry-After": str(exc.retry_after_s)})
    except AuthError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error(exc.status, exc.code, reason=exc.reason, headers=headers)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        return error(exc.status, exc.reason.lower().replace(" ", "_"))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error(500, "internal", reason="unexpected error, logged on the server")


async def read_json(request: web.Request) -> Body:
    """The request's JSON object, or 400 invalid_json / 422 for a non-object."""
    try:
        data = json.loads(await request.read() or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadJson("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise InvalidInput("body", "expected a JSON object")
    return Body(data)


class Body:
    """Typed access to a JSON object; each getter names the field it refuses."""

    def __init__(self, data: dict[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def only(self, *names: str) -> None:
        """Refuse fields this endpoint does not know: a typo (``phone`` for
        ``phones``) must not be silently dropped."""
        for name in self.data:
            if name not in names:
                raise InvalidInput(self.prefix + name, f"unknown field; known: {', '.join(names)}")

    def _missing(self, name: str, required: bool) -> bool:
        if self.data.get(name) is None:
            if required:
                raise InvalidInput(self.prefix + name, "required")
            return True
        return False

    def text(self, name: str, *, required: bool = False, max_len: int = 255) -> str | None:
        if self._missing(name, required):
            return None
        value = self.data[name]
        if not isinstance(value, str):
            raise InvalidInput(self.prefix + name, "expected a string")
        if len(value) > max_len:
            raise InvalidInput(self.prefix + name, f"at most {max_len} characters")
        return value

    def req_text(self, name: str, *, max_len: int = 255) -> str:
        value = self.text(name, required=True, max_len=max_len)
        assert value is not None
        return value

    def text_list(self, name: str, *, max_items: int = 20) -> list[str]:
        if self._missing(name, False):
            return []
        value = self.data[name]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(self.prefix + name, "expected a list of strings")
        if len(value) > max_items:
            raise InvalidInput(self.prefix + name, f"at most {max_items} items")
        return list(value)

    def obj(self, name: str) -> dict[str, Any] | None:
        if self._missing(name, False):
            return None
        value = self.data[name]
        if not isinstance(value, dict):
            raise InvalidInput(self.prefix + name, "expected an object")
        return value


def query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInput(name, f"{raw!r} is not an integer") from exc


def path_int(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidInput(name, f"{raw!r} is not an id") from exc
    if not 0 < value < 2**31:
        raise InvalidInput(name, f"{raw!r} is not an id")
    return value


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status,
                             dumps=lambda d: json.dumps(d, default=_default, ensure_ascii=False))


def database(request: web.Request) -> Database:
    """The app's Database."""
    return request.app[DB]


async def applied(request: web.Request, response: web.Response,
                  unregister: Sequence[str] = ()) -> web.Response:
    """After a stored change: push it into the running stack as the signed-in
    user (``APPLY``), then answer ``response``. If the stack does not take it
    the change stays stored and the answer says so (503 not_applied)."""
    from control.auth.middleware import PRINCIPAL
    from control.provisioning.dialplan import DialplanError
    from control.stack.manager import StackError

    try:
        await asyncio.to_thread(request.app[APPLY], request[PRINCIPAL].email, unregister)
    except (StackError, DialplanError) as exc:
        log.error("%s %s: stored, not applied: %s", request.method, request.path, exc)
        return error(503, "not_applied", None, "the change is stored but the running stack "
                     f"did not take it ({exc}); `aitcomms apply` retries")
    return response
