"""Migration 0006 (realized shares) over live data, on SQLite and PostgreSQL.

0006 adds `realized_shares` and fills it by re-booking the existing trades in memory
(docs/ledger.md §8.3). A ledger is recorded at head through the public API, so booking
itself writes the table; going down to 0005 drops it, and coming back up must fill it with
exactly the rows booking wrote, which must also be what an independent re-booking gives
(`test_realized_shares.rebooked_shares`); `db check` must be clean and the strategies'
figures unchanged. The cost-basis method stored in the settings is the one the migration
re-books with.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

import pytest
import sqlalchemy as sa

from stocksbot import open_storage
from stocksbot.storage import migrations
from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target
from tests.test_realized_shares import rebooked_shares, stored_shares

D = Decimal

# Whole databases written, downgraded and upgraded: the full run (both backends) covers them.
pytestmark = pytest.mark.slow


def record_ledger(storage: Any) -> None:
    """Strategies, untagged closes of tagged lots (partial, over two strategies, after a
    transfer, a symbol change and a split), a flip, a back-dated trade and an untagged ledger."""
    for name in ("alpha", "beta"):
        storage.add_strategy(name)
    storage.add_account("ira", currency="USD")
    storage.config_set("trading.allow_short", "true")

    def trade(side: str, symbol: str, quantity: str, price: str, day: int, strategy: str | None = None,
              account: str | None = None) -> None:
        storage.record_trade(side=side, symbol=symbol, quantity=D(quantity), price=D(price),
                             executed_at=f"2024-01-{day:02d}T15:00:00Z", strategy=strategy, account=account,
                             commission=D("0.35"))

    trade("buy", "T", "10", "10.01", 2, "alpha")
    trade("buy", "T", "10", "12", 3, "beta")
    trade("buy", "T", "5", "11", 4)
    trade("sell", "T", "12", "13", 5)
    storage.transfer_shares("T", "8", from_account="main", to_account="ira", at="2024-01-06T15:00:00Z")
    trade("sell", "T", "8", "14", 7, account="ira")
    trade("buy", "OLD", "6", "20", 2, "beta")
    storage.rename_symbol("OLD", "NEW", "2024-01-10")
    storage.record_split("NEW", "3:1", "2024-01-11")
    trade("sell", "NEW", "7", "6.5", 12)
    trade("buy", "V", "10", "10", 2, "alpha")
    trade("sell", "V", "15", "12", 3)  # a flip: the short rest belongs to no strategy
    trade("buy", "V", "5", "11", 4)
    trade("buy", "T", "3", "9", 1, "beta")  # back-dated: T is re-booked in both accounts
    trade("buy", "U", "3", "9", 1)
    trade("sell", "U", "3", "10", 2)


def engine_of(url: str) -> sa.Engine:
    return build_engine(resolve_target(url), ConnectionSettings())


def down_and_up(url: str, revision: str, dropped: str | None = None,
                while_down: Callable[[], None] | None = None) -> None:
    """Downgrade the database at `url` to `revision` (where the table `dropped`, when named, is
    gone, and `while_down`'s checks hold) and upgrade it back to head: what each migration test
    over live data does."""
    engine = engine_of(url)
    try:
        migrations.downgrade(engine, revision)
        assert migrations.read_revision(engine) == revision
        if dropped is not None:
            assert dropped not in sa.inspect(engine).get_table_names()
        if while_down is not None:
            while_down()
        migrations.upgrade(engine)
        assert migrations.read_revision(engine) == migrations.HEAD_REVISION
    finally:
        engine.dispose()


@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
def test_upgrade_fills_exactly_what_booking_wrote(migrated_url: str, method: str) -> None:
    with open_storage(migrated_url) as storage:
        storage.config_set("accounting.cost_basis", method)
        record_ledger(storage)
        written = stored_shares(storage)
        strategies = storage.list_strategies()
    assert len({trade_id for trade_id, _s, _r in written}) >= 3  # the history does exercise the table
    down_and_up(migrated_url, "0005", dropped="realized_shares")
    with open_storage(migrated_url) as storage:
        assert stored_shares(storage) == written == rebooked_shares(storage)
        assert storage.check() == []
        assert storage.list_strategies() == strategies


def test_a_ledger_without_strategies_upgrades_to_an_empty_table(migrated_url: str) -> None:
    with open_storage(migrated_url) as storage:
        storage.record_trade(side="buy", symbol="N", quantity=D(3), price=D(5), executed_at="2024-01-02T15:00:00Z")
        storage.record_trade(side="sell", symbol="N", quantity=D(1), price=D(6), executed_at="2024-01-03T15:00:00Z")
    down_and_up(migrated_url, "0005")
    with open_storage(migrated_url) as storage:
        assert stored_shares(storage) == set()
        assert storage.check() == []
