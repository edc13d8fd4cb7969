"""Rendering: Rich tables for people, JSON for programs (decimals as strings, UTC ISO times).

Rich is imported only when a table is printed, keeping `--help` and JSON paths light.

Numbers in tables and one-line confirmations are rounded for reading unless the root
group's `--full` is given (docs/ledger.md §1.3, "Display"): money to 2 places, computed
prices and averages to at most 4, percentages to 2; quantities and the prices a user typed
keep every digit. JSON is never rounded. The rounding is display only and exact (Decimal
quantize, half away from zero), never through a float.

A list command that takes `--csv` or `--tsv` (the `table_format_options` decorator of
cli/context.py) writes its table for a program instead: `print_table` writes a header row and
one row per record, every number exact, times in ISO 8601 UTC, unknown values empty
(docs/csv-formats.md §5). The option and this writer are each written once, so every list
command behaves the same.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Callable, Iterable, Sequence

import click

from stocksbot.cli.context import TABLE_FORMAT_KEY
from stocksbot.ledger.numbers import format_decimal


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))


#: Times in tables: local, to the minute, 16 characters that fit a narrow terminal
#: (docs/ledger.md §1.3); `--full` and `seconds=True` add the seconds.
TIME_FORMAT = "%Y-%m-%d %H:%M"
TIME_FORMAT_SECONDS = "%Y-%m-%d %H:%M:%S"


def show_time(value: datetime | None, *, seconds: bool = False) -> str:
    """A stored UTC time in the user's local time zone, for tables: to the minute, or to the
    second with `seconds` (a moment that matters to the second, like an as-of) or `--full`;
    in ISO 8601 UTC, as in JSON, for `--csv`/`--tsv`."""
    if value is None:
        return "-"
    if table_format() is not None:
        return value.astimezone(timezone.utc).isoformat()
    return value.astimezone().strftime(TIME_FORMAT_SECONDS if seconds or full_precision() else TIME_FORMAT)


def show_date(value: datetime | None) -> str:
    """A stored UTC time as its local day, for list columns where the day is what a reader
    scans for (a position's opening, an order's creation); the whole time with `--full`, and
    ISO 8601 UTC for `--csv`/`--tsv`."""
    if value is None or table_format() is not None:
        return show_time(value)
    return value.astimezone().strftime(TIME_FORMAT_SECONDS if full_precision() else "%Y-%m-%d")


#: The field separator of each machine-readable table format.
TABLE_FORMATS = {"csv": ",", "tsv": "\t"}


def table_format() -> str | None:
    """"csv" or "tsv" when the running list command was given `--csv` or `--tsv`, else None."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(TABLE_FORMAT_KEY)


def show_decimal(value: Decimal | None) -> str:
    """A value shown exactly, whatever `--full` says: quantities (fractional shares are the
    user's exact input), volumes and counts."""
    return "-" if value is None else format_decimal(value)


#: Rounds for display, half away from zero (a reader expects 0.125 to show as 0.13), with
#: digits to spare so that no ledger-sized value is cut short before the last place kept.
_DISPLAY = Context(prec=1_000, rounding=ROUND_HALF_UP, Emin=-999_999_999, Emax=999_999_999)
_CENTS = Decimal("0.01")
#: Places a computed price or average is rounded to (docs/ledger.md §1.3, "Display").
AVERAGE_PLACES = 4
_AVERAGE_QUANTUM = Decimal(1).scaleb(-AVERAGE_PLACES)
#: A price with more places than a user can type (docs/ledger.md §1.2) was derived (e.g.
#: adjusted across a split), so it is shown like an average.
_INPUT_PLACES = 10


def full_precision() -> bool:
    """Whether the root group's `--full` (or a list command's `--csv`/`--tsv`, which are for
    programs) asks for exact numbers instead of rounded ones.

    Read from the running command's context; outside a command (the Python API) numbers are
    rounded, as in a plain `stocksbot` call.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    return bool(getattr(ctx.find_root().obj, "full", False)) or TABLE_FORMAT_KEY in ctx.meta


def _money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    if not value:
        return "0.00"
    # A non-zero value that rounds to nothing keeps its sign (-0.001 shows as -0.00): the
    # reader still sees which side of zero it is on, as the P&L colour does. With exponent
    # -2, `str` is the plain notation (cheaper than format's "f": a report can show 300,000).
    # The context goes by position: a keyword argument doubles the cost of the call.
    return str(value.quantize(_CENTS, None, _DISPLAY))


def _average(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return format_decimal(value.quantize(_AVERAGE_QUANTUM, None, _DISPLAY))


def _price(value: Decimal | None) -> str:
    if value is None:
        return "-"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_INPUT_PLACES:
        return _average(value)
    return format_decimal(value)


def money_shower() -> Callable[[Decimal | None], str]:
    """`show_money` with `--full` looked up once, for tables with very many rows."""
    return show_decimal if full_precision() else _money


def show_money(value: Decimal | None) -> str:
    """An amount of money (cash, value, cost, proceeds, P&L, commission, fee, dividend, tax,
    income, total): 2 places, e.g. 9996.3025575 -> "9996.30"; exact with `--full`; "-" when
    unknown. No thousands separators, so awk and cut read the columns as numbers."""
    return money_shower()(value)


def show_price(value: Decimal | None) -> str:
    """A price someone entered (a trade, an order's limit, a price bar, a rate, a per-share
    amount): every digit it was given, trailing zeros trimmed; a price with more places than
    an input can have was derived and is rounded like an average. Exact with `--full`."""
    return show_decimal(value) if full_precision() else _price(value)


def show_average(value: Decimal | None) -> str:
    """A computed price (average entry, average fill, a lot's unit cost): at most 4 places,
    trailing zeros trimmed, e.g. 33.33333333333333333333 -> "33.3333"; exact with `--full`."""
    return show_decimal(value) if full_precision() else _average(value)


def console() -> Any:
    from rich.console import Console

    return Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False, soft_wrap=False)


def note(message: str) -> None:
    """A remark for the person at the terminal; stderr, so JSON on stdout stays clean."""
    sys.stdout.flush()  # keep it after what was already printed when both go to one place
    click.echo(message, err=True)


def is_terminal() -> bool:
    return sys.stdout.isatty()


class Cell:
    """A table cell shown literally (user text is never read as Rich markup), in an optional style."""

    def __init__(self, text: str, style: str = "") -> None:
        self.text = text
        self.style = style

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(self.text, style=self.style)

    def __str__(self) -> str:
        return self.text


def text_cell(value: object | None) -> Cell:
    """User-supplied text (names, notes, descriptions) for a table; "-" when unknown."""
    return Cell("-" if value is None else str(value))


def pnl_cell(value: Decimal | None) -> Cell:
    """A profit or loss for a table, as money (`show_money`): green when positive, red when
    negative, "-" when unknown."""
    if value is None:
        return Cell("-")
    return Cell(show_money(value), "green" if value > 0 else "red" if value < 0 else "")


def show_percent(ratio: Decimal | None) -> str:
    """A ratio as a percentage to 2 places: 0.5 -> "50.00%", 2/3 -> "66.67%"; with `--full`
    exact and trimmed ("50%", "66.666666666666666667%"); "-" when unknown."""
    if ratio is None:
        return "-"
    if table_format() is not None:  # for programs: the fraction, as JSON has it (0.5 for 50%)
        return format_decimal(ratio)
    from stocksbot.ledger.numbers import multiply

    percent = multiply(ratio, Decimal(100))
    if full_precision():
        return f"{format_decimal(percent)}%"
    return f"{_money(percent)}%"


def print_fields(rows: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """One object as a two-column table of field and value, for `show` commands."""
    print_table(["field", "value"], rows, title=title)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                       numeric: Iterable[str] = ()) -> None:
    """A table of numbers as the cells were shown (see `show_money`); no cell is ever cut short
    with an ellipsis. With `--csv`/`--tsv` the rows are written for a program instead (see
    `_write_separated`) and the title is left out.

    On a terminal it is a compact Rich table (numeric columns right-aligned, P&L coloured,
    only text columns wrapping while the table fits; docs/ledger.md §1.3 "Layout"). Anywhere
    else (a pipe, a file) it is plain text: columns padded with spaces under a dashed rule,
    as wide as the rows need, no colour and no box drawing, which is quick to print and easy
    to read with awk or cut.
    """
    machine = table_format()
    if machine is not None:
        _write_separated([FULL_HEADERS.get(column, column) for column in columns], rows, TABLE_FORMATS[machine])
        return
    right = set(numeric)
    if not is_terminal():  # decided without importing Rich, which plain output does not need
        _print_plain_table(columns, [list(map(str, row)) for row in rows], right, title)
        return
    out = console()
    cells = [[cell if isinstance(cell, str) or hasattr(cell, "__rich__") else str(cell) for cell in row]
             for row in rows]
    # Too wide even with only the text columns wrapping: every column may fold, so that no
    # cell is cut short (the terminal would otherwise crop or wrap whole lines).
    keep_whole = _narrowest_width(columns, cells) <= out.width
    out.print(_rich_table(columns, cells, right, title, keep_whole=keep_whole))


#: The headers tables shorten to fit a terminal (docs/ledger.md §1.3), written out in full
#: for `--csv`/`--tsv`, where a program reads them.
FULL_HEADERS = {"qty": "quantity", "ccy": "currency", "comm": "commission"}

#: Columns of free text (notes, descriptions, parameters, commands): the ones that wrap
#: when a table is wider than the terminal. Every other cell (names, numbers, dates,
#: headers) stays on one line while the table fits (docs/ledger.md §1.3).
WRAPPING_COLUMNS = frozenset({"note", "description", "params", "reason", "command", "change", "detail", "value"})


def _narrowest_width(columns: Sequence[str], rows: list[list[Any]]) -> int:
    """The width a compact table needs when only its text columns wrap: whole cells elsewhere,
    the longest word in a text column, two spaces between columns."""
    from rich.cells import cell_len

    total = 2 * (len(columns) - 1) + 1
    for index, column in enumerate(columns):
        texts = [column, *(str(row[index]) for row in rows)]
        if column in WRAPPING_COLUMNS:
            total += max(cell_len(word) for text in texts for word in [*text.split(), ""])
        else:
            total += max(cell_len(line) for text in texts for line in text.splitlines() or [""])
    return total


def _rich_table(columns: Sequence[str], rows: list[list[Any]], right: set[str], title: str | None,
                *, keep_whole: bool) -> Any:
    """A compact Rich table: a rule under the header, no outer box, two spaces between
    columns (about as wide as the plain layout). With `keep_whole`, only the text columns
    may wrap."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for column in columns:
        whole = keep_whole and column not in WRAPPING_COLUMNS
        table.add_column(column, justify="right" if column in right else "left", overflow="fold", no_wrap=whole)
    for row in rows:
        table.add_row(*row)
    return table


def _print_plain_table(columns: Sequence[str], rows: list[list[str]], right: set[str], title: str | None) -> None:
    # One format string for every line: a report of a year can have over 100,000 rows, and
    # str.format pads a whole row in one call.
    widths = [max(len(column), max(map(len, cells), default=0))
              for column, cells in zip(columns, zip(*rows) if rows else [()] * len(columns))]
    pattern = "  ".join(f"{{:{'>' if column in right else '<'}{width}}}" for column, width in zip(columns, widths))
    text = [title] if title else []
    text += [pattern.format(*columns).rstrip(), "  ".join("-" * width for width in widths)]
    text += [pattern.format(*row).rstrip() for row in rows]
    click.echo("\n".join(text))


def _write_separated(columns: Sequence[str], rows: Iterable[Sequence[Any]], delimiter: str) -> None:
    """The table as CSV or TSV (docs/csv-formats.md §5): the csv module's quoting (a field with
    the delimiter, a quote or a line break is quoted), `\\n` line ends, and "-" (how a table says
    "unknown" or "none") written as an empty field. Written as it goes: a long list streams."""
    import csv

    out = sys.stdout
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if text == "-" else text for text in map(str, row)])
    out.flush()
