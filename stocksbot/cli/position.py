"""`stocksbot position ...`: open runs per symbol, their lots and P&L (docs/ledger.md §4-5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import click

from stocksbot.cli.completion import complete_strategies, complete_symbols
from stocksbot.cli.context import AppContext, account_option, pass_app, table_format_options
from stocksbot.cli.trade import cost_options, print_trades, trade_line

if TYPE_CHECKING:
    from datetime import datetime

    from stocksbot.storage.records import PositionListing, PositionRecord


@click.group("position", invoke_without_command=True)
@click.pass_context
def position_group(ctx: click.Context) -> None:
    """Positions derived from the trades; `stocksbot position` alone lists the open ones.

    \b
    Example:
      stocksbot position add AAPL 10 --price 150.25
      stocksbot position close AAPL --price 160
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(position_list)


@position_group.command("add")
@click.argument("symbol", shell_complete=complete_symbols)
@click.argument("quantity")
@click.option("--price", required=True, metavar="PRICE", help="Entry price per unit.")
@click.option("--short", is_flag=True, help="Open or add to a short (a sell); refused while the symbol is long.")
@cost_options
@click.option("--strategy", shell_complete=complete_strategies, metavar="NAME", help="Strategy the position belongs to.")
@account_option(writes=True)
@pass_app
def position_add(app: AppContext, symbol: str, quantity: str, price: str, short: bool, commission: str, fees: str,
                 executed_at: str | None, strategy: str | None, account: str | None) -> None:
    """Open or add to a position by recording its opening trade (a buy, or a sell with --short).

    \b
    Example:
      stocksbot position add AAPL 10 --price 150.25 --commission 1 --at 2024-01-02
      stocksbot position add TSLA 5 --price 240 --short --strategy meanrev
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import trades

    trade = trades.add_position(app.uow(), symbol, quantity, price, short=short, commission=commission, fees=fees,
                                executed_at=executed_at, strategy=strategy, account=account)
    if app.json:
        print_json(trade.to_json())
    else:
        click.echo(trade_line(trade))


@position_group.command("list")
@click.option("--closed", is_flag=True, help="Only closed positions (history).")
@click.option("--all", "show_all", is_flag=True, help="Open and closed positions.")
@click.option("--strategy", shell_complete=complete_strategies, metavar="NAME", help="Only this strategy's positions.")
@account_option(writes=False)
@click.option("--as-of", "as_of", metavar="DATE",
              help="As they were at the end of DATE (a datetime: at that moment); not after today.")
@table_format_options
@pass_app
def position_list(app: AppContext, closed: bool = False, show_all: bool = False, strategy: str | None = None,
                  account: str | None = None, as_of: str | None = None) -> None:
    """List open positions (or --closed ones, or --all) with average entry and P&L.

    Unrealized P&L uses the latest stored price; without one it is shown as "-". Values are
    in each symbol's currency; with more than one currency (or the reporting.currency
    setting) market value and unrealized P&L are also shown converted to the reporting
    currency at the latest rate, with a total.

    With --as-of, the positions as they were at the end of that day, replayed from the trades
    (splits, transfers and symbol changes as of then), valued at the latest price at or before
    it (else the latest trade price up to then) and the rates of that moment; --closed then
    lists the positions closed by then.

    \b
    Example:
      stocksbot position list
      stocksbot --json position list --all --strategy momentum
      stocksbot position list --as-of 2024-12-31
    """
    from stocksbot.cli.output import print_json

    if closed and show_all:
        raise click.UsageError("--closed and --all cannot be used together")
    status = None if show_all else "closed" if closed else "open"
    from stocksbot.services import positions

    listing = positions.position_listing(app.uow(), status=status, strategy=strategy, account=account, as_of=as_of)
    if app.json:
        print_json([p.to_json() for p in listing.positions])
    else:
        _print_positions(listing.positions, history=status != "open", listing=listing)


def _print_positions(
    positions: Iterable["PositionRecord"], *, history: bool, listing: "PositionListing | None" = None
) -> None:
    from stocksbot.cli.output import (
        note,
        pnl_cell,
        print_table,
        show_average,
        show_date,
        show_decimal,
        show_money,
        show_price,
        table_format,
        text_cell,
    )

    shown = list(positions)
    accounts = len({p.account for p in shown}) > 1
    # Converted to the reporting currency (docs/ledger.md §15.4): two more columns and a total row.
    converted = listing is not None and listing.converted
    extra = [f"value {listing.reporting_currency}", f"unrealized {listing.reporting_currency}"] \
        if listing is not None and converted else []
    # Short headers and days, not times, so that the table fits a 100-column terminal
    # (docs/ledger.md §1.3); `position show` has the times.
    columns = ["symbol", *(["account"] if accounts else []), "ccy", "side", "qty", "avg entry", "price",
               "value", "unrealized", *extra, "realized", "opened"]
    if history:
        columns += ["status", "closed"]
    columns.append("strategy")
    rows = []
    for p in shown:
        row: list[Any] = [p.symbol, *([text_cell(p.account)] if accounts else []), text_cell(p.currency), p.side,
                          show_decimal(p.quantity), show_average(p.avg_entry_price), show_price(p.market_price),
                          show_money(p.market_value), pnl_cell(p.unrealized_pnl)]
        if converted:
            row += [show_money(p.converted_market_value), pnl_cell(p.converted_unrealized_pnl)]
        row += [pnl_cell(p.realized_pnl), show_date(p.opened_at)]
        if history:
            row += [p.status, show_date(p.closed_at)]
        row.append(text_cell(p.strategy))
        rows.append(row)
    if listing is not None and converted and table_format() is None:  # CSV rows are positions only
        total: list[Any] = ["total", *[""] * (columns.index(extra[0]) - 1), show_money(listing.converted_market_value),
                            pnl_cell(listing.converted_unrealized_pnl)]
        rows.append(total + [""] * (len(columns) - len(total)))
    print_table(columns, rows,
                numeric=["qty", "avg entry", "price", "value", "unrealized", *extra, "realized"])
    if listing is not None and listing.missing_rates:
        note(missing_rates_note(listing.missing_rates))
    if listing is not None and listing.as_of is not None:
        note(as_of_note(listing.as_of, listing.trade_priced))


def as_of_note(at: "datetime", trade_priced: list[str]) -> str:
    """What an --as-of view shows (docs/ledger.md §17)."""
    from stocksbot.cli.output import show_time

    text = f"as of {show_time(at, seconds=True)}"
    if trade_priced:
        text += f"; no price bar by then for {', '.join(trade_priced)}: valued at the latest trade price"
    return text


def missing_rates_note(pairs: list[str]) -> str:
    """What to do about missing exchange rates (docs/ledger.md §15.2)."""
    named = ", ".join(pairs)
    return (f"no exchange rate for {named} (nor the inverse pair): converted figures that need it are unknown; "
            f"add one with `stocksbot price add {pairs[0]} RATE`")


@position_group.command("show")
@click.argument("symbol", shell_complete=complete_symbols)
@account_option(writes=False)
@pass_app
def position_show(app: AppContext, symbol: str, account: str | None) -> None:
    """Show the position in SYMBOL (its last closed one when flat), its open lots and its trades.

    \b
    Example:
      stocksbot position show AAPL
      stocksbot --json position show AAPL
    """
    from stocksbot.cli.output import (
        pnl_cell,
        print_fields,
        print_json,
        print_table,
        show_average,
        show_decimal,
        show_money,
        show_price,
        show_time,
        text_cell,
    )
    from stocksbot.services import positions

    detail = positions.show_position(app.uow(), symbol, account=account)
    if app.json:
        print_json(detail.to_json())
        return
    p = detail.position
    print_fields(
        [("symbol", p.symbol), ("account", text_cell(p.account)),
         ("side", p.side), ("status", p.status), ("quantity", show_decimal(p.quantity)),
         ("avg entry", show_average(p.avg_entry_price)), ("open cost", show_money(p.open_cost)),
         ("price", show_price(p.market_price)), ("value", show_money(p.market_value)),
         ("unrealized", pnl_cell(p.unrealized_pnl)), ("realized", pnl_cell(p.realized_pnl)),
         ("opened", show_time(p.opened_at)), ("closed", show_time(p.closed_at)), ("strategy", text_cell(p.strategy))],
        title=f"{p.symbol} position",
    )
    if detail.lots:
        print_table(
            ["trade", "opened", "quantity", "unit cost", "cost"],
            (("-" if lot.trade_id is None else str(lot.trade_id), show_time(lot.opened_at), show_decimal(lot.quantity),
              show_average(lot.unit_cost), show_money(lot.cost)) for lot in detail.lots),
            title="open lots",
            numeric=["trade", "quantity", "unit cost", "cost"],
        )
    print_trades(detail.trades, title="trades")
    if detail.events:
        print_table(["date", "event", "detail"],
                    ((show_time(e.at), e.kind, e.detail) for e in detail.events), title="splits and transfers")


@position_group.command("close")
@click.argument("symbol", shell_complete=complete_symbols)
@click.option("--price", required=True, metavar="PRICE", help="Exit price per unit.")
@click.option("--quantity", metavar="Q", help="Close only Q units (default: the whole position).")
@cost_options
@account_option(writes=True)
@pass_app
def position_close(app: AppContext, symbol: str, price: str, quantity: str | None, commission: str, fees: str,
                   executed_at: str | None, account: str | None) -> None:
    """Close the open position in SYMBOL (or --quantity of it) by recording the closing trade.

    \b
    Example:
      stocksbot position close AAPL --price 160 --commission 1
      stocksbot position close AAPL --price 158 --quantity 4 --at 2024-03-01T15:30
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import trades

    trade = trades.close_position(app.uow(), symbol, price, quantity=quantity, commission=commission, fees=fees,
                                  executed_at=executed_at, account=account)
    if app.json:
        print_json(trade.to_json())
    else:
        click.echo(trade_line(trade))


@position_group.command("rebuild")
@pass_app
def position_rebuild(app: AppContext) -> None:
    """Recompute every position and lot from the trades, with the current cost-basis method.

    \b
    Example:
      stocksbot position rebuild
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import trades

    symbols = trades.rebuild_positions(app.uow())
    if app.json:
        print_json({"symbols": symbols})
    else:
        click.echo(f"rebuilt positions of {symbols} symbol{'' if symbols == 1 else 's'}")
