"""What the Degiro, Trading 212 and Revolut parsers share beyond `importers/reading.py`
(docs/brokers.md §13): one header line found by name in any of the exports' languages, the
`--map FIELD=COLUMN` override on top, and their symbols.

Numbers (decimal commas, currency signs, narrow no-break spaces), CSV records with their
lines, local times and GBX come from `importers/reading.py` (docs/brokers.md §8).
"""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from typing import Iterable, Mapping, Sequence

from stocksbot.importers.reading import RowError, field_positions


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
        self.index = {field: found[0] for field, found in field_positions(header, names, overrides).items()}

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


def symbol_of(text: str) -> str:
    """A broker ticker or ISIN as a stocksbot symbol: upper-cased, or a row error."""
    symbol = text.strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9.\-/:_]{0,31}", symbol):
        raise RowError(f"symbol {text!r} is not a valid symbol")
    return symbol


ISIN_PATTERN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")


def positive(value: Decimal) -> Decimal:
    """The magnitude of a signed broker amount (entries carry positive amounts, the kind says the sign)."""
    return value.copy_abs()
