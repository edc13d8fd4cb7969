"""Orders: creating them, moving them along the state machine, and filling them.

A fill is a trade: `fill_order` locks the order and hands it to `trades.record_fill`, the
one owner of recording trades. The state machine is `stocksbot.ledger.orders`
(docs/ledger.md, Orders).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select

from stocksbot.errors import StocksbotError
from stocksbot.ledger import format_decimal, parse_decimal
from stocksbot.ledger.inputs import parse_symbol
from stocksbot.ledger.orders import check_transition, validate_order_prices, validate_order_type, validate_time_in_force
from stocksbot.services import trades
from stocksbot.storage import audit, tables
from stocksbot.storage.records import OrderRecord, TradeRecord
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import (
    EXTERNAL_ID_MAX,
    MANUAL_ORDER_STATUSES,
    OPEN_ORDER_STATUSES,
    ORDER_STATUSES,
    PENDING,
)

Number = trades.Number
_ORDERS = tables.orders
_TRADES = tables.trades
#: The verb of the audit action of each status set by hand ("order.cancel").
_VERBS = {"submitted": "submit", "cancelled": "cancel", "rejected": "reject", "expired": "expire"}


def order_record(order: Any, names: dict[int, str], accounts: dict[int, str]) -> OrderRecord:
    """An orders row as users see it (the strategy and the account by name)."""
    return OrderRecord(
        id=order.id, side=order.side, symbol=order.symbol, type=order.type, quantity=order.quantity,
        limit_price=order.limit_price, stop_price=order.stop_price, tif=order.tif, status=order.status,
        filled_quantity=order.filled_quantity, avg_fill_price=order.avg_fill_price,
        strategy=names.get(order.strategy_id) if order.strategy_id else None,
        external_id=order.external_id, created_at=order.created_at, updated_at=order.updated_at,
        account=accounts[order.account_id],
    )


def _order(repos: Repositories, order_id: int, *, for_update: bool = False) -> Any:
    order = repos.orders.get(order_id, for_update=for_update) if order_id > 0 else None
    if order is None:
        raise StocksbotError(f"no order with id {order_id}")
    return order


def add_order(
    uow: UnitOfWork,
    *,
    side: str,
    symbol: str,
    quantity: Number,
    order_type: str = "market",
    limit_price: Number | None = None,
    stop_price: Number | None = None,
    tif: str = "day",
    strategy: str | None = None,
    external_id: str | None = None,
    account: str | None = None,
) -> OrderRecord:
    limit = parse_decimal(limit_price, field="limit price", allow_zero=False) if limit_price is not None else None
    stop = parse_decimal(stop_price, field="stop price", allow_zero=False) if stop_price is not None else None
    validate_order_type(order_type)
    validate_time_in_force(tif)
    validate_order_prices(order_type, limit, stop)
    values: dict[str, Any] = {
        "side": trades.parse_side(side), "symbol": parse_symbol(symbol),
        "quantity": parse_decimal(quantity, field="quantity", allow_zero=False),
        "type": order_type, "limit_price": limit, "stop_price": stop, "tif": tif, "status": PENDING,
        "filled_quantity": Decimal(0), "external_id": trades.parse_text(external_id, "external id", EXTERNAL_ID_MAX),
    }
    with uow.transaction() as conn:
        repos = Repositories(conn)
        values["account_id"] = repos.accounts.chosen(account).id
        if strategy is not None:
            values["strategy_id"] = repos.strategies.require_id(strategy)
        if values["external_id"] is not None and repos.orders.by_external_id(values["external_id"]) is not None:
            raise StocksbotError(f"an order with external id {values['external_id']!r} already exists")
        order_id = repos.orders.add(**values)
        record = order_record(_order(repos, order_id), repos.strategies.names(), repos.accounts.names())
        audit.log(conn, uow.command, "order.add", order_id, new=record.to_json())
        return record


def list_orders(
    uow: UnitOfWork, *, status: str | None = None, symbol: str | None = None, account: str | None = None
) -> list[OrderRecord]:
    if status is not None and status not in ORDER_STATUSES:
        raise StocksbotError(f"unknown order status {status!r}: use one of {', '.join(ORDER_STATUSES)}")
    with uow.reading() as conn:
        repos = Repositories(conn)
        names = repos.strategies.names()
        account_id = repos.accounts.require(account).id if account is not None else None
        orders = repos.orders.list(status=status, symbol=parse_symbol(symbol) if symbol else None,
                                   account_id=account_id)
        accounts = repos.accounts.names()
        return [order_record(o, names, accounts) for o in orders]


def get_order(uow: UnitOfWork, order_id: int) -> OrderRecord:
    with uow.reading() as conn:
        repos = Repositories(conn)
        return order_record(_order(repos, order_id), repos.strategies.names(), repos.accounts.names())


def change_order_status(uow: UnitOfWork, order_id: int, status: str) -> OrderRecord:
    """Move an order along the state machine (submit, cancel, reject, expire).

    Filled and partially filled are reached only through fills, never set by hand.
    """
    if status not in MANUAL_ORDER_STATUSES:
        raise StocksbotError(
            f"an order can be set to {', '.join(MANUAL_ORDER_STATUSES)} by hand, not {status!r}; fills move it further"
        )
    with uow.transaction() as conn:
        repos = Repositories(conn)
        before = _order(repos, order_id, for_update=True).status
        check_transition(before, status)
        repos.orders.set_status(order_id, status)
        audit.log(conn, uow.command, f"order.{_VERBS[status]}", order_id, old={"status": before}, new={"status": status})
        return order_record(_order(repos, order_id), repos.strategies.names(), repos.accounts.names())


def fill_order(
    uow: UnitOfWork,
    order_id: int,
    quantity: Number,
    price: Number,
    *,
    commission: Number = "0",
    fees: Number = "0",
    executed_at: str | datetime | None = None,
    allow_short: bool | None = None,
    force: bool = False,
) -> TradeRecord:
    """Record a fill of an order: a trade linked to it, and the order's progress, in one transaction.

    Like `trade add`: `allow_short=None` follows the `trading.allow_short` setting (docs/ledger.md
    §4.6), and a fill on the wrong side of the order's limit price needs `force` (§7.4).
    """
    with uow.transaction() as conn:
        order = trades.locked_order(conn, order_id)
        values = trades.parse_trade(order["side"], order["symbol"], quantity, price, commission, fees, executed_at)
        trade = trades.record_fill(conn, values, strategy=None, order=order, allow_short=allow_short, force=force)
        trades.log_fill(conn, uow.command, order, trade)
        return trade


def _fills_of(order: Any, trades_count: int) -> str:
    if order.filled_quantity:
        return (f"it is {order.status} with {format_decimal(order.filled_quantity)} of "
                f"{format_decimal(order.quantity)} filled")
    return f"{trades_count} voided trade(s) were its fills"


def _instead(order: Any) -> str:
    """What to do with an order that has fills instead of removing it."""
    if order.status in OPEN_ORDER_STATUSES and order.filled_quantity:
        return f"cancel it instead (`stocksbot order cancel {order.id}`) to stop further fills"
    if order.filled_quantity:
        return "void its fills first (`stocksbot trade void ID`) if they never happened"
    return "it stays as the record of those trades"


def remove_order(uow: UnitOfWork, order_id: int) -> OrderRecord:
    """Delete an order that never filled (docs/ledger.md §7.5): a fill is a trade of the ledger, so
    an order with fills (voided ones included) stays, and is cancelled instead."""
    with uow.transaction() as conn:
        repos = Repositories(conn)
        row = _order(repos, order_id, for_update=True)
        fills = conn.execute(select(func.count()).where(_TRADES.c.order_id == order_id)).scalar_one()
        if row.filled_quantity or fills:
            raise StocksbotError(f"order {order_id} cannot be removed: {_fills_of(row, fills)}, and a fill is a trade of "
                                 f"the ledger; {_instead(row)}")
        record = order_record(row, repos.strategies.names(), repos.accounts.names())
        conn.execute(delete(_ORDERS).where(_ORDERS.c.id == order_id))
        audit.log(conn, uow.command, "order.remove", order_id, old=record.to_json())
        return record
