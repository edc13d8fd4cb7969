"""The whole ledger as one stream of events in booking order, for the beancount export.

Trades stream from the database (the caller's query, in (executed_at, id) order); the other
events (splits, symbol changes, share transfers, cash movements, dividends) come from tables
that are small next to the trades, so they are read whole, sorted, and merged into the trade
stream. Memory holds those tables, never the trades.

Order at one moment (docs/ledger.md §12 and §13): splits, then symbol changes, then cash
movements (implicit deposits included) and dividends, then the trades, then share transfers;
within each kind, by id. Splits, symbol changes, trades and transfers are in exactly the order
booking applies them to lots (`storage/booking.py`, `_other_events`); cash events do not touch
lots, and inside one moment their order does not change any day's balance. (A split of OLD
dated at the very moment OLD is renamed applies before the change, so NEW takes over the
split lots, as booking does.)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, Union

from sqlalchemy import Connection, select

from stocksbot.ledger.cash import dividend_amount
from stocksbot.storage import tables
from stocksbot.storage.records import (
    CashMovementRecord,
    DividendRecord,
    SplitRecord,
    TradeRecord,
    TransferRecord,
)

# The order of a moment's events.
SPLIT, RENAME, MOVEMENT, DIVIDEND, TRADE, TRANSFER = range(6)


@dataclass(frozen=True)
class SymbolChangeRecord:
    """From `at` on, `old_symbol` trades as `new_symbol` (docs/ledger.md §12.6)."""

    id: int
    old_symbol: str
    new_symbol: str
    at: datetime


@dataclass(frozen=True)
class CashEntry:
    """Recorded cash movements that belong together: one movement, or the rows of one cash
    transfer or conversion (they share a `pair_id`), first row first."""

    rows: tuple[CashMovementRecord, ...]

    @property
    def at(self) -> datetime:
        return self.rows[0].at


LedgerEvent = Union[TradeRecord, SplitRecord, SymbolChangeRecord, TransferRecord, CashEntry, DividendRecord]
#: An event keyed by (moment, kind, id), the booking order.
Keyed = tuple[tuple[datetime, int, int], Any]


def other_events(conn: Connection, accounts: Mapping[int, str]) -> list[Keyed]:
    """Every event that is not a trade, keyed by (moment, kind, id) and sorted.

    `accounts` maps account ids to names. Read before the trades stream is opened.
    """
    events: list[Keyed] = []
    for row in conn.execute(select(tables.symbol_changes)):
        events.append(((row.at, RENAME, row.id), SymbolChangeRecord(
            id=row.id, old_symbol=row.old_symbol, new_symbol=row.new_symbol, at=row.at)))
    for row in conn.execute(select(tables.splits)):
        events.append(((row.at, SPLIT, row.id), SplitRecord(
            id=row.id, symbol=row.symbol, numerator=row.numerator, denominator=row.denominator, at=row.at,
            cash_in_lieu=row.cash_in_lieu)))
    for row in conn.execute(select(tables.share_transfers)):
        events.append(((row.at, TRANSFER, row.id), TransferRecord(
            id=row.id, symbol=row.symbol, quantity=row.quantity, from_account=accounts[row.from_account_id],
            to_account=accounts[row.to_account_id], at=row.at, note=row.note)))
    movements = tables.cash_movements
    groups: dict[int, list[CashMovementRecord]] = {}
    for row in conn.execute(select(movements).order_by(movements.c.id)):
        record = CashMovementRecord(
            id=row.id, account=accounts[row.account_id], kind=row.kind, amount=row.amount, currency=row.currency,
            at=row.at, note=row.note, trade_id=row.trade_id, dividend_id=row.dividend_id)
        groups.setdefault(row.pair_id if row.pair_id is not None else -row.id, []).append(record)
    for rows in groups.values():
        first = rows[0]
        events.append(((first.at, MOVEMENT, first.id or 0), CashEntry(tuple(rows))))
    dividends = tables.dividends
    for row in conn.execute(select(dividends)):
        events.append(((row.paid_at, DIVIDEND, row.id), DividendRecord(
            id=row.id, account=accounts[row.account_id], symbol=row.symbol, gross=row.gross, tax=row.tax,
            fee=row.fee, net=dividend_amount(row.gross, row.tax, row.fee), currency=row.currency,
            ex_date=row.ex_date, paid_at=row.paid_at, per_share=row.per_share,
            reinvest_trade_id=row.reinvest_trade_id, note=row.note, external_id=row.external_id)))
    events.sort(key=itemgetter(0))
    return events


def merged(others: list[Keyed], trades: Iterable[TradeRecord]) -> Iterator[LedgerEvent]:
    """The trades (in booking order) merged with `other_events`: the whole ledger in booking order."""
    keyed = (((trade.executed_at, TRADE, trade.id), trade) for trade in trades)
    for _key, event in heapq.merge(others, keyed, key=itemgetter(0)):
        yield event
