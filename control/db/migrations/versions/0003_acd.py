"""ACD: agents' state, queues and members, calls and routing decisions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False,
                                   server_default="logged_out"))
        batch.add_column(sa.Column("pause_reason", sa.String(40), nullable=True))
        batch.add_column(sa.Column("status_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("missed_in_a_row", sa.Integer, nullable=False,
                                   server_default="0"))
    op.create_table(
        "queues",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("wrapup_s", sa.Integer, nullable=False),
        sa.Column("ring_timeout_s", sa.Integer, nullable=False),
        sa.Column("max_misses", sa.Integer, nullable=False),
        sa.Column("max_wait_s", sa.Integer, nullable=False),
        sa.Column("announce_every_s", sa.Integer, nullable=False),
        sa.Column("service_level_s", sa.Integer, nullable=False),
        sa.Column("record", sa.Boolean, nullable=False),
        sa.Column("weights", sa.JSON, nullable=False),
    )
    op.create_table(
        "queue_members",
        sa.Column("queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("penalty", sa.Integer, nullable=False),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("caller_channel", sa.String(80), nullable=False, index=True),
        sa.Column("agent_channel", sa.String(80), nullable=True),
        sa.Column("bridge_id", sa.String(80), nullable=True),
        sa.Column("queue", sa.String(40), nullable=False, index=True),
        sa.Column("caller_number", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.Integer, nullable=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("agent_extension", sa.String(16), nullable=True, index=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recording", sa.String(255), nullable=True),
    )
    op.create_table(
        "routing_decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.String(36), sa.ForeignKey("calls.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("candidates", sa.JSON, nullable=False),
        sa.Column("chosen", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("routing_decisions")
    op.drop_table("calls")
    op.drop_table("queue_members")
    op.drop_table("queues")
    with op.batch_alter_table("agents") as batch:
        for column in ("missed_in_a_row", "status_since", "pause_reason", "status"):
            batch.drop_column(column)
