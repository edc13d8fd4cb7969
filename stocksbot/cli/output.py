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
    print_table(["field", "value"], rows, title=title)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                       numeric: Iterable[str] = ()) -> None:
    """A table of exact numbers; no cell is ever cut short with an ellipsis.

    On a terminal it is a Rich table (numeric columns right-aligned, P&L coloured, cells that
    do not fit fold onto the next line). Anywhere else (a pipe, a file) it is plain text:
    columns padded with spaces under a dashed rule, as wide as the rows need, no colour and
    no box drawing, which is quick to print and easy to read with awk or cut.
    """
    right = set(numeric)
    if not is_terminal():  # decided without importing Rich, which plain output does not need
        _print_plain_table(columns, [[str(cell) for cell in row] for row in rows], right, title)
        return
    from rich.table import Table

    out = console()

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(cell if isinstance(cell, str) or hasattr(cell, "__rich__") else str(cell) for cell in row))
    out.print(table)


def _print_plain_table(columns: Sequence[str], rows: list[list[str]], right: set[str], title: str | None) -> None:
    widths = [max([len(column), *(len(row[i]) for row in rows)]) for i, column in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for cell, width, column in zip(cells, widths, columns)
        ).rstrip()

    text = [title] if title else []
    text += [line(columns), "  ".join("-" * width for width in widths)]
    text += [line(row) for row in rows]
    click.echo("\n".join(text))
