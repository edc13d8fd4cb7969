"""`trade import`: a CSV of trades into the ledger, all or nothing, in one streaming pass.

Rows are parsed, checked and booked as the file is read, and written in batches inside one
transaction. Each symbol keeps its open state from the booking store (loaded at first
sight), so a trade's realized P&L is known before it is written and nothing is read back;
memory holds one book per symbol, not the file. A row dated before an earlier trade of its
symbol (unsorted files, or history older than what is stored) switches that symbol to a
re-booking from its stored trades at the end, so lots always follow time order with the
same ledger rules as `trade add`.

Any bad row, or any trade the ledger refuses, rolls the whole transaction back and every
problem is reported as `line N: reason`. Every trade keeps a key in its external_id: the
broker's id, else a fingerprint of the row (`stocksbot.fingerprints`, the one `stocksbot
import` uses). Rows whose key is already stored are skipped and counted, so re-importing a
file is safe (docs/csv-formats.md §2.5). The format is docs/csv-formats.md §2.
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Callable, Collection, Iterator

from sqlalchemy import Connection, func, insert, select, text

from stocksbot import settings
from stocksbot.collector import collector_paused
from stocksbot.csvfiles import RowErrors, TradeRow, open_text, read_trades
from stocksbot.errors import StocksbotError
from stocksbot.fingerprints import Occurrences, fingerprint, is_fingerprint, trade_content
from stocksbot.ledger import Fill, LedgerError
from stocksbot.storage import audit, strategy_totals, tables
from stocksbot.storage.booking import BookingError, BookingStore, OpenState, PositionState, closings_of, lock_ledger
from stocksbot.storage.bulk import BulkInserter
from stocksbot.storage.cash import CashStore, CashStream
from stocksbot.storage.database import driver_connection
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork

TRADES = tables.trades
INSTRUMENTS = tables.instruments

BATCH = 2000
#: The trades table's secondary indexes, which a large import into a small table drops and
#: rebuilds (see `TradeImport.defer_indexes`). The UNIQUE external_id is a constraint, not one
#: of these: it stays, since the import looks repeated external ids up through it.
DEFERRABLE_INDEXES = tuple(sorted(TRADES.indexes, key=lambda index: str(index.name)))
#: From this many rows (estimated from the file's size) an import may defer the indexes;
#: below it, keeping them costs little and no DDL runs.
DEFER_INDEXES_MIN_ROWS = 50_000
#: Bytes a row is taken to have when estimating a file's rows: more than a typical row
#: (about 80), so the estimate errs low and indexes are deferred only when it clearly pays.
ROW_BYTES_ESTIMATE = 100
#: Backends on which indexes are deferred. Not PostgreSQL: there DROP INDEX locks `trades`
#: exclusively until the import commits, so every reader would wait for the import; SQLite's
#: readers keep their snapshot, indexes included. (The mechanism works on both; the tests
#: run it on both.)
DEFER_INDEXES_BACKENDS = frozenset({"sqlite"})
_TRADE_COLUMNS = ("id", "external_id", "side", "symbol", "quantity", "price", "commission", "fees", "executed_at",
                  "realized_pnl", "strategy_id", "note", "order_id", "created_at", "account_id", "currency")
#: What the cash of a trade needs, from a written row (in _TRADE_COLUMNS order): id, side, quantity,
#: price, commission, fees, executed_at, account_id, currency.
_CASH_FIELDS = itemgetter(0, 2, 4, 5, 6, 7, 8, 14, 15)
#: Told, after each batch, how many characters of the file have been read so far.
Progress = Callable[[int], None]


class _CountingLines:
    """The file's lines, counting the characters read (for a progress bar over the file size)."""

    def __init__(self, handle: Iterator[str]) -> None:
        self.handle = handle
        self.read = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.handle:
            self.read += len(line)
            yield line


@dataclass(frozen=True)
class ImportResult:
    imported: int
    skipped: int
    errors: int
    dry_run: bool = False
    created_strategies: tuple[str, ...] = ()
    created_accounts: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped, "errors": self.errors, "dry_run": self.dry_run,
                "created_strategies": list(self.created_strategies),
                "created_accounts": list(self.created_accounts)}


def _line_number(error: str) -> int:
    """The N of `line N: reason` (errors of a symbol as a whole sort last)."""
    head = error.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 1 << 62


class _DryRun(Exception):
    """Raised to roll back a successful dry run."""


def _batches(rows: Iterator[TradeRow | str], size: int) -> Iterator[list[TradeRow | str]]:
    batch: list[TradeRow | str] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _NewTrades:
    """The ids of this import's trades that must pass the shorting rule when re-booked: all new
    ids but those of rows that allow a short themselves (`allow_short` column)."""

    def __init__(self, ids: range, short_allowed: Collection[int]) -> None:
        self.ids = ids
        self.short_allowed = short_allowed

    def __contains__(self, trade_id: object) -> bool:
        return trade_id in self.ids and trade_id not in self.short_allowed


@dataclass
class _SymbolRun:
    """One symbol's booking during an import."""

    state: OpenState
    rebook: bool = False  # an out-of-order row: re-book the symbol from its trades at the end


class TradeImport:
    """One import run over an open transaction (that holds the ledger lock)."""

    def __init__(
        self, conn: Connection, method: str, allow_short: bool, *, expected_rows: int = 0, account: str | None = None,
        rebook: Collection[str] = (), allow_duplicates: bool = False, match_unkeyed: bool = False,
    ) -> None:
        """`expected_rows`: about how many rows the file has (decides whether indexes are deferred);
        `account`: where rows without an account column go (None: the default account);
        `rebook`: symbols booked by a re-booking at the end whatever their order (`stocksbot import`
        adds their splits before `finish`: docs/brokers.md);
        `allow_duplicates`: rows without an external_id are imported even when their fingerprint
        is stored (identical fills that are real), under the next free fingerprint;
        `match_unkeyed`: a row without a broker id whose fingerprint is not stored is also
        matched, by content, against the stored trades without any external_id (`trade add`,
        imports before fingerprints), each claimed once (docs/csv-formats.md §2.5)."""
        self.conn = conn
        self.store = BookingStore(conn, method)
        self.allow_short = allow_short
        self.errors: list[str] = []
        self.skipped = 0
        #: The lines of the rows skipped because their external_id was stored before this import.
        self.skipped_lines: list[int] = []
        self.imported = 0
        self.allow_duplicates = allow_duplicates
        self.match_unkeyed = match_unkeyed
        #: Content (as its first fingerprint) -> how many stored trades without an external_id
        #: have it and are not yet claimed; loaded at the first row that needs it.
        self.unkeyed: dict[str, int] | None = None
        #: Numbers the file's identical rows without an external_id (docs/csv-formats.md §2.5).
        self.occurrences = Occurrences()
        #: New trade ids whose row allows a short itself (the `allow_short` column).
        self.short_allowed: set[int] = set()
        self.rebook = frozenset(rebook)
        self.symbols: dict[tuple[int, str], _SymbolRun] = {}
        self.closed_runs: list[PositionState] = []
        # The strategies of this import's trades (their lots' opening strategies), and the
        # realized shares of its untagged closing trades waiting for their batch to be written
        # (docs/ledger.md §8.3).
        self.strategy_of: dict[object, int | None] = {}
        self.shares: list[dict[str, Any]] = []
        self.strategy_deltas = strategy_totals.Deltas()  # stored by `_finish_symbols`
        # The closed lot portions of its closing trades, written with their batch (docs/ledger.md §17.3).
        self.closings: list[tuple[Any, ...]] = []
        self.first_id = self._first_free_id()
        # A trade's time and realized P&L are nearly always its own: converted without a memo.
        self.trade_writer = BulkInserter(conn, TRADES, _TRADE_COLUMNS, unique=("executed_at", "realized_pnl"))
        self.now = datetime.now(timezone.utc)
        # The new trades get consecutive ids from first_id; lines[i] is the line of trade first_id + i.
        self.lines = array("q")
        self.repos = Repositories(conn)
        self.strategies = {name: id_ for id_, name in self.repos.strategies.names().items()}
        self.created_strategies: list[str] = []
        self.accounts = {row.name: row for row in self.repos.accounts.list()}
        self.default_account = self.repos.accounts.chosen(account)
        self.created_accounts: list[str] = []
        self.currencies = {symbol: currency for symbol, currency in
                           conn.execute(select(INSTRUMENTS.c.symbol, INSTRUMENTS.c.currency))}
        # Each trade settles in its account's cash (docs/ledger.md §13), a batch at a time.
        self.cash = CashStream(CashStore(conn))
        self.margins = {row.id: bool(row.margin) for row in self.accounts.values()}
        # Set while the secondary indexes are dropped: each symbol's latest stored trade time,
        # read before the drop, so that booking never reads the trades table without them.
        self.last_times: dict[tuple[int, str], datetime] | None = None
        if conn.dialect.name in DEFER_INDEXES_BACKENDS and expected_rows >= max(DEFER_INDEXES_MIN_ROWS,
                                                                                self.first_id - 1):
            self.defer_indexes()

    def defer_indexes(self) -> None:
        """Drop the trades table's secondary indexes until `restore_indexes` (a large import into a small table).

        Each written row would otherwise update four indexes one entry at a time, in key
        order scattered over the table; building them once from the finished table (a sort)
        costs much less when the import brings at least as many rows as the table had, which
        is what the caller checks (`self.first_id - 1`, the largest id, bounds the stored
        rows from above). The DDL is part of the import's transaction on both backends, so a
        dry run, a refused file or any failure rolls the indexes back to what they were;
        readers on SQLite keep their snapshot and its indexes meanwhile. (On PostgreSQL,
        DROP INDEX would lock the table exclusively until the import commits, which is why
        only DEFER_INDEXES_BACKENDS defer.)

        While they are dropped nothing may read the trades table by symbol or time: the
        symbols' latest trade times are read here first (for `BookingStore.load_open`); the
        external_id lookups use the UNIQUE constraint's index, which stays.
        """
        self.last_times = self.store.last_event_times()
        for index in DEFERRABLE_INDEXES:
            index.drop(self.conn)

    def restore_indexes(self) -> None:
        """Build the dropped indexes again, exactly as `tables.py` declares them."""
        if self.last_times is None:
            return
        for index in DEFERRABLE_INDEXES:
            index.create(self.conn)
        self.last_times = None

    def _first_free_id(self) -> int:
        """Where the new trades' ids start. The ledger lock keeps other writers out meanwhile;
        on PostgreSQL the identity sequence is moved past the last new id at the end."""
        if self.conn.dialect.name == "postgresql":
            return int(self.conn.execute(text("SELECT nextval(pg_get_serial_sequence('trades', 'id'))")).scalar_one())
        return int(self.conn.execute(select(func.coalesce(func.max(TRADES.c.id), 0))).scalar_one()) + 1

    @property
    def trade_ids(self) -> range:
        """The ids of the trades this import wrote: consecutive from `first_id`."""
        return range(self.first_id, self.first_id + self.imported)

    def run(self, rows: Iterator[TradeRow | str], progress: Callable[[], None] | None) -> None:
        self.take(rows, progress)
        self.finish()

    def take(self, rows: Iterator[TradeRow | str], progress: Callable[[], None] | None = None) -> None:
        """Write and book the rows; the trades table is complete (and indexed) afterwards, the
        positions of re-booked symbols not yet (`finish`)."""
        for batch in _batches(rows, BATCH):
            self._take(batch)
            if progress:
                progress()
        self.restore_indexes()  # re-booking symbols (below) reads their trades by symbol and time
        self._flush_closed_runs()

    def finish(self) -> None:
        """Store the open runs, re-book the symbols that need it, settle the cash; RowErrors if any row failed."""
        self._finish_symbols()
        if self.errors:
            raise RowErrors(sorted(self.errors, key=_line_number))
        self.cash.finish()
        if self.imported and self.conn.dialect.name == "postgresql":
            last_id = self.first_id + self.imported - 1
            self.conn.execute(text("SELECT setval(pg_get_serial_sequence('trades', 'id'), :last)"), {"last": last_id})

    def _take(self, batch: list[TradeRow | str]) -> None:
        good = [row for row in batch if isinstance(row, TradeRow)]
        self.errors.extend(row for row in batch if isinstance(row, str))
        keys = self._keys(good)
        known = self._known_external_ids(keys)
        seen_here: dict[str, int] = {}
        values = []
        for row, key in zip(good, keys):
            trade_id = known.get(key)
            if trade_id is not None and trade_id < self.first_id:
                self.skipped += 1  # stored before this import: already imported
                self.skipped_lines.append(row.line)
                continue
            first = self.lines[trade_id - self.first_id] if trade_id is not None else seen_here.setdefault(key, row.line)
            if first != row.line:
                self.errors.append(f"line {row.line}: external_id {key!r} repeats line {first}")
                continue
            if self.match_unkeyed and is_fingerprint(key) and not (self.allow_duplicates and row.external_id is None) \
                    and self._claim_unkeyed(row):
                self.skipped += 1  # the same fill, stored without an external_id
                self.skipped_lines.append(row.line)
                continue
            trade_id = self.first_id + len(self.lines)
            account = self._account(row.account) if row.account is not None else self.default_account
            currency = self._currency(row, account)
            if currency is None:
                continue  # reported
            strategy_id = self._strategy_id(row.strategy) if row.strategy is not None else None
            realized = self._book(row, account.id, trade_id, strategy_id)
            if realized is False:
                continue  # refused by the ledger (reported); not written
            if row.allow_short and not self.allow_short:
                self.short_allowed.add(trade_id)  # for a re-booking of the symbol too
            self.lines.append(row.line)
            values.append((trade_id, key, row.side, row.symbol, row.quantity, row.price, row.commission,
                           row.fees, row.executed_at, realized, strategy_id, row.note, None, self.now, account.id,
                           currency))
        if values:  # written even when the import will fail: re-booking needs them to report every error
            self.trade_writer.insert(values)
            self.imported += len(values)
            self.cash.add_trades(map(_CASH_FIELDS, values), self.margins)
            self.cash.flush()  # implicit deposits refer to their trades, written now
            self.store.save_shares(self.shares)  # they refer to their trades too
            self.shares.clear()
            self.store.save_closings(self.closings)
            self.closings.clear()
        if len(self.closed_runs) >= BATCH:
            self._flush_closed_runs()

    def _keys(self, rows: list[TradeRow]) -> list[str]:
        """Each row's key: its external_id, else its fingerprint (docs/csv-formats.md §2.5).

        The n-th row of the file with some content gets that content's n-th fingerprint; with
        `allow_duplicates`, the first fingerprint of its content stored by no trade and no
        earlier row instead, so it is always imported.
        """
        keys: list[str] = []
        probing: list[tuple[int, tuple[str, ...]]] = []
        default = self.default_account.name
        for row in rows:
            key = row.external_id
            if key is None:
                values = trade_content(row.executed_at, row.account if row.account is not None else default,
                                       row.symbol, None, row.side, row.quantity, row.price, row.commission, row.fees,
                                       row.currency)
                if self.allow_duplicates:
                    probing.append((len(keys), values))
                    key = ""
                else:
                    key = self.occurrences.key(values)
            keys.append(key)
        if probing:
            self._free_fingerprints(keys, probing)
        return keys

    def _free_fingerprints(self, keys: list[str], probing: list[tuple[int, tuple[str, ...]]]) -> None:
        """Give each probing row (its place in `keys`, its content) the first fingerprint of its
        content that no trade and no other row has: one lookup per round, each round moving the
        rows whose candidate is taken to their next one."""
        taken = set(keys)
        pending = [(place, values, 0) for place, values in probing]
        while pending:
            candidates = [fingerprint(values, occurrence) for _place, values, occurrence in pending]
            stored = self._known_external_ids(candidates)
            waiting = []
            for (place, values, occurrence), key in zip(pending, candidates):
                if key in stored or key in taken:
                    waiting.append((place, values, occurrence + 1))
                else:
                    taken.add(key)
                    keys[place] = key
            pending = waiting

    def _claim_unkeyed(self, row: TradeRow) -> bool:
        """Whether a stored trade without an external_id is this row's fill (same time, account,
        symbol, side, quantity, price, commission and fees); it is claimed, so each stored
        trade matches one row at most."""
        if self.unkeyed is None:
            self.unkeyed = self._load_unkeyed()
        if not self.unkeyed:
            return False
        account = row.account if row.account is not None else self.default_account.name
        base = fingerprint(trade_content(row.executed_at, account, row.symbol, None, row.side, row.quantity,
                                         row.price, row.commission, row.fees, None), 0)
        left = self.unkeyed.get(base)
        if not left:
            return False
        self.unkeyed[base] = left - 1
        return True

    def _load_unkeyed(self) -> dict[str, int]:
        """The stored trades without an external_id, counted by content (as its first fingerprint)."""
        names = {row.id: name for name, row in self.accounts.items()}
        counts: dict[str, int] = {}
        query = select(TRADES.c.executed_at, TRADES.c.account_id, TRADES.c.symbol, TRADES.c.side, TRADES.c.quantity,
                       TRADES.c.price, TRADES.c.commission, TRADES.c.fees).where(TRADES.c.external_id.is_(None))
        for at, account_id, symbol, side, quantity, price, commission, fees in self.conn.execute(query):
            base = fingerprint(trade_content(at, names.get(account_id, ""), symbol, None, side, quantity, price,
                                             commission, fees, None), 0)
            counts[base] = counts.get(base, 0) + 1
        return counts

    def _book(self, row: TradeRow, account_id: int, trade_id: int, strategy_id: int | None) -> Decimal | None | bool:
        """Book a row into its (account, symbol)'s run; its realized P&L, or False when the ledger refuses it."""
        key = (account_id, row.symbol)
        run = self.symbols.get(key)
        if run is None:
            state = self.store.load(account_id, row.symbol) if self.last_times is None else \
                self.store.load_open(account_id, row.symbol, self.last_times.get(key))
            run = self.symbols[key] = _SymbolRun(state, rebook=row.symbol in self.rebook)
        book = run.state.book
        if not run.rebook and book.last_executed_at is not None and row.executed_at < book.last_executed_at:
            run.rebook = True
        if run.rebook:
            return None  # computed when the symbol is re-booked
        fill = Fill(row.side, row.quantity, row.price, row.commission, row.fees, row.executed_at, trade_id)
        try:
            booking, closed = run.state.apply(fill, strategy_id, allow_short=self.allow_short or row.allow_short)
        except LedgerError as exc:
            self.errors.append(f"line {row.line}: {exc}")
            return False
        if closed is not None:
            self.closed_runs.append(closed)
        self.strategy_of[trade_id] = strategy_id
        shares: list[dict[str, Any]] = []
        if booking.closed:
            self.closings += closings_of(account_id, row.symbol, fill, booking.closed)
            if strategy_id is None:
                shares = self.store.shares_of(trade_id, booking.closed, self.strategy_of)
                self.shares += shares
        self.strategy_deltas.trade(strategy_id, row.symbol, account_id, row.commission, row.fees,
                                   booking.realized_pnl, shares)
        return booking.realized_pnl

    def _flush_closed_runs(self) -> None:
        self.store.save_closed(self.closed_runs)
        self.closed_runs.clear()

    def _finish_symbols(self) -> None:
        """Store each symbol's open run and lots; re-book the symbols that saw rows out of order."""
        new_ids = _NewTrades(range(self.first_id, self.first_id + len(self.lines)), self.short_allowed)
        # Re-booking a symbol re-books it in every account (a split spans them all).
        rebooked = sorted({symbol for (_account, symbol), run in self.symbols.items() if run.rebook})
        # The strategy totals of the trades booked in order; a re-booked symbol's are recomputed by `replay`.
        strategy_totals.apply(self.conn, self.strategy_deltas)
        for (_account, symbol), run in sorted(self.symbols.items()):
            if symbol not in rebooked:
                self.store.save_open(run.state)
        for symbol in rebooked:
            try:
                self.store.replay(symbol, new_trade_ids=new_ids, allow_short=self.allow_short)
            except BookingError as exc:
                line = self.lines[exc.trade_id - self.first_id] if exc.trade_id in new_ids.ids else None
                self.errors.append(f"line {line}: {exc}" if line is not None else f"{symbol}: {exc}")

    def _account(self, name: str) -> Any:
        """The account a row names, created (in the default currency, no margin) if new, like strategies."""
        account = self.accounts.get(name)
        if account is None:
            account_id = self.repos.accounts.add(name=name, currency=self.default_account.currency, margin=False,
                                                 status="open")
            account = self.accounts[name] = self.repos.accounts.require(name)
            assert account.id == account_id
            self.created_accounts.append(name)
        return account

    def _currency(self, row: TradeRow, account: Any) -> str | None:
        """The row's settlement currency: its symbol's (a new symbol takes the row's, else its account's)."""
        known = self.currencies.get(row.symbol)
        if known is None:
            known = self.currencies[row.symbol] = row.currency or account.currency
            self.conn.execute(insert(INSTRUMENTS).values(symbol=row.symbol, currency=known))
        elif row.currency is not None and row.currency != known:
            self.errors.append(f"line {row.line}: {row.symbol} trades in {known}, not {row.currency}")
            return None
        return known

    def _strategy_id(self, name: str) -> int:
        """The id of a strategy named in the file, created (enabled, no parameters) if new.

        Creating it keeps export -> import into a new database working; the result names the
        strategies an import created so a typo does not go unnoticed.
        """
        strategy_id = self.strategies.get(name)
        if strategy_id is None:
            strategy_id = self.strategies[name] = self.repos.strategies.add(name)
            self.created_strategies.append(name)
        return strategy_id

    def _known_external_ids(self, external_ids: list[str]) -> dict[str, int]:
        """The stored trades (from before or earlier in this import) that have these external ids.

        Asking the database per batch keeps memory flat however many rows the file has. The
        query goes to the driver as it is: SQLAlchemy would compile an IN list of a batch's
        worth of parameters anew for every batch, which cost more than the lookup.
        """
        if not external_ids:
            return {}
        driver = driver_connection(self.conn)
        if self.conn.dialect.name == "postgresql":
            with driver.cursor() as cursor:
                cursor.execute("SELECT external_id, id FROM trades WHERE external_id = ANY(%s)", (external_ids,))
                return dict(cursor.fetchall())
        known: dict[str, int] = {}
        for start in range(0, len(external_ids), _SQLITE_IN_MAX):  # within any SQLite's limit of parameters
            chunk = external_ids[start:start + _SQLITE_IN_MAX]
            query = f"SELECT external_id, id FROM trades WHERE external_id IN ({', '.join('?' * len(chunk))})"
            known.update(driver.execute(query, chunk))
        return known


#: Parameters of one external_id lookup on SQLite (older SQLite builds allow 999 a statement).
_SQLITE_IN_MAX = 900


def _estimated_rows(handle: IO[str]) -> int:
    """About how many rows a file has, from its size (0 when it has none, e.g. a pipe)."""
    try:
        return os.fstat(handle.fileno()).st_size // ROW_BYTES_ESTIMATE
    except (OSError, ValueError):
        return 0


def import_trades(
    uow: UnitOfWork,
    path: str | Path | IO[str],
    *,
    dry_run: bool = False,
    allow_short: bool | None = None,
    progress: Progress | None = None,
    account: str | None = None,
    allow_duplicates: bool = False,
    delimiter: str = ",",
    date_format: str | None = None,
) -> ImportResult:
    """Import a trade CSV (see the module docstring); `dry_run` checks everything, writes nothing.

    `path` is a file name, or an open text stream (standard input: `trade import -`), read as
    it is. `allow_short=None` follows the `trading.allow_short` setting, as `trade add` does.
    `allow_duplicates`: rows without an external_id are imported even when stored already;
    `delimiter` and `date_format` (a strptime pattern): how the file is written
    (docs/csv-formats.md §1, §2.5).
    """
    handle, name, opened = open_text(path)
    run: TradeImport | None = None
    try:
        with opened, uow.transaction() as conn:
            lock_ledger(conn)
            config = Repositories(conn).config
            method = str(settings.known_value("accounting.cost_basis", config.text("accounting.cost_basis")))
            if allow_short is None:
                allow_short = bool(settings.known_value("trading.allow_short", config.text("trading.allow_short")))
            run = TradeImport(conn, method, allow_short, expected_rows=_estimated_rows(handle), account=account,
                              allow_duplicates=allow_duplicates, match_unkeyed=True)
            lines = _CountingLines(handle)
            rows = read_trades(lines, name, delimiter=delimiter, date_format=date_format)
            with collector_paused():  # a row, a trade and lots per line, and the books held open: no cycles
                run.run(rows, (lambda: progress(lines.read)) if progress else None)
            # One entry for the whole file: its trades are one run of ids (docs/ledger.md §20.3).
            audit.log(conn, uow.command, "trade.import", None, new={
                "file": name, "imported": run.imported, "skipped": run.skipped,
                "created_strategies": run.created_strategies, "created_accounts": run.created_accounts,
            }, trade_ids=run.trade_ids)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except UnicodeDecodeError:
        raise StocksbotError(f"cannot read {name}: not UTF-8 text") from None
    assert run is not None
    return ImportResult(imported=run.imported, skipped=run.skipped, errors=0, dry_run=dry_run,
                        created_strategies=tuple(run.created_strategies),
                        created_accounts=tuple(run.created_accounts))
