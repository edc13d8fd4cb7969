"""What the everyday commands load when they start (issue 10; BENCHMARKS.md, start-up).

On a small database a command's time is almost all start-up, so each loads only what it uses:
no ORM, no PostgreSQL dialect on SQLite, no Alembic, no import or export code, only the
records it returns (`storage/records/` loads one module per noun on first use) and, for a
reading command, none of the booking code. Each command runs in a fresh interpreter (the test
process has imported everything the other tests use) and reports the modules it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stocksbot import open_storage

pytestmark = pytest.mark.slow  # starts processes (pyproject.toml, the markers)

REPO = Path(__file__).resolve().parent.parent

# Runs the command as the `stocksbot` script does (main(), which pauses the garbage collector
# while the command starts) and prints, as its last line, the modules loaded and the
# collector's state at the end.
PROBE = r"""
import gc, json, sys
from stocksbot.cli.main import main
sys.argv = ["stocksbot", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print()
print(json.dumps({"modules": sorted(sys.modules), "gc_enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""

#: Loaded by none of the everyday commands on SQLite.
NEVER = (
    "sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "psycopg", "alembic", "difflib",
    "stocksbot.services.exports", "stocksbot.services.imports", "stocksbot.beancount", "stocksbot.csvfiles",
    "stocksbot.importers", "stocksbot.storage.records.realized", "stocksbot.storage.records.orders",
    "stocksbot.storage.records.actions", "stocksbot.storage.records.audit", "stocksbot.storage.records.revisions",
)


@pytest.fixture
def small_db(migrated_sqlite_url: str) -> str:
    with open_storage(migrated_sqlite_url) as storage:
        storage.add_strategy("momentum")
        storage.record_trade(side="buy", symbol="HELD", quantity="10", price="50", strategy="momentum")
        storage.add_price("HELD", "54")
    return migrated_sqlite_url


def start(url: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", PROBE, "--db", url, *args], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] and "stocksbot.cli.main" in report["modules"]
    return report


def loaded(report: dict[str, Any], prefix: str) -> set[str]:
    return {name for name in report["modules"] if name == prefix or name.startswith(prefix + ".")}


@pytest.mark.parametrize("args", [
    ("trade", "add", "buy", "HELD", "1", "--price", "10"),
    ("position", "list"),
    ("summary",),
    ("config", "get", "accounting.cost_basis"),
])
def test_everyday_commands_load_nothing_they_do_not_use(small_db: str, args: tuple[str, ...]) -> None:
    report = start(small_db, *args)
    assert [name for name in NEVER if loaded(report, name)] == []
    # Start-up is over once the database is open: the collector is back on, and what start-up
    # made is out of its way (collector.py, pause_gc and resume_gc).
    assert report["gc_enabled"] and report["frozen"] > 0


def test_reading_commands_load_no_booking(small_db: str) -> None:
    for args in (("position", "list"), ("summary",)):
        report = start(small_db, *args)
        assert not loaded(report, "stocksbot.storage.booking"), args
        assert not loaded(report, "stocksbot.ledger.lots"), args


def test_commands_load_only_the_records_they_return(small_db: str) -> None:
    records = "stocksbot.storage.records"
    assert loaded(start(small_db, "trade", "add", "sell", "HELD", "1", "--price", "10"), records) == {
        records, f"{records}.trades", f"{records}.changes"}
    assert loaded(start(small_db, "config", "get", "accounting.cost_basis"), records) == {
        records, f"{records}.changes"}


def test_a_command_without_a_database_leaves_the_collector_paused_and_loads_no_sqlalchemy() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, "--help"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert not loaded(report, "sqlalchemy") and not loaded(report, "stocksbot.storage")
    assert not report["gc_enabled"]  # a process that ends without work never needed it
