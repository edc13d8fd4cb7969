"""Reading stocksbot's CSV formats (docs/csv-formats.md §2 and §3) into checked rows.

Pure parsing: every bad row is reported as `line N: reason` (all of them, not just the
first), so an import can refuse the whole file and tell the user everything to fix at once.
"""

from __future__ import annotations

import csv
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Callable, ContextManager, Iterable, Iterator, TypeVar

from stocksbot.errors import StocksbotError
from stocksbot.ledger import parse_decimal
from stocksbot.ledger.inputs import parse_account_name, parse_currency, parse_name, parse_note, parse_symbol, parse_time
from stocksbot.vocabulary import EXTERNAL_ID_MAX, STRATEGY_NAME_MAX, TRADE_SIDES

PRICE_COLUMNS_FULL = ("timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS_CLOSE = ("timestamp", "close")


@dataclass(frozen=True)
class PriceRow:
    symbol: str
    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None


class RowErrors(StocksbotError):
    """A file with bad rows: the message lists every one, `line N: reason`."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = errors[:50]
        more = f"\n... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        super().__init__(f"{len(errors)} bad row(s), nothing imported:\n" + "\n".join(shown) + more)


def open_text(path: str | Path | IO[str]) -> tuple[IO[str], str, ContextManager[object]]:
    """A CSV to read: the handle, its name for messages, and what closes it after reading (a
    file opened here is closed; a stream given, such as standard input, is left open)."""
    if isinstance(path, (str, Path)):
        try:
            handle = Path(path).open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise StocksbotError(f"cannot read {path}: {exc.strerror}") from None
        return handle, str(path), handle
    given = getattr(path, "name", None)
    name = given if isinstance(given, str) and not given.startswith("<") else "standard input"
    return path, name, nullcontext()


def _header(reader: Iterator[list[str]], name: str) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise StocksbotError(f"{name} is empty: expected a header row") from None
    return [column.strip().lower() for column in header]


def read_prices(
    handle: Iterable[str], name: str, *, symbol: str | None, delimiter: str = ",", date_format: str | None = None,
) -> Iterator[PriceRow | str]:
    """Stream price bars from `timestamp,open,high,low,close,volume` (or `timestamp,close`),
    with a `symbol` column unless `symbol` is given: a PriceRow per good row, a
    `line N: reason` text per bad one. A bad header raises at once. See docs/csv-formats.md §3
    (and §1 for `delimiter` and `date_format`)."""
    reader = csv.reader(handle, delimiter=delimiter)
    header = _header(reader, name)
    columns = set(header)
    if not (set(PRICE_COLUMNS_FULL) <= columns or set(PRICE_COLUMNS_CLOSE) <= columns):
        raise StocksbotError(
            f"{name}: header must have timestamp,open,high,low,close,volume or timestamp,close; got {','.join(header)}"
        )
    if symbol is None and "symbol" not in columns:
        raise StocksbotError(f"{name}: no symbol column; give --symbol SYMBOL")
    fixed_symbol = parse_symbol(symbol) if symbol is not None else None
    full = set(PRICE_COLUMNS_FULL) <= columns
    index = {column: header.index(column) for column in header}
    read_time = time_reader(date_format, "timestamp")
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield f"line {line}: expected {len(header)} fields, got {len(values)}"
            continue
        try:
            yield _price_row(values, index, fixed_symbol, full, read_time)
        except StocksbotError as exc:
            yield f"line {line}: {exc}"


def _price_row(
    values: list[str], index: dict[str, int], symbol: str | None, full: bool, read_time: Callable[[str], datetime],
) -> PriceRow:
    def get(column: str) -> str:
        return values[index[column]].strip()

    close = parse_decimal(get("close"), field="close")
    when = read_time(get("timestamp"))
    row_symbol = symbol or parse_symbol(get("symbol"))
    if not full:
        return PriceRow(row_symbol, when, close, close, close, close, None)
    open_ = parse_decimal(get("open"), field="open")
    high = parse_decimal(get("high"), field="high")
    low = parse_decimal(get("low"), field="low")
    volume = parse_decimal(get("volume"), field="volume") if get("volume") else None
    if not low <= min(open_, close) or not max(open_, close) <= high:
        raise StocksbotError(f"inconsistent bar: low {low} and high {high} must bracket open {open_} and close {close}")
    return PriceRow(row_symbol, when, open_, high, low, close, volume)


TRADE_COLUMNS_REQUIRED = ("executed_at", "side", "symbol", "quantity", "price")
TRADE_COLUMNS_OPTIONAL = ("commission", "fees", "strategy", "external_id", "note", "account", "currency",
                          "allow_short")
TRADE_COLUMNS = TRADE_COLUMNS_REQUIRED + TRADE_COLUMNS_OPTIONAL


@dataclass(frozen=True)
class TradeRow:
    line: int
    executed_at: datetime
    side: str
    symbol: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    fees: Decimal
    strategy: str | None
    external_id: str | None
    note: str | None
    account: str | None
    currency: str | None
    #: The row may open or add to a short whatever the import's setting (docs/csv-formats.md §2.1).
    allow_short: bool = False


#: How the `allow_short` column may say yes and no (any case); empty is no.
_YES = frozenset({"true", "yes", "1"})
_NO = frozenset({"false", "no", "0", ""})


def read_trades(
    handle: Iterable[str], name: str, *, delimiter: str = ",", date_format: str | None = None,
) -> Iterator[TradeRow | str]:
    """Stream a trade CSV: a TradeRow per good row, a `line N: reason` text per bad one.

    Streaming (not a list) keeps memory bounded however large the file; the caller decides
    what to do with the errors. The columns and checks: docs/csv-formats.md §2.1 and §2.2;
    `delimiter` and `date_format` (a strptime pattern for `executed_at`): §1.
    """
    reader = csv.reader(handle, delimiter=delimiter)
    header = _header(reader, name)
    missing = [c for c in TRADE_COLUMNS_REQUIRED if c not in header]
    unknown = [c for c in header if c not in TRADE_COLUMNS]
    if missing or unknown:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else [])
        raise StocksbotError(
            f"{name}: header has {'; '.join(problems)} (columns: {','.join(TRADE_COLUMNS_REQUIRED)} required, "
            f"{','.join(TRADE_COLUMNS_OPTIONAL)} optional)"
        )
    index = {column: header.index(column) for column in header}
    width = len(header)
    trade_row = _trade_row_reader(index, width, time_reader(date_format, "executed_at"))
    for values in reader:
        line = reader.line_num
        if len(values) != width:
            if not any(v.strip() for v in values):
                continue
            yield f"line {line}: expected {width} fields, got {len(values)}"
            continue
        try:
            yield trade_row(line, values)
        except StocksbotError as exc:
            yield f"line {line}: {exc}"


#: Parsed values remembered per file and column (see _remembered): enough for the symbols
#: and the usual quantities, commissions and fees, small enough not to matter.
_REMEMBERED = 4096


_Parsed = TypeVar("_Parsed")


def _remembered(parse: Callable[[str], _Parsed]) -> Callable[[str], _Parsed]:
    """`parse` with a memory of its successes: a file repeats the same symbols, quantities,
    commissions and fees on most rows, and these parsers are pure. Bounded, so a file of
    all-different values does not grow it; failures are not remembered (they raise)."""
    known: dict[str, _Parsed] = {}

    def parse_remembered(text: str) -> _Parsed:
        value = known.get(text)
        if value is None:
            value = parse(text)
            if len(known) >= _REMEMBERED:
                known.clear()
            known[text] = value
        return value

    return parse_remembered


def time_reader(date_format: str | None, field: str) -> Callable[[str], datetime]:
    """How a file's times are read: ISO dates and date-times (docs/ledger.md §1.5), or with
    `--date-format` a strptime pattern (naive is local time), read by the broker importers'
    `DateFormat` (docs/csv-formats.md §1)."""
    if date_format is None:
        return lambda text: parse_time(text, field=field)
    from stocksbot.importers.reading import DateFormat

    reader = DateFormat(date_format)

    def read(text: str) -> datetime:
        try:
            return reader(text)
        except ValueError:
            raise StocksbotError(f"{field} {text!r} does not match --date-format {date_format!r}") from None

    return read


def _trade_row_reader(
    index: dict[str, int], width: int, read_time: Callable[[str], datetime],
) -> Callable[[int, list[str]], TradeRow]:
    """A parser of one data row (of `width` fields) for a trade CSV with this header: the
    checks and messages are those of docs/csv-formats.md §2.2 (in the order below: the first
    problem of a row is the one reported), with the column positions looked up once per file
    instead of once per field."""
    at_time, at_side, at_symbol, at_quantity, at_price = (index[c] for c in TRADE_COLUMNS_REQUIRED)
    # A missing optional column reads as an empty field: each row gets one more, empty, value
    # at its end (`values + pad`) and the column's position points there, so the parser
    # needs no per-field test of whether the column exists.
    at_commission, at_fees, at_strategy, at_external_id, at_note, at_account, at_currency, at_allow_short = (
        index.get(c, width) for c in TRADE_COLUMNS_OPTIONAL
    )
    pad = [""]
    symbol_of = _remembered(parse_symbol)
    quantity_of = _remembered(lambda text: parse_decimal(text, field="quantity", allow_zero=False))
    commission_of = _remembered(lambda text: parse_decimal(text, field="commission"))
    fees_of = _remembered(lambda text: parse_decimal(text, field="fees"))
    account_of = _remembered(parse_account_name)
    strategy_of = _remembered(lambda text: parse_name(text, what="strategy name", limit=STRATEGY_NAME_MAX))
    currency_of = _remembered(parse_currency)

    def trade_row(line: int, values: list[str]) -> TradeRow:
        values = values + pad
        given_side = values[at_side].strip()
        side = given_side.lower()
        if side not in TRADE_SIDES:
            raise StocksbotError(f"side must be {' or '.join(TRADE_SIDES)}, got {given_side!r}")
        external_id = values[at_external_id].strip() or None
        if external_id is not None and len(external_id) > EXTERNAL_ID_MAX:
            raise StocksbotError(f"external_id is longer than {EXTERNAL_ID_MAX} characters")
        strategy = values[at_strategy].strip() or None
        if strategy is not None:
            if len(strategy) > STRATEGY_NAME_MAX:
                raise StocksbotError(f"strategy name is longer than {STRATEGY_NAME_MAX} characters")
            strategy = strategy_of(strategy)  # printable, like `strategy add` (docs/ledger.md §1.7)
        return _new_trade_row(
            line,
            read_time(values[at_time].strip()),
            side,
            symbol_of(values[at_symbol].strip()),
            quantity_of(values[at_quantity].strip()),
            parse_decimal(values[at_price].strip(), field="price"),
            commission_of(values[at_commission].strip() or "0"),
            fees_of(values[at_fees].strip() or "0"),
            strategy,
            external_id,
            parse_note(values[at_note]) or None,
            account_of(values[at_account].strip()) if values[at_account].strip() else None,
            currency_of(values[at_currency].strip()) if values[at_currency].strip() else None,
            _allow_short(values[at_allow_short].strip()),
        )

    return trade_row


def _allow_short(text: str) -> bool:
    """The `allow_short` column: true, yes or 1; false, no, 0 or empty (any case)."""
    if not text:
        return False
    word = text.lower()
    if word in _YES:
        return True
    if word not in _NO:
        raise StocksbotError(f"allow_short must be true or false, got {text!r}")
    return False


def _new_trade_row(*values: object) -> TradeRow:
    """TradeRow(...) without the frozen dataclass's __init__, which sets each of its
    fields through object.__setattr__ and used to cost more than parsing the row; the result
    is the same object (tests/test_csvfiles.py compares the two)."""
    row = object.__new__(TradeRow)
    row.__dict__.update(zip(_TRADE_ROW_FIELDS, values))
    return row


_TRADE_ROW_FIELDS = tuple(TradeRow.__dataclass_fields__)
