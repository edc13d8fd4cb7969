"""What every broker format needs to read its rows: columns by name with `--map`, and the
numbers and dates brokers write (docs/brokers.md §8).

Brokers disagree on everything a CSV leaves open: `$1,234.56` and `-$5.00` (Schwab),
`(5.00)` for a negative amount (accounting style), `1.234,56` (Degiro, with a decimal
comma), `1E-4` (IBKR's activity statement), headers with a byte-order mark or a trailing
space. These helpers read all of them exactly (never through a float) and report a bad value
as one line, so every format refuses the same things with the same words.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any

from stocksbot.errors import StocksbotError
from stocksbot.ledger.inputs import parse_time
from stocksbot.ledger.numbers import MAX_DECIMAL_PLACES, MAX_INTEGER_DIGITS, canonical, parse_decimal


def normal_name(name: str) -> str:
    """A column name as compared: without a byte-order mark or surrounding spaces, lower case."""
    return name.lstrip("\ufeff").strip().lower()


class Columns:
    """A file's header, for finding columns by name (never by position: docs/brokers.md §8).

    `mapping` is `--map`: stocksbot field -> the file's column name. It wins over the names a
    format looks for, so one renamed column can be fixed without a new format.
    """

    def __init__(self, header: Sequence[str], mapping: Mapping[str, str] | None = None) -> None:
        self.header = [name.lstrip("\ufeff").strip() for name in header]
        self.index: dict[str, int] = {}
        for position, name in enumerate(self.header):
            self.index.setdefault(name.lower(), position)
        self.mapping = {field.strip().lower(): column for field, column in (mapping or {}).items()}

    def find(self, field: str, *names: str) -> int | None:
        """The position of `field`'s column: the `--map` column, else the first of `names` present, else None.

        A `--map` column the header lacks is an error (a typo must not pass as "no such column").
        """
        mapped = self.mapping.get(field)
        if mapped is not None:
            position = self.index.get(normal_name(mapped))
            if position is None:
                raise StocksbotError(f"--map {field}={mapped}: the header has no column {mapped!r} "
                                     f"(columns: {', '.join(self.header)})")
            return position
        for name in names:
            position = self.index.get(normal_name(name))
            if position is not None:
                return position
        return None

    def require(self, field: str, *names: str) -> int:
        """`find`, or an error naming the columns looked for and how to map one."""
        position = self.find(field, *names)
        if position is None:
            looked = ", ".join(repr(name) for name in names) or "none by default"
            raise StocksbotError(f"no {field} column (looked for {looked}): name it with --map {field}=COLUMN")
        return position


def field_positions(header: Sequence[str], names: Mapping[str, Sequence[str]],
                    overrides: Mapping[str, str]) -> dict[str, list[int]]:
    """Where each field may be in `header`, by name (docs/brokers.md §8.4): the positions of the
    columns present, in the order looked for; a field with none is absent.

    `names` maps a field to the column names a format knows for it; `overrides` (`--map`) gives
    one column for a field instead, also for a field `names` lacks. Names are compared as
    `normal_name` does; the first column of a repeated name counts.
    """
    positions: dict[str, int] = {}
    for position, name in enumerate(header):
        positions.setdefault(normal_name(name), position)
    found: dict[str, list[int]] = {}
    for field in (*names, *(field for field in overrides if field not in names)):
        wanted = [overrides[field]] if field in overrides else names[field]
        hits = [positions[name] for name in map(normal_name, wanted) if name in positions]
        if hits:
            found[field] = hits
    return found


def cell(values: Sequence[str], position: int | None) -> str:
    """The trimmed text at `position` ("" for a missing column or a short row)."""
    if position is None or position >= len(values):
        return ""
    return values[position].strip()


class RowError(StocksbotError):
    """A row (or the header) that cannot be read: the parser makes it a `Problem` of its line.

    `line` is 0 unless the reader knows it better than the parser (an unreadable CSV record).
    """

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Record:
    """One CSV record: `line` is the file line it starts on (1-based), `cells` its fields."""

    line: int
    cells: list[str]

    @property
    def blank(self) -> bool:
        return not any(self.cells)


def records(lines: Iterable[str], delimiter: str | None = ",", *, strip: bool = False) -> Iterator[Record]:
    """The file's CSV records, each with the file line it starts on (docs/brokers.md §8.3).

    A quoted cell may span lines, so a record's line is where it starts, not where the CSV
    reader stopped. `lines` may carry their line endings or not (a file object or
    `splitlines()`): each is given to the reader as one physical line. A byte-order mark
    before the first cell is dropped; with `strip` every cell is stripped (Fidelity writes
    ` YOU BOUGHT ...`). An unreadable record is a `RowError` carrying its line.
    """
    reader = csv.reader(_physical(lines), delimiter=delimiter or ",")
    previous = 0
    first = True
    try:
        for cells in reader:
            if first and cells:
                cells[0] = cells[0].lstrip("\ufeff")
                first = False
            yield Record(previous + 1, [text.strip() for text in cells] if strip else cells)
            previous = reader.line_num
    except csv.Error as error:
        raise RowError(f"cannot read the CSV from line {previous + 1} on ({error})", previous + 1) from None


def _physical(lines: Iterable[str]) -> Iterator[str]:
    """Each line once, ending in exactly one `\\n`, so that the CSV reader counts file lines and a
    quoted cell's line break reads the same in a CRLF file (Trading 212's notes, Degiro's names)."""
    for text in lines:
        yield text if text.endswith("\n") and not text.endswith("\r\n") else text.rstrip("\r\n") + "\n"


def csv_rows(lines: Iterable[str], delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each record of a CSV text: `records` as pairs, blank records included."""
    for record in records(lines, delimiter):
        yield record.line, record.cells


#: What brokers write in a number's cell for "no value" (compared case-folded, stripped):
#: IBKR's `-` and `N/A`, Schwab's `--`, Trading 212's `Not available`.
EMPTY_VALUES = frozenset({"", "-", "--", "n/a", "not available"})
#: The same as brokers spell them, found without case-folding.
_EMPTY_WRITTEN = frozenset({"", "-", "--", "N/A", "n/a", "Not available", "not available"})


def is_empty(text: str | None) -> bool:
    """Whether a cell says "no value" (docs/brokers.md §8.1)."""
    if text is None:
        return True
    stripped = text.strip()
    return stripped in _EMPTY_WRITTEN or (stripped[:1] in ("n", "N") and stripped.casefold() in EMPTY_VALUES)


#: Currency signs a broker may put before or after an amount.
CURRENCY_SIGNS = "$€£¥"
_CODE_AROUND = re.compile(r"^(?:([A-Z]{3})\s+)?(.*?)(?:\s+([A-Z]{3}))?$")
_DIGITS = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
#: A plain number, perhaps signed and with a currency sign: the usual cell, read fast.
_FAST = re.compile(r"(-?)[$€£¥]?(-?)(\d{1,3}(?:,\d{3})+|\d{1,30})(?:([.,])(\d{1,30}))?")
#: The ledger's input limits (docs/ledger.md §1.2), for the fast path.
_WHOLE, _PLACES = MAX_INTEGER_DIGITS, MAX_DECIMAL_PLACES
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d*)?(?:[eE][-+]?\d+)?")
_DOT_GROUPED = re.compile(r"\d{1,3}(?:\.\d{3})+")
#: Beyond this a "number" is noise (`1e999999`): refused before an exact Decimal of it is built.
_MAX_ADJUSTED = 40


def parse_amount(text: str, *, field: str = "amount", decimal_comma: bool | None = False,
                 limit: bool = True) -> Decimal:
    """A signed number as any broker writes it, exactly and in canonical form (docs/brokers.md §8.1).

    Reads `1234.56`, `$1,234.56`, `-$5.00`, `$-0.88`, `(5.00)` (negative), `5.00-`, `+3`,
    `1E-4`, `12.5 USD`, `EUR 12.5`, `€ 3,10`, `1 046,3825` (spaces, no-break and narrow
    no-break spaces and `'` group thousands) and, by `decimal_comma`:
    False: a comma groups thousands, in threes (`1,0` is refused);
    True: the comma is the decimal mark and dots group thousands (`1.234,56`; `1,234.56` is
    refused; a dot alone is still a decimal point unless groups of exactly three digits follow);
    None: decided per value: with both marks the last one is the decimal mark, a lone comma
    is one unless it groups thousands (`1,234`; but `0,039` is 0.039).
    With `limit` the value must fit the ledger's input limits (docs/ledger.md §1.2); without,
    any exact value is kept (IBKR writes `-2.637591265E-4`). Refuses anything else with one
    line naming `field`. Never through a float.
    """
    stripped = text.strip()
    fast = _FAST.fullmatch(stripped)
    if fast is not None:  # the usual `150.25`, `-$1234.56`, `$-0.88`, `26,45`: read without the general path
        value = _fast(fast, decimal_comma, limit)
        if value is not None:
            return value
    negative = False
    if stripped.startswith("(") and stripped.endswith(")"):
        negative, stripped = True, stripped[1:-1].strip()
    match = _CODE_AROUND.match(stripped)
    if match is not None and (match[1] or match[3]):
        stripped = match[2]
    stripped = stripped.strip(CURRENCY_SIGNS + " ")
    if stripped and stripped[0] in "-+":
        negative, stripped = negative != (stripped[0] == "-"), stripped[1:].strip(CURRENCY_SIGNS + " ")
    elif stripped.endswith("-"):  # `5.00-`, as some statements print a debit
        negative, stripped = not negative, stripped[:-1].strip(CURRENCY_SIGNS + " ")
    number = _point(_SPACES.sub("", stripped), decimal_comma, text, field)
    if not _DIGITS.fullmatch(number):
        raise _not_a_number(text, field)
    value = _exact(number, text, field, limit)
    return value.copy_negate() if negative and value else value


def _fast(found: re.Match[str], decimal_comma: bool | None, limit: bool) -> Decimal | None:
    """The value of a `_FAST` match, or None when the general path must decide (or refuse)."""
    minus, whole, mark, fraction = found[1] or found[2], found[3], found[4], found[5] or ""
    if (found[1] and found[2]) or (mark == "," and decimal_comma is False):
        return None
    if "," in whole:  # `1,234.56`: thousands commas, read fast only where a comma is nothing else
        if decimal_comma is not False or mark == ",":
            return None
        whole = whole.replace(",", "")
    if len(fraction) == 3 and ((mark == "," and decimal_comma is None and whole.lstrip("0")) or
                               (mark == "." and decimal_comma and len(whole) <= 3)):
        return None  # `1,234` or, with decimal commas, `1.234`: thousands
    fraction = fraction.rstrip("0")
    if limit and (len(fraction) > _PLACES or len(whole.lstrip("0")) > _WHOLE):
        return None
    value = Decimal(f"{whole}.{fraction}" if fraction else whole)
    return value.copy_negate() if minus and value else value


def _thousands_dots(number: str) -> bool:
    """Whether the dots of a number without a comma group thousands (`1.234`, `1.234.567`)."""
    return bool(_DOT_GROUPED.fullmatch(number))


def _point(number: str, decimal_comma: bool | None, text: str, field: str) -> str:
    """The digits with a decimal point only: thousands separators dropped, a decimal comma made a point."""
    if "," in number and "." in number:
        if decimal_comma is False:
            if not _GROUPED.fullmatch(number):
                raise _not_a_number(text, field, " (a comma must separate thousands, as in 1,234.56)")
            return number.replace(",", "")
        if number.rfind(",") > number.rfind("."):  # `1.234,56`
            return number.replace(".", "").replace(",", ".")
        if decimal_comma:  # `1,234.56` although the file is said to write decimal commas
            raise _not_a_number(text, field, " (with --decimal-comma the comma is the decimal mark, as in 1.234,56)")
        return number.replace(",", "")  # `1,234.56`: the last mark is the decimal one
    if "," in number:
        if decimal_comma is False:
            if not _GROUPED.fullmatch(number):
                raise _not_a_number(text, field, " (a comma must separate thousands, as in 1,234.56)")
            return number.replace(",", "")
        whole, _, fraction = number.rpartition(",")
        groups = number.count(",") > 1 or (len(fraction) == 3 and whole.lstrip("0") != "")
        if decimal_comma is None and groups:
            return number.replace(",", "")
        if number.count(",") > 1:
            raise _not_a_number(text, field)
        return number.replace(",", ".")
    if decimal_comma is True and _thousands_dots(number):
        return number.replace(".", "")
    return number


def _exact(number: str, text: str, field: str, limit: bool) -> Decimal:
    """The canonical Decimal of plain digits, within the ledger's limits when asked."""
    if limit:
        try:
            return parse_decimal(number, field=field, allow_negative=True)
        except StocksbotError as error:
            raise RowError(str(error)) from None
    value = Decimal(number)
    if value and abs(value.adjusted()) > _MAX_ADJUSTED:
        raise _not_a_number(text, field)
    return canonical(value)


def _not_a_number(text: str, field: str, why: str = "") -> RowError:
    shown = text.strip() if len(text.strip()) <= 40 else text.strip()[:37] + "..."
    return RowError(f"{field} {shown!r} is not a number{why}")


def optional_amount(text: str | None, *, field: str = "amount", decimal_comma: bool | None = False,
                    limit: bool = True) -> Decimal | None:
    """`parse_amount`, or None for a cell that says "no value" (`is_empty`)."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped in _EMPTY_WRITTEN or (stripped[:1] in ("n", "N") and stripped.casefold() in EMPTY_VALUES):
        return None  # `is_empty`, inlined
    fast = _FAST.fullmatch(stripped)  # as in `parse_amount`, without a call more per cell
    if fast is not None:
        value = _fast(fast, decimal_comma, limit)
        if value is not None:
            return value
    return parse_amount(stripped, field=field, decimal_comma=decimal_comma, limit=limit)


def parse_quantity(text: str, *, field: str = "quantity", decimal_comma: bool | None = False) -> Decimal:
    """`parse_amount` of a quantity, as its absolute value (brokers sign sells either way)."""
    return abs(parse_amount(text, field=field, decimal_comma=decimal_comma))


def pounds(pence: Decimal) -> Decimal:
    """A GBX (pence) amount in GBP, exactly: 496 is 4.96 (docs/brokers.md §8.1)."""
    return canonical(pence.scaleb(-2))


def local_time(iso: str, field: str = "date") -> datetime:
    """A naive ISO date or date-time read as local time, in UTC; a bare date is local midnight
    (docs/ledger.md §1.5, docs/brokers.md §8.2). A value with an offset keeps it.

    Remembered per local zone: statements repeat their days, and the zone lookup is the cost
    (reading `os.environ` for the key would cost more than it saves).
    """
    try:
        return _local_time(iso, field, time.tzname, time.timezone, time.altzone)
    except StocksbotError as error:
        raise RowError(str(error)) from None


def local_midnight(day: date) -> datetime:
    """Local midnight of a calendar day, in UTC: what a broker's bare date means (docs/brokers.md §8.2)."""
    return local_time(day.isoformat())


@lru_cache(maxsize=4096)
def _local_time(iso: str, field: str, names: tuple[str, str], offset: int, dst_offset: int) -> datetime:
    """`parse_time`, cached; the zone's names and offsets are only the cache key: they change
    when the time zone does (`TZ` and `time.tzset()`, as the tests do)."""
    return parse_time(iso, field=field)


def strptime_day(text: str, pattern: str, field: str = "date") -> date:
    """The calendar day of `text` read with a strptime pattern (`--date-format`)."""
    try:
        return datetime.strptime(text.strip(), pattern).date()
    except ValueError:
        raise RowError(f"{field} {text.strip()!r} does not match --date-format {pattern!r}") from None


def strptime_local(text: str, pattern: str, field: str = "date") -> datetime:
    """`text` read with a strptime pattern (`--date-format`), naive = local time, in UTC."""
    try:
        moment = datetime.strptime(text.strip(), pattern)
    except ValueError:
        raise RowError(f"{field} {text.strip()!r} does not match --date-format {pattern!r}") from None
    if moment.tzinfo is not None:
        return moment.astimezone(timezone.utc)
    return local_time(moment.isoformat(), field)


class Remembered:
    """A pure parser of cell text with a bounded memory of its results: a statement repeats the
    same symbols, quantities, commissions and dates on most rows. Failures are not remembered."""

    def __init__(self, parse: Callable[[str], Any], size: int = 4096) -> None:
        self.parse = parse
        self.size = size
        self.known: dict[str, Any] = {}

    def __call__(self, text: str) -> Any:
        value = self.known.get(text)
        if value is None:
            value = self.parse(text)
            if len(self.known) >= self.size:
                self.known.clear()
            self.known[text] = value
        return value


#: strptime directives a `DateFormat` reads itself, as regular expressions.
_DIRECTIVES = {"Y": r"(?P<Y>\d{4})", "m": r"(?P<m>\d{1,2})", "d": r"(?P<d>\d{1,2})", "H": r"(?P<H>\d{1,2})",
               "M": r"(?P<M>\d{1,2})", "S": r"(?P<S>\d{1,2})", "f": r"(?P<f>\d{1,6})",
               "z": r"(?P<z>Z|[+-]\d{2}:?\d{2})"}


class DateFormat:
    """One strptime format, read fast when it uses only %Y %m %d %H %M %S %f %z and literal text
    (what brokers write), else by `datetime.strptime`; the result as `parse_when` gives it."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.regex: re.Pattern[str] | None = None
        parts = re.split(r"(%.)", pattern)
        if all(not part.startswith("%") or part[1:] in _DIRECTIVES for part in parts) and \
                len({part for part in parts if part.startswith("%")}) == sum(part.startswith("%") for part in parts):
            self.regex = re.compile("".join(_DIRECTIVES[part[1:]] if part.startswith("%") else re.escape(part)
                                            for part in parts))

    def __call__(self, text: str) -> datetime:
        """The moment, or ValueError."""
        if self.regex is None:
            moment = datetime.strptime(text, self.pattern)
        else:
            match = self.regex.fullmatch(text)
            if match is None:
                raise ValueError(text)
            got = match.groupdict()
            zone = got.get("z")
            tz = None
            if zone is not None:
                if zone == "Z":
                    tz = timezone.utc
                else:
                    digits = zone[1:].replace(":", "")
                    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                    tz = timezone(offset if zone[0] == "+" else -offset)
            moment = datetime(int(got["Y"]) if "Y" in got else 1900, int(got.get("m") or 1), int(got.get("d") or 1),
                              int(got.get("H") or 0), int(got.get("M") or 0), int(got.get("S") or 0),
                              int((got.get("f") or "0").ljust(6, "0")), tz)
        if moment.tzinfo is None:
            moment = moment.astimezone()
        return moment.astimezone(timezone.utc)


def parse_when(text: str, formats: Sequence[str | DateFormat] = (), *, field: str = "date") -> datetime:
    """A moment in UTC from a broker's date or date-time.

    With `formats` (strptime patterns such as `%m/%d/%Y`, `--date-format`) the first that
    fits is used; without, ISO dates and date-times (`ledger.inputs.parse_time`). A value
    without an offset is local time, a bare date local midnight, as everywhere in stocksbot.
    """
    stripped = text.strip()
    if not formats:
        return parse_time(stripped, field=field)
    for pattern in formats:
        reader = pattern if isinstance(pattern, DateFormat) else DateFormat(pattern)
        try:
            return reader(stripped)
        except ValueError:
            continue
    shown = " or ".join(p.pattern if isinstance(p, DateFormat) else p for p in formats)
    raise StocksbotError(f"invalid {field} {text.strip()!r}: expected a date like {shown}")
