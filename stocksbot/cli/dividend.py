"""`stocksbot dividend ...`: dividends paid into cash, per-share and reinvested (docs/ledger.md §14)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import click

from stocksbot.cli.completion import complete_accounts, complete_symbols
from stocksbot.cli.context import AppContext, pass_app, table_format_options

if TYPE_CHECKING:
    from stocksbot.storage.records import DividendRecord


def dividend_line(record: "DividendRecord") -> str:
    """The one-line confirmation, e.g. `dividend 3: AAPL 24 USD gross, 20.4 net into main`."""
    from stocksbot.cli.output import show_money

    line = (f"dividend {record.id}: {record.symbol} {show_money(record.gross)} {record.currency} gross, "
            f"{show_money(record.net)} net into {record.account}")
    if record.reinvest_trade_id is not None:
        line += f", reinvested by trade {record.reinvest_trade_id}"
    return line


def print_dividends(records: Iterable["DividendRecord"]) -> None:
    """Dividends as a table for people."""
    from stocksbot.cli.output import print_table, show_money, show_price, show_time, text_cell

    print_table(
        ["id", "paid", "ex-date", "account", "symbol", "per share", "gross", "tax", "fee", "net", "currency",
         "reinvested", "note"],
        ((str(d.id), show_time(d.paid_at), d.ex_date.astimezone().date().isoformat(), text_cell(d.account), d.symbol,
          show_price(d.per_share), show_money(d.gross), show_money(d.tax), show_money(d.fee),
          show_money(d.net), d.currency, "-" if d.reinvest_trade_id is None else f"trade {d.reinvest_trade_id}",
          text_cell(d.note)) for d in records),
        numeric=["id", "per share", "gross", "tax", "fee", "net"],
    )


@click.group("dividend")
def dividend_group() -> None:
    """Dividends: income paid into an account's cash, optionally reinvested.

    \b
    Example:
      stocksbot dividend add AAPL 0.24 --per-share --tax 0.036 --at 2024-05-16 --ex-date 2024-05-10
      stocksbot dividend list --year 2024
    """


@dividend_group.command("add")
@click.argument("symbol", shell_complete=complete_symbols)
@click.argument("amount")
@click.option("--per-share", is_flag=True,
              help="AMOUNT is per share held in the account at the start of the ex-date (default: the gross total).")
@click.option("--tax", metavar="AMOUNT", help="Tax withheld (default 0).")
@click.option("--fee", metavar="AMOUNT", help="Fee charged (default 0).")
@click.option("--ex-date", metavar="DATE", help="The ex-dividend date (default: the pay date).")
@click.option("--at", "paid_at", metavar="TIME", help="When it was paid: ISO date or datetime (default: now).")
@click.option("--account", shell_complete=complete_accounts,
              metavar="NAME", help="The account (default: the accounts.default setting, else main).")
@click.option("--currency", metavar="CODE", help="ISO 4217 code (default: the symbol's currency, else the account's).")
@click.option("--reinvest", metavar="QTY", help="Also buy QTY shares at --price with it (a DRIP).")
@click.option("--price", metavar="P", help="The price of the reinvested shares (with --reinvest).")
@click.option("--note", metavar="TEXT", help="A free-text note.")
@pass_app
def dividend_add(app: AppContext, symbol: str, amount: str, per_share: bool, tax: str | None, fee: str | None,
                 ex_date: str | None, paid_at: str | None, account: str | None, currency: str | None,
                 reinvest: str | None, price: str | None, note: str | None) -> None:
    """Record a dividend of AMOUNT on SYMBOL; cash gets AMOUNT - tax - fee at the pay date.

    \b
    Example:
      stocksbot dividend add AAPL 24.00 --tax 3.60 --at 2024-05-16
      stocksbot dividend add AAPL 0.24 --per-share --ex-date 2024-05-10 --at 2024-05-16
      stocksbot dividend add VTI 30.12 --reinvest 0.125 --price 240.96 --at 2024-06-28
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import dividends

    record = dividends.record_dividend(app.uow(), symbol, amount, per_share=per_share, tax=tax, fee=fee,
                                       ex_date=ex_date, paid_at=paid_at, account=account, currency=currency,
                                       reinvest=reinvest, price=price, note=note)
    if app.json:
        print_json(record.to_json())
    else:
        click.echo(dividend_line(record))


@dividend_group.command("list")
@click.option("--symbol", shell_complete=complete_symbols, metavar="S", help="Only this symbol.")
@click.option("--year", type=int, metavar="Y", help="Only dividends paid in year Y (local time).")
@click.option("--account", shell_complete=complete_accounts, metavar="NAME", help="Only this account.")
@table_format_options
@pass_app
def dividend_list(app: AppContext, symbol: str | None, year: int | None, account: str | None) -> None:
    """List dividends by pay date.

    \b
    Example:
      stocksbot dividend list --year 2024
      stocksbot --json dividend list --symbol AAPL --account ibkr
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import dividends

    found = dividends.list_dividends(app.uow(), symbol=symbol, year=year, account=account)
    if app.json:
        print_json([record.to_json() for record in found])
    else:
        print_dividends(found)


@dividend_group.command("remove")
@click.argument("dividend_id", metavar="ID", type=int)
@pass_app
def dividend_remove(app: AppContext, dividend_id: int) -> None:
    """Remove a dividend (not a reinvested one) and re-book its account's cash.

    \b
    Example:
      stocksbot dividend remove 3
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import dividends

    record = dividends.remove_dividend(app.uow(), dividend_id)
    if app.json:
        print_json(record.to_json())
    else:
        from stocksbot.cli.output import show_money

        click.echo(f"removed dividend {record.id} ({record.symbol} {show_money(record.gross)} {record.currency})")
