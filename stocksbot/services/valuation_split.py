"""The daily valuation in two processes, each replaying half of the symbols (docs/ledger.md §18.8).

A day's value is a sum over the symbols held plus cash, and its flows, income and costs are
sums over the events: all of it adds up over a partition of the symbols. So on a large SQLite
ledger `performance` forks a second process that replays the trades, bars, splits, symbol
changes and share transfers of half of the symbols (`second_part`) and hands each day over
as it is, per currency (`daily_values.Share`); the first process replays the rest, with the
cash movements, dividends and exchange-rate bars, and adds the second's day into its own
before converting and writing it down. On two idle cores that takes about 0.65 of the time
of one process (BENCHMARKS.md, thirteenth round), with the same numbers to the last digit:
every sum is exact.

Both processes must read one state of the ledger. SQLite's snapshots cannot be shared
between connections, so the first holds the write lock (`UnitOfWork.writers_held`) from
before its first read until the second has begun reading: no commit can fall between them.

One process does it all on PostgreSQL (the server does the reading, on the same machine),
for a strategy (its runs follow trades of every symbol in order), inside an open
transaction (the second process could not see its writes), where `os.fork` is missing or
only one CPU is there, in a program running other threads (a fork copies only the calling
thread, and a lock another one held would stay locked in the copy), when another writer
has the lock, and below `TWO_PROCESS_MIN_TRADES`, where starting the second costs more than
it saves.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, BinaryIO

from sqlalchemy import func, select

from stocksbot.errors import StocksbotError
from stocksbot.services.daily_values import DailyValuation, Share
from stocksbot.storage import tables
from stocksbot.storage.events import RENAME, SPLIT, TRANSFER, Keyed
from stocksbot.storage.streams import SymbolPart, bar_rows, trade_rows, traded_symbols
from stocksbot.storage.unit_of_work import UnitOfWork, database_errors

#: Below this many trades (the highest trade id, a cheap bound) one process values everything.
TWO_PROCESS_MIN_TRADES = 100_000
#: Days the second process sends at a time: the first waits for the first message (a few days'
#: work), and each message costs a pickle and a write.
_DAYS_PER_MESSAGE = 16
_SYMBOL_EVENTS = (SPLIT, RENAME, TRANSFER)

Others = Sequence[Keyed]


def _cpus() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def may_split(uow: UnitOfWork, strategy: str | None) -> bool:
    """Whether a pass could run in two processes (see the module docstring). Reads the size of
    the ledger on a connection of its own: the pass's own reads must begin inside the hold."""
    if not (strategy is None and uow.target.sqlite_path is not None and hasattr(os, "fork")
            and threading.active_count() == 1 and _cpus() > 1):
        return False
    with uow.reading() as conn:
        last_id = conn.execute(select(func.max(tables.trades.c.id))).scalar()
    return last_id is not None and last_id >= TWO_PROCESS_MIN_TRADES


def second_part(conn: Any, others: Others) -> SymbolPart | None:
    """The symbols the second process values, or None when one process should value them all.

    The upper half of the names of the symbols that were traded or changed, from the median
    on (`SymbolPart`), except that the symbols of one chain of symbol changes stay together (a
    change moves a holding from one to the other: a chain that would straddle the median is
    moved to the first whole) and that pairs such as EUR/USD, which the first process reads
    as exchange rates, stay with the first."""
    chains: dict[str, str] = {}  # symbol -> a symbol of its chain (union-find)

    def root(symbol: str) -> str:
        while chains.get(symbol, symbol) != symbol:
            symbol = chains[symbol]
        return symbol

    symbols = set(traded_symbols(conn))
    for (_at, kind, _id), change in others:
        if kind == RENAME:  # a new symbol may have no trade, only bars (and the holdings it took over)
            chains[root(change.old_symbol)] = root(change.new_symbol)
            symbols.update((change.old_symbol, change.new_symbol))
    names = sorted(symbol for symbol in symbols if "/" not in symbol)
    if len(names) < 2:
        return None
    start = names[len(names) // 2]
    firsts = {root(symbol) for symbol in symbols if symbol < start or "/" in symbol}
    moved = frozenset(symbol for symbol in names if symbol >= start and root(symbol) in firsts)
    if len(moved) == len(names) - len(names) // 2:
        return None  # every chain from the median on reaches below it
    return SymbolPart(start, moved, inside=True)


def split_events(others: Others, second: SymbolPart) -> tuple[list[Keyed], list[Keyed]]:
    """The other events of the first process and of the second: the symbol events of the
    second's symbols are its own; everything else (cash movements, dividends too) is the first's."""
    first: list[Keyed] = []
    theirs: list[Keyed] = []
    for item in others:
        (_at, kind, _id), event = item
        mine = kind in _SYMBOL_EVENTS and second.has(event.old_symbol if kind == RENAME else event.symbol)
        (theirs if mine else first).append(item)
    return first, theirs


class _Partner:
    """The first process's end of the pipe: the second's days, in order, one at a time."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._days: deque[Share] = deque()

    def _message(self) -> tuple[str, Any]:
        try:
            message: tuple[str, Any] = pickle.load(self._stream)
        except EOFError:
            raise StocksbotError("performance: the second valuation process stopped without an answer") from None
        if message[0] == "error":
            raise message[1]
        return message

    def ready(self) -> None:
        self._message()

    def __call__(self, day: date) -> Share:
        if not self._days:
            self._days.extend(self._message()[1])
        share = self._days.popleft()
        if share.day != day:  # both passes walk the same days; anything else is a bug
            raise RuntimeError(f"the second valuation process sent {share.day}, not {day}")
        return share


@contextmanager
def second_process(uow: UnitOfWork, valuation: DailyValuation, others: Others, firsts: Sequence[datetime],
                   until: Any, second: SymbolPart) -> Iterator[Callable[[date], Share] | None]:
    """Fork the process that values `second`'s symbols; yield, once it has begun reading, the
    function that takes its day (`DailyValuation.partner`), or None when no process could be
    started (a limit on processes): then one process values everything. The block must run
    inside the hold of `UnitOfWork.writers_held` up to that point (the module docstring)."""
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        yield None
        return
    if pid == 0:  # the second process: never returns
        os.close(read_end)
        _second(uow, valuation, others, firsts, until, second, os.fdopen(write_end, "wb"))
    os.close(write_end)
    stream = os.fdopen(read_end, "rb")
    try:
        partner = _Partner(stream)
        partner.ready()
        yield partner
    finally:
        stream.close()  # a second process still writing stops on the broken pipe
        os.waitpid(pid, 0)


def _second(uow: UnitOfWork, valuation: DailyValuation, others: Others, firsts: Sequence[datetime],
            until: Any, part: SymbolPart, stream: BinaryIO) -> None:
    """The second process: read one state of the ledger, replay its part, send its days, exit."""
    status = 1
    try:
        uow.engine.dispose(close=False)  # the first process's connections are not ours to use
        batch: list[Share] = []

        def send(share: Share) -> None:
            batch.append(share)
            if len(batch) == _DAYS_PER_MESSAGE:
                pickle.dump(("days", batch[:]), stream)
                stream.flush()
                batch.clear()

        valuation.sink = send
        try:
            with database_errors(uow.target, uow.settings), uow.engine.connect() as conn:
                conn.execute(select(tables.trades.c.id).limit(1))  # begins reading: the snapshot
                pickle.dump(("ready", None), stream)
                stream.flush()
                with trade_rows(conn, until, full=False, part=part) as trades, bar_rows(conn, until, part) as bars:
                    valuation.run(trades, bars, others, firsts)
        except StocksbotError as exc:  # one line for the user (a deadline passed, the file went away)
            pickle.dump(("error", exc), stream)
        except Exception as exc:  # a bug: the first process raises it, with the second's account of it
            pickle.dump(("error", RuntimeError(f"the second valuation process failed: {exc!r}")), stream)
        else:
            pickle.dump(("days", batch), stream)
            status = 0
        stream.flush()
    except BaseException:  # the first process stopped reading (it failed, or was interrupted)
        pass
    finally:
        os._exit(status)
