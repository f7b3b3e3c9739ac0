"""Speech over HTTP: queues' speech policies, a call's transcript and
analysis, transcript search, the knowledge base and its suggestions, the
tap's status. Each handler reads the request and calls
:mod:`control.speech.store`."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from control.api.http import database, json_response, path_int, query_int, read_json
from control.auth.middleware import PRINCIPAL, require_role
from control.auth.models import Role
from control.errors import InvalidInput
from control.speech import store
from control.speech.tap import SpeechTap

TAP: web.AppKey[SpeechTap] = web.AppKey("speech_tap")


async def _in_session(request: web.Request, fn: Any) -> Any:
    db = database(request)

    def run() -> Any:
        with db.session() as session:
            return fn(session)

    return await asyncio.to_thread(run)


async def get_policy(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    policy = await _in_session(request, lambda s: store.get_policy(s, name).as_dict())
    return json_response({"speech": policy})


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def put_policy(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await read_json(request)
    body.only("transcribe", "keywords")
    transcribe = body.data.get("transcribe")
    if transcribe is not None and not isinstance(transcribe, bool):
        raise InvalidInput("transcribe", "expected true or false")
    keywords = body.text_list("keywords", max_items=store.MAX_KEYWORDS) \
        if "keywords" in body.data else None
    actor = request[PRINCIPAL].actor
    policy = await _in_session(request, lambda s: store.set_policy(
        s, name, actor=actor, transcribe=transcribe, keywords=keywords).as_dict())
    return json_response({"speech": policy})


async def call_transcript(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    return json_response(await _in_session(request, lambda s: store.transcript(s, call_id)))


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "")
    if len(query) > 200:
        raise InvalidInput("q", "at most 200 characters")
    limit = query_int(request, "limit", 20)
    if not 1 <= limit <= 100:
        raise InvalidInput("limit", "between 1 and 100")
    hits = await _in_session(request, lambda s: store.search_transcripts(s, query, limit))
    return json_response({"query": query, "hits": hits})


async def list_articles(request: web.Request) -> web.Response:
    found = await _in_session(request, lambda s: [a.as_dict() for a in store.list_articles(s)])
    return json_response({"articles": found})


async def suggest(request: web.Request) -> web.Response:
    said = request.query.get("text", "")
    if not said.strip():
        raise InvalidInput("text", "what was said, to find articles for")
    if len(said) > 500:
        raise InvalidInput("text", "at most 500 characters")
    return json_response({"articles": await _in_session(
        request, lambda s: store.suggest(s, said))})


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def create_article(request: web.Request) -> web.Response:
    body = await read_json(request)
    body.only("title", "body", "tags", "language")
    title = body.req_text("title", max_len=200)
    text = body.req_text("body", max_len=20000)
    tags = body.text_list("tags")
    language = body.text("language", max_len=2) or "es"
    actor = request[PRINCIPAL].actor
    article = await _in_session(request, lambda s: store.create_article(
        s, title=title, body=text, tags=tags, language=language, actor=actor).as_dict())
    return json_response({"article": article}, status=201)


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def update_article(request: web.Request) -> web.Response:
    article_id = path_int(request, "id")
    body = await read_json(request)
    body.only("title", "body", "tags", "language")
    tags = body.text_list("tags") if "tags" in body.data else None
    fields = {"title": body.text("title", max_len=200), "body": body.text("body", max_len=20000),
              "language": body.text("language", max_len=2)}
    actor = request[PRINCIPAL].actor
    article = await _in_session(request, lambda s: store.update_article(
        s, article_id, actor=actor, tags=tags, **fields).as_dict())
    return json_response({"article": article})


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def delete_article(request: web.Request) -> web.Response:
    article_id = path_int(request, "id")
    actor = request[PRINCIPAL].actor
    await _in_session(request, lambda s: store.delete_article(s, article_id, actor=actor))
    return web.Response(status=204)


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def status(request: web.Request) -> web.Response:
    return json_response(request.app[TAP].status())


def setup_routes(app: web.Application, tap: SpeechTap) -> None:
    app[TAP] = tap
    app.router.add_get("/api/v1/queues/{name}/speech", get_policy)
    app.router.add_put("/api/v1/queues/{name}/speech", put_policy)
    app.router.add_get("/api/v1/calls/{call_id}/transcript", call_transcript)
    app.router.add_get("/api/v1/transcripts", search)
    app.router.add_get("/api/v1/kb/articles", list_articles)
    app.router.add_post("/api/v1/kb/articles", create_article)
    app.router.add_patch("/api/v1/kb/articles/{id}", update_article)
    app.router.add_delete("/api/v1/kb/articles/{id}", delete_article)
    app.router.add_get("/api/v1/kb/suggestions", suggest)
    app.router.add_get("/api/v1/speech/status", status)
