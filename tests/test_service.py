"""The unit of work: commit at the end, rollback on error, nesting is a SAVEPOINT on the same connection."""

from __future__ import annotations

import pytest

from stocksbot import open_storage
from stocksbot.errors import SchemaMismatch, StocksbotError


def test_transaction_commits_when_the_block_ends(storage, migrated_url: str) -> None:
    with storage.transaction():
        storage.config_set("bot.name", "alpha")
    with open_storage(migrated_url) as other:
        assert other.config_get("bot.name").value == "alpha"


def test_error_rolls_everything_back(storage) -> None:
    with pytest.raises(RuntimeError):
        with storage.transaction():
            storage.config_set("bot.name", "alpha")
            raise RuntimeError("boom")
    with pytest.raises(StocksbotError, match="not set"):
        storage.config_get("bot.name")


def test_operations_join_an_open_transaction(storage) -> None:
    with pytest.raises(StocksbotError):
        with storage.transaction():
            storage.config_set("bot.size", "12", "int")
            assert storage.config_get("bot.size").value == 12  # sees its own write
            storage.config_set("bot.size", "twelve")  # refused: the whole block rolls back
    with pytest.raises(StocksbotError, match="not set"):
        storage.config_get("bot.size")


def test_a_failed_operation_inside_a_transaction_undoes_only_its_own_writes(storage, migrated_url: str) -> None:
    """Nested use is a SAVEPOINT: the refused sell's trade row (inserted before booking refused
    it) is gone, and the bot's other writes in the block still commit together."""
    with storage.transaction():
        storage.record_trade(side="buy", symbol="X", quantity="1", price="10", executed_at="2024-01-01")
        with pytest.raises(StocksbotError, match="cannot sell 5 X"):
            storage.record_trade(side="sell", symbol="X", quantity="5", price="11", executed_at="2024-01-02")
        storage.config_set("bot.after", "yes")
        with open_storage(migrated_url) as other:  # nothing is visible outside before the commit
            assert other.list_trades() == []
    assert [t.quantity for t in storage.list_trades()] == [1]
    assert storage.config_get("bot.after").value == "yes"
    assert storage.check() == []


def test_typed_config_values(storage) -> None:
    assert storage.config_set("bot.size", "12", "int").value == 12
    assert storage.config_set("bot.ratio", "0.25", "float").value == 0.25
    assert storage.config_set("bot.live", "yes", "bool").value is True
    assert storage.config_set("bot.universe", '{"b": [1, 2], "a": null}', "json").value == {"a": None, "b": [1, 2]}
    assert storage.config_get("bot.universe").text == '{"a":null,"b":[1,2]}'
    # The stored type stays when no --type is given again.
    assert storage.config_set("bot.size", "13").value == 13
    with pytest.raises(StocksbotError, match="needs a whole number"):
        storage.config_set("bot.size", "13.5")
    assert storage.config_get("bot.size").value == 13


def test_known_keys_have_fixed_types_and_defaults(storage) -> None:
    assert storage.setting("accounting.cost_basis") == "fifo"
    assert storage.config_get("accounting.cost_basis").is_default
    with pytest.raises(StocksbotError, match="must be one of fifo, lifo, average"):
        storage.config_set("accounting.cost_basis", "hifo")
    with pytest.raises(StocksbotError, match="is a bool setting"):
        storage.config_set("trading.allow_short", "1", "int")
    storage.config_set("trading.allow_short", "on")
    assert storage.setting("trading.allow_short") is True
    storage.config_unset("trading.allow_short")
    assert storage.setting("trading.allow_short") is False


@pytest.mark.parametrize("key", ["Trading.x", "trading..x", ".x", "x.", "a-b", "1abc", ""])
def test_bad_keys_are_refused(storage, key: str) -> None:
    with pytest.raises(StocksbotError, match="invalid config key"):
        storage.config_set(key, "1")


def test_named_database_is_never_migrated_implicitly(backend_url: str, backend: str) -> None:
    """PostgreSQL, and a SQLite file that already holds something (another program's table);
    a new or blank SQLite file is created at head instead (tests/test_small_defects.py)."""
    from stocksbot.storage.migrations import HEAD_REVISION

    if backend == "sqlite":
        import sqlite3

        other = sqlite3.connect(backend_url.removeprefix("sqlite:///"))
        other.execute("CREATE TABLE notes (text TEXT)")
        other.close()
    with pytest.raises(SchemaMismatch) as info:
        open_storage(backend_url)
    assert str(info.value) == f"database schema is at <empty>, this stocksbot needs {HEAD_REVISION}: run `stocksbot db upgrade`"


def test_unknown_newer_schema_is_refused(backend_url: str) -> None:
    from stocksbot.storage import migrations
    from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

    engine = build_engine(resolve_target(backend_url), ConnectionSettings())
    migrations.upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    engine.dispose()
    with pytest.raises(SchemaMismatch, match="database schema is at 0000, which this stocksbot"):
        open_storage(backend_url)


def test_behind_schema_is_refused_with_the_spec_message(migrated_url: str) -> None:
    from stocksbot.storage import migrations
    from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

    previous = migrations.history()[1].revision
    engine = build_engine(resolve_target(migrated_url), ConnectionSettings())
    migrations.downgrade(engine, previous)
    engine.dispose()
    with pytest.raises(SchemaMismatch) as info:
        open_storage(migrated_url)
    assert str(info.value) == (
        f"database schema is at {previous}, this stocksbot needs {migrations.HEAD_REVISION}: run `stocksbot db upgrade`"
    )
