"""`stocksbot order ...`: orders, their life cycle and fills (docs/ledger.md §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from stocksbot.cli.completion import complete_strategies, complete_symbols
from stocksbot.cli.context import AppContext, account_option, pass_app, table_format_options
from stocksbot.cli.trade import cost_options, trade_line
from stocksbot.vocabulary import ORDER_STATUSES, ORDER_TYPES, TIME_IN_FORCE, TRADE_SIDES

if TYPE_CHECKING:
    from stocksbot.storage.records import OrderRecord

# The same tuples as stocksbot.ledger.orders (a test keeps them equal); repeated here so that
# `--help` and Click's own checks do not import the ledger.


def order_line(order: "OrderRecord") -> str:
    """One line describing an order, e.g. `order 1: buy 10 AAPL limit 150 day (pending)`."""
    from stocksbot.cli.output import show_decimal, show_price

    prices = " ".join(f"{name} {show_price(value)}" for name, value in
                      (("stop", order.stop_price), ("limit", order.limit_price)) if value is not None)
    return (f"order {order.id}: {order.side} {show_decimal(order.quantity)} {order.symbol} {prices or order.type} "
            f"{order.tif} ({order.status})")


def _print_order(app: AppContext, order: "OrderRecord") -> None:
    from stocksbot.cli.output import print_json

    if app.json:
        print_json(order.to_json())
    else:
        click.echo(order_line(order))


@click.group("order")
def order_group() -> None:
    """Orders and their life cycle: pending, submitted, partially_filled, filled (or cancelled, rejected, expired).

    \b
    Example:
      stocksbot order add buy AAPL 10 --type limit --limit-price 150
      stocksbot order submit 1
      stocksbot order fill 1 10 --price 149.9
    """


@order_group.command("add")
@click.argument("side", type=click.Choice(TRADE_SIDES))
@click.argument("symbol", shell_complete=complete_symbols)
@click.argument("quantity")
@click.option("--type", "order_type", type=click.Choice(ORDER_TYPES), default="market", show_default=True,
              help="Order type; limit needs --limit-price, stop --stop-price, stop_limit both.")
@click.option("--limit-price", metavar="P", help="Limit price (limit and stop_limit orders).")
@click.option("--stop-price", metavar="P", help="Stop price (stop and stop_limit orders).")
@click.option("--tif", type=click.Choice(TIME_IN_FORCE), default="day", show_default=True, help="Time in force.")
@click.option("--strategy", shell_complete=complete_strategies, metavar="NAME", help="Strategy placing the order.")
@click.option("--external-id", metavar="X", help="The broker's id for the order (unique).")
@account_option(writes=True)
@pass_app
def order_add(app: AppContext, side: str, symbol: str, quantity: str, order_type: str, limit_price: str | None,
              stop_price: str | None, tif: str, strategy: str | None, external_id: str | None,
              account: str | None) -> None:
    """Record a new order for QUANTITY SYMBOL; it starts as pending.

    \b
    Example:
      stocksbot order add buy AAPL 10 --type limit --limit-price 150 --tif gtc
      stocksbot order add sell AAPL 10 --type stop --stop-price 140 --strategy momentum
    """
    from stocksbot.services import orders

    order = orders.add_order(app.uow(), side=side, symbol=symbol, quantity=quantity, order_type=order_type,
                                    limit_price=limit_price, stop_price=stop_price, tif=tif, strategy=strategy,
                                    external_id=external_id, account=account)
    _print_order(app, order)


@order_group.command("list")
@click.option("--status", type=click.Choice(ORDER_STATUSES), help="Only orders in this state.")
@click.option("--symbol", shell_complete=complete_symbols, metavar="S", help="Only this symbol.")
@account_option(writes=False)
@table_format_options
@pass_app
def order_list(app: AppContext, status: str | None, symbol: str | None, account: str | None) -> None:
    """List orders, oldest first.

    \b
    Example:
      stocksbot order list --status submitted
      stocksbot --json order list --symbol AAPL
    """
    from stocksbot.cli.output import (
        print_json,
        print_table,
        show_average,
        show_date,
        show_decimal,
        show_price,
        text_cell,
    )
    from stocksbot.services import orders

    found = orders.list_orders(app.uow(), status=status, symbol=symbol, account=account)
    if app.json:
        print_json([o.to_json() for o in found])
        return
    print_table(
        ["id", "side", "symbol", "type", "qty", "limit", "stop", "tif", "status", "filled", "avg fill",
         "strategy", "created"],
        ((str(o.id), o.side, o.symbol, o.type, show_decimal(o.quantity), show_price(o.limit_price),
          show_price(o.stop_price), o.tif, o.status, show_decimal(o.filled_quantity), show_average(o.avg_fill_price),
          text_cell(o.strategy), show_date(o.created_at)) for o in found),
        numeric=["id", "qty", "limit", "stop", "filled", "avg fill"],
    )


@order_group.command("show")
@click.argument("order_id", metavar="ID", type=int)
@pass_app
def order_show(app: AppContext, order_id: int) -> None:
    """Show one order with its fill progress.

    \b
    Example:
      stocksbot order show 1
    """
    from stocksbot.cli.output import (
        print_fields,
        print_json,
        show_average,
        show_decimal,
        show_price,
        show_time,
        text_cell,
    )
    from stocksbot.services import orders

    o = orders.get_order(app.uow(), order_id)
    if app.json:
        print_json(o.to_json())
        return
    print_fields(
        [("id", str(o.id)), ("side", o.side), ("symbol", o.symbol), ("type", o.type),
         ("quantity", show_decimal(o.quantity)), ("limit price", show_price(o.limit_price)),
         ("stop price", show_price(o.stop_price)), ("tif", o.tif), ("status", o.status),
         ("filled", show_decimal(o.filled_quantity)), ("avg fill price", show_average(o.avg_fill_price)),
         ("strategy", text_cell(o.strategy)), ("external id", text_cell(o.external_id)),
         ("created", show_time(o.created_at)), ("updated", show_time(o.updated_at))],
        title=f"order {o.id}",
    )


def _status_command(name: str, status: str, summary: str) -> click.Command:
    @click.argument("order_id", metavar="ID", type=int)
    @pass_app
    def change(app: AppContext, order_id: int) -> None:
        from stocksbot.services import orders

        _print_order(app, orders.change_order_status(app.uow(), order_id, status))

    help_text = f"{summary}\n\n\b\nExample:\n  stocksbot order {name} 1\n"
    return order_group.command(name, help=help_text)(change)


_status_command("submit", "submitted", "Mark a pending order as sent to the broker (submitted).")
_status_command("cancel", "cancelled", "Cancel an order that is pending, submitted or partially filled.")
_status_command("reject", "rejected", "Mark a pending or submitted order as rejected by the broker.")
_status_command("expire", "expired", "Mark a submitted or partially filled order as expired.")


@order_group.command("fill")
@click.argument("order_id", metavar="ID", type=int)
@click.argument("quantity")
@click.option("--price", required=True, metavar="PRICE", help="Fill price per unit.")
@cost_options
@click.option("--allow-short", is_flag=True,
              help="Let a sell fill larger than the long position open a short (default: trading.allow_short).")
@click.option("--force", is_flag=True, help="Record a fill on the wrong side of the order's limit price.")
@pass_app
def order_fill(app: AppContext, order_id: int, quantity: str, price: str, commission: str, fees: str,
               executed_at: str | None, allow_short: bool, force: bool) -> None:
    """Record a fill of QUANTITY on order ID: a trade linked to it, its progress and the position.

    Only submitted or partially filled orders fill, and never beyond what remains. A buy
    fill above the order's limit price, or a sell fill below it, is refused unless --force;
    a sell fill larger than the long position needs --allow-short (or trading.allow_short).

    \b
    Example:
      stocksbot order fill 1 4 --price 150.10 --commission 0.5
    """
    from stocksbot.cli.output import print_json, show_decimal
    from stocksbot.services import orders

    uow = app.uow()
    trade = orders.fill_order(uow, order_id, quantity, price, commission=commission, fees=fees, executed_at=executed_at,
                              allow_short=True if allow_short else None, force=force)
    if app.json:
        print_json(trade.to_json())
        return
    order = orders.get_order(uow, order_id)
    click.echo(f"{trade_line(trade)}; order {order.id} {order.status}, "
               f"{show_decimal(order.filled_quantity)} of {show_decimal(order.quantity)} filled")


@order_group.command("remove")
@click.argument("order_id", metavar="ID", type=int)
@pass_app
def order_remove(app: AppContext, order_id: int) -> None:
    """Delete order ID when it never filled (an entered-by-mistake order); one with fills is
    refused: cancel it instead, its fills are trades of the ledger.

    \b
    Example:
      stocksbot order remove 3
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import orders

    order = orders.remove_order(app.uow(), order_id)
    if app.json:
        print_json(order.to_json())
    else:
        click.echo(f"removed {order_line(order)}")
