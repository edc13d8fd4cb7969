"""Bulk writes for imports: rows straight to the driver, past SQLAlchemy's per-statement work.

A million-row import spends much of its time in SQLAlchemy's executemany machinery. Here
each column's bind processor (the same conversion SQLAlchemy would apply: exact decimal
text on SQLite, UTC times) is applied by hand and the rows go to the driver in one call:
`executemany` on SQLite, `COPY ... FROM STDIN` on PostgreSQL. The caller's transaction is
used as it is.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from sqlalchemy import Connection, Table


class BulkInserter:
    """Inserts many rows of one table, with the given columns, through the raw driver connection."""

    def __init__(self, conn: Connection, table: Table, columns: Sequence[str]) -> None:
        self.conn = conn
        self.columns = list(columns)
        dialect = conn.dialect
        self.is_postgresql = dialect.name == "postgresql"
        processors: list[Callable[[Any], Any] | None] = []
        for name in self.columns:
            processor = table.c[name].type._cached_bind_processor(dialect)  # noqa: SLF001 - SQLAlchemy's own
            processors.append(processor)
        self.processors = processors
        names = ", ".join(f'"{name}"' for name in self.columns)
        if self.is_postgresql:
            self.sql = f'COPY "{table.name}" ({names}) FROM STDIN'
        else:
            marks = ", ".join("?" for _ in self.columns)
            self.sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        pairs = list(zip(self.columns, self.processors))
        tuples = [
            tuple(value if processor is None or value is None else processor(value)
                  for value, processor in ((row[name], processor) for name, processor in pairs))
            for row in rows
        ]
        driver = self.conn.connection.driver_connection
        if self.is_postgresql:
            with driver.cursor() as cursor, cursor.copy(self.sql) as copy:  # type: ignore[union-attr]
                for values in tuples:
                    copy.write_row(values)
        else:
            driver.executemany(self.sql, tuples)  # type: ignore[union-attr]
