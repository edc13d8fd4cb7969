"""Booking trades into positions and lots, inside the caller's transaction.

One code path serves both a new trade (resume the symbol's open position and book one fill)
and a rebuild (replay every trade of the symbol from flat), so a rebuild yields what the
incremental updates produced. Concurrent writers are serialised per symbol: on SQLite every
write transaction already holds the write lock (BEGIN IMMEDIATE); on PostgreSQL a
transaction-scoped advisory lock on the symbol is taken before its position is read.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, select, text

from stocksbot.ledger import Book, Fill, Lot as LedgerLot
from stocksbot.storage.models import Lot, Position, Trade
from stocksbot.storage.repositories import Repositories


def lock_symbol(repos: Repositories, symbol: str) -> None:
    """Serialise writers of one symbol until the transaction ends (no-op on SQLite)."""
    if repos.session.get_bind().dialect.name == "postgresql":
        repos.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:symbol, 0))"), {"symbol": symbol})


def lock_all_positions(repos: Repositories) -> None:
    """Keep every writer out while all positions are rebuilt (no-op on SQLite)."""
    if repos.session.get_bind().dialect.name == "postgresql":
        repos.session.execute(text("LOCK TABLE positions IN SHARE ROW EXCLUSIVE MODE"))


def _fill(trade: Trade) -> Fill:
    return Fill(
        side=trade.side,
        quantity=trade.quantity,
        price=trade.price,
        commission=trade.commission,
        fees=trade.fees,
        executed_at=trade.executed_at,
        trade_id=trade.id,
    )


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
        last = self._last_executed_at(excluding=trade.id)
        if last is not None and trade.executed_at < last:
            self.rebuild(new_trade_id=trade.id, allow_short=allow_short)
            return
        position = self.repos.positions.open_for(self.symbol)
        stored_lots = self.repos.lots.for_position(position.id) if position else []
        book = Book.restore(
            self.symbol,
            self.method,
            [
                LedgerLot(side=position.side, quantity=lot.quantity, amount=lot.amount,
                          opened_at=lot.opened_at, trade_id=lot.trade_id)
                for lot in stored_lots
            ] if position else [],
            realized_pnl=position.realized_pnl if position else Decimal(0),
            opened_at=position.opened_at if position else None,
            last_executed_at=last,
        )
        final = self._apply(book, position, trade, allow_short=allow_short)
        self._write_lots(final, book)

    def rebuild(self, *, new_trade_id: int | None = None, allow_short: bool = True) -> None:
        """Recompute the symbol's positions, lots and per-trade realized P&L from its trades.

        Trades booked before were accepted once and replay with shorting allowed; a new
        back-dated trade (`new_trade_id`) must pass the shorting rule at its place in time.
        """
        position_ids = select(Position.id).where(Position.symbol == self.symbol)
        self.session.execute(delete(Lot).where(Lot.position_id.in_(position_ids)))
        self.session.execute(delete(Position).where(Position.symbol == self.symbol))
        book = Book(self.symbol, self.method)
        position: Position | None = None
        for trade in self.repos.trades.for_symbol(self.symbol):
            position = self._apply(
                book, position, trade, allow_short=allow_short if trade.id == new_trade_id else True
            )
        self._write_lots(position, book)

    def _apply(self, book: Book, position: Position | None, trade: Trade, *, allow_short: bool) -> Position | None:
        booking = book.apply(_fill(trade), allow_short=allow_short)
        trade.realized_pnl = booking.realized_pnl
        if booking.closed_run is not None and position is not None:
            run = booking.closed_run
            position.status = "closed"
            position.closed_at = run.closed_at
            position.realized_pnl = run.realized_pnl
            position.quantity = 0  # type: ignore[assignment]
            position.open_cost = 0  # type: ignore[assignment]
            self.session.execute(delete(Lot).where(Lot.position_id == position.id))
            self.session.flush()  # the closed run must leave "open" before a new run takes it
            position = None
        if book.is_flat:
            return position
        if booking.opened_run or position is None:
            position = Position(
                symbol=self.symbol, side=book.side, status="open", opened_at=book.opened_at,
                strategy_id=trade.strategy_id, quantity=0, open_cost=0, realized_pnl=0,
            )
            self.session.add(position)
        position.quantity = book.quantity
        position.open_cost = book.open_amount
        position.avg_entry_price = book.avg_entry_price
        position.realized_pnl = book.realized_pnl
        return position

    def _write_lots(self, position: Position | None, book: Book) -> None:
        if position is None:
            return
        self.session.flush()
        self.session.execute(delete(Lot).where(Lot.position_id == position.id))
        self.session.add_all(
            Lot(position_id=position.id, trade_id=lot.trade_id, seq=seq, quantity=lot.quantity,
                amount=lot.amount, opened_at=lot.opened_at)
            for seq, lot in enumerate(book.lots)
        )
        self.session.flush()

    def _last_executed_at(self, *, excluding: int) -> datetime | None:
        query = select(func.max(Trade.executed_at)).where(Trade.symbol == self.symbol, Trade.id != excluding)
        return self.session.scalar(query)
