"""The four migration checks every Alembic project should pass, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from stocksbot.storage import migrations
from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target
from stocksbot.storage.models import Base

TABLES = {"strategies", "orders", "trades", "positions", "lots", "price_bars", "config", "closed_run_totals", "alembic_version"}


@pytest.fixture
def engine(backend_url: str):
    engine = build_engine(resolve_target(backend_url), ConnectionSettings())
    yield engine
    engine.dispose()


def test_single_head_matches_the_constant() -> None:
    heads = ScriptDirectory.from_config(migrations.alembic_config()).get_heads()
    assert heads == [migrations.HEAD_REVISION]


def test_upgrade_from_empty_creates_every_table(engine: Engine) -> None:
    assert migrations.read_revision(engine) is None
    migrations.upgrade(engine)
    assert migrations.read_revision(engine) == migrations.HEAD_REVISION
    assert set(inspect(engine).get_table_names()) == TABLES


def test_every_revision_goes_down_and_back_up(engine: Engine) -> None:
    revisions = [r.revision for r in reversed(migrations.history())]  # oldest first
    for revision in revisions:
        migrations.upgrade(engine, revision)
        assert migrations.read_revision(engine) == revision
    for index in range(len(revisions) - 1, -1, -1):
        below = revisions[index - 1] if index > 0 else "base"
        migrations.downgrade(engine, below)
        assert migrations.read_revision(engine) == (None if below == "base" else below)
        migrations.upgrade(engine, revisions[index])
        assert migrations.read_revision(engine) == revisions[index]
        migrations.downgrade(engine, below)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_models_match_migrations(engine: Engine) -> None:
    """Autogenerate finds nothing to change: models.py and the migrations agree."""
    migrations.upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_unknown_revision_is_refused(engine: Engine) -> None:
    from stocksbot.errors import StocksbotError

    with pytest.raises(StocksbotError, match="unknown revision 'nope'"):
        migrations.upgrade(engine, "nope")


def test_0003_fills_the_closed_run_totals_from_existing_positions(engine: Engine) -> None:
    """A database at 0002 with closed positions gets exact totals (tenths add up exactly)."""
    from decimal import Decimal

    from stocksbot.storage import totals

    migrations.upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO strategies (id, name, params, enabled, created_at, updated_at) "
                          "VALUES (1, 's', '{}', true, '2024-01-01', '2024-01-01')"))
        for index, (strategy, status) in enumerate([(1, "closed"), (1, "closed"), (1, "closed"), (None, "closed"),
                                                    (None, "open")]):
            conn.execute(
                text("INSERT INTO positions (symbol, side, quantity, open_cost, realized_pnl, costs, status, opened_at, "
                     "closed_at, strategy_id) VALUES (:symbol, 'long', 0, 0, '0.1', '0.01', :status, '2024-01-01', "
                     ":closed_at, :strategy)"),
                {"symbol": f"S{index}", "status": status, "strategy": strategy,
                 "closed_at": "2024-01-02" if status == "closed" else None},
            )
    migrations.upgrade(engine)
    with engine.connect() as conn:
        stored = totals.stored(conn)
    assert stored == {1: (3, Decimal("0.3"), Decimal("0.03")), 0: (1, Decimal("0.1"), Decimal("0.01"))}
