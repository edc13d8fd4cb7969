"""The `stocksbot` command: global options, the command groups, and the error edge.

Only Click is imported at start-up. A command group's module is imported when that group is
invoked (or when `--help` lists them all), and storage, Alembic and Rich load when a command
actually runs, so every command starts with no more than it needs.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from stocksbot import __version__
from stocksbot.cli.context import ARGV_KEY, AppContext
from stocksbot.collector import pause_gc
from stocksbot.errors import StocksbotError

#: Each command of the root group, as (module, attribute) in stocksbot.cli.
COMMANDS: dict[str, tuple[str, str]] = {
    "account": ("account", "account_group"),
    "audit": ("audit", "audit_group"),
    "cash": ("cash", "cash_group"),
    "config": ("config", "config_group"),
    "db": ("db", "db_group"),
    "dividend": ("dividend", "dividend_group"),
    "import": ("importing", "import_command"),
    "order": ("order", "order_group"),
    "performance": ("performance", "performance_command"),
    "position": ("position", "position_group"),
    "price": ("price", "price_group"),
    "report": ("report", "report_group"),
    "strategy": ("strategy", "strategy_group"),
    "split": ("split", "split_group"),
    "summary": ("summary", "summary_command"),
    "symbol": ("symbol", "symbol_group"),
    "trade": ("trade", "trade_group"),
    "transfer": ("transfer", "transfer_command"),
}


class StocksbotGroup(click.Group):
    """The root group: loads a command's module on first use, and turns a StocksbotError into
    one line on stderr and exit 1 (real bugs keep their traceback)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        module, attribute = found
        command = getattr(importlib.import_module(f"stocksbot.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Kept for the audit log (docs/ledger.md §20): the command line that made a change.
        ctx.meta[ARGV_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        failed = True
        try:
            result = super().invoke(ctx)
            failed = False
            return result
        except (click.exceptions.Exit, SystemExit) as exc:  # ctx.exit(N), sys.exit(N): N says
            failed = _exit_code(exc) != 0
            raise
        except StocksbotError as exc:
            if os.environ.get("STOCKSBOT_DEBUG") == "1":
                raise
            raise click.ClickException(_mask(str(exc))) from None
        except Exception as exc:
            failure = _database_failure(ctx, exc)
            if failure is None or os.environ.get("STOCKSBOT_DEBUG") == "1":
                raise
            raise click.ClickException(_mask(str(failure))) from None
        finally:
            app = ctx.obj if isinstance(ctx.obj, AppContext) else None
            if app is not None:
                app.discard_new_database(failed=failed)


def _exit_code(exc: BaseException) -> int:
    code = exc.exit_code if isinstance(exc, click.exceptions.Exit) else getattr(exc, "code", 1)
    return code if isinstance(code, int) else (0 if code is None else 1)


def _database_failure(ctx: click.Context, exc: Exception) -> StocksbotError | None:
    """One line for a database error that reached the edge outside a unit of work's
    transaction (the `db` commands work on the engine directly); None for anything else,
    which is a bug and keeps its traceback."""
    if not type(exc).__module__.startswith(("sqlalchemy", "sqlite3", "psycopg")):
        return None
    from stocksbot.storage.database import database_failure, resolve_target

    app = ctx.obj if isinstance(ctx.obj, AppContext) else None
    uow = getattr(app, "_uow", None)
    try:
        target = uow.target if uow is not None else resolve_target(app.db_url if app else None)
    except StocksbotError:
        return None
    timeout = uow.settings.query_timeout if uow is not None else (app.timeout if app else None)
    return database_failure(exc, target, timeout)


def _mask(message: str) -> str:
    from stocksbot.storage.database import mask_url

    return mask_url(message)


@click.group(cls=StocksbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_url", metavar="URL", help="Database URL (overrides DATABASE_URL and the default file).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("--full", is_flag=True,
              help="Exact numbers in tables (default: money to 2 places, averages to 4, percentages to 2).")
@click.option("--echo", is_flag=True, help="Log SQL statements to stderr (same as SQL_ECHO=1).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Bound every SQL statement (same as STOCKSBOT_QUERY_TIMEOUT).")
@click.version_option(__version__, "--version", prog_name="stocksbot")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, as_json: bool, full: bool, echo: bool, timeout: float | None) -> None:
    """stocksbot: an exact trade ledger, positions and P&L, on SQLite or PostgreSQL.

    With no configuration the database is stocksbot.db in your user data folder
    (or $STOCKSBOT_HOME); DATABASE_URL or --db points elsewhere.

    \b
    Example:
      stocksbot config set trading.allow_short true
      stocksbot --json config list
    """
    ctx.obj = AppContext(db_url=db_url, json=as_json, echo=echo, timeout=timeout, full=full)



def main() -> None:
    """The `stocksbot` command. The garbage collector is off until the command opens its
    database (`collector.pause_gc`); `cli` itself, as tests and scripts call it, leaves it alone."""
    pause_gc()
    cli(prog_name="stocksbot")
