"""Media nodes run elsewhere, driven over ARI (issue 11): ``ari_url`` says
where the control planes reach a node's ARI (the node's own address when it
is on this host's loopback, else the local end of a tunnel to the media
host's loopback: ARI never listens beyond loopback), and ``ari_password`` is
the password ``aitcomms node add`` generated for it (rendered into the
node's files by ``aitcomms node files``; never returned by the API). NULL:
the stack's own Asterisk or a node this box runs (their passwords are in
their secrets files), or a node only Kamailio spreads calls to.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain added columns: no table rebuild under SQLite (the view
    # kamailio_dispatcher, 0015, would not survive one)
    op.add_column("media_nodes", sa.Column("ari_url", sa.String(255), nullable=True))
    op.add_column("media_nodes", sa.Column("ari_password", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("media_nodes", "ari_password")
    op.drop_column("media_nodes", "ari_url")
