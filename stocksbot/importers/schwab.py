"""Charles Schwab's transactions CSV (`--from schwab`): its rows as stocksbot entries.

Schwab writes one account per file, newest first: an optional title line ("Transactions for
account ..."), the header `Date,Action,Symbol,Description,Quantity,Price,Fees & Comm,Amount`
(in some exports Price comes before Quantity, so columns are found by name), the rows, and a
`Transactions Total` summary row. Dates are `MM/DD/YYYY`, or `MM/DD/YYYY as of MM/DD/YYYY`
when a row was posted later than it took effect; amounts are dollars (`"-$1,259.59"`).
What each action becomes, what is skipped and why: docs/brokers.md §12.

Pure: no database, no clock. The booking (`services/broker_imports.py`) does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from math import gcd
from typing import Iterable, Iterator

from stocksbot.importers._us_reading import (
    Columns,
    Dates,
    find_table,
    header_names,
    positive,
    read_symbol,
    settle_trade,
    split_as_of,
)
from stocksbot.importers.entries import (
    ZERO,
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
from stocksbot.importers.reading import Record, RowError, optional_amount

NAME = "schwab"
CURRENCY = "USD"

#: The fields of a row and the column names Schwab gives them (`--map field=Column` overrides).
COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("Date",),
    "action": ("Action",),
    "symbol": ("Symbol",),
    "description": ("Description",),
    "quantity": ("Quantity",),
    "price": ("Price",),
    "commission": ("Fees & Comm", "Fees & Commissions"),
    "amount": ("Amount",),
}
REQUIRED = ("date", "action", "symbol", "quantity", "price", "amount")

# Actions, case-insensitive. Every name here is one seen in a public Schwab export or in a
# public project that reads them (docs/brokers.md §12.3.2 lists them with what each becomes).
TRADES = {"buy": "buy", "sell": "sell", "reinvest shares": "buy"}
DIVIDENDS = frozenset({
    "cash dividend", "qualified dividend", "non-qualified div", "special non qual div", "pr yr cash div",
    "reinvest dividend", "qual div reinvest", "pr yr div reinvest", "long term cap gain reinvest",
    "long term cap gain", "short term cap gain",
})
INTEREST = frozenset({"credit interest", "bank interest", "bond interest"})
FEES = frozenset({"advisor fee", "adr mgmt fee", "service fee", "margin interest"})
TAXES = frozenset({"foreign tax paid", "nra tax adj", "nra withholding", "irs withhold adj"})
MONEY_MOVES = frozenset({
    "moneylink transfer", "moneylink deposit", "moneylink adj", "wire sent", "wire funds", "wire funds received",
    "funds received", "internal transfer", "journal", "misc cash entry", "visa purchase",
})
SHARES_ADDED = frozenset({"stock split", "stock div dist"})
SHARES_GIVEN = frozenset({"spin-off", "stock plan activity"})
REVERSE_SPLIT = "reverse split"
CASH_MERGER = "cash merger"
CASH_MERGER_ADJ = "cash merger adj"


@dataclass(frozen=True)
class _Record:
    """A data row read into typed values; the numbers are None when the cell is empty."""

    row: Record
    action: str
    posted: datetime
    effective: datetime
    as_of: bool
    symbol: str
    description: str
    quantity: Decimal | None
    price: Decimal | None
    commission: Decimal | None
    amount: Decimal | None

    @property
    def key(self) -> str:
        return self.action.casefold()

    @property
    def line(self) -> int:
        return self.row.line

    def note(self, text: str | None = None) -> str:
        """The row's own words, so `trade list` and `cash list` say where an entry came from."""
        note = f"Schwab {self.action}: {self.description}" if self.description else f"Schwab {self.action}"
        return f"{note}; {text}" if text else note


class SchwabFormat:
    """Charles Schwab transactions CSV (History > Export)."""

    name = NAME
    #: Rows are newest first, within a day too: the booking books the rows of one day bottom-up.
    newest_first = True
    title = "Charles Schwab transactions CSV"

    def detect(self, head: str) -> bool:
        """Schwab's header: Date, Action, Symbol, Description, Quantity, Price, Fees & Comm, Amount."""
        wanted = {"date", "action", "symbol", "description", "quantity", "price", "amount"}
        for names in header_names(head):
            if wanted <= names and ("fees & comm" in names or "fees & commissions" in names):
                return True
        return False

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        """The file's rows in file order: entries, skips, unknown actions and problems."""
        try:
            yield from self._parse(lines, options)
        except RowError as error:  # an unreadable CSV (an unclosed quote)
            yield Problem(error.line, str(error))

    def _parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        found, table = find_table(lines, options, COLUMNS, REQUIRED,
                                  empty="the file is empty: a Schwab transactions CSV starts with the header "
                                        "Date,Action,Symbol,Description,Quantity,Price,Fees & Comm,Amount",
                                  foreign="no Schwab header (Date, Action, Symbol, Quantity, Price, Fees & Comm, Amount) "
                                          "in the first lines: is this a Schwab transactions export?")
        yield from found
        if table is None:
            return
        rows, header, columns, width = table.rows, table.header, table.columns, table.width
        records: list[_Record | Item] = []
        dates = Dates(options.date_format)
        for row in rows:
            records.append(self._read(row, columns, width, options, dates))
        yield from _entries(records)
        if all(isinstance(record, Skipped) for record in records):
            yield Problem(header.line, "no transactions after the header")

    def _read(self, row: Record, columns: Columns, width: int, options: ParseOptions, dates: Dates) -> _Record | Item:
        """One row as a _Record, or at once a skip (blank, total) or a problem."""
        if row.blank:
            return Skipped(row.line, "blank line")
        if row.cells[0].casefold().startswith("transactions total"):
            return Skipped(row.line, "the statement's total row (a summary, not a transaction)")
        if len(row.cells) < width:
            return Problem(row.line, f"the row has {len(row.cells)} columns, the header {len(columns.header.cells)}: "
                                     "a truncated row?")
        try:
            action = columns.get(row, "action")
            if not action:
                raise RowError("no Action")
            posted_text, effective_text = split_as_of(columns.get(row, "date"))
            posted = dates.read(posted_text, "Date")
            effective = dates.read(effective_text, "Date") if effective_text else posted
            comma = options.decimal_comma
            return _Record(
                row=row, action=action, posted=posted, effective=effective, as_of=effective_text is not None,
                symbol=columns.get(row, "symbol"), description=columns.get(row, "description"),
                quantity=optional_amount(columns.get(row, "quantity"), field="Quantity", decimal_comma=comma),
                price=optional_amount(columns.get(row, "price"), field="Price", decimal_comma=comma),
                commission=optional_amount(columns.get(row, "commission"), field="Fees & Comm", decimal_comma=comma),
                amount=optional_amount(columns.get(row, "amount"), field="Amount", decimal_comma=comma),
            )
        except RowError as error:
            return Problem(row.line, str(error))


def _entries(records: list[_Record | Item]) -> Iterator[Item]:
    """The records as items, in file order; the two rows of a pair become one entry and a skip."""
    partner_of: dict[int, _Record] = {}  # the second row of a pair -> the first
    for index, record in enumerate(records):
        if not isinstance(record, _Record):
            yield record
            continue
        if index in partner_of:
            first = partner_of[index]
            yield Skipped(record.line, f"the other row of the {first.action} on line {first.line}")
            continue
        try:
            if record.key in (REVERSE_SPLIT, CASH_MERGER, CASH_MERGER_ADJ):
                other = _partner(records, index)
                if other is None:
                    raise RowError(f"{record.action} without its other row (the same day's "
                                   f"{_partner_name(record.key)} row beside it)")
                partner_of[other] = record
                partner = records[other]
                assert isinstance(partner, _Record)
                yield _pair(record, partner)
            else:
                yield _entry(record)
        except RowError as error:
            yield Problem(record.line, str(error))


def _partner_name(key: str) -> str:
    return {REVERSE_SPLIT: "Reverse Split", CASH_MERGER: "Cash Merger Adj", CASH_MERGER_ADJ: "Cash Merger"}[key]


def _partner(records: list[_Record | Item], index: int) -> int | None:
    """The index of the row next to `index` that completes its pair (the same day), if any."""
    record = records[index]
    assert isinstance(record, _Record)
    wanted = {REVERSE_SPLIT: REVERSE_SPLIT, CASH_MERGER: CASH_MERGER_ADJ, CASH_MERGER_ADJ: CASH_MERGER}[record.key]
    for other in (index + 1, index - 1):
        if 0 <= other < len(records):
            candidate = records[other]
            if isinstance(candidate, _Record) and candidate.key == wanted and candidate.effective == record.effective:
                if record.key != REVERSE_SPLIT or _signs(record, candidate):
                    return other
    return None


def _signs(first: _Record, second: _Record) -> bool:
    """Whether two Reverse Split rows are one adding shares and one removing them."""
    return first.quantity is not None and second.quantity is not None and (first.quantity > 0) != (second.quantity > 0)


def _need(value: Decimal | None, column: str, record: _Record) -> Decimal:
    if value is None:
        raise RowError(f"{record.action} without a {column}")
    return value


def _symbol(record: _Record) -> str:
    if not record.symbol:
        raise RowError(f"{record.action} without a Symbol")
    return read_symbol(record.symbol)


def _entry(record: _Record) -> Item:
    """What one (unpaired) row becomes."""
    key, line, at = record.key, record.line, record.effective
    if key in TRADES:
        return _trade(record, TRADES[key], note="dividend reinvestment" if key == "reinvest shares" else None)
    if key in DIVIDENDS:
        amount = _need(record.amount, "Amount", record)
        if amount < 0:
            return Unknown(line, f"{record.action} (a negative amount: a reversal)")
        if not amount:
            return Skipped(line, f"{record.action} of $0")
        if not record.symbol:  # a sweep fund's payout: income of the cash itself
            return CashEntry(line, at, "interest", amount, CURRENCY, note=record.note("no symbol: booked as interest"))
        return DividendEntry(line, at, _symbol(record), amount, currency=CURRENCY, note=record.note())
    if key in INTEREST or key in FEES or key in TAXES or key in MONEY_MOVES:
        return _cash(record)
    if key in SHARES_ADDED:
        quantity = _need(record.quantity, "Quantity", record)
        if quantity <= 0:
            raise RowError(f"{record.action} with Quantity {quantity}: the shares added must be more than 0")
        # A split applies from the start of its day (docs/ledger.md §12.1): the day the shares
        # trade split-adjusted, which is the posting date; Schwab's "as of" is the record day before.
        return SplitEntry(line, record.posted if key == "stock split" else at, _symbol(record), added=quantity)
    if key in SHARES_GIVEN:
        quantity = _need(record.quantity, "Quantity", record)
        if quantity <= 0:
            raise RowError(f"{record.action} with Quantity {quantity}: the shares received must be more than 0")
        price = positive(record.price)
        note = "received at the price shown" if record.price is not None else "no price in the statement: cost 0"
        return TradeEntry(line, at, "buy", _symbol(record), quantity, price, currency=CURRENCY, note=record.note(note))
    return Unknown(line, record.action)


def _trade(record: _Record, side: str, note: str | None = None) -> TradeEntry:
    quantity = _need(record.quantity, "Quantity", record).copy_abs()
    if not quantity:
        raise RowError(f"{record.action} of 0 shares")
    price = _need(record.price, "Price", record)
    if price < 0:
        raise RowError(f"{record.action} at a negative Price {price}")
    commission = positive(record.commission)
    price, fees = settle_trade(side, quantity, price, commission, ZERO, record.amount)
    return TradeEntry(record.line, record.effective, side, _symbol(record), quantity, price, commission, fees,
                      currency=CURRENCY, note=record.note(note))


def _cash(record: _Record) -> Item:
    """Interest, fees, taxes and money moved in or out: the sign of Amount says the direction."""
    key, line, at = record.key, record.line, record.effective
    amount = record.amount
    if amount is None or not amount:
        return Skipped(line, f"{record.action} with no amount")
    size = amount.copy_abs()
    if key in TAXES:
        if record.symbol:
            return TaxEntry(line, at, _symbol(record), size, CURRENCY, refund=amount > 0, note=record.note())
        if amount > 0:
            return Unknown(line, f"{record.action} (a refund of tax with no symbol)")
        return CashEntry(line, at, "tax", size, CURRENCY, note=record.note())
    if key in INTEREST:
        kind = "interest" if amount > 0 else "fee"
    elif key in FEES:
        if amount > 0:
            return Unknown(line, f"{record.action} (a positive amount: a refund)")
        kind = "fee"
    else:
        kind = "deposit" if amount > 0 else "withdraw"
    note = record.note(f"symbol {record.symbol}" if record.symbol else None)
    return CashEntry(line, at, kind, size, CURRENCY, note=note)


def _pair(first: _Record, second: _Record) -> Item:
    """A reverse split (new shares +, old line -) or a cash merger (cash +, shares -) from its two rows."""
    if first.key == REVERSE_SPLIT:
        new, old = (first, second) if _need(first.quantity, "Quantity", first) > 0 else (second, first)
        added = _need(new.quantity, "Quantity", new)
        removed = _need(old.quantity, "Quantity", old).copy_abs()
        if added != added.to_integral_value() or removed != removed.to_integral_value():
            raise RowError(f"Reverse Split of {removed} shares into {added}: a ratio needs whole numbers of shares")
        numerator, denominator = int(added), int(removed)
        divisor = gcd(numerator, denominator)
        if numerator == denominator:
            return Skipped(first.line, f"Reverse Split of {removed} shares into {added}: no quantity changes")
        return SplitEntry(first.line, first.effective, _symbol(new), numerator=numerator // divisor,
                          denominator=denominator // divisor)
    cash, shares = (first, second) if first.key == CASH_MERGER else (second, first)
    amount = _need(cash.amount, "Amount", cash)
    quantity = _need(shares.quantity, "Quantity", shares).copy_abs()
    if amount <= 0 or not quantity:
        raise RowError(f"Cash Merger of {quantity} shares for {amount}: both must be more than 0")
    price, fees = settle_trade("sell", quantity, ZERO, ZERO, ZERO, amount)
    symbol = _symbol(shares if shares.symbol else cash)
    return TradeEntry(first.line, cash.effective, "sell", symbol, quantity, price, ZERO, fees, currency=CURRENCY,
                      note=cash.note(f"{quantity} shares taken for cash (Cash Merger Adj)"))


FORMAT = SchwabFormat()
