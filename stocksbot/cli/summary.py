"""`stocksbot summary`: the portfolio at a glance, in total and by strategy."""

from __future__ import annotations

import click

from stocksbot.cli.context import AppContext, pass_app

COLUMNS = ["strategy", "open", "cost", "market value", "realized P&L", "unrealized P&L", "costs paid"]


@click.command("summary")
@pass_app
def summary_command(app: AppContext) -> None:
    """Cost, market value, realized and unrealized P&L and costs paid, in total and by strategy.

    Open positions are valued at their latest price; when a symbol has no price the totals
    that depend on it are unknown ("-"), and the symbols are named.

    \b
    Example:
      stocksbot summary
      stocksbot --json summary
    """
    from stocksbot.cli.output import (
        note,
        pnl_cell,
        print_json,
        print_table,
        show_decimal,
    )
    from stocksbot.services import positions

    summary = positions.summary(app.uow())
    if app.json:
        print_json(summary.to_json())
        return
    rows = [
        [line.strategy or "(none)", str(line.open_positions), show_decimal(line.cost), show_decimal(line.market_value),
         pnl_cell(line.realized_pnl), pnl_cell(line.unrealized_pnl), show_decimal(line.costs)]
        for line in summary.by_strategy
    ]
    total = summary.total
    rows.append(["total", str(total.open_positions), show_decimal(total.cost), show_decimal(total.market_value),
                 pnl_cell(total.realized_pnl), pnl_cell(total.unrealized_pnl), show_decimal(total.costs)])
    print_table(COLUMNS, rows, numeric=COLUMNS[1:])
    if summary.unpriced_symbols:
        note(f"no price for {', '.join(summary.unpriced_symbols)}: add one with `stocksbot price add SYMBOL PRICE`")
