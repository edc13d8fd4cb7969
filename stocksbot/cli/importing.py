"""`stocksbot import FILE|-`: a broker statement in, all or nothing (docs/brokers.md §1)."""

from __future__ import annotations

from typing import IO, Any, Callable, Iterator

import click

from stocksbot.cli.completion import complete_accounts
from stocksbot.cli.context import AppContext
from stocksbot.importers import CHOICES, HEAD_SIZE

#: What a `--map` field may be called (docs/brokers.md §10).
MAP_HELP = ("FIELD=COLUMN[,FIELD=COLUMN...]: the file's column for a stocksbot field (date, side, symbol, quantity, "
            "price, commission, fees, tax, amount, currency, account, id, isin, kind, note); repeatable.")


def parse_delimiter(value: str | None) -> str | None:
    """`--delimiter C`: one character, `\\t` for a tab (docs/brokers.md §10, docs/csv-formats.md §1)."""
    if value is None:
        return None
    character = value.replace("\\t", "\t")
    if len(character) != 1:
        raise click.BadParameter("give one character (\\t for a tab)", param_hint="--delimiter")
    return character


def standard_input() -> Any:
    """Standard input as `FILE -` reads it: UTF-8 (a byte-order mark allowed), newlines as written."""
    import io
    import sys

    return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")


def parse_map(values: tuple[str, ...]) -> dict[str, str]:
    """`--map date=Run Date,side=Action` (and repeated --map) as field -> column."""
    from stocksbot.errors import StocksbotError

    mapping: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            name, equals, column = part.partition("=")
            if not equals or not name.strip() or not column.strip():
                raise StocksbotError(f"--map takes FIELD=COLUMN pairs separated by commas, got {part.strip()!r}")
            mapping[name.strip().lower()] = column.strip()
    return mapping


class _Source:
    """The file (or standard input) as text: its head, read once for detection, then every line.

    The head is buffered, so standard input, which cannot be read twice, is detected too.
    """

    def __init__(self, file: str) -> None:
        import sys

        from stocksbot.errors import StocksbotError

        self.name = "standard input" if file == "-" else file
        self.size = 0
        if file == "-":
            self.handle: IO[str] = sys.stdin
        else:
            import os

            try:
                self.handle = open(file, newline="", encoding="utf-8-sig")
                self.size = os.fstat(self.handle.fileno()).st_size
            except OSError as exc:
                raise StocksbotError(f"cannot read {file}: {exc.strerror}") from None
        try:
            head = self.handle.read(HEAD_SIZE)
            head += self.handle.readline()  # the head ends with a whole line
        except UnicodeDecodeError:
            raise StocksbotError(f"cannot read {self.name}: not UTF-8 text") from None
        self.head = head.removeprefix("\ufeff")
        self.read = 0

    def lines(self) -> Iterator[str]:
        """Every line, counting the characters read (for the progress bar)."""
        import io

        for source in (io.StringIO(self.head, newline=""), self.handle):
            for line in source:
                self.read += len(line)
                yield line

    def close(self) -> None:
        import sys

        if self.handle is not sys.stdin:
            self.handle.close()


@click.command("import")
@click.argument("file", metavar="FILE|-")
@click.option("--from", "format_name", type=click.Choice(CHOICES), default="auto", show_default=True,
              help="The broker's format; auto recognises it by its header (never generic).")
@click.option("--account", shell_complete=complete_accounts, metavar="NAME",
              help="Account of rows that name none (default: accounts.default, else main); created if new.")
@click.option("--dry-run", is_flag=True, help="Book everything, show what would be recorded, write nothing.")
@click.option("--map", "map_values", multiple=True, metavar="FIELD=COLUMN", help=MAP_HELP)
@click.option("--date-format", metavar="F", help="strptime format of the dates, e.g. %m/%d/%Y.")
@click.option("--delimiter", metavar="C", help="Field separator of the file (default: the format's, else a comma).")
@click.option("--decimal-comma", is_flag=True, help="Numbers use a decimal comma: 1.234,56.")
@click.option("--allow-short", is_flag=True, default=None,
              help="Let sells beyond the long position open shorts (default: the trading.allow_short setting).")
@click.option("--skip-unknown", is_flag=True, help="Skip (and report) rows whose action the format does not know.")
@click.pass_context
def import_command(ctx: click.Context, file: str, format_name: str, account: str | None, dry_run: bool,
                   map_values: tuple[str, ...], date_format: str | None, delimiter: str | None, decimal_comma: bool,
                   allow_short: bool | None, skip_unknown: bool) -> None:
    """Import a broker statement: trades, dividends, taxes, cash, splits and FX rates.

    All or nothing: a row that cannot be read, an unknown action (unless --skip-unknown)
    or a trade the ledger refuses writes nothing, and every such row is reported as
    `line N: reason`. Every other row is recorded or reported as `line N: skipped: why`.
    Records keep the broker's id (or a fingerprint of the row), so importing the same
    file again changes nothing. FILE `-` reads standard input.

    \b
    Example:
      stocksbot import U1234567_2024.csv --dry-run
      stocksbot import schwab.csv --from schwab --account schwab
      stocksbot import fills.csv --from generic --map "date=Run Date,side=Action,symbol=Ticker"
    """
    from stocksbot import importers
    from stocksbot.cli.output import print_json
    from stocksbot.csvfiles import RowErrors
    from stocksbot.errors import StocksbotError
    from stocksbot.importers.entries import ParseOptions
    from stocksbot.services import broker_imports

    app: AppContext = ctx.obj
    options = ParseOptions(columns=parse_map(map_values), date_format=date_format,
                           delimiter=parse_delimiter(delimiter), decimal_comma=decimal_comma)
    source = _Source(file)
    try:
        fmt = importers.choose(format_name, source.head, source.name)
        uow = app.uow()
        with _Progress(source) as progress:
            try:
                result = broker_imports.import_statement(
                    uow, fmt, progress.lines(), source=source.name, options=options, account=account,
                    dry_run=dry_run, allow_short=allow_short or None, skip_unknown=skip_unknown,
                    progress=progress.booking)
            except UnicodeDecodeError:
                raise StocksbotError(f"cannot read {source.name}: not UTF-8 text") from None
            except RowErrors as exc:
                if not app.json:
                    raise
                print_json({"imported": dict.fromkeys(broker_imports.KINDS, 0), "skipped": 0,
                            "errors": len(exc.errors), "problems": exc.errors})
                ctx.exit(1)
    finally:
        source.close()
    if app.json:
        print_json(result.to_json())
        return
    counts = ", ".join(f"{result.imported[kind]} {_NOUNS[kind]}" for kind in broker_imports.KINDS)
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} from {fmt.title}: {counts}; skipped {len(result.skipped)}")
    for line in result.skipped_lines():
        click.echo(line)
    if result.created_accounts:
        click.echo(f"{'would create' if dry_run else 'created'} accounts: {', '.join(result.created_accounts)}")
    if result.created_strategies:
        click.echo(f"{'would create' if dry_run else 'created'} strategies: {', '.join(result.created_strategies)}")


_NOUNS = {"trades": "trade(s)", "dividends": "dividend(s)", "cash": "cash movement(s)", "splits": "split(s)",
          "prices": "price(s)"}


class _Progress:
    """A Rich progress bar on a terminal (silent when piped): reading the file is its first half,
    booking the trades the second."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> "_Progress":
        import sys

        if not sys.stderr.isatty() or not self.source.size:
            return self
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("importing"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                             transient=True)
        self._bar.start()
        self._task = self._bar.add_task("import", total=2 * self.source.size)
        return self

    def lines(self) -> Iterator[str]:
        step = 1 << 16
        next_update = step
        for line in self.source.lines():
            if self._bar is not None and self.source.read >= next_update:
                self._bar.update(self._task, completed=self.source.read)
                next_update = self.source.read + step
            yield line

    @property
    def booking(self) -> Callable[[int, int], None] | None:
        if self._bar is None:
            return None
        size = self.source.size
        return lambda done, total: self._bar.update(self._task, completed=size + size * done // max(total, 1))

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()
