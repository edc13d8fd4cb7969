"""Alembic environment, shared by the `alembic` command in a checkout and `stocksbot db ...`.

stocksbot hands over an open connection in `config.attributes["connection"]`; the `alembic`
command gets none and connects to the database stocksbot would use (`DATABASE_URL` or the
default file), so both paths resolve the URL the same way.
"""

from __future__ import annotations

import logging.config

from alembic import context
from sqlalchemy import Connection

from stocksbot.storage.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
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


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

    engine = build_engine(resolve_target(), ConnectionSettings.from_env())
    with engine.connect() as own_connection:
        _configure(own_connection.execution_options(stocksbot_write=True))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
