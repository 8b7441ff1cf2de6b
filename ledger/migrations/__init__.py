"""Versioned migrations of the ledger schema (Alembic, driven from code; no alembic.ini).

`Ledger.migrate()` upgrades a database to head through `upgrade(connection)`. The revision table
is `ledger_alembic_version`, not Alembic's default `alembic_version`, so the ledger can share a
PostgreSQL database with Dagster's own storage (which keeps its revision in `alembic_version`).

A schema change is a new script in `versions/` (and the same change in `ledger/schema.py`). To draft
one against a database at the current head::

    python -c "from alembic import command; from ledger.migrations import alembic_config; \\
      command.revision(alembic_config('sqlite:///ledger.db'), 'what changes', autogenerate=True)"

then edit the draft (autogenerate misses renames and data moves) and name it `NNNN_what.py`.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "ledger_alembic_version"


def alembic_config(url: str | None = None, connection: sa.Connection | None = None) -> Config:
    """An Alembic `Config` for the ledger scripts, aimed at `connection` (preferred) or `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        # ConfigParser interpolation: a literal % in a URL (escaped password) must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    """Upgrade the database behind `connection` (inside the caller's transaction) to `revision`."""
    command.upgrade(alembic_config(connection=connection), revision)


def current(connection: sa.Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def head() -> str:
    """The newest revision among the scripts."""
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev
