"""Migration 0011 (the index of closed lot portions in report order), on SQLite and PostgreSQL.

0011 replaces the index on `lot_closings.closed_at` with one on (closed_at, trade_id, seq),
the order `report realized` reads them in (docs/ledger.md §17.4). A ledger is recorded at
head; going down to 0010 brings the old index back, coming up again the new one, and the
report is the same throughout. On SQLite the year's read walks the new index without a sort.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from stocksbot import open_storage
from stocksbot.storage import closings
from tests.test_migration_0006 import down_and_up, engine_of, record_ledger

NEW, OLD = "ix_lot_closings_closed_at_trade_id_seq", "ix_lot_closings_closed_at"


def _indexes(url: str) -> dict[str, list[str]]:
    engine = engine_of(url)
    try:
        indexes = sa.inspect(engine).get_indexes("lot_closings")
        return {str(index["name"]): [str(name) for name in index["column_names"]] for index in indexes}
    finally:
        engine.dispose()


def _report(storage: Any) -> list[dict[str, Any]]:
    return [row.to_json() for row in storage.realized().rows]


@pytest.mark.slow
def test_down_and_up_swap_the_index_and_keep_the_report(migrated_url: str) -> None:
    with open_storage(migrated_url) as storage:
        record_ledger(storage)
        before = _report(storage)
    assert before and _indexes(migrated_url)[NEW] == ["closed_at", "trade_id", "seq"]
    assert OLD not in _indexes(migrated_url)

    def old_index_only() -> None:
        assert _indexes(migrated_url)[OLD] == ["closed_at"] and NEW not in _indexes(migrated_url)

    down_and_up(migrated_url, "0010", while_down=old_index_only)
    assert _indexes(migrated_url)[NEW] == ["closed_at", "trade_id", "seq"] and OLD not in _indexes(migrated_url)
    with open_storage(migrated_url) as storage:
        assert _report(storage) == before
        assert storage.check() == []


def test_a_years_portions_are_read_in_index_order_without_a_sort(sqlite_url: str) -> None:
    sql = closings.portions_query(["closed_at >= :since", "closed_at < :until"])
    with open_storage(sqlite_url) as storage, storage.transaction() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql),
                                                            {"since": "2025", "until": "2026"}))
    assert NEW in plan and "TEMP B-TREE" not in plan, plan
