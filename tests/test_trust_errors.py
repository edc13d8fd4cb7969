"""Issue 11 §2.3-§2.4: damaged, unreachable or unwritable databases end in one line, never a traceback.

docs/ledger.md §16 states the rules. Tests run as root in CI, and root passes every file
permission check, so unwritable places are made of what stops root too: `/proc`, a path
under a regular file, and SQLite's read-only open; the real "file owned by someone else"
case runs the command as `nobody` (setpriv) when the suite runs as root.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from stocksbot.cli.main import cli
from stocksbot.errors import StocksbotError
from stocksbot.storage.database import ConnectionSettings, driver_connection, mask_url
from stocksbot.storage.migrations import HEAD_REVISION

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def one_line(result) -> str:  # type: ignore[no-untyped-def]
    """The single error line of a failed command (exit 1, nothing else printed)."""
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    return str(result.output)


def corrupt_table(path: Path, table: str = "trades") -> None:
    """Overwrite the root page of `table` with garbage: its reads fail with "malformed"."""
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    finally:
        conn.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\x0d\xff" * (page_size // 2))


@pytest.fixture
def ledger(migrated_sqlite_url: str) -> tuple[str, Path]:
    """A SQLite ledger with a few trades, as (URL, file)."""
    for symbol in ("AAA", "BBB"):
        result = invoke("--db", migrated_sqlite_url, "trade", "add", "buy", symbol, "2", "--price", "10",
                        "--note", "x" * 3000)
        assert result.exit_code == 0, result.output
    return migrated_sqlite_url, Path(migrated_sqlite_url.removeprefix("sqlite:///"))


# -- §2.3: corrupt files ------------------------------------------------------------------------

def test_a_corrupt_database_says_so_in_every_command_that_meets_it(ledger: tuple[str, Path]) -> None:
    url, path = ledger
    corrupt_table(path)
    expected = (f"Error: database file is corrupt: {path}: database disk image is malformed "
                "(restore a backup with `stocksbot db restore`)\n")
    for args in (["trade", "list"], ["trade", "add", "buy", "AAA", "1", "--price", "1"], ["position", "show", "AAA"],
                 ["db", "check"], ["trade", "export"]):
        assert one_line(invoke("--db", url, *args)) == expected, args


def test_restore_refuses_a_corrupt_backup_and_keeps_the_database(ledger: tuple[str, Path], tmp_path: Path) -> None:
    url, _path = ledger
    backup = tmp_path / "backup.db"
    assert invoke("--db", url, "db", "backup", str(backup)).exit_code == 0
    corrupt_table(backup)
    line = one_line(invoke("--db", url, "db", "restore", str(backup)))
    assert line.startswith(f"Error: {backup} is corrupt (") and line.endswith("): restore refused\n")
    assert [t["symbol"] for t in _json(url, "trade", "list")] == ["AAA", "BBB"]
    assert not list(tmp_path.glob("*.before-restore"))


def test_restore_refuses_a_backup_without_the_schema_of_its_revision(ledger: tuple[str, Path], tmp_path: Path) -> None:
    url, _path = ledger
    backup = tmp_path / "backup.db"
    assert invoke("--db", url, "db", "backup", str(backup)).exit_code == 0
    conn = sqlite3.connect(backup)
    conn.execute("DROP TABLE share_transfers")
    conn.commit()
    conn.close()
    assert one_line(invoke("--db", url, "db", "restore", str(backup))) == (
        f"Error: {backup} does not have the schema of revision {HEAD_REVISION} (table share_transfers is missing): "
        "restore refused\n"
    )


def test_copy_refuses_a_corrupt_source_file(ledger: tuple[str, Path], tmp_path: Path) -> None:
    url, path = ledger
    corrupt_table(path)
    target = tmp_path / "copy.db"
    line = one_line(invoke("--db", url, "db", "copy", "--to", f"sqlite:///{target}"))
    assert line.startswith(f"Error: {path} is corrupt (") and line.endswith("): copy refused\n")
    assert not target.exists() or target.stat().st_size == 0


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, not a ledger\n" * 100)
    expected = (f"Error: cannot open {path}: it is not a SQLite database (file is not a database); if it was a "
                "stocksbot database, restore a backup with `stocksbot db restore`\n")
    for args in (["position", "list"], ["db", "current"], ["db", "upgrade"]):
        assert one_line(invoke("--db", f"sqlite:///{path}", *args)) == expected, args
    assert path.read_text().startswith("hello")


# -- §2.4: places that cannot be written ---------------------------------------------------------

def test_unwritable_database_paths(tmp_path: Path) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    cases = {
        ("--db", f"sqlite:///{a_file}/x.db"): f"Error: cannot open sqlite:///{a_file}/x.db: folder {a_file} is not a folder\n",
        ("--db", "sqlite:////proc/stocksbot-test.db"):
            "Error: cannot create sqlite:////proc/stocksbot-test.db: No such file or directory\n",
        ("--db", f"sqlite:///{tmp_path}"): f"Error: cannot open sqlite:///{tmp_path}: it is a folder, not a file\n",
    }
    for args, expected in cases.items():
        assert one_line(invoke(*args, "position", "list")) == expected


@pytest.mark.parametrize("home, reason", [("/proc/stocksbot-home", "No such file or directory"),
                                          ("{file}/home", "Not a directory")])
def test_unusable_stocksbot_home(home: str, reason: str, tmp_path: Path) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    folder = home.format(file=a_file)
    result = invoke("position", "list", env={"STOCKSBOT_HOME": folder, "DATABASE_URL": ""})
    assert one_line(result) == (
        f"Error: cannot create the data folder {folder}: {reason} (set STOCKSBOT_HOME or --db to a writable place)\n"
    )


def test_backup_into_an_unwritable_place(ledger: tuple[str, Path], tmp_path: Path) -> None:
    url, _path = ledger
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    assert one_line(invoke("--db", url, "db", "backup", f"{a_file}/b.db")) == (
        f"Error: cannot write the backup to {a_file}/b.db: folder {a_file} is not a folder\n"
    )
    assert one_line(invoke("--db", url, "db", "backup", "/proc/stocksbot-b.db")) == (
        "Error: cannot write the backup to /proc/stocksbot-b.db: No such file or directory\n"
    )
    assert one_line(invoke("--db", url, "db", "backup", str(tmp_path / "none" / "b.db"))) == (
        f"Error: cannot write the backup to {tmp_path}/none/b.db: folder {tmp_path}/none does not exist\n"
    )


# -- §2.4: URLs ------------------------------------------------------------------------------------

def test_malformed_urls_are_one_line_without_the_password() -> None:
    line = one_line(invoke("--db", "postgresql://bot:secret@localhost:54x/db", "position", "list"))
    assert line == ("Error: cannot parse database URL 'postgresql://bot:***@localhost:54x/db': "
                    "use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME, PORT a number\n")
    for command in (["position", "list"], ["db", "path"]):
        line = one_line(invoke("--db", "postgresql://bot:se@cret@localhost/db", *command))
        assert line == ("Error: cannot parse database URL 'postgresql://bot:***@localhost/db': a password with @, : or "
                        "/ must be percent-encoded (@ as %40, : as %3A, / as %2F)\n")
        assert "se@" not in line and "cret" not in line


def test_mask_url_hides_a_password_with_an_unencoded_at() -> None:
    assert mask_url("postgresql://bot:se@cret@localhost/db") == "postgresql://bot:***@localhost/db"
    assert mask_url("cannot connect to postgresql://u:p@h/db: refused") == "cannot connect to postgresql://u:***@h/db: refused"


# -- §2.4: a schema newer than the code ------------------------------------------------------------

def _stamp(url: str, revision: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_a_newer_schema_says_upgrade_stocksbot(migrated_url: str) -> None:
    _stamp(migrated_url, "0099")
    expected = f"Error: database schema 0099 is newer than this stocksbot (head {HEAD_REVISION}): upgrade stocksbot\n"
    for args in (["db", "upgrade"], ["db", "downgrade", "0004"], ["position", "list"]):
        assert one_line(invoke("--db", migrated_url, *args)) == expected, args
    current = invoke("--db", migrated_url, "db", "current")
    newer = f"0099 (newer than this stocksbot's head {HEAD_REVISION}: upgrade stocksbot)\n"
    assert (current.exit_code, current.output) == (0, newer)
    assert "behind" not in current.output
    assert _json(migrated_url, "db", "current") == {"revision": "0099", "head": HEAD_REVISION, "is_head": False}


# -- §2.4: the deadline on the driver's own paths --------------------------------------------------

SLOW = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(20)",
}


def test_deadline_on_a_driver_level_read_is_the_deadline_message(migrated_url: str) -> None:
    """A re-booking reads the trades through the driver (booking.symbol_trades), where SQLite's
    interruption is `sqlite3.OperationalError: interrupted`, not SQLAlchemy's error."""
    from stocksbot import open_storage

    with open_storage(migrated_url, settings=ConnectionSettings(query_timeout=0.3)) as storage:
        with pytest.raises(StocksbotError, match=r"^query exceeded the 0.3 s deadline$"):
            with storage.transaction() as conn:
                storage.config_set("bot.lost", "1")
                driver = driver_connection(conn)
                if conn.dialect.name == "sqlite":
                    driver.execute(SLOW["sqlite"]).fetchall()
                else:
                    with driver.cursor() as cursor:
                        cursor.execute(SLOW["postgresql"])
        with pytest.raises(StocksbotError, match="not set"):
            storage.config_get("bot.lost")


def test_deadline_during_a_rebooking_through_the_cli(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A back-dated trade re-books its symbol; a deadline firing in the driver-level read of
    its trades ends the command with the deadline line, and nothing is written."""
    from stocksbot.storage import booking

    url = migrated_sqlite_url
    for day in ("2024-01-03", "2024-01-04"):
        assert invoke("--db", url, "trade", "add", "buy", "AAA", "1", "--price", "10", "--at", day).exit_code == 0
    original = booking.symbol_trades

    def slow_symbol_trades(conn, symbol, **options):  # type: ignore[no-untyped-def]
        driver_connection(conn).execute(SLOW["sqlite"]).fetchall()  # as a huge history would take
        return original(conn, symbol, **options)

    monkeypatch.setattr(booking, "symbol_trades", slow_symbol_trades)
    result = invoke("--db", url, "--timeout", "0.3", "trade", "add", "buy", "AAA", "1", "--price", "9",
                    "--at", "2024-01-02")
    assert one_line(result) == "Error: query exceeded the 0.3 s deadline\n"
    monkeypatch.setattr(booking, "symbol_trades", original)
    assert len(_json(url, "trade", "list")) == 2


# -- §2.4: a read-only ledger file -------------------------------------------------------------------

@pytest.mark.parametrize("access", ["ro", "immutable"])
def test_a_read_only_file_reads_and_refuses_writes(
    ledger: tuple[str, Path], access: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root passes every permission check, so the file is made read-only for stocksbot the way
    it decides it is (os.access); SQLite's read-only open then refuses writes even to root."""
    url, path = ledger
    from stocksbot.storage import database

    real_access = os.access

    def no_write(target, mode, *args, **kwargs):  # type: ignore[no-untyped-def]
        denied = Path(target) == (path.parent if access == "immutable" else path)
        return False if denied and mode == os.W_OK else real_access(target, mode, *args, **kwargs)

    monkeypatch.setattr(database.os, "access", no_write)
    assert [p["symbol"] for p in _json(url, "position", "list")] == ["AAA", "BBB"]
    expected = (f"Error: database file {path} is read-only: this command writes, and reading commands "
                "(`stocksbot position list`) still work\n")
    for args in (["trade", "add", "buy", "AAA", "1", "--price", "1"], ["config", "set", "trading.allow_short", "true"],
                 ["position", "rebuild"]):
        assert one_line(invoke("--db", url, *args)) == expected, args
    monkeypatch.setattr(database.os, "access", real_access)
    assert len(_json(url, "trade", "list")) == 2


@pytest.fixture
def world_readable_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="stocksbot-ro-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="runs the command as nobody, which needs root and setpriv")
def test_a_file_owned_by_someone_else_reads_and_refuses_writes(ledger: tuple[str, Path],
                                                                world_readable_folder: Path) -> None:
    """The real thing: the ledger belongs to root and `nobody` runs stocksbot on it."""
    _url, source = ledger
    path = world_readable_folder / "ledger.db"
    shutil.copy(source, path)
    path.chmod(0o644)

    def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m",
                   "stocksbot", "--db", f"sqlite:///{path}", *args]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(world_readable_folder)}
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    listed = as_nobody("position", "list")
    assert listed.returncode == 0 and "AAA" in listed.stdout, listed.stderr
    written = as_nobody("trade", "add", "buy", "AAA", "1", "--price", "1")
    assert (written.returncode, written.stderr) == (1, (
        f"Error: database file {path} is read-only: this command writes, and reading commands "
        "(`stocksbot position list`) still work\n"))


def _json(url: str, *args: str):  # type: ignore[no-untyped-def]
    import json

    result = invoke("--db", url, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)
