"""`position list --as-of D` and `summary --as-of D`: the portfolio as it was at the end of day D.

The open positions of that moment are replayed in memory from the trades (`storage/history.py`:
the booking store's own replay, from where each book was last flat), so splits, share
transfers and symbol changes apply as they did then. Closed runs come from the stored
positions (a run that had closed by then is history, as stored). Prices are the latest bar at
or before the moment, else the latest trade price up to it; rates are those of the moment;
cash is the stored balance less what came later. The rules are docs/ledger.md §17.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import Connection, bindparam, select

from stocksbot.errors import StocksbotError
from stocksbot.ledger.inputs import parse_time
from stocksbot.ledger.numbers import ZERO
from stocksbot.services import valuation
from stocksbot.services.fx import Converter, Rates, latest_close, reporting_currency
from stocksbot.services.positions import Names, _plus, _summary_line, account_lines, converted, position_record
from stocksbot.services.realized import history
from stocksbot.storage import tables
from stocksbot.storage.cash import CashStore
from stocksbot.storage.history import HeldRun
from stocksbot.storage.records import AccountSummary, PositionListing, PositionRecord, Summary
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.types import exact_sum
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import CLOSED, LONG, OPEN

POSITIONS = tables.positions
TRADES = tables.trades
_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")
_LAST_TRADE_PRICE = (
    select(TRADES.c.price)
    .where(TRADES.c.symbol == bindparam("symbol"), TRADES.c.executed_at <= bindparam("at"), tables.LIVE_TRADE)
    .order_by(TRADES.c.executed_at.desc(), TRADES.c.id.desc())
    .limit(1)
)
_CLOSED_BY = (
    select(POSITIONS.c.strategy_id, POSITIONS.c.symbol, POSITIONS.c.account_id, exact_sum(POSITIONS.c.realized_pnl),
           exact_sum(POSITIONS.c.costs))
    .where(POSITIONS.c.status == CLOSED, POSITIONS.c.closed_at <= bindparam("at"))
    .group_by(POSITIONS.c.strategy_id, POSITIONS.c.symbol, POSITIONS.c.account_id)
)
_ACCOUNT_ROWS = select(tables.accounts.c.id, tables.accounts.c.name, tables.accounts.c.currency,
                       tables.accounts.c.status).order_by(tables.accounts.c.id)
_PAIRS = select(tables.cash_balances.c.account_id, tables.cash_balances.c.currency)


def as_of_moment(text: str | datetime, *, now: datetime | None = None) -> datetime:
    """The moment `--as-of` names: a bare date is the end of that local day (its last
    microsecond), a datetime that instant. A day after today is refused (docs/ledger.md §17)."""
    if isinstance(text, str) and _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise StocksbotError(f"invalid --as-of {text!r}: use an ISO date or datetime, e.g. 2024-01-15") from None
        next_day = datetime.combine(day + timedelta(days=1), time()).astimezone()
        moment = (next_day - timedelta(microseconds=1)).astimezone(timezone.utc)
    else:
        moment = parse_time(text, field="--as-of")
    today = (now or datetime.now(timezone.utc)).astimezone().date()
    if moment.astimezone().date() > today:
        raise StocksbotError(f"--as-of {moment.astimezone().date().isoformat()} is in the future: "
                             f"give today ({today.isoformat()}) or an earlier date")
    return moment


def _price(conn: Connection, symbol: str, at: datetime, trade_priced: set[str]) -> Decimal | None:
    """The latest bar's close at or before `at`, else the latest trade price up to `at` (noted in `trade_priced`)."""
    close = latest_close(conn, symbol, at)
    if close is not None:
        return close
    price: Decimal | None = conn.execute(_LAST_TRADE_PRICE, {"symbol": symbol, "at": at}).scalar()
    if price is not None:
        trade_priced.add(symbol)
    return price


def _record(held: HeldRun, names: Names, price: Decimal | None, convert: Converter) -> PositionRecord:
    """The run as it was: the book's figures on the stored run's identity, valued at `price`."""
    book, run = held.book, held.run
    row = SimpleNamespace(
        id=run.id, symbol=run.symbol, side=book.side or LONG, quantity=book.quantity, open_cost=book.open_amount,
        avg_entry_price=book.avg_entry_price, realized_pnl=book.realized_pnl, status=OPEN, opened_at=run.opened_at,
        closed_at=None, strategy_id=held.strategy_id, account_id=run.account_id,
    )
    return converted(position_record(row, names, price), names, convert)


class _Moment:
    """What one as-of question reads once: names, the converter at the moment, the runs held then."""

    def __init__(self, conn: Connection, at: datetime, account: str | None, strategy: str | None = None) -> None:
        repos = Repositories(conn)
        self.conn, self.at = conn, at
        self.names = Names(repos)
        currency, self.chosen = reporting_currency(conn)
        self.convert = Converter(Rates(conn), currency, at)
        self.account_id = repos.accounts.require(account).id if account is not None else None
        self.strategy_id = repos.strategies.require_id(strategy) if strategy is not None else None
        self.trade_priced: set[str] = set()
        self.held = [held for held in history(conn).held_at(at) if self._wanted(held.run.account_id, held.strategy_id)]
        prices = {symbol: _price(conn, symbol, at, self.trade_priced)
                  for symbol in sorted({held.run.symbol for held in self.held})}
        self.open = [_record(held, self.names, prices[held.run.symbol], self.convert) for held in self.held]

    def _wanted(self, account_id: int, strategy_id: int | None) -> bool:
        return (self.account_id is None or account_id == self.account_id) and (
            self.strategy_id is None or strategy_id == self.strategy_id)

    def closed(self) -> list[PositionRecord]:
        """The runs that had closed by the moment, as stored."""
        query = select(POSITIONS).where(POSITIONS.c.status == CLOSED, POSITIONS.c.closed_at <= self.at)
        return [converted(position_record(row, self.names, None), self.names, self.convert)
                for row in self.conn.execute(query) if self._wanted(row.account_id, row.strategy_id)]


def position_listing(
    uow: UnitOfWork, as_of: str | datetime, *, status: str | None = OPEN, strategy: str | None = None,
    account: str | None = None,
) -> PositionListing:
    """The positions open at the end of day `as_of` (status "closed": those closed by then; None: both),
    valued at the prices and rates of that moment (docs/ledger.md §17)."""
    at = as_of_moment(as_of)
    with uow.reading() as conn:
        moment = _Moment(conn, at, account, strategy)
        positions = (moment.open if status != CLOSED else []) + (moment.closed() if status != OPEN else [])
    positions.sort(key=lambda p: (p.symbol, p.account, p.opened_at, p.id))
    held = [p for p in positions if p.status == OPEN]
    convert = moment.convert
    involved = {p.currency for p in held if p.currency is not None} | {convert.to_ccy}
    return PositionListing(
        positions=positions, reporting_currency=convert.to_ccy,
        converted=bool(held) and (moment.chosen or len(involved) > 1),
        converted_market_value=valuation.sum_known(p.converted_market_value for p in held),
        converted_unrealized_pnl=valuation.sum_known(p.converted_unrealized_pnl for p in held),
        missing_rates=sorted(convert.rates.missing), as_of=at, trade_priced=sorted(moment.trade_priced),
    )


def summary(uow: UnitOfWork, as_of: str | datetime, *, account: str | None = None) -> Summary:
    """`summary` as it was at the end of day `as_of`: the open runs of that moment, the realized P&L
    and costs of the runs closed by then plus the open runs' so far, cash and income up to then,
    all converted at the rates of that moment (docs/ledger.md §17)."""
    at = as_of_moment(as_of)
    with uow.reading() as conn:
        moment = _Moment(conn, at, account)
        names, convert = moment.names, moment.convert
        strategy_names = names.strategies
        realized_costs: dict[str | None, tuple[Decimal | None, Decimal | None]] = {}

        def credit(strategy_id: int | None, realized: Decimal | None, costs: Decimal | None) -> None:
            name = strategy_names.get(strategy_id) if strategy_id else None
            old_realized, old_costs = realized_costs.get(name, (ZERO, ZERO))
            realized_costs[name] = (_plus(old_realized, realized), _plus(old_costs, costs))

        for strategy_id, symbol, account_id, realized, costs in conn.execute(_CLOSED_BY, {"at": at}):
            if moment.account_id is None or account_id == moment.account_id:
                currency = names.currencies.get(symbol) or names.account_currency(account_id)
                credit(strategy_id, convert(realized, currency), convert(costs, currency))
        for held in moment.held:
            currency = names.currencies.get(held.run.symbol) or names.account_currency(held.run.account_id)
            credit(held.strategy_id, convert(held.book.realized_pnl, currency), convert(held.book.run_costs, currency))
        positions = moment.open
        by_strategy: dict[str | None, list[PositionRecord]] = defaultdict(list)
        for position in positions:
            by_strategy[position.strategy].append(position)
        keys = sorted(set(realized_costs) | set(by_strategy), key=lambda k: (k is None, k or ""))
        lines = [_summary_line(key, by_strategy.get(key, []), *realized_costs.get(key, (ZERO, ZERO)), names, convert)
                 for key in keys]
        total = _summary_line(
            None, positions, valuation.sum_known(line.realized_pnl for line in lines),
            valuation.sum_known(line.costs for line in lines), names, convert,
        )
        by_account, cash, income = _accounts(conn, at, positions, convert, moment.account_id)
        cash_value = valuation.converted_total(cash, convert)
        unpriced = sorted({p.symbol for p in positions if p.market_value is None})
        return Summary(
            total=total, by_strategy=lines, unpriced_symbols=unpriced, reporting_currency=convert.to_ccy,
            cash=cash, cash_value=cash_value, income=valuation.converted_total(income, convert),
            total_value=_plus(total.market_value, cash_value), by_account=by_account,
            missing_rates=sorted(convert.rates.missing), as_of=at, trade_priced=sorted(moment.trade_priced),
        )


def _cash_at(conn: Connection, at: datetime) -> valuation.ByAccount:
    """Each account's cash per currency at `at` (zero balances left out)."""
    store = CashStore(conn)
    cash: valuation.ByAccount = {}
    for account_id, currency in conn.execute(_PAIRS).all():
        balance = store.balance_at(account_id, currency, at)
        if balance:
            cash.setdefault(account_id, {})[currency] = balance
    return cash


def _accounts(
    conn: Connection, at: datetime, positions: list[PositionRecord], convert: Converter, only: int | None
) -> tuple[list[AccountSummary], dict[str, Decimal], dict[str, Decimal]]:
    """Each account's line as of `at` (accounts that held nothing then left out), and the cash and
    income of all of them per currency."""
    return account_lines(conn, positions, convert, only, _cash_at(conn, at), valuation.income_by_account(conn, until=at),
                         keep_empty=lambda status: only is not None)
