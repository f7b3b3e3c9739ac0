"""What every HTTP answer carries for the browser's safety, and what the logs
must never carry.

Headers, on every response (pages, assets, the API, its errors, aiohttp's own
404s): a Content-Security-Policy that allows only the UI's own files (the
pages have no inline script or style: ``web/build.mjs`` bundles everything
into ``/assets/app.js`` and ``/assets/app.css``), its API and event socket on
the same host, and the softphone's SIP-over-WSS on the same host name at the
WSS port (``wss://HOST:8443``: ``'self'`` does not cover another port);
no framing, no ``<base>``, forms only to the UI itself. Plus ``nosniff``,
``Referrer-Policy: no-referrer`` and ``X-Frame-Options: DENY`` for browsers
without ``frame-ancestors``. HOST is the name the browser asked for (the
``Host`` header), as the softphone builds its URL from ``location.hostname``;
a ``Host`` that is not a plain host name is left out (no header injection).

Logs: the event socket takes its access token as ``?token=`` (browsers cannot
set headers on a websocket), and aiohttp's access log writes the whole URL.
``serve()`` runs without an access log; any runner that has one (the test
server, a gunicorn worker) goes through :class:`RedactTokens`, installed on
aiohttp's loggers by :func:`install`, which replaces the value with
``[redacted]``.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from control.api.keys import SETTINGS

# a host name, IPv4 or [IPv6], and an optional port: nothing that could end
# a CSP directive (;) or a header
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
TOKEN_IN_URL = re.compile(r"((?:^|[?&;])(?:access_)?token=)[^&\s\"']*")


def content_security_policy(host: str | None, wss_port: int) -> str:
    """The policy for a page the browser loaded from ``host`` (the Host header)."""
    connect = ["'self'"]
    if host and _HOST.fullmatch(host):
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        # 'self' covers ws/wss of the same origin in CSP 3 only: name them
        connect += [f"ws://{host}", f"wss://{host}", f"wss://{hostname}:{wss_port}"]
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src " + " ".join(connect),
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: sees every response, raised HTTP errors included."""
    response.headers.update(STATIC_HEADERS)
    response.headers["Content-Security-Policy"] = content_security_policy(
        request.host, request.app[SETTINGS].ports.wss)


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter replaced."""
    return TOKEN_IN_URL.sub(r"\1[redacted]", text) if "token=" in text else text


class RedactTokens(logging.Filter):
    """Rewrites a record so that no URL's ``token=`` value reaches a handler:
    its message and every string attribute (aiohttp's access log also passes
    the request line as ``extra``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = redact(message), None
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and "token=" in value:
                setattr(record, name, redact(value))
            elif isinstance(value, dict):
                setattr(record, name, {k: redact(v) if isinstance(v, str) else v
                                       for k, v in value.items()})
        return True


REDACT_TOKENS = RedactTokens()
LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web")


def install(app: web.Application) -> None:
    """Security headers on every response of ``app``, and the token filter on
    aiohttp's loggers (idempotent: one filter object)."""
    app.on_response_prepare.append(security_headers)
    for name in LOGGERS:
        logging.getLogger(name).addFilter(REDACT_TOKENS)
