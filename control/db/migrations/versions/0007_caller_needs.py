"""Caller needs: a queue's mapping from the customer's context to skills, and
the needs (language, skills, where each came from) stored with each routing
decision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the queue uses the default mapping (control.acd.needs)
    with op.batch_alter_table("queues") as batch:
        batch.add_column(sa.Column("context_skills", sa.JSON, nullable=True))
    # NULL: decisions taken before needs were recorded
    with op.batch_alter_table("routing_decisions") as batch:
        batch.add_column(sa.Column("needs", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_decisions") as batch:
        batch.drop_column("needs")
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("context_skills")
