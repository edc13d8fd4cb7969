"""IBKR activity statement CSV (`--from ibkr-activity`): every line is `Section,Kind,cells...`.

Two reports share this layout: the Transaction History (one `Transaction History` section
with a `Transaction Type` column, amounts in the base currency named by `Summary,Data,Base
Currency,GBP`) and the classic Activity Statement (sections `Trades`, `Dividends`,
`Withholding Tax`, `Deposits & Withdrawals`, `Interest`, `Fees`, `Corporate Actions`, each
with its own currency column). Each section has its own `Header` row; cells are found by
their header name (a header with a trailing space, `Gross Amount `, is found as
`Gross Amount`). `Total`/`SubTotal` rows and the informational sections (Statement,
Account Information, Net Asset Value, Open Positions, ...) are reported as skipped. The
rules are in docs/brokers.md (IBKR activity statement CSV).
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Iterator, Sequence

from stocksbot.importers._ibkr_cash import (
    ADJUSTMENT,
    DIVIDEND,
    FEE,
    FLOW,
    INTEREST,
    WITHHOLDING,
    cash_items,
    forex_items,
    is_forex_symbol,
)
from stocksbot.importers._ibkr_reading import (
    Columns,
    instrument,
    magnitude,
    one_split_each,
    pair_dividend_reversals,
    read_currency,
    read_date,
    read_decimal,
    read_moment,
    require_decimal,
    symbol_from_description,
)
from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    Item,
    ParseOptions,
    Problem,
    RateEntry,
    Skipped,
    SplitEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.reading import RowError, is_empty
from stocksbot.ledger.numbers import divide

HISTORY = "Transaction History"
HISTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("Date",),
    "description": ("Description",),
    "type": ("Transaction Type",),
    "symbol": ("Symbol",),
    "quantity": ("Quantity",),
    "price": ("Price",),
    "price_currency": ("Price Currency",),
    "gross": ("Gross Amount",),
    "commission": ("Commission",),
    "amount": ("Net Amount",),
    "rate": ("Exchange Rate",),
}
#: Transaction History types by what they become (docs/brokers.md).
HISTORY_TYPES: dict[str, str] = {
    "DIVIDEND": DIVIDEND,
    "PAYMENT IN LIEU": DIVIDEND,
    "FOREIGN TAX WITHHOLDING": WITHHOLDING,
    "WITHHOLDING TAX": WITHHOLDING,
    "CREDIT INTEREST": INTEREST,
    "DEBIT INTEREST": INTEREST,
    "DEPOSIT": FLOW,
    "WITHDRAWAL": FLOW,
    "OTHER FEE": FEE,
    "COMMISSION ADJUSTMENT": FEE,
    "ADJUSTMENT": ADJUSTMENT,
}
#: Classic activity statement cash sections: their category and their date column.
CASH_SECTIONS: dict[str, str] = {
    "Dividends": DIVIDEND,
    "Payment In Lieu Of Dividends": DIVIDEND,
    "Withholding Tax": WITHHOLDING,
    "Deposits & Withdrawals": FLOW,
    "Interest": INTEREST,
    "Fees": FEE,
}
CASH_COLUMNS: dict[str, tuple[str, ...]] = {
    "currency": ("Currency",),
    "date": ("Date", "Settle Date", "Report Date"),
    "description": ("Description",),
    "amount": ("Amount",),
}
TRADE_COLUMNS: dict[str, tuple[str, ...]] = {
    "discriminator": ("DataDiscriminator",),
    "asset": ("Asset Category",),
    "currency": ("Currency",),
    "symbol": ("Symbol",),
    "date": ("Date/Time",),
    "quantity": ("Quantity",),
    "price": ("T. Price",),
    "commission": ("Comm/Fee", "Comm in USD", "Comm in EUR", "Comm in GBP", "Comm in CHF"),
    "proceeds": ("Proceeds",),
    "code": ("Code",),
}
ACTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "asset": ("Asset Category",),
    "currency": ("Currency",),
    "date": ("Date/Time", "Report Date"),
    "description": ("Description",),
    "quantity": ("Quantity",),
}
#: Sections that hold money or shares stocksbot does not import yet: an unknown action each.
UNSUPPORTED_SECTIONS = {"Transfers", "Option Exercises, Assignments and Expirations", "Bonds"}
#: The column layouts a section's header is read with (each section uses one).
_LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "history": HISTORY_COLUMNS, "trades": TRADE_COLUMNS, "cash": CASH_COLUMNS, "actions": ACTION_COLUMNS}
_SPLIT = re.compile(r"\bSplit\s+(\d+)\s+for\s+(\d+)\b", re.IGNORECASE)
_SUMMARY_KINDS = {"TOTAL", "SUBTOTAL"}


class IbkrActivityCsv:
    """The IBKR activity statement CSV (docs/brokers.md, IBKR activity statement CSV)."""

    name = "ibkr-activity"
    title = "IBKR activity statement CSV"

    def detect(self, head: str) -> bool:
        """A `Statement,Header,...` or `Transaction History,Header,...` line near the top."""
        for cells in csv.reader(head.lstrip("\ufeff").splitlines()[:40]):
            if len(cells) >= 3 and cells[1].strip() == "Header" and cells[0].strip() in (
                    "Statement", HISTORY, "Trades", "Dividends", "Account Information"):
                return True
        return False

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        """The statement's rows as entries, skips, unknown actions and problems, in file order."""
        headers: dict[str, dict[str, Columns]] = {}
        base: str | None = None
        items: list[Item] = []
        orphans: list[Item] = []
        reversals: list[tuple[DividendEntry, str]] = []
        reader = csv.reader(_clean(lines), delimiter=options.delimiter or ",")
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                items.append(Skipped(line, "blank line"))
                continue
            if len(cells) < 2:
                items.append(Problem(line, "not an activity statement line (Section,Header|Data,...)"))
                continue
            section, kind = cells[0].strip(), cells[1].strip()
            data = cells[2:]
            if kind == "Header":
                headers[section] = {name: Columns(data, layout, options.columns) for name, layout in _LAYOUTS.items()}
                continue
            if section in ("Summary", "Account Information") and len(data) >= 2 and data[0].strip() == "Base Currency":
                try:
                    base = read_currency(data[1], "Base Currency")
                except RowError as error:
                    items.append(Problem(line, str(error)))
                    continue
            if section not in headers:
                orphans.append(Problem(line, f"{section!r} row before its Header row"))
                continue
            if kind.upper() in _SUMMARY_KINDS or (data and data[0].strip().startswith("Total")):
                items.append(Skipped(line, f"{section} {'total' if kind == 'Data' else kind.lower()} row"))
                continue
            if kind != "Data":
                items.append(Skipped(line, f"{section} {kind} row (not a record)"))
                continue
            try:
                items.extend(_data_row(line, section, headers[section], data, base, options, reversals))
            except RowError as error:
                items.append(Problem(line, str(error)))
        if not headers:  # another broker's file, or no file at all: one problem, not one per row
            items = [Problem(1, "not an IBKR activity statement: no Section,Header,... line")]
        else:
            items.extend(orphans)
            items.sort(key=lambda item: item.line)
        yield from one_split_each(pair_dividend_reversals(items, reversals))


def _clean(lines: Iterable[str]) -> Iterator[str]:
    first = True
    for text in lines:
        if first:
            text, first = text.lstrip("\ufeff"), False
        yield text.rstrip("\r\n")


def _data_row(line: int, section: str, header: dict[str, Columns], data: Sequence[str], base: str | None,
              options: ParseOptions, reversals: list[tuple[DividendEntry, str]]) -> list[Item]:
    if section == HISTORY:
        return _history_row(line, header["history"], data, base, options, reversals)
    if section == "Trades":
        return _trade_row(line, header["trades"], data, base, options)
    if section in CASH_SECTIONS:
        return _cash_section_row(line, section, header["cash"], data, options, reversals)
    if section == "Corporate Actions":
        return _action_row(line, header["actions"], data, options)
    if section in UNSUPPORTED_SECTIONS:
        return [Unknown(line, f"{section} row")]
    return [Skipped(line, f"{section} section: information, not a record")]


def _history_row(line: int, columns: Columns, data: Sequence[str], base: str | None, options: ParseOptions,
                 reversals: list[tuple[DividendEntry, str]]) -> list[Item]:
    """A Transaction History row: amounts in the base currency, Quantity signed."""
    action = (columns.get(data, "type") or "").strip()
    description = (columns.get(data, "description") or "").strip()
    at = read_moment(columns.get(data, "date"), "Date", options.date_format)
    upper = action.upper()
    if upper in ("BUY", "SELL"):
        return _history_trade(line, upper.lower(), columns, data, at, base)
    category = HISTORY_TYPES.get(upper)
    if category is None and upper != "FOREX TRADE COMPONENT":
        return [Unknown(line, f"Transaction Type {action!r}")]
    amount = require_decimal(columns.get(data, "amount"), "Net Amount")
    if category is None:
        return _forex_component(line, columns, data, at, amount, base, description)
    symbol = columns.get(data, "symbol")
    return cash_items(line=line, category=category, action=action, at=at, amount=amount, currency=base, symbol=symbol,
                      isin=None, description=description, key=None, ex_date=None, reversals=reversals)


def _history_trade(line: int, side: str, columns: Columns, data: Sequence[str], at: datetime, base: str | None) -> list[Item]:
    """A Buy or Sell of the Transaction History.

    The price is in `Price Currency` when the report has that column; else it is in the base
    currency, and when quantity x price is not the gross amount (a price in another currency),
    the price is the gross amount per share, so the cash is what the statement says.
    """
    symbol_text = columns.get(data, "symbol")
    if is_empty(symbol_text):
        raise RowError("Symbol is empty")
    symbol, _ = instrument(symbol_text, None)
    quantity = magnitude(require_decimal(columns.get(data, "quantity"), "Quantity"))
    if not quantity:
        raise RowError("Quantity is 0")
    price = magnitude(require_decimal(columns.get(data, "price"), "Price"))
    gross = read_decimal(columns.get(data, "gross"), "Gross Amount")
    commission = magnitude(read_decimal(columns.get(data, "commission"), "Commission") or Decimal(0))
    price_currency = read_currency(columns.get(data, "price_currency"), "Price Currency")
    items: list[Item] = []
    note = None
    currency = price_currency or base
    if price_currency and base and price_currency != base:
        rate = read_decimal(columns.get(data, "rate"), "Exchange Rate")
        if rate and rate > 0:
            items.append(RateEntry(line, at, price_currency, base, rate))
        if commission:
            items.append(CashEntry(line, at, "fee", commission, base, note=f"IBKR commission of a {side} of {symbol}"))
            commission = Decimal(0)
    elif gross is not None and quantity * price != magnitude(gross):
        price = divide(magnitude(gross), quantity)
        note = f"price in {base or 'the base currency'}: gross amount / quantity"
    items.insert(0, TradeEntry(line=line, at=at, side=side, symbol=symbol, quantity=quantity, price=price,
                               commission=commission, currency=currency, note=note))
    return items


def _forex_component(line: int, columns: Columns, data: Sequence[str], at: datetime, amount: Decimal,
                     base: str | None, description: str) -> list[Item]:
    """A currency conversion's part in the base currency: its rate, and what it cost or gained."""
    items: list[Item] = []
    pair = (columns.get(data, "symbol") or "").strip()
    price = read_decimal(columns.get(data, "price"), "Price")
    if is_forex_symbol(pair) and price is not None and price > 0:
        from_currency, to_currency = pair.upper().split(".")
        items.append(RateEntry(line, at, from_currency, to_currency, price))
    if amount < 0:
        items.append(CashEntry(line, at, "fee", magnitude(amount), base, note=description))
    elif amount > 0:
        items.append(CashEntry(line, at, "fee", amount, base, note=f"credit: {description}", refund=True))
    if not items:
        items.append(Skipped(line, "forex component without a rate or an amount"))
    return items


def _trade_row(line: int, columns: Columns, data: Sequence[str], base: str | None, options: ParseOptions) -> list[Item]:
    """A classic statement's Trades row: `Order` rows are the trades, `ClosedLot` rows are not."""
    discriminator = (columns.get(data, "discriminator") or "Order").strip()
    if discriminator.upper() == "CLOSEDLOT":
        return [Skipped(line, "ClosedLot row: a lot its sale closed, not a trade")]
    if discriminator.upper() not in ("ORDER", "TRADE", "EXECUTION"):
        return [Skipped(line, f"Trades {discriminator} row (not a trade)")]
    code = (columns.get(data, "code") or "")
    if "Ca" in re.split(r"[;\s]+", code):
        return [Skipped(line, "cancelled trade (code Ca)")]
    at = read_moment(columns.get(data, "date"), "Date/Time", options.date_format)
    currency = read_currency(columns.get(data, "currency"), "Currency")
    quantity = require_decimal(columns.get(data, "quantity"), "Quantity")
    price = magnitude(require_decimal(columns.get(data, "price"), "T. Price"))
    commission_value = read_decimal(columns.get(data, "commission"), "Comm/Fee") or Decimal(0)
    symbol_text = (columns.get(data, "symbol") or "").strip()
    if not quantity:
        raise RowError("Quantity is 0")
    if (columns.get(data, "asset") or "").strip().upper() == "FOREX" or is_forex_symbol(symbol_text):
        if not is_forex_symbol(symbol_text):
            return [Unknown(line, f"forex trade of {symbol_text!r}")]
        from_currency, to_currency = symbol_text.upper().split(".")
        # `Comm in USD`: the commission is in the base currency.
        items = forex_items(line=line, at=at, side="buy" if quantity > 0 else "sell", base=from_currency,
                            quote=to_currency, quantity=quantity, price=price,
                            commission=magnitude(commission_value) if commission_value < 0 else Decimal(0),
                            commission_currency=base or to_currency, key=None)
        if commission_value > 0:
            items.append(CashEntry(line, at, "fee", commission_value, base, note="IBKR commission rebate", refund=True))
        return items
    symbol, _ = instrument(symbol_text, None)
    side = "buy" if quantity > 0 else "sell"
    proceeds = read_decimal(columns.get(data, "proceeds"), "Proceeds")
    note = None
    if proceeds and magnitude(quantity) * price != magnitude(proceeds):
        # An option or future: Proceeds = Quantity x T. Price x multiplier; the price per unit keeps the cash right.
        price = divide(magnitude(proceeds), magnitude(quantity))
        note = "price per unit: proceeds / quantity (a multiplier)"
    entry = TradeEntry(line=line, at=at, side=side, symbol=symbol, quantity=magnitude(quantity), price=price,
                       commission=magnitude(commission_value) if commission_value < 0 else Decimal(0), currency=currency,
                       note=note)
    if commission_value > 0:
        return [entry, CashEntry(line, at, "fee", commission_value, currency, note="IBKR commission rebate",
                                 refund=True)]
    return [entry]


def _cash_section_row(line: int, section: str, columns: Columns, data: Sequence[str], options: ParseOptions,
                      reversals: list[tuple[DividendEntry, str]]) -> list[Item]:
    """A row of Dividends, Withholding Tax, Deposits & Withdrawals, Interest or Fees."""
    currency_text = (columns.get(data, "currency") or "").strip()
    if currency_text.upper().startswith("TOTAL"):
        return [Skipped(line, f"{section} total row")]
    description = (columns.get(data, "description") or "").strip()
    at = read_moment(columns.get(data, "date"), "Date", options.date_format)
    amount = require_decimal(columns.get(data, "amount"), "Amount")
    category = CASH_SECTIONS[section]
    symbol = None
    if category in (DIVIDEND, WITHHOLDING):
        found = symbol_from_description(description)
        symbol = found[0] if found else None
        isin = found[1] if found else None
    else:
        isin = None
    return cash_items(line=line, category=category, action=section, at=at, amount=amount,
                      currency=read_currency(currency_text, "Currency"), symbol=symbol, isin=isin,
                      description=description, key=None, ex_date=None, reversals=reversals)


def _action_row(line: int, columns: Columns, data: Sequence[str], options: ParseOptions) -> list[Item]:
    """A Corporate Actions row: a split (`Split 4 for 1`) becomes a split; other actions are unknown."""
    description = (columns.get(data, "description") or "").strip()
    if (columns.get(data, "asset") or "").strip().upper().startswith("TOTAL"):
        return [Skipped(line, "Corporate Actions total row")]
    match = _SPLIT.search(description)
    found = symbol_from_description(description)
    if match is None or found is None:
        return [Unknown(line, f"corporate action {description!r}")]
    numerator, denominator = int(match[1]), int(match[2])
    if numerator == denominator or not numerator or not denominator:
        raise RowError(f"split ratio {numerator} for {denominator} is not a split")
    # A split applies from the start of its day (docs/ledger.md §12.1), whatever time IBKR gives it.
    day = re.split(r"[;, ]", (columns.get(data, "date") or "").strip(), maxsplit=1)[0]
    at = read_date(day, "Date/Time", options.date_format)
    return [SplitEntry(line=line, at=at, symbol=found[0], numerator=numerator, denominator=denominator, isin=found[1])]


FORMAT = IbkrActivityCsv()
