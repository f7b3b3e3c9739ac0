"""Campaigns choose how predictive dialing keeps the abandonment cap (hard
limit, tapered, average: VICIdial's adaptive methods) and their agents'
wrap-up after each call (until now one setting for every outbound call).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_dialing") as batch:
        batch.add_column(sa.Column("adapt", sa.String(12), nullable=False,
                                   server_default="hard_limit"))
        batch.add_column(sa.Column("wrapup_s", sa.Integer(), nullable=False,
                                   server_default="10"))


def downgrade() -> None:
    with op.batch_alter_table("campaign_dialing") as batch:
        batch.drop_column("wrapup_s")
        batch.drop_column("adapt")
