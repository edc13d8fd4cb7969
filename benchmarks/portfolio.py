"""The portfolio data added to a copy of the imported benchmark database: splits, deposits and a second account.

The trade import gives one account (`main`) and trades only. A real portfolio also has stock
splits, cash deposits and more than one account; this step adds them, sized by the data, so
the reading commands and the rebuild can be measured on both databases:

- one split per 20 symbols (every 20th symbol of the generated list, at least one), dated
  between a quarter and three quarters of the way through the trades' history, ratios
  2:1, 3:1 and 3:2 in turn. Forward splits only: the generated trades are not split-adjusted,
  so after a reverse split (1:2) their later sells would exceed the holding and turn into
  short sales, which no real ledger would show. Through the API (`record_split`, which
  re-books the symbol), all in one transaction;
- a deposit into `main` on the first day of every month the trades span, 5,000 USD each.
  Through the API one deposit booked into the past re-books the account's cash from its
  moment on (every later trade), so a back-dated deposit on a big ledger costs seconds.
  One deposit, in the middle of the history, goes through `storage.deposit` and is timed on
  its own (`deposit_api_one_s`); the others are written in bulk: the rows in one statement,
  then the pair's cash re-booked once by stocksbot's cash store (`CashStore.replay`, what a
  removal re-books with), all in one transaction;
- a second account (`second`) with three deposits and 70 trades on five of the symbols in
  the last year (buy, buy, sell-all per symbol, repeated; the last two buys stay open), at the
  day's closing price, through the API in one transaction.

Dividends are added here once `record_dividend` exists (the dividends branch).
"""

from __future__ import annotations

import csv
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from benchmarks.datagen import Dataset

SPLIT_EVERY = 20
SPLIT_RATIOS = ("2:1", "3:1", "3:2")
DEPOSIT = Decimal("5000")
SECOND_ACCOUNT = "second"
SECOND_TRADES = 70  # 14 a symbol: four rounds of buy, buy, sell-all, then two buys left open


def split_plan(data: Dataset) -> list[tuple[str, str, date]]:
    """(symbol, ratio, day) of every split: every 20th symbol, spread over the middle half of the history."""
    chosen = data.symbols[::SPLIT_EVERY]
    days, count = data.days, len(chosen)
    return [(symbol, SPLIT_RATIOS[k % len(SPLIT_RATIOS)], days[len(days) * (count + 1 + 2 * k) // (4 * count)])
            for k, symbol in enumerate(chosen)]


def month_starts(first: date, last: date) -> list[date]:
    """The first day of every month from the one after `first` (the history's first month has
    its start before the first trade) to `last`'s."""
    months: list[date] = []
    year, month = first.year, first.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        start = date(year, month, 1)
        if start > last:
            return months
        months.append(start)


def _noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)


def _closes(data: Dataset, symbol: str) -> dict[date, str]:
    with data.price_files[symbol].open(newline="", encoding="utf-8") as handle:
        return {date.fromisoformat(row["timestamp"][:10]): row["close"] for row in csv.DictReader(handle)}


def add_portfolio(url: str, data: Dataset) -> dict[str, Any]:
    """Add the splits, deposits and second account to the database at `url`; what and how long."""
    from sqlalchemy import insert, select

    from stocksbot import open_storage
    from stocksbot.storage import tables
    from stocksbot.storage.cash import CashStore

    steps: dict[str, dict[str, Any]] = {}
    with open_storage(url) as storage:
        started = time.perf_counter()
        plan = split_plan(data)
        with storage.transaction():
            for symbol, ratio, day in plan:
                storage.record_split(symbol, ratio, day.isoformat())
        steps["splits"] = {"count": len(plan), "seconds": time.perf_counter() - started,
                           "symbols": [symbol for symbol, _, _ in plan], "first": plan[0][2].isoformat(),
                           "last": plan[-1][2].isoformat(), "how": "API record_split, one transaction"}

        months = month_starts(data.days[0], data.days[-1])
        if months:
            middle = months[len(months) // 2]
            started = time.perf_counter()
            storage.deposit(DEPOSIT, at=_noon(middle), note="benchmark: monthly deposit")
            one = time.perf_counter() - started
            started = time.perf_counter()
            with storage.transaction() as conn:
                account = conn.execute(select(tables.accounts).where(tables.accounts.c.name == "main")).one()
                now = datetime.now(timezone.utc)
                conn.execute(insert(tables.cash_movements), [
                    {"account_id": account.id, "kind": "deposit", "amount": DEPOSIT, "currency": account.currency,
                     "at": _noon(month), "note": "benchmark: monthly deposit", "pair_id": None, "created_at": now}
                    for month in months if month != middle
                ])
                CashStore(conn).replay(account.id, account.currency, margin=bool(account.margin))
            steps["deposits"] = {"count": len(months), "seconds": one + time.perf_counter() - started,
                                 "deposit_api_one_s": one, "deposit_api_one_at": middle.isoformat(),
                                 "first": months[0].isoformat(), "last": months[-1].isoformat(),
                                 "how": "one through API deposit (timed alone), the rest in bulk and one re-booking "
                                        "of the pair's cash"}

        started = time.perf_counter()
        symbols = [s for s in data.symbols if s in data.price_files][:5]
        last_year = data.days[-250:]
        closes = {symbol: _closes(data, symbol) for symbol in symbols}
        with storage.transaction():
            storage.add_account(SECOND_ACCOUNT, description="benchmark: a second account")
            for k in range(3):
                storage.deposit("20000", account=SECOND_ACCOUNT, at=_noon(last_year[0]), note=f"benchmark {k}")
            trades = 0
            for i in range(SECOND_TRADES):
                symbol = symbols[i % len(symbols)]
                day = last_year[(i * len(last_year)) // SECOND_TRADES]
                price = closes[symbol].get(day)
                if price is None:
                    raise RuntimeError(f"{symbol} has no bar on {day}")
                # Per symbol: buy, buy, sell what the two bought; repeated.
                side, quantity = (("buy", "10"), ("buy", "5"), ("sell", "15"))[(i // len(symbols)) % 3]
                storage.record_trade(side=side, symbol=symbol, quantity=quantity, price=price, commission="1",
                                     executed_at=datetime(day.year, day.month, day.day, 20, 30,
                                                          tzinfo=timezone.utc) + timedelta(seconds=i),
                                     account=SECOND_ACCOUNT)
                trades += 1
        steps["second_account"] = {"trades": trades, "deposits": 3, "symbols": symbols,
                                   "seconds": time.perf_counter() - started, "how": "API, one transaction"}
    return steps
