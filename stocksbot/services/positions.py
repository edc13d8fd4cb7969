"""Positions as they are read: the position list, one position with its lots, the summary.

Positions are a projection of the trades (docs/ledger.md §5), written only by the booking
store; the trades service records the trades of `position add` and `position close` and
rebuilds the projection. `position list` and `summary` are what a user runs most: what they
read does not grow with history (the open positions, one price probe per open symbol, and
the per-strategy totals of closed runs that booking keeps, `storage/totals.py`), and this
module imports no booking code, so they start fast.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, select

from stocksbot.errors import StocksbotError
from stocksbot.ledger import divide, format_decimal
from stocksbot.ledger.inputs import parse_symbol
from stocksbot.ledger.numbers import ZERO, add, multiply, subtract
from stocksbot.storage import tables, totals
from stocksbot.storage.records import (
    LotRecord,
    PositionDetail,
    PositionEvent,
    PositionRecord,
    Summary,
    SummaryLine,
    trade_record,
)
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import LONG, OPEN

POSITIONS = tables.positions
BARS = tables.price_bars
_LATEST_CLOSE = (
    select(BARS.c.close)
    .where(BARS.c.symbol == bindparam("symbol"), BARS.c.timestamp <= bindparam("at"))
    .order_by(BARS.c.timestamp.desc(), BARS.c.interval)
    .limit(1)
)
_OPEN_COSTS = select(POSITIONS.c.strategy_id, POSITIONS.c.realized_pnl, POSITIONS.c.costs).where(
    POSITIONS.c.status == OPEN
)


def latest_closes(conn: Connection, symbols: Sequence[str], at: datetime) -> dict[str, Decimal]:
    """The close of each symbol's most recent bar at or before `at` (one index probe each)."""
    closes = {}
    for symbol in symbols:
        close = conn.execute(_LATEST_CLOSE, {"symbol": symbol, "at": at}).scalar()
        if close is not None:
            closes[symbol] = close
    return closes


_INSTRUMENT_CURRENCIES = select(tables.instruments.c.symbol, tables.instruments.c.currency)


class Names:
    """Names for the ids a position row carries: strategies, accounts, and each symbol's currency."""

    def __init__(self, repos: Repositories) -> None:
        self.strategies = repos.strategies.names()
        self.accounts = repos.accounts.names()
        self.currencies = {symbol: currency for symbol, currency in repos.conn.execute(_INSTRUMENT_CURRENCIES)}


def position_record(position: Any, names: Names, price: Decimal | None) -> PositionRecord:
    """A position row valued at `price` (None: no price known, so no market value or unrealized P&L)."""
    market_value = unrealized = None
    if price is not None and position.status == OPEN:
        worth = multiply(price, position.quantity)
        if position.side == LONG:
            market_value, unrealized = worth, subtract(worth, position.open_cost)
        else:  # a short is a liability worth -price x quantity; it gains when the price falls
            market_value, unrealized = worth.copy_negate(), subtract(position.open_cost, worth)
    return PositionRecord(
        id=position.id, symbol=position.symbol, side=position.side, quantity=position.quantity,
        avg_entry_price=position.avg_entry_price, realized_pnl=position.realized_pnl,
        market_price=price if position.status == OPEN else None, market_value=market_value,
        unrealized_pnl=unrealized, status=position.status, opened_at=position.opened_at,
        closed_at=position.closed_at,
        strategy=names.strategies.get(position.strategy_id) if position.strategy_id else None,
        open_cost=position.open_cost, account=names.accounts[position.account_id],
        currency=names.currencies.get(position.symbol),
    )


def _valued(
    repos: Repositories, status: str | None, strategy: str | None, account: str | None = None
) -> list[PositionRecord]:
    names = Names(repos)
    wanted = repos.strategies.require_id(strategy) if strategy is not None else None
    account_id = repos.accounts.require(account).id if account is not None else None
    rows = repos.positions.list(status=status, strategy_id=wanted, account_id=account_id)
    prices = latest_closes(repos.conn, sorted({p.symbol for p in rows if p.status == OPEN}), datetime.now(timezone.utc))
    return [position_record(p, names, prices.get(p.symbol)) for p in rows]


def list_positions(
    uow: UnitOfWork, *, status: str | None = OPEN, strategy: str | None = None, account: str | None = None
) -> list[PositionRecord]:
    """Positions (open by default; "closed", or None for all), valued at the latest prices."""
    with uow.reading() as conn:
        return _valued(Repositories(conn), status, strategy, account)


def _summary_line(
    strategy: str | None, positions: list[PositionRecord], realized: Decimal, costs: Decimal
) -> SummaryLine:
    values = [p.market_value for p in positions]
    unrealized = [p.unrealized_pnl for p in positions]
    priced = all(v is not None for v in values)
    signed_cost = [p.open_cost if p.side == LONG else p.open_cost.copy_negate() for p in positions]
    return SummaryLine(
        strategy=strategy,
        open_positions=len(positions),
        cost=add(ZERO, *signed_cost),
        market_value=add(ZERO, *(v for v in values if v is not None)) if priced else None,
        realized_pnl=realized,
        unrealized_pnl=add(ZERO, *(u for u in unrealized if u is not None)) if priced else None,
        costs=costs,
    )


def summary(uow: UnitOfWork) -> Summary:
    """Cost, value, realized and unrealized P&L and costs paid, in total and by strategy.

    By strategy means by the strategy of the position (of the trade that opened it).
    Realized P&L and costs are those of the closed runs (kept as running totals) plus the
    open runs' so far.
    """
    with uow.reading() as conn:
        repos = Repositories(conn)
        names = repos.strategies.names()
        positions = _valued(repos, OPEN, None)
        open_rows = conn.execute(_OPEN_COSTS).all()
        closed = totals.stored(conn)
    realized_costs: dict[str | None, tuple[Decimal, Decimal]] = {}
    for key, (_runs, realized, costs) in closed.items():
        strategy_id = totals.strategy_of(key)
        realized_costs[names.get(strategy_id) if strategy_id else None] = (realized, costs)
    for strategy_id, realized, costs in open_rows:
        name = names.get(strategy_id) if strategy_id else None
        old_realized, old_costs = realized_costs.get(name, (ZERO, ZERO))
        realized_costs[name] = (add(old_realized, realized), add(old_costs, costs))
    by_strategy: dict[str | None, list[PositionRecord]] = defaultdict(list)
    for position in positions:
        by_strategy[position.strategy].append(position)
    keys = sorted(set(realized_costs) | set(by_strategy), key=lambda k: (k is None, k or ""))
    lines = [_summary_line(key, by_strategy.get(key, []), *realized_costs.get(key, (ZERO, ZERO))) for key in keys]
    total = _summary_line(
        None, positions,
        add(ZERO, *(line.realized_pnl for line in lines)),
        add(ZERO, *(line.costs for line in lines)),
    )
    unpriced = sorted({p.symbol for p in positions if p.market_value is None})
    return Summary(total=total, by_strategy=lines, unpriced_symbols=unpriced)


def show_position(uow: UnitOfWork, symbol: str, *, account: str | None = None) -> PositionDetail:
    """The open position of SYMBOL (else its last closed one) with its lots and trades.

    Without `account`, the symbol must have a position in one account only, or one open
    position among them.
    """
    symbol = parse_symbol(symbol)
    with uow.reading() as conn:
        repos = Repositories(conn)
        account_id = repos.accounts.require(account).id if account is not None else None
        candidates = repos.positions.latest_for(symbol, account_id)
        if len(candidates) > 1:
            candidates = [p for p in candidates if p.status == OPEN] or candidates
        if not candidates:
            raise StocksbotError(f"no position in {symbol}" + (f" in account {account!r}" if account else ""))
        names = Names(repos)
        if len(candidates) > 1:
            held = ", ".join(sorted(names.accounts[p.account_id] for p in candidates))
            raise StocksbotError(f"{symbol} is held in accounts {held}: choose one with --account")
        position = candidates[0]
        price = latest_closes(conn, [symbol], datetime.now(timezone.utc)).get(symbol)
        lots = [
            LotRecord(trade_id=lot.trade_id, quantity=lot.quantity, cost=lot.amount,
                      unit_cost=divide(lot.amount, lot.quantity), opened_at=lot.opened_at)
            for lot in repos.positions.lots(position.id)
        ]
        history = repos.trades.list(symbol=symbol, since=position.opened_at, until=position.closed_at,
                                    account_id=position.account_id)
        return PositionDetail(
            position=position_record(position, names, price),
            lots=lots,
            trades=[trade_record(t, names.strategies, names.accounts) for t in history],
            events=_run_events(conn, position, names.accounts),
        )


def _run_events(conn: Connection, position: Any, accounts: dict[int, str]) -> list[PositionEvent]:
    """The splits and share transfers of the symbol during the position's run, in time order."""
    splits, moves = tables.splits, tables.share_transfers
    start, end = position.opened_at, position.closed_at
    events = []
    query = select(splits).where(splits.c.symbol == position.symbol, splits.c.at >= start)
    for split in conn.execute(query if end is None else query.where(splits.c.at <= end)):
        events.append(PositionEvent("split", split.at, f"{split.numerator}:{split.denominator}"))
    query = select(moves).where(moves.c.symbol == position.symbol, moves.c.at >= start,
                                (moves.c.from_account_id == position.account_id)
                                | (moves.c.to_account_id == position.account_id))
    for move in conn.execute(query if end is None else query.where(moves.c.at <= end)):
        outgoing = move.from_account_id == position.account_id
        other = accounts[move.to_account_id if outgoing else move.from_account_id]
        events.append(PositionEvent("transfer_out" if outgoing else "transfer_in", move.at,
                                    f"{format_decimal(move.quantity)} {'to' if outgoing else 'from'} {other}"))
    return sorted(events, key=lambda event: event.at)
