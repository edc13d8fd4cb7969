"""Reading positions and the summary on a Core connection, without the ORM.

`position list` and `summary` are what a user runs most, and at a million trades their
queries take a few milliseconds: importing the ORM would cost more than the work. So these
reads use Core statements only, on a `Reader` (engine and connection, no Session);
`StorageService` is a Reader too and answers the same calls inside an open transaction, so
a bot sees its own writes. What they read does not grow with history: the open positions
(one per symbol at most), one price probe per open symbol, and the per-strategy totals of
closed runs that booking keeps (`totals.py`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import OperationalError

from stocksbot.errors import DatabaseUnavailable, StocksbotError
from stocksbot.ledger.numbers import ZERO, add, multiply, subtract
from stocksbot.storage import totals
from stocksbot.storage.database import (
    ConnectionSettings,
    DatabaseTarget,
    build_engine,
    connect_with_retries,
    describe_db_error,
    is_deadline_error,
    resolve_target,
)
from stocksbot.storage.records import PositionRecord, Summary, SummaryLine
from stocksbot.storage.tables import positions as POSITIONS
from stocksbot.storage.tables import price_bars as BARS
from stocksbot.storage.tables import strategies as STRATEGIES

_LATEST_CLOSE = (
    select(BARS.c.close)
    .where(BARS.c.symbol == bindparam("symbol"), BARS.c.timestamp <= bindparam("at"))
    .order_by(BARS.c.timestamp.desc(), BARS.c.interval)
    .limit(1)
)
_STRATEGY_NAMES = select(STRATEGIES.c.id, STRATEGIES.c.name)
_STRATEGY_ID = select(STRATEGIES.c.id).where(STRATEGIES.c.name == bindparam("name"))


@contextmanager
def database_errors(target: DatabaseTarget, settings: ConnectionSettings) -> Iterator[None]:
    """Turn a driver's OperationalError into one line for the user (deadline or unavailable)."""
    try:
        yield
    except OperationalError as exc:
        if settings.query_timeout and is_deadline_error(exc):
            raise StocksbotError(f"query exceeded the {settings.query_timeout} s deadline") from None
        raise DatabaseUnavailable(f"database error on {target.masked}: {describe_db_error(exc)}") from None


def open_engine(
    url: str | None, settings: ConnectionSettings | None, check_schema: bool
) -> tuple[Engine, DatabaseTarget, ConnectionSettings]:
    """Resolve the database, connect (with retries) and check the schema revision."""
    from stocksbot.storage.migrations import ensure_schema

    target = resolve_target(url)
    settings = settings or ConnectionSettings.from_env()
    engine = build_engine(target, settings)
    try:
        connect_with_retries(engine, target, settings.connect_retries)
        if check_schema:
            ensure_schema(engine, target)
    except BaseException:
        engine.dispose()
        raise
    return engine, target, settings


def latest_closes(conn: Connection, symbols: Sequence[str], at: datetime) -> dict[str, Decimal]:
    """The close of each symbol's most recent bar at or before `at` (one index probe each)."""
    closes = {}
    for symbol in symbols:
        close = conn.execute(_LATEST_CLOSE, {"symbol": symbol, "at": at}).scalar()
        if close is not None:
            closes[symbol] = close
    return closes


def position_record(position: Any, names: dict[int, str], price: Decimal | None) -> PositionRecord:
    """A position row valued at `price` (None: no price known, so no market value or unrealized P&L)."""
    market_value = unrealized = None
    if price is not None and position.status == "open":
        worth = multiply(price, position.quantity)
        if position.side == "long":
            market_value, unrealized = worth, subtract(worth, position.open_cost)
        else:  # a short is a liability worth -price x quantity; it gains when the price falls
            market_value, unrealized = worth.copy_negate(), subtract(position.open_cost, worth)
    return PositionRecord(
        id=position.id, symbol=position.symbol, side=position.side, quantity=position.quantity,
        avg_entry_price=position.avg_entry_price, realized_pnl=position.realized_pnl,
        market_price=price if position.status == "open" else None, market_value=market_value,
        unrealized_pnl=unrealized, status=position.status, opened_at=position.opened_at,
        closed_at=position.closed_at, strategy=names.get(position.strategy_id) if position.strategy_id else None,
        open_cost=position.open_cost,
    )


def _summary_line(
    strategy: str | None, positions: list[PositionRecord], realized: Decimal, costs: Decimal
) -> SummaryLine:
    priced = all(p.market_value is not None for p in positions)
    signed_cost = [p.open_cost if p.side == "long" else p.open_cost.copy_negate() for p in positions]
    return SummaryLine(
        strategy=strategy,
        open_positions=len(positions),
        cost=add(ZERO, *signed_cost),
        market_value=add(ZERO, *(p.market_value for p in positions)) if priced else None,  # type: ignore[misc]
        realized_pnl=realized,
        unrealized_pnl=add(ZERO, *(p.unrealized_pnl for p in positions)) if priced else None,  # type: ignore[misc]
        costs=costs,
    )


class Reader:
    """Read-only operations over one database, on Core connections."""

    def __init__(self, engine: Engine, target: DatabaseTarget, settings: ConnectionSettings | None = None) -> None:
        self.engine = engine
        self.target = target
        self.settings = settings or ConnectionSettings()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection to read with (StorageService joins its open transaction instead)."""
        with database_errors(self.target, self.settings), self.engine.connect() as conn:
            yield conn

    def list_positions(self, *, status: str | None = "open", strategy: str | None = None) -> list[PositionRecord]:
        """Positions (open by default; "closed", or None for all), valued at the latest prices."""
        with self.connection() as conn:
            names = {row[0]: row[1] for row in conn.execute(_STRATEGY_NAMES)}
            return self._positions(conn, names, status, strategy)

    def summary(self) -> Summary:
        """Cost, value, realized and unrealized P&L and costs paid, in total and by strategy.

        By strategy means by the strategy of the position (of the trade that opened it).
        Realized P&L and costs are those of the closed runs (kept as running totals) plus the
        open runs' so far.
        """
        with self.connection() as conn:
            names = {row[0]: row[1] for row in conn.execute(_STRATEGY_NAMES)}
            positions = self._positions(conn, names, "open", None)
            open_rows = conn.execute(
                select(POSITIONS.c.strategy_id, POSITIONS.c.realized_pnl, POSITIONS.c.costs)
                .where(POSITIONS.c.status == "open")
            ).all()
            closed = totals.stored(conn)
        realized_costs: dict[str | None, tuple[Decimal, Decimal]] = {}
        for key, (_runs, realized, costs) in closed.items():
            strategy_id = totals.strategy_of(key)
            realized_costs[names.get(strategy_id) if strategy_id else None] = (realized, costs)
        for strategy_id, realized, costs in open_rows:
            name = names.get(strategy_id) if strategy_id else None
            old_realized, old_costs = realized_costs.get(name, (ZERO, ZERO))
            realized_costs[name] = (add(old_realized, realized), add(old_costs, costs))
        by_strategy: dict[str | None, list[PositionRecord]] = defaultdict(list)
        for position in positions:
            by_strategy[position.strategy].append(position)
        keys = sorted(set(realized_costs) | set(by_strategy), key=lambda k: (k is None, k or ""))
        lines = [_summary_line(key, by_strategy.get(key, []), *realized_costs.get(key, (ZERO, ZERO))) for key in keys]
        total = _summary_line(
            None, positions,
            add(ZERO, *(line.realized_pnl for line in lines)),
            add(ZERO, *(line.costs for line in lines)),
        )
        unpriced = sorted({p.symbol for p in positions if p.market_value is None})
        return Summary(total=total, by_strategy=lines, unpriced_symbols=unpriced)

    def _positions(
        self, conn: Connection, names: dict[int, str], status: str | None, strategy: str | None
    ) -> list[PositionRecord]:
        query = select(POSITIONS).order_by(POSITIONS.c.symbol, POSITIONS.c.opened_at, POSITIONS.c.id)
        if status is not None:
            query = query.where(POSITIONS.c.status == status)
        if strategy is not None:
            strategy_id = conn.execute(_STRATEGY_ID, {"name": strategy}).scalar()
            if strategy_id is None:
                raise StocksbotError(f"unknown strategy {strategy!r} (see `stocksbot strategy list`)")
            query = query.where(POSITIONS.c.strategy_id == strategy_id)
        rows = conn.execute(query).all()
        prices = latest_closes(conn, sorted({p.symbol for p in rows if p.status == "open"}), datetime.now(timezone.utc))
        return [position_record(p, names, prices.get(p.symbol)) for p in rows]

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_reader(url: str | None = None, *, settings: ConnectionSettings | None = None) -> Reader:
    """A Reader on the resolved database, its schema checked (and the default file upgraded)."""
    return Reader(*open_engine(url, settings, check_schema=True))
