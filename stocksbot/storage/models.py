"""The tables, as SQLAlchemy 2.0 declarative models.

Constraints live in the database, not only in code, so a bug or a hand-edited row cannot
store a negative quantity or a second open position for one symbol. Every constraint has a
name (from the naming convention) so that migrations can alter it on SQLite too.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from stocksbot.storage.types import ExactDecimal, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SIDES = ("buy", "sell")
POSITION_SIDES = ("long", "short")
POSITION_STATUSES = ("open", "closed")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
ORDER_TIFS = ("day", "gtc", "ioc", "fok")
ORDER_STATUSES = ("pending", "submitted", "partially_filled", "filled", "cancelled", "rejected", "expired")
CONFIG_TYPES = ("string", "int", "float", "bool", "json")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _positive(column: str) -> str:
    # CAST(... AS NUMERIC) compares numbers on both backends; on SQLite the column holds text.
    return f"CAST({column} AS NUMERIC) > 0"


def _not_negative(column: str) -> str:
    return f"CAST({column} AS NUMERIC) >= 0"


def _null_or(condition: str, column: str) -> str:
    return f"{column} IS NULL OR {condition}"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Strategy(Base):
    __tablename__ = "strategies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("length(name) > 0", name="name_not_empty"),)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    side: Mapped[str] = mapped_column(String(4))
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    order_type: Mapped[str] = mapped_column("type", String(10), default="market")
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    limit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    stop_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    tif: Mapped[str] = mapped_column(String(3), default="day")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    filled_quantity: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    avg_fill_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    strategy_id: Mapped[int | None] = mapped_column(ForeignKey("strategies.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(_one_of("side", SIDES), name="side"),
        CheckConstraint(_one_of("type", ORDER_TYPES), name="type"),
        CheckConstraint(_one_of("tif", ORDER_TIFS), name="tif"),
        CheckConstraint(_one_of("status", ORDER_STATUSES), name="status"),
        CheckConstraint(_positive("quantity"), name="quantity_positive"),
        CheckConstraint(_not_negative("filled_quantity"), name="filled_not_negative"),
        CheckConstraint(_null_or(_positive("limit_price"), "limit_price"), name="limit_price_positive"),
        CheckConstraint(_null_or(_positive("stop_price"), "stop_price"), name="stop_price_positive"),
        CheckConstraint("type NOT IN ('limit', 'stop_limit') OR limit_price IS NOT NULL", name="limit_price_required"),
        CheckConstraint("type NOT IN ('stop', 'stop_limit') OR stop_price IS NOT NULL", name="stop_price_required"),
    )


class Trade(Base):
    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    side: Mapped[str] = mapped_column(String(4))
    symbol: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)
    commission: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    realized_pnl: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    strategy_id: Mapped[int | None] = mapped_column(ForeignKey("strategies.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(_one_of("side", SIDES), name="side"),
        CheckConstraint(_positive("quantity"), name="quantity_positive"),
        CheckConstraint(_not_negative("price"), name="price_not_negative"),
        CheckConstraint(_not_negative("commission"), name="commission_not_negative"),
        CheckConstraint(_not_negative("fees"), name="fees_not_negative"),
        # Booking replays a symbol's trades in time order; ties keep entry order.
        Index("ix_trades_symbol_executed_at", "symbol", "executed_at", "id"),
    )


class Position(Base):
    """One open run on a symbol, flat to flat; a projection of the trades, rebuildable."""

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(5))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    open_cost: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    avg_entry_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0))
    # Commissions and fees booked into this run (its opening trades, and its share of the
    # trades that closed it): lets the summary total costs without reading every trade.
    costs: Mapped[Decimal] = mapped_column(ExactDecimal, default=Decimal(0), server_default="0")
    status: Mapped[str] = mapped_column(String(6), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    strategy_id: Mapped[int | None] = mapped_column(ForeignKey("strategies.id"), index=True)

    __table_args__ = (
        CheckConstraint(_one_of("side", POSITION_SIDES), name="side"),
        CheckConstraint(_one_of("status", POSITION_STATUSES), name="status"),
        CheckConstraint(_not_negative("quantity"), name="quantity_not_negative"),
        CheckConstraint(_not_negative("costs"), name="costs_not_negative"),
        CheckConstraint(
            "(status = 'open' AND closed_at IS NULL) OR (status = 'closed' AND closed_at IS NOT NULL)",
            name="closed_at_matches_status",
        ),
        # At most one open run per symbol: the ledger's central invariant, enforced by the database.
        Index(
            "uq_positions_open_symbol",
            "symbol",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_positions_status_symbol", "status", "symbol"),
    )


class Lot(Base):
    """An open lot of a position: what remains of one opening trade (or the pooled average lot)."""

    __tablename__ = "lots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("positions.id", ondelete="CASCADE"))
    trade_id: Mapped[int | None] = mapped_column(ForeignKey("trades.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(_positive("quantity"), name="quantity_positive"),
        UniqueConstraint("position_id", "seq"),
    )


class PriceBar(Base):
    __tablename__ = "price_bars"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32))
    interval: Mapped[str] = mapped_column(String(8), default="1d")
    ts: Mapped[datetime] = mapped_column("timestamp", UTCDateTime)
    open: Mapped[Decimal] = mapped_column(ExactDecimal)
    high: Mapped[Decimal] = mapped_column(ExactDecimal)
    low: Mapped[Decimal] = mapped_column(ExactDecimal)
    close: Mapped[Decimal] = mapped_column(ExactDecimal)
    volume: Mapped[Decimal | None] = mapped_column(ExactDecimal)

    __table_args__ = (
        # Serves "latest bar of a symbol" and "one symbol over a date range" as index range scans.
        UniqueConstraint("symbol", "interval", "timestamp"),
        # "Latest price of a symbol" takes the newest bar of any interval.
        Index("ix_price_bars_symbol_timestamp", "symbol", "timestamp"),
        CheckConstraint(_not_negative("close"), name="close_not_negative"),
        CheckConstraint(_null_or(_not_negative("volume"), "volume"), name="volume_not_negative"),
    )


class ConfigEntry(Base):
    __tablename__ = "config"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    value_type: Mapped[str] = mapped_column("type", String(6))
    description: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint(_one_of("type", CONFIG_TYPES), name="type"),)
