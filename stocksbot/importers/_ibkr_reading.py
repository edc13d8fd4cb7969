"""Reading IBKR's cells: numbers, dates, times, columns and dividend reversals (docs/brokers.md, IBKR).

Shared by the three IBKR formats (`ibkr_flex`, `ibkr_activity`, `ibkr_xml`), which write the
same broker's values in the same ways: `-` or nothing for "no value", thousands commas in
the activity statement, exponent notation (`-2.637591265E-4`), `YYYYMMDD` or ISO dates, and
times of day in US Eastern time (IBKR stamps its statements in New York time). A cell that
cannot be read raises `RowError`, which the parser turns into a `Problem` for its line.

The general readers (numbers, empty cells, local midnight, `--date-format`) are those of
`importers/reading.py` (docs/brokers.md §8); what is here is IBKR's own.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from stocksbot.importers.entries import DividendEntry, Item, Skipped, SplitEntry, TaxEntry, TradeEntry, Unknown
from stocksbot.importers.reading import RowError, field_positions, is_empty, local_time, optional_amount, strptime_day

#: IBKR stamps statement times in US Eastern time (docs/brokers.md, IBKR "Times").
IBKR_ZONE = ZoneInfo("America/New_York")
#: The key prefix of every IBKR format: the same TradeID exported as CSV or XML is one trade.
KEY_PREFIX = "ibkr:"

_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_US_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_TIME = re.compile(r"(\d{2}):?(\d{2}):?(\d{2})")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SYMBOL_IN_DESCRIPTION = re.compile(r"^\s*([A-Za-z0-9.\-/:_ ]+?)\s*\(([A-Z0-9]+)\)")
_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")


def read_decimal(text: str | None, field: str) -> Decimal | None:
    """A signed exact number (`1,234.5`, `-3`, `-2.637591265E-4`), or None for an empty cell.

    IBKR's rule on the shared reader (docs/brokers.md §8.1): commas group thousands, and the
    value is kept whole even beyond the ledger's 10 places (`-2.637591265E-4` is exactly
    -0.0002637591265).
    """
    return optional_amount(text, field=field, limit=False)


def require_decimal(text: str | None, field: str) -> Decimal:
    """Like `read_decimal`, for a cell the row cannot do without."""
    value = read_decimal(text, field)
    if value is None:
        raise RowError(f"{field} is empty")
    return value


def magnitude(value: Decimal) -> Decimal:
    """The positive amount of a signed IBKR amount (entries carry the sign in their kind)."""
    return value.copy_abs()


@lru_cache(maxsize=4096)
def _iso_day(text: str, date_format: str | None) -> str:
    """The ISO form of one of IBKR's date formats (`YYYYMMDD`, `YYYY-MM-DD`, `MM/DD/YYYY`).

    Cached: a statement has many rows per day, and a day is read the same way every time.
    """
    stripped = text.strip()
    if date_format:
        return strptime_day(stripped, date_format).isoformat()
    for pattern, order in ((_COMPACT_DATE, (1, 2, 3)), (_ISO_DATE, (1, 2, 3)), (_US_DATE, (3, 1, 2))):
        match = pattern.fullmatch(stripped)
        if match:
            year, month, day = (match[index] for index in order)
            try:
                return datetime(int(year), int(month), int(day)).date().isoformat()
            except ValueError:
                break
    raise RowError(
        f"date {stripped!r} is not a date IBKR writes: use YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY (or --date-format)"
    )


def read_date(text: str | None, field: str, date_format: str | None = None) -> datetime:
    """A bare IBKR date as local midnight of that day, in UTC (docs/ledger.md §1.5)."""
    if is_empty(text):
        raise RowError(f"{field} is empty")
    assert text is not None
    return local_time(_iso_day(text, date_format), field)


def read_moment(text: str | None, field: str, date_format: str | None = None) -> datetime:
    """An IBKR date or date-and-time (`20230522;093015`, `2025-03-15, 10:30:00`), in UTC.

    IBKR writes the time of day in US Eastern time without saying so; it is converted from
    New York time. A date alone is local midnight of that day, like every broker date.
    """
    if is_empty(text):
        raise RowError(f"{field} is empty")
    assert text is not None
    stripped = text.strip()
    for separator in (";", ", ", ",", " ", "T"):
        if separator in stripped:
            day_text, _, time_text = stripped.partition(separator)
            break
    else:
        return read_date(stripped, field, date_format)
    match = _TIME.fullmatch(time_text.strip())
    if not match:
        raise RowError(f"{field}: {stripped!r} is not an IBKR date and time (e.g. 20240115;093000)")
    day = datetime.fromisoformat(_iso_day(day_text, date_format))
    try:
        moment = day.replace(hour=int(match[1]), minute=int(match[2]), second=int(match[3]), tzinfo=IBKR_ZONE)
    except ValueError:
        raise RowError(f"{field}: {stripped!r} is not a valid time") from None
    return moment.astimezone(timezone.utc)


def read_currency(text: str | None, field: str = "currency") -> str | None:
    """A three-letter currency code, or None when the cell is empty."""
    if is_empty(text):
        return None
    assert text is not None
    code = text.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise RowError(f"{field}: {text.strip()!r} is not a three-letter currency code")
    return code


def instrument(symbol: str | None, isin: str | None) -> tuple[str, str | None]:
    """The symbol and ISIN of a row: the broker's symbol upper-cased, else the ISIN itself."""
    isin_code = None if is_empty(isin) else (isin or "").strip().upper()
    if not is_empty(symbol):
        return re.sub(r"\s+", ".", (symbol or "").strip()).upper(), isin_code
    if isin_code:
        return isin_code, isin_code
    raise RowError("the row names no symbol and no ISIN")


def symbol_from_description(description: str) -> tuple[str, str | None] | None:
    """The ticker and ISIN of a cash row's description (`VT(US9220427424) CASH DIVIDEND ...`).

    IBKR puts the security's ISIN (or its contract id, as in `SMMCHA(80486947)`) in brackets
    after the ticker; the contract id is not an ISIN and is dropped.
    """
    match = _SYMBOL_IN_DESCRIPTION.match(description)
    if not match:
        return None
    code = match[2]
    return match[1].strip().upper().replace(" ", "."), code if _ISIN.fullmatch(code) else None


class Columns:
    """Where each field of a header row is, by name (never by position).

    `names` maps stocksbot's field names to the header names the format knows (first found
    wins); `overrides` (the `--map field=Column` option) replaces a field's names with the
    one the user gave. Header cells are compared without surrounding spaces and case, so
    the activity statement's `Gross Amount ` (trailing space) is found as `Gross Amount`.
    """

    def __init__(self, header: Sequence[str], names: Mapping[str, Sequence[str]], overrides: Mapping[str, str]):
        self.width = len(header)
        self.fallbacks = field_positions(header, names, overrides)
        self.index = {field: found[0] for field, found in self.fallbacks.items()}

    def has(self, field: str) -> bool:
        return field in self.index

    def get(self, row: Sequence[str], field: str) -> str | None:
        """The cell of `field` in `row`, or None when the file has no such column."""
        position = self.index.get(field)
        if position is None:
            return None
        if position >= len(row):
            raise RowError(f"the row is truncated: {len(row)} cells, the header has {self.width}")
        return row[position]

    def first(self, row: Sequence[str], field: str) -> str | None:
        """The first non-empty cell among the field's columns (`DateTime`, else `TradeDate`)."""
        for position in self.fallbacks.get(field, []):
            if position >= len(row):
                raise RowError(f"the row is truncated: {len(row)} cells, the header has {self.width}")
            if not is_empty(row[position]):
                return row[position]
        return self.get(row, field)


def pair_dividend_reversals(items: Iterable[Item], reversals: Iterable[tuple[DividendEntry, str]]) -> list[Item]:
    """Match each reversed dividend (a negative dividend row) with the dividend it cancels.

    IBKR corrects a dividend by reversing it (the same row with a negative amount) and, when
    needed, paying it again. A reversal cancels the earlier dividend of the same symbol,
    currency, pay day and amount: both rows are reported as skipped. A reversal with nothing
    to cancel in the file is an unknown action, so the import stops unless `--skip-unknown`
    (docs/brokers.md, IBKR "Reversals").
    """
    result = list(items)
    for reversal, action in reversals:
        match_at = None
        for position, item in enumerate(result):
            if (isinstance(item, DividendEntry) and item.symbol == reversal.symbol and item.gross == reversal.gross
                    and item.currency == reversal.currency and item.paid_at == reversal.paid_at):
                match_at = position
                break
        if match_at is None:
            result.append(Unknown(reversal.line, f"{action} (a reversal of a dividend not in this file)"))
            continue
        original = result[match_at]
        result[match_at] = Skipped(original.line, f"dividend reversed by line {reversal.line}")
        result.append(Skipped(reversal.line, f"reverses the dividend of line {original.line}"))
    result.sort(key=lambda item: item.line)
    return result


def tax_entry(line: int, at: datetime, symbol: str, amount: Decimal, *, currency: str | None, key: str | None,
              isin: str | None, note: str | None) -> TaxEntry:
    """A withholding-tax row: a negative amount is withheld, a positive one refunded."""
    return TaxEntry(line=line, at=at, symbol=symbol, amount=magnitude(amount), currency=currency, key=key, isin=isin,
                    refund=amount > 0, note=note)


def one_split_each(items: list[Item]) -> list[Item]:
    """IBKR shows a reverse split as two rows (old shares out, new in): one split is kept."""
    seen: dict[tuple[str, datetime, int | None, int | None], int] = {}
    result: list[Item] = []
    for item in items:
        if isinstance(item, SplitEntry):
            identity = (item.isin or item.symbol, item.at, item.numerator, item.denominator)
            if identity in seen:
                result.append(Skipped(item.line, f"the same split as line {seen[identity]}"))
                continue
            seen[identity] = item.line
        result.append(item)
    return result


def pair_cancellations(items: list[Item], cancels: Iterable[tuple[TradeEntry, str | None]]) -> list[Item]:
    """Each trade cancellation with the trade it cancels: both are reported as skipped.

    The cancelled trade is the one whose key is the cancellation's original trade id, or
    without that id the trade of the same symbol, quantity and price. A cancellation of a
    trade that is not in the file (an earlier statement's) is an unknown action: the import
    stops unless `--skip-unknown`, and the user removes that trade (docs/brokers.md).
    """
    result = list(items)
    for cancel, orig_key in cancels:
        match_at = None
        for position, item in enumerate(result):
            if isinstance(item, TradeEntry) and ((orig_key is not None and item.key == orig_key) or (
                    orig_key is None and item.symbol == cancel.symbol and item.quantity == cancel.quantity
                    and item.price == cancel.price)):
                match_at = position
                break
        if match_at is None:
            result.append(Unknown(cancel.line, "trade cancellation of a trade not in this file"))
            continue
        original = result[match_at]
        result[match_at] = Skipped(original.line, f"trade cancelled by line {cancel.line}")
        result.append(Skipped(cancel.line, f"cancels the trade of line {original.line}"))
    result.sort(key=lambda item: item.line)
    return result
