"""Alembic environment of the ledger: online migrations on a connection handed over in
`config.attributes["connection"]` (what `ledger.migrations.upgrade` does), or on an engine built
from the `sqlalchemy.url` main option (for `alembic` commands run by hand through
`ledger.migrations.alembic_config(url)`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from ledger.migrations import VERSION_TABLE
from ledger.schema import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("ledger migrations need a connection or a sqlalchemy.url")
    from ledger.store import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("the ledger migrations run online only")
run_migrations_online()
