"""Which media node (Asterisk) a call is on (docs/scale-out.md, 5.3): the
control plane reconciles one node's calls when that node reconnects, and
must not end another node's calls it cannot see from there. NULL: the
stack's own Asterisk (every call before media nodes).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain added column: no table rebuild under SQLite
    op.add_column("calls", sa.Column("media_node", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("calls", "media_node")
