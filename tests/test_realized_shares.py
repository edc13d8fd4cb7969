"""The realized shares booking stores (docs/ledger.md §8.3): what an untagged closing trade
realized, per strategy of the trades that opened the lots it closed.

Every way into the booking store (trade by trade, order fills, back-dated trades, an import,
a rebuild, and the re-bookings after transfers, symbol changes and splits) must leave the
table equal to what an in-memory re-booking of the trades gives: the closed portions of each
untagged closing trade, summed here per opening trade's strategy (read from the trades
table) with exact decimals, for the trades that closed at least one lot opened under a
strategy.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocksbot.storage import tables
from stocksbot.storage.booking import BookingStore
from tests.three_paths import STRATEGIES, book_two_ways, trade_steps, twin  # noqa: F401  (a fixture)

D = Decimal
EXACT = Context(prec=200, traps=[Inexact])

Shares = set[tuple[int, int | None, Decimal]]


def stored_shares(storage: Any) -> Shares:
    shares = tables.realized_shares
    with storage.reading() as conn:
        rows = conn.execute(sa.select(shares.c.trade_id, shares.c.strategy_id, shares.c.realized_pnl)).all()
    result = {(trade_id, strategy_id, realized) for trade_id, strategy_id, realized in rows}
    assert len(result) == len(rows)  # one row per (trade, opening strategy)
    return result


def rebooked_shares(storage: Any) -> Shares:
    """The shares an in-memory re-booking of every symbol gives (nothing is written)."""
    trades = tables.trades
    with storage.reading() as conn:
        method = str(storage.setting("accounting.cost_basis"))
        strategy_of = {row.id: row.strategy_id for row in conn.execute(sa.select(trades.c.id, trades.c.strategy_id))}
        symbols = set(conn.execute(sa.select(trades.c.symbol)).scalars())
        symbols |= set(conn.execute(sa.select(tables.symbol_changes.c.new_symbol)).scalars())
        store = BookingStore(conn, method)
        sums: dict[tuple[int, int | None], Decimal] = {}
        for symbol in sorted(symbols):
            for trade_id, strategy_id, _account, booking in store.bookings(symbol):
                if strategy_id is not None or booking.realized_pnl is None:
                    continue
                for portion in booking.closed:
                    key = (trade_id, strategy_of.get(portion.trade_id))
                    sums[key] = EXACT.add(sums.get(key, D(0)), portion.realized)
    shared = {trade_id for trade_id, strategy_id in sums if strategy_id is not None}
    return {(trade_id, strategy_id, total) for (trade_id, strategy_id), total in sums.items() if trade_id in shared}


def realized_of(storage: Any) -> dict[int, Decimal]:
    trades = tables.trades
    with storage.reading() as conn:
        query = sa.select(trades.c.id, trades.c.realized_pnl).where(trades.c.realized_pnl.is_not(None))
        return {row.id: row.realized_pnl for row in conn.execute(query)}


def assert_consistent(storage: Any) -> Shares:
    """The table equals a re-booking, each trade's shares add up to its realized P&L, and `db check` is clean."""
    shares = stored_shares(storage)
    assert shares == rebooked_shares(storage)
    realized = realized_of(storage)
    totals: dict[int, Decimal] = {}
    for trade_id, _strategy_id, amount in shares:
        totals[trade_id] = EXACT.add(totals.get(trade_id, D(0)), amount)
    assert totals == {trade_id: realized[trade_id] for trade_id in totals}
    assert storage.check() == []
    return shares


_trade = trade_steps(2, [None, None, *STRATEGIES])  # untagged closes are what this is about


@pytest.mark.slow  # several seconds a method: many histories, three ways each
@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(_trade, min_size=1, max_size=14))
def test_trade_add_import_and_rebuild_store_the_rebooked_shares(storage: Any, twin: Any, tmp_path: Path, method: str,  # noqa: F811
                                                                 history: list[tuple[Any, ...]]) -> None:
    book_two_ways(storage, twin, tmp_path, method, history, prefix="S", symbols=2)

    added = assert_consistent(storage)
    imported = assert_consistent(twin)
    storage.rebuild_positions()
    assert stored_shares(storage) == added
    assert imported == added  # the two databases gave their trades the same ids


def test_transfers_renames_splits_and_back_dated_trades_keep_the_table_in_step(storage: Any) -> None:
    for name in STRATEGIES:
        storage.add_strategy(name)
    storage.add_account("ira", currency="USD")
    storage.config_set("trading.allow_short", "true")

    def trade(side: str, symbol: str, quantity: str, price: str, when: str, strategy: str | None = None,
              account: str | None = None) -> None:
        storage.record_trade(side=side, symbol=symbol, quantity=D(quantity), price=D(price), executed_at=when,
                             strategy=strategy, account=account, commission=D("0.35"))

    trade("buy", "T", "10", "10", "2024-01-02T15:00:00Z", "alpha")
    trade("buy", "T", "10", "12", "2024-01-03T15:00:00Z", "beta")
    trade("buy", "T", "5", "11", "2024-01-03T16:00:00Z")
    trade("sell", "T", "12", "13", "2024-01-05T15:00:00Z")  # closes alpha's 10 and 2 of beta's
    first = assert_consistent(storage)
    assert {strategy for _trade, strategy, _r in first} == {1, 2}
    storage.transfer_shares("T", "8", from_account="main", to_account="ira", at="2024-01-06T15:00:00Z")
    trade("sell", "T", "8", "14", "2024-01-07T15:00:00Z", account="ira")  # beta's lot and the untagged one
    assert_consistent(storage)
    trade("buy", "OLD", "6", "20", "2024-01-02T15:00:00Z", "beta")
    storage.rename_symbol("OLD", "NEW", "2024-02-01")
    trade("sell", "NEW", "4", "18", "2024-02-02T15:00:00Z")  # a lot opened under the old name
    assert_consistent(storage)
    storage.record_split("NEW", "3:1", "2024-02-03")
    trade("sell", "NEW", "6", "7", "2024-02-04T15:00:00Z")  # the rest, split
    # A back-dated tagged buy re-books T in both accounts: the untagged sell now closes it too.
    trade("buy", "T", "3", "9", "2024-01-01T15:00:00Z", "beta")
    shares = assert_consistent(storage)
    assert len({trade_id for trade_id, _s, _r in shares}) == 4
    storage.rebuild_positions()
    assert stored_shares(storage) == shares


def test_a_ledger_without_strategies_stores_no_shares(storage: Any) -> None:
    storage.record_trade(side="buy", symbol="N", quantity=D(3), price=D(5), executed_at="2024-01-02T15:00:00Z")
    storage.record_trade(side="sell", symbol="N", quantity=D(3), price=D(6), executed_at="2024-01-03T15:00:00Z")
    assert stored_shares(storage) == set() == rebooked_shares(storage)
