"""A migrated SQLite database per test, fast: the schema is migrated once per
session into a template file, and each test gets a copy of it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from control.db import Database
from control.settings import Settings

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
