"""`stocksbot strategy ...`: named strategies, their parameters and ledger metrics (docs/ledger.md §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from stocksbot.cli.completion import complete_strategies
from stocksbot.cli.context import AppContext, account_option, pass_app, table_format_options

if TYPE_CHECKING:
    from stocksbot.storage.records import StrategyRecord


def _params_text(params: dict[str, object]) -> str:
    import json

    return json.dumps(params, ensure_ascii=False, sort_keys=True)


def _print_strategy(app: AppContext, strategy: "StrategyRecord", message: str) -> None:
    from stocksbot.cli.output import print_json

    if app.json:
        print_json(strategy.to_json())
    else:
        click.echo(message)


@click.group("strategy", invoke_without_command=True)
@click.pass_context
def strategy_group(ctx: click.Context) -> None:
    """Strategies and their results from the ledger; `stocksbot strategy` alone lists them.

    \b
    Example:
      stocksbot strategy add momentum --param lookback=20
      stocksbot trade add buy AAPL 10 --price 150 --strategy momentum
      stocksbot strategy show momentum
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(strategy_list)


@strategy_group.command("add")
@click.argument("name")
@click.option("--description", metavar="TEXT", help="What the strategy does.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A parameter; VALUE is read as JSON when it parses (20, true, [1,2]), else as text. Repeatable.")
@pass_app
def strategy_add(app: AppContext, name: str, description: str | None, params: tuple[str, ...]) -> None:
    """Add a strategy named NAME (enabled).

    \b
    Example:
      stocksbot strategy add momentum --description "12-1 momentum" --param lookback=20 --param top=5
    """

    from stocksbot.services import strategies

    strategy = strategies.add_strategy(app.uow(), name, description=description, params=strategies.parse_params(params))
    _print_strategy(app, strategy, f"added strategy {strategy.name}")


@strategy_group.command("list")
@account_option(writes=False)
@table_format_options
@pass_app
def strategy_list(app: AppContext, account: str | None = None) -> None:
    """List strategies with their trades, win rate and P&L.

    \b
    Example:
      stocksbot strategy list
      stocksbot --json strategy list
    """
    from stocksbot.cli.output import (
        pnl_cell,
        print_json,
        print_table,
        show_money,
        show_percent,
        text_cell,
    )
    from stocksbot.services import strategies

    found = strategies.list_strategies(app.uow(), account=account)
    if app.json:
        print_json([s.to_json() for s in found])
        return
    print_table(
        ["name", "enabled", "trades", "closing", "win rate", "realized", "costs", "open", "params"],
        ((text_cell(s.name), "yes" if s.enabled else "no", str(s.trades), str(s.closing_trades),
          show_percent(s.win_rate), pnl_cell(s.realized_pnl), show_money(s.costs), str(s.open_positions),
          text_cell(_params_text(s.params))) for s in found),
        numeric=["trades", "closing", "win rate", "realized", "costs", "open"],
    )


@strategy_group.command("show")
@click.argument("name", shell_complete=complete_strategies)
@pass_app
def strategy_show(app: AppContext, name: str) -> None:
    """Show one strategy: description, parameters and its metrics from the ledger.

    \b
    Example:
      stocksbot strategy show momentum
    """
    from stocksbot.cli.output import (
        pnl_cell,
        print_fields,
        print_json,
        show_money,
        show_percent,
        show_time,
        text_cell,
    )
    from stocksbot.services import strategies

    s = strategies.get_strategy(app.uow(), name)
    if app.json:
        print_json(s.to_json())
        return
    print_fields(
        [("name", text_cell(s.name)), ("description", text_cell(s.description)),
         ("params", text_cell(_params_text(s.params))), ("enabled", "yes" if s.enabled else "no"),
         ("trades", str(s.trades)), ("closing trades", str(s.closing_trades)), ("win rate", show_percent(s.win_rate)),
         ("realized", pnl_cell(s.realized_pnl)), ("costs", show_money(s.costs)),
         ("open positions", str(s.open_positions)), ("created", show_time(s.created_at)),
         ("updated", show_time(s.updated_at))],
        title=f"strategy {s.name}",
    )


@strategy_group.command("enable")
@click.argument("name", shell_complete=complete_strategies)
@pass_app
def strategy_enable(app: AppContext, name: str) -> None:
    """Enable strategy NAME.

    \b
    Example:
      stocksbot strategy enable momentum
    """
    from stocksbot.services import strategies

    strategy = strategies.set_strategy_enabled(app.uow(), name, True)
    _print_strategy(app, strategy, f"enabled strategy {strategy.name}")


@strategy_group.command("disable")
@click.argument("name", shell_complete=complete_strategies)
@pass_app
def strategy_disable(app: AppContext, name: str) -> None:
    """Disable strategy NAME (its trades and history stay).

    \b
    Example:
      stocksbot strategy disable momentum
    """
    from stocksbot.services import strategies

    strategy = strategies.set_strategy_enabled(app.uow(), name, False)
    _print_strategy(app, strategy, f"disabled strategy {strategy.name}")


@strategy_group.command("set")
@click.argument("name", shell_complete=complete_strategies)
@click.argument("pairs", metavar="KEY=VALUE...", nargs=-1, required=True)
@pass_app
def strategy_set(app: AppContext, name: str, pairs: tuple[str, ...]) -> None:
    """Merge KEY=VALUE parameters into strategy NAME (other parameters stay).

    VALUE is read as JSON when it parses (20, true, [1,2]), else as text.

    \b
    Example:
      stocksbot strategy set momentum lookback=60 universe='["AAPL","MSFT"]'
    """

    from stocksbot.services import strategies

    strategy = strategies.set_strategy_params(app.uow(), name, strategies.parse_params(pairs))
    _print_strategy(app, strategy, f"{strategy.name} params: {_params_text(strategy.params)}")


@strategy_group.command("remove")
@click.argument("name", shell_complete=complete_strategies)
@pass_app
def strategy_remove(app: AppContext, name: str) -> None:
    """Delete strategy NAME; one with trades is refused (disable it instead).

    \b
    Example:
      stocksbot strategy remove old-idea
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import strategies

    strategies.remove_strategy(app.uow(), name)
    if app.json:
        print_json({"name": name, "removed": True})
    else:
        click.echo(f"removed strategy {name}")
