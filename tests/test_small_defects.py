"""The smaller defects of issue 11 (§2 item 10), each pinned by a test that failed before the fix.

- a new or blank SQLite file named by URL is created at head, so the README's Python API
  example runs as written (DATABASE_SETUP.md, "A file that did not exist");
- a command that fails leaves no file it created behind;
- `price latest` says which symbols have no price, exit 1 when none has one;
- a short's open cost has one sign everywhere: negative, like its market value (docs/ledger.md §5.2, §6.3);
- a refused PostgreSQL login is reported at once, not retried (DATABASE_SETUP.md, "Connection retries");
- an account with no cash shows `0.00 USD`, as money is shown.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from stocksbot import open_storage
from stocksbot.cli.main import cli
from stocksbot.errors import DatabaseUnavailable, SchemaMismatch
from stocksbot.ledger.numbers import ZERO, add
from stocksbot.storage import database
from stocksbot.storage.migrations import HEAD_REVISION

README = Path(__file__).resolve().parent.parent / "README.md"
runner = CliRunner()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, list(args), catch_exceptions=False)


def revision_of(path: Path) -> str | None:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        connection.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- 1. the README's Python API example, and new or blank files named by URL --------------------

def readme_python_example() -> str:
    """The code block under "## Python API" in README.md, as a reader would copy it."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "README.md has no python block under ## Python API"
    return match.group(1)

@pytest.mark.slow  # migrates a new file (about 1 s)
def test_readme_python_api_example_runs_on_a_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = readme_python_example()
    assert 'open_storage("sqlite:///' in code  # the example names a new file by URL
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out
    assert "AAPL" in printed
    created = [p for p in tmp_path.iterdir() if p.suffix == ".db"]
    assert len(created) == 1 and revision_of(created[0]) == HEAD_REVISION
    assert created[0].stat().st_mode & 0o777 == 0o600
    with open_storage(f"sqlite:///{created[0]}") as storage:
        [position] = storage.list_positions()
        assert (position.symbol, position.quantity, position.avg_entry_price) == ("AAPL", Decimal(10), Decimal("150.25"))
        [order] = storage.list_orders()
        assert (order.status, order.limit_price) == ("submitted", Decimal(160))


@pytest.mark.slow  # migrates a new file (about 1 s)
@pytest.mark.parametrize("state", ["missing", "zero bytes"])
def test_a_new_or_blank_sqlite_file_named_by_url_is_created_at_head(tmp_path: Path, state: str) -> None:
    path = tmp_path / "ledger.db"
    if state == "zero bytes":
        path.touch()
    with open_storage(f"sqlite:///{path}") as storage:
        storage.record_trade(side="buy", symbol="MSFT", quantity="2", price="400")
        assert storage.upgraded is None  # nothing existed, so nothing to report or back up
    assert revision_of(path) == HEAD_REVISION
    assert [p.name for p in tmp_path.iterdir() if ".bak-" in p.name] == []
    result = invoke("--db", f"sqlite:///{path}", "--json", "position", "list")
    assert [p["symbol"] for p in json.loads(result.stdout)] == ["MSFT"]

@pytest.mark.slow  # migrates a new file (about 1 s)
def test_a_named_sqlite_file_behind_head_is_still_refused(tmp_path: Path) -> None:
    from stocksbot.storage import migrations

    path = tmp_path / "old.db"
    previous = migrations.history()[1].revision
    engine = database.build_engine(database.resolve_target(f"sqlite:///{path}"), database.ConnectionSettings())
    migrations.upgrade(engine, previous)
    engine.dispose()
    with pytest.raises(SchemaMismatch, match=f"database schema is at {previous}, this stocksbot needs {HEAD_REVISION}"):
        open_storage(f"sqlite:///{path}")
    assert revision_of(path) == previous  # untouched, and kept
    result = invoke("--db", f"sqlite:///{path}", "config", "list")
    assert result.exit_code == 1 and path.exists() and revision_of(path) == previous


def test_an_empty_postgresql_database_is_never_migrated(postgres_url: str) -> None:
    with pytest.raises(SchemaMismatch, match="database schema is at <empty>"):
        open_storage(postgres_url)
    engine = database.build_engine(database.resolve_target(postgres_url), database.ConnectionSettings())
    try:
        from stocksbot.storage.migrations import read_revision

        assert read_revision(engine) is None
    finally:
        engine.dispose()


# --- 2. a failed command leaves no file it created behind ---------------------------------------

@pytest.mark.slow  # migrates a new file (about 1 s)
@pytest.mark.parametrize("args", [
    ["config", "get", "foo"],  # fails after the file was created and migrated
    ["price", "latest", "NOPE"],  # fails by its exit code
    ["trade", "add", "sell", "AAPL", "1", "--price", "1"],  # refused by the ledger
])
def test_a_failed_command_on_a_new_file_leaves_nothing_behind(tmp_path: Path, args: list[str]) -> None:
    folder = tmp_path / "place"
    folder.mkdir()
    result = invoke("--db", f"sqlite:///{folder / 'none.db'}", *args)
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")
    assert leftovers(folder) == []


def test_a_schema_inspection_of_a_new_file_leaves_nothing_behind(tmp_path: Path) -> None:
    result = invoke("--db", f"sqlite:///{tmp_path / 'typo.db'}", "db", "current")
    assert result.exit_code == 0 and result.stdout.startswith("<empty>")
    assert not (tmp_path / "typo.db").exists()

@pytest.mark.slow  # migrates a new file (about 1 s)
def test_a_command_that_succeeds_on_a_new_file_keeps_it_at_head(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    assert invoke("--db", f"sqlite:///{path}", "config", "set", "bot.name", "kept").exit_code == 0
    assert revision_of(path) == HEAD_REVISION
    assert invoke("--db", f"sqlite:///{path}", "config", "get", "bot.name").stdout == "kept\n"
    assert invoke("--db", f"sqlite:///{path}", "db", "upgrade").exit_code == 0  # `db` commands too
    upgraded = tmp_path / "upgraded.db"
    assert invoke("--db", f"sqlite:///{upgraded}", "db", "upgrade").exit_code == 0
    assert revision_of(upgraded) == HEAD_REVISION


def test_a_failed_command_keeps_a_file_that_existed(migrated_url: str, backend: str) -> None:
    result = invoke("--db", migrated_url, "config", "get", "foo")
    assert result.exit_code == 1
    assert invoke("--db", migrated_url, "config", "set", "bot.name", "still here").exit_code == 0
    if backend == "sqlite":
        assert Path(migrated_url.removeprefix("sqlite:///")).stat().st_size > 0

@pytest.mark.slow  # migrates a new file (about 1 s)
def test_a_failed_first_command_leaves_no_default_database(isolated_home: Path) -> None:
    result = invoke("config", "get", "foo")
    assert result.exit_code == 1
    assert not (isolated_home / "stocksbot.db").exists()
    assert invoke("config", "set", "bot.name", "first").exit_code == 0  # created on first successful use
    assert revision_of(isolated_home / "stocksbot.db") == HEAD_REVISION

@pytest.mark.slow  # migrates a new file (about 1 s)
def test_a_new_file_someone_wrote_to_is_kept(tmp_path: Path) -> None:
    """The file is removed only while it holds what creating it put there: rows written by
    another process meanwhile (a bot started at the same moment) keep it."""
    from stocksbot.storage.unit_of_work import UnitOfWork, open_engine

    path = tmp_path / "shared.db"
    uow = UnitOfWork(*open_engine(f"sqlite:///{path}", None, check_schema=True))
    assert uow.new_file is not None
    with open_storage(f"sqlite:///{path}") as other:
        other.config_set("bot.name", "theirs")
    assert uow.discard_new_file(failed=True) is False
    assert path.exists()
    with open_storage(f"sqlite:///{path}") as other:
        assert other.config_get("bot.name").value == "theirs"
    untouched = tmp_path / "untouched.db"
    uow = UnitOfWork(*open_engine(f"sqlite:///{untouched}", None, check_schema=True))
    assert uow.discard_new_file(failed=True) is True and leftovers(tmp_path) == ["shared.db"]


# --- 3. price latest of symbols without a price --------------------------------------------------

def test_price_latest_of_a_symbol_without_a_price_is_an_error(run) -> None:  # type: ignore[no-untyped-def]
    result = run("price", "latest", "NOPE")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "Error: no price for NOPE: add one with `stocksbot price add SYMBOL PRICE`\n"
    result = run("--json", "price", "latest", "nope", "FOO")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("Error: no price for NOPE, FOO:")


def test_price_latest_names_the_unpriced_among_priced_symbols(run) -> None:  # type: ignore[no-untyped-def]
    assert run("price", "add", "AAPL", "151.20", "--at", "2024-01-15T16:00").exit_code == 0
    result = run("--json", "price", "latest", "AAPL", "NOPE", "aapl")
    assert result.exit_code == 0
    assert [(p["symbol"], p["close"]) for p in json.loads(result.stdout)] == [("AAPL", "151.2")]
    assert result.stderr == "no price for NOPE\n"
    result = run("price", "latest", "AAPL")
    assert (result.exit_code, result.stderr) == (0, "")
    assert "AAPL" in result.stdout


def test_price_latest_with_no_symbols_and_no_prices_is_empty(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--json", "price", "latest")
    assert (result.exit_code, json.loads(result.stdout), result.stderr) == (0, [], "")


# --- 4. one sign for a short's open cost ---------------------------------------------------------

def test_a_shorts_cost_has_one_sign_in_positions_lots_and_summary(data, run) -> None:  # type: ignore[no-untyped-def]
    run("position", "add", "AAPL", "10", "--price", "100", "--commission", "1", "--at", "2024-01-02")
    run("position", "add", "TSLA", "5", "--price", "200", "--short", "--commission", "1", "--at", "2024-01-02")
    run("price", "add", "AAPL", "110", "--at", "2024-01-03")
    run("price", "add", "TSLA", "190", "--at", "2024-01-03")
    positions = {p["symbol"]: p for p in data("position", "list")}
    assert positions["AAPL"]["open_cost"] == "1001"
    assert positions["TSLA"]["open_cost"] == "-999"  # the net proceeds, negative like the market value
    for p in positions.values():  # market value = open cost + unrealized P&L, either side
        assert Decimal(p["market_value"]) == add(Decimal(p["open_cost"]), Decimal(p["unrealized_pnl"]))
    lots = data("position", "show", "TSLA")["lots"]
    assert [lot["cost"] for lot in lots] == ["-999"] and [lot["unit_cost"] for lot in lots] == ["199.8"]
    opened = sum((Decimal(p["open_cost"]) for p in positions.values()), ZERO)
    for summary in (data("summary"), data("summary", "--as-of", "2024-01-03")):
        assert Decimal(summary["cost"]) == opened == Decimal(2)
        for line in [summary, *summary["by_strategy"]]:
            assert Decimal(line["market_value"]) == add(Decimal(line["cost"]), Decimal(line["unrealized_pnl"]))
    shown = run("position", "show", "TSLA").stdout
    assert re.search(r"open cost\s+-999\.00", shown)
    assert re.search(r"^total\s+2\s+2\.00\s+", run("summary").stdout, re.M)


# --- 5. a refused login is not retried -----------------------------------------------------------

@pytest.mark.parametrize("message", [
    'connection failed: FATAL:  password authentication failed for user "bot"',
    'connection failed: FATAL:  role "bot" does not exist',
    'connection failed: FATAL:  no pg_hba.conf entry for host "10.0.0.2", user "bot", database "db"',
    "connection failed: fe_sendauth: no password supplied",
    'connection failed: FATAL:  database "db" does not exist',
])
def test_a_refused_login_is_reported_at_once(monkeypatch: pytest.MonkeyPatch, sqlite_url: str, message: str) -> None:
    target = database.resolve_target(sqlite_url)
    engine = database.build_engine(target, database.ConnectionSettings())
    attempts: list[int] = []
    sleeps: list[float] = []

    def refuse() -> Any:
        attempts.append(1)
        raise OperationalError("connect", {}, Exception(message))

    monkeypatch.setattr(engine, "connect", refuse)
    monkeypatch.setattr(database.time, "sleep", sleeps.append)
    with pytest.raises(DatabaseUnavailable, match=re.escape(message.split(": ", 1)[1])):
        database.connect_with_retries(engine, target, retries=3)
    assert (len(attempts), sleeps) == (1, [])


def test_a_server_still_starting_is_still_retried(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    target = database.resolve_target(sqlite_url)
    engine = database.build_engine(target, database.ConnectionSettings())
    sleeps: list[float] = []
    monkeypatch.setattr(engine, "connect", lambda: (_ for _ in ()).throw(
        OperationalError("connect", {}, Exception("FATAL:  the database system is starting up"))))
    monkeypatch.setattr(database.time, "sleep", sleeps.append)
    with pytest.raises(DatabaseUnavailable, match="starting up"):
        database.connect_with_retries(engine, target, retries=3)
    assert sleeps == [0.2, 0.4, 0.8]


def _refused(url: str) -> tuple[float, Any]:
    started = time.monotonic()
    result = runner.invoke(cli, ["--db", url, "config", "list"])
    return time.monotonic() - started, result


def test_an_unknown_role_fails_at_once_without_the_password(postgres_server) -> None:  # type: ignore[no-untyped-def]
    url = f"postgresql://no_such_role:s3cret-pw@127.0.0.1:{postgres_server.port}/postgres"
    elapsed, result = _refused(url)
    assert result.exit_code == 1
    assert elapsed < 1.0, elapsed  # the default 3 retries slept 1.4 s before
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"Error: cannot connect to postgresql+psycopg://no_such_role:***@127.0.0.1:{postgres_server.port}/postgres: ")
    assert 'role "no_such_role" does not exist' in result.stderr
    assert "s3cret-pw" not in result.output and result.stderr.count("\n") == 1


@pytest.fixture
def password_role(postgres_server):  # type: ignore[no-untyped-def]
    """A role that logs in with a password over TCP (scram-sha-256), though the test server trusts
    everyone else: one pg_hba.conf line for this role alone, removed afterwards."""
    role, hba = "sb_password_check", postgres_server.data / "pg_hba.conf"
    original = hba.read_text()
    postgres_server.admin(f"CREATE ROLE {role} LOGIN PASSWORD 'right-pw'")
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + original)
    postgres_server.admin("SELECT pg_reload_conf()")
    try:
        yield role
    finally:
        hba.write_text(original)
        postgres_server.admin("SELECT pg_reload_conf()")
        postgres_server.admin(f"DROP ROLE IF EXISTS {role}")


def test_a_wrong_password_fails_at_once_without_echoing_it(postgres_server, password_role: str) -> None:  # type: ignore[no-untyped-def]
    base = f"127.0.0.1:{postgres_server.port}/postgres"
    deadline = time.monotonic() + 10
    while True:  # the server reloads pg_hba.conf on a signal: wait until it asks for the password
        elapsed, result = _refused(f"postgresql://{password_role}:wrong-pw-7@{base}")
        if "password authentication failed" in result.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert result.exit_code == 1
    assert f'password authentication failed for user "{password_role}"' in result.stderr
    assert elapsed < 1.0, elapsed
    assert "wrong-pw-7" not in result.output and result.stderr.count("\n") == 1
    assert f"{password_role}:***@" in result.stderr
    # the right password gets through (to a database without the schema: the next thing it says)
    right = runner.invoke(cli, ["--db", f"postgresql://{password_role}:right-pw@{base}", "config", "list"])
    assert "database schema is at <empty>" in right.stderr and "right-pw" not in right.output


# --- 6. an account with no cash -------------------------------------------------------------------

def test_an_account_without_cash_shows_zero_money(run) -> None:  # type: ignore[no-untyped-def]
    run("account", "add", "ira", "--currency", "EUR")
    listing = run("account", "list").stdout
    assert re.search(r"^main\s+USD\s+no\s+open\s+0\.00 USD\s+0\.00\s+0\s", listing, re.M), listing
    assert re.search(r"^ira\s+EUR\s+no\s+open\s+0\.00 EUR\s", listing, re.M), listing
    assert re.search(r"^cash\s+0\.00 USD$", run("account", "show", "main").stdout, re.M)
    summary = run("summary").stdout
    assert re.search(r"^main\s+0\s+0\.00 USD\s+0\.00\s", summary, re.M), summary
    assert re.search(r"^total\s+0\s+0\.00 USD\s+0\.00\s", summary, re.M), summary
    run("cash", "deposit", "1000", "--currency", "USD")
    assert re.search(r"^main\s+USD\s+no\s+open\s+1000\.00 USD\s", run("account", "list").stdout, re.M)
    assert json.loads(run("--json", "account", "show", "ira").stdout)["cash"] == {}
