"""The daily valuation: each local day's end value, external flows, income and costs (docs/ledger.md §16).

One pass over the history (`storage/history.py`: every ledger event in booking order merged
with every price bar) replays what is held: quantities per (account, symbol) through trades,
splits, symbol changes and share transfers (§11-§12), cash per (account, currency) through
trade settlements, dividends and cash movements with their implicit deposits (§13). At the
end of each local day in the range it writes down a `Day`:

* value = sum of quantity x price (the close of the latest bar at or before the end of the
  day; with none, the latest trade price) + cash, converted to the reporting currency at the
  latest rate at or before the end of the day (services/fx.py's rule, read from the same
  stream);
* inflows and outflows: deposits, withdrawals, implicit deposits, and cash or shares moved
  between an account in the scope and one outside it; income: dividends (gross) and
  interest; costs: commissions, fees and taxes (a dividend's tax and fee too).

The market value is kept as a running sum per currency, changed only when a quantity or a
price changes, so a day costs as much as its events and bars plus one conversion per
currency, and the whole pass is linear in the events, the bars and the days.

A strategy's scope (`strategy`) is the runs (positions) it holds: their value, without
cash; a buy of such a run is an inflow of what it cost, a sell an outflow of what it
brought in, and a dividend on it is income paid out (an outflow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from stocksbot.ledger.numbers import ZERO, add, divide, multiply, prorate, subtract
from stocksbot.ledger.returns import Day
from stocksbot.storage.events import (
    DIVIDEND,
    MOVEMENT,
    RENAME,
    SPLIT,
    TRADE,
    TRANSFER,
    CashEntry,
    SymbolChangeRecord,
)
from stocksbot.storage.history import BAR, DriverForm
from stocksbot.storage.records import DividendRecord, SplitRecord, TransferRecord
from stocksbot.vocabulary import BUY, EXTERNAL_CASH_KINDS, IMPLICIT_DEPOSIT, INCOME_CASH_KINDS, TRANSFER_CASH_KINDS

ONE = Decimal(1)
_FLOW_KINDS = frozenset(EXTERNAL_CASH_KINDS + (IMPLICIT_DEPOSIT,))
_INCOME_KINDS = frozenset(INCOME_CASH_KINDS)
_TRANSFER_KINDS = frozenset(("transfer_in", "transfer_out"))
assert _TRANSFER_KINDS <= set(TRANSFER_CASH_KINDS)


def day_end(day: date) -> datetime:
    """The end of a local day (the start of the next one), in UTC (docs/ledger.md §1.5)."""
    return datetime.combine(day + timedelta(days=1), time()).astimezone().astimezone(timezone.utc)


def local_day(moment: datetime) -> date:
    return moment.astimezone().date()


@dataclass(frozen=True)
class Scope:
    """What is valued: some accounts (None: every account), optionally only a strategy's runs."""

    accounts: frozenset[str] | None = None
    strategy_id: int | None = None

    def holds(self, account: str, strategy_id: int | None) -> bool:
        if self.accounts is not None and account not in self.accounts:
            return False
        return self.strategy_id is None or strategy_id == self.strategy_id

    def has_account(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts


@dataclass
class Holding:
    """An (account, symbol): its signed quantity (short < 0) and the strategy of its run."""

    quantity: Decimal = ZERO
    strategy_id: int | None = None


@dataclass
class _Totals:
    """One day's flows, income and costs, per currency."""

    inflows: dict[str, Decimal] = field(default_factory=dict)
    outflows: dict[str, Decimal] = field(default_factory=dict)
    income: dict[str, Decimal] = field(default_factory=dict)
    costs: dict[str, Decimal] = field(default_factory=dict)
    active: bool = False


def _credit(amounts: dict[str, Decimal], currency: str, amount: Decimal) -> None:
    if amount:
        amounts[currency] = add(amounts.get(currency, ZERO), amount)


@dataclass
class Valuation:
    """The result of a pass: the days of the range, the value before it, what could not be priced."""

    days: list[Day]
    start_value: Decimal | None
    missing_rates: list[str]


class DailyValuation:
    """Replays the stream and writes down a `Day` for each local day from `first` to `last`.

    `first` None starts at the first day with an event in the scope. `currencies` maps
    symbols to their instrument's currency; `reporting` is the currency of the result.
    """

    def __init__(
        self, form: DriverForm, scope: Scope, reporting: str, currencies: Mapping[str, str],
        account_names: Mapping[int, str], account_currencies: Mapping[str, str],
        first: date | None, last: date,
    ) -> None:
        self.form = form
        self.scope = scope
        self.reporting = reporting
        self.currencies = dict(currencies)
        self.account_names = account_names
        self.account_currencies = account_currencies
        self.first = first
        self.last = last
        self.holdings: dict[tuple[str, str], Holding] = {}
        self.scoped: dict[str, Decimal] = {}  # symbol -> quantity held in the scope
        self.worth: dict[str, Decimal] = {}  # symbol -> scoped quantity x price, in its currency
        self.market: dict[str, Decimal] = {}  # currency -> sum of worth
        self.unpriced: set[str] = set()
        self.bar_close: dict[str, Decimal] = {}
        self.bar_moment: dict[str, Any] = {}
        self.trade_price: dict[str, Decimal] = {}
        self.cash: dict[str, Decimal] = {}  # currency -> cash of the accounts in the scope
        self.today = _Totals()
        self.days: list[Day] = []
        self.start_value: Decimal | None = ZERO
        self.missing: dict[str, None] = {}
        self._day: date | None = None
        self._boundary: Any = None
        #: The first day of the range: `first`, else the first day with an event in the scope.
        self.range_start = first
        if first is not None:
            self._start(first - timedelta(days=1))

    # --- prices and values ---------------------------------------------------------------

    def currency_of(self, symbol: str, account: str) -> str:
        found = self.currencies.get(symbol)
        if found is None:
            found = self.currencies[symbol] = self.account_currencies.get(account, self.reporting)
        return found

    def price(self, symbol: str) -> Decimal | None:
        close = self.bar_close.get(symbol)
        return close if close is not None else self.trade_price.get(symbol)

    def _revalue(self, symbol: str) -> None:
        quantity = self.scoped.get(symbol, ZERO)
        old = self.worth.pop(symbol, ZERO)
        self.unpriced.discard(symbol)
        new = ZERO
        if quantity:
            price = self.price(symbol)
            if price is None:
                self.unpriced.add(symbol)
            else:
                new = multiply(quantity, price)
                self.worth[symbol] = new
        if old != new:
            currency = self.currencies.get(symbol, self.reporting)
            self.market[currency] = add(subtract(self.market.get(currency, ZERO), old), new)

    def _move(self, account: str, symbol: str, change: Decimal, strategy_id: int | None = None,
              *, opening_strategy: bool = False) -> Holding:
        """Change a holding by `change`; a run that starts (or flips) takes `strategy_id`."""
        holding = self.holdings.get((account, symbol))
        if holding is None:
            holding = self.holdings[(account, symbol)] = Holding()
        before = holding.quantity
        was_in = before and self.scope.holds(account, holding.strategy_id)
        after = add(before, change)
        if opening_strategy and (not before or (before > 0) != (after > 0)):
            holding.strategy_id = strategy_id
        holding.quantity = after
        now_in = after and self.scope.holds(account, holding.strategy_id)
        if was_in or now_in:
            scoped = self.scoped.get(symbol, ZERO)
            if was_in:
                scoped = subtract(scoped, before)
            if now_in:
                scoped = add(scoped, after)
            self.scoped[symbol] = scoped
            self._revalue(symbol)
        return holding

    # --- the stream ----------------------------------------------------------------------

    def run(self, stream: Iterable[tuple[tuple[Any, int, int], Any]]) -> Valuation:
        number = self.form.number
        last_boundary = self.form.moment(day_end(self.last))
        for (moment, kind, _id), item in stream:
            if moment >= last_boundary:
                break
            if self._boundary is not None and moment >= self._boundary:
                self._close_days(moment)
            if kind == BAR:
                _at, symbol, close = item
                value = number(close)
                self.bar_close[symbol] = value
                self.bar_moment[symbol] = moment
                if symbol in self.scoped:
                    self._revalue(symbol)
            elif kind == TRADE:
                self._trade(item, number)
            elif kind == SPLIT:
                self._split(item, moment)
            elif kind == RENAME:
                self._rename(item)
            elif kind == TRANSFER:
                self._transfer(item)
            elif kind == MOVEMENT:
                self._movement(item)
            elif kind == DIVIDEND:
                self._dividend(item)
            if self._day is None and self.today.active:
                self.range_start = self._day_of(moment)  # nothing was held before: start value 0
                self._start(self.range_start)
        self._close_days(None)
        return Valuation(self.days, self.start_value, list(self.missing))

    def _activity(self) -> None:
        self.today.active = True

    def _trade(self, row: Sequence[Any], number: Callable[[Any], Decimal]) -> None:
        _at, _id, account_id, symbol, side, quantity, price, commission, fees, strategy_id = row
        account = self.account_names[account_id]
        quantity, price = number(quantity), number(price)
        commission, fees = number(commission), number(fees)
        currency = self.currency_of(symbol, account)
        self.trade_price[symbol] = price
        holding = self.holdings.get((account, symbol))
        before = holding.quantity if holding is not None else ZERO
        before_in = bool(before) and holding is not None and self.scope.holds(account, holding.strategy_id)
        change = quantity if side == BUY else quantity.copy_negate()
        holding = self._move(account, symbol, change, strategy_id, opening_strategy=True)
        if symbol in self.scoped and symbol not in self.bar_close:
            self._revalue(symbol)  # valued at the latest trade price
        costs = add(commission, fees)
        gross = multiply(quantity, price)
        settled = subtract(gross, costs) if side != BUY else subtract(gross.copy_negate(), costs)
        if self.scope.strategy_id is None:
            if self.scope.has_account(account):
                self._activity()
                self.cash[currency] = add(self.cash.get(currency, ZERO), settled)
                _credit(self.today.costs, currency, costs)
            return
        # A strategy's runs hold no cash: the part of the trade that is theirs is a flow (§16.3).
        after = holding.quantity
        after_in = bool(after) and self.scope.holds(account, holding.strategy_id)
        if not before_in and not after_in:
            return
        part, part_costs = settled, costs
        if before_in != after_in and before and after and (before > 0) != (after > 0):
            # A flip from one strategy's run into another's: the closing part is the old run's.
            closing = abs(before)
            mine = closing if before_in else subtract(quantity, closing)
            part, part_costs = prorate(settled, mine, quantity), prorate(costs, mine, quantity)
        self._activity()
        _credit(self.today.costs, currency, part_costs)
        if part < 0:
            _credit(self.today.inflows, currency, part.copy_negate())
        else:
            _credit(self.today.outflows, currency, part)

    def _split(self, split: SplitRecord, moment: Any) -> None:
        symbol = split.symbol
        for (account, held), holding in list(self.holdings.items()):
            if held == symbol and holding.quantity:
                new = prorate(holding.quantity, Decimal(split.numerator), Decimal(split.denominator))
                self._move(account, symbol, subtract(new, holding.quantity))
        # Prices from before the split are in old units (docs/ledger.md §12.5).
        if symbol in self.bar_close and self.bar_moment[symbol] < moment:
            self.bar_close[symbol] = prorate(self.bar_close[symbol], Decimal(split.denominator),
                                             Decimal(split.numerator))
        if symbol in self.trade_price:
            self.trade_price[symbol] = prorate(self.trade_price[symbol], Decimal(split.denominator),
                                               Decimal(split.numerator))
        if symbol in self.scoped:
            self._revalue(symbol)

    def _rename(self, change: SymbolChangeRecord) -> None:
        old, new = change.old_symbol, change.new_symbol
        if new not in self.currencies and old in self.currencies:
            self.currencies[new] = self.currencies[old]
        if new not in self.bar_close and new not in self.trade_price:
            price = self.price(old)
            if price is not None:
                self.trade_price[new] = price
        for (account, held), holding in list(self.holdings.items()):
            if held == old and holding.quantity:
                quantity, strategy_id = holding.quantity, holding.strategy_id
                self._move(account, old, quantity.copy_negate())
                self._move(account, new, quantity, strategy_id, opening_strategy=True)

    def _transfer(self, transfer: TransferRecord) -> None:
        symbol = transfer.symbol
        source = self.holdings.get((transfer.from_account, symbol))
        strategy_id = source.strategy_id if source is not None else None
        was_in = self.scope.holds(transfer.from_account, strategy_id)
        self._move(transfer.from_account, symbol, transfer.quantity.copy_negate())
        target = self._move(transfer.to_account, symbol, transfer.quantity, strategy_id, opening_strategy=True)
        now_in = self.scope.holds(transfer.to_account, target.strategy_id)
        if was_in == now_in:
            return
        # Shares crossing the scope's edge are a flow at their value then (docs/ledger.md §16.3).
        price = self.price(symbol)
        currency = self.currency_of(symbol, transfer.from_account)
        self._activity()
        if price is None:
            self.unpriced.add(symbol)
            return
        worth = multiply(transfer.quantity, price)
        _credit(self.today.inflows if now_in else self.today.outflows, currency, worth)

    def _movement(self, entry: CashEntry) -> None:
        if self.scope.strategy_id is not None:
            return
        inside = [row for row in entry.rows if self.scope.has_account(row.account)]
        if not inside:
            return
        self._activity()
        internal = len(inside) == len(entry.rows)  # both halves of a transfer in the scope
        for row in inside:
            currency, amount = row.currency, row.amount
            self.cash[currency] = add(self.cash.get(currency, ZERO), amount)
            kind = row.kind
            if kind in _FLOW_KINDS or (kind in _TRANSFER_KINDS and not internal):
                if amount > 0:
                    _credit(self.today.inflows, currency, amount)
                else:
                    _credit(self.today.outflows, currency, amount.copy_negate())
            elif kind in _INCOME_KINDS:
                _credit(self.today.income, currency, amount)
            elif kind not in TRANSFER_CASH_KINDS:  # fee, tax
                _credit(self.today.costs, currency, amount.copy_negate())

    def _dividend(self, dividend: DividendRecord) -> None:
        currency = dividend.currency
        if self.scope.strategy_id is not None:
            holding = self.holdings.get((dividend.account, dividend.symbol))
            if holding is None or not self.scope.holds(dividend.account, holding.strategy_id):
                return
            self._activity()  # paid out of the runs into the account's cash: an outflow
            if dividend.net > 0:
                _credit(self.today.outflows, currency, dividend.net)
            else:
                _credit(self.today.inflows, currency, dividend.net.copy_negate())
        elif not self.scope.has_account(dividend.account):
            return
        else:
            self._activity()
            self.cash[currency] = add(self.cash.get(currency, ZERO), dividend.net)
        _credit(self.today.income, currency, dividend.gross)
        _credit(self.today.costs, currency, add(dividend.tax, dividend.fee))

    # --- days ----------------------------------------------------------------------------

    def _start(self, day: date) -> None:
        """Begin writing days at `day` (the range's first day, or the day before it)."""
        self._day = day
        self._boundary = self.form.moment(day_end(day))

    def _close_days(self, moment: Any) -> None:
        """Write down every day that ends at or before `moment` (None: through the last day)."""
        if self._day is None:
            return
        while self._day <= self.last and (moment is None or moment >= self._boundary):
            self._write_day(self._day)
            self._day += timedelta(days=1)
            self._boundary = self.form.moment(day_end(self._day))

    @staticmethod
    def _day_of(moment: Any) -> date:
        if isinstance(moment, datetime):
            return local_day(moment)
        return local_day(datetime.fromisoformat(str(moment)).replace(tzinfo=timezone.utc))

    def _convert(self, amounts: Mapping[str, Decimal]) -> Decimal | None:
        total = ZERO
        for currency, amount in amounts.items():
            if not amount:
                continue
            rate = self._rate(currency)
            if rate is None:
                return None
            total = add(total, amount if rate is ONE else multiply(amount, rate))
        return total

    def _rate(self, currency: str) -> Decimal | None:
        """services/fx.py's rule on the stream: the latest CUR/REP close, else 1 / REP/CUR's."""
        if currency == self.reporting:
            return ONE
        direct = self.bar_close.get(f"{currency}/{self.reporting}")
        if direct:
            return direct
        inverse = self.bar_close.get(f"{self.reporting}/{currency}")
        if inverse:
            return divide(ONE, inverse)
        self.missing[f"{currency}/{self.reporting}"] = None
        return None

    def _write_day(self, day: date) -> None:
        today, self.today = self.today, _Totals()
        value: Decimal | None = None
        if not self.unpriced:
            market = self._convert(self.market)
            cash = self._convert(self.cash)
            value = add(market, cash) if market is not None and cash is not None else None
        if self.range_start is not None and day < self.range_start:
            self.start_value = value
            return
        flows = [self._convert(amounts) for amounts in (today.inflows, today.outflows, today.income, today.costs)]
        known = [ZERO if amount is None else amount for amount in flows]
        if any(amount is None for amount in flows):
            value = None  # a flow that cannot be converted: the day cannot be measured
        self.days.append(Day(day, value, inflows=known[0], outflows=known[1], income=known[2], costs=known[3]))
