"""`stocksbot price ...`: quotes and bars, used to value open positions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import click

from stocksbot.cli.completion import complete_symbols
from stocksbot.cli.context import AppContext, pass_app, table_format_options

if TYPE_CHECKING:
    from stocksbot.storage.records import PriceRecord

PRICE_COLUMNS = ["symbol", "interval", "timestamp", "open", "high", "low", "close", "volume"]


@click.group("price")
def price_group() -> None:
    """Price quotes and bars; the latest one at or before now values open positions.

    \b
    Example:
      stocksbot price add AAPL 151.20
      stocksbot price import bars.csv --symbol AAPL
    """


def print_prices(app: AppContext, prices: Iterable["PriceRecord"]) -> None:
    from stocksbot.cli.output import print_json, print_table, show_decimal, show_price, show_time

    records = list(prices)
    if app.json:
        print_json([p.to_json() for p in records])
        return
    print_table(
        PRICE_COLUMNS,
        ([p.symbol, p.interval, show_time(p.timestamp), show_price(p.open), show_price(p.high),
          show_price(p.low), show_price(p.close), show_decimal(p.volume)] for p in records),
        numeric=PRICE_COLUMNS[3:],
    )


@price_group.command("add")
@click.argument("symbol", shell_complete=complete_symbols)
@click.argument("price")
@click.option("--at", "at", metavar="TIME", help="When the price was quoted (ISO date/time; default now).")
@click.option("--interval", default="1d", show_default=True, help="Bar interval the quote is stored under.")
@pass_app
def price_add(app: AppContext, symbol: str, price: str, at: str | None, interval: str) -> None:
    """Store one quote (a bar with open = high = low = close); a quote at the same time replaces it.

    \b
    Example:
      stocksbot price add AAPL 151.20 --at 2024-01-15T16:00
    """
    from stocksbot.cli.output import print_json, show_price, show_time
    from stocksbot.services import prices

    record = prices.add_price(app.uow(), symbol, price, at=at, interval=interval)
    if app.json:
        print_json(record.to_json())
    else:
        click.echo(f"{record.symbol} {show_price(record.close)} at {show_time(record.timestamp)}")


@price_group.command("import")
@click.argument("file", metavar="FILE|-")
@click.option("--symbol", shell_complete=complete_symbols,
              metavar="SYMBOL", help="Symbol of every row (when the file has no symbol column).")
@click.option("--interval", default="1d", show_default=True, help="Bar interval of the file's rows.")
@click.option("--split-adjusted", is_flag=True,
              help="The file's prices are adjusted for later splits: store them as traded, using the recorded splits.")
@click.option("--delimiter", metavar="C", help="Field separator (default: a comma; \\t for a tab).")
@click.option("--date-format", metavar="F", help="strptime format of timestamp, e.g. %m/%d/%Y (default: ISO).")
@pass_app
def price_import(app: AppContext, file: str, symbol: str | None, interval: str, split_adjusted: bool,
                 delimiter: str | None, date_format: str | None) -> None:
    """Import bars from CSV (FILE `-`: standard input): timestamp,open,high,low,close,volume
    or timestamp,close (+ symbol).

    All or nothing: a file with bad rows writes nothing and lists every bad row. A bar that is
    already stored (same symbol, interval and timestamp) is replaced. Prices are stored as
    traded on their day; a split-adjusted series (most data vendors' default) needs
    --split-adjusted, after the splits are recorded with `stocksbot split add`.

    \b
    Example:
      stocksbot price import aapl-daily.csv --symbol AAPL
      stocksbot price import closes.csv --interval 1h
      stocksbot price import nvda-adjusted.csv --symbol NVDA --split-adjusted
      stocksbot price import quotes.csv --symbol SAP --delimiter ";" --date-format %d.%m.%Y
    """
    from stocksbot.cli.importing import parse_delimiter, standard_input
    from stocksbot.cli.output import print_json
    from stocksbot.services import prices

    count = prices.import_prices(app.uow(), standard_input() if file == "-" else file, symbol=symbol,
                                 interval=interval, split_adjusted=split_adjusted,
                                 delimiter=parse_delimiter(delimiter) or ",", date_format=date_format)
    if app.json:
        print_json({"imported": count})
    else:
        click.echo(f"imported {count} bar(s)")


@price_group.command("remove")
@click.argument("symbol", shell_complete=complete_symbols)
@click.option("--at", "at", metavar="TIME", help="Remove the bar at this time (as `price add --at` stored it).")
@click.option("--since", metavar="TIME", help="Remove bars from this time on (ISO date/time).")
@click.option("--until", metavar="TIME", help="Remove bars up to this time (ISO date/time; a date means its end).")
@click.option("--interval", help="Only bars of this interval (default: any).")
@pass_app
def price_remove(app: AppContext, symbol: str, at: str | None, since: str | None, until: str | None,
                 interval: str | None) -> None:
    """Remove SYMBOL's bars: the one at --at, those from --since to --until, or all of them.

    Nothing matching is an error (exit 1), so a mistyped time never passes for a removal.
    The audit log keeps what was removed (`stocksbot audit list`).

    \b
    Example:
      stocksbot price remove AAPL --at 2024-01-15T16:00
      stocksbot price remove AAPL --since 2024-01-01 --until 2024-01-31 --interval 1d
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import prices

    count = prices.remove_prices(app.uow(), symbol, at=at, since=since, until=until, interval=interval)
    if app.json:
        print_json({"removed": count})
    else:
        click.echo(f"removed {count} {symbol.upper()} bar(s)")


@price_group.command("latest")
@click.argument("symbols", shell_complete=complete_symbols, nargs=-1)
@table_format_options
@pass_app
def price_latest(app: AppContext, symbols: tuple[str, ...]) -> None:
    """The newest bar at or before now of each SYMBOL (all priced symbols when none are given).

    A SYMBOL with no price is named on stderr; when none of them has one, that is an error
    (exit 1).

    \b
    Example:
      stocksbot price latest AAPL MSFT
    """
    from stocksbot.cli.output import note
    from stocksbot.errors import StocksbotError
    from stocksbot.services import prices

    found = prices.latest_prices(app.uow(), symbols)
    missing = prices.unpriced(symbols, found)
    if symbols and not found:
        raise StocksbotError(f"{_no_price(missing)}: add one with `stocksbot price add SYMBOL PRICE`")
    print_prices(app, found)
    if missing:
        note(_no_price(missing))


def _no_price(symbols: list[str]) -> str:
    return f"no price for {', '.join(symbols)}"


@price_group.command("history")
@click.argument("symbol", shell_complete=complete_symbols)
@click.option("--since", metavar="TIME", help="First time to include (ISO date/time).")
@click.option("--until", metavar="TIME", help="Last time to include (ISO date/time; a date means its end).")
@click.option("--interval", help="Only bars of this interval.")
@table_format_options
@pass_app
def price_history(app: AppContext, symbol: str, since: str | None, until: str | None, interval: str | None) -> None:
    """Bars of SYMBOL in time order, optionally limited to a time range.

    \b
    Example:
      stocksbot price history AAPL --since 2024-01-01 --until 2024-01-31
    """
    from stocksbot.services import prices

    print_prices(app, prices.price_history(app.uow(), symbol, since=since, until=until, interval=interval))


@price_group.command("chart")
@click.argument("symbol", shell_complete=complete_symbols)
@click.option("--since", metavar="DATE", help="First day to draw (default: the first bar).")
@pass_app
def price_chart(app: AppContext, symbol: str, since: str | None) -> None:
    """Draw the close of SYMBOL's bars over time in the terminal (a date and close listing when piped).

    \b
    Example:
      stocksbot price chart AAPL --since 2024-01-01
    """
    from stocksbot.cli.charts import Series, draw
    from stocksbot.errors import StocksbotError
    from stocksbot.ledger.inputs import start_of_day
    from stocksbot.services import prices

    start = start_of_day(since, field="--since") if since is not None else None
    bars = prices.price_history(app.uow(), symbol, since=start)
    if not bars:
        raise StocksbotError(f"no prices of {symbol.upper()}" + (f" since {since}" if since else "")
                             + ": add some with `stocksbot price add` or `stocksbot price import`")
    closes: dict[object, object] = {}
    for bar in bars:  # the last bar of each local day (bars come in time order)
        closes[bar.timestamp.astimezone().date()] = bar.close
    draw(f"{bars[0].symbol} close", [Series("close", list(closes.items()))])  # type: ignore[arg-type]
