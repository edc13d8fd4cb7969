"""`report realized`: every closed lot portion with its holding period and term, and totals.

The portions are stored by booking in `lot_closings` (the same matching that booked the
trades, with the figures of `ledger/realized.py`), so the report is one read of a range of
closing times, with no replay; the report's rules are docs/ledger.md §17.3.
Not tax advice: the term is stocksbot's 365-day rule (docs/ledger.md §17.3), amounts stay in each instrument's currency.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timezone
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, select

from stocksbot import settings
from stocksbot.collector import collector_paused
from stocksbot.errors import StocksbotError
from stocksbot.ledger.numbers import total
from stocksbot.ledger.realized import LONG_TERM, SHORT_TERM, days_held, local_day, term
from stocksbot.storage import tables
from stocksbot.storage.closings import closed_portions
from stocksbot.storage.history import History
from stocksbot.storage.records import RealizedReport, RealizedRow, RealizedTotal
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork

_INSTRUMENT_CURRENCIES = select(tables.instruments.c.symbol, tables.instruments.c.currency)
_ACCOUNTS = select(tables.accounts.c.id, tables.accounts.c.name, tables.accounts.c.currency)
_PROCEEDS, _COST, _GAIN = attrgetter("proceeds"), attrgetter("cost"), attrgetter("gain")


def new_year(year: int) -> datetime:
    """The start of 1 January of `year`, local time, in UTC."""
    return datetime.combine(date(year, 1, 1), time()).astimezone().astimezone(timezone.utc)


def history(conn: Connection) -> History:
    """The in-memory replay of the ledger with the configured cost-basis method (docs/ledger.md §4.1)."""
    method = settings.known_value("accounting.cost_basis", Repositories(conn).config.text("accounting.cost_basis"))
    return History(conn, str(method))


def realized(uow: UnitOfWork, *, year: int | None = None, account: str | None = None) -> RealizedReport:
    """Every lot portion closed (in `year`, local time, when given; of `account`, or of every account),
    with acquired and sold times, quantity, proceeds, cost, gain, days held and term, and the
    totals per term and currency (per year too when no year is given). docs/ledger.md §17."""
    if year is not None and not 1 <= year <= 9998:
        raise StocksbotError(f"--year must be a year such as 2024, got {year}")
    with uow.reading() as conn:
        repos = Repositories(conn)
        account_id = repos.accounts.require(account).id if account is not None else None
        since, until = (new_year(year), new_year(year + 1)) if year is not None else (None, None)
        accounts = {row.id: (row.name, row.currency) for row in conn.execute(_ACCOUNTS)}
        currencies = {symbol: currency for symbol, currency in conn.execute(_INSTRUMENT_CURRENCIES)}
        with collector_paused():  # a record per portion (over 100,000 in a year), no cycles
            rows = [_row(closing, accounts, currencies) for closing in closed_portions(conn, since, until, account_id)]
            totals = _totals(rows, by_year=year is None, year=year)
    return RealizedReport(rows=rows, totals=totals, year=year, account=account)


def _row(closing: Any, accounts: dict[int, tuple[str, str]], currencies: dict[str, str]) -> RealizedRow:
    account_id, symbol, acquired, sold, quantity, proceeds, cost, gain, side, opener, trade_id = closing
    days = days_held(acquired, sold)
    name, account_currency = accounts[account_id]
    return RealizedRow(name, symbol, acquired, sold, quantity, proceeds, cost, gain, days, term(days), side,
                       currencies.get(symbol, account_currency), opener, trade_id)


def _totals(rows: list[RealizedRow], *, by_year: bool, year: int | None) -> list[RealizedTotal]:
    """Per term and currency (the year's, or every year's with `year` None); with `by_year`, per
    (year, term, currency) as well, before the overall totals."""
    groups: dict[tuple[int | None, str, str], list[RealizedRow]] = defaultdict(list)
    for row in rows:
        groups[(year, row.term, row.currency)].append(row)
        if by_year:
            groups[(local_day(row.sold_at).year, row.term, row.currency)].append(row)
    order = {SHORT_TERM: 0, LONG_TERM: 1}
    keys = sorted(groups, key=lambda key: (key[0] is None, key[0] or 0, key[2], order[key[1]]))
    return [RealizedTotal(year=key[0], term=key[1], currency=key[2], portions=len(groups[key]),
                          proceeds=total(map(_PROCEEDS, groups[key])), cost=total(map(_COST, groups[key])),
                          gain=total(map(_GAIN, groups[key]))) for key in keys]
