"""A migrated database per test, fast, on either backend.

SQLite: the schema is migrated once per session into a template file, and
each test gets a copy of it. PostgreSQL: one throwaway database per session
(``pg_database``), migrated once; each test gets it emptied (TRUNCATE ...
RESTART IDENTITY, so ids start at 1 as they do on a fresh SQLite file)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import text

from control.db import Database
from control.settings import Settings

PG_ADMIN_URL = os.environ.get("AITCOMMS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# written by the migrations themselves, not by the application
_KEEP = {"alembic_version", "kamailio_version"}

_template: Path | None = None


def migrate(db: Database) -> None:
    db.upgrade()


def _template_file() -> Path:
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="aitcomms-crm-template-"))
        db = Database(Settings(var_dir=folder))
        migrate(db)
        db.dispose()
        _template = folder / "aitcomms.db"
    return _template


def sqlite_database(var_dir: Path) -> Database:
    """A Database in var_dir (its secrets file goes there too), schema at head."""
    var_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(_template_file(), var_dir / "aitcomms.db")
    return Database(Settings(var_dir=var_dir))


# -- PostgreSQL ------------------------------------------------------------------------


def pg_unreachable() -> str | None:
    """Why the test PostgreSQL cannot be used, or None."""
    host_port = PG_ADMIN_URL.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex((host or "127.0.0.1", int(port or 5432))) != 0:
            return f"no PostgreSQL on {host_port} (AITCOMMS_TEST_PG={PG_ADMIN_URL})"
    return None


def create_pg_database(prefix: str = "aitcomms_t") -> str:
    """A new empty database on the test server; its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_set_available(url: str, available: bool) -> None:
    """Open or close a database to connections; closing also ends the open ones
    (what a restart or a failover looks like to the control plane)."""
    import psycopg

    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(available).lower()}')
        if not available:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def postgres_database(var_dir: Path, url: str) -> Database:
    """A Database on the (already migrated) PostgreSQL database at url, every
    application table emptied and its ids restarted; secrets in var_dir."""
    var_dir.mkdir(parents=True, exist_ok=True)
    db = Database(Settings(var_dir=var_dir, database_url_env=url))
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '5s'"))
        tables = [t for t in conn.scalars(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
            if t not in _KEEP]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                              + " RESTART IDENTITY CASCADE"))
    return db
