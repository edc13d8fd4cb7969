"""The cash store: each (account, currency)'s balance and implicit deposits, inside the caller's transaction.

Cash is a projection, like positions (docs/ledger.md §13): `cash_balances` holds each
(account, currency)'s balance and the time of its latest cash event, and the rows of
`cash_movements` of kind `implicit_deposit` are derived. The events themselves are the
trades (their settlements), the dividends and the recorded cash movements. The rules are in
`stocksbot.ledger.cash`; this module reads events, hands them to `CashBook` and stores what
it derives, so booking one event, re-booking and rebuilding agree exactly.

Booking newly stored events (`settle`): when they all come after the pair's latest booked
event, the stored balance is resumed and only they are booked (one read, one or two
writes). Otherwise the pair is re-booked from the earliest new event on: the balance just
before that moment is the stored balance less every event and implicit deposit from that
moment on, and everything from there is booked again. `replay` re-books a pair from
nothing, `rebuild_all` every pair; `CashStream` books an import's trades as they come.

Concurrent writers: on SQLite the write transaction excludes every other writer; on
PostgreSQL a transaction-scoped advisory lock per (account, currency) is taken before the
pair's balance is read, after the event's own row is written (that INSERT waits for a
whole-ledger lock, `booking.lock_ledger`, so the read sees what such a writer committed).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, select, text, update

from stocksbot.ledger.cash import (
    DIVIDEND,
    MOVEMENT,
    TRADE,
    CashBook,
    CashEvent,
    ImplicitDeposit,
    dividend_amount,
    event,
    trade_amount,
)
from stocksbot.ledger.numbers import ZERO, add, subtract
from stocksbot.storage import tables
from stocksbot.storage.bulk import BulkInserter
from stocksbot.storage.database import driver_connection
from stocksbot.storage.types import driver_conversion
from stocksbot.vocabulary import IMPLICIT_DEPOSIT

ACCOUNTS = tables.accounts
TRADES = tables.trades
DIVIDENDS = tables.dividends
MOVEMENTS = tables.cash_movements
BALANCES = tables.cash_balances

#: An (account id, currency).
Pair = tuple[int, str]

#: Implicit deposits are written in batches of this many rows by rebuilds and imports.
BATCH = 5000


class Stored(NamedTuple):
    """A pair's row of `cash_balances`: its balance and the time of its latest booked event."""

    balance: Decimal
    last_at: datetime | None


class Unread:
    """`settle`'s marker for "the caller did not read the balance row"."""


UNREAD = Unread()

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
# An account's margin flag and its balance row in one currency (NULLs when it has none): one round trip.
_STATE = (
    select(ACCOUNTS.c.margin, BALANCES.c.balance, BALANCES.c.last_at)
    .select_from(ACCOUNTS.outerjoin(BALANCES, (BALANCES.c.account_id == ACCOUNTS.c.id)
                                    & (BALANCES.c.currency == bindparam("currency"))))
    .where(ACCOUNTS.c.id == bindparam("account_id"))
)
_PAIR_BALANCE = (BALANCES.c.account_id == bindparam("pair_account")) & (BALANCES.c.currency == bindparam("pair_currency"))
_UPDATE_BALANCE = update(BALANCES).where(_PAIR_BALANCE).values(
    balance=bindparam("new_balance"), last_at=bindparam("new_last_at")
)
_INSERT_BALANCE = insert(BALANCES)
_DELETE_BALANCE = delete(BALANCES).where(_PAIR_BALANCE)
_PAIR_IMPLICIT = (
    (MOVEMENTS.c.kind == IMPLICIT_DEPOSIT) & (MOVEMENTS.c.account_id == bindparam("pair_account"))
    & (MOVEMENTS.c.currency == bindparam("pair_currency"))
)
_DELETE_IMPLICIT = delete(MOVEMENTS).where(_PAIR_IMPLICIT)
_DELETE_IMPLICIT_SINCE = delete(MOVEMENTS).where(_PAIR_IMPLICIT, MOVEMENTS.c.at >= bindparam("since"))
_INSERT_MOVEMENT = insert(MOVEMENTS)
_IMPLICIT_COLUMNS = ("account_id", "kind", "amount", "currency", "at", "trade_id", "dividend_id", "created_at")


def lock_cash(conn: Connection, pairs: Iterable[Pair]) -> None:
    """Serialise writers of these pairs' cash until the transaction ends (a no-op on SQLite).

    Taken in sorted order, so two writers that need the same pairs never wait on each other
    in a cycle (a transfer locks both of its accounts).
    """
    if conn.dialect.name == "postgresql":
        for account_id, currency in sorted(set(pairs)):
            conn.execute(_LOCK, {"key": f"cash {account_id} {currency}"})


def trade_event(trade_id: int, side: str, quantity: Decimal, price: Decimal, commission: Decimal, fees: Decimal,
                executed_at: datetime) -> CashEvent:
    """A trade's settlement as a cash event."""
    return event(executed_at, trade_amount(side, quantity, price, commission, fees), TRADE, trade_id)


def dividend_event(dividend_id: int, gross: Decimal, tax: Decimal, fee: Decimal, paid_at: datetime) -> CashEvent:
    """A dividend's net payment as a cash event."""
    return event(paid_at, dividend_amount(gross, tax, fee), DIVIDEND, dividend_id)


def movement_event(movement_id: int, amount: Decimal, at: datetime) -> CashEvent:
    """A recorded cash movement as a cash event."""
    return event(at, amount, MOVEMENT, movement_id)


def implicit_row(pair: Pair, deposit: ImplicitDeposit, now: datetime) -> dict[str, Any]:
    """The `cash_movements` row of an implicit deposit, linked to the trade or dividend that needed it."""
    return {"account_id": pair[0], "kind": IMPLICIT_DEPOSIT, "amount": deposit.amount, "currency": pair[1],
            "at": deposit.at, "trade_id": deposit.id if deposit.source == TRADE else None,
            "dividend_id": deposit.id if deposit.source == DIVIDEND else None, "created_at": now}


def _implicit_tuple(pair: Pair, deposit: ImplicitDeposit, now: datetime) -> tuple[Any, ...]:
    """`implicit_row` as a tuple in the order of _IMPLICIT_COLUMNS, for bulk writes."""
    return (pair[0], IMPLICIT_DEPOSIT, deposit.amount, pair[1], deposit.at,
            deposit.id if deposit.source == TRADE else None, deposit.id if deposit.source == DIVIDEND else None, now)


class CashStore:
    """The one place where the cash projection is read and written (see the module docstring)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- reading ----------------------------------------------------------------------------

    def state(self, account_id: int, currency: str) -> tuple[bool, Stored | None]:
        """The account's margin flag and the pair's balance row (None: it has none)."""
        row = self.conn.execute(_STATE, {"account_id": account_id, "currency": currency}).one()
        return bool(row.margin), None if row.balance is None else Stored(row.balance, row.last_at)

    def stored(self) -> dict[Pair, Stored]:
        """Every pair's balance row."""
        return {(row.account_id, row.currency): Stored(row.balance, row.last_at)
                for row in self.conn.execute(select(BALANCES))}

    def event_rows(self, pair: Pair | None = None, since: datetime | None = None) -> Iterator[tuple[Any, ...]]:
        """The events of a pair (or of every pair) from `since` on, as rows sorted by pair and time:
        (account id, currency, at, source, id, amount), `at` as the driver gives it (see `_RawTimes`).

        One query over the three sources, through the driver (a rebuild reads every trade, and
        SQLAlchemy's per-value result processing would cost more than the booking); a
        server-side cursor on PostgreSQL, so memory holds a batch of rows, not the history.
        """
        times = _RawTimes(self.conn)
        params: list[Any] = []
        sql = []
        for template, at in _EVENT_SOURCES:
            conditions = []
            if pair is not None:
                conditions += [f"account_id = {times.mark}", f"currency = {times.mark}"]
                params += [pair[0], pair[1]]
            if since is not None:
                conditions.append(f"{at} >= {times.mark}")
                params.append(times.raw(since))
            sql.append(template.format(where="".join(f" AND {c}" for c in conditions)))
        query = " UNION ALL ".join(sql) + " ORDER BY 1, 2, 3, 4, 5"
        driver = driver_connection(self.conn)
        if times.mark == "?":
            yield from _amounts(driver.execute(query, params))
            return
        with driver.cursor(name="stocksbot_cash_events") as cursor:
            cursor.itersize = BATCH
            cursor.execute(query, params)
            yield from _amounts(cursor)

    def implicit_total(self, pair: Pair, since: datetime) -> Decimal:
        """The total of a pair's implicit deposits from `since` on."""
        query = select(MOVEMENTS.c.amount).where(
            MOVEMENTS.c.kind == IMPLICIT_DEPOSIT, MOVEMENTS.c.account_id == pair[0], MOVEMENTS.c.currency == pair[1],
            MOVEMENTS.c.at >= since)
        return add(*self.conn.execute(query).scalars())

    def _since(
        self, pair: Pair, since: datetime, new: Iterable[CashEvent], stored: Stored
    ) -> tuple[list[CashEvent], Decimal]:
        """A pair's events from `since` on (`at` raw, booking order) and its balance just before `since`,
        from its stored balance, which does not include the events `new` yet."""
        leaving = {(cash_event.source, cash_event.id) for cash_event in new}
        events = [_event(row) for row in self.event_rows(pair, since)]
        events.sort()
        old = add(*(e.amount for e in events if (e.source, e.id) not in leaving))
        return events, subtract(subtract(stored.balance, old), self.implicit_total(pair, since))

    def balance_at(self, account_id: int, currency: str, at: datetime) -> Decimal:
        """The pair's balance after every event at or before `at`, implicit deposits included: the
        stored balance less what came later (the events read are those after `at` only)."""
        stored = self.state(account_id, currency)[1]
        if stored is None:
            return ZERO
        if stored.last_at is None or stored.last_at <= at:
            return stored.balance
        return self._since((account_id, currency), at + timedelta(microseconds=1), [], stored)[1]

    def balance_before(self, account_id: int, currency: str, margin: bool, new: CashEvent) -> Decimal:
        """The pair's balance just before `new`, an event stored but not booked yet, is booked."""
        stored = self.state(account_id, currency)[1]
        if stored is None:
            return ZERO
        if stored.last_at is None or new.at > stored.last_at:
            return stored.balance
        events, before = self._since((account_id, currency), new.at, [new], stored)
        key = new._replace(at=_RawTimes(self.conn).raw(new.at))
        return CashBook(margin=margin, balance=before).book(
            (e for e in events if e < key and (e.source, e.id) != (new.source, new.id)), in_time_order=True).balance

    # -- booking ----------------------------------------------------------------------------

    def settle(
        self, account_id: int, currency: str, events: Sequence[CashEvent], *, margin: bool | None = None,
        stored: Stored | None | Unread = UNREAD,
    ) -> None:
        """Book cash events of one pair whose rows were just stored (see the module docstring).

        `margin` and `stored` (the pair's balance row as read in this transaction, None when
        it has none) save the read on SQLite, where the write transaction excludes other
        writers; on PostgreSQL the pair is locked and read afresh.
        """
        if not events:
            return
        pair = (account_id, currency)
        lock_cash(self.conn, [pair])
        if margin is None or isinstance(stored, Unread) or self.conn.dialect.name != "sqlite":
            read_margin, stored = self.state(account_id, currency)
            margin = read_margin if margin is None else margin
        first = min(cash_event.at for cash_event in events)
        if stored is None or stored.last_at is None or first > stored.last_at:
            cash = CashBook(margin=margin, balance=stored.balance if stored else ZERO).book(events)
            self.save(pair, cash, stored is not None)
            return
        # Re-book from the first new event on: the balance before it, then every event since.
        since_events, before = self._since(pair, first, events, stored)
        self.conn.execute(_DELETE_IMPLICIT_SINCE, {"pair_account": account_id, "pair_currency": currency,
                                                   "since": first})
        cash = _RawTimes(self.conn).book(since_events, margin, before)
        self.save(pair, cash, True)

    def replay(self, account_id: int, currency: str, *, margin: bool | None = None) -> None:
        """Re-book a pair from all of its events (after one was removed, or for a whole re-booking)."""
        if margin is None:
            margin = self.state(account_id, currency)[0]
        pair = (account_id, currency)
        lock_cash(self.conn, [pair])
        params = {"pair_account": account_id, "pair_currency": currency}
        self.conn.execute(_DELETE_IMPLICIT, params)
        self.conn.execute(_DELETE_BALANCE, params)
        cash = _RawTimes(self.conn).book(map(_event, self.event_rows(pair)), margin, ZERO)
        if cash.last_at is not None:
            self.save(pair, cash, False)

    def replay_account(self, account_id: int) -> None:
        """Re-book every currency of an account (e.g. after its margin flag changed)."""
        currencies = set(self.conn.execute(select(TRADES.c.currency).where(TRADES.c.account_id == account_id,
                                                                           tables.LIVE_TRADE).distinct()).scalars())
        for table in (DIVIDENDS, MOVEMENTS, BALANCES):
            currencies.update(self.conn.execute(select(table.c.currency).where(table.c.account_id == account_id)
                                                .distinct()).scalars())
        for currency in sorted(currencies):
            self.replay(account_id, currency)

    def rebuild_all(self) -> int:
        """Recompute every balance and implicit deposit from the events; the number of pairs.

        The caller holds the ledger lock (`booking.lock_ledger`). The events stream through
        sorted by pair and time, so memory holds one instant's events, not the history.
        """
        conn = self.conn
        conn.execute(delete(MOVEMENTS).where(MOVEMENTS.c.kind == IMPLICIT_DEPOSIT))
        conn.execute(delete(BALANCES))
        margins = {account_id: bool(margin) for account_id, margin in conn.execute(select(ACCOUNTS.c.id,
                                                                                          ACCOUNTS.c.margin))}
        times = _RawTimes(conn)
        writer = _ImplicitWriter(conn)
        balances: list[tuple[Any, ...]] = []
        for pair, rows in itertools.groupby(self.event_rows(), key=_PAIR_OF):
            cash = times.book(map(_event, rows), margins[pair[0]], ZERO)
            writer.add(pair, cash.implicit)
            balances.append((pair[0], pair[1], cash.balance, cash.last_at))
        writer.flush()
        BulkInserter(conn, BALANCES, ("account_id", "currency", "balance", "last_at")).insert(balances)
        return len(balances)

    # -- writing ----------------------------------------------------------------------------

    def save(self, pair: Pair, cash: CashBook, exists: bool, *, implicit: bool = True) -> None:
        """Store what booking derived: the implicit deposits (unless written already) and the balance row."""
        if implicit and cash.implicit:
            now = datetime.now(timezone.utc)
            self.conn.execute(_INSERT_MOVEMENT, [implicit_row(pair, deposit, now) for deposit in cash.implicit])
        if exists:
            self.conn.execute(_UPDATE_BALANCE, {"pair_account": pair[0], "pair_currency": pair[1],
                                                "new_balance": cash.balance, "new_last_at": cash.last_at})
        else:
            self.conn.execute(_INSERT_BALANCE, {"account_id": pair[0], "currency": pair[1], "balance": cash.balance,
                                                "last_at": cash.last_at})


# The three sources of cash events as one row shape: (account id, currency, at, source, id, a, b, c, d, side).
# A trade's a-d are quantity, price, commission and fees; a dividend's gross, tax and fee; a movement's amount.
# Each is (query, its time column); {where} takes the conditions.
_EVENT_SOURCES = (
    (f"SELECT account_id, currency, executed_at AS at, {TRADE} AS source, id, quantity, price, commission, fees, "
     f"side FROM trades WHERE {tables.LIVE_TRADE_SQL}{{where}}", "executed_at"),
    (f"SELECT account_id, currency, paid_at AS at, {DIVIDEND} AS source, id, gross, tax, fee, "
     "CAST(NULL AS NUMERIC), NULL FROM dividends WHERE 1 = 1{where}", "paid_at"),
    (f"SELECT account_id, currency, at AS at, {MOVEMENT} AS source, id, amount, CAST(NULL AS NUMERIC), "
     "CAST(NULL AS NUMERIC), CAST(NULL AS NUMERIC), NULL FROM cash_movements "
     f"WHERE kind <> '{IMPLICIT_DEPOSIT}'{{where}}", "at"),
)
_PAIR_OF = itemgetter(0, 1)
_new_event = tuple.__new__


def _amounts(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[int, str, CashEvent]]:
    """(account id, currency, event) of each event row of `_EVENT_SOURCES`.

    Decimal() reads SQLite's decimal text exactly and copies PostgreSQL's Decimals; amounts
    need no canonical form (they are compared and added, and canonicalised when stored).
    """
    number, new = Decimal, _new_event
    for account_id, currency, at, source, event_id, a, b, c, d, side in rows:
        if source == TRADE:
            amount = trade_amount(side, number(a), number(b), number(c), number(d))
        elif source == DIVIDEND:
            amount = dividend_amount(number(a), number(b), number(c))
        else:
            amount = number(a)
        yield account_id, currency, new(CashEvent, (at, amount < 0, source, event_id, amount))


_event = itemgetter(2)


class _RawTimes:
    """Times as the driver gives them, which booking compares without converting each one.

    SQLite's stored time text is fixed-width UTC (it sorts and compares like the times);
    PostgreSQL's driver gives aware datetimes. Only the times that are stored again (implicit
    deposits, the latest event) are converted to UTC datetimes.
    """

    def __init__(self, conn: Connection) -> None:
        conversion = driver_conversion(TRADES.c.executed_at.type, conn.dialect.name)
        self.raw = conversion.to_driver
        self.moment = conversion.from_driver
        self.mark = "?" if conn.dialect.name == "sqlite" else "%s"

    def book(self, events: Iterable[CashEvent], margin: bool, balance: Decimal) -> CashBook:
        """Book events with raw times, sorted by time; the book with its times converted back."""
        cash = CashBook(margin=margin, balance=balance).book(events, in_time_order=True)
        moment = self.moment
        cash.implicit = [deposit._replace(at=moment(deposit.at)) for deposit in cash.implicit]
        cash.last_at = moment(cash.last_at) if cash.last_at is not None else None
        return cash


class _ImplicitWriter:
    """Implicit deposits written in batches, through the driver (rebuilds and imports)."""

    def __init__(self, conn: Connection) -> None:
        self.inserter = BulkInserter(conn, MOVEMENTS, _IMPLICIT_COLUMNS)
        self.rows: list[tuple[Any, ...]] = []
        self.now = datetime.now(timezone.utc)

    def add(self, pair: Pair, deposits: Iterable[ImplicitDeposit]) -> None:
        self.rows.extend(_implicit_tuple(pair, deposit, self.now) for deposit in deposits)
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        self.inserter.insert(self.rows)
        self.rows = []


class _StreamRun:
    """One pair while an import streams its trades through `CashStream`."""

    def __init__(self, margin: bool, stored: Stored | None) -> None:
        self.stored = stored
        self.book = CashBook(margin=margin, balance=stored.balance if stored else ZERO)
        self.book.last_at = stored.last_at if stored else None
        self.pending: list[CashEvent] = []  # the events of the latest instant, not booked yet
        self.replay = False


class CashStream:
    """The cash of an import's trades, booked as the rows come (`services/imports.py`).

    A pair whose new events come in time order, all after its latest stored event, is booked
    as it goes: its stored balance resumed, each instant's events held back until a later
    instant shows up (so they are booked credits first), the implicit deposits written after
    their trades (`flush`) and the balance at the end (`finish`), without reading any trade
    back. A pair that gets an event at or before its latest booked one is replayed from all
    its events at the end instead. The caller holds the ledger lock.
    """

    def __init__(self, store: CashStore) -> None:
        self.store = store
        self.stored = store.stored()
        self.runs: dict[Pair, _StreamRun] = {}
        self.writer = _ImplicitWriter(store.conn)
        self.unwritten: list[tuple[Pair, ImplicitDeposit]] = []

    def add_trades(self, rows: Iterable[tuple[Any, ...]], margins: dict[int, bool]) -> None:
        """New trades, as (id, side, quantity, price, commission, fees, executed_at, account id,
        currency) in file order; their rows are written before the next `flush`. `margins`:
        account id -> margin flag (an account missing is not a margin account)."""
        runs, unwritten = self.runs, self.unwritten
        for trade_id, side, quantity, price, commission, fees, executed_at, account_id, currency in rows:
            pair = (account_id, currency)
            run = runs.get(pair)
            if run is None:
                run = runs[pair] = _StreamRun(margins.get(account_id, False), self.stored.get(pair))
            if run.replay:
                continue
            amount = trade_amount(side, quantity, price, commission, fees)
            cash_event = _new_event(CashEvent, (executed_at, amount < 0, TRADE, trade_id, amount))
            pending = run.pending
            if pending:
                held_at = pending[0][0]
                if executed_at == held_at:
                    pending.append(cash_event)
                    continue
                if executed_at > held_at:
                    if len(pending) == 1:  # the usual case: one event an instant
                        deposit = run.book.apply(pending[0])
                        if deposit is not None:
                            unwritten.append((pair, deposit))
                    else:
                        self._book_pending(pair, run)
                    run.pending = [cash_event]
                    continue
            elif run.book.last_at is None or executed_at > run.book.last_at:
                run.pending = [cash_event]
                continue
            # At or before what is booked already: the pair is replayed at the end.
            run.replay = True
            run.pending = []
            unwritten[:] = [(key, deposit) for key, deposit in unwritten if key != pair]

    def _book_pending(self, pair: Pair, run: _StreamRun) -> None:
        if not run.pending:
            return
        for cash_event in sorted(run.pending):
            deposit = run.book.apply(cash_event)
            if deposit is not None:
                self.unwritten.append((pair, deposit))
        run.pending = []

    def flush(self) -> None:
        """Write the implicit deposits found so far (their trades are written)."""
        for pair, deposit in self.unwritten:
            self.writer.add(pair, [deposit])
        self.unwritten = []
        self.writer.flush()

    def finish(self) -> None:
        """Book what is held back, store the balances, replay the pairs that need it."""
        booked = [(pair, run) for pair, run in sorted(self.runs.items()) if not run.replay]
        for pair, run in booked:
            self._book_pending(pair, run)
        self.flush()
        for pair, run in booked:
            self.store.save(pair, run.book, run.stored is not None, implicit=False)
        for pair, run in sorted(self.runs.items()):
            if run.replay:
                self.store.replay(*pair, margin=run.book.margin)
