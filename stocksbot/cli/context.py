"""What every command shares: the global options and a lazily opened unit of work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from stocksbot.cli.completion import complete_accounts
from stocksbot.collector import resume_gc

if TYPE_CHECKING:
    from stocksbot.storage.unit_of_work import UnitOfWork


#: Where the root group keeps the raw arguments of the command line (`ctx.meta`).
ARGV_KEY = "stocksbot.argv"


def command_line(ctx: click.Context) -> str:
    """The command line that is running, for the audit log; a password in a URL is masked."""
    import shlex

    from stocksbot.storage.database import mask_url

    return mask_url(shlex.join(["stocksbot", *ctx.meta.get(ARGV_KEY, [])]))


class AppContext:
    """The global options, and the unit of work once a command asks for it.

    A plain class, not a dataclass: `--help` builds one, and importing `dataclasses` costs it
    a noticeable share of its start-up.
    """

    def __init__(
        self, db_url: str | None = None, json: bool = False, echo: bool = False, timeout: float | None = None,
        full: bool = False,
    ) -> None:
        self.db_url = db_url
        self.json = json
        #: `--full`: tables show exact numbers instead of rounding them (docs/ledger.md §1.3).
        self.full = full
        self.echo = echo
        self.timeout = timeout
        self._uow: "UnitOfWork | None" = None

    def uow(self, *, check_schema: bool = True) -> "UnitOfWork":
        """Open the database on first use (commands that never need it never pay for it).

        `check_schema=False` is for the `db` commands, which inspect or migrate the schema.
        """
        if self._uow is None:
            from stocksbot.storage.database import ConnectionSettings
            from stocksbot.storage.unit_of_work import UnitOfWork, open_engine

            settings = ConnectionSettings.from_env(echo=self.echo, query_timeout=self.timeout)
            self._uow = UnitOfWork(*open_engine(self.db_url, settings, check_schema))
            ctx = click.get_current_context()
            ctx.call_on_close(self._uow.close)
            self._uow.command = command_line(ctx)
            if self._uow.upgraded:
                click.echo(self._uow.upgraded, err=True)
            resume_gc()
        return self._uow

    def discard_new_database(self, *, failed: bool) -> None:
        """At the end of a command: remove the SQLite file it created if the command failed, or
        if it left the file without a table (`db current` on a mistyped path), so a command
        leaves no empty file behind (DATABASE_SETUP.md, "A file that did not exist")."""
        if self._uow is not None:
            self._uow.discard_new_file(failed=failed)


pass_app = click.make_pass_decorator(AppContext)
F = TypeVar("F", bound=Callable[..., Any])


def account_option(*, writes: bool) -> Callable[[F], F]:
    """--account NAME: where a command writes (default: accounts.default, else main), or which
    account a reading command narrows to (default: every account)."""
    help_text = ("Account to record in (default: the accounts.default setting, else main)." if writes
                 else "Only this account (default: every account).")
    return click.option("--account", shell_complete=complete_accounts, metavar="NAME", help=help_text)


#: Where a list command's `--csv`/`--tsv` choice is kept: `ctx.meta`, which a command's context
#: shares with its parents, so `output.print_table` finds it without a parameter.
TABLE_FORMAT_KEY = "stocksbot.table_format"


def _choose_format(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if not value or ctx.resilient_parsing:
        return value
    name = str(param.name)
    chosen = ctx.meta.get(TABLE_FORMAT_KEY)
    if chosen is not None and chosen != name:
        raise click.UsageError(f"--{chosen} and --{name} cannot be used together: choose one", ctx)
    if getattr(ctx.find_root().obj, "json", False):
        raise click.UsageError(f"--json and --{name} cannot be used together: choose one output format", ctx)
    ctx.meta[TABLE_FORMAT_KEY] = name
    return value


def table_format_options(command: F) -> F:
    """`--csv` and `--tsv` for a list command: its table as comma- or tab-separated values with a
    header row, every digit kept (docs/csv-formats.md §5); `output.print_table` writes them.
    Neither goes with the root `--json`."""
    for name, what in (("tsv", "tab"), ("csv", "comma")):
        command = click.option(
            f"--{name}", is_flag=True, expose_value=False, callback=_choose_format,
            help=f"Write the table as {what}-separated values (header row, exact numbers, UTC times).",
        )(command)
    return command
