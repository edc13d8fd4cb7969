"""Exchange rates and the reporting currency (docs/ledger.md §15).

A rate is a price bar of a pair symbol: `EUR/USD` closing at 1.1 says that 1 EUR is worth
1.1 USD. The rate from EUR to USD at a moment is the close of the latest `EUR/USD` bar at or
before it; when there is none, the inverse of the latest `USD/EUR` close; when neither pair
has a bar, the rate is unknown and so is every figure converted with it (None, shown as
unknown), never 0. Rates are exact decimals: an inverse is `divide(1, close)`, which keeps
20 decimal places when the quotient repeats.

Each lookup is one index probe of the price bars (the same probe as a symbol's latest
price), and a `Rates` object remembers what it found, so a report that converts many
figures probes each pair at most once per moment valued.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, bindparam, select

from stocksbot.ledger.numbers import divide, multiply
from stocksbot.storage import tables
from stocksbot.vocabulary import DEFAULT_ACCOUNT, DEFAULT_CURRENCY

ONE = Decimal(1)
BARS = tables.price_bars
_ACCOUNTS = tables.accounts
_CONFIG = tables.config

_LATEST_CLOSE = (
    select(BARS.c.close)
    .where(BARS.c.symbol == bindparam("symbol"), BARS.c.timestamp <= bindparam("at"))
    .order_by(BARS.c.timestamp.desc(), BARS.c.interval)
    .limit(1)
)
# The setting, the currency of `main`, and (should `main` have been renamed) of the first account.
_REPORTING = select(
    select(_CONFIG.c.value).where(_CONFIG.c.key == "reporting.currency").scalar_subquery().label("setting"),
    select(_ACCOUNTS.c.currency).where(_ACCOUNTS.c.name == DEFAULT_ACCOUNT).scalar_subquery().label("main"),
    select(_ACCOUNTS.c.currency).order_by(_ACCOUNTS.c.id).limit(1).scalar_subquery().label("first"),
)


def latest_close(conn: Connection, symbol: str, at: datetime) -> Decimal | None:
    """The close of the symbol's latest bar at or before `at`, of any interval (one index probe)."""
    close: Decimal | None = conn.execute(_LATEST_CLOSE, {"symbol": symbol, "at": at}).scalar()
    return close


def pair(from_ccy: str, to_ccy: str) -> str:
    """The pair symbol whose close is the price of one `from_ccy` in `to_ccy`: `EUR/USD`."""
    return f"{from_ccy}/{to_ccy}"


def reporting_currency(conn: Connection) -> tuple[str, bool]:
    """The currency reports convert to, and whether the `reporting.currency` setting chose it.

    Unset, it is the currency of the account `main` (docs/ledger.md §15.3).
    """
    row = conn.execute(_REPORTING).one()
    if row.setting is not None:
        return str(row.setting), True
    return str(row.main or row.first or DEFAULT_CURRENCY), False


class Rates:
    """Exchange rates from the price bars of one connection, each looked up once."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._closes: dict[tuple[str, datetime], Decimal | None] = {}
        self._rates: dict[tuple[str, str, datetime], Decimal | None] = {}
        #: The pairs a conversion needed and found no bar for (`EUR/USD`), in the order asked.
        self.missing: dict[str, None] = {}

    def _close(self, symbol: str, at: datetime) -> Decimal | None:
        key = (symbol, at)
        if key not in self._closes:
            close = latest_close(self.conn, symbol, at)
            # A close of 0 is no rate: nothing converts at 0, and its inverse does not exist.
            self._closes[key] = close if close is not None and close > 0 else None
        return self._closes[key]

    def rate(self, from_ccy: str, to_ccy: str, at: datetime) -> Decimal | None:
        """Units of `to_ccy` per unit of `from_ccy` at `at`: 1 for one currency, else the latest
        FROM/TO close at or before `at`, else the inverse of TO/FROM's, else None."""
        if from_ccy == to_ccy:
            return ONE
        key = (from_ccy, to_ccy, at)
        if key not in self._rates:
            found = self._close(pair(from_ccy, to_ccy), at)
            if found is None:
                inverse = self._close(pair(to_ccy, from_ccy), at)
                found = divide(ONE, inverse) if inverse is not None else None
            self._rates[key] = found
        return self._rates[key]

    def convert(self, amount: Decimal | None, from_ccy: str, to_ccy: str, at: datetime) -> Decimal | None:
        """`amount` of `from_ccy` in `to_ccy` at `at`; None when the amount or the rate is unknown.

        A zero amount is zero in any currency and needs no rate. A missing rate is noted in
        `missing` (by its direct pair symbol).
        """
        if amount is None:
            return None
        if from_ccy == to_ccy or not amount:
            return amount
        found = self.rate(from_ccy, to_ccy, at)
        if found is None:
            self.missing[pair(from_ccy, to_ccy)] = None
            return None
        return multiply(amount, found)


class Converter:
    """Converts amounts to one currency at one moment, over a shared `Rates`."""

    def __init__(self, rates: Rates, to_ccy: str, at: datetime) -> None:
        self.rates = rates
        self.to_ccy = to_ccy
        self.at = at

    def __call__(self, amount: Decimal | None, from_ccy: str) -> Decimal | None:
        return self.rates.convert(amount, from_ccy, self.to_ccy, self.at)
