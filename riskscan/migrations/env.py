"""Alembic environment for the governance database.

Two ways in:

- from code (``riskscan.db.upgrade``): the caller hands over a connection that is already inside a
  write transaction (``config.attributes["connection"]``), so the whole upgrade commits or rolls back as
  one, and the caller's engine settings (SQLite foreign keys, busy timeout) apply;
- from the ``alembic`` command line with ``alembic.ini``: the URL is ``-x url=...``, else
  ``sqlalchemy.url`` from the ini, else the application's own (``riskscan.home.database_url()``).

On PostgreSQL an advisory lock serialises concurrent upgrades (two services starting at once); SQLite
gets the same from ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text

from riskscan import home
from riskscan.db import Base, make_engine, migration_transaction, normalise_url

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('riskscan.governance.migrations', 0))"


def _url() -> str:
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or home.database_url()
    )


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(MIGRATION_LOCK))
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        # The same transaction as riskscan.db.upgrade: SQLite rebuilds tables (0003, 0005) with foreign keys
        # off and checks them before the commit, so the command line and the code migrate alike.
        with migration_transaction(engine) as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the DDL for a DBA instead of running it."""
    context.configure(
        url=normalise_url(_url()),
        target_metadata=Base.metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
