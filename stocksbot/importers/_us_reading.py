"""What Schwab and Fidelity share beyond `importers/reading.py`: the header found among title
lines, US dates, "as of" dates, CUSIPs and the settlement of a trade to its Amount.

Both brokers write `MM/DD/YYYY` dates, dollar amounts with thousands commas (`"-$1,259.59"`,
`$-0.88`, read by `reading.optional_amount`) and put title lines, blank lines and disclaimers
around the table, so the header is found by its column names, wherever it is
(docs/brokers.md §12.1). Every helper raises `reading.RowError` with a message for the user;
a parser turns it into a `Problem` of the row's line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache
from typing import Iterable, Iterator, Mapping, Sequence

from stocksbot.errors import StocksbotError
from stocksbot.importers.entries import ZERO, Item, ParseOptions, Problem, Skipped
from stocksbot.importers.reading import Record, RowError, field_positions, local_midnight, records, strptime_day
from stocksbot.ledger import add, canonical, divide, multiply, subtract
from stocksbot.ledger.inputs import parse_symbol
from stocksbot.ledger.numbers import MAX_DECIMAL_PLACES

#: The finest price the ledger stores (docs/ledger.md §1.2): 10 decimal places.
_PRICE_QUANTUM = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_AS_OF = re.compile(r"^(?P<posted>\S+)\s+as\s+of\s+(?P<effective>\S+)$", re.IGNORECASE)
#: A CUSIP: 9 characters, letters and digits, at least one digit among the first 8 and a check digit.
_CUSIP = re.compile(r"(?=[A-Z]*\d)[0-9A-Z]{8}\d")


def find_header(rows: Iterator[Record], wanted: Sequence[Sequence[str]], skipped: list[Record],
                limit: int = 50) -> Record | None:
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
        for row in records(head.splitlines()[:limit], strip=True):
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

@dataclass
class Table:
    """The statement's table once its header is found: the rows after it, by their columns."""

    rows: Iterator[Record]
    header: Record
    columns: "Columns"
    width: int


def find_table(lines: Iterable[str], options: ParseOptions, names: Mapping[str, Sequence[str]],
               required: Sequence[str], *, empty: str, foreign: str) -> tuple[list[Item], Table | None]:
    """The items before the table (title and blank lines skipped) and the table, or a Problem and None.

    The header is the first row naming a column of every `required` field (`--map` first);
    `empty` is the problem of a file without one in a blank file, `foreign` otherwise.
    """
    rows = records(lines, options.delimiter, strip=True)
    overrides = mapped(options.columns)
    before: list[Record] = []
    wanted = [[overrides[field]] if field in overrides else list(names[field]) for field in required]
    header = find_header(rows, wanted, before)
    if header is None:
        return [Problem(1, empty if all(row.blank for row in before) else foreign)], None
    items: list[Item] = [Skipped(row.line, "blank line" if row.blank else "title line before the header")
                         for row in before]
    try:
        columns = Columns(header, names, overrides)
    except RowError as error:
        return [*items, Problem(header.line, str(error))], None
    return items, Table(rows, header, columns, max(columns.index[field] for field in required) + 1)


class Columns:
    """Where each field is in the header: by the format's names, `--map field=Column` first."""

    def __init__(self, header: Record, names: Mapping[str, Sequence[str]], overrides: Mapping[str, str]) -> None:
        self.header = header
        self.index = {field: found[0] for field, found in field_positions(header.cells, names, overrides).items()}
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

    def get(self, row: Record, field: str) -> str:
        """The cell of `field` in `row`; "" when the column is absent or the row is short."""
        index = self.index.get(field)
        if index is None or index >= len(row.cells):
            return ""
        return row.cells[index]


class Dates:
    """`parse_us_date` remembered for one file: a statement has many rows a day."""

    def __init__(self, date_format: str | None) -> None:
        self.date_format = date_format
        self._seen: dict[str, datetime] = {}

    def read(self, text: str, field: str) -> datetime:
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = parse_us_date(text, field, self.date_format)
        return found


def parse_us_date(text: str, field: str, date_format: str | None = None) -> datetime:
    """`MM/DD/YYYY` (or `--date-format`) as local midnight of that day, in UTC (docs/brokers.md §8.2)."""
    raw = text.strip()
    if date_format:
        return local_midnight(strptime_day(raw, date_format, field))
    match = _US_DATE.fullmatch(raw)
    if not match:
        raise RowError(f"{field} {raw!r} is not a date in the broker's form MM/DD/YYYY")
    month, day_of_month, year = (int(part) for part in match.groups())
    try:
        day = date(year, month, day_of_month)
    except ValueError:
        raise RowError(f"{field} {raw!r} is not a calendar date (MM/DD/YYYY)") from None
    return local_midnight(day)


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
