"""Alembic, run from code: find the shipped migrations, check and move the schema revision.

The head revision is kept as a constant so that an ordinary command can check the schema
with one query, without importing Alembic (a test keeps the constant equal to Alembic's
head). Alembic itself is imported only to upgrade, downgrade or list history.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from sqlalchemy import Connection, Engine, inspect, text

from stocksbot.errors import SchemaMismatch, StocksbotError
from stocksbot.storage.database import (
    DatabaseTarget,
    driver_connection,
    prepare_sqlite_file,
    read_only_uri,
    sqlite_access,
)

if TYPE_CHECKING:
    from alembic.config import Config

    from stocksbot.storage.records import Loss, Revision

HEAD_REVISION = "0011"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def script_location() -> Path:
    """The migrations folder: inside the installed package, else the checkout's `alembic/`."""
    for candidate in (_PACKAGE_DIR / "_alembic", _PACKAGE_DIR.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StocksbotError(f"stocksbot's migrations are missing from {_PACKAGE_DIR}: reinstall stocksbot")


def alembic_config(connection: Connection | None = None) -> "Config":
    """An Alembic Config built in code; the connection is handed over, never the URL text.

    Passing the URL through Alembic's ConfigParser would break on a `%` in a password.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, or None for a database with no stocksbot schema.

    Every command asks this first, so it asks the dialect directly: what `inspect(connection)`
    would call, without building an Inspector for one question (issue 10).
    """
    if not connection.dialect.has_table(connection, "alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def history() -> list[Revision]:
    """Every shipped revision, newest first."""
    from alembic.script import ScriptDirectory

    from stocksbot.storage.records import Revision

    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    return [
        Revision(str(s.revision), _as_text(s.down_revision), s.doc or "", s.revision in heads)
        for s in script.walk_revisions()
    ]


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return ",".join(value)


def known_revisions() -> set[str]:
    return {r.revision for r in history()}


def head_from_scripts() -> str:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise StocksbotError(f"the migrations have {len(heads)} heads; expected exactly one")
    return heads[0]


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A write connection; on SQLite foreign keys are off while tables are rebuilt in batch mode.

    With them on, rebuilding a parent table (batch mode copies it, drops the old one and
    renames the copy) would cascade deletes into its children: `lots` of `positions`.
    """
    with engine.connect() as connection:
        is_sqlite = engine.dialect.name == "sqlite"
        if is_sqlite:
            # Must run outside a transaction to take effect, hence the raw DBAPI connection.
            driver_connection(connection).execute("PRAGMA foreign_keys=OFF")
        try:
            yield connection.execution_options(stocksbot_write=True)
        finally:
            if is_sqlite:
                connection.rollback()
                driver_connection(connection).execute("PRAGMA foreign_keys=ON")


def is_newer(revision: str | None) -> bool:
    """True for a revision this stocksbot does not ship that comes after its head: the
    database was migrated by a newer stocksbot (revisions are numbered, docs/ledger.md §16.4)."""
    return (
        revision is not None and revision.isdigit() and int(revision) > int(HEAD_REVISION)
        and revision not in known_revisions()
    )


def unknown_revision_error(revision: str) -> SchemaMismatch:
    """The one line for a database at a revision this stocksbot does not know."""
    if is_newer(revision):
        return SchemaMismatch(
            f"database schema {revision} is newer than this stocksbot (head {HEAD_REVISION}): upgrade stocksbot"
        )
    return SchemaMismatch(
        f"database schema is at {revision}, which this stocksbot (head {HEAD_REVISION}) does not know: "
        "upgrade stocksbot"
    )


def _run(engine: Engine, action: str, revision: str) -> None:
    from alembic import command

    stamped = read_revision(engine)
    if stamped is not None and stamped not in known_revisions():  # Alembic would fail with a traceback
        raise unknown_revision_error(stamped)
    with migration_connection(engine) as connection:
        config = alembic_config(connection)
        with connection.begin():
            if action == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
            if engine.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StocksbotError(f"migration left {len(broken)} rows with broken references; rolled back")


def upgrade(engine: Engine, revision: str = "head") -> None:
    _check_revision_argument(revision)
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate down to `revision`, whatever the tables hold: the caller asks first
    (`downgrade_losses`, services/admin.py)."""
    _check_revision_argument(revision)
    stamped = read_revision(engine)
    if stamped is not None and stamped not in known_revisions():
        raise unknown_revision_error(stamped)
    target = downgrade_target(stamped, revision)
    _run(engine, "downgrade", target if target is not None else "base")


def downgrade_target(stamped: str | None, revision: str) -> str | None:
    """The revision a downgrade from `stamped` to `revision` ends at (None: no schema), or one
    line saying why it is not a downgrade. `revision` is `base`, a shipped revision, `head`
    or `-N` (N revisions down); the shipped revisions form one line (`head_from_scripts`).
    """
    order = [r.revision for r in reversed(history())]  # oldest first; base is position -1
    position = {name: index for index, name in enumerate(order)}
    current = position[stamped] if stamped is not None else -1
    if revision == "base":
        target = -1
    elif revision == "head":
        target = len(order) - 1
    elif revision in position:
        target = position[revision]
    elif revision.startswith("-") and revision[1:].isdigit():
        target = current - int(revision[1:])
        if target < -1:
            raise StocksbotError(f"cannot go {revision[1:]} revisions down from {stamped or '<empty>'}: "
                                 f"it is {current + 1} above base")
    else:
        raise StocksbotError(f"cannot downgrade to {revision!r}: use base, a revision or -N (see `stocksbot db history`)")
    if target > current:
        raise StocksbotError(f"cannot downgrade from {stamped or '<empty>'} to {revision}: it is not below the "
                             "current revision (`stocksbot db upgrade` goes up)")
    return order[target] if target >= 0 else None


def downgrade_losses(engine: Engine, revision: str) -> list[Loss]:
    """What downgrading to `revision` would delete (docs/ledger.md §16.7): each table the
    downgrade drops that holds rows, with its row count, and each table whose columns it
    drops, with the number of rows holding a value (not NULL) in one of them.

    Which tables and columns go is learned from the migrations themselves, not from a list
    to keep up to date: an empty in-memory SQLite database is migrated to the target and to
    the current revision and the two schemas compared (the migrations drop the same tables
    and columns on both backends). That costs about a second, so it is done only when the
    database holds rows at all; an empty database (the account `main` the migrations create
    does not count, as for `db copy`) loses nothing.
    """
    from stocksbot.storage.records import Loss

    _check_revision_argument(revision)
    stamped = read_revision(engine)
    if stamped is not None and stamped not in known_revisions():
        raise unknown_revision_error(stamped)
    target = downgrade_target(stamped, revision)
    if stamped is None or target == stamped:
        return []
    counts = _row_counts(engine)
    if not any(counts.values()):
        return []
    before, after = _schemas(target, stamped)
    losses = []
    for table in sorted(before):
        rows = counts.get(table, 0)
        if not rows:
            continue
        if table not in after:
            losses.append(Loss(table, (), rows))
        elif before[table] - after[table]:
            filled, rows = _values_held(engine, table, sorted(before[table] - after[table]))
            if rows:  # a dropped column of NULLs only loses nothing
                losses.append(Loss(table, filled, rows))
    return losses


def _values_held(engine: Engine, table: str, columns: list[str]) -> tuple[tuple[str, ...], int]:
    """Which of `columns` hold a value (not NULL) in some row of `table`, and in how many rows
    at least one of them does."""
    held = " OR ".join(f'"{column}" IS NOT NULL' for column in columns)
    counted = ", ".join(f'count("{column}")' for column in columns)
    with engine.connect() as connection:
        rows, *per_column = connection.execute(text(f'SELECT count(*), {counted} FROM "{table}" WHERE {held}')).one()
    return tuple(column for column, values in zip(columns, per_column) if values), int(rows)


def _row_counts(engine: Engine) -> dict[str, int]:
    """Rows per stocksbot table in the database (accounts without the `main` the migrations create)."""
    from stocksbot.storage.tables import metadata

    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        counts = {}
        for table in metadata.sorted_tables:
            if table.name in present:
                extra = " WHERE name <> 'main'" if table.name == "accounts" else ""
                counts[table.name] = int(connection.execute(text(f'SELECT count(*) FROM "{table.name}"{extra}')).scalar_one())
        return counts


def _schemas(target: str | None, current: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The stocksbot tables and their columns at `current` and at `target` (None: none), from a
    scratch in-memory SQLite database migrated to each in turn."""
    from sqlalchemy import create_engine

    scratch = create_engine("sqlite://")
    try:
        after: dict[str, set[str]] = {}
        if target is not None:
            _run(scratch, "upgrade", target)
            after = _columns(scratch)
        _run(scratch, "upgrade", current)
        return _columns(scratch), after
    finally:
        scratch.dispose()


def _columns(engine: Engine) -> dict[str, set[str]]:
    with engine.connect() as connection:
        inspector = inspect(connection)
        return {name: {column["name"] for column in inspector.get_columns(name)}
                for name in inspector.get_table_names() if name != "alembic_version"}


def _check_revision_argument(revision: str) -> None:
    if revision in ("head", "base") or revision.startswith(("+", "-")) or revision in known_revisions():
        return
    raise StocksbotError(f"unknown revision {revision!r}: see `stocksbot db history`")


def read_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return current_revision(connection)


def ensure_schema(engine: Engine, target: DatabaseTarget) -> str | None:
    """Make sure the schema is at head before a command uses it (DATABASE_SETUP.md, migrations).

    The managed default SQLite file is created or upgraded here, after a backup when it holds
    a schema already. A SQLite file named by URL that is new or blank (no table at all) is
    created the same way: there is nothing in it to lose. Any other database the user named
    (behind, or PostgreSQL) is never migrated implicitly. Returns what was done to an existing
    database, for the caller to tell the user (None: nothing to say).
    """
    revision = read_revision(engine)
    if revision == HEAD_REVISION:
        return None
    if revision is not None and revision not in known_revisions():
        raise unknown_revision_error(revision)
    if not target.is_default and not (revision is None and _is_blank_sqlite(engine, target)):
        shown = revision if revision is not None else "<empty>"
        raise SchemaMismatch(
            f"database schema is at {shown}, this stocksbot needs {HEAD_REVISION}: run `stocksbot db upgrade`"
        )
    path = target.sqlite_path
    said = None
    if revision is not None and path is not None:
        backup = backup_sqlite(path, path.with_name(f"{path.name}.bak-{revision}"))
        said = f"stocksbot: upgrading {path} from {revision} to {HEAD_REVISION} (backup: {backup})"
    upgrade(engine)
    return said


def _is_blank_sqlite(engine: Engine, target: DatabaseTarget) -> bool:
    """A SQLite file (not in memory) with no table at all: just created, or an empty file."""
    if target.sqlite_path is None:
        return False
    with engine.connect() as connection:
        return not inspect(connection).get_table_names()


def backup_sqlite(source: Path, destination: Path) -> Path:
    """Copy a SQLite database with its online backup API: consistent even while others write."""
    prepare_sqlite_file(destination, private_dir=False)
    # A source that cannot be written (a read-only ledger) is read through a read-only URI.
    src = sqlite3.connect(read_only_uri(source), uri=True) if sqlite_access(source) else sqlite3.connect(source)
    try:
        dst = sqlite3.connect(destination)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return destination
