"""Trading 212 history CSV (`--from trading212`): every layout since 2020.

Trading 212's export has changed its columns several times: `Total (GBP)` and
`Transaction fee (GBP)` with the currency in the header (2020), `Total` with a
`Currency (Total)` column (2023-2024), `Notes` and `ID` moved before `No. of shares` and
stamp duty, French transaction tax and conversion columns added (2025 on). Columns are found
by name, so one reader serves them all. The rules are in docs/brokers.md ("Trading 212"):

* a trade is in the instrument's currency (`Price / share`, `Currency (Price / share)`);
  GBX prices (pence) become GBP; a fee charged in the account currency is converted with the
  row's `Exchange rate` (instrument units per account unit), exactly;
* the `Exchange rate` of a trade in another currency than the account's is also given as a
  rate (1 account unit = rate instrument units);
* such a trade is paid from (a sell paid into) the account currency: its `Total` is converted
  into the instrument currency just before a buy (after a sell), one conversion per trade, so
  each currency's cash is the broker's; a `Currency conversion` row is a conversion too;
* a positive `Result adjustment` is a cost refunded (a tax when its note says tax), not income;
* a dividend is what reached the account (`Total`, net, in the account currency);
  `Withholding tax` is in the instrument currency, so it is folded in only when the currencies
  agree and otherwise kept in the note;
* `Stock split close` and `Stock split open` are paired into one split.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Iterable, Iterator

from stocksbot.importers._eubrokers_reading import (
    EMPTY,
    ISIN_PATTERN,
    Columns,
    first_row,
    header_name,
    missing,
    positive,
    symbol_of,
)
from stocksbot.importers.entries import (
    CashEntry,
    ConversionEntry,
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
from stocksbot.importers.reading import RowError, optional_amount, pounds, records, strptime_local
from stocksbot.ledger.numbers import add, canonical, multiply, subtract

NAME = "trading212"

#: Fields read by exact name; the amount columns are found by prefix (see `_money_columns`).
FIELDS: dict[str, tuple[str, ...]] = {
    "action": ("Action",),
    "date": ("Time", "Time (UTC)"),
    "isin": ("ISIN",),
    "symbol": ("Ticker",),
    "name": ("Name",),
    "notes": ("Notes",),
    "id": ("ID",),
    "quantity": ("No. of shares",),
    "price": ("Price / share",),
    "price_currency": ("Currency (Price / share)",),
    "rate": ("Exchange rate",),
}

#: Fee columns folded into a trade's `fees` (each with its own currency column or `(CCY)` suffix).
FEES = ("transaction fee", "finra fee", "stamp duty reserve tax", "stamp duty", "french transaction tax",
        "currency conversion fee", "ptm levy")

_LABELS = {"quantity": "No. of shares", "price": "Price / share", "rate": "Exchange rate", "total": "Total",
           "withholding": "Withholding tax", "from": "Currency conversion from amount",
           "to": "Currency conversion to amount"}
#: The two amounts of a `Currency conversion` row (2025 layout), each with its currency column.
CONVERSION_AMOUNTS = (("from", "currency conversion from amount"), ("to", "currency conversion to amount"))
_TRADE = re.compile(r"(?:market|limit|stop|stop limit|stop-limit)\s+(buy|sell)", re.IGNORECASE)
_ID_LIKE = re.compile(r"EOF\d+")
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})?")


@dataclass(frozen=True)
class _Money:
    """An amount column (`Total`, `Transaction fee (GBP)`…) and where its currency comes from."""

    position: int
    currency_position: int | None
    currency: str | None


def _money_columns(header: list[str], stem: str) -> _Money | None:
    """The column `stem` or `stem (CCY)`, with its `Currency (stem)` column when there is one."""
    names = [header_name(cell) for cell in header]
    for position, name in enumerate(names):
        match = re.fullmatch(re.escape(stem) + r"(?:\s*\(([a-z]{3})\))?", name)
        if match:
            currency_name = f"currency ({stem})"
            currency_position = names.index(currency_name) if currency_name in names else None
            return _Money(position, currency_position, match[1].upper() if match[1] else None)
    return None


class Trading212Format:
    """The Trading 212 "History" export (Invest and ISA accounts)."""

    name = NAME
    title = "Trading 212 history CSV"

    def detect(self, head: str) -> bool:
        """Trading 212's header: Action, Time, `No. of shares` and `Price / share`."""
        cells = set(first_row(head))
        return {"action", "no. of shares", "price / share"} <= cells and bool({"time", "time (utc)"} & cells)

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        """Every row as entries, skips, unknown actions or problems, in file order."""
        rows = records(lines, options.delimiter)
        header = next(rows, None)
        if header is None or not any(cell.strip() for cell in header.cells):
            yield Problem(1, EMPTY)
            return
        reader = _Reader(header.cells, options)
        why = missing(reader.columns, ("action", "date"), self.title) or (
            None if reader.total else f"not a {self.title} header: no Total column")
        if why:
            yield Problem(1, why)
            return
        held: tuple[int, dict[str, str], datetime] | None = None  # a split row waiting for its other half
        for record in rows:
            if not any(cell.strip() for cell in record.cells):
                yield Skipped(record.line, "blank line")
                continue
            try:
                row = reader.row(record.cells)
                action = row["action"]
                at = reader.time(row["date"])
                if action.casefold() in ("stock split close", "stock split open"):
                    if held is None:
                        held = (record.line, row, at)
                        continue
                    yield from reader.split(held, (record.line, row, at))
                    held = None
                    continue
                if held is not None:
                    yield Problem(held[0], f"{held[1]['action']} without its other half (stock split close and open "
                                           "come as a pair)")
                    held = None
                yield from reader.entry(record.line, row, at)
            except RowError as error:
                yield Problem(record.line, str(error))
        if held is not None:
            yield Problem(held[0], f"{held[1]['action']} without its other half (stock split close and open "
                                   "come as a pair)")


class _Reader:
    """The header's columns and the per-row rules."""

    def __init__(self, header: list[str], options: ParseOptions) -> None:
        self.options = options
        self.header = header
        self.columns = Columns(header, FIELDS, options.columns)
        self.total = _money_columns(header, options.columns.get("total", "Total").casefold()) or _money_columns(
            header, "gross total")
        self.withholding = _money_columns(header, "withholding tax")
        self.fees = [(stem, money) for stem in FEES if (money := _money_columns(header, stem)) is not None]
        #: Every fee a row may have, of this header or of the newer layout (the same names).
        self.fee_stems = [stem for stem, _ in self.fees]
        # Rows of the newer layout (Notes, ID right after Name) pasted under an older header.
        names = [header_name(cell) for cell in header]
        self.newer: Columns | None = None
        if "notes" in names and "id" in names and "name" in names and names.index("notes") > names.index("name") + 1:
            moved = [cell for cell in header if header_name(cell) not in ("notes", "id")]
            at = [header_name(cell) for cell in moved].index("name") + 1
            moved[at:at] = [header[names.index("notes")], header[names.index("id")]]
            self.newer = Columns(moved, FIELDS, options.columns)
            self.newer_header = moved
        self.ids: Counter[str] = Counter()

    def row(self, cells: list[str]) -> dict[str, str]:
        """The row's cells by field, realigned when it is written in the newer layout."""
        columns, header = self.columns, self.header
        if (self.newer is not None and not columns.get(cells, "quantity")
                and _ID_LIKE.fullmatch(columns.get(cells, "price"))):
            columns, header = self.newer, self.newer_header
        row = {field: columns.get(cells, field) for field in FIELDS}
        money = self.total if header is self.header else _money_columns(header, "total")
        row.update(_money(cells, money, "total"))
        wht = self.withholding if header is self.header else _money_columns(header, "withholding tax")
        row.update(_money(cells, wht, "withholding"))
        fees = self.fees if header is self.header else [
            (stem, m) for stem in FEES if (m := _money_columns(header, stem)) is not None]
        for stem, fee in fees:
            row.update(_money(cells, fee, f"fee:{stem}"))
        if row["action"].casefold() == "currency conversion":
            for field, stem in CONVERSION_AMOUNTS:
                row.update(_money(cells, _money_columns(header, stem), field))
        return row

    def time(self, text: str) -> datetime:
        """Trading 212's times: `YYYY-MM-DD HH:MM:SS` with 0 to 3 fraction digits, in UTC (the newest
        exports name the column `Time (UTC)` and may add `+00:00`; an offset given is honoured)."""
        if self.options.date_format:
            return strptime_local(text, self.options.date_format, "time")
        match = _TIME.fullmatch(text)
        if not match:
            raise RowError(f"time {text!r} is not YYYY-MM-DD HH:MM:SS, the form Trading 212 writes")
        zone = match[3] or "+00:00"
        try:
            moment = datetime.fromisoformat(f"{match[1]}.{(match[2] or '').ljust(6, '0')}{'+00:00' if zone == 'Z' else zone}")
        except ValueError:
            raise RowError(f"time {text!r} is not a valid date and time") from None
        return moment.astimezone(timezone.utc)

    def key(self, row: dict[str, str]) -> str | None:
        """`trading212:ID`; an ID seen before in the file (masked exports repeat them) gets `#n`."""
        identifier = row["id"]
        if not identifier:
            return None
        self.ids[identifier] += 1
        count = self.ids[identifier]
        return f"{NAME}:{identifier}" if count == 1 else f"{NAME}:{identifier}#{count}"

    def amount(self, row: dict[str, str], field: str) -> Decimal | None:
        """A number cell by field, named as the file names its column in a problem."""
        text = row.get(field, "")
        if not text:
            return None
        label = _LABELS.get(field) or field.removeprefix("fee:").capitalize()
        return optional_amount(text, field=label, decimal_comma=True if self.options.decimal_comma else None, limit=False)

    def entry(self, line: int, row: dict[str, str], at: datetime) -> list[Item]:
        """The row's entries: a trade comes with its stated rate and any fee it cannot carry."""
        action = row["action"]
        folded = action.casefold()
        trade = _TRADE.fullmatch(action.strip())
        if trade:
            return self.trade(line, row, at, trade[1].casefold())
        if folded == "stock distribution":
            items = self.trade(line, row, at, "buy")
            return [replace(item, note="stock distribution") if isinstance(item, TradeEntry) else item for item in items]
        return [self.other(line, row, at)]

    def other(self, line: int, row: dict[str, str], at: datetime) -> Item:
        action = row["action"]
        folded = action.casefold()
        if folded.startswith("dividend"):
            return self.dividend(line, row, at)
        total = self.amount(row, "total")
        currency = row.get("total_currency") or None
        if folded in ("deposit", "withdrawal", "interest on cash", "lending interest", "result adjustment",
                      "spending cashback", "card debit", "card credit"):
            if total is None or not total:
                return Skipped(line, f"{action} of no amount")
            kinds = {"deposit": "deposit", "withdrawal": "withdraw", "interest on cash": "interest",
                     "lending interest": "interest", "spending cashback": "interest", "card debit": "withdraw",
                     "card credit": "deposit"}
            kind = kinds.get(folded) or "fee"
            if folded in ("deposit", "withdrawal", "card debit", "card credit"):
                kind = "deposit" if total > 0 else "withdraw"
            refund = folded == "result adjustment" and total > 0
            if refund and "tax" in row["notes"].casefold():
                kind = "tax"  # "Withholding tax refund - interest on cash"
            return CashEntry(line, at, kind, positive(total), currency, key=self.key(row),
                             note=row["notes"] or action, refund=refund)
        if folded == "currency conversion":
            return self.conversion(line, row, at)
        return Unknown(line, action)

    def conversion(self, line: int, row: dict[str, str], at: datetime) -> Item:
        """A `Currency conversion` row: `from amount` of one currency for `to amount` of another.

        The `Currency conversion fee` is part of the amount taken when it is in the same currency
        (the row's Exchange rate is (from - fee) / to): the conversion sells from - fee plus the
        fee, as `cash convert --fee` does; a fee in another currency is the conversion's fee in
        that currency.
        """
        taken, given = self.amount(row, "from"), self.amount(row, "to")
        source, target = row.get("from_currency", ""), row.get("to_currency", "")
        if not taken or not given or not source or not target:
            return Skipped(line, "currency conversion without its from and to amounts and currencies: not booked")
        fee = positive(self.amount(row, "fee:currency conversion fee") or Decimal(0))
        fee_currency = row.get("fee:currency conversion fee_currency") or source
        sold = positive(taken)
        if fee and fee_currency == source:
            sold = subtract(sold, fee)
        if sold <= 0:
            raise RowError(f"currency conversion of {taken} {source} with a fee of {fee}: nothing converted")
        return ConversionEntry(line, at, sold, source, positive(given), target, fee=fee,
                               fee_currency=fee_currency if fee else None, key=self.key(row),
                               note=row["notes"] or "Currency conversion")

    def _symbol(self, row: dict[str, str]) -> tuple[str, str | None]:
        isin = row["isin"].upper()
        ticker = row["symbol"]
        symbol = symbol_of(ticker or isin) if (ticker or isin) else ""
        if not symbol:
            raise RowError("no Ticker and no ISIN: cannot name the instrument")
        return symbol, isin if ISIN_PATTERN.fullmatch(isin) else None

    def trade(self, line: int, row: dict[str, str], at: datetime, side: str) -> list[Item]:
        """A fill in the instrument's currency, its stated rate, and the fees it cannot carry.

        A fee in the instrument's currency is part of the trade; one in the account currency is
        converted with the row's Exchange rate (account unit → instrument units, an exact
        product) — except for GBX instruments, whose rate Trading 212 does not state
        unambiguously, where such a fee stays a fee of its own currency.
        """
        symbol, isin = self._symbol(row)
        quantity = self.amount(row, "quantity")
        price = self.amount(row, "price")
        if quantity is None or price is None:
            raise RowError(f"{row['action']} without No. of shares or Price / share")
        if quantity <= 0 or price < 0:
            raise RowError(f"No. of shares {row['quantity']!r} and Price / share {row['price']!r} must be positive")
        pence = row["price_currency"].upper() == "GBX"
        currency = row["price_currency"].upper() or row.get("total_currency") or None
        if pence:
            price, currency = pounds(price), "GBP"
        rate = None if pence else self.amount(row, "rate")
        account_currency = row.get("total_currency") or None
        key = self.key(row)
        fees: list[Decimal] = []
        notes: list[str] = []
        separate: list[Item] = []
        for stem in self.fee_stems:
            fee = self.amount(row, f"fee:{stem}")
            if not fee:
                continue
            fee_currency = (row.get(f"fee:{stem}_currency") or account_currency or currency or "").upper()
            if fee_currency == "GBX":
                fee, fee_currency = pounds(fee), "GBP"
            if fee_currency == currency:
                fees.append(positive(fee))
            elif fee_currency == account_currency and rate:
                fees.append(multiply(positive(fee), rate))
                notes.append(f"{stem} {positive(fee)} {fee_currency}")
            else:
                fee_key = f"{key}:{stem.replace(' ', '-')}" if key else None
                separate.append(CashEntry(line, at, "fee", positive(fee), fee_currency or None, key=fee_key,
                                          note=f"{stem} of {row['action']} {symbol}"))
        trade = TradeEntry(
            line=line, at=at, side=side, symbol=symbol, quantity=quantity, price=price, fees=canonical(add(*fees)),
            currency=currency, key=key, isin=isin,
            note=("fees converted at the Exchange rate: " + ", ".join(notes)) if notes else None)
        items: list[Item] = [trade, *separate]
        total = self.amount(row, "total")
        if currency and account_currency and currency != account_currency and total:
            conversion = _paid_from_account(line, at, trade, positive(total), account_currency, separate)
            if conversion is not None:  # booked at the trade's instant, credits first (docs/ledger.md §13.2)
                items.append(conversion)
        if rate and currency and account_currency and currency != account_currency:
            items.append(RateEntry(line, at, account_currency, currency, rate))
        return items

    def dividend(self, line: int, row: dict[str, str], at: datetime) -> Item:
        symbol, isin = self._symbol(row)
        total = self.amount(row, "total")
        if total is None:
            raise RowError(f"{row['action']} without a Total")
        if total <= 0:
            return Unknown(line, f"{row['action']} (an amount of {total}: a reversal)")
        currency = row.get("total_currency") or None
        tax = self.amount(row, "withholding")
        tax_currency = (row.get("withholding_currency") or "").upper() or None
        if tax and tax_currency == currency:
            return DividendEntry(line, at, symbol, add(positive(total), positive(tax)), tax=positive(tax),
                                 currency=currency, key=self.key(row), isin=isin, note=row["action"])
        note = row["action"]
        if tax:
            note += f"; net of {positive(tax)} {tax_currency} withholding tax"
        return DividendEntry(line, at, symbol, positive(total), currency=currency, key=self.key(row), isin=isin,
                             note=note)

    def split(self, first: tuple[int, dict[str, str], datetime],
              second: tuple[int, dict[str, str], datetime]) -> Iterator[Item]:
        """`Stock split close` (the old shares) and `Stock split open` (the new) as one split."""
        close, open_ = (first, second) if first[1]["action"].casefold().endswith("close") else (second, first)
        if close[1]["action"].casefold() == open_[1]["action"].casefold():
            raise RowError(f"two {close[1]['action']} rows in a row: a split is a close and an open")
        symbol, isin = self._symbol(close[1])
        old, new = self.amount(close[1], "quantity"), self.amount(open_[1], "quantity")
        if not old or not new:
            raise RowError("a stock split without No. of shares")
        if self._symbol(open_[1])[0] != symbol:
            raise RowError(f"stock split close of {symbol} followed by an open of {self._symbol(open_[1])[0]}")
        ratio = Fraction(new) / Fraction(old)
        if ratio == 1 or ratio.numerator > 10**9 or ratio.denominator > 10**9:
            raise RowError(f"stock split of {old} shares into {new}: not a ratio of whole numbers")
        items: dict[int, Item] = {
            close[0]: SplitEntry(close[0], close[2], symbol, ratio.numerator, ratio.denominator, key=self.key(close[1]),
                                 isin=isin),
            open_[0]: Skipped(open_[0], f"the new shares of the split on line {close[0]}"),
        }
        for line in sorted(items):
            yield items[line]


def _paid_from_account(line: int, at: datetime, trade: TradeEntry, total: Decimal, account_currency: str,
                       separate: list[Item]) -> ConversionEntry | None:
    """The conversion that pays a trade in a foreign instrument currency from the account currency.

    A buy takes its `Total` (account currency) and needs quantity x price + fees in the
    instrument currency: that much is bought with the Total, just before the trade. A sell
    brings quantity x price - fees, sold for its Total just after it. A fee booked apart in
    the account currency (no rate to convert it) is in the Total already: it is not converted.
    """
    assert trade.currency is not None
    gross = multiply(trade.quantity, trade.price)
    apart = add(*(i.amount for i in separate if isinstance(i, CashEntry) and i.currency == account_currency))
    if trade.side == "buy":
        needed, paid = add(gross, trade.fees), subtract(total, apart)
        if needed <= 0 or paid <= 0:
            return None
        return ConversionEntry(line, at, paid, account_currency, needed, trade.currency,
                               key=f"{trade.key}:fx" if trade.key else None,
                               note=f"{account_currency} paid for the buy of {trade.symbol}")
    proceeds, received = subtract(gross, trade.fees), add(total, apart)
    if proceeds <= 0 or received <= 0:
        return None
    return ConversionEntry(line, at, proceeds, trade.currency, received, account_currency,
                           key=f"{trade.key}:fx" if trade.key else None,
                           note=f"{account_currency} received for the sale of {trade.symbol}")


def _money(cells: list[str], money: _Money | None, field: str) -> dict[str, str]:
    if money is None:
        return {}
    value = cells[money.position].strip() if money.position < len(cells) else ""
    currency = money.currency or ""
    if money.currency_position is not None and money.currency_position < len(cells):
        currency = cells[money.currency_position].strip() or currency
    return {field: value, f"{field}_currency": currency.upper()}


FORMAT = Trading212Format()
