"""The routing lease's fencing token (control/ha): one row, the newest
token a control plane took the lease with; the ACD's writes check it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("routing_fence",
                    sa.Column("name", sa.String(32), primary_key=True),
                    sa.Column("token", sa.BigInteger, nullable=False))


def downgrade() -> None:
    op.drop_table("routing_fence")
