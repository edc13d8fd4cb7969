"""`trade export`: the ledger's trades, streamed in booking order, as CSV, JSON or beancount.

The beancount file is the whole ledger: the trades merged with the cash, dividends, splits,
share transfers and symbol changes (`storage/events.py`, docs/csv-formats.md §4).

The CSV has exactly the columns `trade import` reads (docs/csv-formats.md §2.4), so export ->
import into a new database gives the same ledger, and every row carries what re-identifies its
trade (its external_id, else its fingerprint) and whether it may open a short, so an export
imports into any database, and into the same one as a no-op.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from itertools import groupby
from operator import attrgetter
from typing import IO, Any, Iterator

from sqlalchemy import select

from stocksbot import settings
from stocksbot.csvfiles import TRADE_COLUMNS
from stocksbot.errors import StocksbotError
from stocksbot.fingerprints import fingerprint, trade_content
from stocksbot.ledger import format_decimal
from stocksbot.storage import tables
from stocksbot.storage.events import merged, other_events
from stocksbot.storage.records import TradeRecord, trade_record
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import EXPORT_FORMATS

TRADES = tables.trades
POSITIONS = tables.positions

#: (account name, symbol) -> the runs it was short in, as (opened_at, closed_at or None while open).
ShortRuns = dict[tuple[str, str], list[tuple[datetime, datetime | None]]]


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "as_tuple"):
        return format_decimal(value)
    if hasattr(value, "astimezone"):
        return value.astimezone(timezone.utc).isoformat()
    return str(value)


def write_csv(trades: Iterator[TradeRecord], out: IO[str], short_runs: ShortRuns | None = None) -> int:
    """The trade CSV (docs/csv-formats.md §2.4): a trade without an external_id gets its
    fingerprint there, and a sell made while its account was short in the symbol (a short run
    opened or added to) says `allow_short` true."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    runs = short_runs or {}
    count = 0
    for _moment, group in groupby(trades, key=attrgetter("executed_at")):
        moment_trades = list(group)  # identical trades share their time: a group is all they can clash with
        for trade, key in zip(moment_trades, keys_of(moment_trades)):
            row = [_csv_value(getattr(trade, column)) for column in _COLUMNS_OF_RECORD]
            row[_AT_EXTERNAL_ID] = key
            row.append("true" if trade.side == "sell" and _while_short(runs, trade) else "")
            writer.writerow(row)
            count += 1
    return count


#: The CSV's columns a TradeRecord has as attributes (all but the last, `allow_short`).
_COLUMNS_OF_RECORD = TRADE_COLUMNS[:-1]
_AT_EXTERNAL_ID = TRADE_COLUMNS.index("external_id")
assert TRADE_COLUMNS[-1] == "allow_short"


def keys_of(trades: list[TradeRecord]) -> list[str]:
    """The key of each trade of one moment: its external_id, else its fingerprint as `trade
    import` gives a row without an external_id (docs/csv-formats.md §2.5). The n-th trade of a
    content gets the first of its content's fingerprints that no trade of the moment holds
    already and no earlier one was given, so keys never clash within a file."""
    used = {trade.external_id for trade in trades if trade.external_id is not None}
    next_occurrence: dict[tuple[str, ...], int] = {}
    keys = []
    for trade in trades:
        key = trade.external_id
        if key is None:
            values = trade_content(trade.executed_at, trade.account, trade.symbol, None, trade.side, trade.quantity,
                                   trade.price, trade.commission, trade.fees, None)
            occurrence = next_occurrence.get(values, 0)
            key = fingerprint(values, occurrence)
            while key in used:
                occurrence += 1
                key = fingerprint(values, occurrence)
            used.add(key)
            next_occurrence[values] = occurrence + 1
        keys.append(key)
    return keys


def _while_short(runs: ShortRuns, trade: TradeRecord) -> bool:
    """Whether the trade falls within a short run of its account and symbol (opened_at to
    closed_at, both included): a sell there opened or added to a short, so importing it needs
    shorting allowed. (A sell that closed a long at the very moment a short opened is marked
    too; allowing it changes nothing.)"""
    for opened, closed in runs.get((trade.account, trade.symbol), ()):
        if opened <= trade.executed_at and (closed is None or trade.executed_at <= closed):
            return True
    return False


def short_runs(conn: Any, accounts: dict[int, str]) -> ShortRuns:
    """Every short run of the ledger (open or closed), by account name and symbol: few next to
    the trades, read whole before they stream."""
    runs: ShortRuns = {}
    query = select(POSITIONS.c.account_id, POSITIONS.c.symbol, POSITIONS.c.opened_at, POSITIONS.c.closed_at) \
        .where(POSITIONS.c.side == "short")
    for account_id, symbol, opened, closed in conn.execute(query):
        runs.setdefault((accounts.get(account_id, ""), symbol), []).append((opened, closed))
    return runs


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
        shorts = short_runs(conn, accounts) if format == "csv" else {}
        query = select(TRADES).where(tables.LIVE_TRADE).order_by(TRADES.c.executed_at, TRADES.c.id)
        rows = conn.execution_options(yield_per=2000).execute(query)
        trades = (trade_record(row, names, accounts) for row in rows)
        if format == "csv":
            return write_csv(trades, out, shorts)
        if format == "json":
            return write_json(trades, out)
        from stocksbot.beancount import write_beancount  # only this format needs it

        return write_beancount(merged(others, trades), out, method=method)
