"""db backup / restore / copy: whole databases moved without losing or corrupting a row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocksbot import open_storage
from stocksbot.cli.main import cli

runner = CliRunner()


def run(url: str, *args: str):
    return runner.invoke(cli, ["--db", url, *args], catch_exceptions=False)


def fill(url: str) -> None:
    with open_storage(url) as storage:
        storage.add_strategy("momo", params={"k": [1, 2]})
        storage.record_trade(side="buy", symbol="AAPL", quantity="4", price="149.50", commission="1",
                             executed_at="2024-01-02", strategy="momo")
        storage.record_trade(side="sell", symbol="AAPL", quantity="1", price="0.0000000001", executed_at="2024-01-03",
                             external_id="x-1")
        order = storage.add_order(side="buy", symbol="MSFT", quantity="3", order_type="limit", limit_price="10")
        storage.change_order_status(order.id, "submitted")
        storage.fill_order(order.id, "1", "9.99")
        storage.add_price("AAPL", "123456789012345678.5", at="2024-01-04")
        storage.config_set("accounting.cost_basis", "lifo")


def state(url: str) -> str:
    """Everything a user can see, as JSON text."""
    parts = [run(url, "--json", *args).stdout for args in (
        ["trade", "list"], ["position", "list", "--all"], ["order", "list"], ["strategy", "list"],
        ["config", "list"], ["price", "latest"],
    )]
    return "\n".join(parts)


def test_backup_then_restore(migrated_url: str, tmp_path: Path) -> None:
    fill(migrated_url)
    before = state(migrated_url)
    backup = tmp_path / "backup.file"
    result = run(migrated_url, "db", "backup", str(backup))
    assert (result.exit_code, result.stdout) == (0, f"backed up to {backup}\n")
    assert run(migrated_url, "db", "backup", str(backup)).exit_code == 1  # never overwrites
    run(migrated_url, "trade", "add", "buy", "TSLA", "1", "--price", "1")
    assert state(migrated_url) != before
    result = run(migrated_url, "--json", "db", "restore", str(backup))
    assert result.exit_code == 0, result.output
    kept = Path(json.loads(result.stdout)["previous"])
    assert kept.exists()
    assert state(migrated_url) == before
    assert run(migrated_url, "db", "check").exit_code == 0


def test_restore_refuses_what_is_not_a_backup(migrated_url: str, tmp_path: Path) -> None:
    fill(migrated_url)
    before = state(migrated_url)
    junk = tmp_path / "junk.db"
    junk.write_text("hello")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    for path in (junk, other, tmp_path / "missing.db"):
        result = run(migrated_url, "db", "restore", str(path))
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert state(migrated_url) == before


def test_copy_sqlite_to_postgresql_and_back(sqlite_url: str, postgres_url: str, tmp_path: Path) -> None:
    assert run(sqlite_url, "db", "upgrade").exit_code == 0
    fill(sqlite_url)
    before = state(sqlite_url)
    result = run(sqlite_url, "db", "copy", "--to", postgres_url)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("copied ") and result.stderr.endswith("db check passed there\n")
    assert state(postgres_url) == before
    # identity counters moved past the copied ids: new rows do not collide
    assert run(postgres_url, "trade", "add", "buy", "NEW", "1", "--price", "1").exit_code == 0
    assert run(postgres_url, "strategy", "add", "other").exit_code == 0
    # a second copy into a non-empty target is refused
    result = run(sqlite_url, "db", "copy", "--to", postgres_url)
    assert result.exit_code == 1 and "not empty" in result.stderr
    back = f"sqlite:///{tmp_path / 'back.db'}"
    assert run(postgres_url, "db", "copy", "--to", back).exit_code == 0
    assert state(back) == state(postgres_url)


def test_backup_needs_pg_dump_for_postgresql(postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert run(postgres_url, "db", "upgrade").exit_code == 0
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run(postgres_url, "db", "backup", str(tmp_path / "x.dump"))
    assert result.exit_code == 1
    assert result.stderr == "Error: pg_dump is not installed: install the PostgreSQL client tools " \
        "(e.g. `apt-get install postgresql-client`)\n"


WRITER = """
import sys
from stocksbot import open_storage
with open_storage(sys.argv[1]) as storage:
    for i in range(400):
        storage.record_trade(side="buy", symbol=f"W{i % 7}", quantity="1", price="2.5")
"""


@pytest.mark.slow
def test_sqlite_backup_while_another_process_writes(sqlite_url: str, tmp_path: Path) -> None:
    """The online backup API copies a consistent snapshot even while trades are being written."""
    import subprocess
    import sys

    assert run(sqlite_url, "db", "upgrade").exit_code == 0
    writer = subprocess.Popen([sys.executable, "-c", WRITER, sqlite_url], stderr=subprocess.PIPE, text=True)
    backups = []
    try:
        for n in range(5):
            path = tmp_path / f"b{n}.db"
            assert run(sqlite_url, "db", "backup", str(path)).exit_code == 0
            backups.append(path)
    finally:
        _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    for path in backups:
        url = f"sqlite:///{path}"
        assert run(url, "db", "check").exit_code == 0
        trades = json.loads(run(url, "--json", "trade", "list").stdout)
        quantities = {p["symbol"]: p["quantity"] for p in json.loads(run(url, "--json", "position", "list").stdout)}
        by_symbol: dict[str, int] = {}
        for trade in trades:
            by_symbol[trade["symbol"]] = by_symbol.get(trade["symbol"], 0) + 1
        assert quantities == {s: str(n) for s, n in by_symbol.items()}
