"""`db backup` / `db restore` / `db copy`: moving whole databases safely.

SQLite uses its online backup API, which copies a consistent snapshot even while another
process writes. PostgreSQL uses pg_dump / pg_restore (custom format) when they are
installed. Restore checks that a file is a stocksbot backup before touching anything and
keeps a copy of the database it replaces. Copy moves every row to another, empty database
(typically SQLite -> PostgreSQL) in one transaction on the target.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.engine import URL

from stocksbot.errors import StocksbotError
from stocksbot.storage import migrations
from stocksbot.storage.database import DatabaseTarget, read_only_uri
from stocksbot.storage.tables import metadata

STOCKSBOT_TABLES = {table.name for table in metadata.sorted_tables}
Progress = Callable[[str, int], None]


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def default_backup_path(target: DatabaseTarget) -> Path:
    """Beside the SQLite file, or in the working folder for PostgreSQL; named by UTC time."""
    path = target.sqlite_path
    if path is not None:
        return path.with_name(f"{path.name}.backup-{_stamp()}")
    return Path.cwd() / f"stocksbot-{target.url.database}-{_stamp()}.dump"


# -- SQLite ---------------------------------------------------------------------------------

def _sqlite_revision(path: Path) -> str:
    """The stocksbot revision of a SQLite file, or a StocksbotError if it is not a stocksbot database."""
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "trades", "positions"} <= tables:
                raise StocksbotError(f"{path} is not a stocksbot backup (no stocksbot tables)")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "malformed" in str(exc):
            raise StocksbotError(f"{path} is corrupt ({exc})") from None
        raise StocksbotError(f"{path} is not a stocksbot backup (not a SQLite database)") from None
    if row is None:
        raise StocksbotError(f"{path} is not a stocksbot backup (no schema revision)")
    return str(row[0])


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """The first problem `PRAGMA integrity_check` finds, or None when the file is sound."""
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    if not problems:
        return None
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more


def _schema_problem(conn: sqlite3.Connection, revision: str) -> str | None:
    """What a file at the head revision lacks of the head schema (a table or a column), if anything."""
    if revision != migrations.HEAD_REVISION:
        return None  # an older schema is checked by the migrations that bring it to head
    for table in metadata.sorted_tables:
        columns = {row[1] for row in conn.execute(f'PRAGMA table_info("{table.name}")')}
        if not columns:
            return f"table {table.name} is missing"
        missing = sorted(set(table.c.keys()) - columns)
        if missing:
            return f"table {table.name} lacks {', '.join(missing)}"
    return None


def check_sqlite_source(path: Path, purpose: str) -> str:
    """A SQLite file about to replace or feed a database: a stocksbot database at a revision
    this stocksbot knows, that passes `PRAGMA integrity_check` and has the schema its revision
    says; its revision, else one line saying why `purpose` is refused (docs/ledger.md §16.5)."""
    revision = _sqlite_revision(path)
    _check_known(revision, path)
    conn = sqlite3.connect(read_only_uri(path), uri=True)
    try:
        problem = integrity_problem(conn)
        if problem is not None:
            raise StocksbotError(f"{path} is corrupt ({problem}): {purpose} refused")
        problem = _schema_problem(conn, revision)
        if problem is not None:
            raise StocksbotError(f"{path} does not have the schema of revision {revision} ({problem}): {purpose} refused")
    except sqlite3.DatabaseError as exc:
        raise StocksbotError(f"{path} is corrupt ({exc}): {purpose} refused") from None
    finally:
        conn.close()
    return revision


# -- PostgreSQL -----------------------------------------------------------------------------

def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StocksbotError(
            f"{name} is not installed: install the PostgreSQL client tools (e.g. `apt-get install postgresql-client`)"
        )
    return found


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and an environment carrying it (never on a command line)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    from stocksbot.storage.database import mask_url

    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise StocksbotError(f"{what} failed: {mask_url(lines[-1] if lines else str(result.returncode))}")
    return result


# -- operations -----------------------------------------------------------------------------

def _claim(destination: Path) -> None:
    """Create the backup file (0600, empty) or say in one line why it cannot be written there:
    an unwritable or missing folder, `/proc`, a path under a regular file (docs/ledger.md §16.1)."""
    folder = destination.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() or any(p.is_file() for p in folder.parents) else "does not exist"
        raise StocksbotError(f"cannot write the backup to {destination}: folder {folder} {what}")
    try:
        os.close(os.open(destination, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise StocksbotError(f"{destination} exists already: choose another file") from None
    except OSError as exc:
        raise StocksbotError(f"cannot write the backup to {destination}: {exc.strerror or exc}") from None


def backup(target: DatabaseTarget, destination: Path) -> Path:
    if destination.exists():
        raise StocksbotError(f"{destination} exists already: choose another file")
    if target.is_sqlite:
        path = target.sqlite_path
        if path is None:
            raise StocksbotError("an in-memory database cannot be backed up")
        _sqlite_revision(path)
        _claim(destination)
        migrations.backup_sqlite(path, destination)
        return destination
    _claim(destination)
    conninfo, env = _libpq(target.url)
    _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={destination}", conninfo], env, "pg_dump")
    destination.chmod(0o600)
    return destination


def restore(target: DatabaseTarget, engine: Engine, source: Path) -> Path:
    """Replace the database with a backup; returns where the replaced database was saved."""
    if not source.is_file():
        raise StocksbotError(f"{source} does not exist")
    # The replaced database is kept beside itself (SQLite) or beside the backup (PostgreSQL).
    keep = default_backup_path(target)
    if not target.is_sqlite:
        keep = source.parent / keep.name
    keep = keep.with_name(f"{keep.name}.before-restore")
    if target.is_sqlite:
        path = target.sqlite_path
        if path is None:
            raise StocksbotError("an in-memory database cannot be restored")
        check_sqlite_source(source, "restore")
        engine.dispose()
        migrations.backup_sqlite(path, keep)
        migrations.backup_sqlite(source, path)  # the backup API takes the write lock and replaces every page
        return keep
    _check_pg_backup(source)
    backup(target, keep)
    conninfo, env = _libpq(target.url)
    engine.dispose()
    # --clean drops each object before recreating it, all inside one transaction: a restore
    # that fails half-way leaves the database as it was.
    _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
          f"--dbname={conninfo}", str(source)], env, "pg_restore")
    return keep


def _check_known(revision: str, source: Path) -> None:
    if revision not in migrations.known_revisions():
        raise StocksbotError(f"{source} is at schema {revision}, which this stocksbot does not know: upgrade stocksbot")


def _check_pg_backup(source: Path) -> None:
    listing = subprocess.run([_pg_tool("pg_restore"), "--list", str(source)], capture_output=True, text=True)
    if listing.returncode != 0 or " TABLE public alembic_version " not in listing.stdout or \
            " TABLE public trades " not in listing.stdout:
        raise StocksbotError(f"{source} is not a stocksbot backup (not a pg_dump archive of a stocksbot database)")


def copy_database(source: Engine, target: Engine, progress: Progress | None = None) -> dict[str, int]:
    """Copy every row of every stocksbot table into an empty target at the same revision.

    The target is migrated to the source's revision first (outside the copy transaction),
    then the rows the migrations made there (the account `main`) are deleted and all rows go
    over in one transaction, parents before children, and PostgreSQL
    identity sequences are moved past the copied ids so new rows do not collide.
    """
    revision = migrations.read_revision(source)
    if revision != migrations.HEAD_REVISION:
        raise StocksbotError(f"the source database is at {revision or '<empty>'}: run `stocksbot db upgrade` on it first")
    target_revision = migrations.read_revision(target)
    if target_revision not in (None, revision):
        raise StocksbotError(f"the target database is at schema {target_revision}, not {revision}")
    existing = set(inspect(target).get_table_names()) & STOCKSBOT_TABLES
    if existing:
        with target.connect() as connection:
            # The account `main` that migration 0005 creates does not make a database non-empty.
            filled = [t for t in sorted(existing) if connection.execute(text(
                f"SELECT 1 FROM \"{t}\"" + (" WHERE name <> 'main'" if t == "accounts" else "") + " LIMIT 1"
            )).first()]
        if filled:
            raise StocksbotError(f"the target database is not empty ({', '.join(filled)} have rows): copy refused")
    migrations.upgrade(target, revision)
    counts: dict[str, int] = {}
    with source.connect() as reader, target.connect().execution_options(stocksbot_write=True) as writer:
        with writer.begin():
            for table in reversed(metadata.sorted_tables):  # what the migrations created (the account main)
                writer.execute(table.delete())
            for table in metadata.sorted_tables:
                counts[table.name] = 0
                rows = reader.execution_options(yield_per=2000).execute(select(table).order_by(*table.primary_key))
                for batch in rows.mappings().partitions():
                    writer.execute(insert(table), [dict(row) for row in batch])
                    counts[table.name] += len(batch)
                    if progress:
                        progress(table.name, len(batch))
            if target.dialect.name == "postgresql":
                for table in metadata.sorted_tables:
                    if "id" in table.c:
                        writer.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                        ))
    return counts
