"""Migration 0007 (closed lot portions) over live data, on SQLite and PostgreSQL.

0007 adds `lot_closings` and fills it by re-booking the existing trades in memory
(docs/ledger.md §17.3). A ledger is recorded at head through the public API, so booking
itself writes the table; going down to 0006 drops it, and coming back up must fill it with
exactly the rows booking wrote, which must also be what an independent replay gives
(`test_lot_closings.replayed_closings`); `db check` must be clean and `report realized`
unchanged. The cost-basis method stored in the settings is the one the migration re-books with.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from stocksbot import open_storage
from tests.test_lot_closings import replayed_closings, stored_closings
from tests.test_migration_0006 import down_and_up, record_ledger

D = Decimal

# Whole databases written, downgraded and upgraded: the full run (both backends) covers them.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
def test_upgrade_fills_exactly_what_booking_wrote(migrated_url: str, method: str) -> None:
    with open_storage(migrated_url) as storage:
        storage.config_set("accounting.cost_basis", method)
        record_ledger(storage)  # partial closes, a transfer, a rename, a split, a flip, a back-dated trade
        written = stored_closings(storage)
        report: Any = storage.realized()
    assert len({row[4] for row in written}) == 4 and any(row[5] == "short" for row in written)
    down_and_up(migrated_url, "0006", dropped="lot_closings")
    with open_storage(migrated_url) as storage:
        assert stored_closings(storage) == written == replayed_closings(storage)
        assert storage.check() == []
        assert storage.realized() == report


def test_a_ledger_without_closing_trades_upgrades_to_an_empty_table(migrated_url: str) -> None:
    with open_storage(migrated_url) as storage:
        storage.record_trade(side="buy", symbol="N", quantity=D(3), price=D(5), executed_at="2024-01-02T15:00:00Z")
    down_and_up(migrated_url, "0006", dropped="lot_closings")
    with open_storage(migrated_url) as storage:
        assert stored_closings(storage) == [] == replayed_closings(storage)
        assert storage.check() == []
