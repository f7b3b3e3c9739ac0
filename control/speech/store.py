"""Speech services: plain functions ``fn(session, ..., actor)`` (audited where
they change settings or the knowledge base), shared by the API, the CLI and
the tap.

Search is the database's own full-text engine: SQLite FTS5 (``bm25``
ranking) or PostgreSQL ``to_tsvector``/``ts_rank``. A query is reduced to
its words, each quoted (an FTS5 query syntax error from user input must be
a 422, never a 500).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from control.acd.models import Queue
from control.auth import audit
from control.auth.audit import CLI, Actor
from control.errors import InvalidInput, NotFound
from control.speech.models import CallSpeech, KbArticle, SpeechPolicy, TranscriptSegment

WORD_RE = re.compile(r"\w+", re.UNICODE)
MAX_KEYWORDS = 50
# words too common to say what an utterance is about (Spanish; the KB's language)
STOP_WORDS = frozenset(
    "a al algo como con de del el en es esta este hay la las lo los me mi mis muy no o "
    "para pero por que quiero se si sin su sus te tengo un una y ya yo".split())


def words(value: str) -> list[str]:
    return [w for w in WORD_RE.findall(value.lower()) if w not in STOP_WORDS]


# -- policies ---------------------------------------------------------------------


def get_policy(session: Session, queue: str) -> SpeechPolicy:
    """A queue's speech policy (an unsaved default, off, when it has none)."""
    if session.scalar(select(Queue.id).where(Queue.name == queue)) is None:
        raise NotFound("queue", queue, "name")
    return session.get(SpeechPolicy, queue) or SpeechPolicy(queue=queue, transcribe=False,
                                                            keywords=[])


def set_policy(session: Session, queue: str, *, actor: Actor = CLI,
               transcribe: bool | None = None, keywords: list[str] | None = None
               ) -> SpeechPolicy:
    policy = get_policy(session, queue)
    before = policy.as_dict() if session.get(SpeechPolicy, queue) else None
    if transcribe is not None:
        if not isinstance(transcribe, bool):
            raise InvalidInput("transcribe", "expected true or false")
        policy.transcribe = transcribe
    if keywords is not None:
        policy.keywords = check_keywords(keywords)
    session.merge(policy)
    session.flush()
    audit.record(session, actor, "update", "speech_policies", queue, before=before,
                 after=policy.as_dict())
    return policy


def check_keywords(values: list[str]) -> list[str]:
    if not isinstance(values, list):
        raise InvalidInput("keywords", "expected a list of phrases")
    if len(values) > MAX_KEYWORDS:
        raise InvalidInput("keywords", f"at most {MAX_KEYWORDS} phrases")
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not words(value) or len(value) > 80:
            raise InvalidInput("keywords", f"{value!r}: a phrase of 1 to 80 characters "
                               "with at least one word")
        phrase = " ".join(WORD_RE.findall(value.lower()))
        if phrase not in out:
            out.append(phrase)
    return out


def policies(session: Session) -> dict[str, dict[str, Any]]:
    return {p.queue: p.as_dict() for p in session.scalars(select(SpeechPolicy))}


def keywords_in(phrases: list[str], utterance: str) -> list[str]:
    """The phrases said in an utterance: whole words, in order, case and
    punctuation aside ("darme de baja" in "quiero darme de baja ya")."""
    said = " " + " ".join(WORD_RE.findall(utterance.lower())) + " "
    return [p for p in phrases if f" {p} " in said]


# -- transcripts ----------------------------------------------------------------------


def add_segment(session: Session, call_id: str, speaker: str, start: float, end: float,
                said: str) -> None:
    session.add(TranscriptSegment(call_id=call_id, speaker=speaker, start_s=start, end_s=end,
                                  text=said))


def set_status(session: Session, call_id: str, status: str, reason: str | None = None,
               gaps: list[dict[str, Any]] | None = None,
               analysis: dict[str, Any] | None = None) -> None:
    row = session.get(CallSpeech, call_id) or CallSpeech(call_id=call_id, gaps=[])
    row.status = status
    if reason is not None:
        row.reason = reason
    if gaps is not None:
        row.gaps = gaps
    if analysis is not None:
        row.analysis = analysis
    session.merge(row)


def transcript(session: Session, call_id: str) -> dict[str, Any]:
    segments = session.scalars(select(TranscriptSegment).where(
        TranscriptSegment.call_id == call_id).order_by(TranscriptSegment.start_s,
                                                       TranscriptSegment.id))
    status = session.get(CallSpeech, call_id)
    return {"call_id": call_id,
            "speech": status.as_dict() if status else {"call_id": call_id,
                                                        "status": "not_transcribed",
                                                        "reason": "transcription off",
                                                        "gaps": [], "analysis": None},
            "segments": [s.as_dict() for s in segments]}


def _match_query(query: str, field: str = "q") -> list[str]:
    found = words(query)
    if not found:
        raise InvalidInput(field, "at least one word to search for")
    return found[:20]


def search_transcripts(session: Session, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """Calls whose transcript has every word of ``query``: one hit per
    segment, best first."""
    terms = _match_query(query)
    if session.get_bind().dialect.name == "sqlite":
        fts = " AND ".join(f'"{t}"' for t in terms)
        rows = session.execute(text(
            "SELECT s.call_id, s.speaker, s.start_s, s.end_s, s.text FROM transcript_fts f "
            "JOIN transcript_segments s ON s.id = f.rowid WHERE transcript_fts MATCH :q "
            "ORDER BY bm25(transcript_fts) LIMIT :n"), {"q": fts, "n": limit})
    else:
        rows = session.execute(text(
            "SELECT call_id, speaker, start_s, end_s, text FROM transcript_segments "
            "WHERE to_tsvector('simple', text) @@ plainto_tsquery('simple', :q) "
            "ORDER BY ts_rank(to_tsvector('simple', text), plainto_tsquery('simple', :q)) "
            "DESC LIMIT :n"), {"q": " ".join(terms), "n": limit})
    return [{"call_id": r[0], "speaker": r[1], "start": r[2], "end": r[3], "text": r[4]}
            for r in rows]


# -- knowledge base -----------------------------------------------------------------------


def _article_fields(title: str | None, body: str | None, tags: list[str] | None,
                    language: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if title is not None:
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            raise InvalidInput("title", "1 to 200 characters")
        out["title"] = title.strip()
    if body is not None:
        if not isinstance(body, str) or not body.strip() or len(body) > 20000:
            raise InvalidInput("body", "1 to 20000 characters")
        out["body"] = body.strip()
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput("tags", "expected a list of strings")
        out["tags"] = [t.strip().lower() for t in tags if t.strip()][:20]
    if language is not None:
        if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2}", language):
            raise InvalidInput("language", "a two-letter code such as es or en")
        out["language"] = language
    return out


def create_article(session: Session, *, title: str, body: str, tags: list[str] | None = None,
                   language: str = "es", actor: Actor = CLI) -> KbArticle:
    fields = _article_fields(title, body, tags or [], language)
    article = KbArticle(**fields)
    session.add(article)
    session.flush()
    audit.record(session, actor, "create", "kb_articles", article.id, after=article.as_dict())
    return article


def get_article(session: Session, article_id: int) -> KbArticle:
    article = session.get(KbArticle, article_id)
    if article is None:
        raise NotFound("article", str(article_id), "id")
    return article


def update_article(session: Session, article_id: int, *, actor: Actor = CLI,
                   title: str | None = None, body: str | None = None,
                   tags: list[str] | None = None, language: str | None = None) -> KbArticle:
    article = get_article(session, article_id)
    before = article.as_dict()
    for key, value in _article_fields(title, body, tags, language).items():
        setattr(article, key, value)
    article.version += 1
    session.flush()
    audit.record(session, actor, "update", "kb_articles", article.id, before=before,
                 after=article.as_dict())
    return article


def delete_article(session: Session, article_id: int, *, actor: Actor = CLI) -> None:
    article = get_article(session, article_id)
    audit.record(session, actor, "delete", "kb_articles", article.id, before=article.as_dict())
    session.delete(article)


def list_articles(session: Session) -> list[KbArticle]:
    return list(session.scalars(select(KbArticle).order_by(KbArticle.title)))


def suggest(session: Session, utterances: str, limit: int = 3) -> list[dict[str, Any]]:
    """Articles for what was said, best first: any of its words may match,
    rare words and title words weigh more (FTS5 bm25 with the title weighted
    double; PostgreSQL ts_rank)."""
    terms = list(dict.fromkeys(w for w in words(utterances) if len(w) > 1))[:30]
    if not terms:
        return []
    if session.get_bind().dialect.name == "sqlite":
        fts = " OR ".join(f'"{t}"' for t in terms)
        rows = session.execute(text(
            "SELECT a.id, a.title, a.body, -bm25(kb_fts, 2.0, 1.0) AS score FROM kb_fts f "
            "JOIN kb_articles a ON a.id = f.rowid WHERE kb_fts MATCH :q "
            "ORDER BY bm25(kb_fts, 2.0, 1.0) LIMIT :n"), {"q": fts, "n": limit})
    else:
        tsq = " | ".join(re.sub(r"[^\w]", "", t) for t in terms)
        rows = session.execute(text(
            "SELECT id, title, body, ts_rank(to_tsvector('simple', title || ' ' || body), "
            "to_tsquery('simple', :q)) AS score FROM kb_articles "
            "WHERE to_tsvector('simple', title || ' ' || body) @@ to_tsquery('simple', :q) "
            "ORDER BY score DESC LIMIT :n"), {"q": tsq, "n": limit})
    return [{"id": r[0], "title": r[1], "excerpt": r[2][:200], "score": round(float(r[3]), 3)}
            for r in rows]
