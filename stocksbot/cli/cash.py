"""`stocksbot cash ...`: deposits, withdrawals, income, costs, transfers, conversions (docs/ledger.md §13)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import click

from stocksbot.cli.completion import complete_accounts
from stocksbot.cli.context import AppContext, pass_app, table_format_options

if TYPE_CHECKING:
    from stocksbot.storage.records import CashMovementRecord


def _movement_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--currency, --account, --at and --note, shared by the commands that record one movement."""
    command = click.option("--note", metavar="TEXT", help="A free-text note.")(command)
    command = click.option("--at", metavar="TIME",
                           help="When: ISO date or datetime, naive is local time (default: now).")(command)
    command = click.option("--account", shell_complete=complete_accounts, metavar="NAME",
                           help="The account (default: the accounts.default setting, else main).")(command)
    command = click.option("--currency", metavar="CODE",
                           help="ISO 4217 code, e.g. USD (default: the account's currency).")(command)
    return command


def movement_line(record: "CashMovementRecord") -> str:
    """The one-line confirmation of a stored movement, e.g. `deposit 500 USD in main (cash 7)`."""
    from stocksbot.cli.output import show_money

    return f"{record.kind} {show_money(record.amount)} {record.currency} in {record.account} (cash {record.id})"


def print_movements(records: Iterable["CashMovementRecord"]) -> None:
    """Cash movements as a table for people."""
    from stocksbot.cli.output import pnl_cell, print_table, show_time, text_cell

    def source(record: "CashMovementRecord") -> str:
        if record.trade_id is not None:
            return f"trade {record.trade_id}"
        if record.dividend_id is not None:
            return f"dividend {record.dividend_id}"
        return "-"

    print_table(
        ["id", "at", "account", "kind", "amount", "currency", "source", "note"],
        (("-" if r.id is None else str(r.id), show_time(r.at), text_cell(r.account), r.kind, pnl_cell(r.amount),
          r.currency, source(r), text_cell(r.note)) for r in records),
        numeric=["id", "amount"],
    )


@click.group("cash")
def cash_group() -> None:
    """Cash per account and currency: deposits, withdrawals, income, costs, transfers, conversions.

    Trades settle in cash by themselves; when a trade, fee or tax would take a non-margin
    account below zero, the shortfall is booked as an implicit deposit.

    \b
    Example:
      stocksbot cash deposit 10000
      stocksbot cash balance
    """


_RECORD_HELP = {
    "deposit": ("Record a deposit of AMOUNT into the account (an external inflow).",
                "stocksbot cash deposit 10000 --at 2024-01-02\n  stocksbot cash deposit 500 --currency EUR --account ibkr"),
    "withdraw": ("Record a withdrawal of AMOUNT (an external outflow); refused beyond a non-margin account's "
                 "balance at that time.",
                 "stocksbot cash withdraw 250 --note rent\n  stocksbot cash withdraw 1000 --account ibkr --at 2024-06-30"),
    "interest": ("Record interest of AMOUNT paid into the account (income).",
                 "stocksbot cash interest 3.12 --at 2024-01-31"),
    "fee": ("Record a fee of AMOUNT taken from the account (a cost, stored negative).",
            "stocksbot cash fee 5 --note 'custody fee' --at 2024-03-31"),
    "tax": ("Record a tax of AMOUNT taken from the account (a cost, stored negative).",
            "stocksbot cash tax 12.40 --currency EUR --note 'withholding'"),
}


def _record_command(kind: str) -> click.Command:
    summary, example = _RECORD_HELP[kind]

    @click.argument("amount")
    @_movement_options
    @pass_app
    def command(app: AppContext, amount: str, currency: str | None, account: str | None, at: str | None,
                note: str | None) -> None:
        from stocksbot.cli.output import print_json
        from stocksbot.services import cash

        record = cash.record_cash(app.uow(), kind, amount, currency=currency, account=account, at=at, note=note)
        if app.json:
            print_json(record.to_json())
        else:
            click.echo(movement_line(record))

    command.__doc__ = f"{summary}\n\nAMOUNT is positive.\n\n\b\nExample:\n  {example}\n"
    return click.command(kind)(command)


for _kind in _RECORD_HELP:
    cash_group.add_command(_record_command(_kind))


@cash_group.command("transfer")
@click.argument("amount")
@click.option("--from", "from_account", shell_complete=complete_accounts,
              required=True, metavar="NAME", help="The account the cash leaves.")
@click.option("--to", "to_account", shell_complete=complete_accounts,
              required=True, metavar="NAME", help="The account the cash goes to.")
@click.option("--currency", metavar="CODE", help="ISO 4217 code (default: the --from account's currency).")
@click.option("--at", metavar="TIME", help="When: ISO date or datetime, naive is local time (default: now).")
@click.option("--note", metavar="TEXT", help="A free-text note.")
@pass_app
def cash_transfer(app: AppContext, amount: str, from_account: str, to_account: str, currency: str | None,
                  at: str | None, note: str | None) -> None:
    """Move AMOUNT of cash between two of your accounts (not an external flow of the portfolio).

    \b
    Example:
      stocksbot cash transfer 2000 --from main --to ibkr
      stocksbot cash transfer 500 --from ibkr --to main --currency EUR --at 2024-05-02
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import cash

    records = cash.transfer_cash(app.uow(), amount, from_account=from_account, to_account=to_account,
                                 currency=currency, at=at, note=note)
    if app.json:
        print_json([record.to_json() for record in records])
    else:
        for record in records:
            click.echo(movement_line(record))


@cash_group.command("convert")
@click.argument("amount")
@click.argument("from_currency", metavar="FROM_CCY")
@click.argument("to_currency", metavar="TO_CCY")
@click.option("--rate", required=True, metavar="R", help="Units of TO_CCY per unit of FROM_CCY.")
@click.option("--fee", metavar="AMOUNT", help="A fee in FROM_CCY, recorded as a `fee` movement.")
@click.option("--account", shell_complete=complete_accounts,
              metavar="NAME", help="The account (default: the accounts.default setting, else main).")
@click.option("--at", metavar="TIME", help="When: ISO date or datetime, naive is local time (default: now).")
@click.option("--note", metavar="TEXT", help="A free-text note.")
@pass_app
def cash_convert(app: AppContext, amount: str, from_currency: str, to_currency: str, rate: str, fee: str | None,
                 account: str | None, at: str | None, note: str | None) -> None:
    """Exchange AMOUNT of FROM_CCY into AMOUNT x R of TO_CCY within one account.

    \b
    Example:
      stocksbot cash convert 1000 USD EUR --rate 0.92 --fee 2
      stocksbot cash convert 500 EUR USD --rate 1.0845 --account ibkr --at 2024-03-01
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import cash

    records = cash.convert_cash(app.uow(), amount, from_currency, to_currency, rate=rate, fee=fee, account=account,
                                at=at, note=note)
    if app.json:
        print_json([record.to_json() for record in records])
    else:
        for record in records:
            click.echo(movement_line(record))


@cash_group.command("balance")
@click.option("--account", shell_complete=complete_accounts, metavar="NAME", help="Only this account.")
@table_format_options
@pass_app
def cash_balance(app: AppContext, account: str | None) -> None:
    """Show the cash of each account, per currency.

    \b
    Example:
      stocksbot cash balance
      stocksbot --json cash balance --account ibkr
    """
    from stocksbot.cli.output import pnl_cell, print_json, print_table, text_cell
    from stocksbot.services import cash

    balances = cash.cash_balances(app.uow(), account=account)
    if app.json:
        print_json([record.to_json() for record in balances])
        return
    print_table(["account", "currency", "balance"],
                ((text_cell(b.account), b.currency, pnl_cell(b.balance)) for b in balances), numeric=["balance"])


@cash_group.command("list")
@click.option("--account", shell_complete=complete_accounts, metavar="NAME", help="Only this account.")
@click.option("--since", metavar="TIME", help="At or after TIME (ISO date or datetime).")
@click.option("--until", metavar="TIME", help="At or before TIME (ISO date or datetime; a date means its end).")
@table_format_options
@pass_app
def cash_list(app: AppContext, account: str | None, since: str | None, until: str | None) -> None:
    """List every change of cash in booking order: recorded movements, implicit deposits,
    trade settlements (kind trade) and dividends (kind dividend).

    \b
    Example:
      stocksbot cash list --since 2024-01-01
      stocksbot --json cash list --account ibkr
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import cash

    records = cash.list_cash(app.uow(), account=account, since=since, until=until)
    if app.json:
        print_json([record.to_json() for record in records])
    else:
        print_movements(records)
