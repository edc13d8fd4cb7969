"""Exact decimals and UTC times survive storage on both backends, sums included."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from stocksbot.ledger.numbers import format_decimal
from stocksbot.storage.tables import price_bars
from stocksbot.storage.types import exact_sum

EXTREMES = ["0.0000000001", "123456789012345678.5", "999999999999999999.9999999999", "0", "150.25"]


def _bar(symbol: str, close: str, day: int = 0) -> dict:
    value = Decimal(close)
    when = datetime(2024, 1, 15, 14, 30, tzinfo=timezone.utc) + timedelta(days=day)
    return dict(symbol=symbol, timestamp=when, open=value, high=value, low=value, close=value, volume=None)


@pytest.mark.parametrize("text", EXTREMES)
def test_decimal_round_trips_exactly(storage, text: str) -> None:
    with storage.transaction() as conn:
        conn.execute(insert(price_bars), _bar("AAPL", text))
    with storage.reading() as conn:
        close = conn.scalar(select(price_bars.c.close))
    assert isinstance(close, Decimal)
    assert close == Decimal(text)
    assert format_decimal(close) == text


def test_sql_sum_of_tenths_is_exactly_three_tenths(storage) -> None:
    with storage.transaction() as conn:
        for day in range(3):
            conn.execute(insert(price_bars), _bar("AAPL", "0.1", day))
    with storage.reading() as conn:
        total = conn.scalar(select(exact_sum(price_bars.c.close)))
    assert total == Decimal("0.3")
    assert format_decimal(total) == "0.3"


def test_sql_sum_keeps_extremes_exact(storage) -> None:
    with storage.transaction() as conn:
        conn.execute(insert(price_bars), _bar("A", "123456789012345678.5", 0))
        conn.execute(insert(price_bars), _bar("A", "0.0000000001", 1))
        conn.execute(insert(price_bars), _bar("B", "0.0000000001", 0))
    with storage.reading() as conn:
        by_symbol = dict(
            conn.execute(
                select(price_bars.c.symbol, exact_sum(price_bars.c.close))
                .group_by(price_bars.c.symbol).order_by(price_bars.c.symbol)
            ).all()
        )
        empty = conn.scalar(select(exact_sum(price_bars.c.close)).where(price_bars.c.symbol == "none"))
    assert by_symbol == {"A": Decimal("123456789012345678.5000000001"), "B": Decimal("0.0000000001")}
    assert empty is None


def test_plain_sqlite_sum_would_not_be_exact(tmp_path) -> None:
    """Why exact_sum exists: SQLite's own SUM goes through binary floats."""
    conn = sqlite3.connect(tmp_path / "plain.db")
    conn.execute("CREATE TABLE t (v NUMERIC)")
    conn.executemany("INSERT INTO t VALUES (?)", [("0.1",)] * 3)
    assert conn.execute("SELECT SUM(v) FROM t").fetchone()[0] != 0.3
    conn.close()


def test_times_come_back_in_utc(storage) -> None:
    local = datetime(2024, 1, 15, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    with storage.transaction() as conn:
        bar = _bar("AAPL", "1")
        bar["timestamp"] = local
        conn.execute(insert(price_bars), bar)
    with storage.reading() as conn:
        stored = conn.scalar(select(price_bars.c.timestamp))
    assert stored == local
    assert stored.tzinfo == timezone.utc
    assert stored.hour == 14


def test_storing_a_float_is_refused(storage) -> None:
    with pytest.raises(Exception, match="refusing to store float"):
        with storage.transaction() as conn:
            bar = _bar("AAPL", "1")
            bar["close"] = 0.1
            conn.execute(insert(price_bars), bar)
    with storage.reading() as conn:
        assert conn.scalar(select(func.count()).select_from(price_bars)) == 0


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_bulk_converters_store_what_sqlalchemy_stores(dialect_name: str) -> None:
    """Bulk writes skip the TypeDecorator dispatch; the values written must be identical."""
    from sqlalchemy.dialects import postgresql, sqlite

    from stocksbot.storage.types import ExactDecimal, UTCDateTime, bulk_converter

    dialect = (sqlite if dialect_name == "sqlite" else postgresql).dialect()
    for column_type, values in (
        (ExactDecimal(), [Decimal("1.50"), Decimal("0.0000000001"), Decimal("-3E+2"), Decimal("123456789012345678.5")]),
        (UTCDateTime(), [datetime(2024, 1, 4, tzinfo=timezone.utc), datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
                         datetime(2024, 6, 1, 9, 30, tzinfo=timezone(timedelta(hours=-4)))]),
    ):
        processor = column_type._cached_bind_processor(dialect)
        converter = bulk_converter(column_type, dialect)
        for value in values:
            expected = processor(value) if processor else value
            if isinstance(expected, datetime) and dialect_name == "sqlite":  # the driver-level text form
                expected = sqlite.DATETIME()._cached_bind_processor(dialect)(expected)
            got = converter(value) if converter else value
            assert got == expected and str(got) == str(expected)


def test_conversion_table_matches_the_column_types_on_the_database(storage) -> None:
    """Each entry of types.CONVERSIONS, both ways, against a real round trip through the TypeDecorators.

    to_driver: a row written by the bulk writer with the table's conversions reads back through
    SQLAlchemy's types as the value itself; from_driver: the driver's raw value, converted by
    the table, equals what SQLAlchemy's typed read returns (same value and same repr).
    """
    from stocksbot.storage.bulk import BulkInserter
    from stocksbot.storage.types import conversion

    numbers = ["1.50", "0.0000000001", "123456789012345678.5", "999999999999999999.9999999999", "0", "3E+2"]
    times = [datetime(2024, 1, 4, tzinfo=timezone.utc), datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
             datetime(2024, 6, 1, 9, 30, tzinfo=timezone(timedelta(hours=-4)))]
    rows = [(f"S{i}", "1d", times[i % len(times)], Decimal(n), Decimal(n), Decimal(n), Decimal(n), None)
            for i, n in enumerate(numbers)]
    columns = ("symbol", "interval", "timestamp", "open", "high", "low", "close", "volume")
    with storage.transaction() as conn:
        BulkInserter(conn, price_bars, columns).insert(rows)
    with storage.reading() as conn:
        typed = {row.symbol: (row.timestamp, row.close) for row in conn.execute(select(price_bars))}
        driver = conn.connection.driver_connection
        cursor = driver.cursor()
        cursor.execute('SELECT symbol, "timestamp", close FROM price_bars')
        raw = {symbol: (moment, close) for symbol, moment, close in cursor.fetchall()}
        cursor.close()
        name = conn.dialect.name
    moment = conversion(price_bars.c.timestamp.type, name)
    number = conversion(price_bars.c.close.type, name)
    assert moment is not None and number is not None
    for symbol, _interval, when, *_ in rows:
        value = Decimal(numbers[int(symbol[1:])])
        assert typed[symbol] == (when, value)
        converted = (moment.from_driver(raw[symbol][0]), number.from_driver(raw[symbol][1]))
        assert converted == typed[symbol]
        assert list(map(repr, converted)) == list(map(repr, typed[symbol]))
