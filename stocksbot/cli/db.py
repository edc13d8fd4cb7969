"""`stocksbot db ...`: where the database is and which schema revision it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import click

from stocksbot.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from stocksbot.storage.records import Loss


@click.group("db")
def db_group() -> None:
    """Inspect and migrate the database schema.

    \b
    Example:
      stocksbot db path
      DATABASE_URL=postgresql://bot:secret@localhost/stocks stocksbot db upgrade
    """


@db_group.command("path")
@pass_app
def db_path(app: AppContext) -> None:
    """Print the database in use (password shown as ***), without connecting.

    \b
    Example:
      stocksbot db path
    """
    from stocksbot.cli.output import print_json
    from stocksbot.storage.database import resolve_target

    target = resolve_target(app.db_url)
    path = target.sqlite_path
    if app.json:
        print_json({"url": target.masked, "backend": target.url.get_backend_name(),
                    "path": str(path) if path else None, "default": target.is_default})
    else:
        click.echo(str(path) if path else target.masked)


@db_group.command("current")
@pass_app
def db_current(app: AppContext) -> None:
    """Print the schema revision the database is at, and whether it is the newest.

    \b
    Example:
      stocksbot db current
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import admin
    from stocksbot.storage.migrations import HEAD_REVISION, is_newer, known_revisions

    revision = admin.current_revision(app.uow(check_schema=False))
    if app.json:
        print_json({"revision": revision, "head": HEAD_REVISION, "is_head": revision == HEAD_REVISION})
    elif revision is None:
        click.echo(f"<empty> (no stocksbot schema; head is {HEAD_REVISION}: run `stocksbot db upgrade`)")
    elif is_newer(revision):
        click.echo(f"{revision} (newer than this stocksbot's head {HEAD_REVISION}: upgrade stocksbot)")
    elif revision not in known_revisions():
        click.echo(f"{revision} (unknown to this stocksbot, head {HEAD_REVISION})")
    else:
        click.echo(f"{revision} (head)" if revision == HEAD_REVISION else f"{revision} (behind head {HEAD_REVISION})")


@db_group.command("history")
@pass_app
def db_history(app: AppContext) -> None:
    """List the schema revisions this stocksbot ships, newest first.

    \b
    Example:
      stocksbot db history
    """
    from stocksbot.cli.output import print_json, print_table
    from stocksbot.storage.migrations import history

    revisions = history()
    if app.json:
        print_json([{"revision": r.revision, "down_revision": r.down_revision, "message": r.message,
                     "is_head": r.is_head} for r in revisions])
        return
    print_table(
        ["revision", "down", "message"],
        ((r.revision + (" (head)" if r.is_head else ""), r.down_revision or "<base>", r.message) for r in revisions),
    )


@db_group.command("upgrade")
@click.argument("revision", default="head")
@pass_app
def db_upgrade(app: AppContext, revision: str) -> None:
    """Migrate the schema up to REVISION (default: the newest, head).

    \b
    Example:
      stocksbot db upgrade
      stocksbot --db postgresql://bot@localhost/stocks db upgrade head
    """
    _migrate(app, "upgrade", revision)


@db_group.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Go ahead even though the downgrade deletes rows (it says which).")
@pass_app
def db_downgrade(app: AppContext, revision: str, yes: bool) -> None:
    """Migrate the schema down to REVISION ("base" removes every stocksbot table).

    A downgrade that would delete rows (tables or columns it drops that hold data) says
    what goes and needs --yes, or a "y" on a terminal; a SQLite file is backed up first,
    beside it. A database without rows downgrades without asking.

    \b
    Example:
      stocksbot db downgrade 0006
      stocksbot db downgrade base --yes
    """
    _migrate(app, "downgrade", revision, yes=yes)


def _stdin_is_terminal() -> bool:
    import sys

    return sys.stdin.isatty()


def _confirm_losses(yes: bool, sqlite: bool) -> "Callable[[Sequence[Loss]], bool]":
    """The answer to "delete these rows?" (docs/ledger.md §16.7): --yes, else the person at
    the terminal, else no (the service then refuses in one line naming what would go)."""

    def confirm(lost: "Sequence[Loss]") -> bool:
        if yes:
            return True
        if not _stdin_is_terminal():
            return False
        from stocksbot.services.admin import describe_losses

        backup = "; the file is backed up first" if sqlite else "; no backup is taken (see `stocksbot db backup`)"
        click.confirm(f"This downgrade deletes {describe_losses(lost)}{backup}. Go ahead?", abort=True, err=True)
        return True

    return confirm


def _migrate(app: AppContext, action: str, revision: str, *, yes: bool = False) -> None:
    from stocksbot.cli.output import note, print_json
    from stocksbot.services import admin

    uow = app.uow(check_schema=False)
    confirm = _confirm_losses(yes, uow.target.sqlite_path is not None) if action == "downgrade" else None
    change = admin.migrate(uow, action, revision, confirm=confirm)
    before, after = change.before, change.after
    if app.json:
        shown: dict[str, object] = {"from": before, "to": after}
        if action == "downgrade":
            shown["deleted"] = [{"table": loss.table, "columns": list(loss.columns) or None, "rows": loss.rows}
                                for loss in change.lost]
            shown["backup"] = str(change.backup) if change.backup else None
        print_json(shown)
        return
    if change.backup is not None:
        note(f"backed up to {change.backup}")
    if before == after:
        note(f"database already at {after or '<empty>'}")
    elif change.lost:
        note(f"{action}d {before or '<empty>'} -> {after or '<empty>'}, deleting {admin.describe_losses(change.lost)}")
    else:
        note(f"{action}d {before or '<empty>'} -> {after or '<empty>'}")


@db_group.command("check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Check integrity and that stored positions equal a rebuild from the trades.

    Exit status 0 when everything agrees; 1 with one line per discrepancy otherwise.
    Nothing is changed.

    \b
    Example:
      stocksbot db check
    """
    from stocksbot.cli.output import note, print_json

    app: AppContext = ctx.obj
    from stocksbot.services import admin

    findings = admin.check(app.uow())
    if app.json:
        print_json({"ok": not findings, "findings": findings})
    else:
        for finding in findings:
            click.echo(finding)
        note(f"{len(findings)} problem(s) found" if findings else "ok: integrity and ledger are consistent")
    if findings:
        ctx.exit(1)


@db_group.command("backup")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@pass_app
def db_backup(app: AppContext, file: str | None) -> None:
    """Write a consistent backup of the database to FILE (default: beside the database file).

    SQLite uses its online backup API (safe while stocksbot writes); PostgreSQL uses pg_dump.

    \b
    Example:
      stocksbot db backup ~/backups/stocksbot-2024-06-30.db
    """
    from pathlib import Path

    from stocksbot.cli.output import print_json
    from stocksbot.services import admin

    written = admin.backup(app.uow(check_schema=False), Path(file) if file else None)
    if app.json:
        print_json({"backup": str(written)})
    else:
        click.echo(f"backed up to {written}")


@db_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_app
def db_restore(app: AppContext, file: str) -> None:
    """Replace the database with a backup made by `stocksbot db backup`.

    The file is checked first (a stocksbot backup of a schema this stocksbot knows), and the
    database it replaces is saved beside it as a backup of its own.

    \b
    Example:
      stocksbot db restore ~/backups/stocksbot-2024-06-30.db
    """
    from pathlib import Path

    from stocksbot.cli.output import print_json
    from stocksbot.services import admin

    kept = admin.restore(app.uow(check_schema=False), Path(file))
    if app.json:
        print_json({"restored": file, "previous": str(kept)})
    else:
        click.echo(f"restored {file} (the replaced database is kept as {kept})")


@db_group.command("copy")
@click.option("--to", "to_url", required=True, metavar="URL", help="The empty database to copy into.")
@pass_app
def db_copy(app: AppContext, to_url: str) -> None:
    """Copy every row into another, empty database (e.g. SQLite -> PostgreSQL).

    The target is migrated to the same schema first, the rows go over in one transaction,
    and `db check` is run on the target afterwards.

    \b
    Example:
      stocksbot db copy --to postgresql://bot:secret@localhost/stocks
    """
    import sys

    from stocksbot.cli.output import note, print_json
    from stocksbot.services import admin

    source = app.uow()
    progress = None
    display = None
    if sys.stderr.isatty():
        from rich.progress import Progress, TextColumn

        display = Progress(TextColumn("copying {task.fields[table]}: {task.completed:,} rows"), transient=True)
        task = display.add_task("copy", total=None, table="")
        display.start()
        progress = lambda table, rows: display.update(task, advance=rows, table=table)  # noqa: E731
    try:
        copied = admin.copy(source, to_url, progress)
    finally:
        if display is not None:
            display.stop()
    if app.json:
        print_json({"to": copied.target, "rows": copied.rows})
    else:
        note(f"copied {sum(copied.rows.values())} rows to {copied.target}; db check passed there")
