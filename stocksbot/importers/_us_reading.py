"""Reading the CSV exports of US brokers (Schwab, Fidelity): rows, headers, `$` amounts, US dates.

Both brokers write `MM/DD/YYYY` dates, dollar amounts with thousands commas (`"-$1,259.59"`,
`$-0.88`) and put title lines, blank lines and disclaimers around the table, so the header
is found by its column names, wherever it is (docs/brokers.md §12.1).
The lead will fold these helpers into `importers/reading.py`; until then they are private
to the two formats.

Every helper raises `RowError` with a message for the user; a parser turns it into a
`Problem` of the row's line.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache
from typing import Iterable, Iterator, Mapping, Sequence

from stocksbot.errors import StocksbotError
from stocksbot.importers.entries import ZERO
from stocksbot.ledger import add, canonical, divide, multiply, parse_decimal, subtract
from stocksbot.ledger.inputs import parse_symbol, parse_time
from stocksbot.ledger.numbers import MAX_DECIMAL_PLACES

#: The finest price the ledger stores (docs/ledger.md §1.2): 10 decimal places.
_PRICE_QUANTUM = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_AS_OF = re.compile(r"^(?P<posted>\S+)\s+as\s+of\s+(?P<effective>\S+)$", re.IGNORECASE)
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d*)?")
#: The usual amount, read without the general path: `-$1234.56`, `$-0.88`, `12.5`.
_PLAIN_MONEY = re.compile(r"(-?\$?|\$-)(\d+(?:\.\d+)?)")
#: A CUSIP: 9 characters, letters and digits, at least one digit among the first 8 and a check digit.
_CUSIP = re.compile(r"(?=[A-Z]*\d)[0-9A-Z]{8}\d")


class RowError(StocksbotError):
    """A row (or the header) cannot be read; the message names the column and the value."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Row:
    """One CSV record: its first physical line (1-based) and its cells, stripped."""

    line: int
    cells: list[str]

    @property
    def blank(self) -> bool:
        return not any(self.cells)


def read_rows(lines: Iterable[str], delimiter: str | None = None) -> Iterator[Row]:
    """The file's CSV records with the line each starts on (a quoted cell may span lines).

    Cells are stripped (Fidelity writes ` YOU BOUGHT ...` and ` 04/01/2021`) and a UTF-8 byte
    order mark before the first cell is dropped.
    """
    numbered = _numbered(lines)
    reader = csv.reader((text for _, text in numbered), delimiter=delimiter or ",")
    line = 1
    first = True
    try:
        for cells in reader:
            if first and cells:
                cells[0] = cells[0].lstrip("\ufeff")
            first = False
            yield Row(line, [cell.strip() for cell in cells])
            line = reader.line_num + 1
    except csv.Error as error:
        raise RowError(f"cannot read the CSV ({error})", reader.line_num) from None


class _numbered:
    """Lines with their numbers, each ending in a newline so that csv counts them."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self._count = 0

    def __iter__(self) -> Iterator[tuple[int, str]]:
        for text in self._lines:
            self._count += 1
            yield self._count, text if text.endswith(("\n", "\r")) else text + "\n"


def find_header(rows: Iterator[Row], wanted: Sequence[Sequence[str]], skipped: list[Row], limit: int = 50) -> Row | None:
    """The first row that names every group of `wanted` (one name of each group, case-insensitive).

    Rows before it are appended to `skipped` (title lines, blank lines); after `limit` rows
    without a header the search gives up (None), so another broker's file is refused early.
    """
    for count, row in enumerate(rows):
        names = {cell.casefold() for cell in row.cells}
        if all(any(name.casefold() in names for name in group) for group in wanted):
            return row
        skipped.append(row)
        if count >= limit:
            return None
    return None


def header_names(head: str, limit: int = 50) -> list[set[str]]:
    """The case-folded cells of the first `limit` lines of `head`, for `detect`."""
    found: list[set[str]] = []
    try:
        for row in read_rows(head.splitlines()[:limit]):
            found.append({cell.casefold() for cell in row.cells if cell})
    except RowError:
        pass
    return found


#: `--map` names of the generic format that mean a field of these formats (docs/brokers.md §12.1):
#: the side of a trade is read from the Action.
MAP_ALIASES = {"side": "action"}


def mapped(columns: Mapping[str, str]) -> dict[str, str]:
    """`--map` field -> column, with the generic format's field names turned into ours."""
    return {MAP_ALIASES.get(field, field): column for field, column in columns.items()}


class Columns:
    """Where each field is in the header: by the format's names, `--map field=Column` first."""

    def __init__(self, header: Row, names: Mapping[str, Sequence[str]], overrides: Mapping[str, str]) -> None:
        positions: dict[str, int] = {}
        for index, cell in enumerate(header.cells):
            positions.setdefault(cell.casefold(), index)
        self.header = header
        self.index: dict[str, int] = {}
        for field, candidates in names.items():
            wanted = [overrides[field]] if field in overrides else list(candidates)
            for name in wanted:
                if name.strip().casefold() in positions:
                    self.index[field] = positions[name.strip().casefold()]
                    break
        for field, name in overrides.items():
            if field not in names:
                raise RowError(f"--map {field}={name}: this format has no field {field!r} "
                               f"(its fields: {', '.join(names)})")
            if field not in self.index:
                raise RowError(f"--map {field}={name}: the header on line {header.line} has no column {name!r}")

    def has(self, field: str) -> bool:
        return field in self.index

    def missing(self, fields: Iterable[str], names: Mapping[str, Sequence[str]]) -> list[str]:
        """The required fields the header lacks, by their first column name."""
        return [names[field][0] for field in fields if field not in self.index]

    def get(self, row: Row, field: str) -> str:
        """The cell of `field` in `row`; "" when the column is absent or the row is short."""
        index = self.index.get(field)
        if index is None or index >= len(row.cells):
            return ""
        return row.cells[index]


def parse_money(text: str, field: str, *, decimal_comma: bool = False) -> Decimal | None:
    """A signed amount: `$1,234.56`, `-$1,234.56`, `$-0.88`, `(12.50)`, `1.2E-4`; None when empty.

    Commas are thousands separators in groups of three (Schwab's `"500,135"` is 500135);
    with `decimal_comma` the roles swap. Anything else is a RowError naming the column.
    """
    raw = text.strip()
    if raw in ("", "--"):
        return None
    plain = None if decimal_comma else _PLAIN_MONEY.fullmatch(raw)
    if plain:
        try:
            value = parse_decimal(plain[2], field=field)
        except StocksbotError as error:
            raise RowError(str(error)) from None
        return value.copy_negate() if "-" in plain[1] and value else value
    body = raw
    negative = False
    if body.startswith("(") and body.endswith(")"):
        negative, body = True, body[1:-1].strip()
    if body.startswith(("+", "-")):
        negative, body = negative or body[0] == "-", body[1:]
    if body.startswith("$"):
        body = body[1:]
        if body.startswith(("+", "-")):
            negative, body = negative or body[0] == "-", body[1:]
    if decimal_comma:
        body = body.replace(".", "").replace(",", ".") if re.fullmatch(r"\d{1,3}(?:\.\d{3})*(?:,\d*)?", body) \
            else body.replace(",", ".")
    elif "," in body:
        if not _GROUPED.fullmatch(body):
            raise RowError(f"{field} {raw!r} is not a number (a comma must separate thousands, as in 1,234.56)")
        body = body.replace(",", "")
    if not body or body.startswith(("+", "-")) or not re.fullmatch(r"[0-9.eE+-]+", body):
        raise RowError(f"{field} {raw!r} is not a number")
    try:
        value = parse_decimal(body, field=field)
    except StocksbotError as error:
        raise RowError(str(error)) from None
    return value.copy_negate() if negative and value else value


class Dates:
    """`parse_us_date` remembered for one file: a statement has many rows a day, and the time
    zone lookup is the slow part (not cached across files: the local zone may change)."""

    def __init__(self, date_format: str | None) -> None:
        self.date_format = date_format
        self._seen: dict[str, datetime] = {}

    def read(self, text: str, field: str) -> datetime:
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = parse_us_date(text, field, self.date_format)
        return found


def parse_us_date(text: str, field: str, date_format: str | None = None) -> datetime:
    """`MM/DD/YYYY` (or `--date-format`) as local midnight of that day, in UTC (docs/ledger.md §1.5)."""
    raw = text.strip()
    if date_format:
        try:
            day = datetime.strptime(raw, date_format).date()
        except ValueError:
            raise RowError(f"{field} {raw!r} does not match --date-format {date_format!r}") from None
        return parse_time(day.isoformat())
    match = _US_DATE.fullmatch(raw)
    if not match:
        raise RowError(f"{field} {raw!r} is not a date in the broker's form MM/DD/YYYY")
    month, day_of_month, year = (int(part) for part in match.groups())
    try:
        day = datetime(year, month, day_of_month).date()
    except ValueError:
        raise RowError(f"{field} {raw!r} is not a calendar date (MM/DD/YYYY)") from None
    return parse_time(day.isoformat())


def split_as_of(text: str) -> tuple[str, str | None]:
    """`"07/15/2024 as of 07/12/2024"` -> ("07/15/2024", "07/12/2024"); a plain date -> (date, None)."""
    match = _AS_OF.match(text.strip())
    if match:
        return match["posted"], match["effective"]
    return text.strip(), None


@lru_cache(maxsize=4096)
def read_symbol(text: str) -> str:
    """An upper-cased symbol (docs/ledger.md §2), or a RowError (cached: a pure function)."""
    try:
        return parse_symbol(text)
    except StocksbotError as error:
        raise RowError(str(error)) from None


def is_cusip(symbol: str) -> bool:
    """Whether a symbol is a 9-character CUSIP (Schwab and Fidelity name bonds and old lines so)."""
    return bool(_CUSIP.fullmatch(symbol))


def positive(value: Decimal | None) -> Decimal:
    """The size of a signed amount (brokers sign by direction; entries carry sizes)."""
    if value is None:
        return ZERO
    return value.copy_abs()


def settle_trade(side: str, quantity: Decimal, price: Decimal, commission: Decimal, fees: Decimal,
                 amount: Decimal | None) -> tuple[Decimal, Decimal]:
    """The (price, fees) that make the ledger's cash for the trade equal the statement's Amount.

    The ledger books a buy as -(quantity x price + commission + fees) and a sell as
    quantity x price - commission - fees (docs/ledger.md §13.1). Brokers round the price they
    show (Schwab to 4 places, Fidelity to 2) but not the Amount, which is what the account
    really paid or got. So when the two disagree (docs/brokers.md §12.2):
    a difference against the account (paid more, got less) is kept as a fee, with the price as
    shown; a difference in its favour means the shown price is too high (buy) or too low
    (sell), so the price is taken from the Amount, rounded against the account to 10 places,
    and the remainder (under 10^-10 per share) becomes the fee. Either way the cash is exact.
    """
    if amount is None:
        return price, fees
    found_price, found_fees = _settle(side, quantity, price, commission, fees, amount)
    return canonical(found_price), canonical(found_fees)


def _settle(side: str, quantity: Decimal, price: Decimal, commission: Decimal, fees: Decimal,
            amount: Decimal) -> tuple[Decimal, Decimal]:
    paid = amount.copy_abs()
    shown = multiply(quantity, price)
    if side == "buy":
        extra = subtract(paid, add(add(shown, commission), fees))
        if extra >= 0:
            return price, add(fees, extra)
        budget = subtract(subtract(paid, commission), fees)
        if budget <= 0:
            raise RowError(f"the amount {amount} does not cover the commission and fees of the buy")
        derived = divide(budget, quantity).quantize(_PRICE_QUANTUM, rounding=ROUND_FLOOR)
        return derived, add(fees, subtract(budget, multiply(quantity, derived)))
    shortfall = subtract(subtract(subtract(shown, commission), fees), paid)
    if shortfall >= 0:
        return price, add(fees, shortfall)
    gross = add(add(paid, commission), fees)
    derived = divide(gross, quantity).quantize(_PRICE_QUANTUM, rounding=ROUND_CEILING)
    return derived, add(fees, subtract(multiply(quantity, derived), gross))
