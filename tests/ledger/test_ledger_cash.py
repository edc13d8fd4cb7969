"""The cash projection's pure rules (stocksbot/ledger/cash.py, docs/ledger.md §13)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from stocksbot.ledger.cash import DIVIDEND, MOVEMENT, TRADE, CashBook, book, dividend_amount, event, trade_amount

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_trade_and_dividend_amounts() -> None:
    assert trade_amount("buy", D("10"), D("100"), D("1"), D("0.5")) == D("-1001.5")
    assert trade_amount("sell", D("10"), D("110"), D("1"), D("0.5")) == D("1098.5")
    assert trade_amount("sell", D("1"), D("0"), D("1"), D("0")) == D("-1")  # a sale can be a debit
    assert trade_amount("buy", D("123456789012345678.5"), D("0.0000000001"), D("0"), D("0")) == D(
        "-12345678.90123456785")
    assert dividend_amount(D("24"), D("3.6"), D("0.4")) == D("20")


def test_a_shortfall_is_an_implicit_deposit_linked_to_its_event() -> None:
    cash = book([event(at(0), D("-1000"), TRADE, 1), event(at(1), D("1100"), TRADE, 2)], margin=False)
    assert cash.balance == D("1100")
    assert [(d.at, d.amount, d.source, d.id) for d in cash.implicit] == [(at(0), D("1000"), TRADE, 1)]
    cash = book([event(at(0), D("500"), MOVEMENT, 1), event(at(1), D("-501"), TRADE, 7)], margin=False)
    assert (cash.balance, [(d.amount, d.id) for d in cash.implicit]) == (D("0"), [(D("1"), 7)])


def test_a_margin_account_goes_negative() -> None:
    cash = book([event(at(0), D("-1000"), TRADE, 1)], margin=True)
    assert (cash.balance, cash.implicit) == (D("-1000"), [])


def test_at_one_instant_credits_come_first_then_source_then_id() -> None:
    events = [event(at(0), D("-100"), TRADE, 1), event(at(0), D("-5"), MOVEMENT, 9), event(at(0), D("60"), TRADE, 2),
              event(at(0), D("10"), DIVIDEND, 3)]
    assert [(e.source, e.id) for e in sorted(events)] == [(DIVIDEND, 3), (TRADE, 2), (MOVEMENT, 9), (TRADE, 1)]
    cash = book(events, margin=False)
    # 70 of credits, the fee of 5 leaves 65, the buy of 100 is short by 35.
    assert [(d.amount, d.source, d.id) for d in cash.implicit] == [(D("35"), TRADE, 1)]
    assert cash.last_at == at(0)


_amounts = st.builds(lambda n, k: D(n).scaleb(-k), st.integers(-10_000, 10_000), st.integers(0, 4))


@settings(max_examples=200, deadline=None)
@given(changes=st.lists(st.tuples(st.integers(0, 5), _amounts, st.sampled_from([MOVEMENT, DIVIDEND, TRADE])),
                        max_size=30),
       margin=st.booleans(), seed=st.integers(0, 1000))
def test_booking_rules_hold_for_any_events(changes: list[tuple[int, Decimal, int]], margin: bool, seed: int) -> None:
    """Whatever the events: the order they come in does not matter; the balance is what came in
    plus the implicit deposits; a non-margin account never goes below zero; and booking one
    event at a time in booking order, or from time order, or resuming from any point, agrees."""
    events = [event(at(minute), amount, source, index) for index, (minute, amount, source) in enumerate(changes)]
    cash = book(events, margin=margin)
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    again = book(shuffled, margin=margin)
    assert (again.balance, again.implicit) == (cash.balance, cash.implicit)
    deposited = sum((d.amount for d in cash.implicit), D(0))
    assert cash.balance == sum((e.amount for e in events), D(0)) + deposited
    assert margin or cash.balance >= 0
    assert not margin or cash.implicit == []
    one_by_one = CashBook(margin=margin)
    for cash_event in sorted(events):
        one_by_one.apply(cash_event)
    streamed = CashBook(margin=margin).book(sorted(events, key=lambda e: e.at), in_time_order=True)
    for other in (one_by_one, streamed):
        assert (other.balance, other.implicit, other.last_at) == (cash.balance, cash.implicit, cash.last_at)
    ordered = sorted(events)
    for split in range(len(ordered) + 1):
        head = book(ordered[:split], margin=margin)
        tail = book(ordered[split:], margin=margin, balance=head.balance)
        assert tail.balance == cash.balance and head.implicit + tail.implicit == cash.implicit
