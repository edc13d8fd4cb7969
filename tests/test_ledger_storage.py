"""The ledger through the storage service, on SQLite and PostgreSQL.

Worked examples by hand, rebuild == incremental over generated histories, back-dated
trades, the cost-basis switch, and several processes writing one symbol at once.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocksbot.errors import StocksbotError
from stocksbot.storage.checks import ledger_snapshot

D = Decimal


def snapshot(storage: Any) -> dict[str, Any]:
    """Everything the booking derives: positions (without ids), lots, per-trade realized P&L."""
    with storage.reading() as conn:
        return ledger_snapshot(conn)


def test_worked_example_fifo(storage) -> None:
    buy = dict(side="buy", symbol="AAPL")
    storage.record_trade(**buy, quantity="4", price="149.50", commission="1.00", executed_at="2024-01-02T15:00:00Z")
    storage.record_trade(**buy, quantity="6", price="150", executed_at="2024-01-03T15:00:00Z")
    first = storage.record_trade(side="sell", symbol="AAPL", quantity="4", price="160", executed_at="2024-01-04T15:00:00Z")
    second = storage.record_trade(side="sell", symbol="AAPL", quantity="2", price="140", executed_at="2024-01-05T15:00:00Z")
    assert (first.realized_pnl, second.realized_pnl) == (D("41"), D("-20"))
    (position,) = storage.list_positions()
    assert (position.quantity, position.avg_entry_price, position.realized_pnl, position.open_cost) == (
        D("4"), D("150"), D("21"), D("600"),
    )


def test_cost_basis_switch_rebooks_history(storage) -> None:
    for qty, price, day in (("4", "149.50", 2), ("6", "150", 3)):
        storage.record_trade(side="buy", symbol="AAPL", quantity=qty, price=price,
                             commission="1.00" if qty == "4" else "0", executed_at=f"2024-01-0{day}T15:00Z")
    storage.record_trade(side="sell", symbol="AAPL", quantity="4", price="160", executed_at="2024-01-04T15:00Z")
    storage.record_trade(side="sell", symbol="AAPL", quantity="2", price="140", executed_at="2024-01-05T15:00Z")
    storage.config_set("accounting.cost_basis", "lifo")
    assert [t.realized_pnl for t in storage.list_trades()] == [None, None, D("40"), D("-20")]
    storage.config_set("accounting.cost_basis", "average")
    assert [t.realized_pnl for t in storage.list_trades()] == [None, None, D("40.4"), D("-19.8")]
    (position,) = storage.list_positions()
    assert position.avg_entry_price == D("149.9")


def test_flat_to_flat_is_one_position(storage) -> None:
    storage.record_trade(side="buy", symbol="MSFT", quantity="10", price="100", executed_at="2024-01-01")
    storage.record_trade(side="sell", symbol="MSFT", quantity="4", price="110", executed_at="2024-01-02")
    storage.record_trade(side="sell", symbol="MSFT", quantity="6", price="90", executed_at="2024-01-03")
    storage.record_trade(side="buy", symbol="MSFT", quantity="1", price="95", executed_at="2024-01-04")
    closed, = storage.list_positions(status="closed")
    current, = storage.list_positions()
    assert (closed.realized_pnl, closed.quantity, closed.closed_at.day) == (D("-20"), D("0"), 3)
    assert (current.quantity, current.realized_pnl, current.opened_at.day) == (D("1"), D("0"), 4)


def test_back_dated_trade_rebooks_the_symbol_in_time_order(storage) -> None:
    storage.record_trade(side="buy", symbol="NVDA", quantity="10", price="100", executed_at="2024-01-03")
    sale = storage.record_trade(side="sell", symbol="NVDA", quantity="5", price="110", executed_at="2024-01-05")
    assert sale.realized_pnl == D("50")
    storage.record_trade(side="buy", symbol="NVDA", quantity="10", price="90", executed_at="2024-01-01")
    trades = {t.id: t for t in storage.list_trades()}
    assert trades[sale.id].realized_pnl == D("100")  # FIFO now closes the older, cheaper lot
    (position,) = storage.list_positions()
    assert (position.quantity, position.open_cost, position.opened_at.day) == (D("15"), D("1450"), 1)
    assert storage.show_position("NVDA").lots[0].quantity == D("5")


def test_back_dated_sell_that_would_short_the_past_is_refused(storage) -> None:
    storage.record_trade(side="buy", symbol="NVDA", quantity="10", price="100", executed_at="2024-01-03")
    before = snapshot(storage)
    with pytest.raises(StocksbotError, match="cannot sell 5 NVDA: long position is 0"):
        storage.record_trade(side="sell", symbol="NVDA", quantity="5", price="110", executed_at="2024-01-01")
    assert snapshot(storage) == before


def test_oversell_refused_and_allow_short_flips(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="100", price="10", executed_at="2024-01-01")
    before = snapshot(storage)
    with pytest.raises(StocksbotError, match=r"^cannot sell 150 AAPL: long position is 100 \(use --allow-short to sell short\)$"):
        storage.record_trade(side="sell", symbol="AAPL", quantity="150", price="12", executed_at="2024-01-02")
    assert snapshot(storage) == before
    flip = storage.record_trade(side="sell", symbol="AAPL", quantity="150", price="12", executed_at="2024-01-02",
                                allow_short=True)
    assert flip.realized_pnl == D("200")
    short, = storage.list_positions()
    assert (short.side, short.quantity, short.avg_entry_price) == ("short", D("50"), D("12"))
    storage.config_set("trading.allow_short", "true")
    storage.record_trade(side="sell", symbol="AAPL", quantity="10", price="11", executed_at="2024-01-03")
    assert storage.list_positions()[0].quantity == D("60")


def test_extreme_values_stay_exact(storage) -> None:
    storage.record_trade(side="buy", symbol="TINY", quantity="0.0000000001", price="123456789012345678.5")
    for _ in range(3):
        storage.record_trade(side="buy", symbol="DIME", quantity="1", price="0.1")
    positions = {p.symbol: p for p in storage.list_positions()}
    assert positions["TINY"].avg_entry_price == D("123456789012345678.5")
    assert positions["TINY"].open_cost == D("12345678.90123456785")
    assert positions["DIME"].open_cost == D("0.3") and positions["DIME"].avg_entry_price == D("0.1")


def test_position_add_and_close(storage) -> None:
    storage.add_position("ETH-USD", "2", "3000", commission="1")
    with pytest.raises(StocksbotError, match=r"cannot add a short position in ETH-USD: it is long 2 \(close it first\)"):
        storage.add_position("ETH-USD", "1", "3000", short=True)
    with pytest.raises(StocksbotError, match="cannot close 3 ETH-USD: the long position is 2"):
        storage.close_position("ETH-USD", "3100", quantity="3")
    storage.close_position("ETH-USD", "3100", quantity="0.5")
    trade = storage.close_position("ETH-USD", "3200", commission="1")
    assert trade.side == "sell" and trade.quantity == D("1.5")
    assert storage.list_positions() == []
    closed, = storage.list_positions(status="closed")
    assert closed.realized_pnl == D("0.5") * 100 - D("0.25") + D("1.5") * 200 - D("0.75") - 1
    with pytest.raises(StocksbotError, match="no open position in ETH-USD"):
        storage.close_position("ETH-USD", "1")
    storage.add_position("EUR/USD", "1000", "1.1", short=True)
    assert storage.list_positions()[0].side == "short"


def test_order_fills_update_the_order_and_the_position(storage) -> None:
    order = storage.add_order(side="buy", symbol="TSLA", quantity="10", order_type="limit", limit_price="200")
    with pytest.raises(StocksbotError, match="pending"):
        storage.fill_order(order.id, "1", "199")
    storage.change_order_status(order.id, "submitted")
    storage.fill_order(order.id, "4", "199")
    assert storage.get_order(order.id).status == "partially_filled"
    with pytest.raises(StocksbotError, match="exceeds the order's remaining quantity 6"):
        storage.fill_order(order.id, "7", "199")
    storage.fill_order(order.id, "6", "200.5", force=True)  # above the limit 200 (docs/ledger.md §7.4)
    filled = storage.get_order(order.id)
    assert (filled.status, filled.filled_quantity, filled.avg_fill_price) == ("filled", D("10"), D("199.9"))
    assert storage.list_positions()[0].quantity == D("10")
    with pytest.raises(StocksbotError, match="from filled to cancelled"):
        storage.change_order_status(order.id, "cancelled")
    with pytest.raises(StocksbotError, match="does not match order"):
        storage.record_trade(side="sell", symbol="TSLA", quantity="1", price="1", order_id=order.id)


def test_strategy_metrics_and_removal(storage) -> None:
    storage.add_strategy("momo", description="momentum", params={"lookback": 20})
    storage.record_trade(side="buy", symbol="A", quantity="2", price="10", strategy="momo", executed_at="2024-01-01")
    storage.record_trade(side="sell", symbol="A", quantity="1", price="12", strategy="momo", commission="0.1",
                         executed_at="2024-01-02")
    storage.record_trade(side="sell", symbol="A", quantity="1", price="9", strategy="momo", fees="0.05",
                         executed_at="2024-01-03")
    storage.record_trade(side="buy", symbol="B", quantity="1", price="5", strategy="momo")
    record = storage.get_strategy("momo")
    assert (record.trades, record.closing_trades, record.win_rate, record.open_positions) == (4, 2, D("0.5"), 1)
    assert (record.realized_pnl, record.costs) == (D("0.85"), D("0.15"))
    with pytest.raises(StocksbotError, match="has 4 trades and cannot be removed"):
        storage.remove_strategy("momo")
    storage.set_strategy_enabled("momo", False)
    assert storage.set_strategy_params("momo", {"x": [1]}).params == {"lookback": 20, "x": [1]}
    storage.add_strategy("idle")
    storage.remove_strategy("idle")
    assert [s.name for s in storage.list_strategies()] == ["momo"]


def test_duplicate_external_id_is_refused(storage) -> None:
    storage.record_trade(side="buy", symbol="A", quantity="1", price="1", external_id="broker-1")
    with pytest.raises(StocksbotError, match="external id 'broker-1' already exists"):
        storage.record_trade(side="buy", symbol="A", quantity="1", price="1", external_id="broker-1")
    assert len(storage.list_trades()) == 1


_symbols = itertools.count()
_fill = st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.integers(min_value=1, max_value=40),  # quantity in tenths
    st.integers(min_value=1, max_value=5000),  # price in cents
    st.integers(min_value=0, max_value=300),  # commission in cents
    st.integers(min_value=0, max_value=3),  # days after the previous fill (0: same time)
)


@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fills=st.lists(_fill, min_size=1, max_size=12), backdate=st.integers(min_value=0, max_value=11))
def test_rebuild_equals_incremental(storage, method: str, fills: list[tuple[str, int, int, int, int]],
                                    backdate: int) -> None:
    """Any history booked trade by trade, one of them back-dated, equals a rebuild from scratch."""
    if storage.setting("accounting.cost_basis") != method:
        storage.config_set("accounting.cost_basis", method)
    symbol = f"S{next(_symbols)}"  # a fresh symbol per example: examples share the database
    day = 0
    for index, (side, tenths, cents, commission, gap) in enumerate(fills):
        day += gap
        when = f"2024-0{1 + (day // 28) % 9}-{1 + day % 28:02d}T12:00:00Z"
        if index == backdate:
            when = "2023-12-01T12:00:00Z"
        storage.record_trade(side=side, symbol=symbol, quantity=D(tenths) / 10, price=D(cents) / 100,
                             commission=D(commission) / 100, executed_at=when, allow_short=True)
    incremental = snapshot(storage)
    storage.rebuild_positions()
    assert snapshot(storage) == incremental
    # positions carry every trade's realized P&L and costs, exactly
    trades = storage.list_trades()
    total = storage.summary().total
    assert total.realized_pnl == sum((t.realized_pnl or 0 for t in trades), D(0))
    assert total.costs == sum((t.commission + t.fees for t in trades), D(0))


WRITER = textwrap.dedent(
    """
    import sys
    from stocksbot import open_storage
    url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open_storage(url) as storage:
        for i in range(count):
            storage.record_trade(side="buy", symbol="RACE", quantity="1", price="10.01", external_id=f"{worker}-{i}")
    """
)


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(storage, migrated_url: str) -> None:
    workers, each = 4, 15
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, migrated_url, str(w), str(each)], stderr=subprocess.PIPE, text=True)
        for w in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    (position,) = storage.list_positions()
    assert position.quantity == D(workers * each)
    assert position.open_cost == D("10.01") * workers * each
    assert len(storage.list_trades()) == workers * each
    before = snapshot(storage)
    storage.rebuild_positions()
    assert snapshot(storage) == before


def test_check_is_clean_then_names_each_discrepancy(storage) -> None:
    from sqlalchemy import update

    from stocksbot.storage.tables import orders, positions, trades

    storage.record_trade(side="buy", symbol="A", quantity="3", price="10", executed_at="2024-01-01")
    storage.record_trade(side="sell", symbol="A", quantity="1", price="12", executed_at="2024-01-02")
    order = storage.add_order(side="buy", symbol="B", quantity="5")
    storage.change_order_status(order.id, "submitted")
    storage.fill_order(order.id, "2", "7")
    assert storage.check() == []
    with storage.transaction() as conn:  # corrupt the projection behind the ledger's back
        conn.execute(update(positions).where(positions.c.symbol == "A").values(quantity=D("5")))
        conn.execute(update(trades).where(trades.c.side == "sell").values(realized_pnl=D("1")))
        conn.execute(update(orders).values(filled_quantity=D("3")))
    findings = storage.check()
    assert f"order {order.id}: filled quantity 3 but its fills add up to 2" in findings
    assert any(f.startswith("stored position not produced by a rebuild: A, open") for f in findings)
    assert any(f.startswith("stored trade realized P&L not produced by a rebuild:") and f.endswith(", 1") for f in findings)
    assert storage.check() == findings  # checking changed nothing


def test_sql_sums_of_tenths_are_exact_in_strategy_metrics(storage) -> None:
    storage.add_strategy("tenths")
    for day in range(1, 4):
        storage.record_trade(side="buy", symbol="T", quantity="1", price="1", strategy="tenths",
                             executed_at=f"2024-01-0{day}T10:00Z")
        storage.record_trade(side="sell", symbol="T", quantity="1", price="1.2", strategy="tenths",
                             commission="0.1", executed_at=f"2024-01-0{day}T11:00Z")
    record = storage.get_strategy("tenths")
    assert (record.realized_pnl, record.costs, record.closing_trades) == (D("0.3"), D("0.3"), 3)
    storage.config_set("accounting.cost_basis", "lifo")
    assert storage.get_strategy("tenths").costs == D("0.3")


def test_check_reports_wrong_closed_run_totals_and_rebuild_repairs_them(storage) -> None:
    from sqlalchemy import update

    from stocksbot.storage.tables import closed_run_totals

    storage.add_strategy("s")
    storage.record_trade(side="buy", symbol="A", quantity="2", price="10", strategy="s", executed_at="2024-01-01")
    storage.record_trade(side="sell", symbol="A", quantity="2", price="12", commission="0.5", executed_at="2024-01-02")
    storage.record_trade(side="buy", symbol="B", quantity="1", price="5", executed_at="2024-01-01")
    storage.record_trade(side="sell", symbol="B", quantity="1", price="4", executed_at="2024-01-03")
    assert storage.check() == []
    summary = {line.strategy: (line.realized_pnl, line.costs) for line in storage.summary().by_strategy}
    assert summary == {"s": (D("3.5"), D("0.5")), None: (D("-1"), D("0"))}
    with storage.transaction() as conn:
        conn.execute(update(closed_run_totals).values(realized_pnl=D("99")))
    findings = storage.check()
    assert any(f.startswith("stored closed-run total (strategy key, runs, realized P&L, costs) not produced")
               and ", 99, " in f for f in findings)
    storage.rebuild_positions()
    assert storage.check() == []
    assert storage.summary().total.realized_pnl == D("2.5")


CLOSER = textwrap.dedent(
    """
    import sys
    from stocksbot import open_storage
    url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open_storage(url) as storage:
        for i in range(count):
            storage.record_trade(side="buy", symbol=f"W{worker}", quantity="1", price="10", strategy="race")
            storage.record_trade(side="sell", symbol=f"W{worker}", quantity="1", price="10.1", strategy="race",
                                 commission="0.01")
    """
)


@pytest.mark.slow
def test_concurrent_writers_closing_runs_keep_exact_totals(storage, migrated_url: str) -> None:
    """Writers of different symbols (not serialised by the per-symbol lock) close runs of one
    strategy at once: the running totals must lose no update."""
    storage.add_strategy("race")
    workers, each = 4, 10
    procs = [
        subprocess.Popen([sys.executable, "-c", CLOSER, migrated_url, str(w), str(each)], stderr=subprocess.PIPE, text=True)
        for w in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    (line,) = storage.summary().by_strategy
    assert (line.strategy, line.realized_pnl, line.costs) == ("race", D("0.09") * workers * each, D("0.01") * workers * each)
    assert storage.check() == []


def test_rebuild_reads_trades_exactly_as_sqlalchemy_does(storage) -> None:
    """symbol_trades converts driver values with the conversion table; it must equal the typed Core read."""
    from sqlalchemy import select

    from stocksbot.storage.booking import symbol_trades
    from stocksbot.storage.tables import trades

    columns = ("id", "side", "quantity", "price", "commission", "fees", "executed_at", "strategy_id", "realized_pnl",
               "account_id")
    typed_query = select(*(trades.c[name] for name in columns)).where(trades.c.symbol == "RT").order_by(
        trades.c.executed_at, trades.c.id)

    storage.record_trade(side="buy", symbol="RT", quantity="123456789012345678.5", price="0.0000000001",
                         commission="1.10", executed_at="2024-01-02T09:30:00.000001-05:00")
    storage.record_trade(side="sell", symbol="RT", quantity="0.5", price="100", fees="0.01", executed_at="2024-01-03")
    with storage.reading() as conn:
        typed = [tuple(row) for row in conn.execute(typed_query)]
        fast = list(symbol_trades(conn, "RT"))
    assert fast == typed
    assert [tuple(map(repr, row)) for row in fast] == [tuple(map(repr, row)) for row in typed]
