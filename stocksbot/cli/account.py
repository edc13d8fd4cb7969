"""`stocksbot account ...`: brokerage accounts, each with its own positions and cash (docs/ledger.md §11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from stocksbot.cli.completion import complete_accounts
from stocksbot.cli.context import AppContext, pass_app, table_format_options

if TYPE_CHECKING:
    from collections.abc import Mapping
    from decimal import Decimal

    from stocksbot.storage.records import AccountRecord


def cash_text(cash: "Mapping[str, Decimal]", currency: str | None) -> str:
    """Cash per currency as money is shown (`1000.00 USD, 20.00 EUR`); no cash at all is a known
    zero in `currency` (the account's, or the reporting currency for a total): `0.00 USD`, never
    a bare `0` or the `-` that means unknown."""
    from stocksbot.cli.output import show_money
    from stocksbot.ledger.numbers import ZERO

    if not cash:
        return f"{show_money(ZERO)} {currency or ''}".rstrip()
    return ", ".join(f"{show_money(amount)} {code}" for code, amount in cash.items())


def _print_account(app: AppContext, account: "AccountRecord", message: str) -> None:
    from stocksbot.cli.output import print_json

    if app.json:
        print_json(account.to_json())
    else:
        click.echo(message)


@click.group("account", invoke_without_command=True)
@click.pass_context
def account_group(ctx: click.Context) -> None:
    """Accounts: each holds its own positions, lots and cash; `stocksbot account` alone lists them.

    Every database has the account `main`. Commands that record take --account NAME
    (default: the accounts.default setting, else main); commands that read cover every
    account unless --account narrows them.

    \b
    Example:
      stocksbot account add ira --currency USD --description "retirement"
      stocksbot trade add buy VTI 10 --price 220 --account ira
      stocksbot account list
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(account_list)


@account_group.command("add")
@click.argument("name")
@click.option("--currency", metavar="C", help="ISO 4217 code (default: reporting.currency, else USD).")
@click.option("--margin", is_flag=True, help="A margin account: its cash may go negative (no implicit deposits).")
@click.option("--description", metavar="TEXT", help="What the account is.")
@pass_app
def account_add(app: AppContext, name: str, currency: str | None, margin: bool, description: str | None) -> None:
    """Add an account named NAME (1-64 printable characters).

    \b
    Example:
      stocksbot account add broker-eu --currency EUR
      stocksbot account add futures --margin
    """
    from stocksbot.services import accounts

    account = accounts.add_account(app.uow(), name, currency=currency, margin=margin, description=description)
    _print_account(app, account, f"added account {account.name} ({account.currency}"
                                 f"{', margin' if account.margin else ''})")


@account_group.command("list")
@table_format_options
@pass_app
def account_list(app: AppContext) -> None:
    """List accounts with their cash per currency, market value and open positions.

    The market value is in the account's currency at the latest prices; it is unknown ("-")
    while a position has no price or trades in another currency.

    \b
    Example:
      stocksbot account list
      stocksbot --json account list
    """
    from stocksbot.cli.output import print_json, print_table, show_money, text_cell
    from stocksbot.services import accounts

    found = accounts.list_accounts(app.uow())
    if app.json:
        print_json([a.to_json() for a in found])
        return
    print_table(
        ["name", "currency", "margin", "status", "cash", "market value", "open", "description"],
        ((text_cell(a.name), a.currency, "yes" if a.margin else "no", a.status, cash_text(a.cash, a.currency),
          show_money(a.market_value), str(a.open_positions), text_cell(a.description)) for a in found),
        numeric=["market value", "open"],
    )


@account_group.command("show")
@click.argument("name", shell_complete=complete_accounts)
@pass_app
def account_show(app: AppContext, name: str) -> None:
    """Show one account.

    \b
    Example:
      stocksbot account show main
    """
    from stocksbot.cli.output import print_fields, print_json, show_money, show_time, text_cell
    from stocksbot.services import accounts

    a = accounts.get_account(app.uow(), name)
    if app.json:
        print_json(a.to_json())
        return
    print_fields(
        [("name", text_cell(a.name)), ("currency", a.currency), ("margin", "yes" if a.margin else "no"),
         ("status", a.status), ("cash", cash_text(a.cash, a.currency)), ("market value", show_money(a.market_value)),
         ("open positions", str(a.open_positions)), ("description", text_cell(a.description)),
         ("created", show_time(a.created_at))],
        title=f"account {a.name}",
    )


@account_group.command("rename")
@click.argument("old")
@click.argument("new", shell_complete=complete_accounts)
@pass_app
def account_rename(app: AppContext, old: str, new: str) -> None:
    """Rename account OLD to NEW; its trades, positions and cash follow.

    \b
    Example:
      stocksbot account rename main schwab
    """
    from stocksbot.services import accounts

    account = accounts.rename_account(app.uow(), old, new)
    _print_account(app, account, f"renamed account {old} to {account.name}")


@account_group.command("close")
@click.argument("name", shell_complete=complete_accounts)
@pass_app
def account_close(app: AppContext, name: str) -> None:
    """Close account NAME: refused while it holds positions or cash; it then takes no new records.

    \b
    Example:
      stocksbot account close old-broker
    """
    from stocksbot.services import accounts

    account = accounts.close_account(app.uow(), name)
    _print_account(app, account, f"closed account {account.name}")
