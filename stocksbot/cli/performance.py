"""`stocksbot performance`: TWR, IRR, P&L and drawdown per interval and in total (docs/ledger.md §18)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from stocksbot.cli.completion import complete_accounts, complete_strategies
from stocksbot.cli.context import AppContext, pass_app, table_format_options
from stocksbot.vocabulary import IRR_DAY_COUNTS as DAY_COUNTS
from stocksbot.vocabulary import PERFORMANCE_INTERVALS as INTERVALS

if TYPE_CHECKING:
    from stocksbot.ledger.returns import Period
    from stocksbot.services.performance import PerformanceReport

COLUMNS = ["start", "end", "start value", "inflows", "outflows", "income", "costs", "end value", "P&L", "TWR", "IRR",
           "max drawdown"]


@click.command("performance")
@click.option("--account", "accounts", shell_complete=complete_accounts, metavar="NAME", multiple=True,
              help="Only this account (repeat for several; default: the whole portfolio).")
@click.option("--strategy", shell_complete=complete_strategies, metavar="NAME", help="Only the positions this strategy holds.")
@click.option("--since", metavar="DATE", help="First day (default: the first day anything happened).")
@click.option("--until", metavar="DATE", help="Last day, included in full (default: today).")
@click.option("--interval", type=click.Choice(INTERVALS), default="month", show_default=True,
              help="One row per interval.")
@click.option("--currency", metavar="CCY", help="Report in this currency (default: reporting.currency).")
@click.option("--day-count", "day_count", metavar="DAYS", default="365", show_default=True,
              help=f"Days in the IRR's year: {' or '.join(DAY_COUNTS)}.")
@click.option("--chart", is_flag=True, help="Draw the value and the TWR index (plain text when piped).")
@table_format_options
@pass_app
def performance_command(
    app: AppContext, accounts: tuple[str, ...], strategy: str | None, since: str | None, until: str | None,
    interval: str, currency: str | None, day_count: str, chart: bool,
) -> None:
    """Time-weighted return (TWR, chained daily), money-weighted return (IRR, annual),
    P&L, income, costs and max drawdown, per interval and in total.

    Values are taken at the end of each local day (positions at their latest price at or
    before it, plus cash) in the reporting currency. Deposits, withdrawals and implicit
    deposits are the external flows: inflows count at the start of their day, outflows at
    its end. Returns are fractions in JSON (0.05 is 5 %); tables show money and
    percentages rounded to 2 places (exact with the global --full). See docs/ledger.md §18.

    \b
    Example:
      stocksbot performance --interval year
      stocksbot performance --account ira --since 2024-01-01 --until 2024-12-31 --interval quarter
      stocksbot performance --strategy momentum --chart
      stocksbot --json performance --interval all --day-count 365.25
    """
    from stocksbot.services import performance

    report = performance.performance(
        app.uow(), accounts=accounts, strategy=strategy, since=since, until=until, interval=interval,
        currency=currency, day_count=day_count,
    )
    if app.json:
        from stocksbot.cli.output import print_json

        print_json(report.to_json())
        return
    from stocksbot.cli.output import note

    if report.empty is not None:
        note(report.empty)
        return
    if chart:
        _chart(report)
    else:
        _table(report)
    if report.missing_rates:
        note(f"no exchange rate for {', '.join(report.missing_rates)}: values that need it are unknown "
             "(add rates with `stocksbot price add PAIR RATE`)")
    if report.total is not None:
        for reason in report.total.notes:
            note(reason)


def _cells(label: str | None, row: "Period") -> list[object]:
    """Money to 2 places and returns to 2 places of a percent, unless --full (docs/ledger.md §1.3)."""
    from stocksbot.cli.output import pnl_cell
    from stocksbot.cli.output import show_money as _money
    from stocksbot.cli.output import show_percent as _percent

    pnl = pnl_cell(row.pnl)
    return [label or row.start.isoformat(), row.end.isoformat(), _money(row.start_value), _money(row.inflows),
            _money(row.outflows), _money(row.income), _money(row.costs), _money(row.end_value), pnl,
            _percent(row.twr), _percent(row.irr), _percent(row.max_drawdown)]


def _table(report: "PerformanceReport") -> None:
    from stocksbot.cli.output import print_table, table_format

    rows = [_cells(None, row) for row in report.rows]
    # One interval is the total already; CSV rows are the intervals only (the total: --json).
    if report.total is not None and len(report.rows) != 1 and table_format() is None:
        rows.append(_cells("total", report.total))
    print_table(COLUMNS, rows, title=f"performance in {report.currency} ({report.interval}, IRR ACT/{report.day_count})",
                numeric=COLUMNS[2:])


def _chart(report: "PerformanceReport") -> None:
    from stocksbot.cli.charts import Series, draw
    from stocksbot.ledger.returns import twr_index

    draw(f"performance in {report.currency}", [
        Series(f"value ({report.currency})", [(day.day, day.value) for day in report.days]),
        Series("TWR index", twr_index(report.days, report.start_value)),
    ])
