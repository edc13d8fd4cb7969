"""Booking trades into positions and lots, inside the caller's transaction.

One function, `advance`, turns a fill into position changes; both booking a new trade
(resume the symbol's open position, book one fill) and rebuilding a symbol (replay all its
trades from flat) go through it, so a rebuild yields exactly what incremental updates
produced. Rebuilds read and write with SQL Core in bulk: they are what imports and
cost-basis changes run over whole histories.

Concurrent writers are serialised per symbol: on SQLite every write transaction already
holds the write lock (BEGIN IMMEDIATE); on PostgreSQL a transaction-scoped advisory lock on
the symbol is taken before its position is read.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, text, update

from stocksbot.ledger import Book, Booking, Fill, LedgerError, canonical
from stocksbot.ledger import Lot as LedgerLot
from stocksbot.storage import tables, totals

ZERO = Decimal(0)


class BookingError(LedgerError):
    """A ledger rule refused a trade during a re-booking; names the trade."""

    def __init__(self, trade_id: int, message: str) -> None:
        super().__init__(message)
        self.trade_id = trade_id


def lock_symbol(conn: Connection, symbol: str) -> None:
    """Serialise writers of one symbol until the transaction ends (no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:symbol, 0))"), {"symbol": symbol})


def lock_ledger(conn: Connection) -> None:
    """Keep every other writer of trades and positions out until the transaction ends.

    For whole-ledger work (imports, rebuilds, checks). A no-op on SQLite, where the write
    transaction already excludes other writers; readers are never blocked on either backend.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE trades, positions IN SHARE ROW EXCLUSIVE MODE"))


@dataclass
class PositionState:
    """A position row's fields while booking; `id` is None until it is stored."""

    symbol: str
    side: str
    quantity: Decimal
    open_cost: Decimal
    avg_entry_price: Decimal | None
    realized_pnl: Decimal
    costs: Decimal
    status: str
    opened_at: datetime
    closed_at: datetime | None
    strategy_id: int | None
    id: int | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> "PositionState":
        """From a positions row (as a mapping)."""
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "id"}

    def update_params(self) -> dict[str, Any]:
        """Parameters of the prebuilt UPDATE of this position's row."""
        params = {f"new_{name}": value for name, value in self.values().items()}
        params["position_id"] = self.id
        return params


def advance(
    book: Book, state: PositionState | None, fill: Fill, strategy_id: int | None, *, allow_short: bool
) -> tuple[Booking, PositionState | None, PositionState | None]:
    """Book one fill; returns the booking, the run it closed (if any) and the open run after it.

    A run that closes keeps its last average entry and its realized P&L as history; a fill
    that opens a run (from flat, or the rest of a flip) starts a new position that belongs to
    the strategy of that fill. The open run's figures are brought up to date by `settle`
    when it is stored, not after every fill (replays of long histories skip that work).
    """
    if state is not None and book.would_close_run(fill):
        state.avg_entry_price = book.avg_entry_price
    booking = book.apply(fill, allow_short=allow_short)
    closed = None
    if booking.closed_run is not None and state is not None:
        state.status, state.closed_at = "closed", booking.closed_run.closed_at
        state.realized_pnl, state.costs = booking.closed_run.realized_pnl, booking.closed_run.costs
        state.quantity = state.open_cost = ZERO
        closed, state = state, None
    if book.is_flat or state is not None:
        return booking, closed, state
    state = PositionState(
        symbol=book.symbol, side=book.side or "", quantity=ZERO, open_cost=ZERO, avg_entry_price=None,
        realized_pnl=ZERO, costs=ZERO, status="open", opened_at=book.opened_at or fill.executed_at, closed_at=None,
        strategy_id=strategy_id,
    )
    return booking, closed, state


def settle(state: PositionState, book: Book) -> PositionState:
    """Copy the book's current figures into the open run's state, before it is stored."""
    state.quantity, state.open_cost = book.quantity, book.open_amount
    state.avg_entry_price, state.realized_pnl = book.avg_entry_price, book.realized_pnl
    state.costs = book.run_costs
    return state


TRADES = tables.trades
POSITIONS = tables.positions
LOTS = tables.lots
# Built once: the statements of the single-trade hot path (imports use them too), so each execution reuses the
# compiled form (a bot may record thousands of fills a minute).
LAST_EXECUTED = select(func.max(TRADES.c.executed_at)).where(
    TRADES.c.symbol == bindparam("symbol"), TRADES.c.id != bindparam("trade_id")
)
OPEN_POSITION = select(POSITIONS).where(POSITIONS.c.symbol == bindparam("symbol"), POSITIONS.c.status == "open")
# The symbol's latest other trade time, its open position (NULLs when flat) and that
# position's lots (one row each, oldest first): everything booking reads, in one round trip.
_LOT_FIELDS = ("id", "trade_id", "seq", "quantity", "amount", "opened_at")
_LAST = LAST_EXECUTED.subquery("last")
_BOOKING_STATE = (
    select(_LAST.c[0].label("last_executed"), POSITIONS, *(LOTS.c[name].label(f"lot_{name}") for name in _LOT_FIELDS))
    .select_from(_LAST)
    .outerjoin(POSITIONS, (POSITIONS.c.symbol == bindparam("symbol")) & (POSITIONS.c.status == "open"))
    .outerjoin(LOTS, LOTS.c.position_id == POSITIONS.c.id)
    .order_by(LOTS.c.seq)
)
POSITION_LOTS = select(LOTS).where(LOTS.c.position_id == bindparam("position_id")).order_by(LOTS.c.seq)
_SET_REALIZED = update(TRADES).where(TRADES.c.id == bindparam("trade_id")).values(realized_pnl=bindparam("realized"))
INSERT_POSITION = insert(POSITIONS).returning(POSITIONS.c.id)
_POSITION_FIELDS = ("symbol", "side", "quantity", "open_cost", "avg_entry_price", "realized_pnl", "costs", "status",
                    "opened_at", "closed_at", "strategy_id")
UPDATE_POSITION = (
    update(POSITIONS)
    .where(POSITIONS.c.id == bindparam("position_id"))
    .values({name: bindparam(f"new_{name}") for name in _POSITION_FIELDS})
)
_UPDATE_LOT = update(LOTS).where(LOTS.c.id == bindparam("lot_id")).values(
    quantity=bindparam("new_quantity"), amount=bindparam("new_amount")
)
_DELETE_LOTS = delete(LOTS).where(LOTS.c.id.in_(bindparam("lot_ids", expanding=True)))
_TRADE_REALIZED = select(TRADES.c.realized_pnl).where(TRADES.c.id == bindparam("trade_id"))
_SYMBOL_POSITIONS = POSITIONS.c.symbol == bindparam("symbol")
_DELETE_SYMBOL_LOTS = delete(LOTS).where(LOTS.c.position_id.in_(select(POSITIONS.c.id).where(_SYMBOL_POSITIONS)))
_DELETE_SYMBOL_POSITIONS = delete(POSITIONS).where(_SYMBOL_POSITIONS)


class SymbolBooker:
    """Books the trades of one symbol with one cost-basis method, on a Core connection.

    A caller that also holds ORM objects in a Session on this connection expires them
    afterwards: a re-booking rewrites trades' realized P&L behind the Session's back.
    """

    def __init__(self, conn: Connection, symbol: str, method: str) -> None:
        self.conn = conn
        self.symbol = symbol
        self.method = method

    def book_new_trade(self, trade_id: int, fill: Fill, strategy_id: int | None, *, allow_short: bool) -> Decimal | None:
        """Book a trade that was just inserted; returns the realized P&L it produced (None: it closed nothing).

        A trade dated before the symbol's latest trade re-books the whole symbol so lots
        follow time order; otherwise only the open position is resumed and updated.
        """
        conn = self.conn
        params = {"symbol": self.symbol, "trade_id": trade_id}
        rows = conn.execute(_BOOKING_STATE, params).mappings().all()
        last = rows[0]["last_executed"]
        position = rows[0] if rows[0]["id"] is not None else None
        if last is not None and fill.executed_at < last:
            self.rebuild(new_trade_ids={trade_id}, allow_short=allow_short)
            return conn.execute(_TRADE_REALIZED, {"trade_id": trade_id}).scalar()
        stored = [{name: row[f"lot_{name}"] for name in _LOT_FIELDS} for row in rows if row["lot_id"] is not None]
        book = Book.restore(
            self.symbol, self.method,
            [LedgerLot(position["side"], lot["quantity"], lot["amount"], lot["opened_at"], lot["trade_id"])
             for lot in stored] if position else [],
            realized_pnl=position["realized_pnl"] if position else ZERO,
            opened_at=position["opened_at"] if position else None, last_executed_at=last,
            costs=position["costs"] if position else ZERO,
        )
        booking, closed, state = advance(
            book, PositionState.of(position) if position else None, fill, strategy_id, allow_short=allow_short
        )
        if booking.realized_pnl is not None:
            conn.execute(_SET_REALIZED, {"trade_id": trade_id, "realized": booking.realized_pnl})
        if closed is not None:
            if stored:
                conn.execute(_DELETE_LOTS, {"lot_ids": [lot["id"] for lot in stored]})
            conn.execute(UPDATE_POSITION, closed.update_params())
            totals.apply(conn, totals.of_runs([closed]))
            stored = []
        if state is None:
            return booking.realized_pnl
        settle(state, book)
        if state.id is None:
            state.id = conn.execute(INSERT_POSITION, state.values()).scalar_one()
            write_lots(conn, state.id, book)
        else:
            conn.execute(UPDATE_POSITION, state.update_params())
            self._sync_lots(state.id, stored, book)
        return booking.realized_pnl

    def _sync_lots(self, position_id: int, stored: Sequence[Any], book: Book) -> None:
        """Bring a position's stored lots in line with the book, touching only lots that changed.

        A lot is known by its opening trade. Booking one fill changes at most the lots it
        closes and the one it opens, so this costs O(changed lots), not O(open lots). New lots
        take the next `seq`, which keeps `seq` in time order.
        """
        conn = self.conn
        by_trade = {lot["trade_id"]: lot for lot in stored}
        next_seq = max((lot["seq"] for lot in stored), default=-1) + 1
        new_lots = []
        for lot in book.lots:
            row = by_trade.pop(lot.trade_id, None)  # type: ignore[call-overload]
            if row is None:
                new_lots.append({"position_id": position_id, "trade_id": lot.trade_id, "seq": next_seq,
                                 "quantity": lot.quantity, "amount": lot.amount, "opened_at": lot.opened_at})
                next_seq += 1
            elif (row["quantity"], row["amount"]) != (lot.quantity, lot.amount):
                conn.execute(_UPDATE_LOT, {"lot_id": row["id"], "new_quantity": lot.quantity, "new_amount": lot.amount})
        if by_trade:
            conn.execute(_DELETE_LOTS, {"lot_ids": [row["id"] for row in by_trade.values()]})
        if new_lots:
            conn.execute(insert(LOTS), new_lots)

    def rebuild(self, *, new_trade_ids: Container[int] = (), allow_short: bool = True, cleared: bool = False) -> None:
        """Recompute the symbol's positions, lots and per-trade realized P&L from its trades.

        Trades booked before were accepted once and replay with shorting allowed; new trades
        (`new_trade_ids`: a back-dated entry, an import) must pass the shorting rule at their
        place in time. A refusal raises BookingError naming the trade.

        `cleared`: a whole-ledger rebuild has deleted every position and lot already, and
        recomputes the closed-run totals at the end; otherwise the symbol's positions and lots
        are replaced here and the totals follow the change.
        """
        conn = self.conn
        symbol = {"symbol": self.symbol}
        old_closed: totals.Totals = {}
        if not cleared:
            old_closed = totals.from_positions(conn, POSITIONS.c.symbol == self.symbol)
            conn.execute(_DELETE_SYMBOL_LOTS, symbol)
            conn.execute(_DELETE_SYMBOL_POSITIONS, symbol)
        trades = symbol_trades(conn, self.symbol)
        book = Book(self.symbol, self.method)
        state: PositionState | None = None
        finished: list[PositionState] = []
        realized_changes: list[dict[str, Any]] = []
        for trade_id, side, quantity, price, commission, fees, executed_at, strategy_id, stored_realized in trades:
            fill = Fill(side, quantity, price, commission, fees, executed_at, trade_id)
            try:
                booking, closed, state = advance(
                    book, state, fill, strategy_id, allow_short=allow_short or trade_id not in new_trade_ids
                )
            except LedgerError as exc:
                raise BookingError(trade_id, str(exc)) from None
            if closed is not None:
                finished.append(closed)
            if booking.realized_pnl != stored_realized:
                realized_changes.append({"trade_id": trade_id, "realized": booking.realized_pnl})
        if finished:
            conn.execute(insert(POSITIONS), [p.values() for p in finished])
        if not cleared:
            totals.apply(conn, totals.merged(totals.negated(old_closed), totals.of_runs(finished)))
        if realized_changes:
            conn.execute(_SET_REALIZED, realized_changes)
        if state is not None:
            settle(state, book)
            state.id = conn.execute(INSERT_POSITION, state.values()).scalar_one()
            write_lots(conn, state.id, book)


_DRIVER_SYMBOL_TRADES = (
    "SELECT id, side, quantity, price, commission, fees, executed_at, strategy_id, realized_pnl FROM trades "
    "WHERE symbol = {mark} ORDER BY executed_at, id"
)


def symbol_trades(conn: Connection, symbol: str) -> Iterator[tuple[Any, ...]]:
    """A symbol's trades in booking order, as (id, side, quantity, price, commission, fees,
    executed_at, strategy_id, realized_pnl) tuples of Decimals and UTC datetimes.

    The rows come from the driver and are converted here: a rebuild reads every trade, and
    SQLAlchemy's per-value result processing would cost more than the booking. The
    conversions are those of ExactDecimal and UTCDateTime (SQLite: canonical decimal text and
    "YYYY-MM-DD HH:MM:SS.ffffff" in UTC; PostgreSQL: NUMERIC and timestamptz); a test
    compares this with the typed Core query on both backends.
    """
    driver = conn.connection.driver_connection
    utc = timezone.utc
    if conn.dialect.name == "sqlite":
        cursor = driver.execute(_DRIVER_SYMBOL_TRADES.format(mark="?"), (symbol,))  # type: ignore[union-attr]
        number, moment = Decimal, datetime.fromisoformat
        for trade_id, side, quantity, price, commission, fees, executed_at, strategy_id, realized in cursor:
            yield (trade_id, side, number(quantity), number(price), number(commission), number(fees),
                   moment(executed_at).replace(tzinfo=utc), strategy_id, None if realized is None else number(realized))
        return
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(_DRIVER_SYMBOL_TRADES.format(mark="%s"), (symbol,))
        tidy = canonical
        for trade_id, side, quantity, price, commission, fees, executed_at, strategy_id, realized in cursor:
            yield (trade_id, side, tidy(quantity), tidy(price), tidy(commission), tidy(fees), executed_at.astimezone(utc),
                   strategy_id, None if realized is None else tidy(realized))


def write_lots(conn: Connection, position_id: int, book: Book) -> None:
    """Store the book's open lots as the lots of a position that has none stored."""
    conn.execute(insert(LOTS), [
        {"position_id": position_id, "trade_id": lot.trade_id, "seq": seq, "quantity": lot.quantity,
         "amount": lot.amount, "opened_at": lot.opened_at}
        for seq, lot in enumerate(book.lots)
    ])
