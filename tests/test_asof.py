"""`position list --as-of D` and `summary --as-of D` (docs/ledger.md §17), on SQLite and PostgreSQL.

The portfolio at the end of a past day: positions replayed from the trades (splits, transfers
and symbol changes of that moment), prices and rates of that moment (a trade price when no
bar), realized P&L and costs to then, cash and income to then; dates before any history,
future dates, and the refusals. A property test checks the replay from the last flat moment
against the booking store's full replay, and "as of today" against the stored positions.
"""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocksbot import settings as rules
from stocksbot.errors import StocksbotError
from stocksbot.services.asof import as_of_moment
from stocksbot.storage.booking import BookingStore
from stocksbot.storage.repositories import Repositories

D = Decimal
POSITION_KEYS = {"id", "symbol", "side", "quantity", "avg_entry_price", "realized_pnl", "market_price",
                 "market_value", "unrealized_pnl", "status", "opened_at", "closed_at", "strategy"}


def held(storage: Any, as_of: str, **options: Any) -> dict[str, tuple[Any, ...]]:
    return {p.symbol: (p.side, p.quantity, p.avg_entry_price, p.realized_pnl, p.market_price)
            for p in storage.list_positions(as_of=as_of, **options)}


def test_positions_at_the_end_of_past_days(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", commission="1",
                         executed_at="2024-01-10T15:00")
    storage.record_trade(side="sell", symbol="AAPL", quantity="4", price="120", executed_at="2024-02-10T15:00")
    storage.record_trade(side="sell", symbol="AAPL", quantity="6", price="90", executed_at="2024-03-10T15:00")
    storage.add_price("AAPL", "105", at="2024-01-31T21:00")
    storage.add_price("AAPL", "118", at="2024-02-11T12:00")  # the next day: not as of Feb 10
    assert held(storage, "2024-01-09") == {}
    assert held(storage, "2024-01-10") == {"AAPL": ("long", D(10), D("100.1"), D(0), D(100))}  # the trade's price
    assert held(storage, "2024-01-31") == {"AAPL": ("long", D(10), D("100.1"), D(0), D(105))}
    assert held(storage, "2024-02-10") == {"AAPL": ("long", D(6), D("100.1"), D("79.6"), D(105))}
    assert held(storage, "2024-02-10T14:00") == {"AAPL": ("long", D(10), D("100.1"), D(0), D(105))}
    assert held(storage, "2024-03-10") == {}
    (closed,) = storage.list_positions(as_of="2024-03-10", status="closed")
    assert (closed.status, closed.realized_pnl) == ("closed", D("19"))  # 79.6 + 6 x 90 - 600.6
    assert storage.list_positions(as_of="2024-02-10", status="closed") == []
    assert len(storage.list_positions(as_of="2024-03-10", status=None)) == 1
    (position,) = storage.list_positions(as_of="2024-02-10")
    assert POSITION_KEYS <= set(position.to_json())
    assert (position.status, position.closed_at, position.market_value, position.unrealized_pnl) == (
        "open", None, D(630), D("29.4"))  # 6 x 105 - 600.6
    assert position.id == storage.list_positions(status="closed")[0].id  # the stored run it was


def test_splits_transfers_and_symbol_changes_as_of_then(storage) -> None:
    storage.add_account("ira")
    storage.record_trade(side="buy", symbol="OLD", quantity="10", price="100", executed_at="2020-01-02T15:00")
    storage.record_split("OLD", "2:1", "2021-01-04")
    storage.transfer_shares("OLD", "8", from_account="main", to_account="ira", at="2021-06-01T15:00")
    storage.rename_symbol("OLD", "NEW", "2022-01-03")
    storage.record_trade(side="sell", symbol="NEW", quantity="12", price="60", executed_at="2023-03-01T15:00")

    def quantities(as_of: str) -> dict[tuple[str, str], Decimal]:
        return {(p.account, p.symbol): p.quantity for p in storage.list_positions(as_of=as_of)}

    assert quantities("2021-01-01") == {("main", "OLD"): D(10)}
    assert quantities("2021-01-04") == {("main", "OLD"): D(20)}
    assert quantities("2021-06-01") == {("main", "OLD"): D(12), ("ira", "OLD"): D(8)}
    assert quantities("2022-01-03") == {("main", "NEW"): D(12), ("ira", "NEW"): D(8)}
    assert quantities("2023-03-01") == {("ira", "NEW"): D(8)}
    assert quantities("2021-06-01") == {("main", "OLD"): D(12), ("ira", "OLD"): D(8)}
    assert [p.account for p in storage.list_positions(as_of="2022-06-30", account="ira")] == ["ira"]


def test_summary_as_of_a_date(storage) -> None:
    storage.config_set("reporting.currency", "USD")
    storage.set_symbol("SAP", currency="EUR")
    storage.deposit("5000", at="2024-01-02")
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", commission="1",
                         executed_at="2024-01-10T15:00")
    storage.record_trade(side="sell", symbol="AAPL", quantity="10", price="110", commission="1",
                         executed_at="2024-02-10T15:00")
    storage.record_trade(side="buy", symbol="SAP", quantity="5", price="200", executed_at="2024-02-12T15:00")
    storage.add_price("EUR/USD", "1.1", at="2024-02-01")
    storage.add_price("EUR/USD", "1.2", at="2024-03-01")
    storage.add_price("SAP", "210", at="2024-02-20")
    storage.record_cash("interest", "10", at="2024-02-25")
    storage.withdraw("100", at="2024-03-05")
    summary = storage.summary(as_of="2024-02-29")
    # Realized 1100 - 1 - 1001 = 98; costs 2; SAP 5 x 210 EUR at 1.1 = 1155 USD; cost 1000 EUR = 1100 USD.
    assert (summary.total.open_positions, summary.total.realized_pnl, summary.total.costs) == (1, D(98), D(2))
    assert (summary.total.market_value, summary.total.cost, summary.total.unrealized_pnl) == (
        D("1155.0"), D("1100.0"), D("55.0"))
    assert summary.cash == {"USD": D(5108)}  # the EUR buy was funded by an implicit deposit: 0 EUR
    assert summary.income == D(10)
    assert summary.total_value == D("6263.0")
    assert summary.as_of == as_of_moment("2024-02-29")
    data = summary.to_json()
    assert data["as_of"] == summary.as_of and data["trade_priced"] == []
    later = storage.summary(as_of="2024-03-31")
    assert later.cash["USD"] == D(5008) and later.total.market_value == D("1260.0")  # rate 1.2
    before = storage.summary(as_of="2023-12-31")
    assert (before.total.open_positions, before.total.realized_pnl, before.cash, before.by_account) == (0, D(0), {}, [])
    mid = storage.summary(as_of="2024-01-31")
    assert (mid.total.realized_pnl, mid.total.costs, mid.cash) == (D(0), D(1), {"USD": D(3999)})


def test_the_command_line_and_its_refusals(run, data) -> None:
    assert run("trade", "add", "buy", "AAPL", "10", "--price", "100", "--at", "2024-01-10T15:00").exit_code == 0
    assert run("trade", "add", "sell", "AAPL", "10", "--price", "110", "--at", "2024-05-10T15:00").exit_code == 0
    (position,) = data("position", "list", "--as-of", "2024-03-01")
    assert (position["quantity"], position["market_price"], position["status"]) == ("10", "100", "open")
    assert data("position", "list", "--as-of", "2024-06-01") == []
    assert len(data("position", "list", "--as-of", "2024-06-01", "--all")) == 1
    summary = data("summary", "--as-of", "2024-03-01")
    assert (summary["open_positions"], summary["trade_priced"]) == (1, ["AAPL"])
    table = run("summary", "--as-of", "2024-03-01")
    assert table.exit_code == 0 and "as of 2024-03-01 23:59:59" in table.output
    empty = run("position", "list", "--as-of", "2000-01-01")
    assert empty.exit_code == 0
    future = run("position", "list", "--as-of", (date.today() + timedelta(days=2)).isoformat())
    assert future.exit_code == 1 and "is in the future" in future.output
    malformed = run("summary", "--as-of", "yesterday")
    assert malformed.exit_code == 1 and "invalid --as-of 'yesterday'" in malformed.output
    unknown = run("summary", "--as-of", "2024-03-01", "--account", "nope")
    assert unknown.exit_code == 1 and "unknown account 'nope'" in unknown.output


def test_as_of_moments() -> None:
    end = as_of_moment("2024-02-29")
    assert end.astimezone().date() == date(2024, 2, 29)
    assert (end + timedelta(microseconds=1)).astimezone().time() == datetime.min.time()
    assert as_of_moment("2024-02-29T12:00Z") == datetime(2024, 2, 29, 12, tzinfo=timezone.utc)
    with pytest.raises(StocksbotError, match="in the future"):
        as_of_moment("2024-03-02", now=datetime(2024, 2, 29, 12, tzinfo=timezone.utc))
    with pytest.raises(StocksbotError, match="invalid --as-of"):
        as_of_moment("2024-02-30")


# -- property: the windowed replay equals the full replay, and today equals what is stored ------------------------

_symbols = (f"Q{n}" for n in itertools.count())
START = datetime(2021, 11, 1, 15, tzinfo=timezone.utc)
steps = st.lists(
    st.tuples(st.sampled_from(["buy", "sell", "sell", "split"]), st.integers(1, 40), st.integers(50, 150),
              st.integers(0, 3), st.integers(0, 60), st.sampled_from(["main", "ira"])),
    min_size=1, max_size=14,
)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fifo", "average"])
def test_property_as_of_equals_the_full_replay(sqlite_storage: Any, method: str) -> None:
    storage = sqlite_storage
    storage.add_account("ira")
    storage.config_set("accounting.cost_basis", method)

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(history=steps, probes=st.lists(st.integers(0, 800), min_size=1, max_size=4))
    def check(history: list[tuple[str, int, int, int, int, str]], probes: list[int]) -> None:
        symbol = next(_symbols)
        at = START
        split_days: set[str] = set()
        for side, quantity, price, commission, days, account in history:
            at += timedelta(days=days)  # 0 days: two trades at one moment (a flip chain)
            if side == "split":
                day = (at + timedelta(days=1)).date().isoformat()
                if day not in split_days:  # one split a day
                    split_days.add(day)
                    storage.record_split(symbol, "3:2" if quantity % 2 else "2:1", day)
                continue
            storage.record_trade(side=side, symbol=symbol, quantity=D(quantity) / 10, price=D(price),
                                 commission=D(commission), executed_at=at, allow_short=True, account=account)
        with storage.reading() as conn:
            repos = Repositories(conn)
            ids = {name: repos.accounts.require(name).id for name in ("main", "ira")}
            method_now = rules.known_value("accounting.cost_basis", repos.config.text("accounting.cost_basis"))
            store = BookingStore(conn, str(method_now))
            for offset in probes:
                moment = as_of_moment((START + timedelta(days=offset)).astimezone().date().isoformat())
                found = {p.account: p.quantity if p.side == "long" else -p.quantity
                         for p in storage.list_positions(as_of=moment) if p.symbol == symbol}
                for name, account_id in ids.items():
                    expected = store.holding_at(account_id, symbol, moment, through=True)
                    assert found.get(name, D(0)) == expected, (name, moment)
        today = {(p.account, p.id): (p.quantity, p.avg_entry_price, p.realized_pnl, p.open_cost)
                 for p in storage.list_positions(as_of=datetime.now(timezone.utc)) if p.symbol == symbol}
        stored = {(p.account, p.id): (p.quantity, p.avg_entry_price, p.realized_pnl, p.open_cost)
                  for p in storage.list_positions() if p.symbol == symbol}
        assert today == stored

    check()


@pytest.fixture
def sqlite_storage(migrated_sqlite_url: str) -> Any:
    from stocksbot import open_storage

    with open_storage(migrated_sqlite_url) as service:
        yield service


def test_json_of_position_list_as_of_is_an_array(data, run) -> None:
    assert run("trade", "add", "buy", "MSFT", "1", "--price", "300", "--at", "2024-01-10T15:00").exit_code == 0
    found = data("position", "list", "--as-of", "2024-01-10T15:00Z")
    assert isinstance(found, list) and found[0]["symbol"] == "MSFT"
    assert json.dumps(found)
