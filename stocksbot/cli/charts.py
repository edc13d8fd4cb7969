"""Terminal line charts (`performance --chart`, `price chart`), with a plain listing when piped.

On a terminal the chart is drawn by plotext; anywhere else (a pipe, a file) the same series
are printed as plain columns of date and values, with no escape codes, so the output can be
read by a script. `NO_COLOR` draws the chart without colours. plotext is imported only when
a chart is drawn, so `stocksbot --help` never loads it. Values are exact until here: floats
are only the chart's screen coordinates, never printed (the listing prints the exact values).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import click

from stocksbot.cli.output import is_terminal
from stocksbot.ledger.numbers import format_decimal

#: Dates as plotext reads and prints them.
_DATE_FORM = "%Y-%m-%d"


@dataclass(frozen=True)
class Series:
    """One line: a name and a value per date (None where unknown: left out of the chart)."""

    name: str
    points: Sequence[tuple[date, Decimal | None]]


def draw(title: str, panels: Sequence[Series]) -> None:
    """Each series in its own panel, one above the other, sharing the dates."""
    if not is_terminal():
        _listing(panels)
        return
    import plotext  # type: ignore[import-untyped]  # no type information shipped

    figure = plotext.figure
    figure.clear()
    width, height = shutil.get_terminal_size((100, 30))
    if len(panels) > 1:
        figure.subplots(len(panels), 1)
    figure.plot_size(width, max(12 * len(panels), min(height - 2, 20 * len(panels))))
    for index, series in enumerate(panels, start=1):
        panel = figure.subplot(index, 1) if len(panels) > 1 else figure
        panel.date().activate(True, form=_DATE_FORM)
        known = [(day, value) for day, value in series.points if value is not None]
        if known:
            line = panel.signal([day.isoformat() for day, _ in known], [float(value) for _, value in known])
            panel.draw(line.label(series.name).lines())
        panel.title(f"{title}: {series.name}" if index == 1 else series.name)
    text = str(figure.build())
    if os.environ.get("NO_COLOR"):
        text = plotext.uncolorize(text)
    click.echo(text)


def _listing(panels: Sequence[Series]) -> None:
    """The series as plain text: a header and one line per date, tab-free and colour-free."""
    dates: list[date] = []
    seen: set[date] = set()
    values: list[dict[date, Decimal | None]] = []
    for series in panels:
        found = dict(series.points)
        values.append(found)
        for day, _ in series.points:
            if day not in seen:
                seen.add(day)
                dates.append(day)
    rows = [["date", *(series.name for series in panels)]]
    for day in sorted(dates):
        rows.append([day.isoformat(), *(_text(found.get(day)) for found in values)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    click.echo("\n".join(
        "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths)))
        for row in rows
    ))


def _text(value: Decimal | None) -> str:
    return "-" if value is None else format_decimal(value)
