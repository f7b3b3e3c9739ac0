"""The control plane process: aiohttp app wiring AMI, ARI, the event bus and the API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import text

from agi.server import fastagi_context
from control.acd import routes as acd_routes
from control.acd.customers import CrmLink
from control.acd.router import Router
from control.acd.store import AcdStore
from control.api import openapi
from control.auth import routes as auth_routes
from control.crm import routes as crm_routes
from control.db import Database
from control.events import websocket as events_websocket
from control.events.bus import EventBus, make_bus
from control.provisioning import routes as dialplan_routes
from control.provisioning import trunk_routes
from control.provisioning.dialplan import apply_data_change
from control.secrets import Secrets
from control.settings import Settings
from control.telephony.ami import AmiClient
from control.telephony.ari import AriClient
from control.web import routes as web_routes

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
BUS = web.AppKey("bus", EventBus)
AMI = web.AppKey("ami", AmiClient)
ARI = web.AppKey("ari", AriClient)
ROUTER = web.AppKey("router", Router)
CRM = web.AppKey("crm", CrmLink)


async def health(request: web.Request) -> web.Response:
    app = request.app
    db_ok = True
    try:
        await asyncio.to_thread(_ping_db, app[DB])
    except Exception as exc:  # report, never raise: health must answer
        log.warning("database ping failed: %s", exc)
        db_ok = False
    checks: dict[str, Any] = {
        "ami": "up" if app[AMI].connected else "down",
        "ari": "up" if app[ARI].connected else "down",
        "database": "up" if db_ok else "down",
        "event_bus": "up" if app[BUS].healthy else "down",
    }
    ok = all(v == "up" for v in checks.values())
    return web.json_response({"status": "ok" if ok else "degraded", **checks},
                             status=200 if ok else 503)


def _ping_db(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _startup(app: web.Application) -> None:
    await app[BUS].start()
    app[AMI].start()
    app[CRM].start()  # replays CRM writes deferred while the database was away
    app[ROUTER].start()
    app[ARI].start()


async def _cleanup(app: web.Application) -> None:
    app[AMI].close()
    await app[ROUTER].close()
    await app[ARI].close()
    await app[CRM].close()
    await app[BUS].close()
    app[DB].dispose()


def create_app(settings: Settings) -> web.Application:
    secrets = Secrets(settings.secrets_file)
    app = web.Application()
    app[SETTINGS] = settings
    app[DB] = Database(settings)
    app[BUS] = make_bus(settings.redis_url)
    app[AMI] = AmiClient("127.0.0.1", settings.ports.ami, "aitcomms", secrets["AMI_PASSWORD"])
    app[ARI] = AriClient(f"http://127.0.0.1:{settings.ports.ari}", "aitcomms",
                         secrets["ARI_PASSWORD"], settings.stasis_app)
    store = AcdStore(app[DB])
    app[CRM] = CrmLink(app[DB])  # its outbox: var/crm-outbox.jsonl
    app[ROUTER] = Router(app[ARI], store, app[BUS],
                         recordings_spool=settings.asterisk_dir / "spool" / "recording",
                         recordings_dir=settings.recordings_dir, crm=app[CRM],
                         outbound_caller_id=settings.outbound_caller_id,
                         outbound_wrapup_s=settings.outbound_wrapup_s)

    def apply(author: str, unregister: Sequence[str]) -> object:
        return apply_data_change(settings, app[DB], author, unregister)

    acd_routes.setup_routes(app, store, app[ROUTER], apply=apply)
    auth_routes.setup_routes(app)
    crm_routes.setup_routes(app)
    dialplan_routes.setup_routes(app)  # dialplan versions (admin page)
    trunk_routes.setup_routes(app, apply=apply)  # trunks and DIDs
    events_websocket.setup_routes(app)  # after auth: it needs the JWT secret
    openapi.setup_routes(app)
    web_routes.setup_routes(app)  # the browser UI at / and its softphone credentials
    app.router.add_get("/health", health)
    app.router.add_get("/api/v1/health", health)
    app.on_startup.append(_startup)
    app.cleanup_ctx.append(fastagi_context(app[DB], settings.ports.fastagi))
    app.on_cleanup.append(_cleanup)
    return app


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(create_app(settings), host="127.0.0.1", port=settings.ports.http,
                print=None, access_log=None)
