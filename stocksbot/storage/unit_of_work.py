"""The unit of work: one database, one connection per transaction, one owner of commit and rollback.

Every operation of stocksbot (a service function in `stocksbot/services/`) runs inside
`uow.transaction()` to write or `uow.reading()` to read. A write transaction owns exactly one
SQLAlchemy Core `Connection`; repositories, the booking store and bulk writers all execute on
it, so nothing else begins, commits or rolls back. The block commits when it ends and rolls
back on any exception.

Nesting is explicit: `transaction()` inside an open transaction is a SAVEPOINT on the same
connection, so an operation that fails inside a bot's larger transaction undoes only its own
writes and the bot decides what to do with the rest. A read inside an open transaction uses
that transaction's connection, so a bot sees its own writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from stocksbot.storage.database import (
    ConnectionSettings,
    DatabaseTarget,
    NewFile,
    build_engine,
    connect_with_retries,
    database_failure,
    discard_new_file,
    resolve_target,
    sqlite_access,
    sqlite_rows,
)


@contextmanager
def database_errors(target: DatabaseTarget, settings: ConnectionSettings) -> Iterator[None]:
    """Turn a database error into one line for the user (deadline, corrupt or read-only file,
    unavailable), whether SQLAlchemy raised it or the driver did on a path that talks to the
    driver directly (a re-booking's reads: `sqlite3.OperationalError: interrupted`)."""
    try:
        yield
    except (DBAPIError, sqlite3.Error) as exc:
        raise (database_failure(exc, target, settings.query_timeout) or exc) from None
    except Exception as exc:
        failure = database_failure(exc, target, settings.query_timeout)  # psycopg's own errors
        if failure is None:
            raise
        raise failure from None


def open_engine(
    url: str | None, settings: ConnectionSettings | None, check_schema: bool
) -> tuple[Engine, DatabaseTarget, ConnectionSettings, str | None, NewFile | None]:
    """Resolve the database, connect (with retries) and check the schema revision.

    The fourth item says what was done to bring the default database up to date (None when
    nothing was); storage never prints, the caller tells the user. The last is the SQLite
    file when this call created it (None when it existed), for `UnitOfWork.discard_new_file`.
    A call that fails removes the file it created.
    """
    from stocksbot.storage.migrations import ensure_schema

    target = resolve_target(url)
    settings = settings or ConnectionSettings.from_env()
    path = target.sqlite_path
    new_path = path if path is not None and not path.exists() else None
    engine = build_engine(target, settings)
    upgraded = None
    try:
        with database_errors(target, settings):
            connect_with_retries(engine, target, settings.connect_retries)
            if check_schema:
                upgraded = ensure_schema(engine, target)
        new_file = None
        if new_path is not None:
            new_file = NewFile(new_path, sqlite_rows(new_path))
    except BaseException:
        engine.dispose()
        if new_path is not None:
            discard_new_file(NewFile(new_path, {}))
        raise
    return engine, target, settings, upgraded, new_file


class UnitOfWork:
    """Transactions over one database (see the module docstring)."""

    def __init__(
        self, engine: Engine, target: DatabaseTarget, settings: ConnectionSettings | None = None,
        upgraded: str | None = None, new_file: NewFile | None = None,
    ) -> None:
        self.engine = engine
        self.target = target
        self.settings = settings or ConnectionSettings()
        #: What opening the database did to its schema (the default file upgraded), if anything.
        self.upgraded = upgraded
        #: The command line a change comes from, for the audit log (docs/ledger.md §20); the
        #: CLI sets it, None means the Python API.
        self.command: str | None = None
        #: The SQLite file that opening this database created, if it did (see `discard_new_file`).
        self.new_file = new_file
        # SQLite: a connection with this option begins with BEGIN IMMEDIATE (database.py), so
        # a write transaction holds the write lock from its first statement.
        self._write_engine = engine.execution_options(stocksbot_write=True)
        self._conn: Connection | None = None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: commits when the block ends, rolls back on any exception.

        Inside an open transaction it is a SAVEPOINT on the same connection.
        """
        if self._conn is not None:
            with self._conn.begin_nested():
                yield self._conn
            return
        with database_errors(self.target, self.settings), self._write_engine.connect() as conn, conn.begin():
            self._conn = conn
            try:
                yield conn
            finally:
                self._conn = None

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection to read with: the open transaction's, else a fresh one that writes nothing."""
        if self._conn is not None:
            yield self._conn
            return
        with database_errors(self.target, self.settings), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def writers_held(self) -> Iterator[bool]:
        """Hold SQLite's write lock for the block, without waiting for it: yields True when held.

        Every connection that starts reading inside the block then reads the same committed
        state, as if they shared one snapshot: the two processes of `performance`
        (services/valuation_split.py) start their reads so. Writers wait meanwhile (their busy
        timeout, DATABASE_SETUP.md). Yields False, holding nothing, inside an open transaction,
        on PostgreSQL, on a file this process may only read (SQLite begins BEGIN IMMEDIATE on a
        read-only connection without locking anything), or when the lock cannot be taken at
        once (another writer).
        """
        path = self.target.sqlite_path
        if self._conn is not None or path is None or sqlite_access(path) is not None:
            yield False
            return
        with self._write_engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA busy_timeout=0")
            try:
                conn.begin()  # BEGIN IMMEDIATE (database.py)
            except (DBAPIError, sqlite3.Error):
                held = False
            else:
                held = True
            try:
                yield held
            finally:
                if held:
                    conn.rollback()
                driver.execute(f"PRAGMA busy_timeout={int(self.settings.busy_timeout * 1000)}")

    def close(self) -> None:
        self.engine.dispose()

    def discard_new_file(self, *, failed: bool) -> bool:
        """Remove the SQLite file that opening this database created, when the command failed
        (`failed`) or left it without a table, and it holds only what creating it put there:
        nothing is left behind by a command that did not use it (DATABASE_SETUP.md). Closes
        the engine first; returns whether the file was removed."""
        if self.new_file is None:
            return False
        self.close()
        return discard_new_file(self.new_file, unless_schema=not failed)
