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
    from rich.console import Console
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
