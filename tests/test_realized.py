"""`report realized` / `storage.realized` (docs/ledger.md §17), on SQLite and PostgreSQL.

Closed lot portions with their acquisition and sale, proceeds and cost (costs included, the
cost-basis method's matching), long and short, across splits, share transfers and symbol
changes; totals per term and year; refusals. The property tests check that the gains of a
symbol's portions add up to its realized P&L and that a year's report (replayed from the
last flat moment before the year) equals the whole history's portions sold that year.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocksbot.errors import StocksbotError
from stocksbot.ledger.numbers import add

D = Decimal
ROW_KEYS = {"account", "symbol", "acquired_at", "sold_at", "quantity", "proceeds", "cost", "gain", "days_held",
            "term"}


def gains_by_symbol(rows: Any) -> dict[str, Decimal]:
    found: dict[str, Decimal] = defaultdict(lambda: D(0))
    for row in rows:
        found[row.symbol] = add(found[row.symbol], row.gain)
    return dict(found)


def realized_by_symbol(storage: Any) -> dict[str, Decimal]:
    found: dict[str, Decimal] = defaultdict(lambda: D(0))
    for position in storage.list_positions(status=None):
        found[position.symbol] = add(found[position.symbol], position.realized_pnl)
    return {symbol: value for symbol, value in found.items() if value or symbol in found}


def test_long_lots_fifo_with_costs_terms_and_totals(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", commission="1",
                         executed_at="2023-01-10T15:00")
    storage.record_trade(side="buy", symbol="AAPL", quantity="5", price="110", executed_at="2023-06-10T15:00")
    storage.record_trade(side="sell", symbol="AAPL", quantity="12", price="120", commission="3",
                         executed_at="2024-02-10T15:00")
    report = storage.realized()
    first, second = report.rows
    assert ROW_KEYS <= set(first.to_json())
    # The sale's 3 of costs split 10:2 (§4.4): 2.5 and 0.5; the first lot's cost includes its commission.
    assert (first.quantity, first.proceeds, first.cost, first.gain) == (D(10), D("1197.5"), D("1001"), D("196.5"))
    assert (second.quantity, second.proceeds, second.cost, second.gain) == (D(2), D("239.5"), D("220"), D("19.5"))
    assert (first.days_held, first.term, second.days_held, second.term) == (396, "long", 245, "short")
    assert (first.side, first.currency, first.opening_trade_id, first.closing_trade_id) == ("long", "USD", 1, 3)
    assert first.acquired_at == datetime(2023, 1, 10, 15).astimezone(timezone.utc)
    assert add(first.gain, second.gain) == storage.list_trades()[-1].realized_pnl == D("216")
    totals = {(t.year, t.term): (t.portions, t.proceeds, t.cost, t.gain) for t in report.totals}
    assert totals == {
        (2024, "short"): (1, D("239.5"), D("220"), D("19.5")), (2024, "long"): (1, D("1197.5"), D("1001"), D("196.5")),
        (None, "short"): (1, D("239.5"), D("220"), D("19.5")), (None, "long"): (1, D("1197.5"), D("1001"), D("196.5")),
    }
    year = storage.realized(year=2024)
    assert year.rows == report.rows and {t.year for t in year.totals} == {2024}
    assert storage.realized(year=2023).rows == [] and storage.realized(year=2023).totals == []


def test_lifo_and_average_match_like_booking(storage) -> None:
    storage.config_set("accounting.cost_basis", "lifo")
    storage.record_trade(side="buy", symbol="X", quantity="4", price="149.50", commission="1",
                         executed_at="2024-01-02T15:00")
    storage.record_trade(side="buy", symbol="X", quantity="6", price="150", executed_at="2024-01-03T15:00")
    storage.record_trade(side="sell", symbol="X", quantity="4", price="160", executed_at="2024-01-04T15:00")
    (row,) = storage.realized().rows
    assert (row.cost, row.gain, row.acquired_at.day) == (D("600"), D("40"), 3)  # docs/ledger.md §4.7, example 1
    storage.config_set("accounting.cost_basis", "average")
    (row,) = storage.realized().rows
    assert (row.cost, row.gain, row.acquired_at.day) == (D("599.6"), D("40.4"), 2)  # the pool keeps its first date


def test_a_short_is_acquired_at_the_short_sale_and_sold_at_the_cover(storage) -> None:
    storage.record_trade(side="sell", symbol="TSLA", quantity="10", price="50", commission="1", allow_short=True,
                         executed_at="2024-03-01T15:00")
    storage.record_trade(side="buy", symbol="TSLA", quantity="4", price="45", commission="1",
                         executed_at="2024-03-05T15:00")
    (row,) = storage.realized().rows
    # §4.7 example 4: lot share 499 x 4 / 10 = 199.6 are the proceeds; the cover costs 4 x 45 + 1.
    assert (row.side, row.quantity, row.proceeds, row.cost, row.gain) == ("short", D(4), D("199.6"), D("181"),
                                                                          D("18.6"))
    assert (row.acquired_at.day, row.sold_at.day, row.days_held, row.term) == (1, 5, 4, "short")


def test_splits_transfers_and_symbol_changes_keep_the_acquisition(storage) -> None:
    storage.add_account("ira")
    storage.record_trade(side="buy", symbol="OLD", quantity="10", price="100", executed_at="2020-01-02T15:00")
    storage.record_split("OLD", "2:1", "2021-01-04")
    storage.transfer_shares("OLD", "8", from_account="main", to_account="ira", at="2021-06-01T15:00")
    storage.rename_symbol("OLD", "NEW", "2022-01-03")
    storage.record_trade(side="sell", symbol="NEW", quantity="8", price="70", executed_at="2022-03-01T15:00",
                         account="ira")
    storage.record_trade(side="sell", symbol="NEW", quantity="12", price="60", executed_at="2023-03-01T15:00")
    rows = storage.realized().rows
    assert [(r.account, r.symbol, r.quantity, r.cost, r.proceeds, r.term) for r in rows] == [
        ("ira", "NEW", D(8), D(400), D(560), "long"), ("main", "NEW", D(12), D(600), D(720), "long")]
    assert all(r.acquired_at == datetime(2020, 1, 2, 15).astimezone(timezone.utc) for r in rows)
    assert [r.account for r in storage.realized(account="ira").rows] == ["ira"]
    assert [r.quantity for r in storage.realized(year=2023).rows] == [D(12)]
    assert gains_by_symbol(rows) == {"NEW": D(280)}


def test_the_command_line_and_its_refusals(run, data) -> None:
    assert run("trade", "add", "buy", "AAPL", "10", "--price", "100", "--at", "2023-01-10T15:00").exit_code == 0
    assert run("trade", "add", "sell", "AAPL", "4", "--price", "130", "--at", "2024-02-10T15:00").exit_code == 0
    report = data("report", "realized", "--year", "2024")
    (row,) = report["rows"]
    assert ROW_KEYS <= set(row)
    assert (row["quantity"], row["proceeds"], row["cost"], row["gain"], row["days_held"], row["term"]) == (
        "4", "520", "400", "120", 396, "long")
    assert report["totals"] == [{"year": 2024, "term": "long", "currency": "USD", "portions": 1, "proceeds": "520",
                                 "cost": "400", "gain": "120"}]
    table = run("report", "realized")
    assert table.exit_code == 0 and "AAPL" in table.output and "totals per term" in table.output
    empty = run("--json", "report", "realized", "--year", "2019")
    assert empty.exit_code == 0 and json.loads(empty.output)["rows"] == []
    unknown = run("report", "realized", "--account", "nope")
    assert unknown.exit_code == 1 and "unknown account 'nope'" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
    bad = run("report", "realized", "--year", "0")
    assert bad.exit_code == 1 and "--year must be a year" in bad.output
    assert "This is not tax advice" in " ".join(run("report", "realized", "--help").output.split())


def test_unknown_account_in_the_api(storage) -> None:
    with pytest.raises(StocksbotError, match="unknown account"):
        storage.realized(account="nope")


# -- properties ---------------------------------------------------------------------------------------------------

_symbols = (f"P{n}" for n in itertools.count())
START = datetime(2021, 11, 1, 15, tzinfo=timezone.utc)
steps = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell", "split"]),
        st.integers(1, 40),                   # quantity (tenths)
        st.integers(50, 150),                 # price
        st.integers(0, 3),                    # commission
        st.integers(1, 120),                  # days after the previous step
        st.sampled_from(["main", "main", "ira"]),
    ),
    min_size=1, max_size=14,
)


def _record(storage: Any, symbol: str, history: list[tuple[str, int, int, int, int, str]]) -> None:
    at = START
    for side, quantity, price, commission, days, account in history:
        at += timedelta(days=days)
        if side == "split":
            storage.record_split(symbol, "3:2" if quantity % 2 else "2:1", at.date().isoformat())
            continue
        storage.record_trade(side=side, symbol=symbol, quantity=D(quantity) / 10, price=D(price),
                             commission=D(commission), executed_at=at, allow_short=True, account=account)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
def test_property_gains_add_up_to_realized_pnl_and_years_agree(sqlite_storage: Any, method: str) -> None:
    storage = sqlite_storage
    storage.add_account("ira")
    storage.config_set("accounting.cost_basis", method)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(history=steps)
    def check(history: list[tuple[str, int, int, int, int, str]]) -> None:
        symbol = next(_symbols)
        _record(storage, symbol, history)
        rows = [row for row in storage.realized().rows if row.symbol == symbol]
        realized = D(0)
        for position in storage.list_positions(status=None):
            if position.symbol == symbol:
                realized = add(realized, position.realized_pnl)
        assert add(*(row.gain for row in rows)) == realized
        for row in rows:
            assert row.gain == row.proceeds - row.cost
            assert row.term == ("short" if row.days_held <= 365 else "long")
        for year in sorted({row.sold_at.astimezone().year for row in rows}):
            expected = [row for row in rows if row.sold_at.astimezone().year == year]
            assert [row for row in storage.realized(year=year).rows if row.symbol == symbol] == expected
        for account in ("main", "ira"):
            assert [r for r in storage.realized(account=account).rows if r.symbol == symbol] == [
                row for row in rows if row.account == account]

    check()


@pytest.fixture
def sqlite_storage(migrated_sqlite_url: str) -> Any:
    from stocksbot import open_storage

    with open_storage(migrated_sqlite_url) as service:
        yield service


@pytest.mark.parametrize("zone", ["America/St_Johns", "Europe/Berlin", "Asia/Kolkata", "UTC"])
def test_local_time_equals_astimezone_across_offset_changes(monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    import time

    from stocksbot.ledger.realized import local_time

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        start = datetime(2024, 3, 1, tzinfo=timezone.utc)
        for step in range(0, 300 * 24 * 4, 29):  # every 7 h 15 min (and 13 s) over 300 days: both DST changes
            moment = start + timedelta(minutes=15 * step, seconds=13)
            assert local_time(moment) == moment.astimezone().replace(tzinfo=None), moment
    finally:
        monkeypatch.undo()
        time.tzset()
