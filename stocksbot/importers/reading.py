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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from stocksbot.errors import StocksbotError
from stocksbot.ledger.inputs import parse_time
from stocksbot.ledger.numbers import parse_decimal

#: Currency signs a broker may put before or after an amount.
CURRENCY_SIGNS = "$€£¥"
_CODE_AROUND = re.compile(r"^(?:([A-Z]{3})\s+)?(.*?)(?:\s+([A-Z]{3}))?$")
_DIGITS = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SPACES = str.maketrans("", "", " \u00a0\u202f'")


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


def cell(values: Sequence[str], position: int | None) -> str:
    """The trimmed text at `position` ("" for a missing column or a short row)."""
    if position is None or position >= len(values):
        return ""
    return values[position].strip()


def csv_rows(lines: Iterable[str], delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each record of a CSV text, 1-based, blank records included."""
    reader = csv.reader(lines, delimiter=delimiter)
    for values in reader:
        yield reader.line_num, values


_PLAIN = re.compile(r"\d{1,18}(?:\.\d{1,10})?")


def parse_amount(text: str, *, field: str = "amount", decimal_comma: bool | None = False) -> Decimal:
    """A signed amount as brokers write it, exactly: `1234.56`, `$1,234.56`, `-$5.00`, `$-5.00`,
    `(5.00)` (negative), `+3`, `1E-4`, `12.5 USD`, `€ 3,10` and with `decimal_comma` `1.234,56`.

    `decimal_comma=None` decides per value: a comma is the decimal mark when it comes after
    the last dot, or is the only separator and is not followed by exactly three digits
    (`3,10` is 3.10; `1,234` is 1234). Refuses anything else with one line naming `field`.
    """
    stripped = text.strip()
    if _PLAIN.fullmatch(stripped) and (decimal_comma is not True or "." not in stripped):
        return parse_decimal(stripped, field=field)  # the usual `150.25`: nothing to take off
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
        negative, stripped = not negative, stripped[:-1].strip()
    number = _plain(stripped.translate(_SPACES), decimal_comma)
    if not _DIGITS.fullmatch(number):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise StocksbotError(f"{field} must be a number such as 1234.56, -$5.00 or (5.00), got {shown!r}")
    value = parse_decimal(number, field=field)
    return value.copy_negate() if negative and value else value


def _plain(number: str, decimal_comma: bool | None) -> str:
    """The digits with a decimal point only: thousands separators dropped, a decimal comma made a point."""
    if decimal_comma is None:
        if "," not in number:
            return number
        tail = number.rpartition(",")[2]
        decimal_comma = number.rfind(",") > number.rfind(".") if "." in number else \
            number.count(",") == 1 and not (len(tail) == 3 and tail.isdigit())
    if not decimal_comma:
        return number.replace(",", "")
    if "," in number:
        return number.replace(".", "").replace(",", ".")
    # No comma: one dot followed by exactly three digits groups thousands (`1.234`); otherwise it
    # is a decimal point after all (`1.5`, `1E-4`), as some rows of decimal-comma files have.
    head, dot, tail = number.partition(".")
    return head + tail if dot and len(tail) == 3 and tail.isdigit() and "." not in tail else number


def parse_quantity(text: str, *, field: str = "quantity", decimal_comma: bool | None = False) -> Decimal:
    """`parse_amount` of a quantity, as its absolute value (brokers sign sells either way)."""
    return abs(parse_amount(text, field=field, decimal_comma=decimal_comma))


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
