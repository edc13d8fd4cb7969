"""Reading helpers shared by the Degiro, Trading 212 and Revolut parsers (docs/brokers.md).

Private to those three modules until they are unified with the other formats' helpers. They
read CSV records with the file line each one starts on, find columns by name (with the
`--map FIELD=COLUMN` override on top), and read the brokers' numbers and times exactly:
decimal commas, currency signs, narrow no-break spaces as thousands separators, never a float.
"""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal, InvalidOperation
from functools import lru_cache
from typing import Iterable, Iterator, Mapping, Sequence

from stocksbot.errors import StocksbotError
from stocksbot.ledger.inputs import parse_time


class RowError(Exception):
    """A row that cannot be read; the parser turns it into a `Problem` for that line."""


@dataclass(frozen=True)
class Record:
    """One CSV record: `line` is the file line it starts on (1-based, the header is line 1)."""

    line: int
    cells: list[str]


def records(lines: Iterable[str], delimiter: str | None) -> Iterator[Record]:
    """The file's CSV records with their starting line numbers, a quoted newline included.

    `lines` may carry their line endings or not (a file object or `splitlines()`): each is
    given to the CSV reader as one physical line, so `line_num` counts file lines either way.
    """
    reader = csv.reader((line.rstrip("\r\n") for line in lines), delimiter=delimiter or ",")
    previous = 0
    try:
        for cells in reader:
            yield Record(previous + 1, cells)
            previous = reader.line_num
    except csv.Error as error:
        raise StocksbotError(f"line {reader.line_num}: not a CSV file this format can read ({error})") from None


def header_name(cell: str) -> str:
    """A header cell compared by name: no BOM, no surrounding spaces, case-folded."""
    return cell.replace("\ufeff", "").strip().casefold()


def first_row(head: str) -> list[str]:
    """The header cells of a file's first few kilobytes (for `detect`), or [] for no header."""
    for cells in csv.reader(head.splitlines()[:1]):
        return [header_name(cell) for cell in cells]
    return []


class Columns:
    """Where each field is in the header, found by name (never by position).

    `names` maps a field to the header names it may have (every language of the export); the
    `--map` option (`overrides`, field → column name) replaces them for that field.
    """

    def __init__(self, header: Sequence[str], names: Mapping[str, Sequence[str]], overrides: Mapping[str, str]) -> None:
        self.header = [header_name(cell) for cell in header]
        self.index: dict[str, int] = {}
        for field, candidates in names.items():
            wanted = [header_name(overrides[field])] if field in overrides else [header_name(c) for c in candidates]
            for name in wanted:
                if name in self.header:
                    self.index[field] = self.header.index(name)
                    break
        for field, column in overrides.items():
            if field not in names and header_name(column) in self.header:
                self.index[field] = self.header.index(header_name(column))

    def has(self, field: str) -> bool:
        return field in self.index

    def get(self, cells: Sequence[str], field: str) -> str:
        """The cell of `field`, stripped; "" when the field has no column or the row is short."""
        try:
            return cells[self.index[field]].strip()
        except (KeyError, IndexError):
            return ""


def missing(columns: Columns, fields: Iterable[str], title: str) -> str | None:
    """Why a header cannot be read (a column the format cannot do without is absent), or None."""
    absent = [field for field in fields if not columns.has(field)]
    if absent:
        return (f"not a {title} header: no column for {', '.join(absent)} "
                "(use --map FIELD=COLUMN if a column was renamed)")
    return None


EMPTY = "the file is empty: it should start with the broker's header line"


_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SIGNS = "$€£¥"
_PLAIN = re.compile(r"-?\d{1,30}(?:\.\d{1,30})?")
_PLAIN_COMMA = re.compile(r"(-?)(\d{1,30}),(\d{1,30})")


def number(text: str, field: str, *, decimal_comma: bool | None = None) -> Decimal:
    """An exact Decimal from a broker's number: `26,45`, `-97.93`, `-$30.93`, `€88.94`, `1 046,3825`.

    Spaces (also no-break and narrow no-break) are thousands separators. With both `,` and `.`
    the last one is the decimal mark. A lone `,` is the decimal mark unless it groups thousands
    (`1,234`: exactly three digits after it and a non-zero integer part) — `decimal_comma`
    True or False settles that case instead. Currency signs may stand before or after the
    sign (`-$1` and `$-1`).
    """
    comma = _PLAIN_COMMA.fullmatch(text)
    if comma and decimal_comma is not False and (
            decimal_comma or len(comma[3]) != 3 or not comma[2].lstrip("0")):  # 26,45 or 0,039: a decimal comma
        text = f"{comma[1]}{comma[2]}.{comma[3]}"
    if _PLAIN.fullmatch(text):  # the common case: 370.00, -97.93, 24
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        value = Decimal(text)
        return value if value else Decimal(0)
    raw = text
    cleaned = _SPACES.sub("", text)
    negative = False
    for _ in range(3):
        if cleaned[:1] in "+-":
            negative = negative or cleaned[0] == "-"
            cleaned = cleaned[1:]
        if cleaned[:1] and cleaned[0] in _SIGNS:
            cleaned = cleaned[1:]
    if "," in cleaned and "." in cleaned:
        if cleaned.rfind(",") > cleaned.rfind("."):
            cleaned = cleaned.replace(".", "").replace(",", ".")
        else:
            cleaned = cleaned.replace(",", "")
    elif "," in cleaned:
        whole, _, fraction = cleaned.rpartition(",")
        groups_thousands = cleaned.count(",") > 1 or (len(fraction) == 3 and whole.lstrip("0") != "")
        if decimal_comma is True or (decimal_comma is None and not groups_thousands):
            if cleaned.count(",") > 1:
                raise RowError(f"{field} {raw!r} is not a number")
            cleaned = cleaned.replace(",", ".")
        else:
            cleaned = cleaned.replace(",", "")
    if not _NUMBER.fullmatch(cleaned):
        raise RowError(f"{field} {raw!r} is not a number")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        raise RowError(f"{field} {raw!r} is not a number") from None
    if not value:
        return Decimal(0)
    value = value.copy_negate() if negative else value
    return _plain(value)


def _plain(value: Decimal) -> Decimal:
    """Trailing fractional zeros dropped, never an exponent above zero (`1E+2` is `100`)."""
    tidy = value.normalize(_WIDE)
    exponent = tidy.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        tidy = tidy.quantize(Decimal(1), context=_WIDE)
    return tidy


#: Wide enough that tidying a broker's number never rounds it.
_WIDE = Context(prec=200)


def optional_number(text: str, field: str, *, decimal_comma: bool | None = None) -> Decimal | None:
    """`number`, or None for an empty cell (and for Trading 212's "Not available")."""
    if not text or text.casefold() == "not available":
        return None
    return number(text, field, decimal_comma=decimal_comma)


def local_time(iso: str, field: str = "date") -> datetime:
    """A naive ISO date or datetime read as local time, in UTC (docs/ledger.md §1.5)."""
    try:
        return _local_time(iso, field, time.tzname, time.timezone)
    except StocksbotError as error:
        raise RowError(str(error)) from None


@lru_cache(maxsize=4096)
def _local_time(iso: str, field: str, zone: tuple[str, str], offset: int) -> datetime:
    """`parse_time`, remembered per local zone: statements repeat their dates, and the zone lookup is the cost."""
    return parse_time(iso, field=field)


def strptime_local(text: str, pattern: str, field: str) -> datetime:
    """`text` read with a strptime pattern (`--date-format`), naive = local time, in UTC."""
    try:
        moment = datetime.strptime(text.strip(), pattern)
    except ValueError:
        raise RowError(f"{field} {text!r} does not match the date format {pattern!r}") from None
    return local_time(moment.isoformat(), field)


def symbol_of(text: str) -> str:
    """A broker ticker or ISIN as a stocksbot symbol: upper-cased, or a row error."""
    symbol = text.strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9.\-/:_]{0,31}", symbol):
        raise RowError(f"symbol {text!r} is not a valid symbol")
    return symbol


ISIN_PATTERN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")


def pounds(pence: Decimal) -> Decimal:
    """A GBX (pence) amount in GBP, exactly: 496 is 4.96."""
    return _plain(pence.scaleb(-2))


def positive(value: Decimal) -> Decimal:
    """The magnitude of a signed broker amount (entries carry positive amounts, the kind says the sign)."""
    return value.copy_abs()
