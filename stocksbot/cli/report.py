"""`stocksbot report ...`: reports derived from the ledger; `report realized` (docs/ledger.md §17)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from stocksbot.cli.context import AppContext, account_option, pass_app, table_format_options

if TYPE_CHECKING:
    from stocksbot.storage.records import RealizedReport, RealizedRow

ROW_COLUMNS = ["sold", "account", "symbol", "side", "acquired", "qty", "proceeds", "cost", "gain", "ccy",
               "days", "term"]
TOTAL_COLUMNS = ["year", "term", "currency", "portions", "proceeds", "cost", "gain"]


@click.group("report")
def report_group() -> None:
    """Reports derived from the ledger.

    \b
    Example:
      stocksbot report realized --year 2024
    """


@report_group.command("realized")
@click.option("--year", type=int, metavar="Y", help="Only portions sold in year Y (local time).")
@account_option(writes=False)
@table_format_options
@pass_app
def report_realized(app: AppContext, year: int | None, account: str | None) -> None:
    """Realized gains lot by lot: every closed lot portion with when it was acquired and sold,
    quantity, proceeds, cost (commissions and fees included), gain, days held and term (short:
    held at most 365 days, else long), with totals per term (and per year without --year).

    Lots are matched by the accounting.cost_basis setting, as booking matched them. For a short,
    acquired is the short sale and sold the covering buy. Amounts are in each symbol's currency,
    totals per currency. This is not tax advice: tax rules (holding periods, wash sales, exchange
    rates of the trade dates) differ by country; check with your tax authority or adviser.

    \b
    Example:
      stocksbot report realized --year 2024
      stocksbot --json report realized --account ira
    """
    from stocksbot.cli.output import print_json
    from stocksbot.collector import collector_paused
    from stocksbot.services import realized

    report = realized.realized(app.uow(), year=year, account=account)
    with collector_paused():  # a line (list or dict) per portion, and no cycles
        if app.json:
            print_json(report.to_json())
        else:
            _print_report(report)


def _print_report(report: "RealizedReport") -> None:
    from datetime import timezone

    from stocksbot.cli.output import (
        full_precision,
        is_terminal,
        money_shower,
        note,
        pnl_cell,
        print_table,
        show_decimal,
        table_format,
        text_cell,
    )
    from stocksbot.ledger.realized import local_day, local_time

    # Colour only on a terminal: piped, the gain is plain text and the row needs no Cell objects.
    terminal = is_terminal()
    money = money_shower()  # --full looked up once: a year can have over 100,000 rows
    full = full_precision()
    gain_cell = pnl_cell if terminal else money

    machine = table_format() is not None  # for programs (docs/csv-formats.md §5): UTC, the rows only

    day_texts = _DayTexts()

    def cells(row: "RealizedRow") -> list[Any]:
        """One row's cells (text, or Rich cells on a terminal). The days are local (whole local
        times with `--full`), or ISO 8601 UTC for --csv/--tsv; the acquiring day is the selling
        day less the days held (their definition, docs/ledger.md §17.3): one local-day lookup
        per row (a year can have over 100,000 rows), and each day's text written once."""
        if machine:
            sold = row.sold_at.astimezone(timezone.utc).isoformat()
            acquired = row.acquired_at.astimezone(timezone.utc).isoformat()
        elif full:
            sold = local_time(row.sold_at).isoformat(sep=" ", timespec="seconds")
            acquired = local_time(row.acquired_at).isoformat(sep=" ", timespec="seconds")
        else:
            sold_on = local_day(row.sold_at).toordinal()
            sold, acquired = day_texts[sold_on], day_texts[sold_on - row.days_held]
        return [sold, text_cell(row.account) if terminal else row.account, row.symbol, row.side, acquired,
                show_decimal(row.quantity), money(row.proceeds), money(row.cost), gain_cell(row.gain), row.currency,
                str(row.days_held), row.term]

    if not report.rows:
        note("no lot was closed" + (f" in {report.year}" if report.year is not None else "")
             + (f" in account {report.account!r}" if report.account is not None else ""))
        return
    print_table(
        ROW_COLUMNS,
        map(cells, report.rows),
        numeric=["qty", "proceeds", "cost", "gain", "days"],
    )
    if machine:
        return
    print_table(
        TOTAL_COLUMNS,
        (["all" if t.year is None else str(t.year), t.term, t.currency, str(t.portions), money(t.proceeds),
          money(t.cost), pnl_cell(t.gain)] for t in report.totals),
        title="totals per term", numeric=["portions", "proceeds", "cost", "gain"],
    )


class _DayTexts(dict[int, str]):
    """The ISO text of a day by its ordinal, each written once (a subscript on a hit)."""

    def __missing__(self, ordinal: int) -> str:
        from datetime import date

        text = self[ordinal] = date.fromordinal(ordinal).isoformat()
        return text
