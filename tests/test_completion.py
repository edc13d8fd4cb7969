"""Shell completion (docs/completion.md): names from the database, on SQLite and PostgreSQL.

Completions are asked for through Click's own machinery (`ShellComplete.get_completions`, and
once end to end with `_STOCKSBOT_COMPLETE=bash_complete` as the shell runs it), so the tests
cover the callbacks as wired to each option, not just the functions.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.shell_completion import ShellComplete
from click.testing import CliRunner

from stocksbot.cli import completion
from stocksbot.cli.main import cli


def complete(words: list[str], incomplete: str) -> list[str]:
    """What a Tab after `stocksbot WORDS INCOMPLETE` offers."""
    shell = ShellComplete(cli, {}, "stocksbot", "_STOCKSBOT_COMPLETE")
    return [item.value for item in shell.get_completions(words, incomplete)]


@pytest.fixture
def ledger(storage, migrated_url: str) -> list[str]:  # type: ignore[no-untyped-def]
    """A database with symbols in every table completion reads; the `--db` words that name it."""
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="190")
    storage.set_symbol("SAP", currency="EUR")  # described, never traded
    storage.add_price("AMZN", "180")  # priced only
    storage.add_order(side="buy", symbol="NVDA", quantity="1", order_type="market")  # ordered only
    storage.add_strategy("momentum")
    storage.add_strategy("mean-reversion")
    storage.add_account("ira", currency="USD")
    storage.config_set("bot.max_orders", "5", "int")
    return ["--db", migrated_url]


def test_symbols_come_from_trades_instruments_prices_and_orders(ledger: list[str]) -> None:
    assert complete([*ledger, "trade", "list", "--symbol"], "") == ["AAPL", "AMZN", "NVDA", "SAP"]
    assert complete([*ledger, "trade", "list", "--symbol"], "a") == ["AAPL", "AMZN"]  # typed lower-case
    assert complete([*ledger, "position", "show"], "AM") == ["AMZN"]
    assert complete([*ledger, "price", "latest", "AAPL"], "N") == ["NVDA"]
    assert complete([*ledger, "trade", "add", "buy"], "S") == ["SAP"]
    assert complete([*ledger, "trade", "list", "--symbol"], "X") == []


def test_strategies_accounts_and_config_keys(ledger: list[str]) -> None:
    assert complete([*ledger, "strategy", "show"], "") == ["mean-reversion", "momentum"]
    assert complete([*ledger, "trade", "list", "--strategy"], "mo") == ["momentum"]
    assert complete([*ledger, "performance", "--strategy"], "me") == ["mean-reversion"]
    assert complete([*ledger, "position", "list", "--account"], "") == ["ira", "main"]
    assert complete([*ledger, "transfer", "AAPL", "1", "--from", "main", "--to"], "i") == ["ira"]
    assert complete([*ledger, "account", "show"], "m") == ["main"]
    keys = complete([*ledger, "config", "get"], "")
    assert {"accounting.cost_basis", "trading.allow_short", "bot.max_orders"} <= set(keys)
    assert complete([*ledger, "config", "set"], "acc") == ["accounting.cost_basis", "accounts.default"]
    assert complete([*ledger, "config", "unset"], "bot") == ["bot.max_orders"]


def test_no_database_no_completions_and_no_file(isolated_home: Path, tmp_path: Path) -> None:
    """Before the first command there is nothing to complete, and asking creates nothing."""
    assert complete(["trade", "list", "--symbol"], "") == []
    assert complete(["strategy", "show"], "") == []
    assert complete(["config", "get"], "trading")  == ["trading.allow_short"]  # stocksbot's own keys
    assert not isolated_home.exists()
    missing = tmp_path / "nowhere" / "ledger.db"
    assert complete(["--db", f"sqlite:///{missing}", "position", "show"], "") == []
    assert not missing.parent.exists()


def test_a_file_that_is_not_a_ledger_completes_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    for path in (empty, garbage):
        assert complete(["--db", f"sqlite:///{path}", "trade", "list", "--symbol"], "") == []
        assert path.stat().st_size in (0, 2200)  # untouched: not migrated, not written
    assert complete(["--db", "postgresql://bot:secret@localhost:54x/db", "strategy", "show"], "") == []


def test_an_unreachable_server_completes_nothing_at_once() -> None:
    started = time.monotonic()
    assert complete(["--db", "postgresql://bot:secret@127.0.0.1:1/stocks", "strategy", "show"], "") == []
    assert time.monotonic() - started < 5


def test_without_db_the_default_file_is_read(isolated_home: Path) -> None:
    """No --db and no DATABASE_URL: completion reads the default database, the file every
    command uses (stocksbot/paths.py), found without SQLAlchemy."""
    from stocksbot import open_storage
    from stocksbot.storage.database import resolve_target

    path = resolve_target(None).sqlite_path
    assert path is not None and path.parent == isolated_home
    isolated_home.mkdir(parents=True, exist_ok=True)
    with open_storage(f"sqlite:///{path}") as storage:
        storage.record_trade(side="buy", symbol="TSLA", quantity="1", price="200")
    assert complete(["trade", "list", "--symbol"], "T") == ["TSLA"]


def test_symbols_are_walked_by_index_not_scanned(tmp_path: Path) -> None:
    """Many bars of few symbols: each symbol is found once, by index seeks (a million bars must
    not be read on every Tab), and the walk stops at the first symbol past the prefix. The
    SQLite walk only: on PostgreSQL the walks are covered by the tests above."""
    from stocksbot import open_storage

    path = tmp_path / "walk.db"
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,symbol,close\n" + "".join(
        f"2024-01-{day:02d},{symbol},{day}\n" for symbol in ("AA", "AB", "B") for day in range(1, 29)))
    with open_storage(f"sqlite:///{path}") as storage:
        assert storage.import_prices(str(bars)) == 84
    queries = completion._symbol_queries(True)
    assert completion._read_sqlite(path, queries, "A") == ["AA", "AB"]
    assert completion._read_sqlite(path, queries, "") == ["AA", "AB", "B"]

    import sqlite3

    walk = queries[completion.SYMBOL_TABLES.index("price_bars")]
    connection = sqlite3.connect(path)
    try:
        plan = " | ".join(row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {walk}",
                                                               {"low": "A", "prefix": "A", "length": 1}))
    finally:
        connection.close()
    assert "SCAN price_bars" not in plan and "INDEX" in plan, plan


def test_bash_asks_through_the_environment(ledger: list[str], tmp_path: Path) -> None:
    """What bash runs on Tab, end to end: the completion variable, COMP_WORDS and COMP_CWORD."""
    runner = CliRunner()
    source = runner.invoke(cli, [], prog_name="stocksbot", env={"_STOCKSBOT_COMPLETE": "bash_source"})
    assert source.exit_code == 0 and "_STOCKSBOT_COMPLETE=bash_complete" in source.output
    words = " ".join(["stocksbot", *ledger, "trade", "list", "--symbol", "A"])
    result = runner.invoke(cli, [], prog_name="stocksbot", env={
        "_STOCKSBOT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["plain,AAPL", "plain,AMZN"]
