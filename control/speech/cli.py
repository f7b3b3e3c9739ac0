"""``aitcomms speech ...`` and ``aitcomms kb ...``: queues' speech policies,
transcript search and the knowledge base, through the same services as the
API (:mod:`control.speech.store`), audited as the CLI."""

from __future__ import annotations

import argparse
import json
from typing import Any

from control.auth.audit import CLI, SEED
from control.db import Database
from control.errors import InvalidInput
from control.settings import Settings
from control.speech import store
from control.speech.seed import ARTICLES

Parsers = Any  # argparse's private _SubParsersAction


def _db(settings: Settings) -> Database:
    return Database(settings)


def cmd_policy(settings: Settings, args: argparse.Namespace) -> int:
    keywords = None if args.keywords is None else [
        k for k in (x.strip() for x in args.keywords.split(",")) if k]
    db = _db(settings)
    with db.session() as session:
        if args.transcribe is None and keywords is None:
            policy = store.get_policy(session, args.queue)
        else:
            policy = store.set_policy(session, args.queue, actor=CLI,
                                      transcribe=args.transcribe, keywords=keywords)
        print(json.dumps(policy.as_dict(), ensure_ascii=False))
    return 0


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    with _db(settings).session() as session:
        for hit in store.search_transcripts(session, args.query):
            print(f"{hit['call_id']}  {hit['speaker']:6} {hit['start']:7.2f}s  {hit['text']}")
    return 0


def cmd_kb_add(settings: Settings, args: argparse.Namespace) -> int:
    with _db(settings).session() as session:
        article = store.create_article(session, title=args.title, body=args.body,
                                       tags=args.tags.split(",") if args.tags else [],
                                       language=args.language, actor=CLI)
        print(article.id)
    return 0


def cmd_kb_list(settings: Settings, args: argparse.Namespace) -> int:
    with _db(settings).session() as session:
        for article in store.list_articles(session):
            print(f"{article.id:4}  {article.title}")
    return 0


def cmd_kb_update(settings: Settings, args: argparse.Namespace) -> int:
    if args.title is None and args.body is None and args.tags is None:
        raise InvalidInput("kb update", "nothing to change: give --title, --body or --tags")
    with _db(settings).session() as session:
        store.update_article(session, args.id, actor=CLI, title=args.title, body=args.body,
                             tags=args.tags.split(",") if args.tags is not None else None)
    return 0


def cmd_kb_remove(settings: Settings, args: argparse.Namespace) -> int:
    with _db(settings).session() as session:
        store.delete_article(session, args.id, actor=CLI)
    return 0


def cmd_kb_suggest(settings: Settings, args: argparse.Namespace) -> int:
    with _db(settings).session() as session:
        for hit in store.suggest(session, args.text):
            print(f"{hit['score']:7.3f}  {hit['id']:4}  {hit['title']}")
    return 0


def cmd_kb_seed(settings: Settings, args: argparse.Namespace) -> int:
    """The Spanish insurance FAQ and procedures (idempotent: by title)."""
    added = 0
    with _db(settings).session() as session:
        have = {a.title for a in store.list_articles(session)}
        for title, body, tags in ARTICLES:
            if title not in have:
                store.create_article(session, title=title, body=body, tags=tags, actor=SEED)
                added += 1
    print(f"{added} articles added")
    return 0


def register(sub: Parsers) -> None:
    def add(parent: Parsers, name: str, fn: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        p.set_defaults(func=fn)
        return p

    speech = sub.add_parser("speech", help="live transcription").add_subparsers(
        dest="speech_command", required=True)
    p = add(speech, "policy", cmd_policy, "show or change a queue's speech policy "
                                         "(transcription off by default, alert phrases)")
    p.add_argument("queue")
    onoff = p.add_mutually_exclusive_group()
    onoff.add_argument("--on", dest="transcribe", action="store_const", const=True)
    onoff.add_argument("--off", dest="transcribe", action="store_const", const=False)
    p.add_argument("--keywords", help="alert phrases, comma separated (replaces the list)")
    p = add(speech, "search", cmd_search, "search the calls' transcripts (full text)")
    p.add_argument("query")

    kb = sub.add_parser("kb", help="the knowledge base of agent assist").add_subparsers(
        dest="kb_command", required=True)
    p = add(kb, "add", cmd_kb_add, "add an article")
    p.add_argument("--title", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--tags", default="")
    p.add_argument("--language", default="es")
    add(kb, "list", cmd_kb_list, "the articles")
    p = add(kb, "update", cmd_kb_update, "change an article")
    p.add_argument("id", type=int)
    p.add_argument("--title")
    p.add_argument("--body")
    p.add_argument("--tags")
    p = add(kb, "remove", cmd_kb_remove, "remove an article")
    p.add_argument("id", type=int)
    p = add(kb, "suggest", cmd_kb_suggest, "the articles agent assist suggests for a text")
    p.add_argument("text")
    add(kb, "seed", cmd_kb_seed, "add the Spanish insurance FAQ and procedures (idempotent)")
