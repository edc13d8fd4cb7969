"""Bulk writes for imports: rows straight to the driver, past SQLAlchemy's per-statement work.

A million-row import spends much of its time in SQLAlchemy's executemany machinery. Here
each column's bind conversion (the same one SQLAlchemy would apply: exact decimal text on
SQLite, UTC times; see `bulk_converter`) is applied by hand and the rows go to the driver in one call:
`executemany` on SQLite, `COPY ... FROM STDIN` on PostgreSQL. The caller's transaction is
used as it is. With `replace_on`, rows replace stored rows that have the same unique key
(`INSERT ... ON CONFLICT DO UPDATE`, the same on both databases).
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Sequence

from sqlalchemy import Connection, Table

from stocksbot.storage.database import driver_connection
from stocksbot.storage.types import ExactDecimal, UTCDateTime, bulk_converter


class BulkInserter:
    """Inserts many rows of one table, with the given columns, through the raw driver connection."""

    def __init__(
        self, conn: Connection, table: Table, columns: Sequence[str], *, replace_on: Sequence[str] = (),
        unique: Collection[str] = (),
    ) -> None:
        """`replace_on`: a unique key; a row whose key is stored already replaces that row's other columns.
        `unique`: columns whose values rarely repeat, converted without memoizing (hashing a
        Decimal to look it up costs more than converting it)."""
        self.conn = conn
        self.columns = list(columns)
        dialect = conn.dialect
        self.is_postgresql = dialect.name == "postgresql"
        self.processors: list[Callable[[Any], Any] | None] = [
            bulk_converter(table.c[name].type, dialect) for name in self.columns
        ]
        # Our own converters depend only on the value (equal in, equal out), so they can be memoized.
        self.memoize = [isinstance(table.c[name].type, (ExactDecimal, UTCDateTime)) and name not in unique
                        for name in self.columns]
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
        if not rows:
            return
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
        tuples = list(zip(*columns))
        driver = driver_connection(self.conn)
        if self.use_copy:
            with driver.cursor() as cursor, cursor.copy(self.sql) as copy:
                for values in tuples:
                    copy.write_row(values)
        elif self.is_postgresql:
            with driver.cursor() as cursor:
                cursor.executemany(self.sql, tuples)
        else:
            driver.executemany(self.sql, tuples)
