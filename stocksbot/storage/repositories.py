"""One repository per table: queries and writes on a Session that the caller owns.

Repositories never commit or roll back; the unit of work (`StorageService.transaction`)
decides when a change becomes durable.
"""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from stocksbot.storage.models import ConfigEntry, Lot, Order, Position, PriceBar, Strategy, Trade


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

    def list(self) -> Sequence[Strategy]:
        return self.session.scalars(select(Strategy).order_by(Strategy.name)).all()

    def add(self, strategy: Strategy) -> Strategy:
        self.session.add(strategy)
        self.session.flush()
        return strategy


class OrderRepository(Repository):
    def get(self, order_id: int) -> Order | None:
        return self.session.get(Order, order_id)

    def add(self, order: Order) -> Order:
        self.session.add(order)
        self.session.flush()
        return order


class TradeRepository(Repository):
    def add(self, trade: Trade) -> Trade:
        self.session.add(trade)
        self.session.flush()
        return trade

    def for_symbol(self, symbol: str) -> Sequence[Trade]:
        """A symbol's trades in booking order: time, then entry order for ties."""
        query = select(Trade).where(Trade.symbol == symbol).order_by(Trade.executed_at, Trade.id)
        return self.session.scalars(query).all()


class PositionRepository(Repository):
    def open_for(self, symbol: str) -> Position | None:
        query = select(Position).where(Position.symbol == symbol, Position.status == "open")
        return self.session.scalar(query)

    def add(self, position: Position) -> Position:
        self.session.add(position)
        self.session.flush()
        return position


class LotRepository(Repository):
    def for_position(self, position_id: int) -> Sequence[Lot]:
        return self.session.scalars(select(Lot).where(Lot.position_id == position_id).order_by(Lot.seq)).all()


class PriceRepository(Repository):
    def add(self, bar: PriceBar) -> PriceBar:
        self.session.add(bar)
        self.session.flush()
        return bar


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
