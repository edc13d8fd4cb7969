"""Invariants of lot matching that must hold for any sequence of fills.

Decimals are generated as integers scaled by 10^-k, so every generated value is exact and the
expected totals can be computed independently with plain integer arithmetic.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal, localcontext
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from stocksbot.ledger import COST_BASIS_METHODS, Book, Booking, Fill, add, replay

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def scaled(max_units: int, max_places: int, min_units: int = 0) -> st.SearchStrategy[Decimal]:
    """Exact decimals: an integer number of units of 10^-k."""
    return st.builds(
        lambda n, k: Decimal(f"{n}E-{k}"),
        st.integers(min_units, max_units),
        st.integers(0, max_places),
    )


quantities = scaled(10_000, 4, min_units=1)
prices = scaled(1_000_000, 4)
costs = st.one_of(st.just(Decimal(0)), scaled(10_000, 2))


@st.composite
def fill_sequences(draw: st.DrawFn, *, min_size: int = 1, max_size: int = 15) -> list[Fill]:
    sides = draw(st.lists(st.sampled_from(["buy", "sell"]), min_size=min_size, max_size=max_size))
    return [
        Fill(
            side=side,
            quantity=draw(quantities),
            price=draw(prices),
            commission=draw(costs),
            fees=draw(costs),
            executed_at=T0 + timedelta(minutes=i),
            trade_id=i,
        )
        for i, side in enumerate(sides)
    ]


def flatten(fills: list[Fill], price: Decimal, commission: Decimal) -> list[Fill]:
    """Append the fill that brings the sequence back to flat (if it is not flat already)."""
    net = sum(
        (Fraction(f.quantity) if f.side == "buy" else -Fraction(f.quantity) for f in fills),
        Fraction(0),
    )
    if net == 0:
        return fills
    return fills + [
        Fill(
            side="sell" if net > 0 else "buy",
            # the net is a whole number of 10^-4 units, so this division is exact
            quantity=Decimal(abs(net.numerator)) / Decimal(net.denominator),
            price=price,
            commission=commission,
            fees=Decimal(0),
            executed_at=T0 + timedelta(minutes=len(fills)),
            trade_id="flat",
        )
    ]


def cash(fills: list[Fill]) -> Fraction:
    """Money in minus money out, computed independently of the ledger with fractions."""
    total = Fraction(0)
    for f in fills:
        gross = Fraction(f.quantity) * Fraction(f.price)
        total += gross if f.side == "sell" else -gross
        total -= Fraction(f.commission) + Fraction(f.fees)
    return total


def realized(bookings: list[Booking]) -> Fraction:
    values = (Fraction(b.realized_pnl) for b in bookings if b.realized_pnl is not None)
    return sum(values, Fraction(0))


def state(book: Book) -> tuple[object, ...]:
    return (book.side, book.quantity, book.open_amount, book.realized_pnl, book.opened_at,
            book.lots, book.max_quantity)


@PROPERTY_SETTINGS
@given(fill_sequences(), st.sampled_from(COST_BASIS_METHODS))
def test_open_quantity_is_the_signed_sum_of_fills(fills: list[Fill], method: str) -> None:
    book, _ = replay("P", method, fills)
    expected = sum((Fraction(f.quantity) if f.side == "buy" else -Fraction(f.quantity)
                    for f in fills), Fraction(0))
    assert Fraction(book.signed_quantity) == expected
    assert book.quantity >= 0
    assert sum(Fraction(lot.quantity) for lot in book.lots) == Fraction(book.quantity)
    assert all(lot.quantity > 0 and lot.side == book.side for lot in book.lots)
    assert (book.side is None) == (expected == 0)


@PROPERTY_SETTINGS
@given(fill_sequences(), st.sampled_from(COST_BASIS_METHODS), prices, costs)
def test_round_trip_realized_equals_cash_exactly(
    fills: list[Fill], method: str, last_price: Decimal, last_commission: Decimal
) -> None:
    fills = flatten(fills, last_price, last_commission)
    book, bookings = replay("P", method, fills)
    assert book.side is None
    total = add(*(b.realized_pnl for b in bookings if b.realized_pnl is not None))
    # compared exactly (==) against an independent computation in fractions
    assert Fraction(total) == cash(fills)
    assert realized(bookings) == cash(fills)
    # the runs' totals add up to the same figure
    runs = [b.closed_run for b in bookings if b.closed_run is not None]
    assert sum(Fraction(r.realized_pnl) for r in runs) == cash(fills)


@PROPERTY_SETTINGS
@given(fill_sequences(), st.sampled_from(COST_BASIS_METHODS))
def test_cash_identity_holds_with_positions_open(fills: list[Fill], method: str) -> None:
    """Realized = cash + remaining long cost - remaining short proceeds, at every step."""
    book = Book("P", method)
    bookings: list[Booking] = []
    for i, f in enumerate(fills):
        bookings.append(book.apply(f, allow_short=True))
        held = Fraction(book.open_amount)
        signed_held = held if book.side == "long" else -held
        assert realized(bookings) == cash(fills[: i + 1]) + signed_held


@st.composite
def single_lot_sequences(draw: st.DrawFn) -> list[Fill]:
    """Fills that never hold more than one lot: open when flat, then only reduce or flip."""
    fills: list[Fill] = []
    book = Book("P", "fifo")
    for i in range(draw(st.integers(1, 12))):
        if book.side is None:
            side = draw(st.sampled_from(["buy", "sell"]))
            quantity = draw(quantities)
        else:
            side = "sell" if book.side == "long" else "buy"
            # reduce, close exactly, or flip by up to 10 more units
            choice = draw(st.sampled_from(["reduce", "close", "flip"]))
            if choice == "close" or book.quantity <= Decimal("0.0001"):
                quantity = book.quantity
            elif choice == "reduce":
                units = int(book.quantity * 10_000)
                quantity = Decimal(draw(st.integers(1, units - 1))) / 10_000
            else:
                quantity = book.quantity + draw(quantities)
        f = Fill(side, quantity, draw(prices), draw(costs), draw(costs), T0 + timedelta(minutes=i))
        book.apply(f, allow_short=True)
        fills.append(f)
    return fills


@PROPERTY_SETTINGS
@given(single_lot_sequences())
def test_methods_agree_when_only_one_lot_is_ever_open(fills: list[Fill]) -> None:
    results = []
    for method in COST_BASIS_METHODS:
        book, bookings = replay("P", method, fills)
        assert len(book.lots) <= 1
        results.append(([b.realized_pnl for b in bookings], book.open_amount, book.quantity))
    assert results[0] == results[1] == results[2]


def swap_sides(fills: list[Fill]) -> list[Fill]:
    return [f._replace(side="sell" if f.side == "buy" else "buy") for f in fills]


@PROPERTY_SETTINGS
@given(fill_sequences(), st.sampled_from(COST_BASIS_METHODS))
def test_shorts_mirror_longs_without_costs(fills: list[Fill], method: str) -> None:
    """Swapping every side mirrors the book; without costs realized P&L is negated exactly.

    (A long bought at a and sold at b makes exactly what a short sold at a and covered at b
    loses. "Identical" cannot hold: the swapped sequence sells where the original bought.)
    """
    fills = [f._replace(commission=Decimal(0), fees=Decimal(0)) for f in fills]
    long_book, long_bookings = replay("P", method, fills)
    short_book, short_bookings = replay("P", method, swap_sides(fills))
    assert short_book.signed_quantity == long_book.signed_quantity.copy_negate()
    assert short_book.open_amount == long_book.open_amount
    assert short_book.realized_pnl == long_book.realized_pnl.copy_negate()
    for mine, theirs in zip(long_bookings, short_bookings):
        if mine.realized_pnl is None:
            assert theirs.realized_pnl is None
        else:
            assert theirs.realized_pnl == mine.realized_pnl.copy_negate()
        assert [(p.trade_id, p.quantity, p.lot_amount) for p in mine.closed] == [
            (p.trade_id, p.quantity, p.lot_amount) for p in theirs.closed
        ]
        assert (mine.opened_run, mine.closed_run is None) == (
            theirs.opened_run,
            theirs.closed_run is None,
        )


@PROPERTY_SETTINGS
@given(fill_sequences(), st.sampled_from(COST_BASIS_METHODS), prices, costs)
def test_shorts_mirror_longs_with_costs(
    fills: list[Fill], method: str, last_price: Decimal, last_commission: Decimal
) -> None:
    """With costs both directions pay them: per portion long + short realized is the
    difference of the lot shares minus both closing-cost shares, and over a round trip the
    two directions together lose exactly twice the commissions and fees."""
    fills = flatten(fills, last_price, last_commission)
    _, long_bookings = replay("P", method, fills)
    _, short_bookings = replay("P", method, swap_sides(fills))
    for f, mine, theirs in zip(fills, long_bookings, short_bookings):
        assert [(p.trade_id, p.quantity, p.costs) for p in mine.closed] == [
            (p.trade_id, p.quantity, p.costs) for p in theirs.closed
        ]
        for a, b in zip(mine.closed, theirs.closed):
            # a sell in the original sequence closes a long lot there, a short one when swapped
            long_share, short_share = (a, b) if f.side == "sell" else (b, a)
            assert Fraction(a.realized) + Fraction(b.realized) + 2 * Fraction(a.costs) == (
                Fraction(short_share.lot_amount) - Fraction(long_share.lot_amount)
            )
    all_costs = sum((Fraction(f.commission) + Fraction(f.fees) for f in fills), Fraction(0))
    assert realized(long_bookings) + realized(short_bookings) == -2 * all_costs


@PROPERTY_SETTINGS
@given(fill_sequences(max_size=10), st.sampled_from(COST_BASIS_METHODS))
def test_replay_equals_incremental_application(fills: list[Fill], method: str) -> None:
    incremental = Book("P", method)
    incremental_bookings: list[Booking] = []
    for i, f in enumerate(fills):
        incremental_bookings.append(incremental.apply(f, allow_short=True))
        rebuilt, rebuilt_bookings = replay("P", method, fills[: i + 1])
        assert state(rebuilt) == state(incremental)
        assert rebuilt_bookings == incremental_bookings


@PROPERTY_SETTINGS
@given(fill_sequences(max_size=10), st.sampled_from(COST_BASIS_METHODS))
def test_results_do_not_depend_on_the_callers_decimal_context(
    fills: list[Fill], method: str
) -> None:
    reference = replay("P", method, fills)
    with localcontext() as context:
        context.prec = 3
        tiny = replay("P", method, fills)
    assert state(tiny[0]) == state(reference[0])
    assert tiny[1] == reference[1]
