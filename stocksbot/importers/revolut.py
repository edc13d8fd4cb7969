"""Revolut trading account statement CSV (`--from revolut`).

One row per event: `Date` (ISO 8601 in UTC), `Ticker`, `Type`, `Quantity`, `Price per share`,
`Total Amount`, `Currency`, `FX Rate`. Amounts carry a currency sign (`$85.11`, `-$30.93`,
`€88.94`) and a quantity may have a decimal comma (`0,76672417`). The rules are in
docs/brokers.md ("Revolut"); the notable ones:

* a `STOCK SPLIT` row states only the shares added: it becomes a split with `added`, whose
  ratio the booking derives from the holding;
* `TRANSFER FROM REVOLUT … TO REVOLUT …` rows are Revolut moving the account between its own
  companies (the entity migration): the same shares and cash, so they are skipped;
* `FX Rate` is against the user's base currency, which the file does not name, so no rate is
  recorded from it;
* the file has no ids: the booking fingerprints each row.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Iterable, Iterator

from stocksbot.importers._eubrokers_reading import (
    EMPTY,
    Columns,
    first_row,
    missing,
    positive,
    symbol_of,
)
from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    Item,
    ParseOptions,
    Problem,
    Skipped,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.reading import RowError, optional_amount, records, strptime_local
from stocksbot.ledger.inputs import parse_time

NAME = "revolut"

FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("Date",),
    "symbol": ("Ticker",),
    "action": ("Type",),
    "quantity": ("Quantity",),
    "price": ("Price per share",),
    "amount": ("Total Amount",),
    "currency": ("Currency",),
    "rate": ("FX Rate",),
}

_TRADE = re.compile(r"(BUY|SELL)(?:\s*-\s*(?:MARKET|LIMIT|STOP|STOP LIMIT))?", re.IGNORECASE)
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?")


class RevolutFormat:
    """Revolut's trading account statement (Invest, "Account statement" CSV)."""

    name = NAME
    title = "Revolut trading account statement CSV"

    def detect(self, head: str) -> bool:
        """Revolut's header: Date, Ticker, Type, `Price per share` and `Total Amount`."""
        cells = set(first_row(head))
        return {"date", "ticker", "type", "price per share", "total amount"} <= cells

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        """Every row as entries, skips, unknown types or problems, in file order."""
        rows = records(lines, options.delimiter)
        header = next(rows, None)
        if header is None or not any(cell.strip() for cell in header.cells):
            yield Problem(1, EMPTY)
            return
        columns = Columns(header.cells, FIELDS, options.columns)
        why = missing(columns, ("date", "action", "amount"), self.title)
        if why:
            yield Problem(1, why)
            return
        for record in rows:
            if not any(cell.strip() for cell in record.cells):
                yield Skipped(record.line, "blank line")
                continue
            try:
                yield _entry(record.line, {field: columns.get(record.cells, field) for field in FIELDS}, options)
            except RowError as error:
                yield Problem(record.line, str(error))


def _time(text: str, options: ParseOptions) -> datetime:
    """Revolut's ISO 8601 UTC time (`2023-09-22T13:30:10.514Z`, 3 or 6 fraction digits)."""
    if options.date_format:
        return strptime_local(text, options.date_format, "date")
    match = _ISO.fullmatch(text)
    if not match:
        raise RowError(f"date {text!r} is not an ISO 8601 time such as 2023-09-22T13:30:10.514Z, the form Revolut writes")
    fraction = (match[3] or "")[:6].ljust(6, "0")
    zone = match[4] or ""
    zone = "+00:00" if zone == "Z" else zone
    try:
        return parse_time(f"{match[1]}T{match[2]}.{fraction}{zone}", field="date")
    except Exception:
        raise RowError(f"date {text!r} is not a valid date and time") from None


def _entry(line: int, row: dict[str, str], options: ParseOptions) -> Item:
    action = row["action"]
    folded = action.strip().upper()
    at = _time(row["date"], options)
    comma = True if options.decimal_comma else None
    amount = optional_amount(row["amount"], field="Total Amount", decimal_comma=comma, limit=False)
    currency = row["currency"].upper() or None
    trade = _TRADE.fullmatch(folded)
    if trade:
        quantity = optional_amount(row["quantity"], field="Quantity", decimal_comma=comma, limit=False)
        price = optional_amount(row["price"], field="Price per share", decimal_comma=comma, limit=False)
        if quantity is None or price is None:
            raise RowError(f"{action} without a Quantity or a Price per share")
        if quantity <= 0 or price < 0:
            raise RowError(f"{action}: Quantity {row['quantity']!r} and Price per share {row['price']!r} must be positive")
        return TradeEntry(line, at, trade[1].lower(), _symbol(row), quantity, price, currency=currency)
    if folded.startswith("TRANSFER FROM REVOLUT") or folded.startswith("TRANSFER TO REVOLUT"):
        if amount:  # cash that left (or reached) the trading account in the migration
            return CashEntry(line, at, "deposit" if amount > 0 else "withdraw", positive(amount), currency, note=action)
        return Skipped(line, "a transfer between Revolut's own companies (the account's migration): the same "
                             "shares, no cash")
    if folded == "STOCK SPLIT":
        added = optional_amount(row["quantity"], field="Quantity", decimal_comma=comma, limit=False)
        if not added:
            raise RowError("STOCK SPLIT without the shares added (Quantity)")
        return SplitEntry(line, at, _symbol(row), added=added)
    if amount is None:
        raise RowError(f"{action} without a Total Amount")
    size, credit = positive(amount), amount > 0
    if folded == "DIVIDEND":
        if not credit:
            return Unknown(line, f"{action} (an amount of {amount}: a reversal)")
        return DividendEntry(line, at, _symbol(row), size, currency=currency, note="as paid (Revolut states the net)")
    if folded.startswith("DIVIDEND TAX"):
        return TaxEntry(line, at, _symbol(row), size, currency, refund=credit, note=action)
    if folded in ("CASH TOP-UP", "CASH WITHDRAWAL"):
        if not size:
            return Skipped(line, f"{action} of no amount")
        return CashEntry(line, at, "deposit" if credit else "withdraw", size, currency, note=action)
    if folded == "CUSTODY FEE":
        if credit:
            return Unknown(line, f"{action} (a refund)")
        if not size:
            return Skipped(line, f"{action} of no amount")
        return CashEntry(line, at, "fee", size, currency, note=action)
    return Unknown(line, action)


def _symbol(row: dict[str, str]) -> str:
    if not row["symbol"]:
        raise RowError(f"{row['action']} without a Ticker")
    return symbol_of(row["symbol"])


FORMAT = RevolutFormat()
