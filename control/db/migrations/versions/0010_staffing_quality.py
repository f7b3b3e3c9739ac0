"""Staffing and quality: each queue's service-level target, shrinkage,
occupancy cap and alert thresholds; evaluation forms and quality reviews.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_targets",
        sa.Column("queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("service_level_target", sa.Float, nullable=False),
        sa.Column("shrinkage", sa.Float, nullable=False),
        sa.Column("max_occupancy", sa.Float, nullable=False),
        sa.Column("alert_longest_wait_s", sa.Integer, nullable=True),
        sa.Column("alert_wrapup_min", sa.Integer, nullable=True),
        sa.Column("alert_paused_min", sa.Integer, nullable=True),
    )
    op.create_table(
        "evaluation_forms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("queue", sa.String(40), nullable=False, index=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("criteria", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "quality_reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.String(36), nullable=False, index=True),
        sa.Column("form_id", sa.Integer, sa.ForeignKey("evaluation_forms.id"),
                  nullable=False, index=True),
        sa.Column("queue", sa.String(40), nullable=False, index=True),
        sa.Column("agent_extension", sa.String(16), nullable=False, index=True),
        sa.Column("reviewer", sa.String(255), nullable=False),
        sa.Column("criteria", sa.JSON, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("quality_reviews")
    op.drop_table("evaluation_forms")
    op.drop_table("queue_targets")
