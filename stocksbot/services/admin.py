"""Administration of the database: schema migrations, `db check`, backups, restores and copies.

The `db` commands call these instead of reaching into the engine. Nothing here prints: each
function returns what happened and the command line says it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect

from stocksbot.errors import StocksbotError
from stocksbot.services import trades
from stocksbot.storage import audit, backups, checks, migrations, tables
from stocksbot.storage.booking import lock_ledger
from stocksbot.storage.unit_of_work import UnitOfWork, open_engine


@dataclass(frozen=True)
class Migration:
    """A schema change: the revision before and after (None: no stocksbot schema)."""

    before: str | None
    after: str | None


def current_revision(uow: UnitOfWork) -> str | None:
    return migrations.read_revision(uow.engine)


def migrate(uow: UnitOfWork, action: str, revision: str) -> Migration:
    """Upgrade (`action` "upgrade") or downgrade the schema to `revision`."""
    if action not in ("upgrade", "downgrade"):
        raise ValueError(f"unknown migration action {action!r}")
    before = migrations.read_revision(uow.engine)
    if action == "upgrade":
        migrations.upgrade(uow.engine, revision)
    else:
        migrations.downgrade(uow.engine, revision)
    return Migration(before, migrations.read_revision(uow.engine))


def check(uow: UnitOfWork) -> list[str]:
    """Integrity and ledger consistency findings; an empty list means all is well.

    Re-books every trade inside a SAVEPOINT that is always rolled back and compares what it
    derives with what is stored, so nothing changes.
    """
    with uow.transaction() as conn:
        findings = checks.integrity_findings(conn) + checks.order_findings(conn) + checks.audit_findings(conn)
        lock_ledger(conn)
        savepoint = conn.begin_nested()
        before = checks.ledger_snapshot(conn)
        trades.rebuild(conn)
        findings += checks.ledger_findings(before, checks.ledger_snapshot(conn))
        savepoint.rollback()
        return findings


def backup(uow: UnitOfWork, destination: Path | None = None) -> Path:
    """Back the database up (SQLite online backup, or pg_dump); where it was written."""
    return backups.backup(uow.target, destination or backups.default_backup_path(uow.target))


def restore(uow: UnitOfWork, source: Path) -> Path:
    """Replace the database with a backup; where the replaced database was saved.

    The restored database gets an entry saying so (docs/ledger.md §20.2), unless the backup
    predates the audit log (its `db upgrade` starts the log with the baseline).
    """
    kept = backups.restore(uow.target, uow.engine, source)
    _log_whole_database(uow, "db.restore", {"from": str(source.resolve()), "replaced_kept_as": str(kept)})
    return kept


def _log_whole_database(uow: UnitOfWork, action: str, new: dict[str, object]) -> None:
    """The entry of a change to the whole database, when its schema has the audit log."""
    if not inspect(uow.engine).has_table(tables.audit_log.name):
        return
    with uow.transaction() as conn:
        audit.log(conn, uow.command, action, uow.target.masked, new=new)


@dataclass(frozen=True)
class Copy:
    target: str  # the masked URL
    rows: dict[str, int]


def copy(uow: UnitOfWork, to_url: str, progress: backups.Progress | None = None) -> Copy:
    """Copy every row into another, empty database, then run `db check` there.

    Refused (nothing copied) when the target is not empty; a copy whose check finds a
    problem is reported as an error.
    """
    source = uow.target.sqlite_path
    if source is not None:  # a corrupt file is not copied (docs/ledger.md §16.5)
        backups.check_sqlite_source(source, "copy")
    destination = UnitOfWork(*open_engine(to_url, None, check_schema=False))
    engine, target = destination.engine, destination.target
    try:
        counts = backups.copy_database(uow.engine, engine, progress)
        destination.command = uow.command
        _log_whole_database(destination, "db.copy", {"from": uow.target.masked, "rows": counts})
        findings = check(destination)
    finally:
        destination.close()
    if findings:
        raise StocksbotError(f"copied, but `db check` on the target found {len(findings)} problem(s): {findings[0]}")
    return Copy(target.masked, counts)
