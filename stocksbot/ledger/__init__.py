"""Pure domain logic of stocksbot: exact numbers, lots and P&L, the order state machine.

Nothing in this package touches a database, a file or the clock, so the same rules serve
booking a single trade, rebuilding every position from the trades, and checking that the
two agree. Only the standard library (and `stocksbot.errors`, `stocksbot.lazy`) is
imported. The rules are written down in docs/ledger.md.

The bookkeeping (`lots.py`: lots and runs; `orders.py`: the order state machine) is loaded on
first use of one of its names: a command that only reads positions needs the numbers but not
the dataclasses of booking, whose creation costs start-up time (issue 10; `storage/records`
explains why a dataclass does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stocksbot.lazy import attributes
from stocksbot.ledger.errors import LedgerError
from stocksbot.ledger.numbers import (
    DERIVED_PLACES,
    LEDGER_CONTEXT,
    MAX_DECIMAL_PLACES,
    MAX_INTEGER_DIGITS,
    add,
    canonical,
    divide,
    format_decimal,
    multiply,
    parse_decimal,
    prorate,
    subtract,
)

if TYPE_CHECKING:
    from stocksbot.ledger.lots import (
        AVERAGE,
        BUY,
        COST_BASIS_METHODS,
        FIFO,
        LIFO,
        LONG,
        POSITION_SIDES,
        SELL,
        SHORT,
        TRADE_SIDES,
        Book,
        Booking,
        ClosedPortion,
        Fill,
        Lot,
        RunSummary,
        realized_by_opener,
        replay,
    )
    from stocksbot.ledger.orders import (
        FINAL_ORDER_STATUSES,
        ORDER_STATUSES,
        ORDER_TRANSITIONS,
        ORDER_TYPES,
        TIME_IN_FORCE,
        OrderFillResult,
        apply_fill,
        check_transition,
        validate_order_prices,
        validate_order_status,
        validate_order_type,
        validate_time_in_force,
    )

#: Where each lazily loaded name is defined.
_HOMES = {
    "AVERAGE": "lots",
    "BUY": "lots",
    "COST_BASIS_METHODS": "lots",
    "FIFO": "lots",
    "LIFO": "lots",
    "LONG": "lots",
    "POSITION_SIDES": "lots",
    "SELL": "lots",
    "SHORT": "lots",
    "TRADE_SIDES": "lots",
    "Book": "lots",
    "Booking": "lots",
    "ClosedPortion": "lots",
    "Fill": "lots",
    "Lot": "lots",
    "RunSummary": "lots",
    "realized_by_opener": "lots",
    "replay": "lots",
    "FINAL_ORDER_STATUSES": "orders",
    "ORDER_STATUSES": "orders",
    "ORDER_TRANSITIONS": "orders",
    "ORDER_TYPES": "orders",
    "TIME_IN_FORCE": "orders",
    "OrderFillResult": "orders",
    "apply_fill": "orders",
    "check_transition": "orders",
    "validate_order_prices": "orders",
    "validate_order_status": "orders",
    "validate_order_type": "orders",
    "validate_time_in_force": "orders",
}

if not TYPE_CHECKING:  # type checkers see the imports above; at run time names load on first use
    __getattr__, __dir__ = attributes(__name__, _HOMES, globals())


__all__ = [
    "AVERAGE",
    "BUY",
    "COST_BASIS_METHODS",
    "DERIVED_PLACES",
    "FIFO",
    "FINAL_ORDER_STATUSES",
    "LEDGER_CONTEXT",
    "LIFO",
    "LONG",
    "MAX_DECIMAL_PLACES",
    "MAX_INTEGER_DIGITS",
    "ORDER_STATUSES",
    "ORDER_TRANSITIONS",
    "ORDER_TYPES",
    "POSITION_SIDES",
    "SELL",
    "SHORT",
    "TIME_IN_FORCE",
    "TRADE_SIDES",
    "Book",
    "Booking",
    "ClosedPortion",
    "Fill",
    "LedgerError",
    "Lot",
    "OrderFillResult",
    "RunSummary",
    "realized_by_opener",
    "add",
    "apply_fill",
    "canonical",
    "check_transition",
    "divide",
    "format_decimal",
    "multiply",
    "parse_decimal",
    "prorate",
    "replay",
    "subtract",
    "validate_order_prices",
    "validate_order_status",
    "validate_order_type",
    "validate_time_in_force",
]
