"""Shared by the property tests that book one random history three ways (trade by trade with
order fills, `trade import`, `position rebuild`) and compare what each stored:
tests/test_booking_paths.py, tests/test_realized_shares.py, tests/test_lot_closings.py."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from stocksbot import open_storage
from stocksbot.storage import migrations
from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

D = Decimal
STRATEGIES = ["alpha", "beta"]
_names = itertools.count()


def trade_steps(symbols: int, strategies: list[str | None]) -> Any:
    """One step of a history: (which symbol, side, tenths, cents, commission cents, day gap,
    strategy, as an order fill); `strategies` weights the choice (repeat None for more untagged)."""
    return st.tuples(
        st.integers(min_value=0, max_value=symbols - 1),
        st.sampled_from(["buy", "sell"]),
        st.integers(min_value=1, max_value=40),  # quantity in tenths
        st.integers(min_value=1, max_value=5000),  # price in cents
        st.integers(min_value=0, max_value=300),  # commission in cents
        st.integers(min_value=-2, max_value=3),  # days after the previous trade (negative: back-dated)
        st.sampled_from(strategies),
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


def book_two_ways(storage: Any, twin: Any, tmp_path: Path, method: str, history: list[tuple[Any, ...]],
                  *, prefix: str, symbols: int) -> None:
    """Book `history` into `storage` trade by trade (some as order fills) and into `twin` with
    one `trade import` of the same trades; both with cost basis `method` and shorting allowed."""
    for service in (storage, twin):
        if service.setting("accounting.cost_basis") != method:
            service.config_set("accounting.cost_basis", method)
        service.config_set("trading.allow_short", "true")
        for name in STRATEGIES:
            if name not in {s.name for s in service.list_strategies()}:
                service.add_strategy(name)
    example = next(_names)
    names = [f"{prefix}{example}X{i}" for i in range(symbols)]
    path = tmp_path / f"history-{example}.csv"
    day = 10
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["executed_at", "side", "symbol", "quantity", "price", "commission", "fees", "strategy"])
        for which, side, tenths, cents, commission, gap, strategy, as_order in history:
            day = max(day + gap, 0)
            when = f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}T15:00:00Z"
            trade = dict(side=side, symbol=names[which], quantity=D(tenths) / 10, price=D(cents) / 100,
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
