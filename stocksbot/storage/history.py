"""The ledger and the price bars as one stream in time order, for the daily valuation.

`performance` (docs/ledger.md §16) walks the whole history once: every trade, split, symbol
change, share transfer, cash movement and dividend in booking order (`storage/events.py`)
merged with every price bar in timestamp order. The two big tables (trades and price bars)
stream from the database with their values as the driver returns them, and each item is
keyed by its moment in the driver's own form (text on SQLite, an aware datetime on
PostgreSQL), so the day boundaries, converted once into that form, are compared with no
per-row datetime parsing. The other events are small tables, read whole (`other_events`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, Callable

from sqlalchemy import Connection, text

from stocksbot.storage import tables
from stocksbot.storage.events import TRADE, other_events
from stocksbot.storage.types import driver_conversion

#: The kind of a price bar in the merged stream: before every ledger event of its moment, so a
#: split at the same instant as a bar finds the bar's (post-split) close already there.
BAR = -1

_TRADES = text(
    "SELECT executed_at, id, account_id, symbol, side, quantity, price, commission, fees, strategy_id "
    "FROM trades WHERE executed_at < :until ORDER BY executed_at, id"
)
# Several intervals at one timestamp: the last one read wins, and `fx.latest_close` prefers the
# first interval in name order, so they come in reverse name order.
_BARS = text(
    'SELECT "timestamp", symbol, close FROM price_bars WHERE "timestamp" < :until '
    'ORDER BY "timestamp", "interval" DESC'
)
_BATCH = 20_000


class DriverForm:
    """Moments and decimals of one backend as its driver gives them, and the conversions."""

    def __init__(self, conn: Connection) -> None:
        name = conn.dialect.name
        moment = driver_conversion(tables.trades.c.executed_at.type, name)
        number = driver_conversion(tables.trades.c.price.type, name)
        self.moment: Callable[[datetime], Any] = moment.to_driver
        self.number: Callable[[Any], Decimal] = number.from_driver


def ledger_stream(
    conn: Connection, accounts: Mapping[int, str], until: datetime, form: DriverForm
) -> Iterator[tuple[tuple[Any, int, int], Any]]:
    """Every event before `until` and every price bar before it, as ((moment, kind, id), item).

    A trade is a raw row (executed_at, id, account_id, symbol, side, quantity, price,
    commission, fees, strategy_id), a bar a raw row (timestamp, symbol, close); the other
    events are the records of `storage/events.py`. Moments are in the driver's form.
    """
    boundary = form.moment(until)
    others = [((form.moment(key[0]), key[1], key[2]), event) for key, event in other_events(conn, accounts)
              if key[0] < until]
    streaming = conn.execution_options(yield_per=_BATCH)
    trades = (((row[0], TRADE, row[1]), row) for row in streaming.execute(_TRADES, {"until": boundary}))
    bars = (((row[0], BAR, 0), row) for row in streaming.execute(_BARS, {"until": boundary}))
    yield from heapq.merge(others, trades, bars, key=itemgetter(0))
