"""The closed lot portions booking stores in `lot_closings` (docs/ledger.md §17.3).

Every way into the booking store (trade by trade, order fills, back-dated trades, an import,
a rebuild, and the re-bookings after transfers, symbol changes and splits) must leave the
table equal to what an independent in-memory replay gives: `History.closed_lots`, which
books the trades again through `BookingStore.replay_window` and writes nothing, with each
portion's figures from the pure rules of `ledger/realized.py`. `report realized` reads the
table, so it must also give what that replay gives.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocksbot.ledger.realized import figures
from stocksbot.storage import tables
from stocksbot.storage.history import History
from stocksbot.vocabulary import SELL
from tests.three_paths import STRATEGIES, book_two_ways, trade_steps, twin  # noqa: F401  (a fixture)

D = Decimal

Closing = tuple[Any, ...]


def stored_closings(storage: Any) -> list[Closing]:
    """The table's rows without ids, in the report's order."""
    c = tables.lot_closings.c
    with storage.reading() as conn:
        rows = conn.execute(sa.select(
            c.trade_id, c.seq, c.opening_trade_id, c.account_id, c.symbol, c.side, c.quantity, c.opened_at,
            c.closed_at, c.proceeds, c.cost, c.realized_pnl).order_by(c.closed_at, c.trade_id, c.seq)).all()
    return [tuple(row) for row in rows]


def replayed_closings(storage: Any) -> list[Closing]:
    """What an in-memory replay of the whole history gives (nothing is written)."""
    with storage.reading() as conn:
        lots = History(conn, str(storage.setting("accounting.cost_basis"))).closed_lots()
    rows = []
    for lot in lots:
        closing_long = lot.fill.side == SELL
        proceeds, cost, gain = figures(lot.portion, closing_long=closing_long)
        opener = lot.portion.trade_id if isinstance(lot.portion.trade_id, int) else None
        rows.append((lot.fill.trade_id, lot.sequence, opener, lot.account_id, lot.symbol,
                     "long" if closing_long else "short", lot.portion.quantity, lot.portion.opened_at,
                     lot.fill.executed_at, proceeds, cost, gain))
    return rows


def assert_consistent(storage: Any) -> list[Closing]:
    """The table equals the replay, each closing trade's portions add up to its realized P&L,
    the report shows exactly the table, and `db check` is clean."""
    closings = stored_closings(storage)
    assert closings == replayed_closings(storage)
    realized: dict[int, Decimal] = {}
    for row in closings:
        realized[row[0]] = realized.get(row[0], D(0)) + row[11]
    trades = {trade.id: trade.realized_pnl for trade in storage.list_trades() if trade.realized_pnl is not None}
    assert realized == {trade_id: value for trade_id, value in trades.items() if trade_id in realized}
    report = storage.realized()
    assert [(row.closing_trade_id, row.opening_trade_id, row.symbol, row.quantity, row.proceeds, row.cost, row.gain)
            for row in report.rows] == [(row[0], row[2], row[4], row[6], row[9], row[10], row[11]) for row in closings]
    assert storage.check() == []
    return closings


def test_trade_by_trade_partial_closes_and_a_flip(storage: Any) -> None:
    storage.config_set("trading.allow_short", "true")
    storage.record_trade(side="buy", symbol="A", quantity="10", price="100", commission="1",
                         executed_at="2024-01-10T15:00:00Z")
    storage.record_trade(side="buy", symbol="A", quantity="5", price="110", executed_at="2024-01-11T15:00:00Z")
    storage.record_trade(side="sell", symbol="A", quantity="12", price="120", commission="3",
                         executed_at="2024-02-10T15:00:00Z")
    storage.record_trade(side="sell", symbol="A", quantity="5", price="90", executed_at="2024-02-11T15:00:00Z")
    storage.record_trade(side="buy", symbol="A", quantity="2", price="80", executed_at="2024-02-12T15:00:00Z")
    closings = assert_consistent(storage)
    # 10 + 2 by the first sell, 3 by the second (which then opens a short of 2), 2 covered.
    assert [(row[0], row[1], row[2], row[5], row[6]) for row in closings] == [
        (3, 0, 1, "long", D(10)), (3, 1, 2, "long", D(2)), (4, 0, 2, "long", D(3)), (5, 0, 4, "short", D(2))]
    assert (closings[0][9], closings[0][10], closings[0][11]) == (D("1197.5"), D("1001"), D("196.5"))


def test_transfers_renames_splits_and_back_dated_trades_keep_the_table_in_step(storage: Any) -> None:
    storage.add_account("ira", currency="USD")
    storage.add_strategy("alpha")

    def trade(side: str, symbol: str, quantity: str, price: str, when: str, account: str | None = None,
              strategy: str | None = None) -> None:
        storage.record_trade(side=side, symbol=symbol, quantity=D(quantity), price=D(price), executed_at=when,
                             account=account, commission=D("0.35"), strategy=strategy)

    trade("buy", "T", "10", "10", "2024-01-02T15:00:00Z", strategy="alpha")
    trade("buy", "T", "10", "12", "2024-01-03T15:00:00Z")
    trade("sell", "T", "12", "13", "2024-01-05T15:00:00Z")
    assert len(assert_consistent(storage)) == 2
    storage.transfer_shares("T", "8", from_account="main", to_account="ira", at="2024-01-06T15:00:00Z")
    trade("sell", "T", "5", "14", "2024-01-07T15:00:00Z", account="ira")  # a lot opened in the other account
    assert assert_consistent(storage)[-1][3] != assert_consistent(storage)[0][3]
    trade("buy", "OLD", "6", "20", "2024-01-02T15:00:00Z")
    storage.rename_symbol("OLD", "NEW", "2024-02-01")
    trade("sell", "NEW", "4", "18", "2024-02-02T15:00:00Z")  # a lot opened under the old name
    storage.record_split("NEW", "3:1", "2024-02-03")
    trade("sell", "NEW", "6", "7", "2024-02-04T15:00:00Z")  # the rest, split
    closings = assert_consistent(storage)
    assert {row[4] for row in closings} == {"T", "NEW"}
    # A back-dated buy re-books T: the first sell now closes it first (FIFO).
    trade("buy", "T", "3", "9", "2024-01-01T15:00:00Z")
    moved = assert_consistent(storage)
    assert moved != closings
    storage.remove_split(storage.list_splits()[0].id)
    unsplit = assert_consistent(storage)
    storage.rebuild_positions()
    assert stored_closings(storage) == unsplit


_trade = trade_steps(2, [None, None, *STRATEGIES])


@pytest.mark.slow  # several seconds a method: many histories, three ways each
@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(_trade, min_size=1, max_size=14))
def test_trade_add_import_and_rebuild_store_the_replayed_portions(
    storage: Any, twin: Any, tmp_path: Path, method: str, history: list[tuple[Any, ...]],  # noqa: F811
) -> None:
    book_two_ways(storage, twin, tmp_path, method, history, prefix="P", symbols=2)

    added = assert_consistent(storage)
    imported = assert_consistent(twin)
    storage.rebuild_positions()
    assert stored_closings(storage) == added
    assert imported == added  # the two databases gave their trades the same ids


def test_a_tampered_table_is_found_by_db_check(storage: Any) -> None:
    storage.record_trade(side="buy", symbol="N", quantity=D(3), price=D(5), executed_at="2024-01-02T15:00:00Z")
    storage.record_trade(side="sell", symbol="N", quantity=D(1), price=D(6), executed_at="2024-01-03T15:00:00Z")
    assert_consistent(storage)
    with storage.transaction() as conn:
        conn.execute(sa.update(tables.lot_closings).values(proceeds=D(7)))
    findings = storage.check()
    assert any(finding.startswith("stored closed lot portion (") and finding.endswith(", 7, 5, 1") for finding in findings)
    assert any(finding.startswith("rebuild gives a closed lot portion") and finding.endswith(", 6, 5, 1")
               for finding in findings)
