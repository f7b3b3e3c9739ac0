"""Media nodes this box runs itself (docs/scale-out.md, build order step 2):
``slot`` (1, 2, ...) marks a node whose Asterisk the stack's supervisor runs
beside its own, and its ports and folders derive from it
(control/stack/media_nodes.py). NULL: a node run elsewhere (or ``local``,
the stack's own Asterisk). One node per slot.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain added column and an index: no table rebuild under SQLite, which
    # the view kamailio_dispatcher (0015) would not survive
    op.add_column("media_nodes", sa.Column("slot", sa.Integer, nullable=True))
    op.create_index("uq_media_nodes_slot", "media_nodes", ["slot"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_media_nodes_slot", table_name="media_nodes")
    op.drop_column("media_nodes", "slot")
