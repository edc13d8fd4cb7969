"""`stocksbot trade ...`: fills, the ledger's source of truth (docs/ledger.md §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import click

from stocksbot.cli.completion import complete_accounts, complete_strategies, complete_symbols
from stocksbot.cli.context import AppContext, account_option, pass_app, table_format_options
from stocksbot.vocabulary import EXPORT_FORMATS, TRADE_SIDES

if TYPE_CHECKING:
    from stocksbot.services.corrections import Correction
    from stocksbot.storage.records import RealizedChange, TradeRecord


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


def rebooked_lines(changes: Iterable["RealizedChange"]) -> list[str]:
    """One line per symbol whose realized P&L a re-booking changed (docs/ledger.md §19.4), e.g.
    `re-booked AAPL: realized P&L 120.00 -> 95.50`."""
    from stocksbot.cli.output import show_money

    return [f"re-booked {change.symbol}: realized P&L {show_money(change.before)} -> {show_money(change.after)}"
            for change in changes]


def rebooked_json(changes: Iterable["RealizedChange"]) -> list[dict[str, Any]]:
    """The `rebooked` key of a command's JSON object: symbol, before, after."""
    return [change.to_json() for change in changes]


def print_trades(trades: Iterable["TradeRecord"], *, title: str | None = None) -> None:
    """Trades as a table for people; an account column when they come from more than one account,
    and a `voided` column (when and why) when a voided trade is shown (`trade list --all`)."""
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
    voided = any(t.voided_at is not None for t in shown)
    print_table(
        ["id", "executed", *(["account"] if accounts else []), "side", "symbol", "qty", "price", "comm",
         "fees", "realized", "order", "strategy", "note", *(["voided"] if voided else [])],
        ((str(t.id), show_time(t.executed_at), *([text_cell(t.account)] if accounts else []), t.side, t.symbol,
          show_decimal(t.quantity), show_price(t.price), show_money(t.commission), show_money(t.fees),
          pnl_cell(t.realized_pnl), "-" if t.order_id is None else str(t.order_id), text_cell(t.strategy),
          text_cell(t.note), *([_voided_cell(t)] if voided else []))
         for t in shown),
        title=title,
        numeric=["id", "qty", "price", "comm", "fees", "realized", "order"],
    )


def _voided_cell(trade: "TradeRecord") -> str:
    from stocksbot.cli.output import show_time, text_cell

    if trade.voided_at is None:
        return "-"
    return f"{show_time(trade.voided_at)}" + (f": {text_cell(trade.void_reason)}" if trade.void_reason else "")


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
@click.option("--force", is_flag=True,
              help="With --order: record a fill on the wrong side of the order's limit price.")
@account_option(writes=True)
@pass_app
def trade_add(app: AppContext, side: str, symbol: str, quantity: str, price: str, commission: str, fees: str,
              executed_at: str | None, strategy: str | None, order_id: int | None, external_id: str | None,
              note: str | None, allow_short: bool, force: bool, account: str | None) -> None:
    """Record a fill of QUANTITY SYMBOL and book it into its position.

    A sell larger than the long position is refused unless shorting is allowed
    (--allow-short or `config set trading.allow_short true`). A fill of a limit order
    (--order) above its buy limit or below its sell limit is refused unless --force.

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
        allow_short=True if allow_short else None, account=account, force=force,
    )
    if app.json:
        print_json({**trade.to_json(), "rebooked": rebooked_json(trade.rebooked)})
    else:
        click.echo(trade_line(trade))
        for line in rebooked_lines(trade.rebooked):
            click.echo(line)


@trade_group.command("list")
@click.option("--symbol", shell_complete=complete_symbols, metavar="S", help="Only this symbol.")
@click.option("--strategy", shell_complete=complete_strategies, metavar="NAME", help="Only this strategy's trades.")
@click.option("--since", metavar="TIME", help="Executed at or after TIME (ISO date or datetime).")
@click.option("--until", metavar="TIME", help="Executed at or before TIME (ISO date or datetime; a date means its end).")
@click.option("--limit", type=int, metavar="N", help="Only the N most recent trades.")
@click.option("--all", "include_voided", is_flag=True, help="Voided trades too, marked with when and why.")
@account_option(writes=False)
@table_format_options
@pass_app
def trade_list(app: AppContext, symbol: str | None, strategy: str | None, since: str | None, until: str | None,
               limit: int | None, include_voided: bool, account: str | None) -> None:
    """List trades in the order they were executed (voided ones only with --all).

    \b
    Example:
      stocksbot trade list --symbol AAPL --since 2024-01-01
      stocksbot --json trade list --strategy momentum --limit 20
      stocksbot trade list --all
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import trades

    found = trades.list_trades(app.uow(), symbol=symbol, strategy=strategy, since=since, until=until, limit=limit,
                               account=account, include_voided=include_voided)
    if app.json:
        print_json([t.to_json() for t in found])
    else:
        print_trades(found)


@trade_group.command("void")
@click.argument("trade_id", metavar="ID", type=int)
@click.option("--reason", metavar="TEXT", help="Why the trade is voided (kept with it).")
@click.option("--allow-short", is_flag=True,
              help="Let later sells that the voided trade covered sell short (default: trading.allow_short).")
@pass_app
def trade_void(app: AppContext, trade_id: int, reason: str | None, allow_short: bool) -> None:
    """Void trade ID: it is kept, marked, and counts nowhere from now on.

    Its symbol and cash are re-booked without it in the same transaction; a void that would
    leave a later sell short of shares is refused. `trade list --all` shows voided trades.

    \b
    Example:
      stocksbot trade void 42 --reason "entered twice"
    """
    from stocksbot.services import corrections

    result = corrections.void_trade(app.uow(), trade_id, reason, allow_short=True if allow_short else None)
    _print_correction(app, result, f"voided trade {trade_id}")


@trade_group.command("amend")
@click.argument("trade_id", metavar="ID", type=int)
@click.option("--quantity", metavar="QTY", help="The new quantity.")
@click.option("--price", metavar="PRICE", help="The new price per unit.")
@click.option("--commission", metavar="AMOUNT", help="The new commission.")
@click.option("--fees", metavar="AMOUNT", help="The new fees.")
@click.option("--at", "executed_at", metavar="TIME", help="The new execution time (ISO date or datetime).")
@click.option("--strategy", metavar="NAME", help='The new strategy ("" for none).')
@click.option("--note", metavar="TEXT", help='The new note ("" for none).')
@click.option("--allow-short", is_flag=True,
              help="Let the change turn a sell into a short sale (default: trading.allow_short).")
@pass_app
def trade_amend(app: AppContext, trade_id: int, quantity: str | None, price: str | None, commission: str | None,
                fees: str | None, executed_at: str | None, strategy: str | None, note: str | None,
                allow_short: bool) -> None:
    """Change trade ID in place (same id) and re-book its symbol; options left out keep their value.

    \b
    Example:
      stocksbot trade amend 42 --price 150.25
      stocksbot trade amend 42 --quantity 5 --at 2024-01-03T15:30 --strategy ""
    """
    from stocksbot.services import corrections

    result = corrections.amend_trade(
        app.uow(), trade_id, quantity=quantity, price=price, commission=commission, fees=fees,
        executed_at=executed_at, strategy=strategy, note=note, allow_short=True if allow_short else None,
    )
    _print_correction(app, result, f"amended trade {trade_id}")


def _print_correction(app: AppContext, result: "Correction", done: str) -> None:
    """The JSON object of a corrected trade, or one line of what changed and one per re-booked symbol."""
    from stocksbot.cli.output import print_json, show_decimal, show_time

    if app.json:
        print_json(result.to_json())
        return

    def shown(value: Any) -> str:
        if value is None:
            return "-"
        if hasattr(value, "as_tuple"):
            return show_decimal(value)
        if hasattr(value, "tzinfo"):
            return show_time(value)
        return str(value)

    details = ", ".join(f"{name} {shown(old)} -> {shown(new)}" for name, (old, new) in result.changes.items()
                        if name not in ("voided_at", "void_reason"))
    trade = result.trade
    line = f"{done} ({trade.side} {show_decimal(trade.quantity)} {trade.symbol})"
    if trade.void_reason:
        line += f": {trade.void_reason}"
    click.echo(line + (f": {details}" if details else ""))
    for text in rebooked_lines(result.rebooked):
        click.echo(text)


@trade_group.command("import")
@click.argument("file", metavar="FILE|-")
@click.option("--dry-run", is_flag=True, help="Check every row and the ledger rules; write nothing.")
@click.option("--allow-short", is_flag=True, default=None,
              help="Let sells beyond the long position open shorts (default: the trading.allow_short setting).")
@click.option("--allow-duplicates", is_flag=True,
              help="Import rows without external_id even when the same fill is stored (identical fills are real).")
@click.option("--account", shell_complete=complete_accounts, metavar="NAME",
              help="Account of rows without an account column (default: accounts.default, else main).")
@click.option("--delimiter", metavar="C", help="Field separator (default: a comma; \\t for a tab).")
@click.option("--date-format", metavar="F", help="strptime format of executed_at, e.g. %d/%m/%Y (default: ISO).")
@click.pass_context
def trade_import(ctx: click.Context, file: str, dry_run: bool, allow_short: bool | None, allow_duplicates: bool,
                 account: str | None, delimiter: str | None, date_format: str | None) -> None:
    """Import trades from CSV (FILE `-`: standard input), all or nothing, booked in time order.

    Columns: executed_at,side,symbol,quantity,price required; commission,fees,strategy,
    external_id,note,account,currency,allow_short optional. A file with any bad row writes
    nothing and every bad row is reported as `line N: reason`. Importing the same file twice
    is safe: a row whose external_id is stored is skipped, and a row without one is skipped
    when the same fill (time, side, symbol, quantity, price, costs, account) is stored, the
    n-th identical row of the file matching the n-th stored fill; --allow-duplicates imports
    such rows anyway. Strategies and accounts the file names are created if new.

    \b
    Example:
      stocksbot trade import fills.csv --dry-run
      stocksbot --json trade import fills.csv
      stocksbot trade import broker.csv --delimiter ";" --date-format "%d/%m/%Y %H:%M"
      stocksbot trade export | stocksbot --db sqlite:///copy.db trade import -
    """
    from stocksbot.cli.importing import parse_delimiter, standard_input
    from stocksbot.cli.output import print_json
    from stocksbot.csvfiles import RowErrors

    app: AppContext = ctx.obj
    from stocksbot.services import imports

    separator = parse_delimiter(delimiter) or ","
    uow = app.uow()
    with _import_progress(file) as progress:
        try:
            result = imports.import_trades(uow, standard_input() if file == "-" else file, dry_run=dry_run,
                                           allow_short=allow_short or None, progress=progress, account=account,
                                           allow_duplicates=allow_duplicates, delimiter=separator,
                                           date_format=date_format)
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
    created = "would create" if dry_run else "created"
    if result.created_strategies:
        click.echo(f"{created} strategies: {', '.join(result.created_strategies)}")
    if result.created_accounts:
        click.echo(f"{created} accounts: {', '.join(result.created_accounts)}")


class _import_progress:  # noqa: N801 - used as a context manager, reads like a function
    """A Rich progress bar over the file's size, on a terminal only (silent when piped)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._progress: Any = None

    def __enter__(self) -> Callable[[int], None] | None:
        import os
        import sys

        if self.file == "-" or not sys.stderr.isatty():
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
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS),
              help="csv (what `trade import` reads), json, or a beancount ledger [default: csv, json with --json].")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@pass_app
def trade_export(app: AppContext, fmt: str | None, output: str | None) -> None:
    """Export every trade in booking order.

    The CSV is what `trade import` reads: each row carries its trade's external_id or
    fingerprint (importing the file again skips it) and `allow_short` on sells that went short.

    \b
    Example:
      stocksbot trade export --output trades.csv
      stocksbot trade export --format beancount --output ledger.beancount && bean-check ledger.beancount
    """
    from stocksbot.cli.output import note
    from stocksbot.services import exports

    if fmt is None:
        fmt = "json" if app.json else "csv"  # the global --json asks for JSON
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
