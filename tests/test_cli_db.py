"""`stocksbot db ...`, global options, and the schema rules of DATABASE_SETUP.md, via Click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocksbot import __version__
from stocksbot.cli.main import cli
from stocksbot.storage.migrations import HEAD_REVISION

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(cli, list(args), env=env, catch_exceptions=False)


def test_version() -> None:
    assert invoke("--version").output == f"stocksbot, version {__version__}\n"


def test_upgrade_current_downgrade_on_each_backend(backend_url: str) -> None:
    assert invoke("--db", backend_url, "db", "current").output.startswith("<empty> (no stocksbot schema")
    result = invoke("--db", backend_url, "db", "upgrade")
    assert (result.exit_code, result.output) == (0, f"upgraded <empty> -> {HEAD_REVISION}\n")
    assert invoke("--db", backend_url, "db", "current").output == f"{HEAD_REVISION} (head)\n"
    assert invoke("--db", backend_url, "db", "upgrade").output == f"database already at {HEAD_REVISION}\n"
    assert json.loads(invoke("--db", backend_url, "--json", "db", "current").output) == {
        "revision": HEAD_REVISION, "head": HEAD_REVISION, "is_head": True,
    }
    result = invoke("--db", backend_url, "db", "downgrade", "base")
    assert (result.exit_code, result.output) == (0, f"downgraded {HEAD_REVISION} -> <empty>\n")


def test_history_lists_the_head() -> None:
    rows = json.loads(invoke("--json", "db", "history").output)
    assert rows[0]["revision"] == HEAD_REVISION and rows[0]["is_head"]
    assert rows[-1]["down_revision"] is None


def test_named_empty_database_is_refused_with_exit_1(backend_url: str, backend: str) -> None:
    """An empty PostgreSQL database, or a SQLite file holding another program's table (a new or
    blank SQLite file is created instead: tests/test_small_defects.py)."""
    if backend == "sqlite":
        import sqlite3

        other = sqlite3.connect(backend_url.removeprefix("sqlite:///"))
        other.execute("CREATE TABLE notes (text TEXT)")
        other.close()
    result = invoke("--db", backend_url, "config", "list")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: database schema is at <empty>, this stocksbot needs {HEAD_REVISION}: run `stocksbot db upgrade`\n"
    )


def test_database_url_from_the_environment(migrated_url: str) -> None:
    result = invoke("config", "set", "bot.name", "env", env={"DATABASE_URL": migrated_url})
    assert result.exit_code == 0
    assert invoke("--db", migrated_url, "config", "get", "bot.name").output == "env\n"


def test_default_database_is_created_by_migrations(isolated_home: Path) -> None:
    assert invoke("config", "get", "accounting.cost_basis").output == "fifo\n"
    assert invoke("db", "current").output == f"{HEAD_REVISION} (head)\n"
    assert invoke("db", "path").output == f"{isolated_home / 'stocksbot.db'}\n"


def test_default_database_behind_is_backed_up_then_upgraded(isolated_home: Path) -> None:
    from stocksbot.storage.migrations import history

    previous = history()[1].revision
    invoke("config", "set", "bot.name", "kept")
    assert invoke("db", "downgrade", previous, "--yes").exit_code == 0
    result = invoke("config", "get", "bot.name")
    database = isolated_home / "stocksbot.db"
    backup = isolated_home / f"stocksbot.db.bak-{previous}"
    assert result.exit_code == 0
    assert result.stdout == "kept\n"
    assert result.stderr == f"stocksbot: upgrading {database} from {previous} to {HEAD_REVISION} (backup: {backup})\n"
    assert invoke("db", "current").output == f"{HEAD_REVISION} (head)\n"
    assert backup.stat().st_mode & 0o777 == 0o600
    import sqlite3

    with sqlite3.connect(backup) as copy:
        assert copy.execute("SELECT value FROM config WHERE key = 'bot.name'").fetchall() == [("kept",)]
        assert copy.execute("SELECT version_num FROM alembic_version").fetchall() == [(previous,)]
    copy.close()


def test_db_path_masks_the_password() -> None:
    result = invoke("--db", "postgresql://bot:hunter2@db.example/stocks", "db", "path")
    assert result.output == "postgresql+psycopg://bot:***@db.example/stocks\n"
    data = json.loads(invoke("--json", "--db", "postgres://bot:hunter2@h/s", "db", "path").output)
    assert data == {"url": "postgresql+psycopg://bot:***@h/s", "backend": "postgresql", "path": None, "default": False}


def test_unreachable_database_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKSBOT_CONNECT_RETRIES", "0")
    result = invoke("--db", "postgresql://bot:hunter2@127.0.0.1:9/stocks", "config", "list")
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to postgresql+psycopg://bot:***@127.0.0.1:9/stocks: ")
    assert "hunter2" not in result.output
    assert result.output.count("\n") == 1


def test_missing_sqlite_folder_is_one_line(tmp_path: Path) -> None:
    result = invoke("--db", f"sqlite:///{tmp_path}/nowhere/x.db", "db", "current")
    assert result.exit_code == 1
    assert result.output == f"Error: cannot open sqlite:///{tmp_path}/nowhere/x.db: folder {tmp_path}/nowhere does not exist\n"


def test_bad_url_is_one_line() -> None:
    result = invoke("--db", "mysql://u@h/d", "db", "current")
    assert (result.exit_code, result.output) == (
        1, "Error: unsupported database 'mysql' in mysql://u@h/d: use sqlite:///PATH or postgresql://USER@HOST/DBNAME\n"
    )


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from stocksbot.errors import StocksbotError

    monkeypatch.setenv("STOCKSBOT_DEBUG", "1")
    with pytest.raises(StocksbotError):
        invoke("--db", "mysql://u@h/d", "db", "current")


def test_every_command_help_has_an_example() -> None:
    def walk(group, path):
        for name, command in group.commands.items():
            yield [*path, name], command
            if hasattr(command, "commands"):
                yield from walk(command, [*path, name])

    for path, _command in walk(cli, []):
        result = invoke(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example:" in result.output, path


def test_db_check_clean_and_dirty(migrated_url: str) -> None:
    from sqlalchemy import update

    from stocksbot import open_storage
    from stocksbot.storage.tables import positions

    invoke("--db", migrated_url, "config", "set", "bot.x", "1")
    result = invoke("--db", migrated_url, "db", "check")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "ok: integrity and ledger are consistent\n")
    with open_storage(migrated_url) as storage:
        storage.record_trade(side="buy", symbol="A", quantity="1", price="2")
        with storage.transaction() as conn:
            conn.execute(update(positions).values(quantity=7))
    result = invoke("--db", migrated_url, "db", "check")
    assert result.exit_code == 1
    assert result.stdout.startswith("stored position not produced by a rebuild: A, open, ")
    assert result.stderr == "2 problem(s) found\n"
    assert json.loads(invoke("--db", migrated_url, "--json", "db", "check").stdout)["ok"] is False
