"""Alembic environment, shared by the `alembic` command in a checkout and `stocksbot db ...`.

What `config.attributes["connection"]` holds decides where the migrations run:

* a `Connection`: stocksbot hands over an open one (already in a transaction, with SQLite's
  foreign keys off; see `stocksbot.storage.migrations`), used as it is;
* an `Engine`: a caller such as pytest-alembic hands over the engine it owns, so a connection
  is taken from it and given back, and the engine is left for its owner to dispose;
* nothing: the `alembic` command connects to the database stocksbot would use
  (`DATABASE_URL` or the default file), so both paths resolve the URL the same way.
"""

from __future__ import annotations

import logging.config

from alembic import context
from sqlalchemy import Connection, Engine

from stocksbot.storage import tables

config = context.config
# tables.py holds the schema, declared once.
target_metadata = tables.metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


# Indexes on expressions that autogenerate cannot compare: SQLite's reflection skips them,
# and PostgreSQL reflects its own rewritten text of the expression. What they enforce is
# tested directly (tests/test_migrations.py).
_UNCOMPARABLE_INDEXES = {"uq_positions_open_account_symbol"}


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "index" and name in _UNCOMPARABLE_INDEXES)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
    )


def run_migrations_offline() -> None:
    from stocksbot.storage.database import resolve_target

    context.configure(
        url=resolve_target().url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _run_on_engine(engine: Engine) -> None:
    """One write connection from the engine, as `stocksbot db upgrade` uses (on SQLite: BEGIN
    IMMEDIATE, and foreign keys off so that batch mode's table rebuilds cascade no deletes),
    closed afterwards; the engine itself is not disposed."""
    from stocksbot.storage.migrations import migration_connection

    with migration_connection(engine) as connection:
        _run_on(connection)


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run_on(given)
        return
    if isinstance(given, Engine):
        _run_on_engine(given)
        return
    if given is not None:
        raise TypeError(
            f'config.attributes["connection"] must be a SQLAlchemy Connection or Engine, not {type(given).__name__}'
        )
    from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

    engine = build_engine(resolve_target(), ConnectionSettings.from_env())
    try:
        _run_on_engine(engine)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
