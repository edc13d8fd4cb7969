"""`stocksbot trade ...`: fills, the ledger's source of truth (docs/ledger.md §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import click

from stocksbot.cli.completion import complete_accounts, complete_strategies, complete_symbols
from stocksbot.cli.context import AppContext, account_option, pass_app, table_format_options
from stocksbot.vocabulary import EXPORT_FORMATS, TRADE_SIDES

if TYPE_CHECKING:
    from stocksbot.storage.records import TradeRecord



def cost_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--commission, --fees and --at, shared by every command that records a trade."""
    command = click.option("--at", "executed_at", metavar="TIME",
                           help="When it was executed: ISO date or datetime, naive is local time "
                                "(default: now).")(command)
    command = click.option("--fees", default="0", show_default=True, metavar="AMOUNT", help="Fees paid.")(command)
    command = click.option("--commission", default="0", show_default=True, metavar="AMOUNT",
                           help="Commission paid.")(command)
    return command


def trade_line(trade: "TradeRecord") -> str:
    """The one-line confirmation of a recorded trade, e.g. `sold 4 AAPL @ 160 (trade 3), realized 41`."""
    from stocksbot.cli.output import show_decimal, show_money, show_price

    verb = "bought" if trade.side == "buy" else "sold"
    line = f"{verb} {show_decimal(trade.quantity)} {trade.symbol} @ {show_price(trade.price)} (trade {trade.id})"
    if trade.realized_pnl is not None:
        line += f", realized {show_money(trade.realized_pnl)}"
    return line


def print_trades(trades: Iterable["TradeRecord"], *, title: str | None = None) -> None:
    """Trades as a table for people; an account column when they come from more than one account."""
    from stocksbot.cli.output import (
        pnl_cell,
        print_table,
        show_decimal,
        show_money,
        show_price,
        show_time,
        text_cell,
    )

    shown = list(trades)
    accounts = len({t.account for t in shown}) > 1
    print_table(
        ["id", "executed", *(["account"] if accounts else []), "side", "symbol", "qty", "price", "comm",
         "fees", "realized", "order", "strategy", "note"],
        ((str(t.id), show_time(t.executed_at), *([text_cell(t.account)] if accounts else []), t.side, t.symbol,
          show_decimal(t.quantity), show_price(t.price), show_money(t.commission), show_money(t.fees),
          pnl_cell(t.realized_pnl), "-" if t.order_id is None else str(t.order_id), text_cell(t.strategy),
          text_cell(t.note))
         for t in shown),
        title=title,
        numeric=["id", "qty", "price", "comm", "fees", "realized", "order"],
    )


@click.group("trade")
def trade_group() -> None:
    """Record fills and list them; positions follow from the trades.

    \b
    Example:
      stocksbot trade add buy AAPL 10 --price 150.25 --commission 1
      stocksbot trade list --symbol AAPL
    """


@trade_group.command("add")
@click.argument("side", type=click.Choice(TRADE_SIDES))
@click.argument("symbol", shell_complete=complete_symbols)
@click.argument("quantity")
@click.option("--price", required=True, metavar="PRICE", help="Price per unit.")
@cost_options
@click.option("--strategy", shell_complete=complete_strategies, metavar="NAME", help="Strategy the trade belongs to.")
@click.option("--order", "order_id", type=int, metavar="ID", help="Order this trade fills.")
@click.option("--external-id", metavar="X", help="The broker's id for the fill (unique).")
@click.option("--note", metavar="TEXT", help="A free-text note.")
@click.option("--allow-short", is_flag=True,
              help="Let a sell larger than the long position open a short (default: trading.allow_short).")
@account_option(writes=True)
@pass_app
def trade_add(app: AppContext, side: str, symbol: str, quantity: str, price: str, commission: str, fees: str,
              executed_at: str | None, strategy: str | None, order_id: int | None, external_id: str | None,
              note: str | None, allow_short: bool, account: str | None) -> None:
    """Record a fill of QUANTITY SYMBOL and book it into its position.

    A sell larger than the long position is refused unless shorting is allowed
    (--allow-short or `config set trading.allow_short true`).

    \b
    Example:
      stocksbot trade add buy AAPL 10 --price 150.25 --commission 1 --at 2024-01-02
      stocksbot trade add sell AAPL 4 --price 160 --strategy momentum
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import trades

    trade = trades.record_trade(app.uow(),
        side=side, symbol=symbol, quantity=quantity, price=price, commission=commission, fees=fees,
        executed_at=executed_at, strategy=strategy, order_id=order_id, external_id=external_id, note=note,
        allow_short=True if allow_short else None, account=account,
    )
    if app.json:
        print_json(trade.to_json())
    else:
        click.echo(trade_line(trade))


@trade_group.command("list")
@click.option("--symbol", shell_complete=complete_symbols, metavar="S", help="Only this symbol.")
@click.option("--strategy", shell_complete=complete_strategies, metavar="NAME", help="Only this strategy's trades.")
@click.option("--since", metavar="TIME", help="Executed at or after TIME (ISO date or datetime).")
@click.option("--until", metavar="TIME", help="Executed at or before TIME (ISO date or datetime; a date means its end).")
@click.option("--limit", type=int, metavar="N", help="Only the N most recent trades.")
@account_option(writes=False)
@table_format_options
@pass_app
def trade_list(app: AppContext, symbol: str | None, strategy: str | None, since: str | None, until: str | None,
               limit: int | None, account: str | None) -> None:
    """List trades in the order they were executed.

    \b
    Example:
      stocksbot trade list --symbol AAPL --since 2024-01-01
      stocksbot --json trade list --strategy momentum --limit 20
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import trades

    found = trades.list_trades(app.uow(), symbol=symbol, strategy=strategy, since=since, until=until, limit=limit,
                               account=account)
    if app.json:
        print_json([t.to_json() for t in found])
    else:
        print_trades(found)


@trade_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check every row and the ledger rules; write nothing.")
@click.option("--allow-short", is_flag=True, default=None,
              help="Let sells beyond the long position open shorts (default: the trading.allow_short setting).")
@click.option("--account", shell_complete=complete_accounts, metavar="NAME",
              help="Account of rows without an account column (default: accounts.default, else main).")
@click.pass_context
def trade_import(ctx: click.Context, file: str, dry_run: bool, allow_short: bool | None, account: str | None) -> None:
    """Import trades from CSV, all or nothing, booked in time order.

    Columns: executed_at,side,symbol,quantity,price required; commission,fees,strategy,
    external_id,note,account,currency optional. A file with any bad row writes nothing and
    every bad row is reported as `line N: reason`. Rows whose external_id is already stored
    are skipped, so importing the same file twice is safe. Strategies and accounts the file
    names are created if new.

    \b
    Example:
      stocksbot trade import fills.csv --dry-run
      stocksbot --json trade import fills.csv
    """
    from stocksbot.cli.output import print_json
    from stocksbot.csvfiles import RowErrors

    app: AppContext = ctx.obj
    from stocksbot.services import imports

    uow = app.uow()
    with _import_progress(file) as progress:
        try:
            result = imports.import_trades(uow, file, dry_run=dry_run, allow_short=allow_short or None, progress=progress,
                                           account=account)
        except RowErrors as exc:
            if not app.json:
                raise
            print_json({"imported": 0, "skipped": 0, "errors": len(exc.errors), "problems": exc.errors})
            ctx.exit(1)
    if app.json:
        print_json(result.to_json())
        return
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {result.imported} trade(s), skipped {result.skipped} already stored, 0 errors")
    if result.created_strategies:
        click.echo(f"created strategies: {', '.join(result.created_strategies)}")
    if result.created_accounts:
        click.echo(f"created accounts: {', '.join(result.created_accounts)}")


class _import_progress:  # noqa: N801 - used as a context manager, reads like a function
    """A Rich progress bar over the file's size, on a terminal only (silent when piped)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._progress: Any = None

    def __enter__(self) -> Callable[[int], None] | None:
        import os
        import sys

        if not sys.stderr.isatty():
            return None
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        try:
            size = os.path.getsize(self.file)
        except OSError:
            return None  # the import itself reports the unreadable file
        self._progress = Progress(TextColumn("importing"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                                  transient=True)
        self._progress.start()
        task = self._progress.add_task("import", total=max(size, 1))
        return lambda read: self._progress.update(task, completed=read)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()


@trade_group.command("export")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True,
              help="csv (what `trade import` reads), json, or a beancount ledger.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@pass_app
def trade_export(app: AppContext, fmt: str, output: str | None) -> None:
    """Export every trade in booking order.

    \b
    Example:
      stocksbot trade export --output trades.csv
      stocksbot trade export --format beancount --output ledger.beancount && bean-check ledger.beancount
    """
    from stocksbot.cli.output import note
    from stocksbot.services import exports

    uow = app.uow()
    if output is None:
        import sys

        exports.export_trades(uow, sys.stdout, format=fmt)
        return
    from pathlib import Path

    target = Path(output)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            count = exports.export_trades(uow, out, format=fmt)
        partial.replace(target)  # never leave a half-written export under the real name
    except OSError as exc:
        from stocksbot.errors import StocksbotError

        partial.unlink(missing_ok=True)
        raise StocksbotError(f"cannot write {target}: {exc.strerror}") from None
    note(f"exported {count} trade(s) to {target}")
