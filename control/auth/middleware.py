"""Who may call what: every /api/ route needs a valid access token unless it
is marked ``@public``; ``@require_role(...)`` narrows a route to some roles.

Secure by default: a new route is closed until someone opens it on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from control.api.http import Handler, json_errors
from control.auth.models import Role
from control.auth.service import AuthError, Forbidden, Principal, verify_access_token

JWT_SECRET = web.AppKey("jwt_secret", str)
PRINCIPAL = web.RequestKey("principal", Principal)

# Health is for monitoring and load balancers: no token.
UNAUTHENTICATED_PREFIXES = ("/api/v1/health",)

F = TypeVar("F", bound=Callable[..., Any])


def public(handler: F) -> F:
    """Open to anyone: login and refresh, which are how a token is obtained."""
    handler.__aitcomms_public__ = True  # type: ignore[attr-defined]
    return handler


def require_role(*roles: Role) -> Callable[[F], F]:
    """Only these roles may call the route (any authenticated user otherwise)."""

    def mark(handler: F) -> F:
        handler.__aitcomms_roles__ = frozenset(r.value for r in roles)  # type: ignore[attr-defined]
        return handler

    return mark


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("unauthenticated", "send Authorization: Bearer <access token>")
    return token.strip()


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/") or request.path.startswith(
            UNAUTHENTICATED_PREFIXES):
        return await handler(request)
    # the route's own handler: `handler` may be the next middleware
    route_handler = request.match_info.handler
    if request.match_info.http_exception is not None:  # unknown path or method
        return await handler(request)
    if getattr(route_handler, "__aitcomms_public__", False):
        return await handler(request)
    principal = verify_access_token(request.app[JWT_SECRET], bearer_token(request))
    roles: frozenset[str] | None = getattr(route_handler, "__aitcomms_roles__", None)
    if roles is not None and principal.role not in roles:
        raise Forbidden("forbidden", f"needs role {' or '.join(sorted(roles))}; "
                                     f"you are {principal.role}")
    request[PRINCIPAL] = principal
    return await handler(request)


def install(app: web.Application, secret: str) -> None:
    """JSON errors outside, authentication inside; once per app."""
    if JWT_SECRET in app:
        return
    app[JWT_SECRET] = secret
    app.middlewares.append(json_errors)
    app.middlewares.append(authenticate)
