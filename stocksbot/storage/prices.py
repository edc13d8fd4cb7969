"""The price operations of StorageService: quotes and bars in, latest prices and history out."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import select

from stocksbot.csvfiles import PriceRow, RowErrors, read_prices
from stocksbot.errors import StocksbotError
from stocksbot.ledger import parse_decimal
from stocksbot.ledger.inputs import parse_symbol, parse_time
from stocksbot.storage.bulk import BulkInserter
from stocksbot.storage.models import PriceBar
from stocksbot.storage.records import PriceRecord
from stocksbot.storage.repositories import Repositories

INTERVAL_PATTERN = re.compile(r"^[1-9][0-9]{0,3}(s|m|h|d|w|mo)$")
_BATCH = 5000
_BAR_COLUMNS = ("symbol", "interval", "timestamp", "open", "high", "low", "close", "volume")


def check_interval(interval: str) -> str:
    if not INTERVAL_PATTERN.match(interval):
        raise StocksbotError(f"invalid interval {interval!r}: use a count and a unit, e.g. 1m, 5m, 1h, 1d, 1w, 1mo")
    return interval


def price_record(bar: PriceBar) -> PriceRecord:
    return PriceRecord(symbol=bar.symbol, interval=bar.interval, timestamp=bar.ts, open=bar.open, high=bar.high,
                       low=bar.low, close=bar.close, volume=bar.volume)


def upsert_bars(repos: Repositories, rows: Iterable[PriceRow | str], interval: str) -> int:
    """Insert bars, replacing any stored bar with the same (symbol, interval, timestamp).

    `rows` may carry `line N: reason` texts for bad rows: then every one is collected and
    RowErrors is raised at the end (the caller's transaction rolls back), so a file is read
    once, in bounded memory, and still reports all of its bad rows.
    """
    writer = BulkInserter(repos.session.connection(), PriceBar.__table__, _BAR_COLUMNS,
                          replace_on=("symbol", "interval", "timestamp"))
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
            count += len(batch)
            batch = []
    if errors:
        raise RowErrors(errors)
    writer.insert(batch)
    return count + len(batch)


class PriceOperations:
    """Mixed into StorageService; relies on its `transaction()` and `reading()`."""

    transaction: Any
    reading: Any

    def add_price(self, symbol: str, price: str, *, at: str | datetime | None = None, interval: str = "1d") -> PriceRecord:
        """Store one quote as a bar with open = high = low = close (replacing a bar at the same time)."""
        value = parse_decimal(price, field="price")
        row = PriceRow(parse_symbol(symbol), parse_time(at, field="--at") if at is not None else datetime.now(timezone.utc),
                       value, value, value, value, None)
        check_interval(interval)
        with self.transaction() as repos:
            upsert_bars(repos, [row], interval)
            bar = repos.session.scalar(select(PriceBar).where(
                PriceBar.symbol == row.symbol, PriceBar.interval == interval, PriceBar.ts == row.timestamp))
            return price_record(bar)  # type: ignore[arg-type]

    def import_prices(self, path: str | Path, *, symbol: str | None = None, interval: str = "1d") -> int:
        """Import a price CSV all-or-nothing; returns the number of bars written."""
        check_interval(interval)
        path = Path(path)
        try:
            handle = path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise StocksbotError(f"cannot read {path}: {exc.strerror}") from None
        try:
            with handle, self.transaction() as repos:
                return upsert_bars(repos, read_prices(handle, str(path), symbol=symbol), interval)
        except UnicodeDecodeError:
            raise StocksbotError(f"cannot read {path}: not UTF-8 text") from None

    def latest_prices(self, symbols: Iterable[str] = ()) -> list[PriceRecord]:
        """Each symbol's newest bar at or before now (every priced symbol when none are named)."""
        wanted = [parse_symbol(s) for s in symbols]
        now = datetime.now(timezone.utc)
        with self.reading() as repos:
            if not wanted:
                wanted = list(repos.session.scalars(select(PriceBar.symbol).distinct().order_by(PriceBar.symbol)))
            bars = [repos.prices.latest_bar(symbol, now) for symbol in dict.fromkeys(wanted)]
            return [price_record(bar) for bar in bars if bar is not None]

    def price_history(
        self, symbol: str, *, since: str | datetime | None = None, until: str | datetime | None = None,
        interval: str | None = None,
    ) -> list[PriceRecord]:
        symbol = parse_symbol(symbol)
        start = parse_time(since, field="--since") if since is not None else None
        end = parse_time(until, field="--until") if until is not None else None
        with self.reading() as repos:
            return [price_record(bar) for bar in repos.prices.history(symbol, start, end, interval)]
