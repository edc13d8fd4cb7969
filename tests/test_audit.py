"""The audit log (docs/ledger.md §20) on SQLite and PostgreSQL: every write command leaves its entry in
the transaction of its change, imports write one entry per run of trade ids, `audit list` shows the
log newest first, and `db check` proves that the log and the ledger agree.

`test_every_write_command_leaves_an_entry` walks the command tree: a new command must be listed
as a read, as a write with its scenario here, or as not audited (with the reason), so a write
that forgets its entry fails here.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update

from stocksbot import open_storage
from stocksbot.cli.main import cli
from stocksbot.errors import StocksbotError
from stocksbot.storage import tables
from stocksbot.storage.audit import API_COMMAND, TRADE_CREATING_ACTIONS
from stocksbot.storage.checks import _missing

LOG = tables.audit_log
NATIVE = str(Path(__file__).parent / "fixtures" / "brokers" / "native.csv")
ENTRY_KEYS = {"id", "at", "action", "entity", "entity_key", "old", "new", "command", "first_trade_id", "last_trade_id"}

#: Commands that only read (or print help); they write no entry.
READS = {
    "account list", "account show", "cash balance", "cash list", "config get", "config list", "db check",
    "db current", "db history", "db path", "dividend list", "order list", "order show", "performance",
    "position list", "position show", "price chart", "price history", "price latest", "report realized",
    "split list", "strategy list", "strategy show", "summary", "symbol list", "symbol show", "trade export",
    "trade list", "audit list",
}
#: Commands that change no row of the ledger, and why they write no entry.
NOT_AUDITED = {
    "db backup": "writes a file; the database is only read",
    "db upgrade": "changes the schema; migration 0008 starts the log with its baseline entries",
    "db downgrade": "changes the schema; below 0008 there is no log to write to",
}
#: Writes whose entries other tests check: the restored and the copied database (below), and
#: the corrections (tests of `trade void` / `trade amend`).
AUDITED_ELSEWHERE = {"db restore", "db copy", "trade void", "trade amend"}


def leaf_commands() -> set[str]:
    ctx = click.Context(cli)
    found: set[str] = set()

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                child = command.get_command(ctx, name)
                assert child is not None
                walk(child, [*path, name])
        else:
            found.add(" ".join(path))

    walk(cli, [])
    return found


def scenario(tmp_path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """Each write command once, in an order in which each succeeds, with the action it records."""
    trades = tmp_path / "trades.csv"
    trades.write_text("executed_at,side,symbol,quantity,price\n2024-01-05T15:00:00Z,buy,MSFT,3,300\n"
                      "2024-01-06T15:00:00Z,sell,MSFT,1,310\n")
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,close\n2024-06-03,151\n2024-06-04,152\n")
    return [
        ("account.add", ("account", "add", "ira", "--currency", "USD")),
        ("account.add", ("account", "add", "tmp")),
        ("account.rename", ("account", "rename", "tmp", "spare")),
        ("account.close", ("account", "close", "spare")),
        ("cash.deposit", ("cash", "deposit", "100000", "--at", "2024-01-01")),
        ("cash.withdraw", ("cash", "withdraw", "100", "--at", "2024-01-01T12:00")),
        ("cash.interest", ("cash", "interest", "5", "--at", "2024-01-01T13:00")),
        ("cash.fee", ("cash", "fee", "1", "--at", "2024-01-01T14:00")),
        ("cash.tax", ("cash", "tax", "1", "--at", "2024-01-01T15:00")),
        ("cash.transfer", ("cash", "transfer", "50", "--from", "main", "--to", "ira", "--at", "2024-01-01T16:00")),
        ("cash.convert", ("cash", "convert", "100", "USD", "EUR", "--rate", "0.9", "--at", "2024-01-01T17:00")),
        ("config.set", ("config", "set", "trading.allow_short", "true")),
        ("config.unset", ("config", "unset", "trading.allow_short")),
        ("strategy.add", ("strategy", "add", "mom", "--param", "k=1")),
        ("strategy.set", ("strategy", "set", "mom", "k=2")),
        ("strategy.disable", ("strategy", "disable", "mom")),
        ("strategy.enable", ("strategy", "enable", "mom")),
        ("strategy.add", ("strategy", "add", "gone")),
        ("strategy.remove", ("strategy", "remove", "gone")),
        ("trade.add", ("trade", "add", "buy", "AAPL", "10", "--price", "100", "--at", "2024-01-02T16:00")),
        ("trade.import", ("trade", "import", str(trades))),
        ("statement.import", ("import", NATIVE)),
        ("position.add", ("position", "add", "NVDA", "5", "--price", "400", "--at", "2024-03-01")),
        ("position.close", ("position", "close", "NVDA", "--price", "410", "--at", "2024-03-02")),
        ("position.rebuild", ("position", "rebuild")),
        ("order.add", ("order", "add", "buy", "AAPL", "5", "--type", "limit", "--limit-price", "100")),
        ("order.submit", ("order", "submit", "1")),
        ("order.fill", ("order", "fill", "1", "2", "--price", "99", "--at", "2024-03-05")),
        ("order.cancel", ("order", "cancel", "1")),
        ("order.add", ("order", "add", "buy", "AAPL", "1")),
        ("order.reject", ("order", "reject", "2")),
        ("order.add", ("order", "add", "buy", "AAPL", "1")),
        ("order.submit", ("order", "submit", "3")),
        ("order.expire", ("order", "expire", "3")),
        ("order.add", ("order", "add", "sell", "AAPL", "1")),
        ("order.remove", ("order", "remove", "4")),
        ("dividend.add", ("dividend", "add", "AAPL", "10", "--at", "2024-03-10")),
        ("dividend.remove", ("dividend", "remove", "1")),
        ("split.add", ("split", "add", "AAPL", "2:1", "--at", "2024-04-01")),
        ("split.remove", ("split", "remove", "1")),
        ("symbol.set", ("symbol", "set", "AAPL", "--name", "Apple")),
        ("symbol.rename", ("symbol", "rename", "FB", "META", "--at", "2024-05-01")),
        ("transfer.add", ("transfer", "AAPL", "1", "--from", "main", "--to", "ira", "--at", "2024-06-01")),
        ("price.add", ("price", "add", "AAPL", "150", "--at", "2024-06-02")),
        ("price.import", ("price", "import", str(bars), "--symbol", "AAPL")),
        ("price.remove", ("price", "remove", "AAPL", "--at", "2024-06-02")),
    ]


def entries(url: str) -> list[dict[str, Any]]:
    """The whole log, oldest first, as `audit list --json` gives it."""
    result = invoke(url, "--json", "audit", "list", "--limit", "100000")
    assert result.exit_code == 0, result.output
    return list(reversed(json.loads(result.output)))


def invoke(url: str, *args: str) -> Any:
    from click.testing import CliRunner

    return CliRunner().invoke(cli, ["--db", url, *args], catch_exceptions=False)


def written_commands(steps: list[tuple[str, tuple[str, ...]]]) -> set[str]:
    return {" ".join(args[:1] if args[0] in ("import", "transfer") else args[:2]) for _action, args in steps}


def test_every_command_is_a_read_or_a_write_with_its_scenario(tmp_path: Path) -> None:
    """A new command fails here until it is classified (the fast half of the walk below)."""
    written = written_commands(scenario(tmp_path))
    unclassified = leaf_commands() - READS - set(NOT_AUDITED) - AUDITED_ELSEWHERE - written
    assert not unclassified, f"classify these commands in tests/test_audit.py (does each write an entry?): " \
                             f"{sorted(unclassified)}"
    assert not (READS & written) and not (set(NOT_AUDITED) & written) and not (AUDITED_ELSEWHERE & written)


@pytest.mark.slow  # ~50 commands
def test_every_write_command_leaves_an_entry(run, migrated_url: str, tmp_path: Path) -> None:
    steps = scenario(tmp_path)
    seen = 0
    for action, args in steps:
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
        log = entries(migrated_url)
        new = log[seen:]
        assert new, f"{shlex.join(args)} left no audit entry"
        assert [entry["action"] for entry in new] == [action], shlex.join(args)
        assert all(entry["command"].endswith(shlex.join(args)) for entry in new)
        seen = len(log)
    # Reads write nothing.
    for args in (("trade", "list"), ("summary",), ("db", "check"), ("audit", "list")):
        assert run(*args).exit_code == 0
    assert len(entries(migrated_url)) == seen
    assert run("db", "check").exit_code == 0


def test_trade_entries_hold_the_trade_and_its_id(storage) -> None:
    trade = storage.record_trade(side="buy", symbol="AAPL", quantity="0.0000000001", price="150.25",
                                 executed_at="2024-01-02")
    (entry,) = storage.audit()
    assert (entry.action, entry.entity, entry.entity_key, entry.command) == ("trade.add", "trade", str(trade.id),
                                                                            API_COMMAND)
    assert (entry.first_trade_id, entry.last_trade_id) == (trade.id, trade.id)
    assert entry.old is None
    assert entry.new["quantity"] == "0.0000000001" and entry.new["price"] == "150.25"
    assert entry.new["executed_at"] == "2024-01-02T00:00:00+00:00" or entry.new["executed_at"].endswith("+00:00")
    assert set(entry.to_json()) == ENTRY_KEYS
    assert storage.check() == []


def test_a_fill_records_the_orders_progress_and_its_trade(storage) -> None:
    order = storage.add_order(side="buy", symbol="MSFT", quantity="10", order_type="limit", limit_price="400")
    storage.change_order_status(order.id, "submitted")
    storage.fill_order(order.id, "4", "399.5")
    trade = storage.record_trade(side="buy", symbol="MSFT", quantity="6", price="400", order_id=order.id)
    second, first, submitted, added = storage.audit()[:4]
    assert (added.action, submitted.action) == ("order.add", "order.submit")
    assert (submitted.old, submitted.new) == ({"status": "pending"}, {"status": "submitted"})
    assert first.action == second.action == "order.fill"
    assert first.old == {"filled_quantity": "0", "avg_fill_price": None, "status": "submitted"}
    assert {k: first.new[k] for k in first.old} == {"filled_quantity": "4", "avg_fill_price": "399.5",
                                                   "status": "partially_filled"}
    assert second.new["status"] == "filled" and second.new["avg_fill_price"] == "399.8"
    assert second.new["trade"]["id"] == trade.id == second.first_trade_id == second.last_trade_id
    stored = storage.get_order(order.id)  # the entry says what the order row holds
    assert (second.new["filled_quantity"], second.new["avg_fill_price"]) == (
        str(stored.filled_quantity), str(stored.avg_fill_price))
    assert storage.check() == []


def test_changes_store_only_what_changed(storage) -> None:
    storage.config_set("accounting.cost_basis", "lifo")
    storage.add_strategy("mom", params={"a": 1, "b": 2})
    storage.set_strategy_params("mom", {"b": 3})
    storage.set_symbol("AAPL", name="Apple")
    storage.set_symbol("AAPL", name="Apple Inc.")
    symbol, added, params, strategy, config = storage.audit()[:5]
    assert (config.action, config.old, config.new) == (
        "config.set", {"value": "fifo", "default": True}, {"value": "lifo", "default": False})
    assert strategy.new == {"name": "mom", "description": None, "params": {"a": 1, "b": 2}, "enabled": True}
    assert (params.old, params.new) == ({"params": {"b": 2}}, {"params": {"b": 3}})
    assert added.old is None and added.new["name"] == "Apple"
    assert (symbol.old, symbol.new) == ({"name": "Apple"}, {"name": "Apple Inc."})
    storage.config_unset("accounting.cost_basis")
    (unset,) = storage.audit(limit=1)
    assert unset.action == "config.unset" and unset.old["value"] == "lifo" and unset.new["value"] == "fifo"


def test_an_import_is_one_entry_for_its_run_of_trades(storage, tmp_path: Path) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10", executed_at="2024-01-01")
    path = tmp_path / "trades.csv"
    rows = "".join(f"2024-02-{day:02d}T15:00:00Z,buy,MSFT,1,{300 + day},x-{day}\n" for day in range(1, 29))
    path.write_text("executed_at,side,symbol,quantity,price,external_id\n" + rows)
    result = storage.import_trades(path)
    assert result.imported == 28
    (entry,) = storage.audit(limit=1)
    assert entry.action == "trade.import" and entry.entity_key is None
    assert (entry.first_trade_id, entry.last_trade_id) == (2, 29)
    assert entry.new["imported"] == 28 and entry.new["skipped"] == 0 and entry.new["file"] == str(path)
    # A re-import skips every row, writes no trade, and says so in its entry.
    storage.import_trades(path)
    (again,) = storage.audit(limit=1)
    assert (again.new["imported"], again.new["skipped"], again.first_trade_id) == (0, 28, None)
    # A dry run writes nothing, not even its entry.
    storage.import_trades(path, dry_run=True)
    assert len(storage.audit()) == 3
    with storage.reading() as conn:
        assert conn.execute(select(func.count()).select_from(LOG)).scalar_one() == 3
    assert storage.check() == []


def test_a_refused_write_leaves_no_entry(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10")
    with pytest.raises(StocksbotError, match="cannot sell 5 AAPL"):
        storage.record_trade(side="sell", symbol="AAPL", quantity="5", price="10")
    with pytest.raises(StocksbotError):
        storage.config_set("trading.allow_short", "maybe")
    # Inside a bot's transaction, an operation that fails undoes its own entry with its change.
    with storage.transaction():
        storage.add_strategy("kept")
        with pytest.raises(StocksbotError):
            storage.add_strategy("kept")
    assert [e.action for e in storage.audit()] == ["strategy.add", "trade.add"]


def test_audit_list_newest_first_since_and_limit(run, data) -> None:
    for name in ("a", "b", "c"):
        assert run("strategy", "add", name).exit_code == 0
    listed = data("audit", "list")
    assert [e["entity_key"] for e in listed] == ["c", "b", "a"]
    assert all(set(e) == ENTRY_KEYS for e in listed)
    assert listed[0]["at"].endswith("+00:00") and listed[0]["command"].endswith("strategy add c")
    assert [e["entity_key"] for e in data("audit", "list", "--limit", "2")] == ["c", "b"]
    assert data("audit", "list", "--since", "2999-01-01") == []
    assert len(data("audit", "list", "--since", "2000-01-01")) == 3
    table = run("audit", "list")
    assert table.exit_code == 0
    assert table.output.splitlines()[0].split() == ["when", "action", "what", "change", "command"]
    assert "strategy.add  strategy c" in table.output
    for args, message in ((("--limit", "0"), "--limit must be 1 or more, got 0"),
                          (("--since", "yesterday"), "--since")):
        result = run("audit", "list", *args)
        assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1


def test_db_check_finds_a_trade_without_its_entry(run, storage) -> None:
    for day in range(1, 5):
        storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10", executed_at=f"2024-01-0{day}")
    assert storage.check() == []
    with storage.transaction() as conn:
        conn.execute(delete(LOG).where(LOG.c.first_trade_id.in_([2, 3])))
    assert storage.check() == ["trades 2-3: no audit entry records their creation (an entry of the audit log was "
                               "deleted, or a trade written outside stocksbot)"]
    result = run("db", "check")
    assert result.exit_code == 1 and "trades 2-3: no audit entry records their creation" in result.output
    # The last trade, and then the first, lose their entries too: the gaps at either end count.
    for trade_id, expected in ((4, "trades 2-4"), (1, "trades 1-4")):
        with storage.transaction() as conn:
            conn.execute(delete(LOG).where(LOG.c.first_trade_id == trade_id))
        assert [finding.split(":")[0] for finding in storage.check()] == [expected]


def test_db_check_wants_a_void_entry_for_each_voided_trade(storage) -> None:
    trade = storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10")
    with storage.transaction() as conn:  # voided by hand, without `trade void` and its entry
        conn.execute(update(tables.trades).where(tables.trades.c.id == trade.id)
                     .values(voided_at=func.current_timestamp(), void_reason="by hand"))
    findings = [f for f in storage.check() if f.startswith(f"trade {trade.id}:")]
    assert findings == [f"trade {trade.id}: voided, but no trade.void entry of the audit log records it"]


def test_baseline_and_every_creating_action_cover_trades(storage) -> None:
    """Each way stocksbot creates a trade records it under a trade-creating action."""
    storage.deposit("100000", at="2024-01-01")
    storage.record_trade(side="buy", symbol="AAPL", quantity="3", price="10", executed_at="2024-01-02")
    storage.add_position("MSFT", "2", "300", executed_at="2024-01-03")
    storage.close_position("MSFT", "310", executed_at="2024-01-04")
    storage.record_dividend("AAPL", "3", paid_at="2024-01-05", reinvest="0.1", price="10")
    storage.record_split("AAPL", "3:2", "2024-01-06", cash_in_lieu="6.5")  # 0.65 share at 10
    creating = [e for e in storage.audit() if e.first_trade_id is not None]
    assert {e.action for e in creating} <= TRADE_CREATING_ACTIONS
    assert {e.action for e in creating} == {"trade.add", "position.add", "position.close", "dividend.add",
                                           "split.add"}
    with storage.reading() as conn:
        ids = set(conn.execute(select(tables.trades.c.id)).scalars())
    assert ids == {i for e in creating for i in range(e.first_trade_id, e.last_trade_id + 1)}
    assert storage.check() == []


@settings(suppress_health_check=[HealthCheck.too_slow])  # small inputs; a loaded machine is not the test's fault
@given(st.sets(st.integers(1, 60), max_size=40), st.lists(st.tuples(st.integers(1, 60), st.integers(0, 8)), max_size=8))
def test_the_sweep_finds_exactly_the_uncovered_ids(ids: set[int], spans: list[tuple[int, int]]) -> None:
    from stocksbot.storage.audit import trade_runs

    covered_ids = {i for start, length in spans for i in range(start, start + length + 1)}
    covered = trade_runs(covered_ids)  # merged and sorted, as `_covered` gives them
    missing = _missing(trade_runs(ids), covered)
    assert {i for first, last in missing for i in range(first, last + 1)} == ids - covered_ids
    assert missing == trade_runs(ids - covered_ids)


def test_a_restored_database_says_it_was_restored(migrated_url: str, tmp_path: Path) -> None:
    import shutil

    if not migrated_url.startswith("sqlite") and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    with open_storage(migrated_url) as storage:
        storage.add_strategy("before")
    backup = tmp_path / "backup.file"
    assert invoke(migrated_url, "db", "backup", str(backup)).exit_code == 0
    with open_storage(migrated_url) as storage:
        storage.add_strategy("after")
    result = invoke(migrated_url, "db", "restore", str(backup))
    assert result.exit_code == 0, result.output
    log = entries(migrated_url)
    assert [e["action"] for e in log] == ["strategy.add", "db.restore"]
    assert log[1]["new"]["from"] == str(backup.resolve()) and log[1]["command"].endswith(f"db restore {backup}")
    assert invoke(migrated_url, "db", "check").exit_code == 0


@pytest.mark.slow  # migrates a second database
def test_a_copy_says_where_it_came_from(migrated_sqlite_url: str, tmp_path: Path) -> None:
    with open_storage(migrated_sqlite_url) as storage:
        storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10")
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    result = invoke(migrated_sqlite_url, "db", "copy", "--to", target)
    assert result.exit_code == 0, result.output
    log = entries(target)
    assert [e["action"] for e in log] == ["trade.add", "db.copy"]
    assert log[1]["new"]["rows"]["trades"] == 1 and log[1]["new"]["from"].endswith("test.db")
    assert entries(migrated_sqlite_url)[-1]["action"] == "trade.add"  # the source is only read
