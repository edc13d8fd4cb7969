"""Prices: quotes and bars in, latest prices and history out.

Bars are unique on (symbol, interval, timestamp); writing a bar that is stored already
replaces it (docs/csv-formats.md for the files).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, delete, func, select

from stocksbot.csvfiles import PriceRow, RowErrors, open_text, read_prices
from stocksbot.errors import StocksbotError
from stocksbot.ledger import parse_decimal, prorate
from stocksbot.ledger.inputs import parse_range_end, parse_symbol, parse_time
from stocksbot.storage import audit, tables
from stocksbot.storage.bulk import BulkInserter
from stocksbot.storage.records import PriceRecord
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork

INTERVAL_PATTERN = re.compile(r"^[1-9][0-9]{0,3}(s|m|h|d|w|mo)$")
_BATCH = 5000
SPLITS = tables.splits
BARS = tables.price_bars
#: A removal's audit entry keeps the removed bars themselves up to this many; beyond, their count
#: and time range (docs/ledger.md §20.2).
AUDIT_BARS_MAX = 100
_BAR_COLUMNS = ("symbol", "interval", "timestamp", "open", "high", "low", "close", "volume")


def check_interval(interval: str) -> str:
    if not INTERVAL_PATTERN.match(interval):
        raise StocksbotError(f"invalid interval {interval!r}: use a count and a unit, e.g. 1m, 5m, 1h, 1d, 1w, 1mo")
    return interval


def price_record(bar: Any) -> PriceRecord:
    return PriceRecord(symbol=bar.symbol, interval=bar.interval, timestamp=bar.timestamp, open=bar.open,
                       high=bar.high, low=bar.low, close=bar.close, volume=bar.volume)


class BarSpan:
    """What an import wrote, for its audit entry: the symbols and the first and last bar times.

    Updated once per batch (not per row), so it costs an import next to nothing.
    """

    def __init__(self) -> None:
        self.symbols: set[str] = set()
        self.first: datetime | None = None
        self.last: datetime | None = None

    def add(self, batch: list[tuple[Any, ...]]) -> None:
        if not batch:
            return
        self.symbols.update(bar[0] for bar in batch)
        first, last = min(bar[2] for bar in batch), max(bar[2] for bar in batch)
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)


def upsert_bars(repos: Repositories, rows: Iterable[PriceRow | str], interval: str, span: BarSpan | None = None) -> int:
    """Insert bars, replacing any stored bar with the same (symbol, interval, timestamp).

    `rows` may carry `line N: reason` texts for bad rows: then every one is collected and
    RowErrors is raised at the end (the caller's transaction rolls back), so a file is read
    once, in bounded memory, and still reports all of its bad rows. `span` learns what was written.
    """
    writer = BulkInserter(repos.conn, tables.price_bars, _BAR_COLUMNS, replace_on=("symbol", "interval", "timestamp"))
    count = 0
    errors: list[str] = []
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        if isinstance(row, str):
            errors.append(row)
            continue
        batch.append((row.symbol, interval, row.timestamp, row.open, row.high, row.low, row.close, row.volume))
        if len(batch) >= _BATCH:
            if not errors:
                writer.insert(batch)
                if span is not None:
                    span.add(batch)
            count += len(batch)
            batch = []
    if errors:
        raise RowErrors(errors)
    writer.insert(batch)
    if span is not None:
        span.add(batch)
    return count + len(batch)


def add_price(
    uow: UnitOfWork, symbol: str, price: str, *, at: str | datetime | None = None, interval: str = "1d"
) -> PriceRecord:
    """Store one quote as a bar with open = high = low = close (replacing a bar at the same time)."""
    value = parse_decimal(price, field="price")
    row = PriceRow(parse_symbol(symbol), parse_time(at, field="--at") if at is not None else datetime.now(timezone.utc),
                   value, value, value, value, None)
    check_interval(interval)
    with uow.transaction() as conn:
        repos = Repositories(conn)
        replaced = repos.prices.get(row.symbol, interval, row.timestamp)
        upsert_bars(repos, [row], interval)
        record = price_record(repos.prices.get(row.symbol, interval, row.timestamp))
        audit.log(conn, uow.command, "price.add", row.symbol, new=record.to_json(),
                  old=price_record(replaced).to_json() if replaced is not None else None)
        return record


def as_traded(conn: Connection, rows: Iterable[PriceRow | str]) -> Iterator[PriceRow | str]:
    """Bars of a split-adjusted series turned into the prices as traded on their day.

    A bar before a recorded split of its symbol is in post-split units in an adjusted series;
    as traded, its prices were N/D times higher and its volume D/N times lower, for every
    split after it (docs/ledger.md §12.5). Exact: `prorate` by the product of the ratios.
    """
    splits: dict[str, list[tuple[datetime, int, int]]] = {}
    for row in rows:
        if isinstance(row, str):
            yield row
            continue
        later = splits.get(row.symbol)
        if later is None:
            query = select(SPLITS.c.at, SPLITS.c.numerator, SPLITS.c.denominator).where(SPLITS.c.symbol == row.symbol)
            later = splits[row.symbol] = [tuple(split) for split in conn.execute(query)]
        numerator = denominator = 1
        for at, n, d in later:
            if at > row.timestamp:
                numerator, denominator = numerator * n, denominator * d
        if numerator == denominator:
            yield row
            continue
        n_, d_ = Decimal(numerator), Decimal(denominator)
        yield PriceRow(row.symbol, row.timestamp, prorate(row.open, n_, d_), prorate(row.high, n_, d_),
                       prorate(row.low, n_, d_), prorate(row.close, n_, d_),
                       None if row.volume is None else prorate(row.volume, d_, n_))


def import_prices(
    uow: UnitOfWork, path: str | Path | IO[str], *, symbol: str | None = None, interval: str = "1d",
    split_adjusted: bool = False, delimiter: str = ",", date_format: str | None = None,
) -> int:
    """Import a price CSV all-or-nothing; returns the number of bars written.

    `path` is a file name or an open text stream (standard input: `price import -`).
    `split_adjusted`: the file's prices are adjusted for later splits; they are stored as
    traded, using the splits recorded (`as_traded`). `delimiter` and `date_format` (a strptime
    pattern): how the file is written (docs/csv-formats.md §1).
    """
    check_interval(interval)
    handle, name, opened = open_text(path)
    try:
        with opened, uow.transaction() as conn:
            rows: Iterable[PriceRow | str] = read_prices(handle, name, symbol=symbol, delimiter=delimiter,
                                                         date_format=date_format)
            span = BarSpan()
            count = upsert_bars(Repositories(conn), as_traded(conn, rows) if split_adjusted else rows, interval, span)
            audit.log(conn, uow.command, "price.import", symbol.upper() if symbol else None, new={
                "file": name, "interval": interval, "bars": count, "symbols": sorted(span.symbols),
                "first": span.first, "last": span.last, "split_adjusted": split_adjusted})
            return count
    except UnicodeDecodeError:
        raise StocksbotError(f"cannot read {name}: not UTF-8 text") from None


def latest_prices(uow: UnitOfWork, symbols: Iterable[str] = ()) -> list[PriceRecord]:
    """Each symbol's newest bar at or before now (every priced symbol when none are named)."""
    wanted = [parse_symbol(s) for s in symbols]
    now = datetime.now(timezone.utc)
    with uow.reading() as conn:
        repos = Repositories(conn)
        if not wanted:
            wanted = repos.prices.symbols()
        bars = [repos.prices.latest_bar(symbol, now) for symbol in dict.fromkeys(wanted)]
        return [price_record(bar) for bar in bars if bar is not None]


def unpriced(symbols: Iterable[str], found: Iterable[PriceRecord]) -> list[str]:
    """The named symbols (as parsed, each once, in the order given) that `latest_prices` found
    no price for."""
    priced = {record.symbol for record in found}
    return [symbol for symbol in dict.fromkeys(parse_symbol(s) for s in symbols) if symbol not in priced]


def price_history(
    uow: UnitOfWork, symbol: str, *, since: str | datetime | None = None, until: str | datetime | None = None,
    interval: str | None = None,
) -> list[PriceRecord]:
    symbol = parse_symbol(symbol)
    start = parse_time(since, field="--since") if since is not None else None
    end = parse_range_end(until) if until is not None else None
    with uow.reading() as conn:
        return [price_record(bar) for bar in Repositories(conn).prices.history(symbol, start, end, interval)]


def remove_prices(
    uow: UnitOfWork, symbol: str, *, at: str | datetime | None = None, since: str | datetime | None = None,
    until: str | datetime | None = None, interval: str | None = None,
) -> int:
    """Delete the symbol's bars at `at`, or from `since` to `until` (every bar when none is given),
    of `interval` (any when None); how many. Nothing matching is refused, so a mistyped time
    does not pass for a removal (docs/ledger.md §6.4)."""
    symbol = parse_symbol(symbol)
    if at is not None and (since is not None or until is not None):
        raise StocksbotError("give --at for one bar, or --since/--until for a range, not both")
    if interval is not None:
        check_interval(interval)
    where = [BARS.c.symbol == symbol]
    if at is not None:
        where.append(BARS.c.timestamp == parse_time(at, field="--at"))
    if since is not None:
        where.append(BARS.c.timestamp >= parse_time(since, field="--since"))
    if until is not None:
        where.append(BARS.c.timestamp <= parse_range_end(until))
    if interval is not None:
        where.append(BARS.c.interval == interval)
    with uow.transaction() as conn:
        count, first, last = conn.execute(
            select(func.count(), func.min(BARS.c.timestamp), func.max(BARS.c.timestamp)).where(*where)).one()
        if not count:
            wanted = f" at {at}" if at is not None else "".join(
                f" {word} {value}" for word, value in (("since", since), ("until", until)) if value is not None)
            raise StocksbotError(f"no {symbol} prices{wanted}" + (f" of interval {interval}" if interval else "")
                                 + ": nothing removed (see `stocksbot price history " + symbol + "`)")
        old: dict[str, Any] = {"symbol": symbol, "interval": interval, "bars": count, "first": first, "last": last}
        if count <= AUDIT_BARS_MAX:
            removed = conn.execute(select(BARS).where(*where).order_by(BARS.c.timestamp, BARS.c.interval))
            old["removed"] = [price_record(bar).to_json() for bar in removed]
        conn.execute(delete(BARS).where(*where))
        audit.log(conn, uow.command, "price.remove", symbol, old=old)
        return int(count)
