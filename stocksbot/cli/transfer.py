"""`stocksbot transfer`: shares from one own account to another, with their lots (docs/ledger.md §12)."""

from __future__ import annotations

import click

from stocksbot.cli.completion import complete_accounts, complete_symbols
from stocksbot.cli.context import AppContext, pass_app


@click.command("transfer")
@click.argument("symbol", shell_complete=complete_symbols)
@click.argument("quantity")
@click.option("--from", "from_account", shell_complete=complete_accounts,
              required=True, metavar="ACCOUNT", help="Account the shares leave.")
@click.option("--to", "to_account", shell_complete=complete_accounts,
              required=True, metavar="ACCOUNT", help="Account the shares join.")
@click.option("--at", "at", metavar="TIME", help="When: ISO date or datetime, naive is local time (default: now).")
@click.option("--note", metavar="TEXT", help="A free-text note.")
@pass_app
def transfer_command(app: AppContext, symbol: str, quantity: str, from_account: str, to_account: str,
                     at: str | None, note: str | None) -> None:
    """Move QUANTITY shares of SYMBOL between two of your accounts, with their lots.

    The lots leave in cost-basis order and keep their acquisition dates and costs; nothing
    is realized. Only a long position can be transferred.

    \b
    Example:
      stocksbot transfer AAPL 10 --from schwab --to ibkr --at 2024-03-01
    """
    from stocksbot.cli.output import print_json, show_decimal
    from stocksbot.services import transfers

    moved = transfers.transfer_shares(app.uow(), symbol, quantity, from_account=from_account, to_account=to_account,
                                      at=at, note=note)
    if app.json:
        print_json(moved.to_json())
    else:
        click.echo(f"moved {show_decimal(moved.quantity)} {moved.symbol} from {moved.from_account} to "
                   f"{moved.to_account} (transfer {moved.id})")
