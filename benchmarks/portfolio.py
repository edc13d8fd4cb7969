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
- a dividend per quarter for every symbol `main` holds at its ex-date (the first of
  February, May, August and November; paid on the 15th), per share: 0.4 % of the symbol's
  latest trade price, times the shares held at the start of the ex-date, splits applied;
  15 % tax withheld on every fourth symbol. Like a deposit, a back-dated dividend re-books
  the account's cash from its pay date on, and `per_share` reads the symbol's whole history
  to find the holding, so one (mid-history) goes through `record_dividend(per_share=True)`,
  timed alone (`dividend_api_one_s`), and checks the holdings this module computes; the
  others are written in one statement and the cash re-booked once, in one transaction. The
  holdings come from one pass over the trade file with the splits applied (`holdings_s`,
  the harness's own work, not counted in the step's time);
- a second account (`second`) with three deposits and 70 trades on five of the symbols in
  the last year (buy, buy, sell-all per symbol, repeated; the last two buys stay open), at the
  day's closing price, through the API in one transaction.
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
DIVIDEND_MONTHS = (2, 5, 8, 11)
DIVIDEND_YIELD = Decimal("0.004")  # a quarter's dividend per share, of the latest trade price
TAX_RATE = Decimal("0.15")
CENT = Decimal("0.01")
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


def dividend_dates(first: date, last: date) -> list[tuple[date, date]]:
    """(ex-date, pay date) of every quarter from the first whose ex-date comes after `first` to the
    last whose pay date is at or before `last`."""
    return [(date(year, month, 1), date(year, month, 15)) for year in range(first.year, last.year + 1)
            for month in DIVIDEND_MONTHS if date(year, month, 1) > first and date(year, month, 15) <= last]


def holdings_at(
    data: Dataset, splits: list[tuple[str, str, date]], ex_dates: list[date]
) -> dict[date, dict[str, tuple[Decimal, Decimal]]]:
    """Per ex-date, each symbol held then (more than 0 shares): (shares, latest trade price).

    The shares at the start of the ex-date, what `record_dividend(per_share=True)` multiplies by:
    one pass over the trade file (every trade is `main`'s, in time order), each split applied at
    the start of its day (before that day's trades and before an ex-date at the same moment),
    as booking does (`Book.split`: quantities times N/D).
    """
    from stocksbot.ledger import add, prorate, subtract
    from stocksbot.ledger.inputs import start_of_day

    # (moment, rank, symbol, numerator, denominator): splits (rank 0) before an ex-date (rank 1).
    checkpoints: list[tuple[datetime, int, str, int, int, date]] = []
    for symbol, ratio, day in splits:
        numerator, denominator = (int(part) for part in ratio.split(":"))
        checkpoints.append((start_of_day(day.isoformat()), 0, symbol, numerator, denominator, day))
    checkpoints += [(start_of_day(day.isoformat()), 1, "", 0, 0, day) for day in ex_dates]
    checkpoints.sort()
    held: dict[str, Decimal] = {}
    prices: dict[str, Decimal] = {}
    found: dict[date, dict[str, tuple[Decimal, Decimal]]] = {}
    at = 0

    def reach(moment: datetime | None) -> None:
        nonlocal at
        while at < len(checkpoints) and (moment is None or checkpoints[at][0] <= moment):
            _, rank, symbol, numerator, denominator, day = checkpoints[at]
            if rank == 0:
                if symbol in held:
                    held[symbol] = prorate(held[symbol], Decimal(numerator), Decimal(denominator))
            else:
                found[day] = {name: (shares, prices[name]) for name, shares in held.items() if shares > 0}
            at += 1

    with data.trades_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        when, side, sym, qty, price = (header.index(name) for name in
                                       ("executed_at", "side", "symbol", "quantity", "price"))
        for row in reader:
            reach(datetime.fromisoformat(row[when]))
            symbol, quantity = row[sym], Decimal(row[qty])
            current = held.get(symbol, Decimal(0))
            held[symbol] = add(current, quantity) if row[side] == "buy" else subtract(current, quantity)
            prices[symbol] = Decimal(row[price])
    reach(None)
    return found


def per_share(price: Decimal) -> Decimal:
    return max(CENT, (price * DIVIDEND_YIELD).quantize(CENT))


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

        quarters = dividend_dates(data.days[0], data.days[-1])
        if quarters:
            steps["dividends"] = add_dividends(storage, data, plan, quarters)

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


def add_dividends(storage: Any, data: Dataset, plan: list[tuple[str, str, date]],
                  quarters: list[tuple[date, date]]) -> dict[str, Any]:
    """The quarterly dividends (see the module docstring); what and how long."""
    from sqlalchemy import insert, select

    from stocksbot.ledger import multiply
    from stocksbot.ledger.inputs import start_of_day
    from stocksbot.storage import tables
    from stocksbot.storage.cash import CashStore

    started = time.perf_counter()
    held = holdings_at(data, plan, [ex for ex, _ in quarters])
    holdings_s = time.perf_counter() - started
    taxed = set(data.symbols[::4])

    def amounts(symbol: str, shares: Decimal, price: Decimal) -> tuple[Decimal, Decimal, Decimal]:
        unit = per_share(price)
        gross = multiply(unit, shares)
        return unit, gross, (gross * TAX_RATE).quantize(CENT) if symbol in taxed else Decimal(0)

    # One through the API: a mid-history quarter, the first symbol held then.
    candidates = [quarter for quarter in quarters if held[quarter[0]]]
    if not candidates:
        raise RuntimeError("no symbol is held at any ex-date")
    middle = candidates[len(candidates) // 2]
    first_symbol = min(held[middle[0]])
    unit, api_gross, tax = amounts(first_symbol, *held[middle[0]][first_symbol])
    started = time.perf_counter()
    record = storage.record_dividend(first_symbol, unit, per_share=True, tax=tax, ex_date=middle[0].isoformat(),
                                     paid_at=_noon(middle[1]), note="benchmark: quarterly dividend")
    one = time.perf_counter() - started
    if record.gross != api_gross:
        raise RuntimeError(f"record_dividend found a gross of {record.gross} for {first_symbol} on {middle[0]}, the "
                           f"benchmark's holdings {api_gross}: they disagree")

    started = time.perf_counter()
    with storage.transaction() as conn:
        account = conn.execute(select(tables.accounts).where(tables.accounts.c.name == "main")).one()
        now = datetime.now(timezone.utc)
        rows = []
        for ex, pay in quarters:
            ex_start = start_of_day(ex.isoformat())
            for symbol, (shares, price) in sorted(held[ex].items()):
                if (ex, symbol) == (middle[0], first_symbol):
                    continue
                unit, gross, tax = amounts(symbol, shares, price)
                rows.append({"account_id": account.id, "symbol": symbol, "gross": gross, "tax": tax,
                             "fee": Decimal(0), "currency": account.currency, "ex_date": ex_start,
                             "paid_at": _noon(pay), "per_share": unit, "reinvest_trade_id": None,
                             "external_id": None, "note": "benchmark: quarterly dividend", "created_at": now})
        if rows:
            conn.execute(insert(tables.dividends), rows)
        CashStore(conn).replay(account.id, account.currency, margin=bool(account.margin))
    return {"count": len(rows) + 1, "seconds": one + time.perf_counter() - started, "dividend_api_one_s": one,
            "dividend_api_one": {"symbol": first_symbol, "ex_date": middle[0].isoformat(), "gross": str(api_gross)},
            "quarters": len(quarters), "holdings_s": holdings_s, "taxed_symbols": len(taxed),
            "how": "one through API record_dividend per share (timed alone; checks the holdings), the rest in bulk "
                   "and one re-booking of the pair's cash"}
