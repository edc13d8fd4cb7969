"""One repository per table: the queries and writes of the services, on the unit of work's connection.

Repositories never begin, commit or roll back: the unit of work (`unit_of_work.py`) owns
the connection and decides when a change becomes durable. They speak SQLAlchemy Core over
the tables of `tables.py` (the schema, declared once) and return Core rows, which the
services turn into the records of `storage/records/`. Trades, positions and lots are written only
by the booking store (`booking.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from stocksbot.errors import StocksbotError
from stocksbot.storage import tables
from stocksbot.vocabulary import DEFAULT_ACCOUNT

CONFIG = tables.config
STRATEGIES = tables.strategies
ORDERS = tables.orders
TRADES = tables.trades
POSITIONS = tables.positions
LOTS = tables.lots
BARS = tables.price_bars
ACCOUNTS = tables.accounts
SPLITS = tables.splits


class Repository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn


class ConfigRepository(Repository):
    def get(self, key: str) -> Row[Any] | None:
        return self.conn.execute(select(CONFIG).where(CONFIG.c.key == key)).first()

    def text(self, key: str) -> str | None:
        """A setting's stored text; None when it is unset."""
        return self.conn.execute(select(CONFIG.c.value).where(CONFIG.c.key == key)).scalar()

    def list(self) -> Sequence[Row[Any]]:
        return self.conn.execute(select(CONFIG).order_by(CONFIG.c.key)).all()

    def upsert(self, key: str, value: str, value_type: str, description: str | None) -> None:
        """Store a setting; a None description keeps the stored one."""
        values: dict[str, Any] = {"value": value, "type": value_type}
        if description is not None:
            values["description"] = description
        if self.get(key) is None:
            self.conn.execute(insert(CONFIG).values(key=key, **values))
        else:
            self.conn.execute(update(CONFIG).where(CONFIG.c.key == key).values(**values))

    def delete(self, key: str) -> bool:
        return self.conn.execute(delete(CONFIG).where(CONFIG.c.key == key)).rowcount > 0


class AccountRepository(Repository):
    def by_name(self, name: str) -> Row[Any] | None:
        return self.conn.execute(select(ACCOUNTS).where(ACCOUNTS.c.name == name)).first()

    def require(self, name: str) -> Row[Any]:
        """The row of an account that must exist."""
        row = self.by_name(name)
        if row is None:
            raise StocksbotError(f"unknown account {name!r} (see `stocksbot account list`)")
        return row

    def default(self) -> Row[Any]:
        """The account commands write to without --account: `accounts.default`, else main."""
        name = self.conn.execute(select(CONFIG.c.value).where(CONFIG.c.key == "accounts.default")).scalar()
        return self.require(name if name is not None else DEFAULT_ACCOUNT)

    def chosen(self, name: str | None) -> Row[Any]:
        """The account named, else the default one."""
        return self.require(name) if name is not None else self.default()

    def names(self) -> dict[int, str]:
        return {row.id: row.name for row in self.conn.execute(select(ACCOUNTS.c.id, ACCOUNTS.c.name))}

    def list(self) -> Sequence[Row[Any]]:
        return self.conn.execute(select(ACCOUNTS).order_by(ACCOUNTS.c.id)).all()

    def add(self, **values: Any) -> int:
        return int(self.conn.execute(insert(ACCOUNTS).values(**values).returning(ACCOUNTS.c.id)).scalar_one())

    def update(self, account_id: int, **values: Any) -> None:
        self.conn.execute(update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(**values))


class StrategyRepository(Repository):
    def by_name(self, name: str) -> Row[Any] | None:
        return self.conn.execute(select(STRATEGIES).where(STRATEGIES.c.name == name)).first()

    def require_id(self, name: str) -> int:
        """The id of a strategy that must exist."""
        strategy_id = self.conn.execute(select(STRATEGIES.c.id).where(STRATEGIES.c.name == name)).scalar()
        if strategy_id is None:
            raise StocksbotError(f"unknown strategy {name!r} (see `stocksbot strategy list`)")
        return int(strategy_id)

    def names(self) -> dict[int, str]:
        return {row.id: row.name for row in self.conn.execute(select(STRATEGIES.c.id, STRATEGIES.c.name))}

    def list(self) -> Sequence[Row[Any]]:
        return self.conn.execute(select(STRATEGIES).order_by(STRATEGIES.c.name)).all()

    def add(self, name: str, *, description: str | None = None, params: dict[str, Any] | None = None) -> int:
        """A new enabled strategy; its id."""
        statement = insert(STRATEGIES).values(name=name, description=description, params=params or {}, enabled=True)
        return int(self.conn.execute(statement.returning(STRATEGIES.c.id)).scalar_one())

    def update(self, strategy_id: int, **values: Any) -> None:
        self.conn.execute(update(STRATEGIES).where(STRATEGIES.c.id == strategy_id).values(**values))

    def delete(self, strategy_id: int) -> None:
        self.conn.execute(delete(STRATEGIES).where(STRATEGIES.c.id == strategy_id))

    def usage(self, strategy_id: int) -> dict[str, int]:
        """How many trades, orders and positions refer to the strategy."""
        return {
            name: int(self.conn.execute(select(func.count()).where(table.c.strategy_id == strategy_id)).scalar_one())
            for name, table in (("trades", TRADES), ("orders", ORDERS), ("positions", POSITIONS))
        }

    def open_position_counts(self, account_id: int | None = None) -> dict[int, int]:
        query = (
            select(POSITIONS.c.strategy_id, func.count())
            .where(POSITIONS.c.status == "open", POSITIONS.c.strategy_id.is_not(None))
            .group_by(POSITIONS.c.strategy_id)
        )
        if account_id is not None:
            query = query.where(POSITIONS.c.account_id == account_id)
        return {row[0]: row[1] for row in self.conn.execute(query)}


class OrderRepository(Repository):
    def get(self, order_id: int, *, for_update: bool = False) -> Row[Any] | None:
        query = select(ORDERS).where(ORDERS.c.id == order_id)
        return self.conn.execute(query.with_for_update() if for_update else query).first()

    def list(
        self, *, status: str | None = None, symbol: str | None = None, account_id: int | None = None
    ) -> Sequence[Row[Any]]:
        query = select(ORDERS).order_by(ORDERS.c.id)
        if account_id is not None:
            query = query.where(ORDERS.c.account_id == account_id)
        if status is not None:
            query = query.where(ORDERS.c.status == status)
        if symbol is not None:
            query = query.where(ORDERS.c.symbol == symbol)
        return self.conn.execute(query).all()

    def by_external_id(self, external_id: str) -> Row[Any] | None:
        return self.conn.execute(select(ORDERS).where(ORDERS.c.external_id == external_id)).first()

    def add(self, **values: Any) -> int:
        return int(self.conn.execute(insert(ORDERS).values(**values).returning(ORDERS.c.id)).scalar_one())

    def set_status(self, order_id: int, status: str) -> None:
        self.conn.execute(update(ORDERS).where(ORDERS.c.id == order_id).values(status=status))


class TradeRepository(Repository):
    """Reads of trades; trades are written by the booking store (`booking.py`)."""

    def list(
        self,
        *,
        symbol: str | None = None,
        strategy_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        account_id: int | None = None,
        include_voided: bool = False,
    ) -> Sequence[Row[Any]]:
        """Live trades in booking order (voided ones too with `include_voided`); with `limit`, the
        most recent ones (still oldest first)."""
        query = select(TRADES) if include_voided else select(TRADES).where(tables.LIVE_TRADE)
        if account_id is not None:
            query = query.where(TRADES.c.account_id == account_id)
        if symbol is not None:
            query = query.where(TRADES.c.symbol == symbol)
        if strategy_id is not None:
            query = query.where(TRADES.c.strategy_id == strategy_id)
        if since is not None:
            query = query.where(TRADES.c.executed_at >= since)
        if until is not None:
            query = query.where(TRADES.c.executed_at <= until)
        if limit is not None:
            newest = query.order_by(TRADES.c.executed_at.desc(), TRADES.c.id.desc()).limit(limit)
            return list(reversed(self.conn.execute(newest).all()))
        return self.conn.execute(query.order_by(TRADES.c.executed_at, TRADES.c.id)).all()


class PositionRepository(Repository):
    def open_for(self, account_id: int, symbol: str) -> Row[Any] | None:
        return self.conn.execute(
            select(POSITIONS).where(POSITIONS.c.account_id == account_id, tables.OPEN_POSITION_SYMBOL == symbol)
        ).first()

    def latest_for(self, symbol: str, account_id: int | None = None) -> Sequence[Row[Any]]:
        """Per account (or in the one named): the symbol's open position, else its most recently closed one."""
        query = (
            select(POSITIONS)
            .where(POSITIONS.c.symbol == symbol)
            .order_by(POSITIONS.c.account_id, (POSITIONS.c.status == "open").desc(), POSITIONS.c.opened_at.desc(),
                      POSITIONS.c.id.desc())
        )
        if account_id is not None:
            query = query.where(POSITIONS.c.account_id == account_id)
        latest: dict[int, Row[Any]] = {}
        for row in self.conn.execute(query):
            latest.setdefault(row.account_id, row)
        return list(latest.values())

    def list(
        self, *, status: str | None = "open", strategy_id: int | None = None, account_id: int | None = None
    ) -> Sequence[Row[Any]]:
        query = select(POSITIONS).order_by(POSITIONS.c.symbol, POSITIONS.c.account_id, POSITIONS.c.opened_at,
                                           POSITIONS.c.id)
        if account_id is not None:
            query = query.where(POSITIONS.c.account_id == account_id)
        if status is not None:
            query = query.where(POSITIONS.c.status == status)
        if strategy_id is not None:
            query = query.where(POSITIONS.c.strategy_id == strategy_id)
        return self.conn.execute(query).all()

    def lots(self, position_id: int) -> Sequence[Row[Any]]:
        return self.conn.execute(select(LOTS).where(LOTS.c.position_id == position_id).order_by(LOTS.c.seq)).all()


class PriceRepository(Repository):
    def get(self, symbol: str, interval: str, at: datetime) -> Row[Any] | None:
        query = select(BARS).where(BARS.c.symbol == symbol, BARS.c.interval == interval, BARS.c.timestamp == at)
        return self.conn.execute(query).first()

    def symbols(self) -> list[str]:
        return list(self.conn.execute(select(BARS.c.symbol).distinct().order_by(BARS.c.symbol)).scalars())

    def latest_bar(self, symbol: str, at: datetime) -> Row[Any] | None:
        """The symbol's most recent bar at or before `at`, of any interval (an index range scan)."""
        query = (
            select(BARS)
            .where(BARS.c.symbol == symbol, BARS.c.timestamp <= at)
            .order_by(BARS.c.timestamp.desc(), BARS.c.interval)
            .limit(1)
        )
        return self.conn.execute(query).first()

    def history(
        self, symbol: str, since: datetime | None, until: datetime | None, interval: str | None
    ) -> Sequence[Row[Any]]:
        query = select(BARS).where(BARS.c.symbol == symbol).order_by(BARS.c.timestamp, BARS.c.interval)
        if since is not None:
            query = query.where(BARS.c.timestamp >= since)
        if until is not None:
            query = query.where(BARS.c.timestamp <= until)
        if interval is not None:
            query = query.where(BARS.c.interval == interval)
        return self.conn.execute(query).all()


class Repositories:
    """Every repository over one connection, as a service hands them out."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.config = ConfigRepository(conn)
        self.accounts = AccountRepository(conn)
        self.strategies = StrategyRepository(conn)
        self.orders = OrderRepository(conn)
        self.trades = TradeRepository(conn)
        self.positions = PositionRepository(conn)
        self.prices = PriceRepository(conn)
