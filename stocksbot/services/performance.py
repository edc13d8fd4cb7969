"""`performance`: returns of the portfolio, some accounts or a strategy, per interval and in total.

The daily valuation (`services/daily_values.py`) gives one `Day` per local day of the range;
the pure returns math (`ledger/returns.py`) turns them into TWR, IRR, P&L and drawdown per
interval and for the whole range. The rules are docs/ledger.md §18 (Performance).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from stocksbot.errors import StocksbotError
from stocksbot.ledger.inputs import parse_currency, parse_time
from stocksbot.ledger.returns import DAY_COUNTS, INTERVALS, Day, Period
from stocksbot.ledger.returns import performance as returns_of
from stocksbot.services.daily_values import DailyValuation, Scope, day_end
from stocksbot.services.fx import reporting_currency
from stocksbot.services.valuation_split import may_split, second_part, second_process, split_events
from stocksbot.storage import tables
from stocksbot.storage.events import other_events
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.streams import DriverForm, bar_rows, first_moments, trade_rows
from stocksbot.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class PerformanceReport:
    """Rows per interval, the total row (None when nothing was held), and what they rest on."""

    currency: str
    interval: str
    day_count: str
    rows: list[Period]
    total: Period | None
    #: Every day of the range (what `--chart` draws), and the value before the first.
    days: list[Day] = field(default_factory=list)
    start_value: Decimal | None = None
    #: Exchange-rate pairs a conversion needed and found no bar for.
    missing_rates: list[str] = field(default_factory=list)
    #: Set when nothing was held and nothing moved in the range ("no holdings between ...").
    empty: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": [row.to_json() for row in self.rows],
            "total": self.total.to_json() if self.total is not None else None,
            "currency": self.currency, "interval": self.interval, "day_count": self.day_count,
            "missing_rates": self.missing_rates,
        }


def _local_date(text: str | date | datetime, option: str) -> date:
    """A date option: the local calendar day it names (performance works in whole days)."""
    if isinstance(text, date) and not isinstance(text, datetime):
        return text
    return parse_time(text, field=option).astimezone().date()


def performance(
    uow: UnitOfWork,
    *,
    accounts: Sequence[str] = (),
    strategy: str | None = None,
    since: str | date | None = None,
    until: str | date | None = None,
    interval: str = "month",
    currency: str | None = None,
    day_count: str | int | float | Decimal = "365",
) -> PerformanceReport:
    """TWR, IRR, P&L, income, costs and max drawdown per interval and for the whole range.

    `accounts` narrows to those accounts (default: the whole portfolio, where transfers
    between own accounts cancel); `strategy` to the runs that strategy holds. `since` and
    `until` are local days, both included in full (default: the first day anything in the
    scope happened, and today). See docs/ledger.md §18.
    """
    if interval not in INTERVALS:
        raise StocksbotError(f"unknown interval {interval!r}: use one of {', '.join(INTERVALS)}")
    basis = str(day_count)
    if basis not in DAY_COUNTS:
        raise StocksbotError(f"unknown day count {basis!r}: use 365 (ACT/365) or 365.25 (ACT/365.25)")
    first = _local_date(since, "--since") if since is not None else None
    last = _local_date(until, "--until") if until is not None else date.today()
    if first is not None and first > last:
        raise StocksbotError(f"--since {first.isoformat()} is after --until {last.isoformat()}")
    split = may_split(uow, strategy)
    with uow.reading() as conn, ExitStack() as second, ExitStack() as hold:
        # Two processes must start reading inside the hold (services/valuation_split.py).
        held = split and hold.enter_context(uow.writers_held())
        repos = Repositories(conn)
        chosen = frozenset(repos.accounts.require(name).name for name in accounts) if accounts else None
        strategy_id = repos.strategies.require_id(strategy) if strategy is not None else None
        target = parse_currency(currency, field="--currency") if currency is not None else reporting_currency(conn)[0]
        names = repos.accounts.names()
        currencies = {row.symbol: row.currency for row in conn.execute(
            select(tables.instruments.c.symbol, tables.instruments.c.currency))}
        form = DriverForm(conn)
        ids = {name: account_id for account_id, name in names.items()}
        scope = Scope(frozenset(ids[name] for name in chosen) if chosen is not None else None, strategy_id)
        account_currencies = {row.id: row.currency for row in conn.execute(
            select(tables.accounts.c.id, tables.accounts.c.currency))}
        valuation = DailyValuation(form, scope, target, currencies, ids, account_currencies, first, last)
        end = day_end(last)
        until = form.moment(end)
        others = [item for item in other_events(conn, names) if item[0][0] < end]
        firsts = first_moments(conn, end) + [key[0] for key, _event in others[:1]]
        theirs = second_part(conn, others) if held else None
        part = None
        if theirs is not None:
            ours, their_events = split_events(others, theirs)
            valuation.partner = second.enter_context(
                second_process(uow, valuation, their_events, firsts, until, theirs))
            if valuation.partner is not None:
                others, part = ours, replace(theirs, inside=False)
        hold.close()
        with trade_rows(conn, until, full=valuation.per_account, part=part) as trades, \
                bar_rows(conn, until, part) as bars:
            result = valuation.run(trades, bars, others, firsts)
    days = result.days
    if _nothing_held(days, result.start_value):
        begin = first if first is not None else (days[0].day if days else last)
        return PerformanceReport(target, interval, basis, [], None, [], result.start_value, result.missing_rates,
                                 empty=f"no holdings between {begin.isoformat()} and {last.isoformat()}")
    rows, total = returns_of(days, result.start_value, interval, basis)
    return PerformanceReport(target, interval, basis, rows, total, days, result.start_value, result.missing_rates)


def _nothing_held(days: Sequence[Day], start_value: Decimal | None) -> bool:
    """No value at any moment and nothing moving in or out: there is nothing to measure."""
    if start_value is None or start_value:
        return False
    return all(day.value is not None and not day.value and not day.inflows and not day.outflows
               and not day.income and not day.costs for day in days)
