"""ACD over HTTP: routing decisions, agents' state, queue figures; agents
and queues managed (create, change, remove) by admins (queues: supervisors
too), through the same service functions as the CLI."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from control.acd import agents as agent_admin
from control.acd import queues as queue_admin
from control.acd.models import AgentStatus
from control.acd.router import Router
from control.api.http import (
    Body,
    applied,
    database,
    error,
    json_response,
    read_json,
)
from control.api.keys import ACD_STORE, ROUTER, SETTINGS
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.auth.users import add_user
from control.crm.fields import whole
from control.errors import Conflict, InvalidInput
from control.telephony.ari import AriError

SETTABLE = {AgentStatus.AVAILABLE.value, AgentStatus.PAUSED.value, AgentStatus.LOGGED_OUT.value}


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def call_routing(request: web.Request) -> web.Response:
    store = request.app[ACD_STORE]
    call_id = request.match_info["call_id"]
    call = await asyncio.to_thread(store.call, call_id)
    if call is None:
        return error(404, "not_found", "call_id", f"no call {call_id}")
    decisions = await asyncio.to_thread(store.decisions, call_id)
    return web.json_response({"call": call, "decisions": decisions})


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def live_calls(request: web.Request) -> web.Response:
    return web.json_response({"calls": request.app[ROUTER].live_calls()})


async def list_agents(request: web.Request) -> web.Response:  # any signed-in user
    agents = await asyncio.to_thread(request.app[ACD_STORE].agents)
    return web.json_response({"agents": request.app[ROUTER].with_live_states(agents)})


async def set_agent_status(request: web.Request) -> web.Response:
    """An agent changes its own state; supervisors and admins anyone's. On a
    call: `available` is refused (409), a pause or log-out is taken when the
    call ends (202, ``after_call``)."""
    principal = request[PRINCIPAL]
    extension = request.match_info["extension"]
    if principal.role == Role.AGENT.value and principal.agent_extension != extension:
        return error(403, "forbidden", "extension", "agents change only their own state")
    body = await read_json(request)
    body.only("status", "reason")
    status, reason = body.req_text("status"), body.text("reason", max_len=40)
    if status not in SETTABLE:
        return error(422, "invalid", "status", f"one of {', '.join(sorted(SETTABLE))}")
    try:
        agent, deferred = await request.app[ROUTER].request_status(
            extension, AgentStatus(status), reason or None)
    except Conflict as exc:
        return error(409, "conflict", "status", str(exc))
    if agent is None:
        return error(404, "not_found", "extension", "no such agent")
    if deferred:
        return web.json_response({"agent": agent, "after_call": {
            "status": status, "reason": reason or None}}, status=202)
    return web.json_response({"agent": agent})


async def queue_stats(request: web.Request) -> web.Response:  # any signed-in user
    store = request.app[ACD_STORE]
    name = request.match_info["name"]
    queue = await asyncio.to_thread(store.queue, name)
    if queue is None:
        return error(404, "not_found", "name", f"no queue {name}")
    figures = await asyncio.to_thread(store.queue_figures, name, queue["service_level_s"])
    return web.json_response({"queue": name, **request.app[ROUTER].waiting_figures(name),
                              **figures})


async def list_queues(request: web.Request) -> web.Response:  # any signed-in user
    return web.json_response({"queues": await asyncio.to_thread(request.app[ACD_STORE].queues)})


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def create_queue_route(request: web.Request) -> web.Response:
    body = await read_json(request)
    fields = ("name", "skills", "language", "wrapup_s", "ring_timeout_s", "max_misses",
              "max_wait_s", "service_level_s", "announce_every_s", "record", "members")
    body.only(*fields)
    numbers = {}
    for name in ("wrapup_s", "ring_timeout_s", "max_misses", "max_wait_s", "service_level_s",
                 "announce_every_s"):
        value = body.data.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool):
                return error(422, "invalid", name, "expected an integer")
            numbers[name] = value
    record = body.data.get("record", True)
    if not isinstance(record, bool):
        return error(422, "invalid", "record", "expected true or false")
    queue = await asyncio.to_thread(
        request.app[ACD_STORE].create_queue, name=body.req_text("name", max_len=40),
        skills=body.text_list("skills"), language=body.text("language", max_len=2) or "es",
        record=record, members=body.text_list("members", max_items=200),
        actor=request[PRINCIPAL].actor, **numbers)
    return await applied(request, web.json_response({"queue": queue}, status=201))


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def set_queue_member(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else None
    penalty = 0
    if body is not None:
        body.only("penalty")
        value = body.data.get("penalty", 0)
        if not isinstance(value, int) or isinstance(value, bool):
            return error(422, "invalid", "penalty", "expected an integer")
        penalty = value
    queue = await asyncio.to_thread(
        request.app[ACD_STORE].set_member, request.match_info["name"],
        request.match_info["extension"], None if request.method == "DELETE" else penalty,
        request[PRINCIPAL].actor)
    return await applied(request, web.json_response({"queue": queue}))


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def supervise(request: web.Request) -> web.Response:
    """Listen, whisper or barge into a live call from the supervisor's own phone."""
    body = await read_json(request)
    body.only("call_id", "mode")
    call_id, mode = body.req_text("call_id", max_len=36), body.req_text("mode")
    if mode not in Router.SNOOP_WHISPER:
        return error(422, "invalid", "mode", "one of listen, whisper, barge")
    extension = request[PRINCIPAL].agent_extension
    if not extension:
        return error(422, "invalid", "user", "your user has no phone (agent extension)")
    try:
        channel = await request.app[ROUTER].supervise(call_id, mode, extension)
    except AriError as exc:
        if exc.status == 503:
            raise
        return error(409, "unreachable", "extension", f"cannot ring {extension}: {exc}")
    return web.json_response({"call_id": call_id, "mode": mode, "channel": channel},
                             status=202)


async def place_call(request: web.Request) -> web.Response:
    """Click-to-call: ring the signed-in agent's own phone, then the customer
    through the trunk. {"to": "+34600111222"} and/or {"task_id": N} (a callback
    task: its number; done once a call that reached the customer ends), optional customer_id."""
    principal = request[PRINCIPAL]
    extension = principal.agent_extension
    if not extension:
        return error(422, "invalid", "user", "your user has no phone (agent extension)")
    body = await read_json(request)
    body.only("to", "customer_id", "task_id")
    to = body.text("to", max_len=40)
    customer_id, task_id = whole(body, "customer_id"), whole(body, "task_id")
    store = request.app[ACD_STORE]
    if task_id is not None:
        task = await asyncio.to_thread(store.open_task, task_id)
        if task is None:
            return error(404, "not_found", "task_id", f"no open task {task_id}")
        if task["agent_extension"] not in (None, extension) and \
                principal.role == Role.AGENT.value:
            return error(403, "forbidden", "task_id",
                         f"task {task_id} is agent {task['agent_extension']}'s")
        to = to or task["phone"]
        customer_id = customer_id if customer_id is not None else task["customer_id"]
    if not to:
        return error(422, "invalid", "to", "required (or a task_id with a number)")
    if customer_id is not None and not await asyncio.to_thread(store.customer_exists,
                                                               customer_id):
        return error(404, "not_found", "customer_id", f"no customer {customer_id}")
    call = await request.app[ROUTER].dialer.click_to_call(
        extension, to, customer_id=customer_id, task_id=task_id)
    return web.json_response({"call": call}, status=202)


async def call_action(request: web.Request) -> web.Response:
    """hangup, hold, unhold, transfer {"to": "ext:1003"|"queue:NAME"} (blind),
    consult {"to": "ext:1003"} then complete_transfer (attended),
    recording {"action": "start"|"pause"|"resume"}. The call's agent, or a supervisor."""
    call_id, action = request.match_info["call_id"], request.match_info["action"]
    router = request.app[ROUTER]
    principal = request[PRINCIPAL]
    live = router.calls.get(call_id)
    call = live.row if live else await asyncio.to_thread(request.app[ACD_STORE].call, call_id)
    if call is None:
        return error(404, "not_found", "call_id", f"no call {call_id}")
    if principal.role == Role.AGENT.value and call["agent_extension"] != principal.agent_extension:
        return error(403, "forbidden", "call_id", "agents control only their own calls")
    # a call not in progress: 409; a bad target: 422; Asterisk away: 503 (errors middleware)
    if action == "hangup":
        await router.hangup(call_id)
    elif action in ("hold", "unhold"):
        await router.hold(call_id, action == "hold")
    elif action == "transfer":
        body = await read_json(request)
        body.only("to")
        await router.transfer(call_id, body.req_text("to", max_len=60))
    elif action == "consult":
        body = await read_json(request)
        body.only("to")
        kind, _, extension = body.req_text("to", max_len=60).partition(":")
        if kind != "ext":
            return error(422, "invalid", "to", "a colleague's phone: ext:EXTENSION")
        await router.consult(call_id, extension)
    elif action == "complete_transfer":
        await router.complete_transfer(call_id)
    elif action == "recording":
        body = await read_json(request)
        body.only("action")
        what = body.req_text("action")
        if what not in ("start", "pause", "resume"):
            return error(422, "invalid", "action", "start, pause or resume")
        await router.recording(call_id, what)
    else:
        return error(404, "not_found", "action", "hangup, hold, unhold, transfer, consult, "
                     "complete_transfer, recording")
    return web.json_response({"call_id": call_id, "action": action}, status=202)


# -- managing agents and queues (the CLI's `agent` and `queue` commands) --------


def _settings(request: web.Request) -> Any:
    return request.app[SETTINGS]


def _bool(body: Body, name: str) -> bool | None:
    value = body.data.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidInput(name, "expected true or false")
    return value


def _optional_list(body: Body, name: str, max_items: int = 20) -> list[str] | None:
    """None when absent or null (unchanged); [] clears."""
    return None if body.data.get(name) is None else body.text_list(name, max_items=max_items)


def _something(body: Body, fields: tuple[str, ...]) -> None:
    if all(body.data.get(f) is None for f in fields):
        raise InvalidInput("body", f"nothing to change: give one of {', '.join(fields)}")


@require_role(Role.ADMIN)
async def create_agent_route(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("extension", "name", "password", "skills", "languages", "media_encryption",
              "user_email")
    extension = body.req_text("extension", max_len=8)
    name = body.req_text("name", max_len=120)
    password = body.text("password", max_len=128)
    skills, languages = body.text_list("skills"), body.text_list("languages", max_items=10)
    media_encryption = body.text("media_encryption", max_len=8) or "none"
    # the agent's login to the desk, made in the same transaction (both or neither)
    user_email = body.text("user_email")
    db, realm, actor = database(request), _settings(request).sip_domain, request[PRINCIPAL].actor

    def run() -> dict[str, object]:
        with db.session() as session:
            agent, generated = agent_admin.create_agent(
                session, extension=extension, name=name, password=password, realm=realm,
                skills=skills, languages=languages, media_encryption=media_encryption,
                actor=actor)
            answer: dict[str, object] = {"agent": agent.as_dict()}
            if generated:
                answer["generated_password"] = generated  # shown once, never stored
            if user_email:
                user, user_password = add_user(session, actor=actor, email=user_email,
                                               role=Role.AGENT.value,
                                               agent_extension=extension)
                answer["user"] = user.as_dict()
                answer["generated_user_password"] = user_password  # shown once
            return answer

    answer = await asyncio.to_thread(run)
    return await applied(request, json_response(answer, status=201))


@require_role(Role.ADMIN)
async def update_agent_route(request: web.Request) -> web.Response:
    extension = request.match_info["extension"]
    body = await read_json(request)
    fields = ("name", "password", "skills", "languages", "media_encryption")
    body.only(*fields)
    _something(body, fields)
    name = body.text("name", max_len=120)
    password = body.text("password", max_len=128)
    skills, languages = _optional_list(body, "skills"), _optional_list(body, "languages", 10)
    media_encryption = body.text("media_encryption", max_len=8)
    db, realm, actor = database(request), _settings(request).sip_domain, request[PRINCIPAL].actor

    def run() -> tuple[dict[str, object], bool]:
        with db.session() as session:
            agent, changed = agent_admin.update_agent(
                session, extension, realm=realm, actor=actor, name=name, password=password,
                skills=skills, languages=languages, media_encryption=media_encryption)
            return agent.as_dict(), changed

    agent, reregister = await asyncio.to_thread(run)
    # a new password or media encryption: the phones registered before are dropped
    return await applied(request, json_response({"agent": agent}),
                         unregister=[extension] if reregister else [])


@require_role(Role.ADMIN)
async def delete_agent_route(request: web.Request) -> web.Response:
    extension = request.match_info["extension"]
    db, settings, actor = database(request), _settings(request), request[PRINCIPAL].actor

    def run() -> None:
        channels = agent_admin.live_channels(settings, extension)
        with db.session() as session:
            agent_admin.delete_agent(session, extension, actor=actor, live_channels=channels)

    await asyncio.to_thread(run)
    return await applied(request, web.Response(status=204), unregister=[extension])


QUEUE_NUMBERS = tuple(queue_admin.LIMITS)


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def update_queue_route(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await read_json(request)
    fields = ("skills", "language", "record", "weights", "context_skills", *QUEUE_NUMBERS)
    body.only(*fields)
    _something(body, fields)
    numbers = {f: body.data.get(f) for f in QUEUE_NUMBERS}  # type-checked by update_queue
    skills = _optional_list(body, "skills")
    language = body.text("language", max_len=2)
    record = _bool(body, "record")
    weights = body.obj("weights")
    context_skills = body.obj("context_skills")  # checked entry by entry by update_queue
    db, actor = database(request), request[PRINCIPAL].actor

    def run() -> dict[str, object]:
        with db.session() as session:
            return queue_admin.update_queue(
                session, name, actor=actor, skills=skills, language=language, record=record,
                weights=weights, context_skills=context_skills, **numbers).as_dict()

    queue = await asyncio.to_thread(run)
    return await applied(request, json_response({"queue": queue}))


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def delete_queue_route(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    db, actor = database(request), request[PRINCIPAL].actor

    def run() -> None:
        with db.session() as session:
            queue_admin.delete_queue(session, name, actor=actor)

    await asyncio.to_thread(run)
    return await applied(request, web.Response(status=204))


def setup_routes(app: web.Application, router: Router) -> None:
    """The ACD's routes, on ``router`` (data changes go through app[APPLY])."""
    app[ACD_STORE] = router.store
    app[ROUTER] = router
    app.router.add_get("/api/v1/calls/live", live_calls)
    app.router.add_get("/api/v1/queues", list_queues)
    app.router.add_post("/api/v1/queues", create_queue_route)
    app.router.add_patch("/api/v1/queues/{name}", update_queue_route)
    app.router.add_delete("/api/v1/queues/{name}", delete_queue_route)
    app.router.add_put("/api/v1/queues/{name}/members/{extension}", set_queue_member)
    app.router.add_delete("/api/v1/queues/{name}/members/{extension}", set_queue_member)
    app.router.add_post("/api/v1/supervision", supervise)
    app.router.add_post("/api/v1/calls", place_call)
    app.router.add_post("/api/v1/calls/{call_id}/{action}", call_action)
    app.router.add_get("/api/v1/calls/{call_id}/routing", call_routing)
    app.router.add_get("/api/v1/agents", list_agents)
    app.router.add_post("/api/v1/agents", create_agent_route)
    app.router.add_patch("/api/v1/agents/{extension}", update_agent_route)
    app.router.add_delete("/api/v1/agents/{extension}", delete_agent_route)
    app.router.add_put("/api/v1/agents/{extension}/status", set_agent_status)
    app.router.add_get("/api/v1/queues/{name}/stats", queue_stats)
