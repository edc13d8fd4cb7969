"""Any CSV, with its columns named by `--map` (docs/brokers.md §10).

Never detected: a user chooses it with `--from generic`. Each row's action (the `kind`
column when it has a value, else `side`) says what it is: buy/bought and sell/sold are
trades; dividend, tax (withholding), deposit, withdraw(al), interest and fee are the other
records; any other word is an unknown action. Columns have usual names it finds without
`--map` (`date`, `side`, `symbol`, `quantity`, `price`, ...); `--map` names the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from stocksbot.errors import StocksbotError
from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    Item,
    ParseOptions,
    Problem,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.reading import (
    Columns,
    DateFormat,
    Remembered,
    csv_rows,
    parse_amount,
    parse_quantity,
    parse_when,
)
from stocksbot.ledger.numbers import multiply

#: Each field of the format and the column names it is found by without `--map`.
FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("date", "executed_at", "datetime", "time", "trade date", "timestamp"),
    "side": ("side", "action", "buy/sell", "transaction type", "type"),
    "kind": ("kind",),
    "symbol": ("symbol", "ticker", "instrument"),
    "quantity": ("quantity", "qty", "shares", "units"),
    "price": ("price", "price per share", "unit price"),
    "commission": ("commission", "commissions"),
    "fees": ("fees", "fee"),
    "tax": ("tax", "withholding tax"),
    "amount": ("amount", "total", "value"),
    "currency": ("currency", "ccy"),
    "account": ("account",),
    "id": ("id", "external_id", "transaction id", "trade id", "order id"),
    "isin": ("isin",),
    "note": ("note", "description", "notes"),
}
#: Action words (lower case) and what they record.
TRADE_WORDS = {"buy": "buy", "bought": "buy", "sell": "sell", "sold": "sell"}
CASH_WORDS = {"deposit": "deposit", "withdraw": "withdraw", "withdrawal": "withdraw", "interest": "interest",
              "fee": "fee", "fees": "fee"}
DIVIDEND_WORDS = frozenset({"dividend", "dividends"})
TAX_WORDS = frozenset({"tax", "withholding", "withholding tax"})
SPLIT_WORDS = frozenset({"split", "stock split"})
TRANSFER_WORDS = frozenset({"transfer", "cash transfer"})


class GenericFormat:
    name = "generic"
    title = "generic CSV (--map)"

    def detect(self, head: str) -> bool:
        return False  # chosen with --from generic only

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        rows = csv_rows(lines, options.delimiter or ",")
        header: list[str] | None = None
        for line, values in rows:
            if any(value.strip() for value in values):
                header = values
                break
        if header is None:
            return
        unknown = sorted(set(options.columns) - set(FIELDS))
        if unknown:
            yield Problem(1, f"--map: no field {', '.join(map(repr, unknown))} in the generic format "
                             f"(fields: {', '.join(FIELDS)})")
            return
        columns = Columns(header, options.columns)
        try:
            at = {name: columns.find(name, *names) for name, names in FIELDS.items()}
            columns.require("date", *FIELDS["date"])
            if at["side"] is None and at["kind"] is None:
                columns.require("side", *FIELDS["side"])
        except StocksbotError as exc:
            yield Problem(line, str(exc))
            return
        reader = _RowReader(at, options, len(header))
        for line, values in rows:
            if not any(value.strip() for value in values):
                continue
            try:
                yield reader.read(line, values)
            except StocksbotError as exc:
                yield Problem(line, str(exc))


class _RowReader:
    """One data row into an entry, with the column positions found once and the parsed values of
    repeated cells (symbols, quantities, commissions, dates) remembered."""

    def __init__(self, at: dict[str, int | None], options: ParseOptions, width: int) -> None:
        self.at = at
        formats = (DateFormat(options.date_format),) if options.date_format else ()
        self.when = Remembered(lambda text: parse_when(text, formats, field="date"))
        comma: bool | None = True if options.decimal_comma else None
        self.numbers = {name: _number_reader(name, comma)
                        for name in ("quantity", "price", "commission", "fees", "tax", "amount")}
        self.width = width
        self.comma = comma

    def text(self, values: list[str], name: str) -> str:
        position = self.at[name]
        return values[position].strip() if position is not None else ""

    def number(self, values: list[str], name: str, *, required: bool = False) -> Decimal:
        text = self.text(values, name)
        if not text:
            if required:
                raise StocksbotError(f"no {name}" if self.at[name] is not None else
                                     f"no {name} column: name it with --map {name}=COLUMN")
            return ZERO
        value: Decimal = self.numbers[name](text)
        return value

    def read(self, line: int, values: list[str]) -> Item:
        if len(values) < self.width:
            raise StocksbotError(f"expected {self.width} fields, got {len(values)} (a truncated row?)")
        text = self.text
        action = text(values, "kind") or text(values, "side")
        word = _WORDS.get(action)
        if word is None:
            word = _WORDS[action] = " ".join(action.lower().replace("_", " ").split())
        if not word:
            raise StocksbotError("no action: the side (or kind) is empty")
        when: datetime = self.when(text(values, "date"))
        currency = text(values, "currency") or None
        account = text(values, "account") or None
        key = text(values, "id") or None
        isin = text(values, "isin") or None
        note = text(values, "note") or None
        symbol = text(values, "symbol")
        if word in TRADE_WORDS:
            if not symbol and not isin:
                raise StocksbotError("a trade needs a symbol (or an ISIN)")
            return TradeEntry(line, when, TRADE_WORDS[word], symbol, self.number(values, "quantity", required=True),
                              self.number(values, "price", required=True), self.number(values, "commission"),
                              self.number(values, "fees"), currency, account, key, isin, note)
        if word in DIVIDEND_WORDS:
            if not symbol and not isin:
                raise StocksbotError("a dividend needs a symbol (or an ISIN)")
            if not text(values, "amount") and text(values, "quantity") and text(values, "price"):
                # shares x amount per share, exactly (ledger.numbers.multiply)
                gross = multiply(self.number(values, "quantity"), self.number(values, "price"))
            else:
                gross = self.number(values, "amount", required=True)
            return DividendEntry(line=line, paid_at=when, symbol=symbol, gross=gross,
                                 tax=self.number(values, "tax"), fee=self.number(values, "fees"),
                                 currency=currency, account=account, key=key, isin=isin, note=note)
        if word in TAX_WORDS and (symbol or isin):  # withholding on a dividend (its sign is ignored)
            return TaxEntry(line=line, at=when, symbol=symbol, amount=self.number(values, "amount", required=True),
                            currency=currency, account=account, key=key, isin=isin, note=note)
        if word in SPLIT_WORDS:  # the shares the split added (as cgt-calc's "raw" CSV gives them)
            if not symbol and not isin:
                raise StocksbotError("a split needs a symbol (or an ISIN)")
            return SplitEntry(line=line, at=when, symbol=symbol, added=self.number(values, "quantity", required=True),
                              account=account, key=key, isin=isin)
        if word in TRANSFER_WORDS:  # cash in (positive) or out (negative): the amount, else quantity x price
            if text(values, "amount"):
                signed = parse_amount(text(values, "amount"), field="amount", decimal_comma=self.comma)
            else:
                signed = multiply(parse_amount(text(values, "quantity") or "", field="quantity",
                                               decimal_comma=self.comma),
                                  parse_amount(text(values, "price") or "", field="price", decimal_comma=self.comma))
            if not signed:
                raise StocksbotError("a transfer of 0")
            return CashEntry(line=line, at=when, kind="deposit" if signed > 0 else "withdraw", amount=abs(signed),
                             currency=currency, account=account, key=key, note=note)
        kind = CASH_WORDS.get(word) or ("tax" if word in TAX_WORDS else None)
        if kind is not None:
            return CashEntry(line=line, at=when, kind=kind, amount=self.number(values, "amount", required=True),
                             currency=currency, account=account, key=key, note=note)
        return Unknown(line, action)


def _number_reader(name: str, comma: bool | None) -> Remembered:
    return Remembered(lambda text: parse_quantity(text, field=name, decimal_comma=comma))


#: Action texts as compared (lower case, spaces collapsed), remembered.
_WORDS: dict[str, str] = {}
ZERO = Decimal(0)


FORMAT = GenericFormat()
