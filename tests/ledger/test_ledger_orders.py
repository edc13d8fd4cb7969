"""The order state machine against docs/ledger.md §7.3."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocksbot.ledger import (
    FINAL_ORDER_STATUSES,
    ORDER_STATUSES,
    ORDER_TYPES,
    TIME_IN_FORCE,
    LedgerError,
    OrderFillResult,
    apply_fill,
    check_transition,
    validate_order_prices,
    validate_order_type,
    validate_time_in_force,
)

D = Decimal

# Written out from docs/ledger.md §7.3 independently of the implementation's table.
SPEC_ALLOWED = {
    ("pending", "submitted"),
    ("submitted", "partially_filled"),
    ("partially_filled", "filled"),
    ("pending", "cancelled"),
    ("submitted", "cancelled"),
    ("partially_filled", "cancelled"),
    ("pending", "rejected"),
    ("submitted", "rejected"),
    ("submitted", "expired"),
    ("partially_filled", "expired"),
    ("submitted", "filled"),
}


def test_vocabularies() -> None:
    assert ORDER_TYPES == ("market", "limit", "stop", "stop_limit")
    assert TIME_IN_FORCE == ("day", "gtc", "ioc", "fok")
    assert set(ORDER_STATUSES) == {
        "pending", "submitted", "partially_filled", "filled", "cancelled", "rejected", "expired"
    }
    assert FINAL_ORDER_STATUSES == {"filled", "cancelled", "rejected", "expired"}


@pytest.mark.parametrize("current", ORDER_STATUSES)
@pytest.mark.parametrize("new", ORDER_STATUSES)
def test_every_transition_against_the_spec_table(current: str, new: str) -> None:
    if (current, new) in SPEC_ALLOWED:
        check_transition(current, new)
        return
    with pytest.raises(LedgerError) as info:
        check_transition(current, new)
    message = str(info.value)
    assert message.startswith(f"cannot change order from {current} to {new}: ")
    if current in FINAL_ORDER_STATUSES:
        assert message.endswith(f"{current} is final")


def test_transition_messages() -> None:
    with pytest.raises(LedgerError) as info:
        check_transition("filled", "cancelled")
    assert str(info.value) == "cannot change order from filled to cancelled: filled is final"
    with pytest.raises(LedgerError) as info:
        check_transition("pending", "expired")
    assert str(info.value) == (
        "cannot change order from pending to expired: "
        "allowed from pending: submitted, cancelled, rejected"
    )


def test_unknown_status_is_refused() -> None:
    with pytest.raises(LedgerError, match="unknown order status 'open': expected one of pending"):
        check_transition("open", "cancelled")
    with pytest.raises(LedgerError, match="unknown order status 'done'"):
        check_transition("pending", "done")


@pytest.mark.parametrize(
    ("order_type", "limit", "stop"),
    [
        ("market", None, None),
        ("limit", D("150.25"), None),
        ("stop", None, D("140")),
        ("stop_limit", D("141"), D("140")),
        ("limit", D(0), None),
    ],
)
def test_valid_order_prices(order_type: str, limit: Decimal | None, stop: Decimal | None) -> None:
    assert validate_order_prices(order_type, limit, stop) is None  # accepted: no LedgerError


@pytest.mark.parametrize(
    ("order_type", "limit", "stop", "message"),
    [
        ("market", D(1), None, "a market order takes no limit or stop price"),
        ("market", None, D(1), "a market order takes no limit or stop price"),
        ("limit", None, None, "a limit order needs a limit price"),
        ("limit", D(1), D(1), "a limit order takes no stop price"),
        ("stop", None, None, "a stop order needs a stop price"),
        ("stop", D(1), D(1), "a stop order takes no limit price"),
        ("stop_limit", None, D(1), "needs both a limit price and a stop price (missing: limit"),
        ("stop_limit", D(1), None, "(missing: stop price)"),
        ("stop_limit", None, None, "(missing: limit price, stop price)"),
        ("limit", D(-1), None, "limit price must be 0 or more, got -1"),
        ("trailing", None, None, "unknown order type 'trailing': expected one of market, limit"),
    ],
)
def test_invalid_order_prices(
    order_type: str, limit: Decimal | None, stop: Decimal | None, message: str
) -> None:
    with pytest.raises(LedgerError) as info:
        validate_order_prices(order_type, limit, stop)
    assert message in str(info.value)


def test_type_and_tif_validation() -> None:
    assert validate_order_type("stop_limit") == "stop_limit"
    assert validate_time_in_force("gtc") == "gtc"
    with pytest.raises(LedgerError, match="unknown time in force 'gtd': expected one of day, gtc"):
        validate_time_in_force("gtd")


def test_partial_then_full_fill() -> None:
    first = apply_fill(D(10), D(0), None, "submitted", D(4), D("100"))
    assert first == OrderFillResult(D(4), D(100), "partially_filled")
    second = apply_fill(D(10), first.filled_quantity, first.avg_fill_price, first.status,
                        D(6), D("105"))
    # (4*100 + 6*105) / 10 = 103
    assert second == OrderFillResult(D(10), D(103), "filled")


def test_whole_fill_from_submitted() -> None:
    assert apply_fill(D("2.5"), D(0), None, "submitted", D("2.5"), D("0.0000000001")) == (
        OrderFillResult(D("2.5"), D("0.0000000001"), "filled")
    )


def test_repeating_average_fill_price() -> None:
    first = apply_fill(D(3), D(0), None, "submitted", D(1), D(1))
    second = apply_fill(D(3), first.filled_quantity, first.avg_fill_price, first.status,
                        D(2), D(2))
    assert second.avg_fill_price == D("1.66666666666666666667")
    assert second.status == "filled"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("pending", "cannot fill order: it is pending (submit it first)"),
        ("filled", "cannot fill order: it is filled (filled is final)"),
        ("cancelled", "cannot fill order: it is cancelled (cancelled is final)"),
        ("rejected", "cannot fill order: it is rejected (rejected is final)"),
        ("expired", "cannot fill order: it is expired (expired is final)"),
    ],
)
def test_fill_refused_outside_submitted_or_partially_filled(status: str, message: str) -> None:
    with pytest.raises(LedgerError) as info:
        apply_fill(D(10), D(0), None, status, D(1), D(1))
    assert str(info.value) == message


def test_fill_beyond_remaining_quantity_is_refused() -> None:
    with pytest.raises(LedgerError) as info:
        apply_fill(D(10), D(5), D(100), "partially_filled", D(7), D(100))
    assert str(info.value) == "fill of 7 exceeds the order's remaining quantity 5"


def test_fill_quantity_and_price_checks() -> None:
    with pytest.raises(LedgerError, match="fill quantity must be greater than 0, got 0"):
        apply_fill(D(10), D(0), None, "submitted", D(0), D(1))
    with pytest.raises(LedgerError, match="fill price must be 0 or more, got -1"):
        apply_fill(D(10), D(0), None, "submitted", D(1), D(-1))


units = st.integers(1, 10_000).map(lambda n: D(f"{n}E-2"))


@settings(max_examples=200, deadline=None)
@given(units, st.lists(st.tuples(units, units), min_size=1, max_size=8))
def test_fills_accumulate_to_weighted_average(
    order_qty: Decimal, fills: list[tuple[Decimal, Decimal]]
) -> None:
    filled, avg, status = D(0), None, "submitted"
    total_qty, notional = Fraction(0), Fraction(0)
    for qty, price in fills:
        if status == "filled":
            with pytest.raises(LedgerError, match="filled is final"):
                apply_fill(order_qty, filled, avg, status, qty, price)
            continue
        if qty > order_qty - filled:
            with pytest.raises(LedgerError, match="exceeds the order's remaining quantity"):
                apply_fill(order_qty, filled, avg, status, qty, price)
            continue
        result = apply_fill(order_qty, filled, avg, status, qty, price)
        filled, avg, status = result.filled_quantity, result.avg_fill_price, result.status
        total_qty += Fraction(qty)
        notional += Fraction(qty) * Fraction(price)
        assert Fraction(filled) == total_qty
        assert status == ("filled" if filled == order_qty else "partially_filled")
        # within rounding of the exact weighted average (20 places per step)
        assert avg is not None
        assert abs(Fraction(avg) * total_qty - notional) < Fraction(1, 10**12) * total_qty
