"""POST /api/v1/calls/test: the admin page's Test call button (supervisors too)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from control.api.http import database, json_response, read_json
from control.api.keys import AMI, SETTINGS
from control.auth.middleware import require_role
from control.auth.models import Role
from control.ivr.flows import dialplans_dir, load_flows
from control.onboarding import caller


@require_role(Role.ADMIN, Role.SUPERVISOR)
async def place_test_call(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("to", "from")
    to = body.req_text("to", max_len=60)
    caller_id = body.text("from", max_len=20) or caller.DEFAULT_FROM
    db, settings = database(request), request.app[SETTINGS]

    def run() -> caller.PlannedCall:
        ivrs = load_flows(dialplans_dir(settings.root) / "ivr")
        with db.session() as session:
            return caller.plan(session, to=to, caller_id=caller_id, ivrs=ivrs)

    call = await asyncio.to_thread(run)
    await caller.place(request.app[AMI], call)
    return json_response({"call": call.as_dict()}, status=202)


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/calls/test", place_test_call)
