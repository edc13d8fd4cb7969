"""The trades and the price bars in time order, straight from the driver, for the daily valuation.

`performance` (docs/ledger.md §18.8) walks the whole history once. The two big tables stream
from the driver (a plain cursor on SQLite, a server-side cursor on PostgreSQL, so memory
holds a batch, never the table) with their values as the driver returns them: moments in the
driver's own form (text on SQLite, an aware datetime on PostgreSQL), compared with the day
boundaries converted once into that form, and numbers converted by `DriverForm.number`. A
SQLAlchemy result would process every value of a million rows first, which costs more than
the valuation itself. The other events (splits, symbol changes, share transfers, cash
movements, dividends) are small tables, read whole by `storage/events.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import Connection, select, text

from stocksbot.storage import tables
from stocksbot.storage.database import driver_mark, driver_rows
from stocksbot.storage.types import driver_conversion

_TRADES = (
    "SELECT executed_at, id, account_id, symbol, side, quantity, price, commission, fees, strategy_id, currency "
    f"FROM trades WHERE executed_at < {{mark}} AND {tables.LIVE_TRADE_SQL}{{part}} ORDER BY executed_at, id"
)
# What the portfolio and account scopes need: each column read costs a Python object per row,
# so the side comes as the sign of the quantity (a sell's is negative).
_TRADE_MOVES = (
    "SELECT executed_at, account_id, symbol, CASE side WHEN 'buy' THEN quantity ELSE {negated} END, price, "
    f"commission, fees FROM trades WHERE executed_at < {{mark}} AND {tables.LIVE_TRADE_SQL}{{part}} "
    "ORDER BY executed_at, id"
)
# The bars of one (timestamp, interval) in one row, as "SYMBOL SYMBOL ..." and "CLOSE CLOSE ..."
# (symbols hold no space, docs/ledger.md §2; the two aggregates take the bars in the same
# order): the pass splits the texts in C instead of taking a Python row per bar (a third of
# the cost), and two aggregates cost SQLite less than one of joined pairs. A symbol appears
# once per (timestamp, interval) (the unique constraint), and the intervals of one timestamp
# come in reverse name order, so the last one read wins and that is the first in name order,
# as `fx.latest_close` prefers. The index ix_price_bars_timestamp_interval holds this order: no sort.
_BARS = (
    'SELECT "timestamp", {concat}(symbol, \' \'), {concat}(CAST(close AS TEXT), \' \') FROM price_bars '
    'WHERE "timestamp" < {mark}{part} GROUP BY "timestamp", "interval" ORDER BY "timestamp", "interval" DESC'
)
_CONCAT = {"sqlite": "group_concat", "postgresql": "string_agg"}
# A quantity with its sign flipped, exactly: SQLite's is text (arithmetic would make it a float).
_NEGATED = {"sqlite": "'-' || quantity", "postgresql": "-quantity"}
_BATCH = 10_000
_SYMBOLS = (
    "WITH RECURSIVE traded(symbol) AS (SELECT min(symbol) FROM trades UNION ALL "
    "SELECT (SELECT min(symbol) FROM trades WHERE symbol > traded.symbol) FROM traded WHERE traded.symbol IS NOT NULL) "
    "SELECT symbol FROM traded WHERE symbol IS NOT NULL"
)
# The second process's symbols (`SymbolPart`) are a range of names, less the pairs such as EUR/USD
# (the first reads their bars as exchange rates) and the symbols moved to the first. A comparison
# per row costs SQLite far less than a lookup in a list of a few hundred symbols (BENCHMARKS.md,
# thirteenth round); the unary + keeps the planner on the time-ordered index (on the symbol's
# index each part would need a sort).
_SECOND = "+symbol >= {mark} AND instr(symbol, '/') = 0"
_MOVED = " AND +symbol NOT IN (SELECT value FROM json_each({mark}))"


@dataclass(frozen=True)
class SymbolPart:
    """The rows of the second process's symbols (`inside`) or of all the others, for a pass
    that values part of the symbols (`services/valuation_split.py`). SQLite only.

    The second process's symbols are those from `start` on (in code-point order, which is
    SQLite's for text) that are no pair like EUR/USD and not in `moved`."""

    start: str
    moved: frozenset[str]
    inside: bool

    def has(self, symbol: str) -> bool:
        second = symbol >= self.start and "/" not in symbol and symbol not in self.moved
        return second == self.inside

    def sql(self, mark: str) -> str:
        second = _SECOND.format(mark=mark) + (_MOVED.format(mark=mark) if self.moved else "")
        return f" AND {second}" if self.inside else f" AND NOT ({second})"

    def parameters(self) -> tuple[str, ...]:
        return (self.start, json.dumps(sorted(self.moved))) if self.moved else (self.start,)


class DriverForm:
    """Moments and decimals of one backend as its driver gives them, and their conversions."""

    def __init__(self, conn: Connection) -> None:
        self.dialect = conn.dialect.name
        moment = driver_conversion(tables.trades.c.executed_at.type, self.dialect)
        self.moment: Callable[[datetime], Any] = moment.to_driver
        #: A driver number as a Decimal: SQLite's text parsed, PostgreSQL's Decimal copied (a C
        #: call either way; a dictionary of the texts seen was slower, its lookups missing the
        #: CPU's caches at a million rows).
        self.number: Callable[[Any], Decimal] = Decimal
        #: 0 as the driver gives it: SQLite's canonical text (docs/ledger.md §1.4) or a Decimal,
        #: so a zero commission or fee is skipped without being parsed.
        self.zero: Any = "0" if self.dialect == "sqlite" else Decimal(0)


@contextmanager
def _rows(conn: Connection, sql: str, until: Any, name: str,
          part: SymbolPart | None) -> Iterator[Iterator[tuple[Any, ...]]]:
    dialect, mark = conn.dialect.name, driver_mark(conn)
    query = sql.format(mark=mark, concat=_CONCAT[dialect], negated=_NEGATED[dialect],
                       part=part.sql(mark) if part is not None else "")
    params = (until,) if part is None else (until, *part.parameters())
    with driver_rows(conn, query, params, server_side=name, batch=_BATCH) as rows:
        yield rows


@contextmanager
def trade_rows(conn: Connection, until: Any, *, full: bool = True,
               part: SymbolPart | None = None) -> Iterator[Iterator[tuple[Any, ...]]]:
    """Every live trade before `until` (driver form) in booking order, as (executed_at, id,
    account_id, symbol, side, quantity, price, commission, fees, strategy_id, currency), or
    with `full=False` as (executed_at, account_id, symbol, signed quantity, price, commission,
    fees), a sell's quantity negative. `part`: only those of some symbols."""
    with _rows(conn, _TRADES if full else _TRADE_MOVES, until, "stocksbot_history_trades", part) as rows:
        yield rows


@contextmanager
def bar_rows(conn: Connection, until: Any, part: SymbolPart | None = None) -> Iterator[Iterator[tuple[Any, ...]]]:
    """Every price bar before `until` (driver form) in timestamp order, a row per (timestamp,
    interval) as (timestamp, "SYMBOL SYMBOL ...", "CLOSE CLOSE ...") with each close's text.
    `part`: only those of some symbols."""
    with _rows(conn, _BARS, until, "stocksbot_history_bars", part) as rows:
        yield rows


def first_moments(conn: Connection, until: datetime) -> list[datetime]:
    """The moments of the first live trade and the first bar before `until` (those there are):
    where a pass over the whole history starts, whichever symbols it values."""
    trades, bars = tables.trades, tables.price_bars
    firsts = (
        select(trades.c.executed_at).where(trades.c.executed_at < until, tables.LIVE_TRADE)
        .order_by(trades.c.executed_at).limit(1),
        select(bars.c.timestamp).where(bars.c.timestamp < until).order_by(bars.c.timestamp).limit(1),
    )
    return [moment for query in firsts if (moment := conn.execute(query).scalar()) is not None]


def traded_symbols(conn: Connection) -> list[str]:
    """Every symbol that has a trade (live or voided), in order: one step of the symbol index
    per symbol (a skip scan), not a read of every trade."""
    return list(conn.execute(text(_SYMBOLS)).scalars())
