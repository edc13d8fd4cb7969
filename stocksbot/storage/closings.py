"""The stored closed lot portions of a range of closing times, straight from the driver.

`report realized --year Y` reads every portion closed in a year (over 100,000 at a million
trades, docs/ledger.md §17.3). Through a SQLAlchemy result every value of every row would
pass two processors (the type's and its implementation's); here the driver's values are
converted once each with the conversion table of `types.py`, as `booking.symbol_trades`
does for a rebuild.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stocksbot.storage import tables
from stocksbot.storage.database import driver_mark, driver_rows
from stocksbot.storage.types import driver_conversion

_COLUMNS = ("account_id, symbol, opened_at, closed_at, quantity, proceeds, cost, realized_pnl, side, "
            "opening_trade_id, trade_id")


def closed_portions(
    conn: Connection, since: datetime | None, until: datetime | None, account_id: int | None
) -> Iterator[tuple[Any, ...]]:
    """The portions closed with `since <= closed_at < until` (each bound optional), of one account
    or all, in the order they were closed (closing time, trade, place in the trade), as
    (account id, symbol, opened at, closed at, quantity, proceeds, cost, realized P&L, side,
    opening trade id, closing trade id) with Decimals and UTC datetimes."""
    name = conn.dialect.name
    number = driver_conversion(tables.lot_closings.c.quantity.type, name).from_driver
    moment = driver_conversion(tables.lot_closings.c.closed_at.type, name)
    mark = driver_mark(conn)
    conditions, params = [], []
    for bound, condition in ((since, f"closed_at >= {mark}"), (until, f"closed_at < {mark}")):
        if bound is not None:
            conditions.append(condition)
            params.append(moment.to_driver(bound))
    if account_id is not None:
        conditions.append(f"account_id = {mark}")
        params.append(account_id)
    read = moment.from_driver
    with driver_rows(conn, portions_query(conditions), params) as rows:
        for owner, symbol, opened, closed, quantity, proceeds, cost, gain, side, opener, trade_id in rows:
            yield (owner, symbol, read(opened), read(closed), number(quantity), number(proceeds), number(cost),
                   number(gain), side, opener, trade_id)


def portions_query(conditions: list[str]) -> str:
    """The read of `closed_portions` under `conditions` (ANDed), in the order of the index
    ix_lot_closings_closed_at_trade_id_seq (migration 0011), so the database does not sort."""
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {_COLUMNS} FROM lot_closings{where} ORDER BY closed_at, trade_id, seq"
