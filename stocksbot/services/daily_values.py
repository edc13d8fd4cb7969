"""The daily valuation: each local day's end value, external flows, income and costs (docs/ledger.md §18).

One pass over the history replays what is held: quantities per (account, symbol) through
trades, splits, symbol changes and share transfers (§11-§12), cash per currency through trade
settlements, dividends and cash movements with their implicit deposits (§13). The trades and
the price bars stream from the driver (`storage/streams.py`); the other events are read whole
(`storage/events.py`) and merged in booking order. At the end of each local day it writes
down a `Day` (§18.2-§18.3):

* value = sum of quantity x price (the close of the latest bar at or before the end of the
  day; with none, the latest trade price) + cash, converted to the reporting currency at the
  latest rate at or before the end of the day (services/fx.py's rule, on the same bars);
* inflows and outflows: deposits, withdrawals, implicit deposits, and cash or shares moved
  between an account in the scope and one outside it; for a strategy, what its runs' trades
  cost and brought in; income: dividends (gross) and interest; costs: commissions, fees,
  taxes (a dividend's tax and fee too).

Cost (§18.8): every trade, bar and other event is touched once, and each day that saw any
change sums quantity x price over the symbols held in the scope: linear in the rows and in
days x open positions, with no query per day. Arithmetic runs in one exact context (the
ledger's, docs/ledger.md §1.1), so the Decimal operators are exact and cheap.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Context, Decimal, Inexact, InvalidOperation, localcontext
from itertools import chain, compress, islice
from operator import mul, not_
from typing import Any, Callable

from stocksbot.collector import collector_paused
from stocksbot.ledger.numbers import ZERO, divide, prorate
from stocksbot.ledger.returns import Day
from stocksbot.storage.events import (
    DIVIDEND,
    MOVEMENT,
    RENAME,
    SPLIT,
    TRADE,
    TRANSFER,
    CashEntry,
    Keyed,
    SymbolChangeRecord,
)
from stocksbot.storage.records import DividendRecord, SplitRecord, TransferRecord
from stocksbot.storage.streams import DriverForm
from stocksbot.vocabulary import BUY, EXTERNAL_CASH_KINDS, IMPLICIT_DEPOSIT, INCOME_CASH_KINDS

ONE = Decimal(1)
#: The context of the pass: wide enough that +, - and x of ledger values never round, and
#: Inexact trapped so that one that would, fails loudly (as numbers.py's helpers do).
EXACT = Context(prec=1000, Emin=-999_999_999, Emax=999_999_999, traps=[Inexact, InvalidOperation])
_FLOW_KINDS = frozenset(EXTERNAL_CASH_KINDS + (IMPLICIT_DEPOSIT,))
_INCOME_KINDS = frozenset(INCOME_CASH_KINDS)
_TRANSFER_KINDS = frozenset(("transfer_in", "transfer_out"))
_CONVERSION_KINDS = frozenset(("convert_in", "convert_out"))
#: Trades taken from the stream at a time by `_scope_trades` (a stretch never spans two batches).
_STRETCH_BATCH = 10_000


def day_end(day: date) -> datetime:
    """The end of a local day (the start of the next one), in UTC (docs/ledger.md §1.5)."""
    return datetime.combine(day + timedelta(days=1), time()).astimezone().astimezone(timezone.utc)


@dataclass(frozen=True)
class Scope:
    """What is valued: some accounts (None: every account), optionally only a strategy's runs."""

    accounts: frozenset[int] | None = None
    strategy_id: int | None = None

    def has(self, account_id: int) -> bool:
        return self.accounts is None or account_id in self.accounts

    def holds(self, account_id: int, strategy_id: int | None) -> bool:
        return (self.accounts is None or account_id in self.accounts) and (
            self.strategy_id is None or strategy_id == self.strategy_id)


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
        amounts[currency] = amounts.get(currency, ZERO) + amount


def _add_into(amounts: dict[str, Decimal], more: Mapping[str, Decimal]) -> None:
    for currency, amount in more.items():
        amounts[currency] = amounts.get(currency, ZERO) + amount


@dataclass
class Valuation:
    """The result of a pass: the days of the range, the value before it, the rates missing."""

    days: list[Day]
    start_value: Decimal | None
    missing_rates: list[str]


@dataclass
class Share:
    """One day of a pass over part of the symbols (`services/valuation_split.py`), in each
    currency as it is, for the pass over the rest to add in: the market value of the holdings
    (None: a price is missing; also for the days before `--since`, which nothing values), the
    cash the part's trades moved since the start, and the day's flows, income and costs."""

    day: date
    market: dict[str, Decimal] | None
    cash: dict[str, Decimal]
    totals: _Totals


class DailyValuation:
    """Replays the history and writes down a `Day` for each local day from `first` to `last`.

    `first` None starts at the first day with an event in the scope (the value before it is
    0). `currencies` maps symbols to their instrument's currency, `account_ids` account names
    to ids (the other events carry names), `account_currencies` ids to currencies; `reporting`
    is the currency of the result. The trades are `storage/streams.trade_rows` rows: full ones
    for a strategy's scope, the short form otherwise (`per_account`).
    """

    def __init__(
        self, form: DriverForm, scope: Scope, reporting: str, currencies: Mapping[str, str],
        account_ids: Mapping[str, int], account_currencies: Mapping[int, str], first: date | None, last: date,
    ) -> None:
        self.form = form
        self.scope = scope
        self.reporting = reporting
        self.currencies = dict(currencies)
        self.account_ids = account_ids
        self.account_currencies = account_currencies
        self.first = first
        self.last = last
        self.holdings: dict[tuple[int, str], Decimal] = {}
        self.run_strategy: dict[tuple[int, str], int | None] = {}
        #: symbol -> quantity held in the scope (0 only until the next value drops it, `_valued`);
        #: currency -> cash of the accounts in the scope. Both give 0 for a missing key: the hot
        #: loop adds to them with a subscript.
        self.scoped: defaultdict[str, Decimal] = defaultdict(Decimal)
        #: symbol -> the close of its latest bar read: its text (a Decimal after a split)
        self.bar_close: dict[str, str | Decimal] = {}
        self.trade_price: dict[str, Decimal] = {}
        self.cash: defaultdict[str, Decimal] = defaultdict(Decimal)
        self.today = _Totals()
        self.changed = True  # anything that can move today's value since the last day written
        self.days: list[Day] = []
        self.start_value: Decimal | None = ZERO
        self.missing: dict[str, None] = {}
        self.range_start = first
        self._market_value: dict[str, Decimal] | None = {}
        #: A pass over part of the symbols hands its days to `sink`; the pass over the rest takes
        #: them from `partner` and adds them in (`services/valuation_split.py`, docs/ledger.md §18.8).
        self.sink: Callable[[Share], None] | None = None
        self.partner: Callable[[date], Share] | None = None
        self._day: date | None = None
        self._boundary: Any = None
        self._last_boundary = form.moment(day_end(last))
        #: The symbols that settle in the reporting currency and those that settle in another,
        #: and the size of `currencies` they were sorted at (`_sort_currencies`).
        self._home: set[str] = set()
        self._foreign: set[str] = set()
        self._currencies_seen = -1
        #: A strategy's scope follows each (account, symbol)'s runs; the others only need the
        #: quantity per symbol held in the scope's accounts.
        self.per_account = scope.strategy_id is not None

    # --- the pass ------------------------------------------------------------------------

    def run(self, trades: Iterator[tuple[Any, ...]], bars: Iterator[tuple[Any, ...]],
            others: Sequence[Keyed], firsts: Sequence[datetime]) -> Valuation:
        """Replay `trades` and `bars` (driver rows, `storage/streams.py`) and `others`
        (`storage/events.other_events`) and return the days. `firsts` are the moments of the
        first trade, bar and other event of the whole ledger (`storage/streams.first_moments`):
        a pass starts on the same day whichever part of the symbols it values."""
        moment = self.form.moment
        keyed = [((moment(key[0]), key[1], key[2]), event) for key, event in others]
        # A tuple per row read (two million at the benchmark's size), and no reference cycle.
        with collector_paused(), localcontext(EXACT):
            self._others = keyed
            self._other = 0
            self._bars = bars
            self._next_bar = next(bars, None)
            self._pending = next(trades, None)
            self._begin(firsts)
            if self.per_account:
                self._trades(trades)
            else:
                self._scope_trades(trades)
            self._advance(None)
        return Valuation(self.days, self.start_value, sorted(self.missing))

    def _begin(self, firsts: Sequence[datetime]) -> None:
        """The first day of the pass: that of the earliest event or bar (or the range's start)."""
        days = [moment.astimezone().date() for moment in firsts]
        if self.first is not None:
            days.append(self.first - timedelta(days=1))
        start = min(days) if days else self.last
        self._set_day(start)

    def _set_day(self, day: date) -> None:
        self._day = day
        self._boundary = self.form.moment(day_end(day))

    def _scope_trades(self, trades: Iterator[tuple[Any, ...]]) -> None:
        """The hot loop for the portfolio or some accounts, a stretch of trades at a time.

        A stretch is the trades of one batch read that lie between two stops (a day's end or an
        other event). Nothing looks at the holdings or the cash inside a stretch, so its trades
        are applied column by column with their sums taken in C (`_apply`, docs/ledger.md §18.8).
        """
        if self._pending is None:
            return
        rows = chain((self._pending,), trades)
        others = self._others
        while batch := list(islice(rows, _STRETCH_BATCH)):
            columns = tuple(zip(*batch))  # a batch's columns, each stretch a slice of them
            moments = columns[0]
            start, size = 0, len(batch)
            while start < size:
                at = moments[start]
                if at >= self._boundary:
                    self._advance(at)
                # The events of a moment come in kind order; no other event has the kind of a trade.
                if self._other < len(others) and others[self._other][0] < (at, TRADE, 0):
                    self._others_before((at, TRADE, 0))
                end = bisect_left(moments, self._boundary, start)
                if self._other < len(others):
                    other_at, kind, _id = others[self._other][0]
                    # The stretch stops before the next other event: before its moment when its
                    # kind sorts before a trade's, after the trades of its moment otherwise.
                    cut = bisect_left if kind < TRADE else bisect_right
                    end = cut(moments, other_at, start, end)
                self._apply(*(column[start:end] for column in columns[1:]))
                start = end

    def _apply(self, account_ids: tuple[int, ...], symbols: tuple[str, ...], changes: tuple[Any, ...],
               prices: tuple[Any, ...], commissions: tuple[Any, ...], fees: tuple[Any, ...]) -> None:
        """A stretch of trades in the portfolio's or some accounts' scope, column by column (driver
        values): the latest trade prices, the quantities held in the scope, and the cash and
        costs per currency.

        Every sum is exact (the pass's context), so taking it per stretch instead of per trade
        gives the same numbers."""
        number = self.form.number
        prices = tuple(map(number, prices))
        self.trade_price.update(zip(symbols, prices))
        self.changed = True  # a trade price can value a holding that has no bar
        accounts = self.scope.accounts
        if accounts is not None:
            inside = [account_id in accounts for account_id in account_ids]
            if not any(inside):
                return
            if not all(inside):
                account_ids, symbols, changes, prices, commissions, fees = (
                    tuple(compress(column, inside)) for column in (account_ids, symbols, changes, prices, commissions, fees))
        self.today.active = True
        changes = tuple(map(number, changes))  # the quantities, a sell's negative
        scoped = self.scoped
        for symbol, change in zip(symbols, changes):
            scoped[symbol] += change  # a holding that comes to 0 leaves in `_valued`
        zero = self.form.zero
        costs_today = self.today.costs
        self._sort_currencies()
        if self._home.issuperset(symbols):  # the usual stretch: all in the reporting currency
            currency = self.reporting
            costs = sum(map(number, filter(zero.__ne__, commissions)), ZERO) + sum(
                map(number, filter(zero.__ne__, fees)), ZERO)
            if costs:
                costs_today[currency] = costs_today.get(currency, ZERO) + costs
            self.cash[currency] -= sum(map(mul, changes, prices), ZERO) + costs
            return
        currencies, account_currencies, cash = self.currencies, self.account_currencies, self.cash
        for account_id, symbol, change, price, commission, fee in zip(
                account_ids, symbols, changes, prices, commissions, fees):
            try:
                currency = currencies[symbol]
            except KeyError:  # a symbol with no instrument row settles in its account's currency
                currency = currencies[symbol] = account_currencies[account_id]
            settled = -(change * price)
            if commission != zero or fee != zero:
                costs = number(commission) + number(fee)
                settled -= costs
                costs_today[currency] = costs_today.get(currency, ZERO) + costs
            cash[currency] += settled

    def _trades(self, trades: Iterator[tuple[Any, ...]]) -> None:
        """Every trade, per (account, symbol) and its run's strategy (a strategy's scope)."""
        row = self._pending
        if row is None:
            return
        number = self.form.number
        holdings, run_strategy, trade_price = self.holdings, self.run_strategy, self.trade_price
        others = self._others
        last_boundary = self._last_boundary
        for row in chain((row,), trades):
            at, trade_id, account_id, symbol, side, quantity, price, commission, fees, strategy_id, currency = row
            if at >= self._boundary:
                if at >= last_boundary:
                    break
                self._advance(at)
            if self._other < len(others) and others[self._other][0] < (at, TRADE, trade_id):
                self._others_before((at, TRADE, trade_id))
            quantity, price, commission, fees = number(quantity), number(price), number(commission), number(fees)
            self.currencies.setdefault(symbol, currency)
            trade_price[symbol] = price
            self.changed = True
            key = (account_id, symbol)
            before = holdings.get(key, ZERO)
            after = before + quantity if side == BUY else before - quantity
            holdings[key] = after
            old_strategy = run_strategy.get(key)
            if not before or (after and (before > 0) != (after > 0)):
                run_strategy[key] = strategy_id  # a new run (or the rest of a flip) is this trade's
            costs = commission + fees
            settled = (quantity * price - costs) if side != BUY else -(quantity * price) - costs
            self._strategy_trade(key, before, after, quantity, settled, costs, currency, old_strategy)

    def _strategy_trade(self, key: tuple[int, str], before: Decimal, after: Decimal, quantity: Decimal,
                        settled: Decimal, costs: Decimal, currency: str, old_strategy: int | None) -> None:
        """A trade seen from a strategy's runs: the part that is theirs is a flow (§18.3)."""
        account_id, symbol = key
        before_in = bool(before) and self.scope.holds(account_id, old_strategy)
        after_in = bool(after) and self.scope.holds(account_id, self.run_strategy.get(key))
        self._rescope(symbol, before if before_in else ZERO, after if after_in else ZERO)
        if not before_in and not after_in:
            return
        part, part_costs = settled, costs
        if before_in != after_in and before and after and (before > 0) != (after > 0):
            # A flip from one strategy's run into another's: the closing part is the old run's.
            closing = abs(before)
            mine = closing if before_in else quantity - closing
            part, part_costs = prorate(settled, mine, quantity), prorate(costs, mine, quantity)
        self.today.active = True
        _credit(self.today.costs, currency, part_costs)
        if part < 0:
            _credit(self.today.inflows, currency, -part)
        else:
            _credit(self.today.outflows, currency, part)

    def _rescope(self, symbol: str, old: Decimal, new: Decimal) -> None:
        """A holding's part in the scope went from `old` to `new`."""
        if old == new:
            return
        held = self.scoped.get(symbol, ZERO) - old + new
        if held:
            self.scoped[symbol] = held
        else:
            self.scoped.pop(symbol, None)

    def _others_before(self, key: tuple[Any, int, int] | None) -> None:
        """Apply the other events keyed before `key` (None: before the current day's end)."""
        others = self._others
        limit = key if key is not None else (self._boundary, -1, 0)
        while self._other < len(others) and others[self._other][0] < limit:
            (at, kind, _id), event = others[self._other]
            self._other += 1
            self.changed = True
            if kind == SPLIT:
                self._split(event)
            elif kind == RENAME:
                self._rename(event)
            elif kind == TRANSFER:
                self._transfer(event)
            elif kind == MOVEMENT:
                self._movement(event)
            elif kind == DIVIDEND:
                self._dividend(event)

    def _advance(self, moment: Any) -> None:
        """Close every day that ends at or before `moment` (None: through the last day)."""
        while self._day is not None and self._day <= self.last and (moment is None or moment >= self._boundary):
            self._others_before(None)
            self._read_bars()
            self._write_day(self._day)
            self._set_day(self._day + timedelta(days=1))

    def _read_bars(self) -> None:
        """Take in every bar before the end of the current day: its close's text (converted only
        when a value needs it, in `_close`). A row holds the bars of one timestamp and interval
        as "SYMBOL SYMBOL ..." and "CLOSE CLOSE ..." (`storage/streams.bar_rows`)."""
        bar, bars, boundary = self._next_bar, self._bars, self._boundary
        if bar is None or bar[0] >= boundary:
            return
        update = self.bar_close.update
        update(zip(bar[1].split(" "), bar[2].split(" ")))
        for bar in bars:
            if bar[0] >= boundary:
                self._next_bar = bar
                break
            update(zip(bar[1].split(" "), bar[2].split(" ")))
        else:
            self._next_bar = None
        self.changed = True

    # --- other events --------------------------------------------------------------------

    def _change(self, account_id: int, symbol: str, change: Decimal, strategy_id: int | None = None,
                *, opening: bool = False) -> None:
        """Change a holding by `change` (a split, a rename, a transfer); a run that starts takes `strategy_id`."""
        key = (account_id, symbol)
        before = self.holdings.get(key, ZERO)
        after = before + change
        old_strategy = self.run_strategy.get(key)
        if opening and not before:
            self.run_strategy[key] = strategy_id
        self.holdings[key] = after
        was_in = self.scope.holds(account_id, old_strategy)
        now_in = self.scope.holds(account_id, self.run_strategy.get(key))
        self._rescope(symbol, before if was_in else ZERO, after if now_in else ZERO)

    def _split(self, split: SplitRecord) -> None:
        symbol, numerator, denominator = split.symbol, Decimal(split.numerator), Decimal(split.denominator)
        if not self.per_account:
            if symbol in self.scoped:
                self.scoped[symbol] = prorate(self.scoped[symbol], numerator, denominator)
        for (account_id, held), quantity in list(self.holdings.items()):
            if held == symbol and quantity:
                self._change(account_id, symbol, prorate(quantity, numerator, denominator) - quantity)
        # Prices from before the split are in old units (docs/ledger.md §12.5). Bars are read at the
        # end of their day and a split applies from the start of its day, so every close read so
        # far is from before it.
        if symbol in self.bar_close:
            self.bar_close[symbol] = prorate(self._close(symbol), denominator, numerator)
        if symbol in self.trade_price:
            self.trade_price[symbol] = prorate(self.trade_price[symbol], denominator, numerator)

    def _rename(self, change: SymbolChangeRecord) -> None:
        old, new = change.old_symbol, change.new_symbol
        if new not in self.currencies and old in self.currencies:
            self.currencies[new] = self.currencies[old]
        if new not in self.bar_close and new not in self.trade_price:
            price = self._price(old)
            if price is not None:
                self.trade_price[new] = price
        if not self.per_account and old in self.scoped:
            self.scoped[new] = self.scoped.get(new, ZERO) + self.scoped.pop(old)
            if not self.scoped[new]:
                del self.scoped[new]
        for (account_id, held), quantity in list(self.holdings.items()):
            if held == old and quantity:
                strategy_id = self.run_strategy.get((account_id, old))
                self._change(account_id, old, -quantity)
                self._change(account_id, new, quantity, strategy_id, opening=True)

    def _transfer(self, transfer: TransferRecord) -> None:
        symbol = transfer.symbol
        source, target = self.account_ids[transfer.from_account], self.account_ids[transfer.to_account]
        if self.per_account:
            strategy_id = self.run_strategy.get((source, symbol))
            was_in = self.scope.holds(source, strategy_id)
            self._change(source, symbol, -transfer.quantity)
            self._change(target, symbol, transfer.quantity, strategy_id, opening=True)
            now_in = self.scope.holds(target, self.run_strategy.get((target, symbol)))
        else:
            was_in, now_in = self.scope.has(source), self.scope.has(target)
            self._rescope(symbol, ZERO, (transfer.quantity if now_in else ZERO) - (transfer.quantity if was_in else ZERO))
        if was_in == now_in:
            return
        # Shares crossing the scope's edge are a flow at their value then (docs/ledger.md §18.3).
        self.today.active = True
        price = self._price(symbol)
        currency = self.currencies.get(symbol, self.reporting)
        worth = transfer.quantity * price if price is not None else ZERO
        _credit(self.today.inflows if now_in else self.today.outflows, currency, worth)

    def _movement(self, entry: CashEntry) -> None:
        if self.scope.strategy_id is not None:
            return
        ids = [self.account_ids[row.account] for row in entry.rows]
        inside = [(row, account_id) for row, account_id in zip(entry.rows, ids) if self.scope.has(account_id)]
        if not inside:
            return
        self.today.active = True
        internal = len(inside) == len(entry.rows)  # both halves of a transfer in the scope
        today = self.today
        for row, _account_id in inside:
            currency, amount, kind = row.currency, row.amount, row.kind
            self.cash[currency] = self.cash.get(currency, ZERO) + amount
            if kind in _FLOW_KINDS or (kind in _TRANSFER_KINDS and not internal):
                if amount > 0:
                    _credit(today.inflows, currency, amount)
                else:
                    _credit(today.outflows, currency, -amount)
            elif kind in _INCOME_KINDS:
                _credit(today.income, currency, amount)
            elif kind not in _TRANSFER_KINDS and kind not in _CONVERSION_KINDS:  # fee, tax
                _credit(today.costs, currency, -amount)

    def _dividend(self, dividend: DividendRecord) -> None:
        currency = dividend.currency
        account_id = self.account_ids[dividend.account]
        if self.scope.strategy_id is not None:
            # The strategy of the run the account holds (or last held) in the symbol.
            if not self.scope.holds(account_id, self.run_strategy.get((account_id, dividend.symbol))):
                return
            if dividend.net > 0:  # paid out of the runs into the account's cash: an outflow
                _credit(self.today.outflows, currency, dividend.net)
            else:
                _credit(self.today.inflows, currency, -dividend.net)
        elif not self.scope.has(account_id):
            return
        else:
            self.cash[currency] = self.cash.get(currency, ZERO) + dividend.net
        self.today.active = True
        _credit(self.today.income, currency, dividend.gross)
        _credit(self.today.costs, currency, dividend.tax + dividend.fee)

    # --- days ----------------------------------------------------------------------------

    def _close(self, symbol: str) -> Decimal:
        close = self.bar_close[symbol]
        return close if isinstance(close, Decimal) else self.form.number(close)

    def _price(self, symbol: str) -> Decimal | None:
        return self._close(symbol) if symbol in self.bar_close else self.trade_price.get(symbol)

    def _rate(self, currency: str) -> Decimal | None:
        """services/fx.py's rule on the bars read so far: the latest CUR/REP close, else 1 / REP/CUR's."""
        if currency == self.reporting:
            return ONE
        direct, inverse = f"{currency}/{self.reporting}", f"{self.reporting}/{currency}"
        if direct in self.bar_close and self._close(direct) > 0:
            return self._close(direct)
        if inverse in self.bar_close and self._close(inverse) > 0:
            return divide(ONE, self._close(inverse))
        self.missing[f"{currency}/{self.reporting}"] = None
        return None

    def _convert(self, amounts: Mapping[str, Decimal]) -> Decimal | None:
        """The sum of `amounts` in the reporting currency; None when a rate is missing (every
        missing pair is noted, whatever the order of the currencies)."""
        total: Decimal | None = ZERO
        for currency, amount in amounts.items():
            if not amount:
                continue
            rate = self._rate(currency)
            if rate is None:
                total = None
            elif total is not None:
                total += amount if rate is ONE else amount * rate
        return total

    def _sort_currencies(self) -> None:
        """Keep `_home` and `_foreign` up to date with `currencies` (symbols are only ever added to it)."""
        currencies = self.currencies
        if len(currencies) != self._currencies_seen:
            self._currencies_seen = len(currencies)
            self._home = {symbol for symbol, currency in currencies.items() if currency == self.reporting}
            self._foreign = currencies.keys() - self._home

    def _market(self) -> dict[str, Decimal] | None:
        """The market value of the holdings in the scope now, per currency (the reporting one
        first); None when a price is missing. Computed again only after something changed."""
        if not self.changed:
            return self._market_value
        self.changed = False
        closes, trade_prices, currencies = self.bar_close, self.trade_price, self.currencies
        reporting, number = self.reporting, self.form.number
        scoped = self.scoped
        if not all(scoped.values()):  # holdings that came to 0 in `_apply` leave, once a day
            for symbol in list(compress(scoped, map(not_, scoped.values()))):
                del scoped[symbol]
        self._sort_currencies()
        if closes.keys() >= scoped.keys() and self._foreign.isdisjoint(scoped):
            # The usual day: every symbol held has a bar and settles in the reporting
            # currency. The same exact sum of quantity x close as the loop below, in the
            # same order, without a Python step per position (docs/ledger.md §18.8).
            self._market_value = {reporting: sum(
                map(mul, scoped.values(), map(number, map(closes.__getitem__, scoped))), ZERO)}
            return self._market_value
        market = {reporting: ZERO}
        for symbol, quantity in scoped.items():
            price = closes.get(symbol)
            if price is not None:
                price = number(price)
            else:
                price = trade_prices.get(symbol)
                if price is None:
                    self._market_value = None
                    return None
            currency = currencies.get(symbol, reporting)
            market[currency] = market.get(currency, ZERO) + quantity * price
        self._market_value = market
        return market

    def _valued(self, share: Share | None) -> Decimal | None:
        """Market value + cash in the reporting currency now, with the other part's `share` of
        the symbols when there is one; None when a price or rate is missing."""
        market = self._market()
        if market is None:
            return None
        amounts = dict(self.cash)
        _add_into(amounts, market)
        if share is not None:
            if share.market is None:
                return None
            _add_into(amounts, share.cash)
            _add_into(amounts, share.market)
        return self._convert(amounts)

    def _write_day(self, day: date) -> None:
        today, self.today = self.today, _Totals()
        if self.sink is not None:  # a part of the symbols: its day goes to the other pass as it is
            wanted = self.first is None or day >= self.first - timedelta(days=1)
            self.sink(Share(day, self._market() if wanted else None, dict(self.cash), today))
            return
        share = self.partner(day) if self.partner is not None else None
        if share is not None:
            theirs = share.totals
            for mine, more in ((today.inflows, theirs.inflows), (today.outflows, theirs.outflows),
                               (today.income, theirs.income), (today.costs, theirs.costs)):
                _add_into(mine, more)
            today.active = today.active or theirs.active
        if self.range_start is None:
            if not today.active:
                return
            self.range_start = day  # nothing in the scope before: the start value is 0
        if day < self.range_start:
            if day == self.range_start - timedelta(days=1):
                self.start_value = self._valued(share)
            return
        value = self._valued(share)
        flows = [self._convert(amounts) for amounts in (today.inflows, today.outflows, today.income, today.costs)]
        if any(amount is None for amount in flows):
            value = None  # a flow that cannot be converted: the day cannot be measured
        known = [ZERO if amount is None else amount for amount in flows]
        self.days.append(Day(day, value, inflows=known[0], outflows=known[1], income=known[2], costs=known[3]))
