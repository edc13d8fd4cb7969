"""Reading stocksbot's CSV formats (SPEC section 4, "CSV formats") into checked rows.

Pure parsing: every bad row is reported as `line N: reason` (all of them, not just the
first), so an import can refuse the whole file and tell the user everything to fix at once.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Iterator

from stocksbot.errors import StocksbotError
from stocksbot.ledger import parse_decimal
from stocksbot.ledger.inputs import parse_symbol, parse_time

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


def _header(reader: Iterator[list[str]], name: str) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise StocksbotError(f"{name} is empty: expected a header row") from None
    return [column.strip().lower() for column in header]


def read_prices(handle: Iterable[str], name: str, *, symbol: str | None) -> Iterator[PriceRow | str]:
    """Stream price bars from `timestamp,open,high,low,close,volume` (or `timestamp,close`),
    with a `symbol` column unless `symbol` is given: a PriceRow per good row, a
    `line N: reason` text per bad one. A bad header raises at once."""
    reader = csv.reader(handle)
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
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield f"line {line}: expected {len(header)} fields, got {len(values)}"
            continue
        try:
            yield _price_row(values, index, fixed_symbol, full)
        except StocksbotError as exc:
            yield f"line {line}: {exc}"


def _price_row(values: list[str], index: dict[str, int], symbol: str | None, full: bool) -> PriceRow:
    def get(column: str) -> str:
        return values[index[column]].strip()

    close = parse_decimal(get("close"), field="close")
    when = parse_time(get("timestamp"), field="timestamp")
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
TRADE_COLUMNS_OPTIONAL = ("commission", "fees", "strategy", "external_id", "note")
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


def read_trades(handle: Iterable[str], name: str) -> Iterator[TradeRow | str]:
    """Stream a trade CSV: a TradeRow per good row, a `line N: reason` text per bad one.

    Streaming (not a list) keeps memory bounded however large the file; the caller decides
    what to do with the errors.
    """
    reader = csv.reader(handle)
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
    for values in reader:
        line = reader.line_num
        if len(values) != width:
            if not any(v.strip() for v in values):
                continue
            yield f"line {line}: expected {width} fields, got {len(values)}"
            continue
        try:
            yield _trade_row(line, values, index)
        except StocksbotError as exc:
            yield f"line {line}: {exc}"


def _trade_row(line: int, values: list[str], index: dict[str, int]) -> TradeRow:
    def get(column: str) -> str:
        position = index.get(column)
        return values[position].strip() if position is not None else ""

    side = get("side").lower()
    if side not in ("buy", "sell"):
        raise StocksbotError(f"side must be buy or sell, got {get('side')!r}")
    external_id = get("external_id") or None
    if external_id is not None and len(external_id) > 100:
        raise StocksbotError("external_id is longer than 100 characters")
    strategy = get("strategy") or None
    if strategy is not None and len(strategy) > 100:
        raise StocksbotError("strategy name is longer than 100 characters")
    return TradeRow(
        line=line,
        executed_at=parse_time(get("executed_at"), field="executed_at"),
        side=side,
        symbol=parse_symbol(get("symbol")),
        quantity=parse_decimal(get("quantity"), field="quantity", allow_zero=False),
        price=parse_decimal(get("price"), field="price"),
        commission=parse_decimal(get("commission") or "0", field="commission"),
        fees=parse_decimal(get("fees") or "0", field="fees"),
        strategy=strategy,
        external_id=external_id,
        note=values[index["note"]] if "note" in index and values[index["note"]] != "" else None,
    )
