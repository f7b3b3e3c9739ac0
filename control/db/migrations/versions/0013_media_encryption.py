"""Agents' media encryption: "none" (plain RTP, as before) or "sdes" (SRTP
keyed in the SDP, which then travels only over SIP over TLS). Kamailio reads
it with the agent's credentials, through its subscriber view.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

VIEW = ("CREATE VIEW kamailio_subscriber AS "
        "SELECT id, extension AS username, '' AS domain, sip_ha1 AS ha1{extra} FROM agents")


def upgrade() -> None:
    # the view reads the table: it goes first, and comes back with the column
    op.execute("DROP VIEW kamailio_subscriber")
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("media_encryption", sa.String(8), nullable=False,
                                   server_default="none"))
    op.execute(VIEW.format(extra=", media_encryption"))


def downgrade() -> None:
    op.execute("DROP VIEW kamailio_subscriber")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("media_encryption")
    op.execute(VIEW.format(extra=""))
