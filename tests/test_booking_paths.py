"""The three ways into the booking store give one ledger.

Random trade histories (several symbols and strategies, shorts, flips, back-dated trades,
some of them fills of orders) are booked trade by trade (`trade add` / `order fill`) into one
database and imported as one CSV (`trade import`) into another; then the first is rebuilt
from scratch (`position rebuild`). Positions, lots, every trade's realized P&L and the
closed-run totals must be identical all three ways, on both backends.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stocksbot import open_storage
from stocksbot.storage import migrations
from stocksbot.storage.checks import ledger_snapshot
from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

D = Decimal
STRATEGIES = ["alpha", "beta"]
_names = itertools.count()

_trade = st.tuples(
    st.integers(min_value=0, max_value=2),  # which of the example's symbols
    st.sampled_from(["buy", "sell"]),
    st.integers(min_value=1, max_value=40),  # quantity in tenths
    st.integers(min_value=1, max_value=5000),  # price in cents
    st.integers(min_value=0, max_value=300),  # commission in cents
    st.integers(min_value=-2, max_value=3),  # days after the previous trade (negative: back-dated)
    st.sampled_from([None, *STRATEGIES]),
    st.booleans(),  # recorded as the fill of an order (trade by trade only)
)


@pytest.fixture
def twin(request: pytest.FixtureRequest, backend_url: str, tmp_path: Path) -> Iterator[Any]:
    """A second migrated database on the same backend as `storage`."""
    if backend_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'twin.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.url(server.create_database())
    engine = build_engine(resolve_target(url), ConnectionSettings())
    migrations.upgrade(engine)
    engine.dispose()
    with open_storage(url) as service:
        yield service


def _snapshot(storage: Any) -> dict[str, Any]:
    with storage.reading() as conn:
        return ledger_snapshot(conn)


@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(_trade, min_size=1, max_size=14))
def test_trade_add_import_and_rebuild_book_the_same(storage: Any, twin: Any, tmp_path: Path, method: str,
                                                     history: list[tuple[Any, ...]]) -> None:
    for service in (storage, twin):
        if service.setting("accounting.cost_basis") != method:
            service.config_set("accounting.cost_basis", method)
        service.config_set("trading.allow_short", "true")
        for name in STRATEGIES:
            if name not in {s.name for s in service.list_strategies()}:
                service.add_strategy(name)
    example = next(_names)
    symbols = [f"P{example}X{i}" for i in range(3)]
    path = tmp_path / f"history-{example}.csv"
    day = 10
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["executed_at", "side", "symbol", "quantity", "price", "commission", "fees", "strategy"])
        for which, side, tenths, cents, commission, gap, strategy, as_order in history:
            day = max(day + gap, 0)
            when = f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}T15:00:00Z"
            trade = dict(side=side, symbol=symbols[which], quantity=D(tenths) / 10, price=D(cents) / 100,
                         commission=D(commission) / 100, executed_at=when)
            if as_order:
                order = storage.add_order(side=side, symbol=trade["symbol"], quantity=trade["quantity"],
                                          strategy=strategy)
                storage.change_order_status(order.id, "submitted")
                storage.fill_order(order.id, trade["quantity"], trade["price"], commission=trade["commission"],
                                   executed_at=when)
            else:
                storage.record_trade(**trade, strategy=strategy)
            writer.writerow([when, side, trade["symbol"], trade["quantity"], trade["price"], trade["commission"], "0",
                             strategy or ""])
    twin.import_trades(path)

    added = _snapshot(storage)
    imported = _snapshot(twin)
    storage.rebuild_positions()
    rebuilt = _snapshot(storage)
    assert added == rebuilt
    assert imported == rebuilt
