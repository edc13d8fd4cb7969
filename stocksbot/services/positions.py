"""Positions as they are read: the position list, one position with its lots, the summary.

Positions are a projection of the trades (docs/ledger.md §5), written only by the booking
store; the trades service records the trades of `position add` and `position close` and
rebuilds the projection. `position list` and `summary` are what a user runs most: what they
read does not grow with history (the open positions, one price probe per open symbol, and
the per-strategy totals of closed runs that booking keeps, `storage/totals.py`), and this
module imports no booking code, so they start fast. Values are kept in each instrument's
currency and converted to the reporting currency with one rate probe per currency pair
(`services/fx.py`, docs/ledger.md §15).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, select

from stocksbot.errors import StocksbotError
from stocksbot.ledger import divide, format_decimal
from stocksbot.ledger.inputs import parse_symbol
from stocksbot.ledger.numbers import ZERO, add, multiply, subtract
from stocksbot.services import valuation
from stocksbot.services.fx import Converter, Rates, latest_close, reporting_currency
from stocksbot.storage import strategy_totals, tables, totals
from stocksbot.storage.records import (
    AccountSummary,
    LotRecord,
    PositionDetail,
    PositionEvent,
    PositionListing,
    PositionRecord,
    Summary,
    SummaryLine,
    trade_record,
)
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.types import exact_sum
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import CLOSED, LONG, OPEN

POSITIONS = tables.positions
_OPEN_COSTS = select(
    POSITIONS.c.strategy_id, POSITIONS.c.costs, POSITIONS.c.symbol, POSITIONS.c.account_id
).where(POSITIONS.c.status == OPEN)
# Every run of one account, open and closed: what `summary --account` sums its costs from
# (the running totals of closed runs are kept for all accounts together).
_ACCOUNT_RUNS = select(
    POSITIONS.c.strategy_id, POSITIONS.c.costs, POSITIONS.c.symbol, POSITIONS.c.account_id
).where(POSITIONS.c.account_id == bindparam("account_id"))
# The closed runs of the symbols named, summed per (strategy, symbol): the part of the running
# totals that is in another currency than the reporting one (an index range scan per symbol).
_CLOSED_OF_SYMBOLS = (
    select(POSITIONS.c.strategy_id, POSITIONS.c.symbol, exact_sum(POSITIONS.c.costs))
    .where(POSITIONS.c.status == CLOSED, POSITIONS.c.symbol.in_(bindparam("symbols", expanding=True)))
    .group_by(POSITIONS.c.strategy_id, POSITIONS.c.symbol)
)
_ACCOUNT_ROWS = select(tables.accounts.c.id, tables.accounts.c.name, tables.accounts.c.currency,
                       tables.accounts.c.status).order_by(tables.accounts.c.id)


def latest_closes(conn: Connection, symbols: Sequence[str], at: datetime) -> dict[str, Decimal]:
    """The close of each symbol's most recent bar at or before `at` (one index probe each)."""
    closes = {}
    for symbol in symbols:
        close = latest_close(conn, symbol, at)
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
        self._conn = repos.conn
        self._account_currencies: dict[int, str] | None = None

    def account_currency(self, account_id: int) -> str:
        if self._account_currencies is None:
            self._account_currencies = {row.id: row.currency for row in self._conn.execute(_ACCOUNT_ROWS)}
        return self._account_currencies[account_id]

    def currency_of(self, position: PositionRecord) -> str:
        """The position's currency: its instrument's, else (a symbol with no instrument row) its account's."""
        if position.currency is not None:
            return position.currency
        return self.account_currency(next(i for i, name in self.accounts.items() if name == position.account))


def signed_cost(amount: Decimal, side: str) -> Decimal:
    """An open cost (or a lot's) as shown: a short's is negative, like its market value, so
    market value = open cost + unrealized P&L for every position and summary line
    (docs/ledger.md §5.2). The stored amount is the same positive number for both sides."""
    return amount if side == LONG else subtract(ZERO, amount)


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
        open_cost=signed_cost(position.open_cost, position.side), account=names.accounts[position.account_id],
        currency=names.currencies.get(position.symbol),
    )


def converted(position: PositionRecord, names: Names, convert: Converter) -> PositionRecord:
    """The position with its market value and unrealized P&L in the reporting currency too (§15.4)."""
    currency = names.currency_of(position)
    return replace(
        position, reporting_currency=convert.to_ccy,
        converted_market_value=convert(position.market_value, currency),
        converted_unrealized_pnl=convert(position.unrealized_pnl, currency),
    )


def _converter(conn: Connection) -> tuple[Converter, bool]:
    """Conversion to the reporting currency at the latest rates, and whether the setting chose it."""
    currency, chosen = reporting_currency(conn)
    return Converter(Rates(conn), currency, datetime.now(timezone.utc)), chosen


def _valued(
    repos: Repositories, status: str | None, strategy: str | None, account: str | None = None, *,
    names: Names | None = None, convert: Converter | None = None,
) -> list[PositionRecord]:
    names = names if names is not None else Names(repos)
    wanted = repos.strategies.require_id(strategy) if strategy is not None else None
    account_id = repos.accounts.require(account).id if account is not None else None
    rows = repos.positions.list(status=status, strategy_id=wanted, account_id=account_id)
    if convert is None:
        convert = _converter(repos.conn)[0]
    prices = latest_closes(repos.conn, sorted({p.symbol for p in rows if p.status == OPEN}), convert.at)
    return [converted(position_record(p, names, prices.get(p.symbol)), names, convert) for p in rows]


def list_positions(
    uow: UnitOfWork, *, status: str | None = OPEN, strategy: str | None = None, account: str | None = None,
    as_of: str | datetime | None = None,
) -> list[PositionRecord]:
    """Positions (open by default; "closed", or None for all), valued at the latest prices; with
    `as_of`, as they were at the end of that day (docs/ledger.md §17)."""
    if as_of is not None:
        return position_listing(uow, status=status, strategy=strategy, account=account, as_of=as_of).positions
    with uow.reading() as conn:
        return _valued(Repositories(conn), status, strategy, account)


def position_listing(
    uow: UnitOfWork, *, status: str | None = OPEN, strategy: str | None = None, account: str | None = None,
    as_of: str | datetime | None = None,
) -> PositionListing:
    """`list_positions`, with the reporting currency and the open positions' converted totals."""
    if as_of is not None:  # replayed from the trades: services/asof.py (imported only then)
        from stocksbot.services import asof

        return asof.position_listing(uow, as_of, status=status, strategy=strategy, account=account)
    with uow.reading() as conn:
        convert, chosen = _converter(conn)
        positions = _valued(Repositories(conn), status, strategy, account, convert=convert)
    held = [p for p in positions if p.status == OPEN]
    involved = {p.currency for p in held if p.currency is not None} | {convert.to_ccy}
    return PositionListing(
        positions=positions, reporting_currency=convert.to_ccy, converted=bool(held) and (chosen or len(involved) > 1),
        converted_market_value=valuation.sum_known(p.converted_market_value for p in held),
        converted_unrealized_pnl=valuation.sum_known(p.converted_unrealized_pnl for p in held),
        missing_rates=sorted(convert.rates.missing),
    )


def _plus(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else add(a, b)


def _summary_line(
    strategy: str | None, positions: list[PositionRecord], realized: Decimal | None, costs: Decimal | None,
    names: Names, convert: Converter,
) -> SummaryLine:
    return SummaryLine(
        strategy=strategy,
        open_positions=len(positions),
        cost=valuation.sum_known(convert(p.open_cost, names.currency_of(p)) for p in positions),  # signed: §5.2
        market_value=valuation.sum_known(p.converted_market_value for p in positions),
        realized_pnl=realized,
        unrealized_pnl=valuation.sum_known(p.converted_unrealized_pnl for p in positions),
        costs=costs,
    )


def summary(uow: UnitOfWork, *, account: str | None = None, as_of: str | datetime | None = None) -> Summary:
    """Cost, value, realized and unrealized P&L and costs paid, in total and by strategy; cash,
    income and total value, in total and by account; all in the reporting currency.

    `account` narrows everything to one account; its realized P&L and costs are then summed
    from its positions, closed and open (the running totals are kept for all accounts).

    By strategy means by the strategy of the position (of the trade that opened it), except
    for realized P&L, which follows the attribution rule of `strategy list` (docs/ledger.md
    §8.3), read from the totals booking keeps (storage/strategy_totals.py). Costs are those of
    the closed runs (kept as running totals) plus the open runs' so far. Amounts
    in another currency are converted at the latest rate; one that is missing makes the
    figures that need it unknown and is named in `missing_rates` (docs/ledger.md §6.3 and §15.5).
    With `as_of`, the summary as it was at the end of that day (docs/ledger.md §17).
    """
    if as_of is not None:  # replayed from the trades: services/asof.py (imported only then)
        from stocksbot.services import asof

        return asof.summary(uow, as_of, account=account)
    with uow.reading() as conn:
        repos = Repositories(conn)
        strategy_names = repos.strategies.names()
        names = Names(repos)
        convert, _chosen = _converter(conn)
        only = repos.accounts.require(account).id if account is not None else None
        positions = _valued(repos, OPEN, None, account, names=names, convert=convert)
        realized_costs: dict[str | None, tuple[Decimal | None, Decimal | None]] = {}

        def credit(strategy_id: int | None, realized: Decimal | None, costs: Decimal | None) -> None:
            name = strategy_names.get(strategy_id) if strategy_id else None
            old_realized, old_costs = realized_costs.get(name, (ZERO, ZERO))
            realized_costs[name] = (_plus(old_realized, realized), _plus(old_costs, costs))

        # Costs by the positions' strategies: the closed runs' running totals and the open runs'.
        if only is not None:
            for strategy_id, costs, symbol, account_id in conn.execute(_ACCOUNT_RUNS, {"account_id": only}):
                credit(strategy_id, ZERO, convert(costs, names.currencies.get(symbol) or names.account_currency(account_id)))
        else:
            for key, (_runs, _realized, costs) in totals.stored(conn).items():
                credit(totals.strategy_of(key), ZERO, costs)
            # The running totals add every currency up: the closed runs of symbols in another
            # currency are taken out of them and put back converted.
            foreign = sorted(symbol for symbol, currency in names.currencies.items() if currency != convert.to_ccy)
            for strategy_id, symbol, costs in (
                conn.execute(_CLOSED_OF_SYMBOLS, {"symbols": foreign}).all() if foreign else ()
            ):
                credit(strategy_id, ZERO, costs.copy_negate())
                credit(strategy_id, ZERO, convert(costs, names.currencies[symbol]))
            for strategy_id, costs, symbol, account_id in conn.execute(_OPEN_COSTS):
                credit(strategy_id, ZERO, convert(costs, names.currencies.get(symbol) or names.account_currency(account_id)))
        # Realized P&L by the attribution rule (§8.3), kept per (strategy, symbol, account) by booking.
        for (strategy_id, symbol, account_id), line in strategy_totals.stored(conn, only).items():
            if line.closing:  # a strategy whose trades closed nothing has no realized P&L to show
                credit(strategy_id, convert(line.realized_pnl, names.currencies.get(symbol)
                                            or names.account_currency(account_id)), ZERO)
        by_strategy: dict[str | None, list[PositionRecord]] = defaultdict(list)
        for position in positions:
            by_strategy[position.strategy].append(position)
        keys = sorted(set(realized_costs) | set(by_strategy), key=lambda k: (k is None, k or ""))
        lines = [_summary_line(key, by_strategy.get(key, []), *realized_costs.get(key, (ZERO, ZERO)), names, convert)
                 for key in keys]
        total = _summary_line(
            None, positions,
            valuation.sum_known(line.realized_pnl for line in lines),
            valuation.sum_known(line.costs for line in lines),
            names, convert,
        )
        by_account, cash, income = _accounts(conn, positions, convert, only)
        cash_value = valuation.converted_total(cash, convert)
        unpriced = sorted({p.symbol for p in positions if p.market_value is None})
        return Summary(
            total=total, by_strategy=lines, unpriced_symbols=unpriced, reporting_currency=convert.to_ccy,
            cash=cash, cash_value=cash_value, income=valuation.converted_total(income, convert),
            total_value=_plus(total.market_value, cash_value), by_account=by_account,
            missing_rates=sorted(convert.rates.missing),
        )


def _accounts(
    conn: Connection, positions: list[PositionRecord], convert: Converter, only: int | None = None
) -> tuple[list[AccountSummary], dict[str, Decimal], dict[str, Decimal]]:
    """Each account's line of the summary (closed accounts that hold nothing left out; only the
    account `only` when given), and the cash and income of all of them per currency."""
    return account_lines(conn, positions, convert, only, valuation.cash_by_account(conn),
                         valuation.income_by_account(conn), keep_empty=lambda status: status != CLOSED)


def account_lines(
    conn: Connection, positions: list[PositionRecord], convert: Converter, only: int | None,
    cash: dict[int, dict[str, Decimal]], income: dict[int, dict[str, Decimal]], *, keep_empty: Callable[[str], bool],
) -> tuple[list[AccountSummary], dict[str, Decimal], dict[str, Decimal]]:
    """The summary's account lines from each account's `cash` and `income` per currency (now, or
    as of a moment: services/asof.py) and the positions; an account with no cash, income or
    position is shown only when `keep_empty(status)` says so."""
    if only is not None:
        cash = {only: cash.get(only, {})}
        income = {only: income.get(only, {})}
    held: dict[str, list[PositionRecord]] = defaultdict(list)
    for position in positions:
        held[position.account].append(position)
    lines = []
    for account_id, name, currency, status in conn.execute(_ACCOUNT_ROWS):
        if only is not None and account_id != only:
            continue
        own_cash, own_income, own = cash.get(account_id, {}), income.get(account_id, {}), held.get(name, [])
        if not keep_empty(status) and not (own_cash or own_income or own):
            continue
        cash_value = valuation.converted_total(own_cash, convert)
        market_value = valuation.sum_known(p.converted_market_value for p in own)
        lines.append(AccountSummary(
            account=name, currency=currency, open_positions=len(own), cash=dict(sorted(own_cash.items())),
            cash_value=cash_value, market_value=market_value,
            income=valuation.converted_total(own_income, convert), total_value=_plus(market_value, cash_value),
        ))
    return lines, valuation.merge(cash.values()), valuation.merge(income.values())


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
        convert = _converter(conn)[0]
        price = latest_closes(conn, [symbol], convert.at).get(symbol)
        lots = [
            LotRecord(trade_id=lot.trade_id, quantity=lot.quantity, cost=signed_cost(lot.amount, position.side),
                      unit_cost=divide(lot.amount, lot.quantity), opened_at=lot.opened_at)
            for lot in repos.positions.lots(position.id)
        ]
        history = repos.trades.list(symbol=symbol, since=position.opened_at, until=position.closed_at,
                                    account_id=position.account_id)
        return PositionDetail(
            position=converted(position_record(position, names, price), names, convert),
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
