"""Rendering: Rich tables for people, JSON for programs (decimals as strings, UTC ISO times).

Rich is imported only when a table is printed, keeping `--help` and JSON paths light.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Sequence

import click

from stocksbot.ledger.numbers import format_decimal


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))


def show_time(value: datetime | None) -> str:
    """A stored UTC time in the user's local time zone, for tables."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def show_decimal(value: Decimal | None) -> str:
    return "-" if value is None else format_decimal(value)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                numeric: Iterable[str] = ()) -> None:
    """A Rich table on stdout; numeric columns are right-aligned. No colour when piped or NO_COLOR."""
    from rich.table import Table

    right = set(numeric)
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*(cell if isinstance(cell, str) or hasattr(cell, "__rich__") else str(cell) for cell in row))
    console().print(table)


def console() -> Any:
    from rich.console import Console

    return Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False, soft_wrap=False)


def note(message: str) -> None:
    """A remark for the person at the terminal; stderr, so JSON on stdout stays clean."""
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
    """A profit or loss for a table: green when positive, red when negative, "-" when unknown."""
    if value is None:
        return Cell("-")
    return Cell(format_decimal(value), "green" if value > 0 else "red" if value < 0 else "")


def show_percent(ratio: Decimal | None) -> str:
    """A ratio as an exact, trimmed percentage: 0.5 -> "50%", 1 -> "100%"; "-" when unknown."""
    if ratio is None:
        return "-"
    from stocksbot.ledger.numbers import multiply

    return f"{format_decimal(multiply(ratio, Decimal(100)))}%"


def print_fields(rows: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """One object as a two-column table of field and value, for `show` commands."""
    print_ledger_table(["field", "value"], rows, title=title)


def print_ledger_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                       numeric: Iterable[str] = ()) -> None:
    """Like print_table, for tables of exact numbers: no cell is ever cut short with an ellipsis.

    Numeric columns are right-aligned. On a narrow terminal a cell that does not fit folds onto
    the next line; output that is not a terminal (a pipe, a file) is as wide as the rows need
    instead of Rich's default 80 columns, so nothing folds there.
    """
    from rich.measure import Measurement
    from rich.table import Table

    right = set(numeric)
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(cell if isinstance(cell, str) or hasattr(cell, "__rich__") else str(cell) for cell in row))
    out = console()
    if not out.is_terminal:
        natural = Measurement.get(out, out.options.update_width(1_000_000), table).maximum
        out.width = max(out.width, natural)
    out.print(table)
