"""Alembic, run from code: find the shipped migrations, check and move the schema revision.

The head revision is kept as a constant so that an ordinary command can check the schema
with one query, without importing Alembic (a test keeps the constant equal to Alembic's
head). Alembic itself is imported only to upgrade, downgrade or list history.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
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

HEAD_REVISION = "0008"
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
    """The revision stamped in the database, or None for a database with no stocksbot schema."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    message: str
    is_head: bool


def history() -> list[Revision]:
    """Every shipped revision, newest first."""
    from alembic.script import ScriptDirectory

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
    _check_revision_argument(revision)
    _run(engine, "downgrade", revision)


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
