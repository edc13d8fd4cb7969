"""Bulk writes for imports: rows straight to the driver, past SQLAlchemy's per-statement work.

A million-row import spends much of its time in SQLAlchemy's executemany machinery. Here
each column's bind conversion (the same one SQLAlchemy would apply: exact decimal text on
SQLite, UTC times; see `bulk_converter`) is applied by hand and the rows go to the driver in one call:
`executemany` on SQLite, `COPY ... FROM STDIN` on PostgreSQL. The caller's transaction is
used as it is. With `replace_on`, rows replace stored rows that have the same unique key
(`INSERT ... ON CONFLICT DO UPDATE`, the same on both databases).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from sqlalchemy import Connection, Table

from stocksbot.storage.types import ExactDecimal, UTCDateTime, bulk_converter


class BulkInserter:
    """Inserts many rows of one table, with the given columns, through the raw driver connection."""

    def __init__(
        self, conn: Connection, table: Table, columns: Sequence[str], *, replace_on: Sequence[str] = ()
    ) -> None:
        """`replace_on`: a unique key; a row whose key is stored already replaces that row's other columns."""
        self.conn = conn
        self.columns = list(columns)
        dialect = conn.dialect
        self.is_postgresql = dialect.name == "postgresql"
        self.processors: list[Callable[[Any], Any] | None] = [
            bulk_converter(table.c[name].type, dialect) for name in self.columns
        ]
        # Our own converters depend only on the value (equal in, equal out), so they can be memoized.
        self.memoize = [isinstance(table.c[name].type, (ExactDecimal, UTCDateTime)) for name in self.columns]
        names = ", ".join(f'"{name}"' for name in self.columns)
        self.use_copy = self.is_postgresql and not replace_on
        if self.use_copy:
            self.sql = f'COPY "{table.name}" ({names}) FROM STDIN'
        else:
            mark = "%s" if self.is_postgresql else "?"
            self.sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join(mark for _ in self.columns)})'
        if replace_on:
            updates = ", ".join(f'"{c}" = excluded."{c}"' for c in self.columns if c not in replace_on)
            keys = ", ".join(f'"{c}"' for c in replace_on)
            self.sql += f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        """Write `rows`, each a tuple of values in the order of `columns`."""
        if rows:
            self.write(self.prepare(rows))

    def prepare(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """`rows` converted for the driver (what `write` takes): the Python half of `insert`."""
        if not rows:
            return []
        # Column by column: one tight loop per converted column instead of a generator per value.
        columns = list(zip(*rows))
        for index, convert in enumerate(self.processors):
            if convert is None:
                continue
            if self.memoize[index]:
                # Costs and quantities repeat a lot (and a created_at is the same for every row):
                # equal values convert to the same stored text, so each is converted once a batch.
                seen: dict[Any, Any] = {None: None}
                columns[index] = tuple([seen[v] if v in seen else seen.setdefault(v, convert(v))
                                        for v in columns[index]])
            else:
                columns[index] = tuple([None if value is None else convert(value) for value in columns[index]])
        return list(zip(*columns))

    def write(self, tuples: Sequence[tuple[Any, ...]]) -> None:
        """Send rows converted by `prepare` to the driver: the database's half of `insert`.

        On SQLite, `executemany` releases the GIL while SQLite stores each row, so this may run
        on another thread (see `BackgroundWriter`) while the caller prepares the next rows.
        """
        if not tuples:
            return
        driver = self.conn.connection.driver_connection
        if self.use_copy:
            with driver.cursor() as cursor, cursor.copy(self.sql) as copy:  # type: ignore[union-attr]
                for values in tuples:
                    copy.write_row(values)
        elif self.is_postgresql:
            with driver.cursor() as cursor:  # type: ignore[union-attr]
                cursor.executemany(self.sql, tuples)
        else:
            driver.executemany(self.sql, tuples)  # type: ignore[union-attr]


class BackgroundWriter:
    """Runs one write at a time on a worker thread while the caller prepares the next batch.

    Why: SQLite's `executemany` releases the GIL while SQLite stores each row (the table,
    its indexes, the constraint checks), so on a second core storing one batch overlaps with
    reading, parsing and booking the next. What keeps it safe:

    - the caller's connection is used by one thread at a time: the caller calls `wait()`
      before any other use of it (a query, another write, commit or rollback);
    - at most one batch is in flight (`submit` waits for the previous one), so memory holds
      two batches at most;
    - an error of the write is raised by the next `wait()` or `submit()`, in the caller's
      thread, so the transaction rolls back as on any other failure. A caller that fails
      for its own reasons calls `close()` first, so nothing writes during its rollback.

    Only for a connection that may be used from another thread (a SQLite file database, which
    SQLAlchemy opens with `check_same_thread=False`; see `can_write_behind`).
    """

    def __init__(self, write: Callable[[Any], None]) -> None:
        self._write = write
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, batch: Any) -> None:
        """Start writing `batch` (after the previous batch is written)."""
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(batch,), name="stocksbot-bulk-writer", daemon=True)
        self._thread.start()

    def _run(self, batch: Any) -> None:
        try:
            self._write(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread by wait()
            self._error = exc

    def wait(self) -> None:
        """Wait until the batch in flight is written; raise its error, if it failed."""
        self._join()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Wait until the batch in flight is done and drop its error (for a caller failing already)."""
        self._join()
        self._error = None

    def _join(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()


def can_write_behind(conn: Connection) -> bool:
    """Whether `BackgroundWriter` may use this connection: a SQLite database in a file.

    SQLAlchemy opens those with `check_same_thread=False` (an in-memory database keeps the
    sqlite3 module's same-thread check). PostgreSQL's COPY spends its time formatting rows in
    Python, holding the GIL, so a second thread would not overlap anything there.
    """
    url = conn.engine.url
    return (conn.dialect.name == "sqlite" and url.database not in (None, "", ":memory:")
            and url.query.get("mode") != "memory")
