"""Outbound calls: a call's direction, and the callback task it works.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("direction", sa.String(8), nullable=False,
                                   server_default="inbound"))
        batch.add_column(sa.Column("task_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("task_id")
        batch.drop_column("direction")
