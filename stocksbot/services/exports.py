"""`trade export`: the ledger's trades, streamed in booking order, as CSV, JSON or beancount.

The beancount file is the whole ledger: the trades merged with the cash, dividends, splits,
share transfers and symbol changes (`storage/events.py`, docs/csv-formats.md §4).

The CSV has exactly the columns `trade import` reads (docs/csv-formats.md), so export ->
import into a new database gives the same ledger.
"""

from __future__ import annotations

import csv
import json
from datetime import timezone
from typing import IO, Any, Iterator

from sqlalchemy import select

from stocksbot import settings
from stocksbot.csvfiles import TRADE_COLUMNS
from stocksbot.errors import StocksbotError
from stocksbot.ledger import format_decimal
from stocksbot.storage import tables
from stocksbot.storage.events import merged, other_events
from stocksbot.storage.records import TradeRecord, trade_record
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import EXPORT_FORMATS

TRADES = tables.trades


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "as_tuple"):
        return format_decimal(value)
    if hasattr(value, "astimezone"):
        return value.astimezone(timezone.utc).isoformat()
    return str(value)


def write_csv(trades: Iterator[TradeRecord], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    count = 0
    for trade in trades:
        writer.writerow([_csv_value(getattr(trade, column)) for column in TRADE_COLUMNS])
        count += 1
    return count


def write_json(trades: Iterator[TradeRecord], out: IO[str]) -> int:
    """A JSON array written one trade at a time (never the whole ledger in memory)."""
    out.write("[")
    count = 0
    for trade in trades:
        data = {key: _json_value(value) for key, value in trade.to_json().items()}
        out.write(("," if count else "") + "\n  " + json.dumps(data, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int)):
        return value
    return _csv_value(value)


def export_trades(uow: UnitOfWork, out: IO[str], *, format: str = "csv") -> int:  # noqa: A002 - the option's name
    """Write every trade to `out`; returns how many were written."""
    if format not in EXPORT_FORMATS:
        raise StocksbotError(f"unknown export format {format!r}: use one of {', '.join(EXPORT_FORMATS)}")
    with uow.reading() as conn:
        repos = Repositories(conn)
        names = repos.strategies.names()
        accounts = repos.accounts.names()
        method = str(settings.known_value("accounting.cost_basis", repos.config.text("accounting.cost_basis")))
        # Beancount gets the whole ledger: its other events are read before the trades stream opens.
        others = other_events(conn, accounts) if format == "beancount" else []
        query = select(TRADES).where(tables.LIVE_TRADE).order_by(TRADES.c.executed_at, TRADES.c.id)
        rows = conn.execution_options(yield_per=2000).execute(query)
        trades = (trade_record(row, names, accounts) for row in rows)
        if format == "csv":
            return write_csv(trades, out)
        if format == "json":
            return write_json(trades, out)
        from stocksbot.beancount import write_beancount  # only this format needs it

        return write_beancount(merged(others, trades), out, method=method)
