"""Speech data: each queue's transcription policy, the transcript of each call
(final results, per speaker, with offsets), what became of each call's tap,
and the knowledge base that agent assist searches.

Full-text search: SQLite FTS5 tables (``transcript_fts``, ``kb_fts``) kept
by triggers, PostgreSQL GIN indexes on ``to_tsvector('simple', ...)``; both
made by the migration (``0011_speech``), queried by :mod:`control.speech.store`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base


class SpeechPolicy(Base):
    """A queue's speech settings; a queue without a row is not transcribed."""

    __tablename__ = "speech_policies"

    queue: Mapped[str] = mapped_column(String(40), primary_key=True)
    transcribe: Mapped[bool] = mapped_column(Boolean, default=False)
    # phrases that raise speech.keyword to supervisors when said on a call
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)

    def as_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "transcribe": self.transcribe,
                "keywords": list(self.keywords or [])}


class TranscriptSegment(Base):
    """One final result: who said it (``caller`` or ``agent``) and when, in
    seconds from the moment the call was bridged."""

    __tablename__ = "transcript_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(36), index=True)
    speaker: Mapped[str] = mapped_column(String(8))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)

    def as_dict(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "start": self.start_s, "end": self.end_s,
                "text": self.text}


class CallSpeech(Base):
    """What became of a call's transcription: ``transcribing``, ``complete``,
    ``incomplete`` (the recognizer restarted mid-call: ``gaps``), or
    ``not_transcribed`` with the ``reason`` (capacity, the tap failed)."""

    __tablename__ = "call_speech"

    call_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    gaps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())

    def as_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "status": self.status, "reason": self.reason,
                "gaps": list(self.gaps or []), "analysis": self.analysis}


class KbArticle(Base):
    """A knowledge-base article (insurance FAQ, procedure) agent assist suggests."""

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2), default="es")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "body": self.body,
                "language": self.language, "tags": list(self.tags or [])}
