"""The booking store: trades into positions, lots and closed-run totals, inside the caller's transaction.

One function, `advance`, turns a fill into position changes, and one class, `BookingStore`,
loads a symbol's open state and saves closed and open runs. Booking a new trade (resume the
open run, book one fill), importing a file (batches of fills per symbol), re-booking a
symbol and rebuilding the whole ledger (replay every trade from flat) all go through them,
so a rebuild yields exactly what incremental booking produced. The rules are in
docs/ledger.md.

Concurrent writers are serialised per symbol: on SQLite every write transaction already
holds the write lock (BEGIN IMMEDIATE); on PostgreSQL a transaction-scoped advisory lock on
the symbol is taken before its position is read.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, text, update

from stocksbot.ledger import Book, Booking, ClosedPortion, Fill, LedgerError, RunSummary, realized_by_opener
from stocksbot.ledger import Lot as LedgerLot
from stocksbot.ledger.realized import figures
from stocksbot.storage import rebookings, strategy_totals, tables, totals
from stocksbot.storage.bulk import BulkInserter
from stocksbot.storage.database import driver_mark, driver_rows
from stocksbot.storage.records import RealizedChange
from stocksbot.storage.types import driver_conversion
from stocksbot.vocabulary import LONG, SELL, SHORT

ZERO = Decimal(0)


#: Called with (account id, fill, booking) for each trade an in-memory replay books.
FillHook = Callable[[int, Fill, Booking], None]


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
    """Keep every other writer of trades, positions and cash out until the transaction ends.

    For whole-ledger work (imports, rebuilds, checks). A no-op on SQLite, where the write
    transaction already excludes other writers; readers are never blocked on either backend
    (which is why imports defer the trades indexes on SQLite only: see
    `services/imports.py`, DEFER_INDEXES_BACKENDS).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE trades, positions, dividends, cash_movements, cash_balances IN SHARE ROW EXCLUSIVE MODE"))


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
    account_id: int
    id: int | None = None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> "PositionState":
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
    book: Book, state: PositionState | None, fill: Fill, strategy_id: int | None, account_id: int, *,
    allow_short: bool,
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
        strategy_id=strategy_id, account_id=account_id,
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
SPLITS = tables.splits
TRANSFERS = tables.share_transfers
CHANGES = tables.symbol_changes
LOTS = tables.lots
SHARES = tables.realized_shares
CLOSINGS = tables.lot_closings
#: The columns of a `lot_closings` row, in the order `closings_of` gives them.
CLOSING_COLUMNS = ("trade_id", "seq", "opening_trade_id", "account_id", "symbol", "side", "quantity", "opened_at",
                   "closed_at", "proceeds", "cost", "realized_pnl")
# Built once: the statements of the single-trade hot path, so each execution reuses the
# compiled form (a bot may record thousands of fills a minute).
#
# The symbol's latest trade time other than `trade_id`, its open position (NULLs when flat)
# and that position's lots (one row each, oldest first): everything booking reads, in one
# round trip.
_LOT_FIELDS = ("id", "trade_id", "seq", "quantity", "amount", "opened_at")
# A split of the symbol is a booked event of every account (docs/ledger.md §12), so the
# latest event is the later of the account's latest trade and the symbol's latest split.
_LAST = (
    select(
        select(func.max(TRADES.c.executed_at))
        .where(TRADES.c.symbol == bindparam("symbol"), TRADES.c.account_id == bindparam("account_id"),
               TRADES.c.id != bindparam("trade_id"), tables.LIVE_TRADE)
        .scalar_subquery().label("last_trade"),
        select(func.max(SPLITS.c.at)).where(SPLITS.c.symbol == bindparam("symbol")).scalar_subquery()
        .label("last_split"),
        select(func.max(TRANSFERS.c.at))
        .where(TRANSFERS.c.symbol == bindparam("symbol"),
               (TRANSFERS.c.from_account_id == bindparam("account_id"))
               | (TRANSFERS.c.to_account_id == bindparam("account_id")))
        .scalar_subquery().label("last_transfer"),
        select(func.max(CHANGES.c.at))
        .where((CHANGES.c.old_symbol == bindparam("symbol")) | (CHANGES.c.new_symbol == bindparam("symbol")))
        .scalar_subquery().label("last_change"),
    )
    .subquery("last")
)
_OPEN_STATE = (
    select(_LAST.c.last_trade, _LAST.c.last_split, _LAST.c.last_transfer, _LAST.c.last_change, POSITIONS,
           *(LOTS.c[name].label(f"lot_{name}") for name in _LOT_FIELDS))
    .select_from(_LAST)
    .outerjoin(POSITIONS, (POSITIONS.c.account_id == bindparam("account_id"))
               & (tables.OPEN_POSITION_SYMBOL == bindparam("symbol")))
    .outerjoin(LOTS, LOTS.c.position_id == POSITIONS.c.id)
    .order_by(LOTS.c.seq)
)
# The same without the latest trade time, for a caller that knows it (`load(last_executed=...)`):
# no read of the trades table at all.
_OPEN_RUN = (
    select(POSITIONS, *(LOTS.c[name].label(f"lot_{name}") for name in _LOT_FIELDS))
    .where(POSITIONS.c.account_id == bindparam("account_id"), tables.OPEN_POSITION_SYMBOL == bindparam("symbol"))
    .outerjoin(LOTS, LOTS.c.position_id == POSITIONS.c.id)
    .order_by(LOTS.c.seq)
)
_LAST_TRADE_TIMES = (
    select(TRADES.c.account_id, TRADES.c.symbol, func.max(TRADES.c.executed_at))
    .where(tables.LIVE_TRADE)
    .group_by(TRADES.c.account_id, TRADES.c.symbol)
)
_LAST_SPLIT_TIMES = select(SPLITS.c.symbol, func.max(SPLITS.c.at)).group_by(SPLITS.c.symbol)
_LAST_TRANSFER_TIMES = select(TRANSFERS.c.symbol, TRANSFERS.c.from_account_id, TRANSFERS.c.to_account_id,
                              TRANSFERS.c.at)
_SPLIT, _RENAME, _TRADE, _TRANSFER = 0, 1, 2, 3  # the order of a moment's events
_SYMBOL_CHANGES = (
    select(CHANGES.c.id, CHANGES.c.old_symbol, CHANGES.c.new_symbol, CHANGES.c.at)
    .where((CHANGES.c.old_symbol == bindparam("symbol")) | (CHANGES.c.new_symbol == bindparam("symbol")))
)
_RENAMED_TO = select(CHANGES.c.new_symbol).where(CHANGES.c.old_symbol == bindparam("symbol"))
_LAST_CHANGE_TIMES = select(CHANGES.c.old_symbol, CHANGES.c.new_symbol, CHANGES.c.at)
_SYMBOL_TRANSFERS = (
    select(TRANSFERS.c.id, TRANSFERS.c.quantity, TRANSFERS.c.from_account_id, TRANSFERS.c.to_account_id,
           TRANSFERS.c.at)
    .where(TRANSFERS.c.symbol == bindparam("symbol")).order_by(TRANSFERS.c.at, TRANSFERS.c.id)
)
_SYMBOL_SPLITS = (
    select(SPLITS.c.id, SPLITS.c.numerator, SPLITS.c.denominator, SPLITS.c.at)
    .where(SPLITS.c.symbol == bindparam("symbol")).order_by(SPLITS.c.at)
)
_SET_REALIZED = update(TRADES).where(TRADES.c.id == bindparam("trade_id")).values(realized_pnl=bindparam("realized"))
_INSERT_POSITION = insert(POSITIONS).returning(POSITIONS.c.id)
_POSITION_FIELDS = ("symbol", "side", "quantity", "open_cost", "avg_entry_price", "realized_pnl", "costs", "status",
                    "opened_at", "closed_at", "strategy_id", "account_id")
_UPDATE_POSITION = (
    update(POSITIONS)
    .where(POSITIONS.c.id == bindparam("position_id"))
    .values({name: bindparam(f"new_{name}") for name in _POSITION_FIELDS})
)
_UPDATE_LOT = update(LOTS).where(LOTS.c.id == bindparam("lot_id")).values(
    quantity=bindparam("new_quantity"), amount=bindparam("new_amount")
)
_DELETE_LOTS = delete(LOTS).where(LOTS.c.id.in_(bindparam("lot_ids", expanding=True)))
_DELETE_POSITION_LOTS = delete(LOTS).where(LOTS.c.position_id.in_(bindparam("position_ids", expanding=True)))
_TRADE_REALIZED = select(TRADES.c.realized_pnl).where(TRADES.c.id == bindparam("trade_id"))
_SYMBOL_POSITIONS = POSITIONS.c.symbol == bindparam("symbol")
_DELETE_SYMBOL_LOTS = delete(LOTS).where(LOTS.c.position_id.in_(select(POSITIONS.c.id).where(_SYMBOL_POSITIONS)))
_DELETE_SYMBOL_POSITIONS = delete(POSITIONS).where(_SYMBOL_POSITIONS)
_SYMBOLS = select(TRADES.c.symbol).where(tables.LIVE_TRADE).distinct().order_by(TRADES.c.symbol)
_NEW_NAMES = select(CHANGES.c.new_symbol)
_TRADE_STRATEGIES = select(TRADES.c.id, TRADES.c.strategy_id).where(
    TRADES.c.id.in_(bindparam("trade_ids", expanding=True)))
_DELETE_SYMBOL_STRATEGY_TOTALS = delete(tables.strategy_totals).where(tables.strategy_totals.c.symbol == bindparam("symbol"))
_DELETE_SYMBOL_SHARES = delete(SHARES).where(
    SHARES.c.trade_id.in_(select(TRADES.c.id).where(TRADES.c.symbol == bindparam("symbol"))))
#: The columns the bulk writers of `realized_shares` and `lots` fill, in the order their rows give them.
_SHARE_COLUMNS = ("trade_id", "strategy_id", "realized_pnl")
_LOT_COLUMNS = ("position_id", "trade_id", "seq", "quantity", "amount", "opened_at")
_DELETE_SYMBOL_CLOSINGS = delete(CLOSINGS).where(
    CLOSINGS.c.trade_id.in_(select(TRADES.c.id).where(TRADES.c.symbol == bindparam("symbol"))))


@dataclass
class OpenState:
    """A symbol while it is being booked: its book, its open run and the lots stored for that run.

    `stored_lots` are the lot rows of the open run as they are in the database (empty when
    the run is new or none is open), so that saving touches only the lots that changed.
    """

    book: Book
    run: PositionState | None
    stored_lots: list[dict[str, Any]]
    account_id: int

    def apply(self, fill: Fill, strategy_id: int | None, *, allow_short: bool) -> tuple[Booking, PositionState | None]:
        """Book one fill; the booking and the run it closed, if any (to be saved with `save_closed`)."""
        booking, closed, self.run = advance(self.book, self.run, fill, strategy_id, self.account_id,
                                            allow_short=allow_short)
        if closed is not None:
            self.stored_lots = []  # they belonged to the closed run; save_closed deletes them
        return booking, closed


class BookingStore:
    """The one place where booking state is loaded and saved, on the unit of work's connection.

    `trade add` and `order fill` (`book_trade`), `trade import` (`load`, `save_closed`,
    `save_open`, `replay`, `shares_of`, `save_closings`), `position rebuild` and `db check` (`rebuild_all`)
    all go through it, so positions, lots, closed-run totals, realized shares and closed lot
    portions are written one way. The ledger rules
    themselves are in `stocksbot.ledger` (docs/ledger.md).
    """

    def __init__(self, conn: Connection, method: str, *, live_only: bool = True) -> None:
        """`live_only=False` reads every trade, for the migrations that book a database from
        before 0008, whose trades have no `voided_at` yet (none of them is voided)."""
        self.conn = conn
        self.method = method
        self.live_only = live_only
        #: What the latest `book_trade` re-booked (a back-dated trade): the symbols whose realized
        #: P&L changed, from what to what (docs/ledger.md §19.4); empty when it re-booked nothing.
        self.rebooked: tuple[RealizedChange, ...] = ()
        self._closings_writer: BulkInserter | None = None
        #: Driver-level writers of the rows an import or a rebuild writes by the thousand
        #: (`_writer`): SQLAlchemy's executemany of dicts cost more than building the rows.
        self._writers: dict[str, BulkInserter] = {}

    # -- loading and saving ---------------------------------------------------------------

    def load(self, account_id: int, symbol: str, *, excluding_trade: int = 0) -> OpenState:
        """The open state of (account, symbol) as stored, with its latest event time (`excluding_trade` left out)."""
        rows = self.conn.execute(
            _OPEN_STATE, {"symbol": symbol, "account_id": account_id, "trade_id": excluding_trade}
        ).mappings().all()
        first = rows[0]
        last = _later(_later(first["last_trade"], first["last_split"]),
                      _later(first["last_transfer"], first["last_change"]))
        return self._restore(account_id, symbol, rows, last)

    def load_open(self, account_id: int, symbol: str, last_executed: datetime | None) -> OpenState:
        """The symbol's open state, for a caller that knows its latest trade time already.

        The trades table is not read: a bulk import calls this while that table's secondary
        indexes are dropped (it takes the times from `last_trade_times` first).
        """
        rows = self.conn.execute(_OPEN_RUN, {"symbol": symbol, "account_id": account_id}).mappings().all()
        return self._restore(account_id, symbol, rows, last_executed)

    def _restore(
        self, account_id: int, symbol: str, rows: Sequence[Mapping[Any, Any]], last_executed: datetime | None
    ) -> OpenState:
        """The open state from the rows of `_OPEN_STATE` or `_OPEN_RUN` (position columns, lot columns)."""
        position = rows[0] if rows and rows[0]["id"] is not None else None
        stored = [{name: row[f"lot_{name}"] for name in _LOT_FIELDS} for row in rows if row["lot_id"] is not None]
        book = Book.restore(
            symbol, self.method,
            [LedgerLot(position["side"], lot["quantity"], lot["amount"], lot["opened_at"], lot["trade_id"])
             for lot in stored] if position else [],
            realized_pnl=position["realized_pnl"] if position else ZERO,
            opened_at=position["opened_at"] if position else None,
            last_executed_at=last_executed,
            costs=position["costs"] if position else ZERO,
        )
        return OpenState(book, PositionState.of(position) if position else None, stored, account_id)

    def last_event_times(self) -> dict[tuple[int, str], datetime]:
        """Every (account, symbol)'s latest booked event (trade or split), in two grouped reads (for `load_open`).

        A symbol's split counts for every account that traded it before.
        """
        splits = {symbol: last for symbol, last in self.conn.execute(_LAST_SPLIT_TIMES)}
        for old_symbol, new_symbol, at in self.conn.execute(_LAST_CHANGE_TIMES):
            for name in (old_symbol, new_symbol):
                splits[name] = _later(splits.get(name), at)
        times: dict[tuple[int, str], datetime] = {
            (account_id, symbol): _later(last, splits.get(symbol))  # type: ignore[misc]
            for account_id, symbol, last in self.conn.execute(_LAST_TRADE_TIMES)
        }
        for symbol, from_id, to_id, at in self.conn.execute(_LAST_TRANSFER_TIMES):
            for key in ((from_id, symbol), (to_id, symbol)):
                times[key] = _later(times.get(key), at)  # type: ignore[assignment]
        return times

    def save_closed(self, runs: Sequence[PositionState], *, count_totals: bool = True) -> None:
        """Store runs that closed: a stored run is updated (its lots deleted), a new one inserted.

        `count_totals=False` leaves the closed-run totals alone (a whole-ledger rebuild
        recomputes them at the end).
        """
        if not runs:
            return
        stored = [run for run in runs if run.id is not None]
        if stored:
            self.conn.execute(_DELETE_POSITION_LOTS, {"position_ids": [run.id for run in stored]})
            self.conn.execute(_UPDATE_POSITION, [run.update_params() for run in stored])
        new = [(run.symbol, run.side, run.quantity, run.open_cost, run.avg_entry_price, run.realized_pnl, run.costs,
                run.status, run.opened_at, run.closed_at, run.strategy_id, run.account_id)
               for run in runs if run.id is None]
        if new:
            self._writer(POSITIONS, _POSITION_FIELDS).insert(new)
        if count_totals:
            totals.apply(self.conn, totals.of_runs(runs))

    def save_open(self, state: OpenState) -> None:
        """Store the open run and its lots (nothing when the symbol is flat)."""
        run = state.run
        if run is None:
            return
        settle(run, state.book)
        if run.id is None:
            run.id = self.conn.execute(_INSERT_POSITION, run.values()).scalar_one()
            self._insert_lots(run.id, state.book.lots, first_seq=0)
        else:
            self.conn.execute(_UPDATE_POSITION, run.update_params())
            self._sync_lots(run.id, state.stored_lots, state.book)
        state.stored_lots = []  # now out of date; a state is saved once

    def set_realized(self, changes: Sequence[dict[str, Any]]) -> None:
        """Store trades' realized P&L: dicts of `trade_id` and `realized`."""
        if changes:
            self.conn.execute(_SET_REALIZED, list(changes))

    def shares_of(
        self, trade_id: int, closed: Sequence[ClosedPortion], strategy_of: Mapping[object, int | None]
    ) -> list[dict[str, Any]]:
        """The `realized_shares` rows of an untagged closing trade (docs/ledger.md §8.3): none when
        every lot it closed was opened without a strategy.

        `strategy_of` holds the strategies of the opening trades the caller has seen (a replay
        or an import knows them); the others are read by primary key, in one query.
        """
        missing = [portion.trade_id for portion in closed
                   if portion.trade_id is not None and portion.trade_id not in strategy_of]
        known: Mapping[object, int | None] = strategy_of
        if missing:
            known = {**strategy_of, **{row[0]: row[1] for row in self.conn.execute(_TRADE_STRATEGIES, {"trade_ids": missing})}}
        shares = realized_by_opener(closed, known.get)
        if all(strategy_id is None for strategy_id in shares):
            return []
        return [{"trade_id": trade_id, "strategy_id": strategy_id, "realized_pnl": realized}
                for strategy_id, realized in shares.items()]

    def save_shares(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store `realized_shares` rows (from `shares_of`)."""
        if rows:
            self._writer(SHARES, _SHARE_COLUMNS).insert(
                [(row["trade_id"], row["strategy_id"], row["realized_pnl"]) for row in rows])

    def save_closings(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store `lot_closings` rows (from `closings_of`), straight to the driver: a rebuild
        writes one per closed portion of the whole history (docs/ledger.md §17.3)."""
        if not rows:
            return
        if self._closings_writer is None:
            self._closings_writer = BulkInserter(self.conn, CLOSINGS, CLOSING_COLUMNS,
                                                 unique=("proceeds", "cost", "realized_pnl"))
        self._closings_writer.insert(rows)

    def _insert_lots(self, position_id: int, lots: Iterable[LedgerLot], *, first_seq: int) -> None:
        rows = [(position_id, lot.trade_id, seq, lot.quantity, lot.amount, lot.opened_at)
                for seq, lot in enumerate(lots, first_seq)]
        if rows:
            self._writer(LOTS, _LOT_COLUMNS).insert(rows)

    def _writer(self, table: Table, columns: Sequence[str]) -> BulkInserter:
        """The store's bulk writer of `table` (made on first use; see storage/bulk.py)."""
        writer = self._writers.get(table.name)
        if writer is None:
            writer = self._writers[table.name] = BulkInserter(self.conn, table, columns)
        return writer

    def _sync_lots(self, position_id: int, stored: Sequence[dict[str, Any]], book: Book) -> None:
        """Bring a position's stored lots in line with the book, touching only lots that changed.

        A lot is known by its opening trade. Booking one fill changes at most the lots it
        closes and the one it opens, so this costs O(changed lots), not O(open lots). New lots
        take the next `seq`, which keeps `seq` in time order.
        """
        by_trade = {lot["trade_id"]: lot for lot in stored}
        new_lots = []
        for lot in book.lots:
            row = by_trade.pop(lot.trade_id, None)
            if row is None:
                new_lots.append(lot)
            elif (row["quantity"], row["amount"]) != (lot.quantity, lot.amount):
                self.conn.execute(_UPDATE_LOT, {"lot_id": row["id"], "new_quantity": lot.quantity,
                                                "new_amount": lot.amount})
        if by_trade:
            self.conn.execute(_DELETE_LOTS, {"lot_ids": [row["id"] for row in by_trade.values()]})
        self._insert_lots(position_id, new_lots, first_seq=max((lot["seq"] for lot in stored), default=-1) + 1)

    # -- booking ----------------------------------------------------------------------------

    def book_trade(
        self, account_id: int, symbol: str, trade_id: int, fill: Fill, strategy_id: int | None, *, allow_short: bool
    ) -> Decimal | None:
        """Book a trade that was just inserted; returns the realized P&L it produced (None: it closed nothing).

        A trade dated before the symbol's latest trade re-books the whole symbol so lots
        follow time order (docs/ledger.md); otherwise only the open run is resumed and updated.
        """
        state = self.load(account_id, symbol, excluding_trade=trade_id)
        last = state.book.last_executed_at
        if last is not None and fill.executed_at < last:
            symbols = rebookings.symbols_rebooked_with(self.conn, symbol)
            before = rebookings.realized_by_symbol(self.conn, symbols)
            self.replay(symbol, new_trade_ids={trade_id}, allow_short=allow_short)
            self.rebooked = rebookings.changes(before, rebookings.realized_by_symbol(self.conn, symbols))
            return self.conn.execute(_TRADE_REALIZED, {"trade_id": trade_id}).scalar()
        booking, closed = state.apply(fill, strategy_id, allow_short=allow_short)
        shares: list[dict[str, Any]] = []
        if booking.realized_pnl is not None:
            self.set_realized([{"trade_id": trade_id, "realized": booking.realized_pnl}])
            if strategy_id is None:
                shares = self.shares_of(trade_id, booking.closed, {})
                self.save_shares(shares)
        deltas = strategy_totals.Deltas()
        deltas.trade(strategy_id, symbol, account_id, fill.commission, fill.fees, booking.realized_pnl, shares)
        strategy_totals.apply(self.conn, deltas)
        if booking.closed:
            self.save_closings(closings_of(account_id, symbol, fill, booking.closed))
        if closed is not None:
            self.save_closed([closed])
        self.save_open(state)
        return booking.realized_pnl

    def replay(
        self, symbol: str, *, new_trade_ids: Container[int] = (), allow_short: bool = True, cleared: bool = False
    ) -> None:
        """Re-book a symbol from its trades: its positions, lots and per-trade realized P&L.

        Trades booked before were accepted once and replay with shorting allowed; new trades
        (`new_trade_ids`: a back-dated entry, an import) must pass the shorting rule at their
        place in time. A refusal raises BookingError naming the trade.

        `cleared`: a whole-ledger rebuild has deleted every position and lot already, and
        recomputes the closed-run totals at the end; otherwise the symbol's positions and lots
        are replaced here and the totals follow the change.
        """
        conn = self.conn
        if not cleared:
            totals.apply(conn, totals.negated(totals.from_positions(conn, POSITIONS.c.symbol == symbol)))
            conn.execute(_DELETE_SYMBOL_STRATEGY_TOTALS, {"symbol": symbol})
            conn.execute(_DELETE_SYMBOL_SHARES, {"symbol": symbol})
            conn.execute(_DELETE_SYMBOL_CLOSINGS, {"symbol": symbol})
            conn.execute(_DELETE_SYMBOL_LOTS, {"symbol": symbol})
            conn.execute(_DELETE_SYMBOL_POSITIONS, {"symbol": symbol})
        states: dict[int, OpenState] = {}
        finished: list[PositionState] = []
        realized_changes: list[dict[str, Any]] = []
        strategy_of: dict[object, int | None] = {}  # every trade of the symbol so far
        untagged_closes: list[tuple[int, list[ClosedPortion]]] = []
        closings: list[tuple[Any, ...]] = []
        booked: list[tuple[int, int | None, int, Decimal, Decimal, Decimal | None]] = []  # for the strategy totals
        events = self._other_events(symbol)
        next_event = 0
        for trade_id, side, quantity, price, commission, fees, executed_at, strategy_id, stored_realized, account_id \
                in symbol_trades(conn, symbol, live_only=self.live_only):
            while next_event < len(events) and (events[next_event][0], events[next_event][1]) <= (executed_at, _TRADE):
                self._corporate_event(symbol, states, events[next_event], finished)
                next_event += 1
            state = states.get(account_id)
            if state is None:
                state = states[account_id] = OpenState(Book(symbol, self.method), None, [], account_id)
            fill = Fill(side, quantity, price, commission, fees, executed_at, trade_id)
            try:
                booking, closed = state.apply(
                    fill, strategy_id, allow_short=allow_short or trade_id not in new_trade_ids
                )
            except LedgerError as exc:
                raise BookingError(trade_id, str(exc)) from None
            strategy_of[trade_id] = strategy_id
            if booking.closed:
                closings += closings_of(account_id, symbol, fill, booking.closed)
                if strategy_id is None:
                    untagged_closes.append((trade_id, booking.closed))
            if closed is not None:
                finished.append(closed)
            if booking.realized_pnl != stored_realized:
                realized_changes.append({"trade_id": trade_id, "realized": booking.realized_pnl})
            booked.append((trade_id, strategy_id, account_id, commission, fees, booking.realized_pnl))
        for event in events[next_event:]:
            self._corporate_event(symbol, states, event, finished)
        self.save_closed(finished, count_totals=not cleared)
        self.set_realized(realized_changes)
        shares = {trade_id: self.shares_of(trade_id, closed, strategy_of) for trade_id, closed in untagged_closes}
        self.save_shares([row for rows in shares.values() for row in rows])
        deltas = strategy_totals.Deltas()
        for trade_id, strategy_id, account_id, commission, fees, realized in booked:
            deltas.trade(strategy_id, symbol, account_id, commission, fees, realized, shares.get(trade_id, ()))
        strategy_totals.apply(conn, deltas)
        self.save_closings(closings)
        for state in states.values():
            self.save_open(state)
        if not cleared:  # the new name's positions start from this symbol's lots at the change
            for new_symbol in conn.execute(_RENAMED_TO, {"symbol": symbol}).scalars():
                self.replay(new_symbol)

    def holding_at(self, account_id: int, symbol: str, at: datetime, *, through: bool = False) -> Decimal:
        """The signed quantity (negative when short) of (account, symbol) at `at`, before its trades.

        Splits and symbol changes at `at` itself count (they apply from the start of their
        day, before that moment's trades); with `through`, the trades and transfers at `at`
        count too. Replays the symbol in memory, the
        way `replay` books it, and writes nothing: for questions about the past (shares held
        at a dividend's ex-date, the fraction a split left), not the hot path.
        """
        state = self._states_at(symbol, at, _TRANSFER + 1 if through else _TRADE).get(account_id)
        return state.book.signed_quantity if state is not None else ZERO

    def _states_at(
        self, symbol: str, at: datetime, before_rank: int, *, starts: Mapping[int, datetime] | None = None,
        default_start: datetime | None = None, on_fill: FillHook | None = None,
    ) -> dict[int, OpenState]:
        """Every account's book of the symbol after the events before `at` and those at `at`
        ranked below `before_rank` (`_SPLIT` < `_RENAME` < `_TRADE` < `_TRANSFER`), in memory.

        With `starts` (account id -> a moment at which that account's book is flat before the
        moment's trades; `default_start` for the accounts not named), each account's trades
        before its start are left out, so a question about one year need not replay the whole
        history. Only for symbols without share transfers or symbol changes, whose lots can
        arrive without a trade: `replay_window` checks that. `on_fill` sees each booked trade;
        with it, only the books are kept (the states have no runs, so no strategies).
        """
        states: dict[int, OpenState] = {}
        events = self._other_events(symbol)
        first = None
        if starts is not None:
            assert default_start is not None
            first = min([default_start, *starts.values()])
            events = [event for event in events if event[0] >= first]
        # The trades stream in booking order and the few other events are merged in, as `replay` does.
        next_event = 0
        for trade in symbol_trades(self.conn, symbol, since=first, until=at, live_only=self.live_only):
            trade_id, side, quantity, price, commission, fees, executed_at, strategy_id, _realized, owner = trade
            while next_event < len(events) and (events[next_event][0], events[next_event][1]) <= (executed_at, _TRADE):
                if not self._event_before(events[next_event], at, before_rank, states, symbol):
                    return states
                next_event += 1
            if executed_at > at or (executed_at == at and _TRADE >= before_rank):
                return states
            if starts is not None and executed_at < starts.get(owner, default_start):
                continue
            state = states.get(owner)
            if state is None:
                state = states[owner] = OpenState(Book(symbol, self.method), None, [], owner)
            fill = Fill(side, quantity, price, commission, fees, executed_at, trade_id)
            if on_fill is None:
                state.apply(fill, strategy_id, allow_short=True)
            else:  # the caller wants what each fill closed, not the runs (their strategies): the book alone
                on_fill(owner, fill, state.book.apply(fill, allow_short=True))
        for event in events[next_event:]:
            if not self._event_before(event, at, before_rank, states, symbol):
                break
        return states

    def _event_before(
        self, event: tuple[datetime, int, Any], at: datetime, before_rank: int, states: dict[int, OpenState],
        symbol: str,
    ) -> bool:
        """Apply a split, symbol change or transfer of an in-memory replay if it comes before (`at`,
        `before_rank`); False (nothing applied) when it does not."""
        moment, rank, _row = event
        if moment > at or (moment == at and rank >= before_rank):
            return False
        self._corporate_event(symbol, states, event, [])
        return True

    def replay_window(
        self, symbol: str, until: datetime, *, inclusive: bool, starts: Mapping[int, datetime] | None = None,
        default_start: datetime | None = None, on_fill: FillHook | None = None,
    ) -> dict[int, OpenState]:
        """Every account's book of the symbol at `until` (after its events when `inclusive`, else
        before them), replayed in memory as `replay` books it; writes nothing.

        `starts`/`default_start` (see `_states_at`) let the replay begin where each account's
        book was flat; they are ignored, and the whole history replayed, when the symbol has a
        share transfer or a symbol change (lots that arrive without a trade). For reports
        about the past: holdings at a date, the lot portions closed in a year (docs/ledger.md §17).
        """
        if starts is not None and any(rank in (_RENAME, _TRANSFER) for _at, rank, _row in self._other_events(symbol)):
            starts = default_start = None
        return self._states_at(symbol, until, _TRANSFER + 1 if inclusive else _SPLIT, starts=starts,
                               default_start=default_start, on_fill=on_fill)

    def bookings(self, symbol: str) -> list[tuple[int, int | None, int, Booking]]:
        """Every trade of `symbol` booked again in memory, in booking order, as (trade id, the
        trade's strategy id, account id, its booking); writes nothing.

        The bookings' closed portions name the trades that opened the lots they closed: what
        the attribution of realized P&L to strategies needs (docs/ledger.md §8.3).
        """
        states: dict[int, OpenState] = {}
        events = self._other_events(symbol)
        events += [(trade[6], _TRADE, trade) for trade in symbol_trades(self.conn, symbol, live_only=self.live_only)]
        events.sort(key=lambda event: (event[0], event[1]))  # stable: trades keep their (time, id) order
        result: list[tuple[int, int | None, int, Booking]] = []
        for moment, rank, event in events:
            if rank != _TRADE:
                self._corporate_event(symbol, states, (moment, rank, event), [])
                continue
            trade_id, side, quantity, price, commission, fees, executed_at, strategy_id, _realized, owner = event
            state = states.get(owner)
            if state is None:
                state = states[owner] = OpenState(Book(symbol, self.method), None, [], owner)
            booking, _closed = state.apply(Fill(side, quantity, price, commission, fees, executed_at, trade_id),
                                           strategy_id, allow_short=True)
            result.append((trade_id, strategy_id, owner, booking))
        return result

    def _other_events(self, symbol: str) -> list[tuple[datetime, int, Any]]:
        """A symbol's booking events other than its trades, in booking order.

        At one moment: splits first, then a symbol change (from the start of its day), then
        that moment's trades, then share transfers (docs/ledger.md §12).
        """
        conn = self.conn
        events: list[tuple[datetime, int, Any]] = [
            (split.at, _SPLIT, split) for split in conn.execute(_SYMBOL_SPLITS, {"symbol": symbol})
        ]
        events += [(change.at, _RENAME, change) for change in conn.execute(_SYMBOL_CHANGES, {"symbol": symbol})]
        events += [(move.at, _TRANSFER, move) for move in conn.execute(_SYMBOL_TRANSFERS, {"symbol": symbol})]
        events.sort(key=lambda event: (event[0], event[1]))
        return events

    def _corporate_event(
        self, symbol: str, states: dict[int, OpenState], event: tuple[datetime, int, Any],
        finished: list[PositionState],
    ) -> None:
        """Apply a split, a symbol change or a share transfer to the books of a replay."""
        at, kind, row = event
        if kind == _SPLIT:
            for state in states.values():
                state.book.split(row.numerator, row.denominator, row.at)
        elif kind == _RENAME and row.old_symbol == symbol:
            for state in states.values():  # every run ends here; the lots go on under the new name
                average = state.book.avg_entry_price
                _lots, closed_run = state.book.take_all(at)
                _end_run(state, average, closed_run, at, finished)
        elif kind == _RENAME:
            for account_id, old in self._states_at(row.old_symbol, at, _RENAME).items():
                if old.book.is_flat:
                    continue
                target = states.get(account_id)
                if target is None:
                    target = states[account_id] = OpenState(Book(symbol, self.method), None, [], account_id)
                side = old.book.side
                strategy_id = old.run.strategy_id if old.run is not None else None
                target.book.receive(old.book.take_all(at)[0], at)
                _start_run(target, symbol, side or "long", at, strategy_id)
        else:
            self._transfer(symbol, states, at, row, finished)

    def _transfer(
        self, symbol: str, states: dict[int, OpenState], at: datetime, row: Any, finished: list[PositionState]
    ) -> None:
        source = states.get(row.from_account_id)
        if source is None:
            raise BookingError(0, f"transfer {row.id}: no {symbol} held in the source account")
        average = source.book.avg_entry_price
        try:
            lots, closed_run = source.book.transfer_out(row.quantity, at)
        except LedgerError as exc:
            raise BookingError(0, f"transfer {row.id}: {exc}") from None
        strategy_id = source.run.strategy_id if source.run is not None else None
        _end_run(source, average, closed_run, at, finished)
        target = states.get(row.to_account_id)
        if target is None:
            target = states[row.to_account_id] = OpenState(Book(symbol, self.method), None, [], row.to_account_id)
        try:
            target.book.transfer_in(lots, at)
        except LedgerError as exc:
            raise BookingError(0, f"transfer {row.id}: {exc}") from None
        _start_run(target, symbol, "long", at, strategy_id)

    def rebuild_all(self) -> int:
        """Recompute every position, lot, closed-run total, realized share, closed lot portion and
        strategy total from the trades; the number of symbols.

        The caller holds the ledger lock (`lock_ledger`).
        """
        symbols = sorted(set(self.conn.execute(_SYMBOLS).scalars()) | set(self.conn.execute(_NEW_NAMES).scalars()))
        self.conn.execute(delete(tables.strategy_totals))
        self.conn.execute(delete(SHARES))
        self.conn.execute(delete(CLOSINGS))
        self.conn.execute(delete(LOTS))
        self.conn.execute(delete(POSITIONS))
        for symbol in symbols:
            self.replay(symbol, cleared=True)
        totals.recompute(self.conn)
        return len(symbols)


def closings_of(account_id: int, symbol: str, fill: Fill, closed: Sequence[ClosedPortion]) -> list[tuple[Any, ...]]:
    """The `lot_closings` rows (values in CLOSING_COLUMNS order) of the portions a fill closed,
    with the figures of `ledger/realized.py` (docs/ledger.md §17.3). Tuples, not dicts: an
    import or a rebuild makes one per closed portion."""
    closing_long = fill.side == SELL
    side = LONG if closing_long else SHORT
    trade_id, closed_at = fill.trade_id, fill.executed_at
    return [(trade_id, seq, portion.trade_id if isinstance(portion.trade_id, int) else None, account_id, symbol, side,
             portion.quantity, portion.opened_at, closed_at, *figures(portion, closing_long=closing_long))
            for seq, portion in enumerate(closed)]


def _end_run(
    state: OpenState, average: Decimal | None, closed_run: RunSummary | None, at: datetime,
    finished: list[PositionState],
) -> None:
    """Close the open run of a book that a transfer or a symbol change left flat (nothing realized)."""
    run = state.run
    if closed_run is None or run is None:
        return
    run.avg_entry_price, run.status, run.closed_at = average, "closed", at
    run.realized_pnl, run.costs = closed_run.realized_pnl, closed_run.costs
    run.quantity = run.open_cost = ZERO
    finished.append(run)
    state.run, state.stored_lots = None, []


def _start_run(state: OpenState, symbol: str, side: str, at: datetime, strategy_id: int | None) -> None:
    """Open a run for lots that arrived in a flat book (from a transfer or a symbol change)."""
    if state.run is None and not state.book.is_flat:
        state.run = PositionState(
            symbol=symbol, side=side, quantity=ZERO, open_cost=ZERO, avg_entry_price=None, realized_pnl=ZERO,
            costs=ZERO, status="open", opened_at=at, closed_at=None, strategy_id=strategy_id,
            account_id=state.account_id,
        )


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first if second is None else second
    return max(first, second)


_DRIVER_SYMBOL_TRADES = (
    "SELECT id, side, quantity, price, commission, fees, executed_at, strategy_id, realized_pnl, account_id FROM trades "
    "WHERE symbol = {mark}{live}{range} ORDER BY executed_at, id"
)


def symbol_trades(
    conn: Connection, symbol: str, *, since: datetime | None = None, until: datetime | None = None,
    live_only: bool = True,
) -> Iterator[tuple[Any, ...]]:
    """A symbol's live trades in booking order, as (id, side, quantity, price, commission, fees,
    executed_at, strategy_id, realized_pnl, account_id) tuples of Decimals and UTC datetimes;
    only those with `since <= executed_at <= until` when either is given (an index range scan).
    `live_only=False` includes voided trades: for databases from before migration 0008, which
    have no `voided_at` column (see `BookingStore`).

    The rows come from the driver and are converted with the conversion table of `types.py`:
    a rebuild reads every trade, and SQLAlchemy's per-value result processing would cost
    more than the booking.
    """
    name = conn.dialect.name
    number = driver_conversion(TRADES.c.quantity.type, name).from_driver
    times = driver_conversion(TRADES.c.executed_at.type, name)
    mark = driver_mark(conn)
    conditions, params = "", [symbol]
    for bound, operator in ((since, ">="), (until, "<=")):
        if bound is not None:
            conditions += f" AND executed_at {operator} {mark}"
            params.append(times.to_driver(bound))
    live = f" AND {tables.LIVE_TRADE_SQL}" if live_only else ""
    query = _DRIVER_SYMBOL_TRADES.format(mark=mark, live=live, range=conditions)
    with driver_rows(conn, query, params) as rows:
        yield from _converted(rows, number, times.from_driver)


def _converted(
    rows: Iterable[tuple[Any, ...]], number: Callable[[Any], Decimal], moment: Callable[[Any], datetime]
) -> Iterator[tuple[Any, ...]]:
    for trade_id, side, quantity, price, commission, fees, executed_at, strategy_id, realized, account_id in rows:
        yield (trade_id, side, number(quantity), number(price), number(commission), number(fees), moment(executed_at),
               strategy_id, None if realized is None else number(realized), account_id)
