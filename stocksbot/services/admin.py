"""Administration of the database: schema migrations, `db check`, backups, restores and copies.

The `db` commands call these instead of reaching into the engine. Nothing here prints: each
function returns what happened and the command line says it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from sqlalchemy import inspect

from stocksbot.errors import StocksbotError
from stocksbot.services import trades
from stocksbot.storage import audit, backups, checks, migrations, tables
from stocksbot.storage.booking import lock_ledger
from stocksbot.storage.records import Loss
from stocksbot.storage.unit_of_work import UnitOfWork, open_engine

#: Asked before a downgrade deletes rows, with what it would delete: True goes ahead. The
#: command line answers with --yes or a question on the terminal.
Confirm = Callable[[Sequence[Loss]], bool]


@dataclass(frozen=True)
class Migration:
    """A schema change: the revision before and after (None: no stocksbot schema), the rows a
    downgrade deleted, and where the database was backed up first (SQLite) if it did."""

    before: str | None
    after: str | None
    lost: tuple[Loss, ...] = ()
    backup: Path | None = None


def current_revision(uow: UnitOfWork) -> str | None:
    return migrations.read_revision(uow.engine)


def describe_losses(lost: Sequence[Loss]) -> str:
    return ", ".join(str(loss) for loss in lost)


def migrate(uow: UnitOfWork, action: str, revision: str, *, confirm: Confirm | None = None) -> Migration:
    """Upgrade (`action` "upgrade") or downgrade the schema to `revision`.

    A downgrade that would delete rows (docs/ledger.md §16.7) goes ahead only when `confirm`
    says yes to what it would delete (no `confirm`: refused, in one line naming it); a SQLite
    file is then backed up before anything is dropped. A database without rows downgrades
    without asking.
    """
    if action not in ("upgrade", "downgrade"):
        raise ValueError(f"unknown migration action {action!r}")
    before = migrations.read_revision(uow.engine)
    if action == "upgrade":
        migrations.upgrade(uow.engine, revision)
        return Migration(before, migrations.read_revision(uow.engine))
    lost = tuple(migrations.downgrade_losses(uow.engine, revision))
    saved = None
    if lost:
        if confirm is None or not confirm(lost):
            raise StocksbotError(
                f"downgrading to {revision} would delete {describe_losses(lost)}: run again with --yes to go ahead"
                + (" (the file is backed up first)" if uow.target.sqlite_path is not None else "")
            )
        saved = _backup_before_downgrade(uow, before)
    try:
        migrations.downgrade(uow.engine, revision)
    except BaseException:
        # The downgrade runs in one transaction: refused or failed, it changed nothing, and
        # the copy taken for it would only be clutter beside the file.
        if saved is not None:
            saved.unlink(missing_ok=True)
        raise
    return Migration(before, migrations.read_revision(uow.engine), lost, saved)


def _backup_before_downgrade(uow: UnitOfWork, revision: str | None) -> Path | None:
    """A SQLite file's backup beside it (`<file>.backup-<UTC time>.before-downgrade-<revision>`),
    taken before a downgrade drops rows; PostgreSQL and in-memory databases get none (take
    one with `stocksbot db backup`)."""
    if uow.target.sqlite_path is None:
        return None
    place = backups.default_backup_path(uow.target)
    return backups.backup(uow.target, place.with_name(f"{place.name}.before-downgrade-{revision}"))


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
