"""What each account holds, valued: open positions, cash and income, for `account list` and `summary`.

Like the position list (services/positions.py), these read what does not grow with history:
the open positions with one price probe per open symbol, one rate probe per currency pair
(`fx.Rates`), the cash projection (`cash_balances`, kept by booking), and SQL sums of the
dividends and interest (docs/ledger.md §15).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, select

from stocksbot.ledger.numbers import ZERO, add, multiply, subtract
from stocksbot.services.fx import Converter, Rates, latest_close
from stocksbot.storage import tables
from stocksbot.storage.types import exact_sum
from stocksbot.vocabulary import INCOME_CASH_KINDS, LONG, OPEN

POSITIONS = tables.positions
ACCOUNTS = tables.accounts
INSTRUMENTS = tables.instruments
CASH = tables.cash_balances
DIVIDENDS = tables.dividends
MOVEMENTS = tables.cash_movements

#: account id -> currency -> amount
ByAccount = dict[int, dict[str, Decimal]]

_OPEN_POSITIONS = (
    select(POSITIONS.c.account_id, POSITIONS.c.symbol, POSITIONS.c.side, POSITIONS.c.quantity,
           INSTRUMENTS.c.currency)
    .select_from(POSITIONS.outerjoin(INSTRUMENTS, INSTRUMENTS.c.symbol == POSITIONS.c.symbol))
    .where(POSITIONS.c.status == OPEN)
)
_ACCOUNT_CURRENCIES = select(ACCOUNTS.c.id, ACCOUNTS.c.currency).order_by(ACCOUNTS.c.id)
_CASH = select(CASH.c.account_id, CASH.c.currency, CASH.c.balance)
_DIVIDENDS = select(
    DIVIDENDS.c.account_id, DIVIDENDS.c.currency, exact_sum(DIVIDENDS.c.gross), exact_sum(DIVIDENDS.c.tax),
    exact_sum(DIVIDENDS.c.fee),
).group_by(DIVIDENDS.c.account_id, DIVIDENDS.c.currency)
_INTEREST = (
    select(MOVEMENTS.c.account_id, MOVEMENTS.c.currency, exact_sum(MOVEMENTS.c.amount))
    .where(MOVEMENTS.c.kind.in_(INCOME_CASH_KINDS))
    .group_by(MOVEMENTS.c.account_id, MOVEMENTS.c.currency)
)


def market_value(side: str, quantity: Decimal, price: Decimal) -> Decimal:
    """What an open position is worth at `price`: q x price long, -(q x price) short (docs/ledger.md §6.2)."""
    worth = multiply(price, quantity)
    return worth if side == LONG else worth.copy_negate()


def sum_known(values: Iterable[Decimal | None]) -> Decimal | None:
    """The exact sum, or None when any value is unknown."""
    total = ZERO
    for value in values:
        if value is None:
            return None
        total = add(total, value)
    return total


def market_values_by_account(
    conn: Connection, at: datetime, rates: Rates | None = None
) -> dict[int, tuple[Decimal | None, int]]:
    """Each account's open positions valued at `at` in the ACCOUNT's currency, and their count.

    Every account is in the result (no open positions: 0 and 0). A position is worth its
    quantity times the close of its symbol's latest bar at or before `at` (short: negative),
    in its instrument's currency, converted at the latest rate at or before `at`. The value is
    None when any position of the account has no price or no rate (docs/ledger.md §15.4).
    """
    rates = rates if rates is not None else Rates(conn)
    currencies = {account_id: currency for account_id, currency in conn.execute(_ACCOUNT_CURRENCIES)}
    values: dict[int, list[Decimal | None]] = {account_id: [] for account_id in currencies}
    prices: dict[str, Decimal | None] = {}
    for account_id, symbol, side, quantity, instrument_currency in conn.execute(_OPEN_POSITIONS).all():
        if symbol not in prices:
            prices[symbol] = latest_close(conn, symbol, at)
        price = prices[symbol]
        account_currency = currencies[account_id]
        worth = market_value(side, quantity, price) if price is not None else None
        values[account_id].append(rates.convert(worth, instrument_currency or account_currency, account_currency, at))
    return {account_id: (sum_known(found), len(found)) for account_id, found in values.items()}


def cash_by_account(conn: Connection) -> ByAccount:
    """The cash projection as it is stored: each account's balance per currency (zero balances left out)."""
    cash: ByAccount = {}
    for account_id, currency, balance in conn.execute(_CASH):
        if balance:
            cash.setdefault(account_id, {})[currency] = balance
    return cash


def income_by_account(conn: Connection, until: datetime | None = None) -> ByAccount:
    """Income received, per account and currency: dividends net of tax and fee, and interest
    (only what was paid at or before `until`, when given: the summary as of a date)."""
    income: ByAccount = {}

    def credit(account_id: int, currency: str, amount: Decimal) -> None:
        amounts = income.setdefault(account_id, {})
        amounts[currency] = add(amounts.get(currency, ZERO), amount)

    dividends, interest = _DIVIDENDS, _INTEREST
    if until is not None:
        dividends, interest = dividends.where(DIVIDENDS.c.paid_at <= until), interest.where(MOVEMENTS.c.at <= until)
    for account_id, currency, gross, tax, fee in conn.execute(dividends):
        credit(account_id, currency, subtract(gross, add(tax or ZERO, fee or ZERO)))
    for account_id, currency, amount in conn.execute(interest):
        credit(account_id, currency, amount)
    return income


def converted_total(amounts: dict[str, Decimal], convert: Converter) -> Decimal | None:
    """The sum of amounts in several currencies, converted; None when a rate is missing."""
    return sum_known(convert(amount, currency) for currency, amount in sorted(amounts.items()))


def merge(parts: Iterable[dict[str, Decimal]]) -> dict[str, Decimal]:
    """Per-currency amounts added up, sorted by currency."""
    merged: dict[str, Decimal] = {}
    for part in parts:
        for currency, amount in part.items():
            merged[currency] = add(merged.get(currency, ZERO), amount)
    return dict(sorted(merged.items()))
