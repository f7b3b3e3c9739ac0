"""Alembic environment: the engine comes from the caller (control.db.migrate)."""

from __future__ import annotations

from alembic import context

import control.models  # noqa: F401  (registers every table on Base.metadata)
from control.db import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
