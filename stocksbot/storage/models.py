"""ORM classes mapped onto the Core tables of `tables.py`, for the operations that use a Session.

The schema itself (columns, constraints, indexes) lives in `tables.py`; these classes only
give rows attribute access and unit-of-work tracking. Attribute names equal column names
except `Order.order_type` ("type"), `PriceBar.ts` ("timestamp") and `ConfigEntry.value_type`
("type").
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped, column_property

from stocksbot.storage import tables
from stocksbot.storage.tables import (  # noqa: F401  (re-exported for older imports)
    CONFIG_TYPES,
    NAMING_CONVENTION,
    ORDER_STATUSES,
    ORDER_TIFS,
    ORDER_TYPES,
    POSITION_SIDES,
    POSITION_STATUSES,
    SIDES,
    utcnow,
)


class Base(DeclarativeBase):
    metadata = tables.metadata


class Strategy(Base):
    __table__ = tables.strategies

    id: Mapped[int]
    name: Mapped[str]
    description: Mapped[str | None]
    params: Mapped[dict[str, Any]]
    enabled: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Order(Base):
    __table__ = tables.orders

    id: Mapped[int]
    external_id: Mapped[str | None]
    side: Mapped[str]
    symbol: Mapped[str]
    order_type: Mapped[str] = column_property(tables.orders.c.type)
    quantity: Mapped[Decimal]
    limit_price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    tif: Mapped[str]
    status: Mapped[str]
    filled_quantity: Mapped[Decimal]
    avg_fill_price: Mapped[Decimal | None]
    strategy_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Trade(Base):
    __table__ = tables.trades

    id: Mapped[int]
    external_id: Mapped[str | None]
    side: Mapped[str]
    symbol: Mapped[str]
    quantity: Mapped[Decimal]
    price: Mapped[Decimal]
    commission: Mapped[Decimal]
    fees: Mapped[Decimal]
    executed_at: Mapped[datetime]
    realized_pnl: Mapped[Decimal | None]
    order_id: Mapped[int | None]
    strategy_id: Mapped[int | None]
    note: Mapped[str | None]
    created_at: Mapped[datetime]


class Position(Base):
    """One run on a symbol, flat to flat; a projection of the trades, rebuildable."""

    __table__ = tables.positions

    id: Mapped[int]
    symbol: Mapped[str]
    side: Mapped[str]
    quantity: Mapped[Decimal]
    open_cost: Mapped[Decimal]
    avg_entry_price: Mapped[Decimal | None]
    realized_pnl: Mapped[Decimal]
    costs: Mapped[Decimal]
    status: Mapped[str]
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    strategy_id: Mapped[int | None]


class Lot(Base):
    """An open lot of a position: what remains of one opening trade (or the pooled average lot)."""

    __table__ = tables.lots

    id: Mapped[int]
    position_id: Mapped[int]
    trade_id: Mapped[int | None]
    seq: Mapped[int]
    quantity: Mapped[Decimal]
    amount: Mapped[Decimal]
    opened_at: Mapped[datetime]


class PriceBar(Base):
    __table__ = tables.price_bars

    id: Mapped[int]
    symbol: Mapped[str]
    interval: Mapped[str]
    ts: Mapped[datetime] = column_property(tables.price_bars.c.timestamp)
    open: Mapped[Decimal]
    high: Mapped[Decimal]
    low: Mapped[Decimal]
    close: Mapped[Decimal]
    volume: Mapped[Decimal | None]


class ConfigEntry(Base):
    __table__ = tables.config

    key: Mapped[str]
    value: Mapped[str]
    value_type: Mapped[str] = column_property(tables.config.c.type)
    description: Mapped[str | None]
    updated_at: Mapped[datetime]
