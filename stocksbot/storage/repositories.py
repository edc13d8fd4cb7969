"""One repository per table: queries and writes on a Session that the caller owns.

Repositories never commit or roll back; the unit of work (`StorageService.transaction`)
decides when a change becomes durable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import Numeric, case, cast, delete, func, select
from sqlalchemy.orm import Session

from stocksbot.storage.models import (
    ConfigEntry,
    Lot,
    Order,
    Position,
    PriceBar,
    Strategy,
    Trade,
)


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session


class ConfigRepository(Repository):
    def get(self, key: str) -> ConfigEntry | None:
        return self.session.get(ConfigEntry, key)

    def list(self) -> Sequence[ConfigEntry]:
        return self.session.scalars(select(ConfigEntry).order_by(ConfigEntry.key)).all()

    def upsert(self, key: str, value: str, value_type: str, description: str | None) -> ConfigEntry:
        entry = self.get(key)
        if entry is None:
            entry = ConfigEntry(key=key, value=value, value_type=value_type, description=description)
            self.session.add(entry)
        else:
            entry.value = value
            entry.value_type = value_type
            if description is not None:
                entry.description = description
        self.session.flush()
        return entry

    def delete(self, key: str) -> bool:
        return self.session.execute(delete(ConfigEntry).where(ConfigEntry.key == key)).rowcount > 0


class StrategyRepository(Repository):
    def get_by_name(self, name: str) -> Strategy | None:
        return self.session.scalar(select(Strategy).where(Strategy.name == name))

    def names(self) -> dict[int, str]:
        return {row[0]: row[1] for row in self.session.execute(select(Strategy.id, Strategy.name))}

    def delete(self, strategy: Strategy) -> None:
        self.session.delete(strategy)
        self.session.flush()

    def usage(self, strategy_id: int) -> dict[str, int]:
        """How many trades, orders and positions refer to the strategy."""
        return {
            name: self.session.scalar(select(func.count()).where(model.strategy_id == strategy_id)) or 0
            for name, model in (("trades", Trade), ("orders", Order), ("positions", Position))
        }

    def metrics(self) -> dict[int, tuple[int, int, int, object, object, object]]:
        """Per strategy id: trades, closing trades, winning trades, realized, commissions, fees.

        Computed in SQL with exact sums; the win test compares the sign only, which a cast
        to NUMERIC keeps on both backends.
        """
        from stocksbot.storage.types import exact_sum

        won = case((cast(Trade.realized_pnl, Numeric()) > 0, 1), else_=0)
        query = (
            select(
                Trade.strategy_id,
                func.count(),
                func.count(Trade.realized_pnl),
                func.coalesce(func.sum(won), 0),
                exact_sum(Trade.realized_pnl),
                exact_sum(Trade.commission),
                exact_sum(Trade.fees),
            )
            .where(Trade.strategy_id.is_not(None))
            .group_by(Trade.strategy_id)
        )
        return {row[0]: tuple(row[1:]) for row in self.session.execute(query).all()}  # type: ignore[misc]

    def open_position_counts(self) -> dict[int, int]:
        query = (
            select(Position.strategy_id, func.count())
            .where(Position.status == "open", Position.strategy_id.is_not(None))
            .group_by(Position.strategy_id)
        )
        return {row[0]: row[1] for row in self.session.execute(query)}

    def list(self) -> Sequence[Strategy]:
        return self.session.scalars(select(Strategy).order_by(Strategy.name)).all()

    def add(self, strategy: Strategy) -> Strategy:
        self.session.add(strategy)
        self.session.flush()
        return strategy


class OrderRepository(Repository):
    def get(self, order_id: int, *, for_update: bool = False) -> Order | None:
        return self.session.get(Order, order_id, with_for_update=for_update or None)

    def list(self, *, status: str | None = None, symbol: str | None = None) -> Sequence[Order]:
        query = select(Order).order_by(Order.id)
        if status is not None:
            query = query.where(Order.status == status)
        if symbol is not None:
            query = query.where(Order.symbol == symbol)
        return self.session.scalars(query).all()

    def by_external_id(self, external_id: str) -> Order | None:
        return self.session.scalar(select(Order).where(Order.external_id == external_id))

    def add(self, order: Order) -> Order:
        self.session.add(order)
        self.session.flush()
        return order


class TradeRepository(Repository):
    """Reads of trades; trades are written by the booking code (storage/booking.py, imports.py)
    through prebuilt Core statements."""

    def symbols(self) -> list[str]:
        return list(self.session.scalars(select(Trade.symbol).distinct().order_by(Trade.symbol)))

    def list(
        self,
        *,
        symbol: str | None = None,
        strategy_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Sequence[Trade]:
        """Trades in booking order; with `limit`, the most recent ones (still oldest first)."""
        query = select(Trade)
        if symbol is not None:
            query = query.where(Trade.symbol == symbol)
        if strategy_id is not None:
            query = query.where(Trade.strategy_id == strategy_id)
        if since is not None:
            query = query.where(Trade.executed_at >= since)
        if until is not None:
            query = query.where(Trade.executed_at <= until)
        if limit is not None:
            newest = query.order_by(Trade.executed_at.desc(), Trade.id.desc()).limit(limit)
            return list(reversed(self.session.scalars(newest).all()))
        return self.session.scalars(query.order_by(Trade.executed_at, Trade.id)).all()


class PositionRepository(Repository):
    def open_for(self, symbol: str) -> Position | None:
        query = select(Position).where(Position.symbol == symbol, Position.status == "open")
        return self.session.scalar(query)

    def list(self, *, status: str | None = "open", strategy_id: int | None = None) -> Sequence[Position]:
        query = select(Position).order_by(Position.symbol, Position.opened_at, Position.id)
        if status is not None:
            query = query.where(Position.status == status)
        if strategy_id is not None:
            query = query.where(Position.strategy_id == strategy_id)
        return self.session.scalars(query).all()

    def latest_for(self, symbol: str) -> Position | None:
        """The open position of a symbol, else its most recently closed one."""
        query = (
            select(Position)
            .where(Position.symbol == symbol)
            .order_by((Position.status == "open").desc(), Position.opened_at.desc(), Position.id.desc())
            .limit(1)
        )
        return self.session.scalar(query)



class LotRepository(Repository):
    def for_position(self, position_id: int) -> Sequence[Lot]:
        return self.session.scalars(select(Lot).where(Lot.position_id == position_id).order_by(Lot.seq)).all()


class PriceRepository(Repository):
    def add(self, bar: PriceBar) -> PriceBar:
        self.session.add(bar)
        self.session.flush()
        return bar

    def latest_bar(self, symbol: str, at: datetime) -> PriceBar | None:
        """The symbol's most recent bar at or before `at`, of any interval (an index range scan)."""
        query = (
            select(PriceBar)
            .where(PriceBar.symbol == symbol, PriceBar.ts <= at)
            .order_by(PriceBar.ts.desc(), PriceBar.interval)
            .limit(1)
        )
        return self.session.scalar(query)

    def history(
        self, symbol: str, since: datetime | None, until: datetime | None, interval: str | None
    ) -> Sequence[PriceBar]:
        query = select(PriceBar).where(PriceBar.symbol == symbol).order_by(PriceBar.ts, PriceBar.interval)
        if since is not None:
            query = query.where(PriceBar.ts >= since)
        if until is not None:
            query = query.where(PriceBar.ts <= until)
        if interval is not None:
            query = query.where(PriceBar.interval == interval)
        return self.session.scalars(query).all()


class Repositories:
    """All repositories over one session, as the unit of work hands them out."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.config = ConfigRepository(session)
        self.strategies = StrategyRepository(session)
        self.orders = OrderRepository(session)
        self.trades = TradeRepository(session)
        self.positions = PositionRepository(session)
        self.lots = LotRepository(session)
        self.prices = PriceRepository(session)
