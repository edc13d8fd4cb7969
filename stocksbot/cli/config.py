"""`stocksbot config ...`: typed settings (docs/ledger.md §9)."""

from __future__ import annotations

import click

from stocksbot.cli.completion import complete_config_keys
from stocksbot.cli.context import AppContext, pass_app, table_format_options
from stocksbot.vocabulary import CONFIG_TYPES


@click.group("config", invoke_without_command=True)
@click.pass_context
def config_group(ctx: click.Context) -> None:
    """Typed settings; `stocksbot config` alone lists them.

    Known keys: accounting.cost_basis (fifo, lifo or average) and trading.allow_short (bool).

    \b
    Example:
      stocksbot config set accounting.cost_basis lifo
      stocksbot config set bot.max_orders 12 --type int
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(config_list)


def _item_json(item: object) -> dict[str, object]:
    return {"key": item.key, "value": item.value, "type": item.value_type,  # type: ignore[attr-defined]
            "description": item.description, "is_default": item.is_default}  # type: ignore[attr-defined]


@config_group.command("set")
@click.argument("key", shell_complete=complete_config_keys)
@click.argument("value")
@click.option("--type", "value_type", type=click.Choice(CONFIG_TYPES), help="Value type (default: string, or the key's type).")
@click.option("--description", help="What the setting is for.")
@pass_app
def config_set(app: AppContext, key: str, value: str, value_type: str | None, description: str | None) -> None:
    """Set KEY to VALUE; a value that does not parse as the key's type is refused.

    \b
    Example:
      stocksbot config set trading.allow_short true
      stocksbot config set bot.universe '["AAPL","MSFT"]' --type json
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import config

    item = config.config_set(app.uow(), key, value, value_type, description)
    if app.json:
        print_json(_item_json(item))
    else:
        click.echo(f"{item.key} = {item.text} ({item.value_type})")


@config_group.command("get")
@click.argument("key", shell_complete=complete_config_keys)
@pass_app
def config_get(app: AppContext, key: str) -> None:
    """Print the bare value of KEY (JSON text for json settings); exit 1 when it is not set.

    \b
    Example:
      stocksbot config get accounting.cost_basis
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import config

    item = config.config_get(app.uow(), key)
    if app.json:
        print_json(_item_json(item))
    else:
        click.echo(item.text)


@config_group.command("list")
@table_format_options
@pass_app
def config_list(app: AppContext) -> None:
    """List the settings, including known keys still at their defaults.

    \b
    Example:
      stocksbot --json config list
    """
    from stocksbot.cli.output import print_json, print_table, table_format
    from stocksbot.services import config

    items = config.config_list(app.uow())
    if app.json:
        print_json([_item_json(i) for i in items])
        return
    if table_format() is not None:  # for programs: the value as stored, and is_default a column of its own
        print_table(["key", "value", "type", "is_default", "description"],
                    ((i.key, i.text, i.value_type, "true" if i.is_default else "false", i.description or "")
                     for i in items))
        return
    print_table(
        ["key", "value", "type", "description"],
        ((i.key, i.text + (" (default)" if i.is_default else ""), i.value_type, i.description or "") for i in items),
    )


@config_group.command("unset")
@click.argument("key", shell_complete=complete_config_keys)
@pass_app
def config_unset(app: AppContext, key: str) -> None:
    """Remove KEY; a known key returns to its default.

    \b
    Example:
      stocksbot config unset trading.allow_short
    """
    from stocksbot.services import config

    config.config_unset(app.uow(), key)
    if not app.json:
        click.echo(f"unset {key}")
    else:
        from stocksbot.cli.output import print_json

        print_json({"key": key, "unset": True})
