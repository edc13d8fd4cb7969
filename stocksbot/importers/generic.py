"""Any CSV, with its columns named by `--map` (docs/brokers.md, "The generic format").

Never detected: a user chooses it with `--from generic`. Each row's action (the `kind`
column when it has a value, else `side`) says what it is: buy/bought and sell/sold are
trades; dividend, tax (withholding), deposit, withdraw(al), interest and fee are the other
records; any other word is an unknown action. Columns have usual names it finds without
`--map` (`date`, `side`, `symbol`, `quantity`, `price`, ...); `--map` names the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from stocksbot.errors import StocksbotError
from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    Item,
    ParseOptions,
    Problem,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.reading import Columns, cell, csv_rows, parse_quantity, parse_when

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
    """One data row into an entry, with the column positions found once."""

    def __init__(self, at: dict[str, int | None], options: ParseOptions, width: int) -> None:
        self.at = at
        self.formats = (options.date_format,) if options.date_format else ()
        self.comma: bool | None = True if options.decimal_comma else None
        self.width = width

    def text(self, values: list[str], name: str) -> str:
        return cell(values, self.at[name])

    def number(self, values: list[str], name: str, *, required: bool = False) -> Decimal:
        text = self.text(values, name)
        if not text:
            if required:
                raise StocksbotError(f"no {name}" if self.at[name] is not None else
                                     f"no {name} column: name it with --map {name}=COLUMN")
            return Decimal(0)
        return parse_quantity(text, field=name, decimal_comma=self.comma)

    def read(self, line: int, values: list[str]) -> Item:
        if len(values) < self.width:
            raise StocksbotError(f"expected {self.width} fields, got {len(values)} (a truncated row?)")
        action = self.text(values, "kind") or self.text(values, "side")
        word = " ".join(action.lower().split())
        if not word:
            raise StocksbotError("no action: the side (or kind) is empty")
        when = parse_when(self.text(values, "date"), self.formats, field="date")
        currency = self.text(values, "currency") or None
        account = self.text(values, "account") or None
        key = self.text(values, "id") or None
        isin = self.text(values, "isin") or None
        note = self.text(values, "note") or None
        symbol = self.text(values, "symbol")
        if word in TRADE_WORDS:
            if not symbol and not isin:
                raise StocksbotError("a trade needs a symbol (or an ISIN)")
            return TradeEntry(line=line, at=when, side=TRADE_WORDS[word], symbol=symbol,
                              quantity=self.number(values, "quantity", required=True),
                              price=self.number(values, "price", required=True),
                              commission=self.number(values, "commission"), fees=self.number(values, "fees"),
                              currency=currency, account=account, key=key, isin=isin, note=note)
        if word in DIVIDEND_WORDS:
            if not symbol and not isin:
                raise StocksbotError("a dividend needs a symbol (or an ISIN)")
            return DividendEntry(line=line, paid_at=when, symbol=symbol,
                                 gross=self.number(values, "amount", required=True),
                                 tax=self.number(values, "tax"), fee=self.number(values, "fees"),
                                 currency=currency, account=account, key=key, isin=isin, note=note)
        if word in TAX_WORDS and (symbol or isin):  # withholding on a dividend (its sign is ignored)
            return TaxEntry(line=line, at=when, symbol=symbol, amount=self.number(values, "amount", required=True),
                            currency=currency, account=account, key=key, isin=isin, note=note)
        kind = CASH_WORDS.get(word) or ("tax" if word in TAX_WORDS else None)
        if kind is not None:
            return CashEntry(line=line, at=when, kind=kind, amount=self.number(values, "amount", required=True),
                             currency=currency, account=account, key=key, note=note)
        return Unknown(line, action)


FORMAT = GenericFormat()
