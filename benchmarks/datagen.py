"""Deterministic, realistic benchmark data: a trade CSV and per-symbol daily price bars.

Everything comes from one `random.Random(seed)`, so the same arguments give byte-identical
files on every machine. Prices follow a per-symbol random walk (2 decimals, never below
1.00); trades are booked at that day's price with a little intraday noise, in increasing
time order; a symbol is never sold beyond its holding, so `trade import` succeeds with
the default settings (no shorting).
"""

from __future__ import annotations

import csv
import math
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

TRADE_HEADER = ["executed_at", "side", "symbol", "quantity", "price", "commission", "fees", "strategy",
                "external_id", "note"]
PRICE_HEADER = ["symbol", "timestamp", "open", "high", "low", "close", "volume"]
STRATEGIES = ["momentum", "mean-reversion", "pairs", "dividend-growth", "breakout"]
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MARKET_OPEN_S = 14 * 3600 + 30 * 60  # 14:30 UTC
_SESSION_S = 6 * 3600 + 30 * 60  # to 21:00 UTC


@dataclass
class Dataset:
    """Where the generated files are, and what is in them."""

    root: Path
    symbols: list[str]
    trades_csv: Path
    trade_count: int
    prices_dir: Path
    price_files: dict[str, Path]
    bar_count: int
    days: list[date]
    seconds: float = 0.0
    info: dict[str, object] = field(default_factory=dict)

    @property
    def last_day(self) -> date:
        return self.days[-1]


def make_symbols(rng: random.Random, count: int) -> list[str]:
    """`count` distinct tickers of 2 to 4 letters, a few with a share class (`BRK.B` style)."""
    seen: set[str] = set()
    symbols: list[str] = []
    while len(symbols) < count:
        name = "".join(rng.choice(_LETTERS) for _ in range(rng.choice((2, 3, 3, 4, 4, 4))))
        if rng.random() < 0.02:
            name += "." + rng.choice("AB")
        if name not in seen:
            seen.add(name)
            symbols.append(name)
    return symbols


def business_days(count: int, end: date) -> list[date]:
    """The `count` weekdays ending at or before `end`, oldest first."""
    days: list[date] = []
    day = end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    days.reverse()
    return days


def _money(value: float) -> str:
    return f"{value:.2f}"


def _quantity(hundredths: int) -> str:
    whole, part = divmod(hundredths, 100)
    return str(whole) if part == 0 else f"{whole}.{part:02d}"


def generate(root: Path, *, trades: int, symbols: int, bars: int, seed: int) -> Dataset:
    """Write `trades.csv` and `prices/<SYMBOL>.csv` under `root` and describe them."""
    started = time.perf_counter()
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = make_symbols(rng, symbols)
    bars_per_symbol = [bars // symbols + (1 if i < bars % symbols else 0) for i in range(symbols)]
    day_count = max(1, max(bars_per_symbol))
    # Fixed end date (not "today"), so the data do not depend on when the benchmark runs.
    days = business_days(day_count, date(2025, 12, 31))

    # Closing prices: a geometric random walk per symbol, 2 decimals, floor 1.00.
    closes: list[list[float]] = []
    for _ in names:
        price = math.exp(rng.uniform(math.log(5), math.log(800)))
        drift, vol = rng.uniform(-0.0002, 0.0006), rng.uniform(0.008, 0.035)
        series = []
        for _ in days:
            price = max(1.0, price * math.exp(rng.gauss(drift, vol)))
            series.append(round(price, 2))
        closes.append(series)

    prices_dir = root / "prices"
    prices_dir.mkdir(exist_ok=True)
    price_files: dict[str, Path] = {}
    for index, symbol in enumerate(names):
        count = bars_per_symbol[index]
        if count == 0:
            continue
        path = prices_dir / f"{symbol.replace('.', '_')}.csv"
        series = closes[index]
        first = day_count - count  # a symbol with fewer bars starts later (a later listing)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(PRICE_HEADER)
            previous = series[first]
            for d in range(first, day_count):
                close = series[d]
                open_ = round(max(1.0, previous * (1 + rng.gauss(0, 0.004))), 2)
                high = round(max(open_, close) * (1 + abs(rng.gauss(0, 0.006))), 2)
                low = round(max(0.5, min(open_, close) * (1 - abs(rng.gauss(0, 0.006)))), 2)
                high, low = max(high, open_, close), min(low, open_, close)
                volume = int(rng.lognormvariate(13, 1.0))
                writer.writerow([symbol, f"{days[d].isoformat()}T21:00:00+00:00", _money(open_), _money(high),
                                 _money(low), _money(close), volume])
                previous = close
        price_files[symbol] = path

    # Trades: activity is skewed (a few symbols trade a lot), timestamps strictly increase
    # across the file, and sells never exceed the holding.
    weights = [1.0 / (rank + 1) ** 0.7 for rank in range(symbols)]
    order = list(range(symbols))
    rng.shuffle(order)
    cumulative: list[float] = []
    total = 0.0
    for rank in range(symbols):
        total += weights[rank]
        cumulative.append(total)
    holdings = [0] * symbols  # in hundredths of a share
    trades_csv = root / "trades.csv"
    buys = sells = closes_flat = 0
    per_day = max(1, math.ceil(trades / day_count))
    step_us = max(1, _SESSION_S * 1_000_000 // (per_day + 1))
    epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
    day_offsets = [int((datetime(d.year, d.month, d.day, tzinfo=timezone.utc) - epoch).total_seconds()) for d in days]
    with trades_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRADE_HEADER)
        for i in range(trades):
            d = min(day_count - 1, i * day_count // trades) if trades else 0
            slot = i - (d * trades + day_count - 1) // day_count  # index of this trade within its day
            micro = _MARKET_OPEN_S * 1_000_000 + (slot + 1) * step_us
            when = epoch + timedelta(seconds=day_offsets[d], microseconds=micro)
            pick = rng.random() * total
            lo, hi = 0, symbols - 1
            while lo < hi:  # bisect the cumulative weights
                mid = (lo + hi) // 2
                if cumulative[mid] < pick:
                    lo = mid + 1
                else:
                    hi = mid
            s = order[lo]
            if bars_per_symbol[s] and d < day_count - bars_per_symbol[s]:
                s = 0  # not listed yet that day: trade the first symbol instead (it always has bars)
            price = round(max(0.5, closes[s][d] * (1 + rng.gauss(0, 0.003))), 2)
            held = holdings[s]
            if held == 0 or rng.random() < 0.56:
                side = "buy"
                quantity = rng.choice((1, 5, 10, 10, 20, 25, 50, 100, 100, 200, 500)) * 100
                if rng.random() < 0.05:
                    quantity += rng.randint(1, 99)  # a fractional fill
                holdings[s] += quantity
                buys += 1
            else:
                side = "sell"
                if rng.random() < 0.12:
                    quantity = held  # close the position: it becomes history, the next buy opens a new one
                    closes_flat += 1
                else:
                    quantity = min(held, rng.choice((1, 5, 10, 20, 50, 100)) * 100)
                holdings[s] -= quantity
                sells += 1
            commission = "1.00" if rng.random() < 0.7 else _money(rng.uniform(0, 5))
            fees = "0" if rng.random() < 0.6 else _money(rng.uniform(0.01, 0.5))
            strategy = rng.choice(STRATEGIES) if rng.random() < 0.7 else ""
            note = "rebalance" if rng.random() < 0.01 else ""
            writer.writerow([when.isoformat(), side, names[s], _quantity(quantity), _money(price), commission, fees,
                             strategy, f"BRK-{i + 1:09d}", note])
    return Dataset(
        root=root, symbols=names, trades_csv=trades_csv, trade_count=trades, prices_dir=prices_dir,
        price_files=price_files, bar_count=sum(bars_per_symbol), days=days,
        seconds=time.perf_counter() - started,
        info={"buys": buys, "sells": sells, "closing_sells": closes_flat, "seed": seed,
              "first_day": days[0].isoformat(), "last_day": days[-1].isoformat(),
              "trades_csv_bytes": trades_csv.stat().st_size,
              "prices_bytes": sum(p.stat().st_size for p in price_files.values())},
    )
