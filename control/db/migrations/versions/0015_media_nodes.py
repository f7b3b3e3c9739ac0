"""Media nodes as data: the Asterisk instances Kamailio's dispatcher spreads
calls over (docs/scale-out.md, build order step 1). One row per node, and a
view in the shape of Kamailio's ``dispatcher`` table (version 4 in 5.6),
read like the subscriber and trunk views: no list file to keep in step.

The single-box stack's own Asterisk is the row ``local``, written by set-up
(``control.provisioning.nodes.ensure_local_node``): its port is a setting,
which a migration does not know.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# setid 1: every media node. flags: 8 (probing; active until a ping fails)
# for an active node, 4 (disabled: no new calls, not probed, and it stays so
# across a dispatcher.reload) for a draining one. attrs: duid names the node
# for the call-load algorithm (10), rweight (relative weight) serves algorithm 11.
VIEW = (
    "CREATE VIEW kamailio_dispatcher AS "
    "SELECT id, 1 AS setid, "
    "'sip:' || address || ':' || CAST(port AS VARCHAR(5)) AS destination, "
    "CASE WHEN state = 'draining' THEN 4 ELSE 8 END AS flags, "
    "0 AS priority, "
    "'duid=' || name || ';maxload=0;rweight=' || CAST(weight AS VARCHAR(5)) AS attrs, "
    "name AS description "
    "FROM media_nodes"
)


def upgrade() -> None:
    op.create_table(
        "media_nodes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False, server_default="1"),
        sa.Column("state", sa.String(12), nullable=False, server_default="active"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.UniqueConstraint("address", "port", name="uq_media_nodes_address_port"),
    )
    op.execute(VIEW)
    op.bulk_insert(
        sa.table("kamailio_version", sa.column("table_name"), sa.column("table_version")),
        [{"table_name": "kamailio_dispatcher", "table_version": 4}],
    )


def downgrade() -> None:
    op.execute("DELETE FROM kamailio_version WHERE table_name = 'kamailio_dispatcher'")
    op.execute("DROP VIEW kamailio_dispatcher")
    op.drop_table("media_nodes")
