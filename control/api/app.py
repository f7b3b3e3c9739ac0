"""The control plane process: one function composes the app.

:func:`create_app` is the only place the parts are put together, for
production and for tests alike: settings, database, event bus, the ACD
(router, CRM link, AMI and ARI clients), and each capability's routes. A
test builds the app through it with ``telephony=False``: everything runs
but the connections to Asterisk (AMI, ARI) and the FastAGI server, which
need a running Asterisk. Shared objects are found through the keys of
:mod:`control.api.keys`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import text

from agi.server import fastagi_context
from control.acd import routes as acd_routes
from control.acd.customers import CrmLink
from control.acd.router import Router
from control.acd.store import AcdStore
from control.api import openapi
from control.api.keys import AMI, APPLY, ARI, BUS, CRM, DB, LEADERSHIP, ROUTER, SETTINGS, Apply
from control.auth import routes as auth_routes
from control.auth import user_routes
from control.campaigns import http as campaign_routes
from control.crm import routes as crm_routes
from control.db import Database
from control.events import websocket as events_websocket
from control.events.bus import EventBus, make_bus
from control.ha import forward
from control.ha.leadership import Leadership
from control.ha.lease import RoutingLease
from control.onboarding import routes as onboarding_routes
from control.provisioning import node_routes, trunk_routes
from control.provisioning import routes as dialplan_routes
from control.provisioning.dialplan import apply_data_change
from control.quality import routes as quality_routes
from control.recordings import retention as recordings_retention
from control.recordings import routes as recordings_routes
from control.secrets import Secrets
from control.settings import Settings
from control.speech import routes as speech_routes
from control.speech.tap import SpeechTap
from control.staffing import routes as staffing_routes
from control.telephony.ami import AmiClient
from control.telephony.fleet import AriFleet, EveryNode
from control.web import routes as web_routes
from control.web import security as web_security

log = logging.getLogger(__name__)


async def health(request: web.Request) -> web.Response:
    app = request.app
    db_ok = True
    try:
        await asyncio.to_thread(_ping_db, app[DB])
    except Exception as exc:  # report, never raise: health must answer
        log.warning("database ping failed: %s", exc)
        db_ok = False
    # a control plane that does not route (control/ha) connects to no ARI
    following = not app[LEADERSHIP].leading.is_set() and not app[LEADERSHIP].alone
    checks: dict[str, Any] = {
        "ami": "up" if app[AMI].connected else "down",
        "ari": "up" if app[ARI].connected else "following" if following else "down",
        "database": "up" if db_ok else "down",
        "event_bus": "up" if app[BUS].healthy else "down",
    }
    ok = all(v in ("up", "following") for v in checks.values())
    return web.json_response({"status": "ok" if ok else "degraded", **checks},
                             status=200 if ok else 503)


def _ping_db(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _leadership(app: web.Application) -> AsyncIterator[None]:
    app[LEADERSHIP].start()  # after every context gave what it runs when routing
    yield
    await app[LEADERSHIP].close()


async def _bus(app: web.Application) -> AsyncIterator[None]:
    await app[BUS].start()
    yield
    await app[BUS].close()


def _acd(telephony: bool) -> Any:
    async def context(app: web.Application) -> AsyncIterator[None]:
        async def route() -> None:
            app[CRM].start()  # replays CRM writes deferred while the database was away
            app[ROUTER].start()
            if telephony:
                app[ARI].start()
        if telephony:
            app[AMI].start()
        await app[LEADERSHIP].lead(route)  # now, or once this one holds the routing lease
        yield
        if telephony:
            app[AMI].close()
        await app[ROUTER].close()
        if telephony:
            await app[ARI].close()
        await app[CRM].close()

    return context


def create_app(settings: Settings, *, db: Database | None = None,
               bus: EventBus | None = None, telephony: bool = True,
               apply: Apply | None = None) -> web.Application:
    """The whole control plane. ``db``/``bus``: given ones (tests) instead of
    the settings' own; ``apply``: what pushes data changes into the stack."""
    secrets = Secrets(settings.secrets_file)
    app = web.Application()
    app[SETTINGS] = settings
    app[DB] = db = db or Database(settings)
    app[BUS] = bus or make_bus(settings.redis_url)
    app[AMI] = AmiClient("127.0.0.1", settings.ports.ami, "aitcomms", secrets["AMI_PASSWORD"])
    # every media node: the stack's own, those this box runs, those run elsewhere
    # with an ARI URL (read again every 2 s)
    app[ARI] = AriFleet(settings.stasis_app, discover=EveryNode(settings, db))
    app[CRM] = CrmLink(db)  # its outbox: var/crm-outbox.jsonl

    def apply_change(author: str, unregister: Sequence[str]) -> object:
        return apply_data_change(settings, db, author, unregister)

    app[APPLY] = apply or apply_change
    router = Router(app[ARI], AcdStore(db), app[BUS],
                    recordings_spool=settings.asterisk_dir / "spool" / "recording",
                    recordings_dir=settings.recordings_dir, crm=app[CRM],
                    outbound_caller_id=settings.outbound_caller_id,
                    outbound_wrapup_s=settings.outbound_wrapup_s)
    # the speech tap: told by the ACD's hooks, never in a call's way
    speech = SpeechTap(settings, db, app[BUS],
                       AriFleet(f"{settings.stasis_app}-speech",
                                discover=EveryNode(settings, db)))
    # several control planes: the lease says which one routes (control/ha)
    lease = (RoutingLease(settings.redis_url, settings.control_plane,
                          settings.control_plane_url or settings.control_url)
             if telephony and settings.control_plane and settings.redis_url else None)
    app[LEADERSHIP] = Leadership(lease, db, app[CRM])
    router.call_log.on_fenced.append(lambda exc: app[LEADERSHIP].stop(str(exc)))
    forward.install(app, app[LEADERSHIP], settings.control_plane or "")
    router.on_connected.append(speech.call_connected)
    router.on_ended.append(speech.call_ended)
    app.cleanup_ctx.append(_bus)
    auth_routes.setup_routes(app)
    user_routes.setup_routes(app)  # user accounts (admin page)
    crm_routes.setup_routes(app)
    acd_routes.setup_routes(app, router)
    staffing_routes.setup_routes(app)  # forecast, targets, alerts (after the ACD's)
    quality_routes.setup_routes(app)  # evaluation forms and quality reviews
    recordings_routes.setup_routes(app)  # call history, recordings (after the ACD's)
    speech_routes.setup_routes(app, speech)  # transcripts, knowledge base
    dialplan_routes.setup_routes(app)  # dialplan versions (admin page)
    trunk_routes.setup_routes(app)  # trunks and DIDs
    node_routes.setup_routes(app)  # media nodes behind Kamailio's dispatcher
    onboarding_routes.setup_routes(app)  # the test caller
    events_websocket.setup_routes(app)  # after auth: it needs the JWT secret
    openapi.setup_routes(app)
    web_routes.setup_routes(app)  # the browser UI at / and its softphone credentials
    web_security.install(app)  # CSP & co. on every response; no ?token= in logs
    app.router.add_get("/health", health)
    app.router.add_get("/api/v1/health", health)
    app.cleanup_ctx.append(_acd(telephony))
    campaign_routes.setup_routes(app, router, dialing=telephony)  # after the ACD: it dials
    if telephony:
        app.cleanup_ctx.append(fastagi_context(db, settings.ports.fastagi))
        app.cleanup_ctx.append(recordings_retention.job(
            db, settings.recordings_dir, settings.recordings_purge_every_s))
        app.cleanup_ctx.append(speech.context)
    app.cleanup_ctx.append(_leadership)
    return app


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)

    async def dispose(app: web.Application) -> None:
        app[DB].dispose()

    app.on_cleanup.append(dispose)
    web.run_app(app, host="127.0.0.1", port=settings.ports.http, print=None, access_log=None)
