"""Speech: queues' transcription policies, transcripts (full-text searchable),
each call's transcription status and analysis, the knowledge base.

Full text: SQLite FTS5 external-content tables kept by triggers; PostgreSQL
GIN indexes on to_tsvector('simple', ...) (any language: the transcripts'
is the model's).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE transcript_fts USING fts5(text, content='transcript_segments', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER transcript_fts_ai AFTER INSERT ON transcript_segments BEGIN "
    "INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER transcript_fts_ad AFTER DELETE ON transcript_segments BEGIN "
    "INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.id, "
    "old.text); END",
    "CREATE VIRTUAL TABLE kb_fts USING fts5(title, body, content='kb_articles', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER kb_fts_ai AFTER INSERT ON kb_articles BEGIN "
    "INSERT INTO kb_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER kb_fts_ad AFTER DELETE ON kb_articles BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, title, body) VALUES ('delete', old.id, old.title, "
    "old.body); END",
    "CREATE TRIGGER kb_fts_au AFTER UPDATE ON kb_articles BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, title, body) VALUES ('delete', old.id, old.title, "
    "old.body); INSERT INTO kb_fts(rowid, title, body) VALUES (new.id, new.title, "
    "new.body); END",
]
PG_FTS = [
    "CREATE INDEX transcript_segments_fts ON transcript_segments "
    "USING gin (to_tsvector('simple', text))",
    "CREATE INDEX kb_articles_fts ON kb_articles "
    "USING gin (to_tsvector('simple', title || ' ' || body))",
]


def upgrade() -> None:
    op.create_table(
        "speech_policies",
        sa.Column("queue", sa.String(40), primary_key=True),
        sa.Column("transcribe", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("keywords", sa.JSON, nullable=False),
    )
    op.create_table(
        "transcript_segments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.String(36), nullable=False, index=True),
        sa.Column("speaker", sa.String(8), nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_table(
        "call_speech",
        sa.Column("call_id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(255), nullable=True),
        sa.Column("gaps", sa.JSON, nullable=False),
        sa.Column("analysis", sa.JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("language", sa.String(2), nullable=False, server_default="es"),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    for statement in SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else PG_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("transcript_fts", "kb_fts"):
            op.execute(f"DROP TABLE IF EXISTS {name}")
    for table in ("kb_articles", "call_speech", "transcript_segments", "speech_policies"):
        op.drop_table(table)
