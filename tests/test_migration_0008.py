"""Migration 0008 (voided trades, the audit log) over live data, on SQLite and PostgreSQL.

Trades stored before 0008 have no audit entries; the upgrade writes one `trade.baseline`
entry per contiguous run of their ids (docs/ledger.md §20), so "every trade has its entry"
holds at once. Going down drops the log and the two trade columns, and refuses while a
trade is voided (it would count again).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from stocksbot import open_storage
from stocksbot.errors import StocksbotError
from stocksbot.storage import migrations
from tests.test_migration_0006 import engine_of

D = Decimal

pytestmark = pytest.mark.slow


def covered(engine: sa.Engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(
            "SELECT first_trade_id, last_trade_id FROM audit_log WHERE action = 'trade.baseline' ORDER BY first_trade_id"
        ))]


def test_baseline_runs_follow_the_gaps_in_the_ids(migrated_url: str) -> None:
    with open_storage(migrated_url) as storage:
        for day in range(1, 9):
            storage.record_trade(side="buy", symbol="A", quantity=D(1), price=D(10),
                                 executed_at=f"2024-01-0{day}T15:00:00Z")
    engine = engine_of(migrated_url)
    try:
        migrations.downgrade(engine, "0007")
        with engine.begin() as conn:
            # Leave holes (4-6) as if those trades had been deleted by hand before 0008.
            conn.execute(sa.text("DELETE FROM lots WHERE trade_id BETWEEN 4 AND 6"))
            conn.execute(sa.text("DELETE FROM cash_movements WHERE trade_id BETWEEN 4 AND 6"))
            conn.execute(sa.text("DELETE FROM trades WHERE id BETWEEN 4 AND 6"))
        migrations.upgrade(engine)
        assert migrations.read_revision(engine) == migrations.HEAD_REVISION
        assert covered(engine) == [(1, 3), (7, 8)]
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM trades WHERE voided_at IS NOT NULL")).scalar() == 0
    finally:
        engine.dispose()


def test_an_empty_ledger_gets_no_baseline(migrated_url: str) -> None:
    engine = engine_of(migrated_url)
    try:
        migrations.downgrade(engine, "0007")
        migrations.upgrade(engine)
        assert covered(engine) == []
    finally:
        engine.dispose()


def test_downgrade_refuses_while_a_trade_is_voided(migrated_url: str) -> None:
    with open_storage(migrated_url) as storage:
        storage.record_trade(side="buy", symbol="A", quantity=D(1), price=D(10), executed_at="2024-01-02T15:00:00Z")
    engine = engine_of(migrated_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE trades SET voided_at = created_at, void_reason = 'typo'"))
        with pytest.raises(StocksbotError, match="1 voided trade"):
            migrations.downgrade(engine, "0007")
        assert migrations.read_revision(engine) == migrations.HEAD_REVISION
    finally:
        engine.dispose()
