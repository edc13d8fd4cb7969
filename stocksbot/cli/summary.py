"""`stocksbot summary`: the portfolio at a glance, in total, by strategy and by account."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from stocksbot.cli.context import AppContext, account_option, pass_app

if TYPE_CHECKING:
    from stocksbot.storage.records import Summary

COLUMNS = ["strategy", "open", "cost", "market value", "realized P&L", "unrealized P&L", "costs paid"]
ACCOUNT_COLUMNS = ["account", "open", "cash", "cash value", "market value", "income", "total value"]


@click.command("summary")
@account_option(writes=False)
@click.option("--as-of", "as_of", metavar="DATE",
              help="As it was at the end of DATE (a datetime: at that moment); not after today.")
@pass_app
def summary_command(app: AppContext, account: str | None, as_of: str | None = None) -> None:
    """Cost, market value, realized and unrealized P&L and costs paid, in total and by strategy;
    cash, income and total value (market value + cash) in total and by account.

    Figures are in the reporting currency (setting reporting.currency, else the currency of
    the main account), converted at the latest exchange rate (price bars of pairs such as
    EUR/USD); cash is also shown per currency. Open positions are valued at their latest
    price; when a symbol has no price or a currency no rate, the figures that depend on it
    are unknown ("-"), and the symbols or pairs are named.

    With --as-of, the summary as it was at the end of that day: positions replayed from the
    trades, prices at or before then (else the latest trade price), rates, cash and income of
    that moment.

    \b
    Example:
      stocksbot summary
      stocksbot summary --account ira
      stocksbot --json summary
      stocksbot summary --as-of 2024-12-31
    """
    from stocksbot.cli.output import (
        note,
        pnl_cell,
        print_json,
        print_table,
        show_money,
    )
    from stocksbot.services import positions

    summary = positions.summary(app.uow(), account=account, as_of=as_of)
    if app.json:
        print_json(summary.to_json())
        return
    rows = [
        [line.strategy or "(none)", str(line.open_positions), show_money(line.cost), show_money(line.market_value),
         pnl_cell(line.realized_pnl), pnl_cell(line.unrealized_pnl), show_money(line.costs)]
        for line in summary.by_strategy
    ]
    total = summary.total
    rows.append(["total", str(total.open_positions), show_money(total.cost), show_money(total.market_value),
                 pnl_cell(total.realized_pnl), pnl_cell(total.unrealized_pnl), show_money(total.costs)])
    print_table(COLUMNS, rows, numeric=COLUMNS[1:])
    _print_accounts(summary)
    if summary.unpriced_symbols:
        note(f"no price for {', '.join(summary.unpriced_symbols)}: add one with `stocksbot price add SYMBOL PRICE`")
    if summary.missing_rates:
        from stocksbot.cli.position import missing_rates_note

        note(missing_rates_note(summary.missing_rates))
    if summary.as_of is not None:
        from stocksbot.cli.position import as_of_note

        note(as_of_note(summary.as_of, summary.trade_priced))


def _print_accounts(summary: "Summary") -> None:
    """Cash per currency, and cash, market value, income and total value in the reporting currency."""
    from stocksbot.cli.account import cash_text
    from stocksbot.cli.output import print_table, show_money

    rows = [
        [line.account, str(line.open_positions), cash_text(line.cash, line.currency), show_money(line.cash_value),
         show_money(line.market_value), show_money(line.income), show_money(line.total_value)]
        for line in summary.by_account
    ]
    rows.append(["total", str(summary.total.open_positions), cash_text(summary.cash, summary.reporting_currency),
                 show_money(summary.cash_value),
                 show_money(summary.total.market_value), show_money(summary.income),
                 show_money(summary.total_value)])
    print_table(ACCOUNT_COLUMNS, rows, title=f"by account, in {summary.reporting_currency}",
                numeric=[c for c in ACCOUNT_COLUMNS if c not in ("account", "cash")])
