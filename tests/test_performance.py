"""`performance` (docs/ledger.md §18) through the storage service and the command line, on SQLite and PostgreSQL.

Daily values from trades, prices, cash, dividends, splits, symbol changes and transfers;
flows per scope (portfolio, accounts, strategy); currencies; the bad-input refusals; and the
charts' plain-text form.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from stocksbot.errors import StocksbotError
from stocksbot.storage.repositories import Repositories

D = Decimal
ROW_KEYS = {"start", "end", "start_value", "inflows", "outflows", "income", "costs", "end_value", "pnl", "twr", "irr",
            "max_drawdown"}


def add_account(storage: Any, name: str, *, currency: str = "USD") -> None:
    with storage.transaction() as conn:
        Repositories(conn).accounts.add(name=name, currency=currency, margin=False, status="open")


def cash_only(run: Any) -> None:
    """Portfolio Performance's cash-only account (their test suite's figures)."""
    for args in (("deposit", "10000", "--at", "2011-12-31"), ("interest", "230", "--at", "2012-01-01"),
                 ("deposit", "200", "--at", "2012-01-02"), ("interest", "200", "--at", "2012-01-02"),
                 ("withdraw", "400", "--at", "2012-01-03"), ("fee", "234.41", "--at", "2012-01-03")):
        assert run("cash", *args).exit_code == 0


def test_cash_only_account_daily_returns_and_twr_through_the_cli(run, data) -> None:
    cash_only(run)
    report = data("performance", "--interval", "day", "--until", "2012-01-03")
    assert set(report) >= {"rows", "total"}
    rows, total = report["rows"], report["total"]
    assert all(set(row) >= ROW_KEYS for row in rows) and set(total) >= ROW_KEYS
    assert [row["start"] for row in rows] == ["2011-12-31", "2012-01-01", "2012-01-02", "2012-01-03"]
    assert [round(D(row["twr"]), 9) for row in rows[1:]] == [D("0.023"), D("0.019175455"), D("-0.022051740")]
    assert round(D(rows[3]["twr"]), 7) == D("-0.0220517")
    assert round(D(total["twr"]), 9) == D("0.019624983")
    assert (total["inflows"], total["outflows"], total["income"], total["costs"]) == ("10200", "400", "430", "234.41")
    assert (total["start_value"], total["end_value"], total["pnl"]) == ("0", "9995.59", "195.59")
    # the same through the table, percentages to 2 places
    text = run("performance", "--interval", "day", "--until", "2012-01-03").output
    assert "2.30%" in text and "1.92%" in text and "-2.21%" in text and "1.96%" in text


def test_trades_only_user_gets_implicit_deposits_as_inflows(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", commission="1",
                         executed_at="2024-01-02T10:00")
    storage.add_price("AAPL", "110", at="2024-01-03T16:00")
    storage.record_trade(side="sell", symbol="AAPL", quantity="10", price="120", executed_at="2024-01-04T10:00")
    report = storage.performance(interval="day", until="2024-01-04")
    days = report.days
    assert [(d.day.isoformat(), d.value, d.inflows, d.costs) for d in days] == [
        ("2024-01-02", D(1000), D(1001), D(1)), ("2024-01-03", D(1100), D(0), D(0)),
        ("2024-01-04", D(1200), D(0), D(0))]
    total = report.total
    assert total is not None
    assert (total.inflows, total.outflows, total.end_value, total.pnl) == (D(1001), D(0), D(1200), D(199))
    # (1000 / 1001) x 1.1 x (1200 / 1100)
    assert total.twr == D("0.19880119880119880120")
    assert report.rows[0].twr == D("-0.00099900099900099900")
    assert total.max_drawdown == D("0.00099900099900099900")


def test_several_intervals_at_one_moment_value_with_the_first_in_name_order(storage) -> None:
    """Bars of several intervals (and symbols) share a timestamp: the day's value takes the close
    of the first interval in name order, as the latest price does (services/fx.py)."""
    for symbol in ("AAPL", "MSFT"):
        storage.record_trade(side="buy", symbol=symbol, quantity="10", price="100", executed_at="2024-01-02T10:00")
    for symbol, interval, close in (("AAPL", "1w", "300"), ("AAPL", "1d", "110"), ("AAPL", "1h", "200"),
                                    ("MSFT", "1h", "50"), ("MSFT", "1w", "70")):
        storage.add_price(symbol, close, at="2024-01-03T16:00", interval=interval)
    days = {d.day.isoformat(): d.value for d in storage.performance(interval="day", until="2024-01-03").days}
    # AAPL: 1d before 1h before 1w; MSFT: 1h before 1w. The buys' cash came from implicit deposits.
    assert days["2024-01-03"] == D(10 * 110 + 10 * 50)
    assert [bar.close for bar in storage.latest_prices(["AAPL", "MSFT"])] == [D(110), D(50)]


def test_end_value_agrees_with_the_summary(storage) -> None:
    storage.deposit("5000", at="2024-01-01")
    storage.record_trade(side="buy", symbol="AAPL", quantity="7.5", price="101.37", commission="0.35",
                         executed_at="2024-01-02T10:00")
    storage.record_trade(side="sell", symbol="MSFT", quantity="3", price="300", executed_at="2024-01-02T11:00",
                         allow_short=True)
    storage.add_price("AAPL", "99.991", at="2024-01-03T16:00")
    storage.add_price("MSFT", "310.5", at="2024-01-03T16:00")
    storage.record_dividend("AAPL", "1.2", tax="0.18", paid_at="2024-01-03T12:00")
    total = storage.performance(interval="all", until="2024-01-04").total
    summary = storage.summary()
    assert total.end_value == summary.total_value
    assert total.income == D("1.2") and total.costs == D("0.53")
    assert total.inflows == D(5000) and total.pnl == total.end_value - D(5000)


def test_splits_and_symbol_changes_keep_the_value(storage) -> None:
    storage.deposit("1000", at="2024-01-01")
    storage.record_trade(side="buy", symbol="FB", quantity="10", price="100", executed_at="2024-01-02T10:00")
    storage.add_price("FB", "100", at="2024-01-02T16:00")
    storage.record_split("FB", "2:1", at="2024-01-04")
    storage.rename_symbol("FB", "META", at="2024-01-06")
    storage.add_price("META", "55", at="2024-01-08T16:00")
    days = {d.day.isoformat(): d.value for d in storage.performance(interval="day", until="2024-01-08").days}
    assert days["2024-01-03"] == D(1000)
    assert days["2024-01-04"] == D(1000)  # 20 shares at the pre-split close, halved
    assert days["2024-01-07"] == D(1000)  # META carries FB's price until it has its own
    assert days["2024-01-08"] == D(1100)


def test_transfers_are_flows_of_each_account_and_cancel_for_the_portfolio(storage) -> None:
    add_account(storage, "ira")
    storage.deposit("1000", at="2024-01-01")
    storage.record_trade(side="buy", symbol="AAPL", quantity="5", price="100", executed_at="2024-01-02T10:00")
    storage.transfer_cash("300", from_account="main", to_account="ira", at="2024-01-03T10:00")
    storage.transfer_shares("AAPL", "2", from_account="main", to_account="ira", at="2024-01-03T11:00")
    storage.add_price("AAPL", "110", at="2024-01-04T16:00")
    whole = storage.performance(interval="all", until="2024-01-04").total
    assert (whole.inflows, whole.outflows, whole.end_value) == (D(1000), D(0), D(1050))
    main = storage.performance(accounts=["main"], interval="all", until="2024-01-04").total
    ira = storage.performance(accounts=["ira"], interval="all", until="2024-01-04").total
    # 300 cash and 2 shares at 100 (the latest price when they moved) leave main and reach ira
    assert (main.inflows, main.outflows, main.end_value) == (D(1000), D(500), D(530))
    assert (ira.inflows, ira.outflows, ira.end_value) == (D(500), D(0), D(520))
    both = storage.performance(accounts=["main", "ira"], interval="all", until="2024-01-04").total
    assert (both.inflows, both.outflows, both.end_value) == (D(1000), D(0), D(1050))
    assert main.pnl + ira.pnl == whole.pnl == D(50)


def test_a_strategy_holds_its_runs_and_trades_are_its_flows(storage) -> None:
    storage.add_strategy("alpha")
    storage.deposit("10000", at="2024-01-01")
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", commission="2",
                         executed_at="2024-01-02T10:00", strategy="alpha")
    storage.record_trade(side="buy", symbol="MSFT", quantity="1", price="300", executed_at="2024-01-02T10:00")
    storage.add_price("AAPL", "120", at="2024-01-03T16:00")
    storage.add_price("MSFT", "1", at="2024-01-03T16:00")
    storage.record_trade(side="sell", symbol="AAPL", quantity="4", price="125", commission="1",
                         executed_at="2024-01-04T10:00")  # no strategy: still alpha's run
    report = storage.performance(strategy="alpha", interval="day", until="2024-01-04")
    assert [(d.day.isoformat(), d.value, d.inflows, d.outflows) for d in report.days] == [
        ("2024-01-02", D(1000), D(1002), D(0)), ("2024-01-03", D(1200), D(0), D(0)),
        ("2024-01-04", D(720), D(0), D(499))]
    total = report.total
    assert total is not None and total.pnl == D(217) and total.costs == D(3)
    with pytest.raises(StocksbotError, match="unknown strategy"):
        storage.performance(strategy="nope")


def test_other_currencies_convert_at_each_days_rate(storage) -> None:
    add_account(storage, "eu", currency="EUR")
    storage.set_symbol("SAP", currency="EUR")
    storage.deposit("1000", currency="EUR", account="eu", at="2024-01-01T10:00")
    storage.add_price("EUR/USD", "1.1", at="2024-01-01T09:00")
    storage.add_price("EUR/USD", "1.2", at="2024-01-02T09:00")
    report = storage.performance(interval="day", until="2024-01-02")
    assert [(d.value, d.inflows) for d in report.days] == [(D("1100"), D("1100")), (D("1200"), D(0))]
    assert report.total.twr == D("0.09090909090909090909")
    in_eur = storage.performance(interval="all", until="2024-01-02", currency="EUR").total
    assert (in_eur.end_value, in_eur.twr) == (D(1000), D(0))
    no_rate = storage.performance(interval="all", until="2024-01-02", currency="GBP")
    assert no_rate.total.end_value is None and no_rate.total.twr is None and no_rate.total.irr is None
    assert no_rate.missing_rates == ["EUR/GBP"]


def test_a_bare_until_includes_the_whole_day(run, data) -> None:
    assert run("cash", "deposit", "100", "--at", "2024-03-15T23:30").exit_code == 0
    assert run("cash", "deposit", "50", "--at", "2024-03-16T00:30").exit_code == 0
    total = data("performance", "--since", "2024-03-15", "--until", "2024-03-15", "--interval", "all")["total"]
    assert (total["inflows"], total["end_value"]) == ("100", "100")


def test_no_holdings_is_an_empty_result_not_an_error(run, data) -> None:
    assert run("cash", "deposit", "100", "--at", "2024-03-15").exit_code == 0
    result = run("performance", "--since", "2020-01-01", "--until", "2020-12-31")
    assert result.exit_code == 0 and "no holdings between 2020-01-01 and 2020-12-31" in result.output
    assert data("performance", "--since", "2020-01-01", "--until", "2020-12-31") == {
        "rows": [], "total": None, "currency": "USD", "interval": "month", "day_count": "365", "missing_rates": []}


@pytest.mark.parametrize(("args", "message"), [
    (("--since", "2024-02-01", "--until", "2024-01-01"), "--since 2024-02-01 is after --until 2024-01-01"),
    (("--account", "nope"), "unknown account 'nope'"),
    (("--strategy", "nope"), "unknown strategy 'nope'"),
    (("--day-count", "360"), "unknown day count '360'"),
    (("--since", "yesterday"), "--since"),
    (("--currency", "euro"), "currency"),
])
def test_bad_input_is_one_line_exit_1(run, args: tuple[str, ...], message: str) -> None:
    result = run("performance", *args)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_an_unknown_interval_is_a_usage_error(run) -> None:
    result = run("performance", "--interval", "fortnight")
    assert result.exit_code == 2 and "fortnight" in result.output


def test_charts_are_plain_text_when_piped(run) -> None:
    cash_only(run)
    result = run("performance", "--chart", "--until", "2012-01-03")
    assert result.exit_code == 0 and "\x1b[" not in result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["date", "value", "(USD)", "TWR", "index"]
    assert lines[-1].split() == ["2012-01-03", "9995.59", "1.01962498274209012464"]
    assert run("price", "add", "AAPL", "150.25", "--at", "2024-01-02").exit_code == 0
    assert run("price", "add", "AAPL", "151", "--at", "2024-01-03").exit_code == 0
    prices = run("price", "chart", "AAPL", "--since", "2024-01-03")
    assert prices.exit_code == 0
    assert [line.split() for line in prices.output.splitlines()] == [["date", "close"], ["2024-01-03", "151"]]
    missing = run("price", "chart", "MSFT")
    assert missing.exit_code == 1 and "no prices of MSFT" in missing.output


def test_charts_draw_with_plotext_on_a_terminal(run, monkeypatch: pytest.MonkeyPatch) -> None:
    import stocksbot.cli.charts as charts

    cash_only(run)
    monkeypatch.setattr(charts, "is_terminal", lambda: True)
    monkeypatch.setenv("NO_COLOR", "1")
    result = run("performance", "--chart", "--until", "2012-01-03")
    assert result.exit_code == 0
    assert "TWR index" in result.output and "\x1b[" not in result.output
    assert len(result.output.splitlines()) >= 20


def test_json_decimals_are_exact_strings(run, data) -> None:
    for amount, day in (("0.1", "2024-01-01"), ("0.2", "2024-01-02"), ("123456789012345678.0000000001", "2024-01-03")):
        assert run("cash", "deposit", amount, "--at", day).exit_code == 0
    total = data("performance", "--interval", "all", "--until", "2024-01-03")["total"]
    assert total["inflows"] == total["end_value"] == "123456789012345678.3000000001"
    assert (total["twr"], total["pnl"]) == ("0", "0")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_ledgers_end_where_the_summary_is(storage, seed: int) -> None:
    """Trades (long and short), prices, cash, dividends, a split and transfers between two
    accounts: the last day's value is the summary's total value, the accounts together are the
    portfolio, and P&L adds up over the intervals."""
    import random

    rng = random.Random(seed)
    add_account(storage, "ira")
    storage.deposit("1000", at="2023-12-30")
    symbols = ["AAA", "BBB", "CCC"]
    held: dict[tuple[str, str], Decimal] = {}
    for day in range(1, 60):
        date_text = f"2024-{1 + (day - 1) // 28:02d}-{1 + (day - 1) % 28:02d}"
        stamp, later = f"{date_text}T{10 + rng.randint(0, 3)}:00", f"{date_text}T15:00"
        symbol, account = rng.choice(symbols), rng.choice(["main", "ira"])
        price = Decimal(rng.randint(500, 1500)) / 10
        quantity = Decimal(rng.randint(1, 40)) / 4
        have = held.get((account, symbol), Decimal(0))
        side = "sell" if have > quantity and rng.random() < 0.4 else "buy"
        storage.record_trade(side=side, symbol=symbol, quantity=str(quantity), price=str(price), account=account,
                             commission=str(Decimal(rng.randint(0, 3)) / 2), executed_at=stamp)
        held[(account, symbol)] = have + (quantity if side == "buy" else -quantity)
        if rng.random() < 0.5:
            storage.add_price(rng.choice(symbols), str(Decimal(rng.randint(500, 1500)) / 10),
                              at=later)
        if rng.random() < 0.1:
            storage.record_dividend(symbol, str(Decimal(rng.randint(1, 50)) / 10), tax="0.1", account=account,
                                    paid_at=later)
        if day == 30:
            storage.record_split("AAA", "3:2", at="2024-02-03")
            held = {key: value * 3 / 2 if key[1] == "AAA" else value for key, value in held.items()}
        if day == 40 and held.get(("main", "BBB"), Decimal(0)) > 1:
            storage.transfer_shares("BBB", "1", from_account="main", to_account="ira", at=later)
            held[("main", "BBB")] -= 1
            held[("ira", "BBB")] = held.get(("ira", "BBB"), Decimal(0)) + 1
        if day == 45:
            storage.transfer_cash("10", from_account="main", to_account="ira", at=later)
    report = storage.performance(interval="week", until="2024-03-31")
    total = report.total
    assert total is not None and total.end_value == storage.summary().total_value
    assert sum((row.pnl for row in report.rows), Decimal(0)) == total.pnl
    parts = [storage.performance(accounts=[name], interval="all", until="2024-03-31").total for name in ("main", "ira")]
    assert sum((part.end_value for part in parts), Decimal(0)) == total.end_value
    assert sum((part.pnl for part in parts), Decimal(0)) == total.pnl
    assert total.twr is not None and total.irr is not None


@pytest.mark.parametrize("seed", [4, 5])
def test_every_day_is_the_summary_as_of_that_day(storage, seed: int) -> None:
    """Many trades a day (the pass applies them a stretch at a time, between day ends and other
    events): positions closed and opened again within a day, a split, deposits, dividends and
    a share transfer at the very moment of a trade, and a symbol that settles in euros. Each
    day's value, for the portfolio and for each account, is `summary --as-of` that day's."""
    import random

    rng = random.Random(seed)
    add_account(storage, "ira")
    storage.set_symbol("SAP", currency="EUR")
    storage.add_price("EUR/USD", "1.1", at="2024-01-01T09:00")
    storage.deposit("500", at="2024-01-02T10:00")
    symbols = ["AAA", "BBB", "SAP"]
    held: dict[tuple[str, str], Decimal] = {}
    for day in range(2, 9):
        for minute in range(rng.randint(3, 14)):
            stamp = f"2024-01-{day:02d}T10:{minute * 4:02d}"
            symbol, account = rng.choice(symbols), rng.choice(["main", "ira"])
            have = held.get((account, symbol), Decimal(0))
            price = str(Decimal(rng.randint(500, 1500)) / 10)
            if have and rng.random() < 0.3:  # close the position: it leaves, and may open again today
                side, quantity = "sell", have
            elif have > 1 and rng.random() < 0.3:
                side, quantity = "sell", Decimal(rng.randint(1, int(have)))
            else:
                side, quantity = "buy", Decimal(rng.randint(1, 40)) / 4
            storage.record_trade(side=side, symbol=symbol, quantity=str(quantity), price=price, account=account,
                                 commission=rng.choice(["0", "0", "1.25"]), executed_at=stamp)
            held[(account, symbol)] = have + (quantity if side == "buy" else -quantity)
            if rng.random() < 0.15:
                storage.deposit("50", account=account, at=stamp)
            if rng.random() < 0.1 and held[(account, symbol)] > 1:
                storage.transfer_shares(symbol, "1", from_account=account,
                                        to_account="ira" if account == "main" else "main", at=stamp)
                held[(account, symbol)] -= 1
                other = ("ira" if account == "main" else "main", symbol)
                held[other] = held.get(other, Decimal(0)) + 1
        if rng.random() < 0.5:
            storage.add_price(rng.choice(symbols), str(Decimal(rng.randint(500, 1500)) / 10),
                              at=f"2024-01-{day:02d}T16:00")
        if day == 4:
            storage.record_split("AAA", "2:1", at="2024-01-05")
            held = {key: value * 2 if key[1] == "AAA" else value for key, value in held.items()}
        if day == 6:
            storage.add_price("EUR/USD", "1.2", at="2024-01-06T12:00")
            storage.record_dividend("BBB", "1.5", account="main", paid_at="2024-01-06T10:00")
    for account in (None, "main", "ira"):
        report = storage.performance(accounts=[account] if account else [], interval="day", until="2024-01-08")
        assert report.days
        for day in report.days:
            expected = storage.summary(account=account, as_of=day.day.isoformat()).total_value
            assert (day.day, day.value) == (day.day, expected), account


def test_events_at_the_moment_of_a_trade_keep_their_order(storage) -> None:
    """Events of one moment apply in kind order (docs/ledger.md §18.2): a split before the trade
    of its moment, a share transfer after it (so it is worth that trade's price)."""
    add_account(storage, "ira")
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-02T10:00")
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="120", executed_at="2024-01-03T10:00")
    storage.transfer_shares("AAPL", "2", from_account="main", to_account="ira", at="2024-01-03T10:00")
    storage.record_trade(side="buy", symbol="BBB", quantity="10", price="50", executed_at="2024-01-04T00:00")
    storage.record_split("BBB", "2:1", at="2024-01-04")  # from the start of its day: the trade is after it
    storage.add_price("BBB", "30", at="2024-01-04T16:00")
    ira = storage.performance(accounts=["ira"], interval="all", until="2024-01-04").total
    assert (ira.inflows, ira.end_value) == (D(240), D(240))
    days = storage.performance(interval="day", until="2024-01-04").days
    assert days[-1].value == D(11 * 120 + 10 * 30) == storage.summary(as_of="2024-01-04").total_value


def test_a_strategy_keeps_its_runs_across_transfers_and_renames(storage) -> None:
    add_account(storage, "ira")
    storage.add_strategy("alpha")
    storage.record_trade(side="buy", symbol="FB", quantity="10", price="100", executed_at="2024-01-02T10:00",
                         strategy="alpha")
    storage.record_trade(side="buy", symbol="XYZ", quantity="10", price="10", executed_at="2024-01-02T10:00")
    storage.transfer_shares("FB", "4", from_account="main", to_account="ira", at="2024-01-03T10:00")
    storage.rename_symbol("FB", "META", at="2024-01-05")
    storage.add_price("META", "120", at="2024-01-06T16:00")
    storage.record_dividend("META", "6", account="ira", paid_at="2024-01-06T17:00")
    report = storage.performance(strategy="alpha", interval="all", until="2024-01-06")
    total = report.total
    assert total is not None
    # 10 shares in two accounts, still alpha's after the transfer and the change of symbol
    assert (total.inflows, total.end_value, total.income, total.outflows) == (D(1000), D(1200), D(6), D(6))
    assert total.pnl == D(206) and total.twr == D("0.206")
    only_ira = storage.performance(strategy="alpha", accounts=["ira"], interval="all", until="2024-01-06").total
    # the 4 shares arrive in ira as an inflow at their value then (100 each)
    assert (only_ira.inflows, only_ira.end_value, only_ira.outflows) == (D(400), D(480), D(6))


@pytest.mark.parametrize("inside", [None, True, False])
@pytest.mark.parametrize("moved", [frozenset(), frozenset({"ZZZ"})])
def test_the_bars_and_trades_are_read_in_index_order_without_a_sort(
        migrated_sqlite_url: str, inside: bool | None, moved: frozenset[str]) -> None:
    """On SQLite the bar read walks ix_price_bars_timestamp_interval (migration 0010) and the
    trade read the executed_at index, with no sort of the whole table, also when a process
    reads only some symbols' rows (docs/ledger.md §18.8)."""
    import sqlite3

    from stocksbot.storage import streams

    part = streams.SymbolPart("MMM", moved, inside) if inside is not None else None
    where = part.sql("?") if part is not None else ""
    bars = streams._BARS.format(mark="?", concat=streams._CONCAT["sqlite"], part=where)
    trades = streams._TRADE_MOVES.format(mark="?", negated=streams._NEGATED["sqlite"], part=where)
    params = ("9999", *(part.parameters() if part is not None else ()))
    conn = sqlite3.connect(migrated_sqlite_url.removeprefix("sqlite:///"))
    try:
        for sql, index in ((bars, "ix_price_bars_timestamp_interval"), (trades, "ix_trades_executed_at")):
            plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert index in plan and "TEMP B-TREE" not in plan, plan
    finally:
        conn.close()


def test_a_symbol_part_reads_the_rows_it_says_it_has(migrated_sqlite_url: str) -> None:
    """`SymbolPart.has` and its SQL agree, for the part and for the rest (docs/ledger.md §18.8;
    the two-process pass is SQLite's only)."""
    from stocksbot import open_storage
    from stocksbot.storage import streams

    with open_storage(migrated_sqlite_url) as storage:
        _symbol_parts_agree(storage, streams)


def _symbol_parts_agree(storage: Any, streams: Any) -> None:

    symbols = ["AAA", "MMM", "MMZ", "EUR/USD", "ZZZ", "ZZ/A", "M-1", "N.X"]
    end = "9999-12-31 00:00:00.000000"  # the driver's form of a moment after everything
    for symbol in symbols:
        storage.record_trade(side="buy", symbol=symbol, quantity="1", price="1", executed_at="2024-01-02T10:00")
        storage.add_price(symbol, "1", at="2024-01-02T16:00")
    for inside in (True, False):
        part = streams.SymbolPart("MMM", frozenset({"ZZZ"}), inside)
        with storage.uow.reading() as conn:
            with streams.trade_rows(conn, end, full=False, part=part) as rows:
                traded = sorted(row[2] for row in rows)
            with streams.bar_rows(conn, end, part) as rows:
                priced = sorted(" ".join(row[1] for row in rows).split())
        expected = sorted(symbol for symbol in symbols if part.has(symbol))
        assert traded == priced == expected
        assert expected == (["MMM", "MMZ", "N.X"] if inside else ["AAA", "EUR/USD", "M-1", "ZZ/A", "ZZZ"])
