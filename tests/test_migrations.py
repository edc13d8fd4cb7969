"""Migrations as stocksbot runs them (its own `migrations` module), on both backends.

pytest-alembic's built-in checks run in test_alembic_builtin.py."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from stocksbot.storage import migrations
from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

TABLES = {"strategies", "orders", "trades", "positions", "lots", "price_bars", "config", "closed_run_totals",
          "accounts", "instruments", "splits", "share_transfers", "dividends", "cash_movements", "cash_balances",
          "symbol_changes", "realized_shares", "lot_closings", "audit_log", "strategy_totals", "alembic_version"}


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


@pytest.mark.slow  # every revision down and up: the full run covers it
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


def test_the_database_refuses_a_second_open_position_per_symbol(engine: Engine) -> None:
    """The ledger's central invariant is the database's too (uq_positions_open_account_symbol,
    0004 and 0005), however a row gets there; closed runs of the symbol, and other accounts'
    open positions in it, do not count."""
    from datetime import datetime, timezone

    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from stocksbot.storage.tables import accounts, positions

    migrations.upgrade(engine)
    now = datetime(2024, 1, 2, tzinfo=timezone.utc)
    run = dict(symbol="A", side="long", quantity=1, open_cost=1, realized_pnl=0, costs=0, opened_at=now, account_id=1)
    with engine.begin() as conn:
        conn.execute(insert(accounts), dict(name="second", currency="USD", margin=False, status="open",
                                            created_at=now))
        closed, still_open = dict(run, status="closed", closed_at=now), dict(run, status="open", closed_at=None)
        conn.execute(insert(positions), [closed, closed, still_open])
        conn.execute(insert(positions), dict(run, symbol="B", status="open"))
        conn.execute(insert(positions), dict(run, account_id=2, status="open"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(positions), dict(run, status="open"))


def test_the_alembic_command_keeps_child_rows_on_sqlite(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`alembic upgrade` from a checkout rebuilds tables in batch mode like `stocksbot db upgrade`
    does: with foreign keys off, so rebuilding `positions` (0002) cascades no delete into `lots`."""
    import sqlite3
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'dev.db'}"
    engine = build_engine(resolve_target(url), ConnectionSettings())
    migrations.upgrade(engine, "0001")
    engine.dispose()
    raw = sqlite3.connect(tmp_path / "dev.db")
    when = "2024-01-01 00:00:00.000000"
    raw.execute("INSERT INTO trades (side, symbol, quantity, price, commission, fees, executed_at, created_at) "
                "VALUES ('buy', 'A', '1', '1', '0', '0', ?, ?)", (when, when))
    raw.execute("INSERT INTO positions (symbol, side, quantity, open_cost, realized_pnl, status, opened_at) "
                "VALUES ('A', 'long', '1', '1', '0', 'open', ?)", (when,))
    raw.execute("INSERT INTO lots (position_id, trade_id, seq, quantity, amount, opened_at) VALUES (1, 1, 0, '1', '1', ?)",
                (when,))
    raw.commit()
    raw.close()
    monkeypatch.setenv("DATABASE_URL", url)
    command.upgrade(Config(str(Path(__file__).resolve().parents[1] / "alembic.ini")), "head")
    raw = sqlite3.connect(tmp_path / "dev.db")
    assert raw.execute("SELECT count(*) FROM lots").fetchone() == (1,)
    assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == (migrations.HEAD_REVISION,)
    raw.close()
