"""Trades: recording them (`trade add`, `position add/close`, `order fill`), listing them, re-booking from them.

Every function parses and checks its input first (so bad input writes nothing), then works
in one transaction of the unit of work: the trade, its position and lots, and its order
change together or not at all. `record_fill` is the one owner of recording a trade; the
order service calls it with the order row it has locked.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from stocksbot import settings
from stocksbot.errors import StocksbotError
from stocksbot.ledger import Fill, canonical, format_decimal, parse_decimal
from stocksbot.ledger.inputs import parse_note, parse_range_end, parse_symbol, parse_time
from stocksbot.ledger.orders import apply_fill, check_fill_price
from stocksbot.storage import audit, tables
from stocksbot.storage.booking import BookingStore, lock_ledger, lock_symbol
from stocksbot.storage.cash import UNREAD, CashStore, Stored, Unread, trade_event
from stocksbot.storage.records import TradeRecord, trade_record
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import BUY, CLOSED, DEFAULT_ACCOUNT, EXTERNAL_ID_MAX, LONG, SELL, SHORT, TRADE_SIDES

Number = str | Decimal | int
_CONFIG = tables.config
_STRATEGIES = tables.strategies
_ORDERS = tables.orders
_TRADES = tables.trades
_ACCOUNTS = tables.accounts
_INSTRUMENTS = tables.instruments
_BALANCES = tables.cash_balances


def _setting_text(key: str) -> Any:
    return select(_CONFIG.c.value).where(_CONFIG.c.key == key).scalar_subquery()


def _account_column(column: str, account_id: Any) -> Any:
    return select(_ACCOUNTS.c[column]).where(_ACCOUNTS.c.id == account_id).scalar_subquery()


_INSTRUMENT_CURRENCY = (
    select(_INSTRUMENTS.c.currency).where(_INSTRUMENTS.c.symbol == bindparam("symbol")).scalar_subquery()
)


def _cash_columns(account_id: Any, instrument_currency: Any, *outer: Any) -> list[Any]:
    """The account's margin flag and its balance row in the trade's currency (docs/ledger.md §13), so
    settling the trade's cash needs no read of its own on SQLite. `outer`: the tables of the
    enclosing query that the nested subqueries refer to."""
    account_currency = select(_ACCOUNTS.c.currency).where(_ACCOUNTS.c.id == account_id).correlate(*outer)
    currency = func.coalesce(instrument_currency, account_currency.scalar_subquery())
    balance = (_BALANCES.c.account_id == account_id) & (_BALANCES.c.currency == currency)
    return [_account_column("margin", account_id).label("account_margin"),
            select(_BALANCES.c.balance).where(balance).scalar_subquery().label("cash_balance"),
            select(_BALANCES.c.last_at).where(balance).scalar_subquery().label("cash_last_at")]


# What recording a trade needs to know first, in one round trip: the two ledger settings
# (their stored texts, NULL when unset), the id of the strategy named (NULL when none), the
# account (NULL when unknown: the one named, else `accounts.default`, else main, docs/ledger.md
# §11.2) and the currency of the symbol (NULL when it has none yet). One row always: the
# scalar lookups in a one-row derived table, with the account (names are unique) and its
# balance row in the trade's currency (one per account and currency) joined to it outer.
# Joins rather than a scalar subquery per account column: those repeated the account's lookup
# seven times, and compiling that statement, which every `trade add` process does once, cost
# more than running it (issue 10).
_LOOKUPS = select(
    _setting_text("accounting.cost_basis").label("method"),
    _setting_text("trading.allow_short").label("allow_short"),
    select(_STRATEGIES.c.id).where(_STRATEGIES.c.name == bindparam("strategy")).scalar_subquery().label("strategy_id"),
    func.coalesce(bindparam("account"), _setting_text("accounts.default"), DEFAULT_ACCOUNT).label("account_name"),
    _INSTRUMENT_CURRENCY.label("instrument_currency"),
).subquery("lookups")
_TRADE_CONTEXT = select(
    _LOOKUPS.c.method, _LOOKUPS.c.allow_short, _LOOKUPS.c.strategy_id,
    _ACCOUNTS.c.id.label("account_id"), _ACCOUNTS.c.currency.label("account_currency"),
    _ACCOUNTS.c.status.label("account_status"), _LOOKUPS.c.instrument_currency,
    _ACCOUNTS.c.margin.label("account_margin"), _BALANCES.c.balance.label("cash_balance"),
    _BALANCES.c.last_at.label("cash_last_at"),
).select_from(
    _LOOKUPS.outerjoin(_ACCOUNTS, _ACCOUNTS.c.name == _LOOKUPS.c.account_name).outerjoin(
        _BALANCES, (_BALANCES.c.account_id == _ACCOUNTS.c.id)
        & (_BALANCES.c.currency == func.coalesce(_LOOKUPS.c.instrument_currency, _ACCOUNTS.c.currency)),
    )
)
# An order locked for the transaction, with its strategy's name (for the fill's record) and,
# like _TRADE_CONTEXT, the ledger settings and currencies: a fill reads all it needs in one round trip.
ORDER_FOR_FILL = (
    select(_ORDERS, select(_STRATEGIES.c.name).where(_STRATEGIES.c.id == _ORDERS.c.strategy_id)
           .scalar_subquery().label("strategy_name"),
           _setting_text("accounting.cost_basis").label("method"),
           _setting_text("trading.allow_short").label("allow_short"),
           _account_column("currency", _ORDERS.c.account_id).label("account_currency"),
           _account_column("status", _ORDERS.c.account_id).label("account_status"),
           select(_INSTRUMENTS.c.currency).where(_INSTRUMENTS.c.symbol == _ORDERS.c.symbol).scalar_subquery()
           .label("instrument_currency"),
           *_cash_columns(_ORDERS.c.account_id, select(_INSTRUMENTS.c.currency)
                          .where(_INSTRUMENTS.c.symbol == _ORDERS.c.symbol).correlate(_ORDERS).scalar_subquery(),
                          _ORDERS))
    .where(_ORDERS.c.id == bindparam("order_id"))
    .with_for_update()
)
_INSERT_INSTRUMENT = insert(_INSTRUMENTS)
_RECORD_ORDER_FILL = update(_ORDERS).where(_ORDERS.c.id == bindparam("order_id")).values(
    filled_quantity=bindparam("filled"), avg_fill_price=bindparam("average"), status=bindparam("status"),
    updated_at=bindparam("now"),
)
_INSERT_TRADE = insert(_TRADES).returning(_TRADES.c.id)
_TRADE_BY_EXTERNAL_ID = select(_TRADES.c.id).where(_TRADES.c.external_id == bindparam("external_id"))


def parse_side(side: str) -> str:
    lowered = side.lower() if isinstance(side, str) else ""
    if lowered not in TRADE_SIDES:
        raise StocksbotError(f"side must be {' or '.join(TRADE_SIDES)}, got {side!r}")
    return lowered


def parse_text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not value.strip() or len(value) > limit:
        raise StocksbotError(f"{field} must be 1 to {limit} characters, got {value!r}")
    return value


def parse_trade(
    side: str, symbol: str, quantity: Number, price: Number, commission: Number, fees: Number,
    executed_at: str | datetime | None, external_id: str | None = None, note: str | None = None,
) -> dict[str, Any]:
    """A trade's columns, parsed and checked before any transaction starts (bad input writes nothing)."""
    return {
        "side": parse_side(side),
        "symbol": parse_symbol(symbol),
        "quantity": parse_decimal(quantity, field="quantity", allow_zero=False),
        "price": parse_decimal(price, field="price"),
        "commission": parse_decimal(commission, field="commission"),
        "fees": parse_decimal(fees, field="fees"),
        "executed_at": parse_time(executed_at, field="--at") if executed_at is not None else datetime.now(timezone.utc),
        "external_id": parse_text(external_id, "external id", EXTERNAL_ID_MAX),
        "note": parse_note(note),
        "order_id": None,
        "strategy_id": None,
    }


def record_trade(
    uow: UnitOfWork,
    *,
    side: str,
    symbol: str,
    quantity: Number,
    price: Number,
    commission: Number = "0",
    fees: Number = "0",
    executed_at: str | datetime | None = None,
    strategy: str | None = None,
    order_id: int | None = None,
    external_id: str | None = None,
    note: str | None = None,
    allow_short: bool | None = None,
    account: str | None = None,
    force: bool = False,
) -> TradeRecord:
    """Record a fill and book it into its position (and its order, if any), in one transaction.

    `allow_short=None` follows the `trading.allow_short` setting; `account=None` is the
    default account (an order's fill goes to the order's account). `force` records a fill
    of `order_id` on the wrong side of the order's limit price (docs/ledger.md §7.4).
    """
    if force and order_id is None:
        raise StocksbotError("--force applies to a fill of an order only: give --order ID")
    values = parse_trade(side, symbol, quantity, price, commission, fees, executed_at, external_id, note)
    with uow.transaction() as conn:
        order = locked_order(conn, order_id) if order_id is not None else None
        trade = record_fill(conn, values, strategy=strategy, order=order, allow_short=allow_short, account=account,
                            force=force)
        if order is not None:
            log_fill(conn, uow.command, order, trade)
        else:
            audit.log(conn, uow.command, "trade.add", trade.id, new=trade.to_json(), trade_ids=[trade.id])
        return trade


#: An order's fields that a fill changes (docs/ledger.md §7.4), as its audit entry shows them.
_FILL_FIELDS = ("filled_quantity", "avg_fill_price", "status")


def log_fill(conn: Connection, command: str | None, order: RowMapping, trade: TradeRecord) -> None:
    """The audit entry of a fill: the order's progress before and after, and the trade it created.

    The progress after is the pure rule applied again to the locked row (what `_apply_to_order`
    stored), which saves a fill a read of the order.
    """
    result = apply_fill(order["quantity"], order["filled_quantity"], order["avg_fill_price"], order["status"],
                        trade.quantity, trade.price)
    old, new = audit.changes({name: order[name] for name in _FILL_FIELDS},
                             {name: getattr(result, name) for name in _FILL_FIELDS})
    audit.log(conn, command, "order.fill", order["id"], old=old, new={**new, "trade": trade.to_json()},
              trade_ids=[trade.id])


def locked_order(conn: Connection, order_id: int) -> RowMapping:
    """An order's row with what a fill needs (ORDER_FOR_FILL), locked for the transaction."""
    order = conn.execute(ORDER_FOR_FILL, {"order_id": order_id}).mappings().first()
    if order is None:
        raise StocksbotError(f"no order with id {order_id}")
    return order


def record_fill(
    conn: Connection, values: dict[str, Any], *, strategy: str | None, order: RowMapping | None,
    allow_short: bool | None, account: str | None = None, force: bool = False,
) -> TradeRecord:
    """Record a parsed trade (a fill of `order`, a row from `locked_order`, unless None) and book it.

    Every fill of an order passes here, so the order's rules (state, remaining quantity, its
    limit price unless `force`: docs/ledger.md §7.4) are checked in this one place.

    The trade belongs to the strategy named, else to the order's strategy; to the account
    named, else the order's, else the default account. It settles in its symbol's currency;
    a symbol's first trade gives it the currency of its account (docs/ledger.md §15).
    """
    # First, so that what is read next (the symbol's instrument above all: its first trade creates
    # it) is what a concurrent writer of the symbol committed (PostgreSQL; SQLite's write
    # transaction excludes other writers already).
    lock_symbol(conn, values["symbol"])
    # An order row carries the settings and its account too; a named strategy needs its lookup.
    if order is not None and strategy is None and account is None:
        context = order
    else:
        context = conn.execute(_TRADE_CONTEXT, {"strategy": strategy, "account": account,
                                                "symbol": values["symbol"]}).mappings().one()
    if order is not None:
        values["account_id"] = order["account_id"]
        if account is not None and context["account_id"] != order["account_id"]:
            raise StocksbotError(f"order {order['id']} belongs to another account than {account!r}")
    elif context["account_id"] is None:
        raise unknown_account(account)
    else:
        values["account_id"] = context["account_id"]
    if context["account_status"] == CLOSED:
        raise StocksbotError("the account is closed: reopen it or record the trade in another account")
    currency = context["instrument_currency"]
    if currency is None:
        currency = context["account_currency"]
        conn.execute(_INSERT_INSTRUMENT, {"symbol": values["symbol"], "currency": currency})
    values["currency"] = currency
    method = settings.known_value("accounting.cost_basis", context["method"])
    if allow_short is None:
        allow_short = bool(settings.known_value("trading.allow_short", context["allow_short"]))
    strategy_name = None
    if strategy is not None:
        if context["strategy_id"] is None:
            raise StocksbotError(f"unknown strategy {strategy!r} (see `stocksbot strategy list`)")
        values["strategy_id"], strategy_name = context["strategy_id"], strategy
    if order is not None:
        _apply_to_order(conn, order, values, force=force)
        if values["strategy_id"] is None and order["strategy_id"] is not None:
            values["strategy_id"], strategy_name = order["strategy_id"], order["strategy_name"]
    external_id = values["external_id"]
    duplicate = StocksbotError(f"a trade with external id {external_id!r} already exists")
    if external_id is not None and conn.execute(_TRADE_BY_EXTERNAL_ID, {"external_id": external_id}).first():
        raise duplicate
    try:
        trade_id = conn.execute(_INSERT_TRADE, values).scalar_one()
    except IntegrityError:  # a concurrent writer stored the same external id first
        raise duplicate from None
    account_name = account if account is not None else _account_name(conn, values["account_id"])
    fill = Fill(values["side"], values["quantity"], values["price"], values["commission"], values["fees"],
                values["executed_at"], trade_id)
    store = BookingStore(conn, method)
    realized = store.book_trade(
        values["account_id"], values["symbol"], trade_id, fill, values["strategy_id"], allow_short=allow_short
    )
    _settle_cash(conn, context, values, trade_id)
    return TradeRecord(
        id=trade_id, side=values["side"], symbol=values["symbol"], quantity=canonical(values["quantity"]),
        price=canonical(values["price"]), commission=canonical(values["commission"]),
        fees=canonical(values["fees"]), executed_at=values["executed_at"], realized_pnl=realized,
        order_id=values["order_id"], strategy=strategy_name, external_id=external_id, note=values["note"],
        account=account_name, currency=currency, rebooked=store.rebooked,
    )


def _settle_cash(conn: Connection, context: RowMapping, values: dict[str, Any], trade_id: int) -> None:
    """Settle the trade in its account's cash (docs/ledger.md §13), with what the context read of that account."""
    same = context["account_id"] == values["account_id"]
    stored: Stored | None | Unread = UNREAD
    if same:
        balance = context["cash_balance"]
        stored = None if balance is None else Stored(balance, context["cash_last_at"])
    CashStore(conn).settle(
        values["account_id"], values["currency"],
        [trade_event(trade_id, values["side"], values["quantity"], values["price"], values["commission"],
                     values["fees"], values["executed_at"])],
        margin=bool(context["account_margin"]) if same else None, stored=stored,
    )


def _apply_to_order(conn: Connection, order: RowMapping, trade: dict[str, Any], *, force: bool) -> None:
    """Apply a fill to its order (a locked row: state machine, overfill and limit checks) and link the
    trade to it."""
    order_id = order["id"]
    if (order["side"], order["symbol"]) != (trade["side"], trade["symbol"]):
        raise StocksbotError(
            f"trade {trade['side']} {trade['symbol']} does not match order {order_id} "
            f"({order['side']} {order['symbol']})"
        )
    result = apply_fill(order["quantity"], order["filled_quantity"], order["avg_fill_price"], order["status"],
                        trade["quantity"], trade["price"])
    check_fill_price(order["type"], order["side"], order["limit_price"], trade["price"], force=force)
    conn.execute(_RECORD_ORDER_FILL, {
        "order_id": order_id, "filled": result.filled_quantity, "average": result.avg_fill_price,
        "status": result.status, "now": datetime.now(timezone.utc),
    })
    trade["order_id"] = order_id


_ACCOUNT_NAME = select(_ACCOUNTS.c.name).where(_ACCOUNTS.c.id == bindparam("account_id"))


def _account_name(conn: Connection, account_id: int) -> str:
    return str(conn.execute(_ACCOUNT_NAME, {"account_id": account_id}).scalar_one())


def unknown_account(name: str | None) -> StocksbotError:
    if name is None:
        return StocksbotError("the default account (setting accounts.default) does not exist: "
                              "see `stocksbot account list`")
    return StocksbotError(f"unknown account {name!r} (see `stocksbot account list`)")


def list_trades(
    uow: UnitOfWork,
    *,
    symbol: str | None = None,
    strategy: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    limit: int | None = None,
    account: str | None = None,
    include_voided: bool = False,
) -> list[TradeRecord]:
    """Live trades in booking order; with `include_voided`, voided ones too (`trade list --all`,
    docs/ledger.md §19)."""
    if limit is not None and limit < 1:
        raise StocksbotError(f"--limit must be 1 or more, got {limit}")
    symbol = parse_symbol(symbol) if symbol is not None else None
    since_at = parse_time(since, field="--since") if since is not None else None
    until_at = parse_range_end(until) if until is not None else None
    with uow.reading() as conn:
        repos = Repositories(conn)
        wanted = repos.strategies.require_id(strategy) if strategy is not None else None
        account_id = repos.accounts.require(account).id if account is not None else None
        names = repos.strategies.names()
        accounts = repos.accounts.names()
        trades = repos.trades.list(symbol=symbol, strategy_id=wanted, since=since_at, until=until_at, limit=limit,
                                   account_id=account_id, include_voided=include_voided)
        return [trade_record(t, names, accounts) for t in trades]


def add_position(
    uow: UnitOfWork,
    symbol: str,
    quantity: Number,
    price: Number,
    *,
    short: bool = False,
    commission: Number = "0",
    fees: Number = "0",
    executed_at: str | datetime | None = None,
    strategy: str | None = None,
    account: str | None = None,
) -> TradeRecord:
    """Record the opening trade of a manual position: a buy, or with `short` a sell.

    Adding the opposite side of an open position is refused (close it first), so this
    never closes anything by surprise.
    """
    values = parse_trade(SELL if short else BUY, symbol, quantity, price, commission, fees, executed_at)
    with uow.transaction() as conn:
        lock_symbol(conn, values["symbol"])
        repos = Repositories(conn)
        current = repos.positions.open_for(repos.accounts.chosen(account).id, values["symbol"])
        wanted = SHORT if short else LONG
        if current is not None and current.side != wanted:
            raise StocksbotError(
                f"cannot add a {wanted} position in {values['symbol']}: it is {current.side} "
                f"{format_decimal(current.quantity)} (close it first)"
            )
        trade = record_fill(conn, values, strategy=strategy, order=None, allow_short=True, account=account)
        audit.log(conn, uow.command, "position.add", trade.symbol, new=trade.to_json(), trade_ids=[trade.id])
        return trade


def close_position(
    uow: UnitOfWork,
    symbol: str,
    price: Number,
    *,
    quantity: Number | None = None,
    commission: Number = "0",
    fees: Number = "0",
    executed_at: str | datetime | None = None,
    account: str | None = None,
) -> TradeRecord:
    """Record the trade that closes the open position in the account (all of it, or `quantity`)."""
    symbol = parse_symbol(symbol)
    amount = parse_decimal(quantity, field="quantity", allow_zero=False) if quantity is not None else None
    with uow.transaction() as conn:
        lock_symbol(conn, symbol)
        repos = Repositories(conn)
        chosen = repos.accounts.chosen(account)
        current = repos.positions.open_for(chosen.id, symbol)
        if current is None:
            raise StocksbotError(f"no open position in {symbol}" + (f" in account {account!r}" if account else ""))
        if amount is not None and amount > current.quantity:
            raise StocksbotError(
                f"cannot close {format_decimal(amount)} {symbol}: the {current.side} position is "
                f"{format_decimal(current.quantity)}"
            )
        side = SELL if current.side == LONG else BUY
        values = parse_trade(side, symbol, amount if amount is not None else current.quantity, price, commission, fees,
                             executed_at)
        strategy = repos.strategies.names().get(current.strategy_id) if current.strategy_id else None
        trade = record_fill(conn, values, strategy=strategy, order=None, allow_short=False, account=chosen.name)
        audit.log(conn, uow.command, "position.close", trade.symbol, new=trade.to_json(), trade_ids=[trade.id])
        return trade


def rebuild(conn: Connection) -> int:
    """Recompute every position and lot from the trades, and the cash (docs/ledger.md §13), in the
    caller's transaction; the number of symbols."""
    lock_ledger(conn)
    method = settings.known_value("accounting.cost_basis", Repositories(conn).config.text("accounting.cost_basis"))
    symbols = BookingStore(conn, str(method)).rebuild_all()
    CashStore(conn).rebuild_all()
    return symbols


def rebuild_positions(uow: UnitOfWork) -> int:
    """Recompute every position and lot from the trades; returns the number of symbols."""
    with uow.transaction() as conn:
        symbols = rebuild(conn)
        audit.log(conn, uow.command, "position.rebuild", new={"symbols": symbols})
        return symbols
