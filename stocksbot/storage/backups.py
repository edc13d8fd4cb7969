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
from stocksbot.storage.database import DatabaseTarget
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
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "trades", "positions"} <= tables:
                raise StocksbotError(f"{path} is not a stocksbot backup (no stocksbot tables)")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise StocksbotError(f"{path} is not a stocksbot backup (not a SQLite database)") from None
    if row is None:
        raise StocksbotError(f"{path} is not a stocksbot backup (no schema revision)")
    return str(row[0])


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

def backup(target: DatabaseTarget, destination: Path) -> Path:
    if destination.exists():
        raise StocksbotError(f"{destination} exists already: choose another file")
    if target.is_sqlite:
        path = target.sqlite_path
        if path is None:
            raise StocksbotError("an in-memory database cannot be backed up")
        _sqlite_revision(path)
        migrations.backup_sqlite(path, destination)
        return destination
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
        _check_known(_sqlite_revision(source), source)
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
