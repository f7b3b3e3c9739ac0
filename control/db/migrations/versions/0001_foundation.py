"""Foundation: agents, trunks, DIDs, and the views Kamailio reads.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("extension", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("languages", sa.JSON, nullable=False),
        sa.Column("sip_ha1", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "trunks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "dids",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        sa.Column("target", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    # Kamailio reads agents' digest credentials (auth_db) and trunk addresses
    # (permissions) straight from the project's database, through these views
    # in the shapes its modules expect, and checks its own version table.
    op.create_table(
        "kamailio_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("table_name", sa.String(32), nullable=False, unique=True),
        sa.Column("table_version", sa.Integer, nullable=False),
    )
    op.execute(
        "CREATE VIEW kamailio_subscriber AS "
        "SELECT id, extension AS username, '' AS domain, sip_ha1 AS ha1 FROM agents"
    )
    op.execute(
        "CREATE VIEW kamailio_trunk_address AS "
        "SELECT id, 1 AS grp, address AS ip_addr, 32 AS mask, 0 AS port, name AS tag FROM trunks"
    )
    op.bulk_insert(
        sa.table("kamailio_version", sa.column("table_name"), sa.column("table_version")),
        [
            {"table_name": "kamailio_version", "table_version": 1},
            {"table_name": "kamailio_subscriber", "table_version": 7},
            {"table_name": "kamailio_trunk_address", "table_version": 6},
        ],
    )


def downgrade() -> None:
    op.execute("DROP VIEW kamailio_trunk_address")
    op.execute("DROP VIEW kamailio_subscriber")
    op.drop_table("kamailio_version")
    op.drop_table("dids")
    op.drop_table("trunks")
    op.drop_table("agents")
