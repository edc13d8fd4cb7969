"""Migration 0009 (strategy totals) over live data, on SQLite and PostgreSQL.

0009 adds `strategy_totals`, the per-(strategy, symbol, account) figures that `strategy list`
and `summary` read (docs/ledger.md §8.3), and fills it from the trades with grouped exact
sums. A ledger with transfers, a symbol change, a split, a flip, back-dated, voided and
amended trades is recorded at head, so booking itself keeps the table; going down to 0008
drops it, and coming back up must fill it with exactly the rows booking kept, with the
strategies' and the summary's figures unchanged and `db check` clean.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from stocksbot import open_storage
from stocksbot.storage import strategy_totals
from tests.test_migration_0006 import down_and_up, record_ledger

D = Decimal

pytestmark = pytest.mark.slow


def _figures(storage: Any) -> tuple[Any, ...]:
    with storage.reading() as conn:
        rows = strategy_totals.stored(conn)
    return (rows, [s.to_json() for s in storage.list_strategies()], storage.summary().to_json(),
            [s.to_json() for s in storage.list_strategies(account="ira")], storage.summary(account="ira").to_json())


def test_upgrade_fills_exactly_what_booking_kept(migrated_url: str) -> None:
    with open_storage(migrated_url) as storage:
        record_ledger(storage)
        trades = {(t.symbol, t.side, t.quantity): t.id for t in storage.list_trades()}
        storage.void_trade(trades[("U", "sell", D(3))], reason="typo")
        storage.amend_trade(trades[("V", "buy", D(5))], strategy="beta", commission=D("1.25"))
        before = _figures(storage)
    rows = before[0]
    assert rows and any(strategy is None for strategy, _symbol, _account in rows)
    down_and_up(migrated_url, "0008", dropped="strategy_totals")
    with open_storage(migrated_url) as storage:
        assert _figures(storage) == before
        assert storage.check() == []


def test_an_empty_ledger_gets_no_rows(migrated_url: str) -> None:
    down_and_up(migrated_url, "0008", dropped="strategy_totals")
    with open_storage(migrated_url) as storage, storage.reading() as conn:
        assert strategy_totals.stored(conn) == {}
