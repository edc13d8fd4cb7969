"""The `stocksbot` command: global options, the command groups, and the error edge.

Only Click is imported here and in the group modules at start-up; storage, Alembic and Rich
load when a command actually runs, so `--help` and argument errors answer quickly.
"""

from __future__ import annotations

import os
from typing import Any

import click

from stocksbot import __version__
from stocksbot.cli.config import config_group
from stocksbot.cli.context import AppContext
from stocksbot.cli.db import db_group
from stocksbot.cli.order import order_group
from stocksbot.cli.position import position_group
from stocksbot.cli.price import price_group
from stocksbot.cli.strategy import strategy_group
from stocksbot.cli.summary import summary_command
from stocksbot.cli.trade import trade_group
from stocksbot.errors import StocksbotError


class StocksbotGroup(click.Group):
    """Turns a StocksbotError into one line on stderr and exit 1; real bugs keep their traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StocksbotError as exc:
            if os.environ.get("STOCKSBOT_DEBUG") == "1":
                raise
            raise click.ClickException(_mask(str(exc))) from None


def _mask(message: str) -> str:
    from stocksbot.storage.database import mask_url

    return mask_url(message)


@click.group(cls=StocksbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_url", metavar="URL", help="Database URL (overrides DATABASE_URL and the default file).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("--echo", is_flag=True, help="Log SQL statements to stderr (same as SQL_ECHO=1).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Bound every SQL statement (same as STOCKSBOT_QUERY_TIMEOUT).")
@click.version_option(__version__, "--version", prog_name="stocksbot")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, as_json: bool, echo: bool, timeout: float | None) -> None:
    """stocksbot: an exact trade ledger, positions and P&L, on SQLite or PostgreSQL.

    With no configuration the database is stocksbot.db in your user data folder
    (or $STOCKSBOT_HOME); DATABASE_URL or --db points elsewhere.

    \b
    Example:
      stocksbot config set trading.allow_short true
      stocksbot --json config list
    """
    ctx.obj = AppContext(db_url=db_url, json=as_json, echo=echo, timeout=timeout)


cli.add_command(position_group)
cli.add_command(trade_group)
cli.add_command(order_group)
cli.add_command(strategy_group)
cli.add_command(price_group)
cli.add_command(summary_command)
cli.add_command(config_group)
cli.add_command(db_group)


def main() -> None:
    cli(prog_name="stocksbot")
