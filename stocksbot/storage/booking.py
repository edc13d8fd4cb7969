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

from collections.abc import Container
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update

from stocksbot.ledger import Book, Booking, Fill, LedgerError, Lot as LedgerLot
from stocksbot.storage.models import Lot, Position, Trade
from stocksbot.storage.repositories import Repositories

ZERO = Decimal(0)


class BookingError(LedgerError):
    """A ledger rule refused a trade during a re-booking; names the trade."""

    def __init__(self, trade_id: int, message: str) -> None:
        super().__init__(message)
        self.trade_id = trade_id


def lock_symbol(repos: Repositories, symbol: str) -> None:
    """Serialise writers of one symbol until the transaction ends (no-op on SQLite)."""
    if repos.session.get_bind().dialect.name == "postgresql":
        repos.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:symbol, 0))"), {"symbol": symbol})


def lock_ledger(repos: Repositories) -> None:
    """Keep every other writer of trades and positions out until the transaction ends.

    For whole-ledger work (imports, rebuilds, checks). A no-op on SQLite, where the write
    transaction already excludes other writers; readers are never blocked on either backend.
    """
    if repos.session.get_bind().dialect.name == "postgresql":
        repos.session.execute(text("LOCK TABLE trades, positions IN SHARE ROW EXCLUSIVE MODE"))


@dataclass
class PositionState:
    """A position row's fields while booking; `id` is None until it is stored."""

    symbol: str
    side: str
    quantity: Decimal
    open_cost: Decimal
    avg_entry_price: Decimal | None
    realized_pnl: Decimal
    status: str
    opened_at: datetime
    closed_at: datetime | None
    strategy_id: int | None
    id: int | None = None

    @classmethod
    def of(cls, position: Position) -> "PositionState":
        return cls(**{f.name: getattr(position, f.name) for f in fields(cls)})

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "id"}


def advance(
    book: Book, state: PositionState | None, fill: Fill, strategy_id: int | None, *, allow_short: bool
) -> tuple[Booking, PositionState | None, PositionState | None]:
    """Book one fill; returns the booking, the run it closed (if any) and the open run after it.

    A run that closes keeps its last average entry and its realized P&L as history; a fill
    that opens a run (from flat, or the rest of a flip) starts a new position that belongs to
    the strategy of that fill.
    """
    booking = book.apply(fill, allow_short=allow_short)
    closed = None
    if booking.closed_run is not None and state is not None:
        state.status, state.closed_at = "closed", booking.closed_run.closed_at
        state.realized_pnl = booking.closed_run.realized_pnl
        state.quantity = state.open_cost = ZERO
        closed, state = state, None
    if book.is_flat:
        return booking, closed, state
    if state is None:
        state = PositionState(
            symbol=book.symbol, side=book.side or "", quantity=ZERO, open_cost=ZERO, avg_entry_price=None,
            realized_pnl=ZERO, status="open", opened_at=book.opened_at or fill.executed_at, closed_at=None,
            strategy_id=strategy_id,
        )
    state.quantity, state.open_cost = book.quantity, book.open_amount
    state.avg_entry_price, state.realized_pnl = book.avg_entry_price, book.realized_pnl
    return booking, closed, state


class SymbolBooker:
    """Books the trades of one symbol with one cost-basis method."""

    def __init__(self, repos: Repositories, symbol: str, method: str) -> None:
        self.repos = repos
        self.session = repos.session
        self.symbol = symbol
        self.method = method

    def book_new_trade(self, trade: Trade, *, allow_short: bool) -> None:
        """Book a trade that was just added (and flushed, so it has an id).

        A trade dated before the symbol's latest trade re-books the whole symbol so lots
        follow time order; otherwise only the open position is resumed and updated.
        """
        last = self.session.scalar(
            select(func.max(Trade.executed_at)).where(Trade.symbol == self.symbol, Trade.id != trade.id)
        )
        if last is not None and trade.executed_at < last:
            self.rebuild(new_trade_ids={trade.id}, allow_short=allow_short)
            return
        position = self.repos.positions.open_for(self.symbol)
        stored_lots = list(self.repos.lots.for_position(position.id)) if position else []
        lots = [
            LedgerLot(side=position.side, quantity=lot.quantity, amount=lot.amount, opened_at=lot.opened_at,
                      trade_id=lot.trade_id)
            for lot in stored_lots
        ] if position else []
        book = Book.restore(
            self.symbol, self.method, lots, realized_pnl=position.realized_pnl if position else ZERO,
            opened_at=position.opened_at if position else None, last_executed_at=last,
        )
        booking, closed, state = advance(
            book, PositionState.of(position) if position else None, _fill(trade), trade.strategy_id,
            allow_short=allow_short,
        )
        trade.realized_pnl = booking.realized_pnl
        if closed is not None:
            for lot in stored_lots:
                self.session.delete(lot)
            self.session.flush()
            self.session.execute(update(Position).where(Position.id == closed.id).values(**closed.values()))
        if state is None:
            return
        if state.id is None:
            state.id = self.session.scalar(insert(Position).values(**state.values()).returning(Position.id))
            self._write_lots(state.id, book)
        else:
            self.session.execute(update(Position).where(Position.id == state.id).values(**state.values()))
            self._sync_lots(state.id, stored_lots, book)

    def rebuild(self, *, new_trade_ids: Container[int] = (), allow_short: bool = True) -> None:
        """Recompute the symbol's positions, lots and per-trade realized P&L from its trades.

        Trades booked before were accepted once and replay with shorting allowed; new trades
        (`new_trade_ids`: a back-dated entry, an import) must pass the shorting rule at their
        place in time. A refusal raises BookingError naming the trade.
        """
        position_ids = select(Position.id).where(Position.symbol == self.symbol)
        self.session.execute(delete(Lot).where(Lot.position_id.in_(position_ids)))
        self.session.execute(delete(Position).where(Position.symbol == self.symbol))
        trades = self.session.execute(
            select(Trade.id, Trade.side, Trade.quantity, Trade.price, Trade.commission, Trade.fees,
                   Trade.executed_at, Trade.strategy_id, Trade.realized_pnl)
            .where(Trade.symbol == self.symbol)
            .order_by(Trade.executed_at, Trade.id)
        )
        book = Book(self.symbol, self.method)
        state: PositionState | None = None
        finished: list[PositionState] = []
        realized_changes: list[dict[str, Any]] = []
        for row in trades:
            fill = Fill(row.side, row.quantity, row.price, row.commission, row.fees, row.executed_at, row.id)
            try:
                booking, closed, state = advance(
                    book, state, fill, row.strategy_id, allow_short=allow_short or row.id not in new_trade_ids
                )
            except LedgerError as exc:
                raise BookingError(row.id, str(exc)) from None
            if closed is not None:
                finished.append(closed)
            if booking.realized_pnl != row.realized_pnl:
                realized_changes.append({"trade_id": row.id, "realized": booking.realized_pnl})
        if finished:
            self.session.execute(insert(Position), [p.values() for p in finished])
        if realized_changes:
            statement = (
                update(Trade.__table__)
                .where(Trade.__table__.c.id == bindparam("trade_id"))
                .values(realized_pnl=bindparam("realized"))
            )
            self.session.execute(statement, realized_changes, execution_options={"synchronize_session": False})
        if state is not None:
            state.id = self.session.scalar(insert(Position).values(**state.values()).returning(Position.id))
            self._write_lots(state.id, book)
        self.session.expire_all()  # loaded trades may hold realized P&L that the bulk update replaced

    def _sync_lots(self, position_id: int, stored: list[Lot], book: Book) -> None:
        """Bring a position's stored lots in line with the book, touching only lots that changed.

        A lot is known by its opening trade. Booking one fill changes at most the lots it
        closes and the one it opens, so this costs O(changed lots), not O(open lots). New lots
        take the next `seq`, which keeps `seq` in time order.
        """
        by_trade = {lot.trade_id: lot for lot in stored}
        next_seq = max((lot.seq for lot in stored), default=-1) + 1
        for lot in book.lots:
            row = by_trade.pop(lot.trade_id, None)  # type: ignore[call-overload]
            if row is None:
                self.session.add(Lot(position_id=position_id, trade_id=lot.trade_id, seq=next_seq,
                                     quantity=lot.quantity, amount=lot.amount, opened_at=lot.opened_at))
                next_seq += 1
            elif (row.quantity, row.amount) != (lot.quantity, lot.amount):
                row.quantity, row.amount = lot.quantity, lot.amount
        for row in by_trade.values():
            self.session.delete(row)
        self.session.flush()

    def _write_lots(self, position_id: int, book: Book) -> None:
        self.session.execute(delete(Lot).where(Lot.position_id == position_id))
        self.session.execute(
            insert(Lot),
            [
                {"position_id": position_id, "trade_id": lot.trade_id, "seq": seq, "quantity": lot.quantity,
                 "amount": lot.amount, "opened_at": lot.opened_at}
                for seq, lot in enumerate(book.lots)
            ],
        )


def _fill(trade: Trade) -> Fill:
    return Fill(trade.side, trade.quantity, trade.price, trade.commission, trade.fees, trade.executed_at, trade.id)
