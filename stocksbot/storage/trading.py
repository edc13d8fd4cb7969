"""The ledger operations of StorageService: trades, positions and orders.

Every method parses and checks its input first (so bad input writes nothing), then works in
one transaction: the trade, its position and lots, and its order change together or not at
all.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from stocksbot.errors import StocksbotError
from stocksbot.ledger import Fill, canonical, divide, format_decimal, parse_decimal
from stocksbot.ledger.inputs import parse_symbol, parse_time
from stocksbot.ledger.orders import (
    ORDER_STATUSES,
    apply_fill,
    check_transition,
    validate_order_prices,
    validate_order_type,
    validate_time_in_force,
)
from stocksbot.settings import KNOWN_KEYS
from stocksbot.storage import tables, totals
from stocksbot.storage.booking import SymbolBooker, lock_ledger, lock_symbol
from stocksbot.storage.models import Order, Strategy, Trade
from stocksbot.storage.reader import latest_closes, position_record
from stocksbot.storage.records import LotRecord, OrderRecord, PositionDetail, TradeRecord
from stocksbot.storage.repositories import Repositories

Number = str | Decimal | int
MANUAL_ORDER_STATUSES = ("submitted", "cancelled", "rejected", "expired")
_CONFIG = tables.config
_STRATEGIES = tables.strategies


def _setting_value(key: str) -> Any:
    return select(_CONFIG.c.value).where(_CONFIG.c.key == key).scalar_subquery()


# What recording a trade needs to know first, in one round trip: the two ledger settings
# (NULL when unset) and the id of the strategy named (NULL when there is none).
_TRADE_CONTEXT = select(
    _setting_value("accounting.cost_basis").label("method"),
    _setting_value("trading.allow_short").label("allow_short"),
    select(_STRATEGIES.c.id).where(_STRATEGIES.c.name == bindparam("strategy")).scalar_subquery().label("strategy_id"),
)
_ORDERS = Order.__table__
# An order locked for the transaction, with its strategy's name (for the fill's record) and,
# like _TRADE_CONTEXT, the ledger settings: a fill reads all it needs in one round trip.
_ORDER_FOR_UPDATE = (
    select(_ORDERS, select(_STRATEGIES.c.name).where(_STRATEGIES.c.id == _ORDERS.c.strategy_id)
           .scalar_subquery().label("strategy_name"),
           _setting_value("accounting.cost_basis").label("method"),
           _setting_value("trading.allow_short").label("allow_short"))
    .where(_ORDERS.c.id == bindparam("order_id"))
    .with_for_update()
)
_RECORD_ORDER_FILL = update(_ORDERS).where(_ORDERS.c.id == bindparam("order_id")).values(
    filled_quantity=bindparam("filled"), avg_fill_price=bindparam("average"), status=bindparam("status"),
    updated_at=bindparam("now"),
)
_INSERT_TRADE = insert(Trade.__table__).returning(Trade.__table__.c.id)
_TRADE_BY_EXTERNAL_ID = select(Trade.__table__.c.id).where(Trade.__table__.c.external_id == bindparam("external_id"))


def _side(side: str) -> str:
    lowered = side.lower() if isinstance(side, str) else ""
    if lowered not in ("buy", "sell"):
        raise StocksbotError(f"side must be buy or sell, got {side!r}")
    return lowered


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not value.strip() or len(value) > limit:
        raise StocksbotError(f"{field} must be 1 to {limit} characters, got {value!r}")
    return value


def trade_record(trade: Trade, names: dict[int, str]) -> TradeRecord:
    return TradeRecord(
        id=trade.id, side=trade.side, symbol=trade.symbol, quantity=trade.quantity, price=trade.price,
        commission=trade.commission, fees=trade.fees, executed_at=trade.executed_at,
        realized_pnl=trade.realized_pnl, order_id=trade.order_id,
        strategy=names.get(trade.strategy_id) if trade.strategy_id else None,
        external_id=trade.external_id, note=trade.note,
    )


def order_record(order: Order, names: dict[int, str]) -> OrderRecord:
    return OrderRecord(
        id=order.id, side=order.side, symbol=order.symbol, type=order.order_type, quantity=order.quantity,
        limit_price=order.limit_price, stop_price=order.stop_price, tif=order.tif, status=order.status,
        filled_quantity=order.filled_quantity, avg_fill_price=order.avg_fill_price,
        strategy=names.get(order.strategy_id) if order.strategy_id else None,
        external_id=order.external_id, created_at=order.created_at, updated_at=order.updated_at,
    )


class TradingOperations:
    """Mixed into StorageService; relies on its `transaction()`, `reading()` and `setting()`."""

    transaction: Any
    ledger_transaction: Any
    reading: Any
    setting: Any

    # -- trades ---------------------------------------------------------------------------

    def record_trade(
        self,
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
    ) -> TradeRecord:
        """Record a fill and book it into its position (and its order, if any), in one transaction.

        `allow_short=None` follows the `trading.allow_short` setting.
        """
        values = _trade_values(side, symbol, quantity, price, commission, fees, executed_at, external_id, note)
        with self.ledger_transaction() as conn:
            order = _order_row(conn, order_id) if order_id is not None else None
            return self._record(conn, values, strategy=strategy, order=order, allow_short=allow_short)

    def _record(
        self, conn: Connection, values: dict[str, Any], *, strategy: str | None, order: Any, allow_short: bool | None
    ) -> TradeRecord:
        """Record a parsed trade (a fill of `order`, a locked order row, unless None)."""
        # An order row carries the settings too; a named strategy needs its lookup.
        context = order if order is not None and strategy is None else \
            conn.execute(_TRADE_CONTEXT, {"strategy": strategy}).mappings().one()
        method = context["method"] or KNOWN_KEYS["accounting.cost_basis"].default
        allow_short_setting = context["allow_short"] == "true"
        strategy_name = None
        if strategy is not None:
            if context["strategy_id"] is None:
                raise StocksbotError(f"unknown strategy {strategy!r} (see `stocksbot strategy list`)")
            values["strategy_id"], strategy_name = context["strategy_id"], strategy
        if order is not None:
            _fill_order(conn, order, values)
            if values["strategy_id"] is None and order["strategy_id"] is not None:
                values["strategy_id"], strategy_name = order["strategy_id"], order["strategy_name"]
        return _book(
            conn, values, method=method, strategy_name=strategy_name,
            allow_short=allow_short_setting if allow_short is None else allow_short,
        )

    def list_trades(
        self,
        *,
        symbol: str | None = None,
        strategy: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int | None = None,
    ) -> list[TradeRecord]:
        if limit is not None and limit < 1:
            raise StocksbotError(f"--limit must be 1 or more, got {limit}")
        symbol = parse_symbol(symbol) if symbol is not None else None
        since_at = parse_time(since, field="--since") if since is not None else None
        until_at = parse_time(until, field="--until") if until is not None else None
        with self.reading() as repos:
            strategy_id = self._strategy(repos, strategy).id if strategy is not None else None
            names = repos.strategies.names()
            trades = repos.trades.list(symbol=symbol, strategy_id=strategy_id, since=since_at, until=until_at, limit=limit)
            return [trade_record(t, names) for t in trades]

    # -- positions ------------------------------------------------------------------------

    def add_position(
        self,
        symbol: str,
        quantity: Number,
        price: Number,
        *,
        short: bool = False,
        commission: Number = "0",
        fees: Number = "0",
        executed_at: str | datetime | None = None,
        strategy: str | None = None,
    ) -> TradeRecord:
        """Record the opening trade of a manual position: a buy, or with `short` a sell.

        Adding the opposite side of an open position is refused (close it first), so this
        never closes anything by surprise.
        """
        symbol = parse_symbol(symbol)
        with self.transaction() as repos:
            lock_symbol(repos.session.connection(), symbol)
            current = repos.positions.open_for(symbol)
            wanted = "short" if short else "long"
            if current is not None and current.side != wanted:
                raise StocksbotError(
                    f"cannot add a {wanted} position in {symbol}: it is {current.side} "
                    f"{format_decimal(current.quantity)} (close it first)"
                )
            return self.record_trade(
                side="sell" if short else "buy", symbol=symbol, quantity=quantity, price=price,
                commission=commission, fees=fees, executed_at=executed_at, strategy=strategy, allow_short=True,
            )

    def close_position(
        self,
        symbol: str,
        price: Number,
        *,
        quantity: Number | None = None,
        commission: Number = "0",
        fees: Number = "0",
        executed_at: str | datetime | None = None,
    ) -> TradeRecord:
        """Record the trade that closes the open position (all of it, or `quantity`)."""
        symbol = parse_symbol(symbol)
        amount = parse_decimal(quantity, field="quantity", allow_zero=False) if quantity is not None else None
        with self.transaction() as repos:
            lock_symbol(repos.session.connection(), symbol)
            current = repos.positions.open_for(symbol)
            if current is None:
                raise StocksbotError(f"no open position in {symbol}")
            if amount is not None and amount > current.quantity:
                raise StocksbotError(
                    f"cannot close {format_decimal(amount)} {symbol}: the {current.side} position is "
                    f"{format_decimal(current.quantity)}"
                )
            strategy = repos.strategies.names().get(current.strategy_id) if current.strategy_id else None
            return self.record_trade(
                side="sell" if current.side == "long" else "buy", symbol=symbol,
                quantity=amount if amount is not None else current.quantity, price=price,
                commission=commission, fees=fees, executed_at=executed_at, strategy=strategy, allow_short=False,
            )

    def show_position(self, symbol: str) -> PositionDetail:
        """The open position of SYMBOL (else its last closed one) with its lots and trades."""
        symbol = parse_symbol(symbol)
        with self.reading() as repos:
            position = repos.positions.latest_for(symbol)
            if position is None:
                raise StocksbotError(f"no position in {symbol}")
            names = repos.strategies.names()
            price = latest_closes(repos.session.connection(), [symbol], datetime.now(timezone.utc)).get(symbol)
            lots = [
                LotRecord(trade_id=lot.trade_id, quantity=lot.quantity, cost=lot.amount,
                          unit_cost=_unit(lot.amount, lot.quantity), opened_at=lot.opened_at)
                for lot in repos.lots.for_position(position.id)
            ]
            trades = repos.trades.list(symbol=symbol, since=position.opened_at, until=position.closed_at)
            return PositionDetail(
                position=position_record(position, names, price),  # type: ignore[arg-type]
                lots=lots,
                trades=[trade_record(t, names) for t in trades],
            )

    def rebuild_positions(self) -> int:
        """Recompute every position and lot from the trades; returns the number of symbols."""
        with self.transaction() as repos:
            lock_ledger(repos.session.connection())
            return self._rebuild_all(repos)

    def check(self) -> list[str]:
        """Integrity and ledger consistency findings; an empty list means all is well.

        Runs a rebuild inside a transaction that is always rolled back, so nothing changes.
        """
        from stocksbot.storage import checks

        with self.transaction() as repos:
            findings = checks.integrity_findings(repos) + checks.order_findings(repos)
            lock_ledger(repos.session.connection())
            savepoint = repos.session.begin_nested()
            before = checks.ledger_snapshot(repos)
            self._rebuild_all(repos)
            findings += checks.ledger_findings(before, checks.ledger_snapshot(repos))
            savepoint.rollback()
            return findings

    def _rebuild_all(self, repos: Repositories) -> int:
        method = str(self.setting("accounting.cost_basis"))
        symbols = repos.trades.symbols()
        conn = repos.session.connection()
        conn.execute(delete(tables.lots))
        conn.execute(delete(tables.positions))
        for symbol in symbols:
            SymbolBooker(conn, symbol, method).rebuild(cleared=True)
        totals.recompute(conn)
        repos.session.expire_all()  # loaded trades may hold realized P&L that the rebuild replaced
        return len(symbols)

    # -- orders ---------------------------------------------------------------------------

    def add_order(
        self,
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
    ) -> OrderRecord:
        limit = parse_decimal(limit_price, field="limit price", allow_zero=False) if limit_price is not None else None
        stop = parse_decimal(stop_price, field="stop price", allow_zero=False) if stop_price is not None else None
        validate_order_type(order_type)
        validate_time_in_force(tif)
        validate_order_prices(order_type, limit, stop)
        order = Order(
            side=_side(side), symbol=parse_symbol(symbol),
            quantity=parse_decimal(quantity, field="quantity", allow_zero=False),
            order_type=order_type, limit_price=limit, stop_price=stop, tif=tif, status="pending",
            filled_quantity=Decimal(0), external_id=_text(external_id, "external id", 100),
        )
        with self.transaction() as repos:
            if strategy is not None:
                order.strategy_id = self._strategy(repos, strategy).id
            if order.external_id is not None and repos.orders.by_external_id(order.external_id) is not None:
                raise StocksbotError(f"an order with external id {order.external_id!r} already exists")
            repos.orders.add(order)
            return order_record(order, repos.strategies.names())

    def list_orders(self, *, status: str | None = None, symbol: str | None = None) -> list[OrderRecord]:
        if status is not None and status not in ORDER_STATUSES:
            raise StocksbotError(f"unknown order status {status!r}: use one of {', '.join(ORDER_STATUSES)}")
        with self.reading() as repos:
            names = repos.strategies.names()
            orders = repos.orders.list(status=status, symbol=parse_symbol(symbol) if symbol else None)
            return [order_record(o, names) for o in orders]

    def get_order(self, order_id: int) -> OrderRecord:
        with self.reading() as repos:
            return order_record(self._order(repos, order_id), repos.strategies.names())

    def change_order_status(self, order_id: int, status: str) -> OrderRecord:
        """Move an order along the state machine (submit, cancel, reject, expire).

        Filled and partially filled are reached only through fills, never set by hand.
        """
        if status not in MANUAL_ORDER_STATUSES:
            raise StocksbotError(
                f"an order can be set to {', '.join(MANUAL_ORDER_STATUSES)} by hand, not {status!r}; fills move it further"
            )
        with self.transaction() as repos:
            order = self._order(repos, order_id, for_update=True)
            check_transition(order.status, status)
            order.status = status
            repos.session.flush()
            return order_record(order, repos.strategies.names())

    def fill_order(
        self,
        order_id: int,
        quantity: Number,
        price: Number,
        *,
        commission: Number = "0",
        fees: Number = "0",
        executed_at: str | datetime | None = None,
    ) -> TradeRecord:
        """Record a fill of an order: a trade linked to it, and the order's progress, in one transaction."""
        with self.ledger_transaction() as conn:
            order = _order_row(conn, order_id)
            values = _trade_values(order["side"], order["symbol"], quantity, price, commission, fees, executed_at)
            return self._record(conn, values, strategy=None, order=order, allow_short=None)

    # -- lookups --------------------------------------------------------------------------

    @staticmethod
    def _order(repos: Repositories, order_id: int, *, for_update: bool = False) -> Order:
        order = repos.orders.get(order_id, for_update=for_update) if order_id > 0 else None
        if order is None:
            raise StocksbotError(f"no order with id {order_id}")
        return order

    @staticmethod
    def _strategy(repos: Repositories, name: str) -> Strategy:
        strategy = repos.strategies.get_by_name(name)
        if strategy is None:
            raise StocksbotError(f"unknown strategy {name!r} (see `stocksbot strategy list`)")
        return strategy


def _unit(amount: Decimal, quantity: Decimal) -> Decimal:
    return divide(amount, quantity)


def _trade_values(
    side: str, symbol: str, quantity: Number, price: Number, commission: Number, fees: Number,
    executed_at: str | datetime | None, external_id: str | None = None, note: str | None = None,
) -> dict[str, Any]:
    """A trade's columns, parsed and checked before any transaction starts (bad input writes nothing)."""
    return {
        "side": _side(side),
        "symbol": parse_symbol(symbol),
        "quantity": parse_decimal(quantity, field="quantity", allow_zero=False),
        "price": parse_decimal(price, field="price"),
        "commission": parse_decimal(commission, field="commission"),
        "fees": parse_decimal(fees, field="fees"),
        "executed_at": parse_time(executed_at, field="--at") if executed_at is not None else datetime.now(timezone.utc),
        "external_id": _text(external_id, "external id", 100),
        "note": note,
        "order_id": None,
        "strategy_id": None,
    }


def _book(
    conn: Connection, values: dict[str, Any], *, method: str, strategy_name: str | None, allow_short: bool
) -> TradeRecord:
    """Insert the trade and book it into its position; the record as stored."""
    external_id = values["external_id"]
    duplicate = StocksbotError(f"a trade with external id {external_id!r} already exists")
    if external_id is not None and conn.execute(_TRADE_BY_EXTERNAL_ID, {"external_id": external_id}).first():
        raise duplicate
    lock_symbol(conn, values["symbol"])
    try:
        trade_id = conn.execute(_INSERT_TRADE, values).scalar_one()
    except IntegrityError:  # a concurrent writer stored the same external id first
        raise duplicate from None
    fill = Fill(values["side"], values["quantity"], values["price"], values["commission"], values["fees"],
                values["executed_at"], trade_id)
    realized = SymbolBooker(conn, values["symbol"], method).book_new_trade(
        trade_id, fill, values["strategy_id"], allow_short=allow_short
    )
    return TradeRecord(
        id=trade_id, side=values["side"], symbol=values["symbol"], quantity=canonical(values["quantity"]),
        price=canonical(values["price"]), commission=canonical(values["commission"]),
        fees=canonical(values["fees"]), executed_at=values["executed_at"], realized_pnl=realized,
        order_id=values["order_id"], strategy=strategy_name, external_id=external_id, note=values["note"],
    )


def _fill_order(conn: Connection, order: Any, trade: dict[str, Any]) -> None:
    """Apply a fill to its order (a locked row: state machine, overfill check) and link the trade to it.

    Core statements: order fills sit on a bot's hot path too.
    """
    order_id = order["id"]
    if (order["side"], order["symbol"]) != (trade["side"], trade["symbol"]):
        raise StocksbotError(
            f"trade {trade['side']} {trade['symbol']} does not match order {order_id} "
            f"({order['side']} {order['symbol']})"
        )
    result = apply_fill(order["quantity"], order["filled_quantity"], order["avg_fill_price"], order["status"],
                        trade["quantity"], trade["price"])
    conn.execute(_RECORD_ORDER_FILL, {
        "order_id": order_id, "filled": result.filled_quantity, "average": result.avg_fill_price,
        "status": result.status, "now": datetime.now(timezone.utc),
    })
    trade["order_id"] = order_id


def _order_row(conn: Connection, order_id: int) -> Any:
    """An order's row, locked for the transaction (FOR UPDATE on PostgreSQL)."""
    order = conn.execute(_ORDER_FOR_UPDATE, {"order_id": order_id}).mappings().first()
    if order is None:
        raise StocksbotError(f"no order with id {order_id}")
    return order
