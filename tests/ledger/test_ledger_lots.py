"""Lot matching worked out by hand (docs/ledger.md §4)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from stocksbot.ledger import (
    COST_BASIS_METHODS,
    Book,
    Fill,
    LedgerError,
    format_decimal,
    replay,
)

D = Decimal
T0 = datetime(2024, 1, 15, 14, 30, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fill(
    side: str,
    quantity: str,
    price: str,
    commission: str = "0",
    fees: str = "0",
    minute: int = 0,
    trade_id: object = None,
) -> Fill:
    return Fill(side, D(quantity), D(price), D(commission), D(fees), at(minute), trade_id)


def worked_fills() -> list[Fill]:
    return [
        fill("buy", "4", "149.50", commission="1.00", minute=0, trade_id=1),
        fill("buy", "6", "150", minute=1, trade_id=2),
        fill("sell", "4", "160", minute=2, trade_id=3),
        fill("sell", "2", "140", minute=3, trade_id=4),
    ]


def test_fifo_worked_example() -> None:
    book, bookings = replay("AAPL", "fifo", worked_fills())
    assert [b.realized_pnl for b in bookings] == [None, None, D(41), D(-20)]
    # exact, not just equal in value to something rounded
    assert str(bookings[2].realized_pnl) == "41"
    assert str(bookings[3].realized_pnl) == "-20"
    assert [(p.trade_id, p.quantity) for p in bookings[2].closed] == [(1, D(4))]
    assert [(p.trade_id, p.quantity) for p in bookings[3].closed] == [(2, D(2))]
    assert book.side == "long"
    assert book.quantity == 4
    assert book.open_amount == 600
    assert book.avg_entry_price == 150
    assert book.realized_pnl == 21
    assert [(lot.trade_id, lot.quantity, lot.amount) for lot in book.lots] == [(2, 4, 600)]
    assert book.opened_at == at(0)


def test_lifo_worked_example() -> None:
    # sell 4 @ 160 closes 4 of the 6 @ 150 lot: 640 - 900*4/6 = 640 - 600 = 40
    # sell 2 @ 140 closes the last 2 of that lot: 280 - 300 = -20
    book, bookings = replay("AAPL", "lifo", worked_fills())
    assert [b.realized_pnl for b in bookings] == [None, None, D(40), D(-20)]
    assert [(p.trade_id, p.quantity) for p in bookings[2].closed] == [(2, D(4))]
    assert [(lot.trade_id, lot.quantity, lot.amount) for lot in book.lots] == [(1, 4, 599)]
    assert book.avg_entry_price == D("149.75")
    assert book.realized_pnl == 20


def test_average_worked_example() -> None:
    # pooled: 10 units costing 599 + 900 = 1499
    # sell 4 @ 160: 640 - 1499*4/10 = 640 - 599.6 = 40.4; left 6 units costing 899.4
    # sell 2 @ 140: 280 - 899.4*2/6 = 280 - 299.8 = -19.8; left 4 units costing 599.6
    book, bookings = replay("AAPL", "average", worked_fills())
    assert [b.realized_pnl for b in bookings] == [None, None, D("40.4"), D("-19.8")]
    lots = book.lots
    assert len(lots) == 1
    assert (lots[0].quantity, lots[0].amount, lots[0].opened_at) == (4, D("599.6"), at(0))
    assert book.avg_entry_price == D("149.9")
    assert book.realized_pnl == D("20.6")


def test_average_pool_of_two_lots_before_any_sale() -> None:
    book, _ = replay("AAPL", "average", worked_fills()[:2])
    assert book.quantity == 10
    assert book.open_amount == 1499
    assert book.avg_entry_price == D("149.9")


def test_sell_commission_is_split_pro_rata_over_closed_lots() -> None:
    # FIFO sell 6 @ 160 with 3.00 commission closes 4 of lot 1 and 2 of lot 2:
    # lot 1: 640 - 3*4/6 - 599 = 39; lot 2: 320 - 1 - 300 = 19
    fills = worked_fills()[:2] + [fill("sell", "6", "160", commission="3", minute=5)]
    _, bookings = replay("AAPL", "fifo", fills)
    closed = bookings[-1].closed
    assert [(p.trade_id, p.quantity, p.costs, p.realized) for p in closed] == [
        (1, 4, 2, 39),
        (2, 2, 1, 19),
    ]
    assert bookings[-1].realized_pnl == 58


def test_repeating_split_sums_back_exactly() -> None:
    # 3 units costing 100 sold one at a time at 0: the three cost shares are 33.33..33,
    # 33.33..34 (half-even on 66.66..67 / 2) and the remainder; they add up to 100 exactly.
    fills = [fill("buy", "3", "0", commission="100", minute=0)] + [
        fill("sell", "1", "0", minute=i) for i in (1, 2, 3)
    ]
    book, bookings = replay("X", "fifo", fills)
    shares = [b.closed[0].lot_amount for b in bookings[1:]]
    assert shares == [
        D("33.33333333333333333333"),
        D("33.33333333333333333334"),
        D("33.33333333333333333333"),
    ]
    assert sum(shares) == 100
    assert sum(b.realized_pnl for b in bookings[1:]) == -100
    assert bookings[-1].closed_run is not None
    assert bookings[-1].closed_run.realized_pnl == -100
    assert book.side is None


def test_short_round_trip() -> None:
    # sell 10 @ 50, commission 2, fees 0.5: short lot proceeds 500 - 2.5 = 497.5
    # buy 4 @ 45, commission 1: 497.5*4/10 - (180 + 1) = 199 - 181 = 18
    # buy 6 @ 40, commission 1: 298.5 - (240 + 1) = 57.5
    fills = [
        fill("sell", "10", "50", commission="2", fees="0.5", minute=0, trade_id="s"),
        fill("buy", "4", "45", commission="1", minute=1),
        fill("buy", "6", "40", commission="1", minute=2),
    ]
    book = Book("TSLA", "fifo")
    opened = book.apply(fills[0], allow_short=True)
    assert opened.realized_pnl is None and opened.opened_run
    assert book.side == "short"
    assert book.quantity == 10
    assert book.open_amount == D("497.5")
    assert book.avg_entry_price == D("49.75")
    first = book.apply(fills[1], allow_short=False)  # covering never needs allow_short
    assert first.realized_pnl == 18
    assert book.open_amount == D("298.5")
    last = book.apply(fills[2], allow_short=False)
    assert last.realized_pnl == D("57.5")
    assert last.closed_run is not None
    assert last.closed_run.side == "short"
    assert last.closed_run.realized_pnl == D("75.5")
    assert last.closed_run.opened_at == at(0)
    assert last.closed_run.closed_at == at(2)
    assert last.closed_run.max_quantity == 10
    assert not last.opened_run
    # 500 - 420 - 4.5
    assert book.side is None and book.quantity == 0 and book.avg_entry_price is None
    assert book.realized_pnl == 0 and book.opened_at is None


def test_flip_long_to_short_with_allow_short() -> None:
    # buy 10 @ 100; sell 15 @ 110 with 3 commission:
    # closing 10: 1100 - 3*10/15 - 1000 = 98; opening short 5: 550 - 1 = 549 proceeds
    book = Book("AAPL", "fifo")
    book.apply(fill("buy", "10", "100", minute=0, trade_id=1), allow_short=False)
    flip = book.apply(
        fill("sell", "15", "110", commission="3", minute=1, trade_id=2), allow_short=True
    )
    assert flip.realized_pnl == 98
    assert [(p.trade_id, p.quantity, p.costs) for p in flip.closed] == [(1, 10, 2)]
    assert flip.closed_run is not None
    assert (flip.closed_run.side, flip.closed_run.realized_pnl) == ("long", 98)
    assert flip.closed_run.max_quantity == 10
    assert flip.opened_run
    assert book.side == "short"
    assert book.quantity == 5
    assert book.open_amount == 549
    assert book.avg_entry_price == D("109.8")
    assert book.opened_at == at(1)
    assert book.realized_pnl == 0
    cover = book.apply(fill("buy", "5", "100", minute=2), allow_short=False)
    assert cover.realized_pnl == 49


def test_flip_short_to_long_by_buying_more_than_the_short() -> None:
    book = Book("AAPL", "lifo")
    book.apply(fill("sell", "2", "10", minute=0), allow_short=True)
    booking = book.apply(fill("buy", "5", "8", fees="0.5", minute=1), allow_short=False)
    # cover 2: 20 - (16 + 0.2) = 3.8; open long 3 costing 24 + 0.3
    assert booking.realized_pnl == D("3.8")
    assert booking.opened_run and booking.closed_run is not None
    assert book.side == "long"
    assert book.open_amount == D("24.3")
    assert book.avg_entry_price == D("8.1")


@pytest.mark.parametrize("method", COST_BASIS_METHODS)
def test_oversell_is_refused_with_the_spec_message(method: str) -> None:
    book = Book("AAPL", method)
    book.apply(fill("buy", "100", "150"), allow_short=False)
    with pytest.raises(LedgerError) as info:
        book.apply(fill("sell", "150", "160", minute=1), allow_short=False)
    assert str(info.value) == "cannot sell 150 AAPL: long position is 100 (use --allow-short to sell short)"
    # nothing changed
    assert book.quantity == 100 and book.open_amount == 15000 and book.realized_pnl == 0


def test_sell_while_flat_is_refused_without_allow_short() -> None:
    book = Book("AAPL", "fifo")
    with pytest.raises(LedgerError) as info:
        book.apply(fill("sell", "0.5", "1"), allow_short=False)
    assert str(info.value) == "cannot sell 0.5 AAPL: long position is 0 (use --allow-short to sell short)"
    assert book.side is None


def test_adding_to_a_short_needs_allow_short() -> None:
    book = Book("AAPL", "fifo")
    book.apply(fill("sell", "3", "1"), allow_short=True)
    with pytest.raises(LedgerError) as info:
        book.apply(fill("sell", "1", "1", minute=1), allow_short=False)
    assert str(info.value) == "cannot sell 1 AAPL: long position is 0 (it is short 3; use --allow-short to sell short)"
    assert book.apply(fill("sell", "1", "1", minute=1), allow_short=True).realized_pnl is None
    assert book.quantity == 4


def test_tiny_price_average_entry_is_exact() -> None:
    book, _ = replay("PENNY", "fifo", [fill("buy", "3", "0.0000000001")])
    assert book.avg_entry_price == D("0.0000000001")
    assert format_decimal(book.avg_entry_price) == "0.0000000001"
    book, _ = replay("PENNY", "average", [fill("buy", "0.0000000001", "3")])
    assert book.avg_entry_price == 3


@pytest.mark.parametrize("method", COST_BASIS_METHODS)
def test_largest_values_round_trip_exactly(method: str) -> None:
    big = "123456789012345678.5"
    fills = [
        fill("buy", big, big, commission="0.0000000001"),
        fill("sell", big, "123456789012345678.5000000001", fees="999999999999999999.9999999999",
             minute=1),
    ]
    # without costs the entry is exactly P, even at 18 integer digits
    plain, _ = replay("BIG", method, [fill("buy", big, big)])
    assert plain.avg_entry_price == D(big)
    book, bookings = replay("BIG", method, fills)
    # realized = q * 1e-10 - fees - buy commission
    #          = 12345678.90123456785 - 999999999999999999.9999999999 - 0.0000000001
    assert bookings[1].realized_pnl == D("-999999999987654321.09876543215")
    assert book.open_amount == 0
    assert bookings[1].closed_run is not None


def test_invalid_fills_are_refused() -> None:
    book = Book("AAPL", "fifo")
    bad = [
        (fill("hold", "1", "1"), "trade side must be buy or sell"),
        (fill("buy", "0", "1"), "quantity must be greater than 0, got 0"),
        (fill("buy", "-1", "1"), "quantity must be greater than 0, got -1"),
        (fill("buy", "1", "-1"), "price must be 0 or more, got -1"),
        (fill("buy", "1", "1", commission="-0.01"), "commission must be 0 or more"),
        (fill("buy", "1", "1", fees="-2"), "fees must be 0 or more"),
        (
            Fill("buy", 1.5, D(1), D(0), D(0), T0),  # type: ignore[arg-type]
            "quantity must be a Decimal",
        ),
        (fill("buy", "NaN", "1"), "quantity must be a finite number"),
    ]
    for bad_fill, message in bad:
        with pytest.raises(LedgerError, match=message.replace("(", r"\(")):
            book.apply(bad_fill, allow_short=True)
    assert book.side is None


def test_unknown_method_is_refused() -> None:
    with pytest.raises(LedgerError, match="unknown cost-basis method 'hifo'"):
        Book("AAPL", "hifo")


def test_fills_out_of_time_order_are_refused() -> None:
    book = Book("AAPL", "fifo")
    book.apply(fill("buy", "1", "1", minute=5), allow_short=False)
    book.apply(fill("buy", "1", "1", minute=5), allow_short=False)  # same time is fine
    with pytest.raises(LedgerError, match="earlier than the last booked trade of AAPL"):
        book.apply(fill("buy", "1", "1", minute=4), allow_short=False)


def test_lots_are_copies_in_time_order() -> None:
    book, _ = replay("AAPL", "lifo", worked_fills()[:2])
    lots = book.lots
    assert [lot.trade_id for lot in lots] == [1, 2]
    lots[0].quantity = D(999)
    assert book.quantity == 10


def test_zero_realized_is_not_none() -> None:
    fills = [fill("buy", "1", "10"), fill("sell", "1", "10", minute=1)]
    _, bookings = replay("AAPL", "fifo", fills)
    assert bookings[1].realized_pnl == 0
    assert bookings[1].realized_pnl is not None


def test_max_quantity_tracks_the_run() -> None:
    fills = [
        fill("buy", "5", "1", minute=0),
        fill("buy", "5", "1", minute=1),
        fill("sell", "8", "1", minute=2),
        fill("buy", "1", "1", minute=3),
        fill("sell", "3", "1", minute=4),
    ]
    book, bookings = replay("AAPL", "fifo", fills)
    assert book.side is None
    assert bookings[-1].closed_run is not None
    assert bookings[-1].closed_run.max_quantity == 10
    assert book.max_quantity == 0


def test_bookings_are_ordinary_frozen_dataclasses() -> None:
    """apply builds Booking, ClosedPortion and RunSummary without their __init__ (for speed);
    they must still equal, print and refuse changes like ones built the usual way."""
    import dataclasses

    from stocksbot.ledger import Booking, ClosedPortion, RunSummary

    book = Book("AAPL", "fifo")
    book.apply(fill("buy", "10", "100", commission="1", minute=0, trade_id=1), allow_short=False)
    booking = book.apply(fill("sell", "10", "110", commission="1", minute=1, trade_id=2), allow_short=False)
    portion = ClosedPortion(trade_id=1, quantity=D(10), realized=D(98), lot_amount=D(1001), costs=D(1), opened_at=at(0))
    run = RunSummary(side="long", realized_pnl=D(98), opened_at=at(0), closed_at=at(1), max_quantity=D(10), costs=D(2))
    expected = Booking(realized_pnl=D(98), closed=[portion], closed_run=run, opened_run=False)
    assert booking == expected
    assert repr(booking) == repr(expected)
    assert dataclasses.asdict(booking) == dataclasses.asdict(expected)
    for frozen in (booking, booking.closed[0], booking.closed_run):
        with pytest.raises(dataclasses.FrozenInstanceError):
            frozen.realized_pnl = D(0)  # type: ignore[misc, union-attr]


def test_apply_keeps_the_text_form_of_stored_values() -> None:
    """Lot and portion values are stored as text, so their exact form matters: quantities
    keep the form they were given, and exponent forms from the Python API come out as
    add/subtract/multiply make them (the figures are what the ledger has always given)."""
    book = Book("X", "average")
    book.apply(Fill("buy", D("1E+2"), D("1.50"), D("0"), D("-0"), at(0), 1), allow_short=False)
    book.apply(Fill("buy", D("5.0"), D("2"), D("1E+1"), D("0.00"), at(1), 2), allow_short=False)
    [lot] = book.lots
    assert (str(lot.quantity), str(lot.amount)) == ("105.0", "170.00")
    booking = book.apply(Fill("sell", D("105.00"), D("2"), D("0"), D("0"), at(2), 3), allow_short=False)
    [portion] = booking.closed
    assert (str(portion.quantity), str(portion.lot_amount), str(portion.realized)) == ("105.00", "170.00", "40.00")
    assert booking.closed_run is not None
    assert str(booking.closed_run.max_quantity) == "105.0"


def test_restored_lot_that_is_not_positive_is_still_refused() -> None:
    from stocksbot.ledger import Lot

    lots = [Lot("long", D(0), D(0), at(0), 1), Lot("long", D(5), D(50), at(0), 2)]
    book = Book.restore("X", "fifo", lots, realized_pnl=D(0), opened_at=at(0), last_executed_at=at(0))
    with pytest.raises(ValueError, match="cannot take 0 units from a lot of 0"):
        book.apply(fill("sell", "1", "10", minute=1), allow_short=True)
