"""The ledger at a moment in the past, and the lot portions closed in a period, replayed in memory.

Nothing here is stored: positions as of a date and realized gains lot by lot are derived
from the trades by the booking store's own replay (`BookingStore.replay_window`, the code
that books every trade), so they cannot disagree with the stored positions. The rules are
docs/ledger.md §17. (`report realized` reads the portions booking stores in `lot_closings`
instead, §17.3; `closed_lots` stays as the independent replay they are tested against.)

Replaying a symbol's whole history for a question about one day would cost as much as a
rebuild. The stored runs (positions, flat to flat) say where it can start instead: an
account's book of a symbol is flat just before the opening of a run that did not open at the
moment the previous run closed, so the replay of that account begins at the opening of the
run open at the start of the period (or of the first run of an unbroken chain of runs that
flip into each other at one moment). A symbol with share transfers or symbol changes, whose
lots arrive without a trade, is replayed from its beginning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import Connection

from stocksbot.ledger import Book, Booking, ClosedPortion, Fill
from stocksbot.storage import tables
from stocksbot.storage.booking import BookingStore, OpenState
from stocksbot.storage.database import driver_mark, driver_rows
from stocksbot.storage.types import driver_conversion

POSITIONS = tables.positions
#: Later than any stored moment: "the whole history".
END_OF_TIME = datetime(9999, 12, 31, tzinfo=timezone.utc)

#: (account id, symbol)
Pair = tuple[int, str]


class Run(NamedTuple):
    """The boundaries of a stored run (a positions row). A named tuple: `runs_by_pair` makes
    one per stored run (over 70,000 on the benchmark database)."""

    id: int
    account_id: int
    symbol: str
    opened_at: datetime
    closed_at: datetime | None
    strategy_id: int | None


@dataclass(frozen=True)
class HeldRun:
    """An (account, symbol)'s open run at a moment: the stored run and its book as it was then."""

    run: Run
    book: Book
    strategy_id: int | None


class ClosedLot(NamedTuple):
    """One lot portion a trade closed (docs/ledger.md §4.3), with the trade and the symbol it belongs to.

    A named tuple: a year's report makes one per portion (over 100,000 on the benchmark database).
    """

    account_id: int
    symbol: str
    fill: Fill
    portion: ClosedPortion
    sequence: int  # the portion's place among the fill's portions


def runs_by_pair(conn: Connection, until: datetime | None = None) -> dict[Pair, list[Run]]:
    """Every stored run (opened at or before `until` when given), per (account, symbol), oldest first.

    Read straight from the driver with the conversion table of `types.py`: every as-of
    question reads every run, and a SQLAlchemy result would process each time twice.
    """
    name = conn.dialect.name
    times = driver_conversion(POSITIONS.c.opened_at.type, name)
    where, params = ("", []) if until is None else (f" WHERE opened_at <= {driver_mark(conn)}", [times.to_driver(until)])
    query = (f"SELECT id, account_id, symbol, opened_at, closed_at, strategy_id FROM positions{where} "
             "ORDER BY account_id, symbol, opened_at, id")
    read = times.from_driver
    runs: dict[Pair, list[Run]] = defaultdict(list)
    with driver_rows(conn, query, params) as rows:
        for run_id, account_id, symbol, opened_at, closed_at, strategy_id in rows:
            runs[(account_id, symbol)].append(Run(run_id, account_id, symbol, read(opened_at),
                                                  None if closed_at is None else read(closed_at), strategy_id))
    return runs


def flat_start(runs: list[Run], index: int) -> datetime:
    """A moment at which the pair's book was flat before that moment's trades, from which
    replaying reaches `runs[index]`: its opening, or that of the first run of an unbroken
    chain of runs each opened at the moment the previous one closed (a flip)."""
    while index > 0:
        previous = runs[index - 1].closed_at
        if previous is None or previous < runs[index].opened_at:
            break
        index -= 1
    return runs[index].opened_at


def _open_at(runs: list[Run], at: datetime, *, strictly_before: bool) -> int | None:
    """The index of the run open at `at` (after that moment's events; with `strictly_before`, just before them)."""
    for index in range(len(runs) - 1, -1, -1):
        run = runs[index]
        opened = run.opened_at < at if strictly_before else run.opened_at <= at
        if not opened:
            continue
        closed = run.closed_at
        if closed is None or (closed >= at if strictly_before else closed > at):
            return index
        return None  # the latest run that opened by then had closed: flat
    return None


class History:
    """Questions about the past of the ledger, answered by replaying it in memory (module docstring)."""

    def __init__(self, conn: Connection, method: str) -> None:
        self.conn = conn
        self.store = BookingStore(conn, method)

    def held_at(self, at: datetime) -> list[HeldRun]:
        """Every (account, symbol) run open at `at` (its events included), with its book as it was then."""
        runs = runs_by_pair(self.conn, at)
        starts: dict[str, dict[int, datetime]] = defaultdict(dict)
        open_runs: dict[Pair, Run] = {}
        for (account_id, symbol), pair_runs in runs.items():
            index = _open_at(pair_runs, at, strictly_before=False)
            if index is not None:
                starts[symbol][account_id] = flat_start(pair_runs, index)
                open_runs[(account_id, symbol)] = pair_runs[index]
        held = []
        for symbol in sorted(starts):
            by_account = starts[symbol]
            states = self.store.replay_window(symbol, at, inclusive=True, starts=by_account,
                                              default_start=at)
            for account_id, state in sorted(states.items()):
                run = open_runs.get((account_id, symbol))
                if run is None or state.book.is_flat:
                    continue
                held.append(HeldRun(run, state.book, _strategy(state, run)))
        return held

    def closed_lots(
        self, since: datetime | None = None, until: datetime | None = None, account_id: int | None = None
    ) -> list[ClosedLot]:
        """The lot portions closed by trades with `since <= executed_at < until` (the whole history
        without bounds), of one account or all, in the order they were closed."""
        end = until if until is not None else END_OF_TIME
        runs = runs_by_pair(self.conn, end)
        starts: dict[str, dict[int, datetime]] = defaultdict(dict)
        for (owner, symbol), pair_runs in runs.items():
            if account_id is not None and owner != account_id:
                continue
            if since is None:
                starts[symbol][owner] = pair_runs[0].opened_at
                continue
            if not any(run.closed_at is None or run.closed_at >= since for run in pair_runs):
                continue  # flat through the period: nothing closed in it
            index = _open_at(pair_runs, since, strictly_before=True)
            starts[symbol][owner] = flat_start(pair_runs, index) if index is not None else since
        found: list[ClosedLot] = []
        for symbol in sorted(starts):
            found.extend(self._closed_in(symbol, starts[symbol], since, end, account_id))
        found.sort(key=lambda lot: (lot.fill.executed_at, _order(lot.fill.trade_id), lot.sequence))
        return found

    def _closed_in(
        self, symbol: str, starts: dict[int, datetime], since: datetime | None, until: datetime,
        account_id: int | None,
    ) -> Iterable[ClosedLot]:
        found: list[ClosedLot] = []

        def collect(owner: int, fill: Fill, booking: Booking) -> None:
            closed = booking.closed
            if not closed or (account_id is not None and owner != account_id):
                return
            if since is not None and fill.executed_at < since:
                return
            if len(closed) == 1:
                found.append(ClosedLot(owner, symbol, fill, closed[0], 0))
            else:
                found.extend([ClosedLot(owner, symbol, fill, portion, sequence)
                              for sequence, portion in enumerate(closed)])

        # Accounts not named start at the end: their trades in the period are not read.
        self.store.replay_window(symbol, until, inclusive=False, starts=starts,
                                 default_start=until if account_id is not None else (since or until),
                                 on_fill=collect)
        return found


def _strategy(state: OpenState, run: Run) -> int | None:
    """The run's strategy: the replayed run's (the fill that opened it), else the stored run's."""
    return state.run.strategy_id if state.run is not None else run.strategy_id


def _order(trade_id: Any) -> int:
    return trade_id if isinstance(trade_id, int) else 0
