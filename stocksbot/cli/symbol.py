"""`stocksbot symbol ...`: each symbol's currency, name and ISIN (docs/ledger.md §15.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from stocksbot.cli.completion import complete_symbols
from stocksbot.cli.context import AppContext, pass_app, table_format_options

if TYPE_CHECKING:
    from stocksbot.storage.records import InstrumentRecord

COLUMNS = ["symbol", "currency", "name", "isin"]


def _cells(instrument: "InstrumentRecord") -> list[object]:
    from stocksbot.cli.output import text_cell

    return [instrument.symbol, instrument.currency, text_cell(instrument.name), text_cell(instrument.isin)]


@click.group("symbol", invoke_without_command=True)
@click.pass_context
def symbol_group(ctx: click.Context) -> None:
    """Instruments: the currency a symbol's trades settle in, its name and ISIN.

    A symbol's first trade gives it its account's currency; set it before then for
    another one. `stocksbot symbol` alone lists them.

    \b
    Example:
      stocksbot symbol set SAP --currency EUR --name "SAP SE" --isin DE0007164600
      stocksbot symbol list
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(symbol_list)


@symbol_group.command("set")
@click.argument("symbol", shell_complete=complete_symbols)
@click.option("--currency", metavar="C", help="ISO 4217 code its trades settle in (refused once it has trades).")
@click.option("--name", metavar="TEXT", help='What the instrument is called ("" clears it).')
@click.option("--isin", metavar="I", help='Its ISIN, 12 characters with a valid check digit ("" clears it).')
@pass_app
def symbol_set(app: AppContext, symbol: str, currency: str | None, name: str | None, isin: str | None) -> None:
    """Create or update the instrument SYMBOL; options left out keep what is stored.

    A new symbol without --currency takes the default account's currency.

    \b
    Example:
      stocksbot symbol set ASML --currency EUR --isin NL0010273215
      stocksbot symbol set AAPL --name "Apple Inc."
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import symbols

    instrument = symbols.set_symbol(app.uow(), symbol, currency=currency, name=name, isin=isin)
    if app.json:
        print_json(instrument.to_json())
        return
    details = ", ".join(part for part in (instrument.name, instrument.isin) if part)
    click.echo(f"set {instrument.symbol}: {instrument.currency}" + (f", {details}" if details else ""))


@symbol_group.command("list")
@table_format_options
@pass_app
def symbol_list(app: AppContext) -> None:
    """List every symbol with its currency, name and ISIN.

    \b
    Example:
      stocksbot symbol list
      stocksbot --json symbol list
    """
    from stocksbot.cli.output import print_json, print_table
    from stocksbot.services import symbols

    found = symbols.list_symbols(app.uow())
    if app.json:
        print_json([instrument.to_json() for instrument in found])
        return
    print_table(COLUMNS, (_cells(instrument) for instrument in found))


@symbol_group.command("show")
@click.argument("symbol", shell_complete=complete_symbols)
@pass_app
def symbol_show(app: AppContext, symbol: str) -> None:
    """Show one symbol's currency, name and ISIN.

    \b
    Example:
      stocksbot symbol show ASML
    """
    from stocksbot.cli.output import print_fields, print_json
    from stocksbot.services import symbols

    instrument = symbols.get_symbol(app.uow(), symbol)
    if app.json:
        print_json(instrument.to_json())
        return
    print_fields(zip(COLUMNS, _cells(instrument)), title=f"{instrument.symbol}")


@symbol_group.command("rename")
@click.argument("old", shell_complete=complete_symbols)
@click.argument("new")
@click.option("--at", "at", required=True, metavar="DATE", help="From the start of this day the instrument trades as NEW.")
@pass_app
def symbol_rename(app: AppContext, old: str, new: str, at: str) -> None:
    """Record that OLD trades as NEW from DATE: open lots, their dates and costs, and the strategy carry over.

    Earlier trades keep OLD; record later ones as NEW.

    \b
    Example:
      stocksbot symbol rename FB META --at 2022-06-09
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import renames

    change = renames.rename_symbol(app.uow(), old, new, at)
    if app.json:
        print_json(change)
    else:
        click.echo(f"{change['old_symbol']} trades as {change['new_symbol']} from {at}; open positions carried over")
