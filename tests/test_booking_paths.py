"""The three ways into the booking store give one ledger.

Random trade histories (several symbols and strategies, shorts, flips, back-dated trades,
some of them fills of orders) are booked trade by trade (`trade add` / `order fill`) into one
database and imported as one CSV (`trade import`) into another; then the first is rebuilt
from scratch (`position rebuild`). Positions, lots, every trade's realized P&L and the
closed-run totals and strategy totals must be identical all three ways, on both backends, and
the strategy totals must equal what grouped SQL sums over the trades give.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocksbot.storage import strategy_totals
from stocksbot.storage.checks import ledger_snapshot
from tests.three_paths import STRATEGIES, book_two_ways, trade_steps, twin  # noqa: F401  (a fixture)

D = Decimal
_trade = trade_steps(3, [None, *STRATEGIES])



def _snapshot(storage: Any) -> dict[str, Any]:
    with storage.reading() as conn:
        # The strategy totals booking keeps are what the grouped SQL sums over the trades give.
        assert strategy_totals.stored(conn) == strategy_totals.computed(conn)
        return ledger_snapshot(conn)


@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(_trade, min_size=1, max_size=14))
def test_trade_add_import_and_rebuild_book_the_same(storage: Any, twin: Any, tmp_path: Path, method: str,  # noqa: F811
                                                     history: list[tuple[Any, ...]]) -> None:
    book_two_ways(storage, twin, tmp_path, method, history, prefix="P", symbols=3)

    added = _snapshot(storage)
    imported = _snapshot(twin)
    storage.rebuild_positions()
    rebuilt = _snapshot(storage)
    assert added == rebuilt
    assert imported == rebuilt
