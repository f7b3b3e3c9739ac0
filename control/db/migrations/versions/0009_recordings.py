"""Recordings library and call history: a retention policy per queue, the
mark left on a call whose recording was deleted by it, and the call events
that the calls row and the routing decisions do not hold (holds, transfers,
supervision, recording paused or resumed, rings not answered).

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the queue's recordings are kept for ever
    with op.batch_alter_table("queues") as batch:
        batch.add_column(sa.Column("recording_retention_days", sa.Integer, nullable=True))
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording_deleted_at", sa.DateTime(timezone=True),
                                   nullable=True))
        # the history's searches: by date, by customer, by number
        batch.create_index("ix_calls_entered_at", ["entered_at"])
        batch.create_index("ix_calls_customer_id", ["customer_id"])
        batch.create_index("ix_calls_caller_number", ["caller_number"])
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.String(36), sa.ForeignKey("calls.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("agent_extension", sa.String(16), nullable=True),
        sa.Column("data", sa.JSON, nullable=True),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_call_events_call_id", table_name="call_events")
    op.drop_table("call_events")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_caller_number")
        batch.drop_index("ix_calls_customer_id")
        batch.drop_index("ix_calls_entered_at")
        batch.drop_column("recording_deleted_at")
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("recording_retention_days")
