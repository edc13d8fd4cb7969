"""`stocksbot split ...`: stock splits, applied to open lots from their day on (docs/ledger.md §12)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import click

from stocksbot.cli.completion import complete_accounts, complete_symbols
from stocksbot.cli.context import AppContext, pass_app, table_format_options

if TYPE_CHECKING:
    from stocksbot.storage.records import SplitRecord


def _print_splits(splits: Iterable["SplitRecord"]) -> None:
    from stocksbot.cli.output import print_table, show_money

    print_table(
        ["id", "symbol", "ratio", "date", "cash in lieu"],
        ((str(s.id), s.symbol, s.ratio, s.at.astimezone().date().isoformat(), show_money(s.cash_in_lieu))
         for s in splits),
        numeric=["id", "cash in lieu"],
    )


@click.group("split", invoke_without_command=True)
@click.pass_context
def split_group(ctx: click.Context) -> None:
    """Stock splits: N new shares for D old; `stocksbot split` alone lists them.

    \b
    Example:
      stocksbot split add NVDA 10:1 --at 2024-06-10
      stocksbot split list NVDA
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(split_list)


@split_group.command("add")
@click.argument("symbol", shell_complete=complete_symbols)
@click.argument("ratio", metavar="N:D")
@click.option("--at", "at", required=True, metavar="DATE", help="The split's date: it applies from the start of it.")
@click.option("--cash-in-lieu", metavar="AMOUNT",
              help="Cash paid for the fractional share the split leaves (sold in --account at the split).")
@click.option("--account", shell_complete=complete_accounts, metavar="NAME",
              help="Account that received the cash in lieu (default: accounts.default, else main).")
@pass_app
def split_add(app: AppContext, symbol: str, ratio: str, at: str, cash_in_lieu: str | None,
              account: str | None) -> None:
    """Record a split of SYMBOL: N new shares for D old (4:1, 3:2, reverse 1:10).

    From the start of DATE every open lot's quantity is multiplied by N/D and its unit cost
    divided by it; lot costs and acquisition dates stay and nothing is realized. Trades on
    or after DATE are in post-split units; open orders placed before it are adjusted. The
    symbol is re-booked in every account.

    \b
    Example:
      stocksbot split add AAPL 4:1 --at 2020-08-31
      stocksbot split add XYZ 1:10 --at 2024-02-01 --cash-in-lieu 12.50
    """
    from stocksbot.cli.output import note, print_json, show_decimal
    from stocksbot.services import splits

    split, held = splits.add_split(app.uow(), symbol, ratio, at, cash_in_lieu=cash_in_lieu, account=account)
    if app.json:
        print_json(split.to_json())
    else:
        click.echo(f"recorded split {split.ratio} of {split.symbol} on {split.at.astimezone().date().isoformat()} "
                   f"(split {split.id}); {show_decimal(held)} shares held after it")
    if not held:
        note(f"note: no {split.symbol} shares were held at the split, so it changes no position")


@split_group.command("list")
@click.argument("symbol", shell_complete=complete_symbols, required=False)
@table_format_options
@pass_app
def split_list(app: AppContext, symbol: str | None) -> None:
    """List splits (of SYMBOL, or all).

    \b
    Example:
      stocksbot split list
      stocksbot --json split list NVDA
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import splits

    found = splits.list_splits(app.uow(), symbol)
    if app.json:
        print_json([s.to_json() for s in found])
    else:
        _print_splits(found)


@split_group.command("remove")
@click.argument("split_id", metavar="ID", type=int)
@pass_app
def split_remove(app: AppContext, split_id: int) -> None:
    """Remove split ID and re-book its symbol (its cash-in-lieu sale goes with it).

    \b
    Example:
      stocksbot split remove 3
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import splits

    split = splits.remove_split(app.uow(), split_id)
    if app.json:
        print_json({**split.to_json(), "removed": True})
    else:
        click.echo(f"removed split {split.id} ({split.ratio} of {split.symbol}); {split.symbol} re-booked")
