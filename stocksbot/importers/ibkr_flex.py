"""IBKR Flex Query CSV (`--from ibkr`): trades, cash transactions and conversion rates.

A Flex Query exports each section it holds (Trades, Cash Transactions, Conversion Rates) as
a header row of IBKR's field names (`Buy/Sell`, `TradeDate`, `TradePrice`, `Type`,
`Amount`, ...) followed by its rows, optionally wrapped in `BOF`/`BOS`/`EOS`/`EOF` marker
rows. Columns are found by name, so any selection and order of fields is read; a section
may be a file of its own. What each row becomes, what is skipped and why, is in
docs/brokers.md (IBKR Flex Query CSV).

The file is read whole before anything is yielded: whether an `ORDER` row is a trade or a
summary of `EXECUTION` rows (and a `SUMMARY` cash row of `DETAIL` rows) depends on what
else the file holds, and cancellations and dividend reversals are matched with the rows
they cancel.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Iterator, Sequence

from stocksbot.importers._ibkr_cash import FLEX_CASH_TYPES, cash_items, forex_items, is_forex_symbol
from stocksbot.importers._ibkr_reading import (
    KEY_PREFIX,
    Columns,
    magnitude,
    pair_cancellations,
    pair_dividend_reversals,
    read_currency,
    read_date,
    read_decimal,
    read_moment,
    require_decimal,
)
from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    Item,
    ParseOptions,
    Problem,
    RateEntry,
    Skipped,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.reading import RowError, is_empty

TRADE_COLUMNS: dict[str, tuple[str, ...]] = {
    "side": ("Buy/Sell",),
    "date": ("DateTime", "Date/Time", "TradeDate"),
    "symbol": ("Symbol",),
    "isin": ("ISIN",),
    "quantity": ("Quantity",),
    "price": ("TradePrice",),
    "commission": ("IBCommission",),
    "commission_currency": ("IBCommissionCurrency",),
    "fees": ("Taxes",),
    "currency": ("CurrencyPrimary", "Currency"),
    "id": ("TradeID",),
    "orig_id": ("OrigTradeID",),
    "type": ("TransactionType",),
    "level": ("LevelOfDetail",),
    "asset_class": ("AssetClass",),
    "multiplier": ("Multiplier",),
    "notes": ("Notes/Codes",),
}
CASH_COLUMNS: dict[str, tuple[str, ...]] = {
    "type": ("Type",),
    "date": ("Date/Time", "DateTime", "SettleDate", "ReportDate"),
    "symbol": ("Symbol",),
    "isin": ("ISIN",),
    "description": ("Description",),
    "amount": ("Amount",),
    "currency": ("CurrencyPrimary", "Currency"),
    "id": ("TransactionID",),
    "level": ("LevelOfDetail",),
    "ex_date": ("ExDate",),
}
RATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("ReportDate", "Date"),
    "from": ("FromCurrency",),
    "to": ("ToCurrency",),
    "rate": ("Rate",),
}
_REQUIRED = {
    "trades": ("side", "date", "quantity", "price"),
    "cash": ("type", "date", "amount"),
    "rates": ("date", "from", "to", "rate"),
}
_LAYOUTS = {"trades": TRADE_COLUMNS, "cash": CASH_COLUMNS, "rates": RATE_COLUMNS}
#: Flex "header and trailer records" (begin/end of file, account, section).
_MARKERS = {"BOF", "BOA", "BOS", "EOS", "EOA", "EOF"}
_SUMMARY_LEVELS = {"SYMBOL_SUMMARY", "ASSET_SUMMARY"}
_CANCEL_TYPES = {"TRADECANCEL", "FRACSHARECANCEL"}


@dataclass(frozen=True)
class _Row:
    line: int
    layout: str
    columns: Columns
    cells: list[str]

    def get(self, field: str) -> str | None:
        return self.columns.get(self.cells, field)

    def first(self, field: str) -> str | None:
        return self.columns.first(self.cells, field)

    def upper(self, field: str) -> str:
        return (self.get(field) or "").strip().upper()


def _header_layout(cells: Sequence[str], options: ParseOptions) -> tuple[str, Columns] | None:
    """Which section a header row opens (trades, cash, rates), by its column names."""
    for layout, names in _LAYOUTS.items():
        columns = Columns(cells, names, options.columns)
        if all(columns.has(field) for field in _REQUIRED[layout]):
            return layout, columns
    return None


#: Field names only a Flex header row holds (lower-cased): a row with none of them is data.
_ACCOUNT_FIELDS = {"clientaccountid", "currencyprimary", "accountalias", "conid", "assetclass"}


def _anchors(options: ParseOptions) -> set[str]:
    """The lower-cased names that make a row a candidate header of a section stocksbot reads."""
    names = {name.lower() for layout, fields in _LAYOUTS.items() for field in _REQUIRED[layout] for name in fields[field]}
    return names | {name.strip().lower() for name in options.columns.values()}


def _looks_like_header(cells: Sequence[str]) -> bool:
    """A row of IBKR field names: every cell is a name (no number, no date); the caller has seen an account field."""
    names = [cell.strip() for cell in cells if cell.strip()]
    return len(names) >= 3 and all(re.fullmatch(r"[A-Za-z][A-Za-z0-9/ _&()-]*", name) for name in names)


class IbkrFlexCsv:
    """The IBKR Flex Query CSV format (docs/brokers.md, IBKR Flex Query CSV)."""

    name = "ibkr"
    title = "IBKR Flex Query CSV"

    def detect(self, head: str) -> bool:
        """A header row of Flex field names: `Buy/Sell` with `TradePrice`, or a cash/rates section."""
        for cells in csv.reader(head.lstrip("\ufeff").splitlines()[:12]):
            stripped = [cell.strip() for cell in cells]
            if stripped and stripped[0] in ("BOF", "BOS"):
                return True
            if ("Buy/Sell" in stripped and "TradePrice" in stripped) or (
                    "Type" in stripped and "Amount" in stripped and (
                        "CurrencyPrimary" in stripped or "TransactionID" in stripped)) or (
                    "FromCurrency" in stripped and "ToCurrency" in stripped and "Rate" in stripped):
                return True
        return False

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        """The file's rows as trades, dividends, taxes, cash movements and rates, in file order."""
        rows: list[_Row] = []
        items: list[Item] = []
        orphans: list[Item] = []
        current: tuple[str, Columns] | None = None
        reader = csv.reader(_clean(lines), delimiter=options.delimiter or ",")
        seen_header = False
        anchors = _anchors(options)
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                items.append(Skipped(line, "blank line"))
                continue
            if cells[0].strip() in ("HEADER", "DATA") and len(cells) > 2:
                cells = cells[2:]  # "Include section code and line descriptor": HEADER/DATA and the section code
            if cells[0].strip() in _MARKERS:
                items.append(Skipped(line, f"Flex {cells[0].strip()} marker row (not a record)"))
                continue
            names = {cell.strip().lower() for cell in cells}
            layout = _header_layout(cells, options) if names & anchors else None
            if layout is not None:
                current, seen_header = layout, True
                continue
            if names & _ACCOUNT_FIELDS and _looks_like_header(cells):
                seen_header = True
                if {"direction", "quantity"} <= names:  # Transfers: shares moved in or out
                    current = ("transfers", Columns(cells, {"type": ("Type",)}, {}))
                    continue
                current = None
                items.append(Skipped(line, "header of a Flex section stocksbot does not import"))
                continue
            if current is None:
                if seen_header:
                    items.append(Skipped(line, "row of a Flex section stocksbot does not import"))
                else:
                    orphans.append(Problem(line, "no Flex header row (Buy/Sell, TradePrice, ... or Type, Amount, ...) "
                                                 "before this row"))
                continue
            rows.append(_Row(line, current[0], current[1], cells))
        if not seen_header:  # another broker's file, or no file at all: one problem, not one per row
            items = [item for item in items if not isinstance(item, Skipped) or item.reason != "blank line"]
            items.append(Problem(1, "not an IBKR Flex Query CSV: no header row with Buy/Sell and TradePrice, "
                                    "or Type and Amount"))
        else:
            items.extend(orphans)
        items.extend(_read_rows(rows, options))
        items.sort(key=lambda item: item.line)
        yield from items


def _clean(lines: Iterable[str]) -> Iterator[str]:
    """Lines without a byte-order mark and line ends, whatever the caller left on them."""
    first = True
    for text in lines:
        if first:
            text, first = text.lstrip("\ufeff"), False
        yield text.rstrip("\r\n")


def _read_rows(rows: list[_Row], options: ParseOptions) -> list[Item]:
    has_executions = any(row.layout == "trades" and row.upper("level") == "EXECUTION" for row in rows)
    has_detail = any(row.layout == "cash" and row.upper("level") == "DETAIL" for row in rows)
    items: list[Item] = []
    cancels: list[tuple[_Row, TradeEntry]] = []
    reversals: list[tuple[DividendEntry, str]] = []
    for row in rows:
        try:
            if row.layout == "trades":
                level = row.upper("level")
                if level == "ORDER" and has_executions:
                    items.append(Skipped(row.line, "ORDER row: the total of its EXECUTION rows"))
                    continue
                if level == "CLOSED_LOT":
                    items.append(Skipped(row.line, "CLOSED_LOT row: a lot its sale closed, not a trade"))
                    continue
                if level in _SUMMARY_LEVELS:
                    items.append(Skipped(row.line, f"{level} row: a summary of trades"))
                    continue
                items.extend(_trade_items(row, options, cancels))
            elif row.layout == "cash":
                if row.upper("level") == "SUMMARY" and has_detail:
                    items.append(Skipped(row.line, "SUMMARY row: the total of its DETAIL rows"))
                    continue
                items.extend(_cash_row(row, options, reversals))
            elif row.layout == "transfers":
                items.append(Unknown(row.line, f"Transfers row ({(row.get('type') or 'transfer').strip()} of shares "
                                               "or cash: not imported)"))
            else:
                items.extend(_rate_items(row, options))
        except RowError as error:
            items.append(Problem(row.line, str(error)))
    items = pair_cancellations(items, [(entry, _key(row.get("orig_id"))) for row, entry in cancels])
    return pair_dividend_reversals(items, reversals)


def _trade_items(row: _Row, options: ParseOptions, cancels: list[tuple[_Row, TradeEntry]]) -> list[Item]:
    side_text = row.upper("side")
    cancelled = "(CA.)" in side_text or row.upper("type") in _CANCEL_TYPES
    side = side_text.replace("(CA.)", "").strip()
    if side not in ("BUY", "SELL"):
        return [Unknown(row.line, f"Buy/Sell {side_text!r}")]
    at = read_moment(row.first("date"), "date", options.date_format)
    quantity = magnitude(require_decimal(row.get("quantity"), "Quantity"))
    price = require_decimal(row.get("price"), "TradePrice")
    if not quantity:
        raise RowError("Quantity is 0")
    if price < 0:
        raise RowError(f"TradePrice {row.get('price')!r} is negative")
    currency = read_currency(row.get("currency"), "CurrencyPrimary")
    commission_value = read_decimal(row.get("commission"), "IBCommission") or Decimal(0)
    commission_currency = read_currency(row.get("commission_currency"), "IBCommissionCurrency") or currency
    fees = magnitude(read_decimal(row.get("fees"), "Taxes") or Decimal(0))
    key = None if is_empty(row.get("id")) else KEY_PREFIX + (row.get("id") or "").strip()
    symbol_text = (row.get("symbol") or "").strip()
    isin_text = "" if is_empty(row.get("isin")) else (row.get("isin") or "").strip().upper()
    asset_class = row.upper("asset_class")

    extra: list[Item] = []
    commission = magnitude(commission_value)
    if commission_value > 0:  # a rebate: money in, not a cost
        extra.append(CashEntry(row.line, at, "fee", commission_value, commission_currency, key=_sub(key, "rebate"), refund=True,
                               note="IBKR commission rebate"))
        commission = Decimal(0)

    if asset_class == "CASH" or is_forex_symbol(symbol_text) or (not symbol_text and not isin_text):
        if cancelled:
            return [Skipped(row.line, "cancelled forex trade")]
        return _forex_items(row, at, side.lower(), symbol_text, quantity, price, currency, commission,
                            commission_currency, key) + extra

    if commission and commission_currency and currency and commission_currency != currency:
        extra.append(CashEntry(row.line, at, "fee", commission, commission_currency, key=_sub(key, "commission"),
                               note=f"IBKR commission of a trade in {currency}"))
        commission = Decimal(0)
    multiplier = read_decimal(row.get("multiplier"), "Multiplier")
    note = None
    if multiplier is not None and multiplier not in (0, 1):
        price = price * multiplier
        note = f"price x multiplier {multiplier}"
    symbol = (re.sub(r"\s+", ".", symbol_text).upper() if symbol_text else isin_text)
    entry = TradeEntry(
        line=row.line, at=at, side=side.lower(), symbol=symbol, quantity=quantity, price=price,
        commission=commission, fees=fees, currency=currency, key=key, isin=isin_text or None, note=note,
    )
    if cancelled:
        cancels.append((row, entry))
        return []
    return [entry, *extra]


def _key(text: str | None) -> str | None:
    return None if is_empty(text) else KEY_PREFIX + (text or "").strip()


def _sub(key: str | None, part: str) -> str | None:
    """The key of a second entry drawn from one row (its commission, a rebate)."""
    return None if key is None else f"{key}:{part}"


def _forex_items(row: _Row, at: datetime, side: str, symbol_text: str, quantity: Decimal, price: Decimal,
                 currency: str | None, commission: Decimal, commission_currency: str | None,
                 key: str | None) -> list[Item]:
    """A currency conversion: the rate it was done at, and the conversion with its commission as its fee.

    The pair is the Symbol (`EUR.USD`: 1 EUR at TradePrice USD). An export without Symbol
    and ISIN columns names no pair; IBKR charges a conversion's commission in the currency
    sold, so the pair is the commission's currency against CurrencyPrimary.
    """
    if is_forex_symbol(symbol_text):
        base, quote = symbol_text.upper().split(".")
    elif commission_currency and currency and commission_currency != currency:
        base, quote = commission_currency, currency
    else:
        return [Unknown(row.line, "forex trade that names no currency pair")]
    return forex_items(line=row.line, at=at, side=side, base=base, quote=quote, quantity=quantity, price=price,
                       commission=commission, commission_currency=commission_currency, key=key)


def _cash_row(row: _Row, options: ParseOptions, reversals: list[tuple[DividendEntry, str]]) -> list[Item]:
    action = (row.get("type") or "").strip()
    category = FLEX_CASH_TYPES.get(action.upper())
    if category is None:
        return [Unknown(row.line, f"Type {action!r}")]
    at = read_moment(row.first("date"), "date", options.date_format)
    amount = require_decimal(row.get("amount"), "Amount")
    ex_text = row.get("ex_date")
    ex_date = None if is_empty(ex_text) else read_date(ex_text, "ExDate", options.date_format)
    key = None if is_empty(row.get("id")) else KEY_PREFIX + (row.get("id") or "").strip()
    return cash_items(
        line=row.line, category=category, action=action, at=at, amount=amount,
        currency=read_currency(row.get("currency"), "CurrencyPrimary"),
        symbol=row.get("symbol"), isin=row.get("isin"), description=(row.get("description") or "").strip(),
        key=key, ex_date=ex_date, reversals=reversals,
    )


def _rate_items(row: _Row, options: ParseOptions) -> list[Item]:
    at = read_date(row.get("date"), "ReportDate", options.date_format)
    base = read_currency(row.get("from"), "FromCurrency")
    quote = read_currency(row.get("to"), "ToCurrency")
    rate = require_decimal(row.get("rate"), "Rate")
    if base is None or quote is None:
        raise RowError("FromCurrency and ToCurrency must both be given")
    if base == quote:
        return [Skipped(row.line, f"rate of {base} to itself")]
    if rate <= 0:
        return [Skipped(row.line, f"no {base}/{quote} rate that day (IBKR writes {rate})")]
    return [RateEntry(row.line, at, base, quote, rate)]


FORMAT = IbkrFlexCsv()
