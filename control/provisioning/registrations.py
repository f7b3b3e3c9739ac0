"""Registrations that outlive a Kamailio restart: usrloc kept in the database.

By default Kamailio keeps its registrations (usrloc) in memory only: after a
restart every phone is unreachable until it registers again (up to
``max_expires``, an hour). With ``AITCOMMS_KAMAILIO_USRLOC_DB_MODE`` set
(Kamailio's own ``db_mode``: 1 write-through, 2 write-back every 10 s and
at shutdown, 3 database only) usrloc writes them to the project's database
(db_sqlite or db_postgres, the same ``db_url`` as credentials) and loads
them back at start, so agents stay reachable across a restart without
re-registering. Use 2 on SQLite: Kamailio's db_sqlite has no busy timeout,
so with 1 a REGISTER fails (500) while the control plane holds the file's
write lock; with 2 a refused sync is tried again 10 s later (a ``kill -9``
loses at most the last 10 s of registrations).

Kamailio reads and writes the ``location`` table in its own schema (version
9 of Kamailio 5.6), and checks that version in ``kamailio_version``. The
table is Kamailio's, not the control plane's: set-up creates it here (with
``CREATE TABLE IF NOT EXISTS``, idempotent) rather than in a migration, and
only when the setting asks for it. If set-up cannot create it, Kamailio does
not start and says why in its log (``usrloc`` cannot open its table).
"""

from __future__ import annotations

import sqlalchemy as sa

from control.db import Database

LOCATION_VERSION = 9  # Kamailio 5.6's usrloc schema

_meta = sa.MetaData()  # apart from the ORM's: Alembic never sees this table
location = sa.Table(
    "location", _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ruid", sa.String(64), nullable=False, server_default="", unique=True),
    sa.Column("username", sa.String(64), nullable=False, server_default=""),
    sa.Column("domain", sa.String(64)),
    sa.Column("contact", sa.String(512), nullable=False, server_default=""),
    sa.Column("received", sa.String(128)),
    sa.Column("path", sa.String(512)),
    sa.Column("expires", sa.DateTime, nullable=False,
              server_default=sa.text("'2030-05-28 21:32:15'")),
    sa.Column("q", sa.Float, nullable=False, server_default=sa.text("1.0")),
    sa.Column("callid", sa.String(255), nullable=False, server_default="Default-Call-ID"),
    sa.Column("cseq", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("last_modified", sa.DateTime, nullable=False,
              server_default=sa.text("'2000-01-01 00:00:01'")),
    sa.Column("flags", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("cflags", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
    sa.Column("socket", sa.String(64)),
    sa.Column("methods", sa.Integer),
    sa.Column("instance", sa.String(255)),
    sa.Column("reg_id", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("server_id", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("connection_id", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("keepalive", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("partition", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Index("location_account_contact_idx", "username", "domain", "contact"),
    sa.Index("location_expires_idx", "expires"),
    sa.Index("location_connection_idx", "server_id", "connection_id"),
)


def ensure_location_table(db: Database) -> None:
    """Kamailio's ``location`` table and its version row (idempotent)."""
    _meta.create_all(db.engine, checkfirst=True)
    versions = sa.table("kamailio_version", sa.column("table_name"),
                        sa.column("table_version"))
    with db.engine.begin() as conn:
        found = conn.execute(sa.select(versions.c.table_version)
                             .where(versions.c.table_name == "location")).first()
        if found is None:
            conn.execute(sa.insert(versions).values(table_name="location",
                                                    table_version=LOCATION_VERSION))
