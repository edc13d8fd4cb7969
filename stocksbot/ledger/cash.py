"""The cash projection of one (account, currency): balance and implicit deposits (docs/ledger.md §13).

Pure: the storage layer (`stocksbot/storage/cash.py`) reads the cash events of an account in
one currency (trade settlements, dividends, recorded movements), hands them here in any
order, and stores the balance and the implicit deposits this returns. Booking one new event,
re-booking from a moment on and rebuilding from nothing all go through `CashBook`, so they
agree exactly.

Rules:

* A trade settles in its currency: a buy takes quantity x price + commission + fees, a sell
  adds quantity x price - commission - fees (`trade_amount`). A dividend adds gross - tax -
  fee at its pay date (`dividend_amount`). A recorded movement adds its signed amount.
* Booking order: by time; at the same instant credits (amount >= 0) before debits, then by
  source (movement, dividend, trade) and id. `CashEvent` is a tuple in exactly that order, so
  sorting events sorts them into booking order.
* A non-margin account never goes below zero: when an event would take the balance below
  zero, the shortfall is an implicit deposit at that moment, linked to the event, and the
  balance becomes 0. A margin account goes negative instead.

Exact decimals only (`stocksbot.ledger.numbers`): nothing is ever rounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from itertools import chain
from typing import NamedTuple

from stocksbot.ledger.numbers import ZERO, _add, _multiply, _subtract
from stocksbot.vocabulary import SELL

#: Where an event comes from, in booking order among events of one instant and sign.
MOVEMENT = 0
DIVIDEND = 1
TRADE = 2
SOURCES: tuple[str, ...] = ("movement", "dividend", "trade")


class CashEvent(NamedTuple):
    """One change of an (account, currency)'s cash; fields in booking order (see the module docstring).

    `debit` is `amount < 0` (credits sort first); `id` is the row id within its source
    (a cash movement, a dividend or a trade). Build one with `event()`.
    """

    at: datetime
    debit: bool
    source: int
    id: int
    amount: Decimal


def event(at: datetime, amount: Decimal, source: int, event_id: int) -> CashEvent:
    """A cash event; `source` is MOVEMENT, DIVIDEND or TRADE."""
    return CashEvent(at, amount < 0, source, event_id, amount)


#: Marks the end of a stream of events for `CashBook.book` (its time equals no real one).
_END = CashEvent(None, False, 0, 0, ZERO)  # type: ignore[arg-type]


class ImplicitDeposit(NamedTuple):
    """The shortfall an event left on a non-margin account, deposited implicitly at its moment."""

    at: datetime
    amount: Decimal
    source: int  # of the event that caused it
    id: int


def trade_amount(side: str, quantity: Decimal, price: Decimal, commission: Decimal, fees: Decimal) -> Decimal:
    """What a trade does to cash: a sell adds q x p - commission - fees, a buy takes q x p + commission + fees."""
    # The exact context's operations directly (numbers.py): a rebuild computes this for every trade.
    if side == SELL:
        return _subtract(_subtract(_multiply(quantity, price), commission), fees)
    return _subtract(_subtract(_subtract(ZERO, _multiply(quantity, price)), commission), fees)


def dividend_amount(gross: Decimal, tax: Decimal, fee: Decimal) -> Decimal:
    """What a dividend adds to cash: gross - tax - fee (negative when tax and fee exceed it)."""
    return _subtract(_subtract(gross, tax), fee)


class CashBook:
    """An (account, currency)'s balance, booking events one at a time in booking order.

    `balance` is where booking resumes (0 for a rebuild; the balance before a moment for a
    re-booking from that moment). The caller feeds events in booking order (`book` sorts them).
    """

    def __init__(self, *, margin: bool, balance: Decimal = ZERO) -> None:
        self.margin = margin
        self.balance = balance
        self.last_at: datetime | None = None
        self.implicit: list[ImplicitDeposit] = []

    def apply(self, cash_event: CashEvent) -> ImplicitDeposit | None:
        """Book one event; the implicit deposit it needed, if any (also kept in `implicit`)."""
        balance = _add(self.balance, cash_event.amount)
        self.last_at = cash_event.at
        if balance < 0 and not self.margin:
            deposit = ImplicitDeposit(cash_event.at, balance.copy_negate(), cash_event.source, cash_event.id)
            self.implicit.append(deposit)
            self.balance = ZERO
            return deposit
        self.balance = balance
        return None

    def book(self, events: Iterable[CashEvent], *, in_time_order: bool = False) -> "CashBook":
        """Book events; returns self.

        Events come in any order and are sorted into booking order first, unless
        `in_time_order` says they are sorted by time already (a long history read from the
        database in time order): then only the events of each instant are sorted.
        """
        if not in_time_order:
            for cash_event in sorted(events):
                self.apply(cash_event)
            return self
        # Each instant's events are held until the next instant shows up, then booked sorted.
        # `apply` written out: a rebuild books every trade of the ledger through this loop.
        balance, margin, implicit = self.balance, self.margin, self.implicit
        group: list[CashEvent] = []
        group_at = None
        for cash_event in chain(events, (_END,)):
            at = cash_event[0]
            if at != group_at:
                if len(group) > 1:
                    group.sort()
                for held in group:
                    balance = _add(balance, held[4])
                    if balance < 0 and not margin:
                        implicit.append(ImplicitDeposit(held[0], balance.copy_negate(), held[2], held[3]))
                        balance = ZERO
                if group:
                    self.last_at = group_at
                group.clear()
                group_at = at
            group.append(cash_event)
        self.balance = balance
        return self


def book(events: Iterable[CashEvent], *, margin: bool, balance: Decimal = ZERO) -> CashBook:
    """Book events from `balance` (0: from nothing); the book holds the balance and implicit deposits."""
    return CashBook(margin=margin, balance=balance).book(events)
