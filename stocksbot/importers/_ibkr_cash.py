"""What an IBKR cash row becomes, by its category (docs/brokers.md, IBKR "Cash rows").

The three IBKR formats name their cash actions differently (`Dividends` in a Flex query,
`Dividend` in the activity statement's transaction history, `CashAction.DIVIDEND` in the
XML), but each is one of a few categories with one rule: a dividend (a negative one is a
reversal, matched later), a withholding tax (on a dividend when the row names a security,
else on interest), a deposit or withdrawal, interest, a fee, or an adjustment of the cash
balance. Amounts on IBKR rows are signed; entries carry positive amounts and the sign
chooses the kind. A credit on a cost row (a refunded fee, a cancelled withholding on interest,
an FX gain) is that cost refunded (`refund=True`), not a deposit.

A forex trade (`EUR.USD`) is a currency conversion; `forex_items` turns one into its rate
and its conversion, the same way for the three formats.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from stocksbot.importers._ibkr_reading import (
    instrument,
    magnitude,
    symbol_from_description,
    tax_entry,
)
from stocksbot.importers.entries import CashEntry, ConversionEntry, DividendEntry, Item, RateEntry, Skipped
from stocksbot.importers.reading import RowError, is_empty
from stocksbot.ledger.numbers import multiply

DIVIDEND = "dividend"
WITHHOLDING = "withholding"
FLOW = "flow"
INTEREST = "interest"
FEE = "fee"
ADJUSTMENT = "adjustment"

#: Flex cash transaction types (CSV `Type` and XML `type`), upper-cased, by category.
FLEX_CASH_TYPES: dict[str, str] = {
    "DIVIDENDS": DIVIDEND,
    "PAYMENT IN LIEU OF DIVIDENDS": DIVIDEND,
    "WITHHOLDING TAX": WITHHOLDING,
    "871(M) WITHHOLDING": WITHHOLDING,
    "DEPOSITS/WITHDRAWALS": FLOW,
    "DEPOSITS & WITHDRAWALS": FLOW,
    "BROKER INTEREST RECEIVED": INTEREST,
    "BROKER INTEREST PAID": INTEREST,
    "BOND INTEREST RECEIVED": INTEREST,
    "BOND INTEREST PAID": INTEREST,
    "OTHER FEES": FEE,
    "ADVISOR FEES": FEE,
    "BROKER FEES": FEE,
    "COMMISSION ADJUSTMENTS": FEE,
}

_FOREX_SYMBOL = re.compile(r"[A-Za-z]{3}\.[A-Za-z]{3}")


def is_forex_symbol(symbol: str | None) -> bool:
    """IBKR names a currency pair `EUR.USD` (1 EUR in USD)."""
    return bool(symbol) and bool(_FOREX_SYMBOL.fullmatch((symbol or "").strip()))


def _security(symbol: str | None, isin: str | None, description: str) -> tuple[str, str | None] | None:
    """The security a cash row is about: its Symbol, else its ISIN, else the one its description names."""
    if not is_empty(symbol) or not is_empty(isin):
        found, isin_code = instrument(symbol, isin)
        named = symbol_from_description(description)
        if isin_code is None and named is not None and named[0] == found:
            isin_code = named[1]  # `VT(US9220427424) ...`: the ISIN of the row's own symbol
        return found, isin_code
    return symbol_from_description(description)


def cash_items(*, line: int, category: str, action: str, at: datetime, amount: Decimal, currency: str | None,
               symbol: str | None, isin: str | None, description: str, key: str | None,
               ex_date: datetime | None, reversals: list[tuple[DividendEntry, str]]) -> list[Item]:
    """The entries of one cash row (docs/brokers.md, IBKR "Cash rows")."""
    note = description or None
    if not amount:
        return [Skipped(line, f"{action} of amount 0")]
    if category == DIVIDEND:
        security = _security(symbol, isin, description)
        if security is None:
            raise RowError(f"{action} names no security (no Symbol, ISIN or ticker in its description)")
        entry = DividendEntry(line=line, paid_at=at, symbol=security[0], gross=magnitude(amount), currency=currency,
                              key=key, isin=security[1], ex_date=ex_date if ex_date and ex_date <= at else None, note=note)
        if amount < 0:
            reversals.append((entry, action))
            return []
        return [entry]
    if category == WITHHOLDING:
        security = _security(symbol, isin, description)
        if security is not None:
            return [tax_entry(line, at, security[0], amount, currency=currency, key=key, isin=security[1], note=note)]
        if amount < 0:
            return [CashEntry(line, at, "tax", magnitude(amount), currency, key=key, note=note)]
        return [CashEntry(line, at, "tax", amount, currency, key=key, note=f"refund of withheld tax: {description}",
                          refund=True)]
    if category == FLOW:
        return [CashEntry(line, at, "deposit" if amount > 0 else "withdraw", magnitude(amount), currency, key=key, note=note)]
    if category == INTEREST:
        if amount > 0:
            return [CashEntry(line, at, "interest", amount, currency, key=key, note=note)]
        return [CashEntry(line, at, "fee", magnitude(amount), currency, key=key, note=f"interest paid: {description}")]
    if category in (FEE, ADJUSTMENT):
        if amount < 0:
            return [CashEntry(line, at, "fee", magnitude(amount), currency, key=key, note=note)]
        what = "refund" if category == FEE else "credit"
        return [CashEntry(line, at, "fee", amount, currency, key=key, note=f"{what}: {description}", refund=True)]
    raise ValueError(f"unknown cash category {category!r}")  # a programming error, not bad input


def forex_items(*, line: int, at: datetime, side: str, base: str, quote: str, quantity: Decimal, price: Decimal,
                commission: Decimal, commission_currency: str | None, key: str | None) -> list[Item]:
    """A forex trade of `quantity` BASE at `price` QUOTE each (docs/brokers.md, IBKR "Currency
    conversions"): the rate, and the conversion itself with its commission as the conversion's fee.

    A `buy` of EUR.USD buys `quantity` EUR and sells quantity x price USD; a `sell` the other way.
    The commission (positive, a cost) is in `commission_currency`, else in the quote currency.
    A price of 0 gives no conversion (nothing says what was paid): only the commission, as a fee.
    """
    pair = f"{base}.{quote}"
    quantity = magnitude(quantity)
    if not price:
        if commission:
            return [CashEntry(line, at, "fee", commission, commission_currency or quote,
                              key=None if key is None else f"{key}:commission",
                              note=f"IBKR commission of a {pair} conversion")]
        return [Skipped(line, "forex trade at price 0 without commission")]
    price = magnitude(price)
    value = multiply(quantity, price)
    if side == "buy":
        sold, sold_currency, bought, bought_currency = value, quote, quantity, base
    else:
        sold, sold_currency, bought, bought_currency = quantity, base, value, quote
    return [RateEntry(line, at, base, quote, price),
            ConversionEntry(line, at, sold, sold_currency, bought, bought_currency, fee=commission,
                            fee_currency=(commission_currency or quote) if commission else None, key=key,
                            note=f"IBKR {side} {pair} {quantity} @ {price}")]
