"""The order life cycle (docs/ledger.md §7, "Orders"): types, time in force, states and fills.

Pure rules only: the storage layer loads an order, asks these functions whether a change
is allowed and what the new fill totals are, and writes the result. Keeping the table here
means the command line, the Python API and any bot all refuse the same transitions with the
same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from stocksbot.ledger.errors import LedgerError
from stocksbot.ledger.numbers import (
    add,
    canonical,
    divide,
    format_decimal,
    multiply,
    subtract,
)
from stocksbot.vocabulary import (
    BUY,
    CANCELLED,
    EXPIRED,
    FILLED,
    LIMIT,
    MARKET,
    ORDER_STATUSES,
    ORDER_TYPES,
    PARTIALLY_FILLED,
    PENDING,
    REJECTED,
    STOP,
    STOP_LIMIT,
    SUBMITTED,
    TIME_IN_FORCE,
)

__all__ = [
    "CANCELLED",
    "EXPIRED",
    "FILLED",
    "FINAL_ORDER_STATUSES",
    "LIMIT",
    "MARKET",
    "PARTIALLY_FILLED",
    "PENDING",
    "REJECTED",
    "STOP",
    "STOP_LIMIT",
    "SUBMITTED",
    "ORDER_STATUSES",
    "ORDER_TRANSITIONS",
    "ORDER_TYPES",
    "TIME_IN_FORCE",
    "OrderFillResult",
    "apply_fill",
    "check_fill_price",
    "check_transition",
    "validate_order_prices",
    "validate_order_status",
    "validate_order_type",
    "validate_time_in_force",
]


FINAL_ORDER_STATUSES: frozenset[str] = frozenset({FILLED, CANCELLED, REJECTED, EXPIRED})

#: Every allowed (current -> new) change, exactly as the table in docs/ledger.md §7.3 lists
#: them. Anything else, including "changing" to the same state, is refused.
ORDER_TRANSITIONS: dict[str, tuple[str, ...]] = {
    PENDING: (SUBMITTED, CANCELLED, REJECTED),
    SUBMITTED: (PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, EXPIRED),
    PARTIALLY_FILLED: (FILLED, CANCELLED, EXPIRED),
    FILLED: (),
    CANCELLED: (),
    REJECTED: (),
    EXPIRED: (),
}

_FILLABLE = (SUBMITTED, PARTIALLY_FILLED)


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise LedgerError(f"unknown {name} {value!r}: expected one of {', '.join(allowed)}")
    return value


def validate_order_type(order_type: str) -> str:
    """Refuse an order type stocksbot does not know (docs/ledger.md §7.1)."""
    return _one_of("order type", order_type, ORDER_TYPES)


def validate_time_in_force(tif: str) -> str:
    """Refuse a time in force stocksbot does not know (docs/ledger.md §7.2)."""
    return _one_of("time in force", tif, TIME_IN_FORCE)


def validate_order_status(status: str) -> str:
    """Refuse an order status stocksbot does not know (docs/ledger.md §7.3)."""
    return _one_of("order status", status, ORDER_STATUSES)


def validate_order_prices(
    order_type: str,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
) -> None:
    """Check that an order carries exactly the prices its type needs.

    limit needs a limit price, stop a stop price, stop_limit both; market takes none. A price
    the type does not use is refused too rather than silently stored, since it suggests the
    user picked the wrong type. See docs/ledger.md §7.1 (types and prices).
    """
    validate_order_type(order_type)
    for name, price in (("limit price", limit_price), ("stop price", stop_price)):
        if price is not None and price < 0:
            raise LedgerError(f"{name} must be 0 or more, got {format_decimal(price)}")
    has_limit = limit_price is not None
    has_stop = stop_price is not None
    if order_type == MARKET:
        if has_limit or has_stop:
            raise LedgerError(
                "a market order takes no limit or stop price: use type limit, stop or stop_limit"
            )
    elif order_type == LIMIT:
        if not has_limit:
            raise LedgerError("a limit order needs a limit price")
        if has_stop:
            raise LedgerError("a limit order takes no stop price: use type stop_limit for both")
    elif order_type == STOP:
        if not has_stop:
            raise LedgerError("a stop order needs a stop price")
        if has_limit:
            raise LedgerError("a stop order takes no limit price: use type stop_limit for both")
    else:  # stop_limit
        missing = [
            name
            for name, present in (("limit price", has_limit), ("stop price", has_stop))
            if not present
        ]
        if missing:
            raise LedgerError(
                "a stop_limit order needs both a limit price and a stop price "
                f"(missing: {', '.join(missing)})"
            )


def check_transition(current: str, new: str) -> None:
    """Refuse any status change docs/ledger.md §7.3 does not list, naming both states and what is allowed."""
    validate_order_status(current)
    validate_order_status(new)
    allowed = ORDER_TRANSITIONS[current]
    if new in allowed:
        return
    if current in FINAL_ORDER_STATUSES:
        reason = f"{current} is final"
    else:
        reason = f"allowed from {current}: {', '.join(allowed)}"
    raise LedgerError(f"cannot change order from {current} to {new}: {reason}")


@dataclass(frozen=True)
class OrderFillResult:
    """An order's fill totals and status after one more fill."""

    filled_quantity: Decimal
    avg_fill_price: Decimal
    status: str


def apply_fill(
    quantity: Decimal,
    filled_quantity: Decimal,
    avg_fill_price: Decimal | None,
    status: str,
    fill_quantity: Decimal,
    fill_price: Decimal,
) -> OrderFillResult:
    """The order's new totals after a fill of `fill_quantity` at `fill_price`.

    Only submitted or partially filled orders can fill, and never beyond what remains.
    The average fill price is the quantity-weighted average of all fills (rounded by
    `divide` only when it repeats); the status becomes filled when nothing remains,
    partially_filled otherwise. See docs/ledger.md §7.4 (fills).
    """
    validate_order_status(status)
    if status not in _FILLABLE:
        if status == PENDING:
            raise LedgerError("cannot fill order: it is pending (submit it first)")
        raise LedgerError(f"cannot fill order: it is {status} ({status} is final)")
    if fill_quantity <= 0:
        raise LedgerError(
            f"fill quantity must be greater than 0, got {format_decimal(fill_quantity)}"
        )
    if fill_price < 0:
        raise LedgerError(f"fill price must be 0 or more, got {format_decimal(fill_price)}")
    remaining = subtract(quantity, filled_quantity)
    if fill_quantity > remaining:
        raise LedgerError(
            f"fill of {format_decimal(fill_quantity)} exceeds the order's remaining "
            f"quantity {format_decimal(remaining)}"
        )
    new_filled = add(filled_quantity, fill_quantity)
    if filled_quantity == 0 or avg_fill_price is None:
        new_avg = canonical(fill_price)
    else:
        notional = add(
            multiply(avg_fill_price, filled_quantity), multiply(fill_price, fill_quantity)
        )
        new_avg = divide(notional, new_filled)
    new_status = FILLED if new_filled == quantity else PARTIALLY_FILLED
    return OrderFillResult(filled_quantity=new_filled, avg_fill_price=new_avg, status=new_status)



def check_fill_price(
    order_type: str, side: str, limit_price: Decimal | None, fill_price: Decimal, *, force: bool = False
) -> None:
    """Refuse a fill that breaks the order's limit price (docs/ledger.md §7.4, "Limit prices").

    A limit (or stop_limit) order promises a price at least as good as its limit: a buy
    fills at or below it, a sell at or above it. A fill on the wrong side of the limit is
    almost always a typo (51 for 15) or the wrong order id, so it is refused unless `force`
    says the broker really filled it there. Market and stop orders have no limit to break.
    """
    if force or order_type not in (LIMIT, STOP_LIMIT) or limit_price is None:
        return
    if side == BUY:
        if fill_price > limit_price:
            raise LedgerError(
                f"fill price {format_decimal(fill_price)} is above the order's buy limit {format_decimal(limit_price)} "
                "(use --force if the broker really filled it there)"
            )
    elif fill_price < limit_price:
        raise LedgerError(
            f"fill price {format_decimal(fill_price)} is below the order's sell limit {format_decimal(limit_price)} "
            "(use --force if the broker really filled it there)"
        )
