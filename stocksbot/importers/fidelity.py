"""Fidelity's account history CSV (`--from fidelity`): its rows as stocksbot entries.

Fidelity's "Activity & Orders" download (`Accounts_History.csv`, or `History_for_Account_X.csv`
for one account) has blank lines and sometimes a title before the header, the rows newest
first, then a disclaimer and "Date downloaded ...". Its header changed over the years, so
columns are found by name: `Run Date`, `Account` (and in newer files `Account Number`),
`Action`, `Symbol`, `Security Description` or `Description`, `Quantity`, `Price ($)` or
`Price`, `Commission ($)`, `Fees ($)`, `Accrued Interest ($)`, `Amount ($)` or `Amount`,
`Settlement Date`, and in the newest `Currency` and `Exchange Rate`. The action is free text
("YOU BOUGHT APPLE INC (AAPL) (Cash)"), read by its first words. A file with several accounts
gives each entry its account, so each becomes a stocksbot account of its own.
What each action becomes, what is skipped and why: docs/brokers.md §12.4.

Pure: no database, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Iterator

from stocksbot.errors import StocksbotError
from stocksbot.importers._us_reading import (
    Columns,
    Dates,
    find_table,
    header_names,
    positive,
    read_symbol,
    settle_trade,
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
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.reading import Record, RowError, optional_amount
from stocksbot.ledger import add, subtract
from stocksbot.ledger.inputs import parse_currency

NAME = "fidelity"
CURRENCY = "USD"

#: The fields of a row and the column names Fidelity has given them (`--map field=Column` overrides).
COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("Run Date",),
    "account": ("Account Number",),
    "account_name": ("Account",),
    "action": ("Action",),
    "symbol": ("Symbol",),
    "description": ("Security Description", "Description"),
    "quantity": ("Quantity",),
    "price": ("Price ($)", "Price"),
    "commission": ("Commission ($)", "Commission"),
    "fees": ("Fees ($)", "Fees"),
    "interest": ("Accrued Interest ($)", "Accrued Interest"),
    "amount": ("Amount ($)", "Amount"),
    "currency": ("Currency",),
    "rate": ("Exchange Rate",),
}
REQUIRED = ("date", "action", "symbol", "quantity", "price", "amount")

#: Fidelity's core positions: the money-market fund (or bank deposit) that holds an account's
#: cash. Stocksbot keeps it as cash, so sweeps into and out of it are not trades and its
#: dividends are interest (docs/brokers.md §12.4.3).
CORE_SYMBOLS = frozenset({"SPAXX", "FDRXX", "FZFXX", "SPRXX", "FCASH", "CORE", "315994103"})

# Actions by their first words (Fidelity appends the security and "(Cash)" or "(Margin)").
# Longer prefixes first where one starts another.
SWEEPS = ("PURCHASE INTO CORE ACCOUNT", "REDEMPTION FROM CORE ACCOUNT")
BUYS = ("YOU BOUGHT", "REINVESTMENT")
SELLS = ("YOU SOLD", "REDEMPTION PAYOUT")
DIVIDENDS = ("DIVIDEND RECEIVED", "LONG-TERM CAP GAIN", "SHORT-TERM CAP GAIN")
INTEREST = ("INTEREST EARNED", "MUNI EXEMPT INT")
TAXES = ("FOREIGN TAX PAID", "ADJ FOREIGN TAX PAID")
FEES = ("FEE CHARGED", "ADVISOR FEE", "MARGIN INTEREST")
MONEY_MOVES = (
    "DIRECT DEPOSIT", "DIRECT DEBIT", "CHECK RECEIVED", "CHECK PAID", "BILL PAYMENT", "DEBIT CARD",
    "ELECTRONIC FUNDS TRANSFER", "TRANSFERRED FROM", "TRANSFERRED TO", "WIRE TRANSFER", "CASH CONTRIBUTION",
    "PARTIC CONTR", "PART CONTRIB", "ROLLOVER CASH", "CASH ADVANCE", "TRANSFER OF ASSETS",
)
SPLITS = ("DISTRIBUTION",)


@dataclass(frozen=True)
class _Record:
    """A data row read into typed values; numbers are None when the cell is empty."""

    row: Record
    action: str
    at: datetime
    account: str | None
    symbol: str
    description: str
    quantity: Decimal | None
    price: Decimal | None
    commission: Decimal | None
    fees: Decimal | None
    interest: Decimal | None
    amount: Decimal | None
    currency: str
    rate: Decimal | None

    @property
    def line(self) -> int:
        return self.row.line

    @property
    def words(self) -> str:
        """The action upper-cased with single spaces, for matching its first words."""
        return " ".join(self.action.upper().split())

    @property
    def text(self) -> str:
        """The action as written, with single spaces."""
        return " ".join(self.action.split())

    def starts(self, prefixes: tuple[str, ...]) -> bool:
        return self.words.startswith(prefixes)

    @property
    def core(self) -> bool:
        """Whether the row is about the account's core position (its cash)."""
        description = self.description.upper()
        return (self.symbol.upper().rstrip("*") in CORE_SYMBOLS or description == "CASH"
                or description.startswith("FDIC INSURED DEPOSIT") or "CORE ACCOUNT" in self.words)

    def note(self, text: str | None = None) -> str:
        """The row's own words (Fidelity's action names the security), and why, if needed."""
        note = f"Fidelity: {self.text}"
        return f"{note}; {text}" if text else note


class FidelityFormat:
    """Fidelity account history CSV (Accounts & Trade > Activity & Orders > Download)."""

    name = NAME
    #: Rows are newest first, within a day too: the booking books the rows of one day bottom-up.
    newest_first = True
    title = "Fidelity account history CSV"

    def detect(self, head: str) -> bool:
        """Fidelity's header: Run Date, Action, Symbol, Quantity, Amount ($) or Amount, Settlement Date."""
        wanted = {"run date", "action", "symbol", "quantity", "settlement date"}
        for names in header_names(head):
            if wanted <= names and ("amount ($)" in names or "amount" in names):
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
                                  empty="the file is empty: a Fidelity history CSV has the header Run Date,Account,"
                                        "Action,Symbol,...,Amount ($),Settlement Date",
                                  foreign="no Fidelity header (Run Date, Action, Symbol, Quantity, Price, Amount) in the "
                                          "first lines: is this a Fidelity account history export?")
        yield from found
        if table is None:
            return
        rows, header, columns, width = table.rows, table.header, table.columns, table.width
        rows_seen = False
        dates = Dates(options.date_format)
        after_blank = False
        for row in rows:
            if row.blank:
                after_blank = after_blank or rows_seen
                yield Skipped(row.line, "blank line")
                continue
            first = row.cells[0]
            if after_blank and not first[:1].isdigit() or first.casefold().startswith("date downloaded"):
                yield Skipped(row.line, "informational text after the rows (Fidelity's disclaimer)")
                continue
            rows_seen = True
            if len(row.cells) < width:
                yield Problem(row.line, f"the row has {len(row.cells)} columns, the header {len(header.cells)}: "
                                        "a truncated row?")
                continue
            try:
                record = _read(row, columns, options, dates)
                yield from _entries(record)
            except RowError as error:
                yield Problem(row.line, str(error))
        if not rows_seen:
            yield Problem(header.line, "no transactions after the header")


def _read(row: Record, columns: Columns, options: ParseOptions, dates: Dates) -> _Record:
    action = columns.get(row, "action")
    if not action:
        raise RowError("no Action")
    comma = options.decimal_comma
    currency_text = columns.get(row, "currency")
    try:
        currency = parse_currency(currency_text) if currency_text else CURRENCY
    except StocksbotError as error:
        raise RowError(str(error)) from None
    return _Record(
        row=row, action=action, at=dates.read(columns.get(row, "date"), "Run Date"),
        account=_account(row, columns), symbol=columns.get(row, "symbol"),
        description=columns.get(row, "description"),
        quantity=optional_amount(columns.get(row, "quantity"), field="Quantity", decimal_comma=comma),
        price=optional_amount(columns.get(row, "price"), field="Price", decimal_comma=comma),
        commission=optional_amount(columns.get(row, "commission"), field="Commission", decimal_comma=comma),
        fees=optional_amount(columns.get(row, "fees"), field="Fees", decimal_comma=comma),
        interest=optional_amount(columns.get(row, "interest"), field="Accrued Interest", decimal_comma=comma),
        amount=optional_amount(columns.get(row, "amount"), field="Amount", decimal_comma=comma),
        currency=currency, rate=optional_amount(columns.get(row, "rate"), field="Exchange Rate", decimal_comma=comma),
    )


def _account(row: Record, columns: Columns) -> str | None:
    """The stocksbot account of a row: Fidelity's account number (stable, unlike the nickname).

    `Account Number` when the file has it (or whatever `--map account=...` names, verbatim);
    else the number at the end of `Account` ("INDIVIDUAL - TOD X70744875" -> X70744875); a
    file of one account has neither, and its entries go to `--account`.
    """
    if columns.has("account"):
        return columns.get(row, "account") or None
    text = columns.get(row, "account_name")
    if not text:
        return None
    last = text.split()[-1]
    return last if any(char.isdigit() for char in last) else text


def _entries(record: _Record) -> Iterator[Item]:
    """What one row becomes (a bond trade with accrued interest gives two entries)."""
    line, at, account = record.line, record.at, record.account
    if record.starts(SWEEPS):
        yield Skipped(line, "a sweep into or out of the core position, which stocksbot keeps as cash")
        return
    if record.symbol.startswith("-") or " OPENING TRANSACTION " in f" {record.words} " \
            or " CLOSING TRANSACTION " in f" {record.words} ":
        yield Unknown(line, record.text)  # options are not stocksbot instruments
        return
    if record.starts(BUYS) or record.starts(SELLS):
        if record.core:
            yield Skipped(line, "a reinvestment or trade of the core position, which stocksbot keeps as cash")
            return
        yield from _trade(record, "buy" if record.starts(BUYS) else "sell")
        return
    if record.starts(DIVIDENDS):
        amount = _need(record.amount, "Amount", record)
        if amount <= 0:
            yield Unknown(line, f"{record.text} (a negative amount: a reversal)") if amount else \
                Skipped(line, "a dividend of 0")
        elif record.core or not record.symbol:
            yield CashEntry(line, at, "interest", amount, record.currency, account,
                            note=record.note("the core position's dividend: interest on cash"))
        else:
            yield DividendEntry(line, at, read_symbol(record.symbol), amount, currency=record.currency,
                                account=account, note=record.note())
        return
    if record.starts(TAXES):
        amount = _need(record.amount, "Amount", record)
        if not amount:
            yield Skipped(line, "a tax of 0")
        elif record.symbol and not record.core:
            yield TaxEntry(line, at, read_symbol(record.symbol), amount.copy_abs(), record.currency, account,
                           refund=amount > 0, note=record.note())
        elif amount < 0:
            yield CashEntry(line, at, "tax", amount.copy_abs(), record.currency, account, note=record.note())
        else:
            yield Unknown(line, f"{record.text} (a refund of tax with no symbol)")
        return
    if record.starts(INTEREST) or record.starts(FEES) or record.starts(MONEY_MOVES):
        yield _cash(record)
        return
    if record.starts(SPLITS):
        quantity = _need(record.quantity, "Quantity", record)
        if quantity <= 0 or record.amount:
            yield Unknown(line, record.text)
        else:
            yield SplitEntry(line, at, read_symbol(record.symbol), added=quantity, account=account)
        return
    yield Unknown(line, record.text)


def _need(value: Decimal | None, column: str, record: _Record) -> Decimal:
    if value is None:
        raise RowError(f"{record.text} without {column}")
    return value


def _trade(record: _Record, side: str) -> Iterator[Item]:
    """A buy or sell; its accrued interest (bonds) is a cash entry of its own, so the trade's
    cost is the bond's price and the coupon later received is net of what was paid for it."""
    quantity = _need(record.quantity, "Quantity", record).copy_abs()
    if not quantity:
        raise RowError(f"{record.text} of 0 shares")
    price = _need(record.price, "Price", record)
    if price < 0:
        raise RowError(f"{record.text} at a negative Price {price}")
    if not record.symbol:
        raise RowError(f"{record.text} without a Symbol")
    symbol = read_symbol(record.symbol)
    line, at, account = record.line, record.at, record.account
    amount = record.amount
    interest = positive(record.interest)
    if interest and amount is not None:
        kind = "fee" if side == "buy" else "interest"
        yield CashEntry(line, at, kind, interest, record.currency, account,
                        note=record.note(f"accrued interest {'paid' if side == 'buy' else 'received'}"))
        amount = add(amount, interest) if amount < 0 else subtract(amount, interest)
    if record.rate and record.currency != CURRENCY:
        # Fidelity states the rate of a foreign trade; read as US dollars per unit of its currency.
        yield RateEntry(line, at, record.currency, CURRENCY, record.rate)
    commission = positive(record.commission)
    price, fees = settle_trade(side, quantity, price, commission, positive(record.fees), amount)
    note = record.note("dividend reinvestment" if record.starts(("REINVESTMENT",)) else None)
    yield TradeEntry(line, at, side, symbol, quantity, price, commission, fees, currency=record.currency,
                     account=account, note=note)


def _cash(record: _Record) -> Item:
    """Interest, fees and money moved in or out: the sign of Amount says the direction."""
    line, at, account = record.line, record.at, record.account
    amount = record.amount
    if record.starts(("TRANSFER OF ASSETS",)) and record.symbol:
        return Unknown(line, f"{record.text} (shares moved in or out: record their lots with trade add)")
    if amount is None or not amount:
        return Skipped(line, f"{record.text} with no amount")
    size = amount.copy_abs()
    if record.starts(INTEREST):
        kind = "interest" if amount > 0 else "fee"
    elif record.starts(FEES):
        if amount > 0:
            return Unknown(line, f"{record.text} (a positive amount: a refund)")
        kind = "fee"
    else:
        kind = "deposit" if amount > 0 else "withdraw"
    return CashEntry(line, at, kind, size, record.currency, account, note=record.note())


FORMAT = FidelityFormat()
