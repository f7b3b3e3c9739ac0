"""The one database session factory: SQLite by default, PostgreSQL via DATABASE_URL.

The control plane is asyncio but the data layer is SQLAlchemy's synchronous
ORM: queries are short, and the event loop hands them to a thread
(``asyncio.to_thread``) so that one model and one session factory serve the
CLI, the API and the call router alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from control.settings import Settings


class Base(DeclarativeBase):
    pass


def _normalise_url(url: str) -> str:
    # psycopg 3 is the PostgreSQL driver: accept the plain URL forms too.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL: Kamailio reads credentials and trunk addresses from the same
            # file while the control plane writes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: no fsync per commit (the ACD commits many small
            # batches); a crash of the process loses nothing, a power cut at
            # most the last commits, and the file is never corrupted
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # a database host away fails a connection in seconds, not in the minutes
    # of the OS's TCP timeout (unless the URL says how long)
    args = {} if "connect_timeout=" in url else {"connect_timeout": 5}
    return create_engine(url, pool_pre_ping=True, connect_args=args)


class Database:
    def __init__(self, settings: Settings) -> None:
        self.url = _normalise_url(settings.database_url)
        self.var_dir = settings.var_dir  # where files that go with it live (CRM outbox)
        self.engine = make_engine(self.url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self) -> None:
        """Bring the schema to the latest Alembic revision."""
        from control.db.migrate import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
