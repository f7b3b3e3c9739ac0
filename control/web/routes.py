"""The browser UI and what only it needs from the API.

``/`` and the pages (``/login``, ``/agent``, ``/wallboard``, ``/admin``, ``/reviews``) are one
HTML shell: the page itself asks ``/api/v1/auth/me`` who is signed in and shows
only what that role may see (an agent sent to ``/wallboard`` gets a "no access"
page; the data behind it is refused by the API with 403 anyway). Assets come
from ``web/dist/`` built by ``npm run build`` (``make setup`` runs it).

``GET /api/v1/softphone`` gives the signed-in user's own SIP credentials for
the browser softphone: extension, realm and the digest HA1, never a password.
The SIP password is not stored server-side (only HA1), and JsSIP can answer a
digest challenge with the HA1 alone; the agent then signs in once (web login)
and the softphone registers by itself, nothing SIP-related is typed or kept in
localStorage, and the HA1 (valid only for this realm and extension) lives only
in the page's memory. An agent changing its SIP password changes the HA1: the
next page load picks it up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from control.acd.models import Agent
from control.api.http import database, error
from control.api.keys import SETTINGS
from control.auth.middleware import PRINCIPAL

PAGES = ("/", "/login", "/agent", "/wallboard", "/admin", "/reviews", "/calls")
NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>AIT-COMMS</title>
<p>The web UI is not built: run <code>make setup</code> (or <code>npm ci &amp;&amp;
npm run build</code> in <code>web/</code>).</p>"""


def dist_dir(root: Path) -> Path:
    return root / "web" / "dist"


async def softphone(request: web.Request) -> web.Response:
    """The caller's own softphone credentials (any role with an extension)."""
    principal = request[PRINCIPAL]
    extension = principal.agent_extension
    if not extension:
        return error(404, "not_found", "user", "your user has no phone (agent extension)")
    db = database(request)

    def run() -> tuple[str, str] | None:
        with db.session() as session:
            agent = session.scalar(select(Agent).where(Agent.extension == extension))
            return (agent.name, agent.sip_ha1) if agent is not None else None

    found = await asyncio.to_thread(run)
    if found is None:
        return error(404, "not_found", "extension", f"no agent {extension}")
    settings = request.app[SETTINGS]
    return web.json_response({
        "extension": extension, "display_name": found[0], "realm": settings.sip_domain,
        "domain": settings.sip_domain, "ha1": found[1], "wss_port": settings.ports.wss},
        headers={"Cache-Control": "no-store"})


def setup_routes(app: web.Application) -> None:
    dist = dist_dir(app[SETTINGS].root)
    index = dist / "index.html"

    async def page(request: web.Request) -> web.StreamResponse:
        if not index.exists():
            return web.Response(text=NOT_BUILT, content_type="text/html", status=503)
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    for path in PAGES:
        app.router.add_get(path, page)
    assets = dist / "assets"
    if assets.is_dir():
        app.router.add_static("/assets/", assets, append_version=False)
    app.router.add_get("/api/v1/softphone", softphone)
