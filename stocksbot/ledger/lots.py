"""Lot matching and realized P&L for one symbol (SPEC 3, "Lots and P&L").

A `Book` holds the open run of one symbol (flat to flat) as a list of lots and books fills
into it one at a time, in `executed_at` order. It is pure: no storage, no clock, no I/O, so
the storage layer can use the same code to book a new trade and to rebuild every position
from the trades, and `stocksbot db check` can compare the two.

Exactness matters more than anything here. Whenever an amount (a lot's cost, a trade's
commission and fees) is split between portions, every portion but the last is its pro-rata
share rounded by `divide`, and the last one gets the exact remainder. So the portions of an
amount always add up to the amount itself, and the realized P&L of a round trip equals
proceeds minus costs with no rounding drift, whatever the method.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from stocksbot.ledger.errors import LedgerError
from stocksbot.ledger.numbers import (
    ZERO,
    add,
    canonical,
    divide,
    format_decimal,
    multiply,
    prorate,
    subtract,
)

__all__ = [
    "AVERAGE",
    "BUY",
    "COST_BASIS_METHODS",
    "FIFO",
    "LIFO",
    "LONG",
    "POSITION_SIDES",
    "SELL",
    "SHORT",
    "TRADE_SIDES",
    "Book",
    "Booking",
    "ClosedPortion",
    "Fill",
    "Lot",
    "RunSummary",
    "replay",
]

FIFO = "fifo"
LIFO = "lifo"
AVERAGE = "average"
#: Accepted values of `accounting.cost_basis`; the first is the default.
COST_BASIS_METHODS: tuple[str, ...] = (FIFO, LIFO, AVERAGE)

BUY = "buy"
SELL = "sell"
TRADE_SIDES: tuple[str, ...] = (BUY, SELL)

LONG = "long"
SHORT = "short"
POSITION_SIDES: tuple[str, ...] = (LONG, SHORT)


@dataclass(frozen=True)
class Fill:
    """One executed trade as the ledger sees it.

    `trade_id` is opaque (a database id, an external id, anything hashable or not): the
    ledger only carries it into the lots it opens so callers can tell which trade a lot or a
    closed portion came from.
    """

    side: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    fees: Decimal
    executed_at: datetime
    trade_id: object | None = None

    @property
    def costs(self) -> Decimal:
        """Commission plus fees: what the trade cost on top of quantity x price."""
        return add(self.commission, self.fees)

    @property
    def gross(self) -> Decimal:
        """quantity x price, exactly."""
        return multiply(self.quantity, self.price)


@dataclass
class Lot:
    """An open lot: what is left of one opening trade (or, for `average`, of the pool).

    `amount` is the remaining cost of a long lot (quantity x price + commission + fees) or
    the remaining net proceeds of a short lot (quantity x price - commission - fees). It is
    kept as a total rather than a per-unit price so that closing the last unit uses exactly
    what is left instead of a rounded unit cost.
    """

    side: str
    quantity: Decimal
    amount: Decimal
    opened_at: datetime
    trade_id: object | None = None

    @property
    def unit_amount(self) -> Decimal:
        """Cost (long) or net proceeds (short) per remaining unit."""
        return divide(self.amount, self.quantity)

    def take(self, quantity: Decimal) -> Decimal:
        """Detach `quantity` units from the lot and return their share of its amount.

        The share is amount x q / remaining quantity, except when the last units go: then it
        is the exact remainder, so the shares taken over the lot's life sum to its amount.
        """
        if quantity <= 0 or quantity > self.quantity:
            raise ValueError(f"cannot take {quantity} units from a lot of {self.quantity}")
        if quantity == self.quantity:
            share = self.amount
        else:
            share = prorate(self.amount, quantity, self.quantity)
        self.quantity = subtract(self.quantity, quantity)
        self.amount = subtract(self.amount, share)
        return share


def _copy(lot: Lot) -> Lot:
    """A copy of a lot (what `dataclasses.replace` does, several times faster)."""
    return Lot(lot.side, lot.quantity, lot.amount, lot.opened_at, lot.trade_id)


@dataclass(frozen=True)
class ClosedPortion:
    """Part of a fill that closed (part of) one lot.

    `lot_amount` is the lot cost (long) or proceeds (short) allocated to these units and
    `costs` the closing trade's commission and fees allocated to them; `realized` is the P&L
    of the portion per SPEC.
    """

    trade_id: object | None
    quantity: Decimal
    realized: Decimal
    lot_amount: Decimal
    costs: Decimal
    opened_at: datetime


@dataclass(frozen=True)
class RunSummary:
    """A finished run (position) from flat back to flat, reported when it closes."""

    side: str
    realized_pnl: Decimal
    opened_at: datetime
    closed_at: datetime
    max_quantity: Decimal
    costs: Decimal = ZERO


@dataclass(frozen=True)
class Booking:
    """What booking one fill did.

    `realized_pnl` is None when the fill closed nothing (so callers can store "not a closing
    trade" apart from "closed at break-even"), otherwise the total of `closed`. `closed_run`
    is set when the fill brought the position to flat or flipped it; `opened_run` when it
    started a new run (from flat, or the remainder of a flip).
    """

    realized_pnl: Decimal | None
    closed: list[ClosedPortion] = field(default_factory=list)
    closed_run: RunSummary | None = None
    opened_run: bool = False


class _CostSplitter:
    """Splits a fill's commission + fees over the portions it closes and the lot it opens.

    Each portion gets costs x q / fill quantity; the last portion (when the fill's whole
    quantity has been handed out) gets the exact remainder.
    """

    def __init__(self, total: Decimal, quantity: Decimal) -> None:
        self._total = total
        self._quantity = quantity
        self._left_total = total
        self._left_quantity = quantity

    def take(self, quantity: Decimal) -> Decimal:
        if not self._total:
            return ZERO  # the common case of a fill without costs
        if quantity == self._left_quantity:
            share = self._left_total
        else:
            share = prorate(self._total, quantity, self._quantity)
        self._left_quantity = subtract(self._left_quantity, quantity)
        self._left_total = subtract(self._left_total, share)
        return share


def _check_decimal(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise LedgerError(f"{name} must be a Decimal, got {value!r}")
    if not value.is_finite():
        raise LedgerError(f"{name} must be a finite number, got {value}")
    return value


def _validate_fill(fill: Fill) -> None:
    """Refuse fills that break SPEC's trade rules before they touch any lot."""
    numbers = (fill.quantity, fill.price, fill.commission, fill.fees)
    if (
        all(type(n) is Decimal and n.is_finite() for n in numbers)
        and numbers[0] > 0 and numbers[1] >= 0 and numbers[2] >= 0 and numbers[3] >= 0
        and fill.side in TRADE_SIDES and isinstance(fill.executed_at, datetime)
    ):
        return  # the usual, valid fill: one pass; the checks below name what is wrong
    if fill.side not in TRADE_SIDES:
        raise LedgerError(f"trade side must be buy or sell, got {fill.side!r}")
    quantity = _check_decimal(fill.quantity, "quantity")
    if quantity <= 0:
        raise LedgerError(f"quantity must be greater than 0, got {format_decimal(quantity)}")
    for name in ("price", "commission", "fees"):
        value = _check_decimal(getattr(fill, name), name)
        if value < 0:
            raise LedgerError(f"{name} must be 0 or more, got {format_decimal(value)}")
    if not isinstance(fill.executed_at, datetime):
        raise LedgerError(f"executed_at must be a datetime, got {fill.executed_at!r}")


class Book:
    """The open run of one symbol, booked fill by fill.

    Lots are kept, and returned by `lots`, in time order (oldest first) whatever the method;
    the method only decides which lot a closing fill takes first (`fifo` the oldest, `lifo`
    the newest). With `average` there is at most one pooled lot.
    """

    def __init__(self, symbol: str, method: str) -> None:
        if method not in COST_BASIS_METHODS:
            raise LedgerError(
                f"unknown cost-basis method {method!r}: expected one of "
                f"{', '.join(COST_BASIS_METHODS)}"
            )
        self.symbol = symbol
        self.method = method
        self._lots: list[Lot] = []
        # Running totals of the open lots, so booking a fill costs O(lots it closes).
        self._quantity = ZERO
        self._amount = ZERO
        self._realized = ZERO
        self._costs = ZERO  # commissions and fees booked into the current run
        self._opened_at: datetime | None = None
        self._max_quantity = ZERO
        self._last_executed_at: datetime | None = None

    @classmethod
    def restore(
        cls,
        symbol: str,
        method: str,
        lots: Iterable[Lot],
        *,
        realized_pnl: Decimal,
        opened_at: datetime | None,
        last_executed_at: datetime | None,
        costs: Decimal = ZERO,
    ) -> "Book":
        """A book resumed from stored state, so one new fill can be booked without a replay.

        `lots` are the open lots oldest first (one pooled lot for `average`); `last_executed_at`
        is the time of the symbol's latest booked trade, which keeps the time-order check.
        """
        book = cls(symbol, method)
        book._lots = [_copy(lot) for lot in lots]
        book._quantity = add(*(lot.quantity for lot in book._lots))
        book._amount = add(*(lot.amount for lot in book._lots))
        if book._lots:
            book._realized = realized_pnl
            book._costs = costs
            book._opened_at = opened_at
            book._max_quantity = book.quantity
        book._last_executed_at = last_executed_at
        return book

    # -- state ---------------------------------------------------------------------------

    @property
    def side(self) -> str | None:
        """'long', 'short', or None when flat."""
        return self._lots[0].side if self._lots else None

    @property
    def quantity(self) -> Decimal:
        """Open quantity (never negative; see `side` for the direction)."""
        return canonical(self._quantity)

    @property
    def signed_quantity(self) -> Decimal:
        """Open quantity, negative when short."""
        quantity = self.quantity
        return quantity.copy_negate() if self.side == SHORT and quantity else quantity

    @property
    def open_amount(self) -> Decimal:
        """Remaining cost (long) or net proceeds (short) of the open lots."""
        return canonical(self._amount)

    @property
    def avg_entry_price(self) -> Decimal | None:
        """Open amount / open quantity; None when flat.

        Costs are included, so one lot bought at P without commission or fees has an
        average entry of exactly P.
        """
        if not self._lots:
            return None
        return divide(self._amount, self._quantity)

    @property
    def lots(self) -> list[Lot]:
        """Copies of the open lots, oldest first."""
        return [_copy(lot) for lot in self._lots]

    @property
    def realized_pnl(self) -> Decimal:
        """Realized P&L of the current run so far (0 when flat)."""
        return canonical(self._realized)

    @property
    def last_executed_at(self) -> datetime | None:
        """Time of the latest fill booked (or restored); an earlier fill needs a rebuild."""
        return self._last_executed_at

    @property
    def run_costs(self) -> Decimal:
        """Commissions and fees booked into the current run: all of its opening trades' and the
        shares of closing trades that closed part of it (0 when flat)."""
        return canonical(self._costs)

    @property
    def opened_at(self) -> datetime | None:
        """When the current run opened; None when flat."""
        return self._opened_at

    @property
    def max_quantity(self) -> Decimal:
        """Largest open quantity the current run has reached (0 when flat)."""
        return self._max_quantity

    @property
    def is_flat(self) -> bool:
        """True when no lot is open (between runs)."""
        return not self._lots

    # -- booking -------------------------------------------------------------------------

    def would_close_run(self, fill: Fill) -> bool:
        """Whether booking `fill` would close every open lot (end the run, or flip it)."""
        if not self._lots:
            return False
        closing_side = SHORT if fill.side == BUY else LONG
        return self._lots[0].side == closing_side and fill.quantity >= self._quantity

    def apply(self, fill: Fill, *, allow_short: bool) -> Booking:
        """Book one fill and report what it closed and opened.

        A buy covers short lots first and opens/extends a long with the rest; a sell closes
        long lots first and opens/extends a short with the rest. Covering is always allowed;
        a sell beyond the long quantity needs `allow_short`, otherwise it is refused and the
        book is left untouched. Fills must come in `executed_at` order (equal times are fine):
        an earlier fill means the caller has to rebuild from the trades, so it is refused.
        """
        _validate_fill(fill)
        self._check_order(fill.executed_at)

        closing_side = SHORT if fill.side == BUY else LONG
        opening_side = LONG if fill.side == BUY else SHORT
        closable = self._quantity if self.side == closing_side else ZERO

        if fill.side == SELL and not allow_short and fill.quantity > closable:
            message = (
                f"cannot sell {format_decimal(fill.quantity)} {self.symbol}: "
                f"long position is {format_decimal(closable)}"
            )
            if self.side == SHORT:
                message += f" (it is short {format_decimal(self.quantity)})"
            raise LedgerError(message)

        close_quantity = min(fill.quantity, closable)
        open_quantity = subtract(fill.quantity, close_quantity)
        costs = _CostSplitter(fill.costs, fill.quantity)

        closed: list[ClosedPortion] = []
        left = close_quantity
        while left > 0:
            index = len(self._lots) - 1 if self.method == LIFO else 0
            lot = self._lots[index]
            quantity = min(left, lot.quantity)
            lot_amount = lot.take(quantity)
            self._quantity = subtract(self._quantity, quantity)
            self._amount = subtract(self._amount, lot_amount)
            cost_share = costs.take(quantity)
            self._costs = add(self._costs, cost_share)
            gross = multiply(quantity, fill.price)
            if closing_side == LONG:
                realized = subtract(subtract(gross, cost_share), lot_amount)
            else:
                realized = subtract(lot_amount, add(gross, cost_share))
            closed.append(
                ClosedPortion(
                    trade_id=lot.trade_id,
                    quantity=quantity,
                    realized=realized,
                    lot_amount=lot_amount,
                    costs=cost_share,
                    opened_at=lot.opened_at,
                )
            )
            if lot.quantity == 0:
                del self._lots[index]
            left = subtract(left, quantity)

        realized_total: Decimal | None = None
        closed_run: RunSummary | None = None
        if closed:
            realized_total = canonical(add(*(portion.realized for portion in closed)))
            self._realized = add(self._realized, realized_total)
            if not self._lots:
                assert self._opened_at is not None
                closed_run = RunSummary(
                    side=closing_side,
                    realized_pnl=canonical(self._realized),
                    opened_at=self._opened_at,
                    closed_at=fill.executed_at,
                    max_quantity=self._max_quantity,
                    costs=canonical(self._costs),
                )
                self._reset_run()

        opened_run = False
        if open_quantity > 0:
            if not self._lots:
                opened_run = True
                self._opened_at = fill.executed_at
            gross = multiply(open_quantity, fill.price)
            cost_share = costs.take(open_quantity)
            self._costs = add(self._costs, cost_share)
            amount = add(gross, cost_share) if opening_side == LONG else subtract(gross, cost_share)
            self._add_lot(
                Lot(
                    side=opening_side,
                    quantity=open_quantity,
                    amount=amount,
                    opened_at=fill.executed_at,
                    trade_id=fill.trade_id,
                )
            )
            self._max_quantity = max(self._max_quantity, self._quantity)

        self._last_executed_at = fill.executed_at
        return Booking(
            realized_pnl=realized_total,
            closed=closed,
            closed_run=closed_run,
            opened_run=opened_run,
        )

    def _add_lot(self, lot: Lot) -> None:
        """Append a lot, or with `average` pour it into the single pooled lot.

        The pooled lot keeps the first lot's opened_at and trade_id.
        """
        self._quantity = add(self._quantity, lot.quantity)
        self._amount = add(self._amount, lot.amount)
        if self.method == AVERAGE and self._lots:
            pool = self._lots[0]
            pool.quantity = add(pool.quantity, lot.quantity)
            pool.amount = add(pool.amount, lot.amount)
        else:
            self._lots.append(lot)

    def _reset_run(self) -> None:
        self._realized = ZERO
        self._costs = ZERO
        self._opened_at = None
        self._max_quantity = ZERO

    def _check_order(self, executed_at: datetime) -> None:
        last = self._last_executed_at
        if last is None:
            return
        try:
            earlier = executed_at < last
        except TypeError as exc:
            raise LedgerError(
                "executed_at must be timezone-aware for every trade of a symbol "
                "(cannot compare naive and aware times)"
            ) from exc
        if earlier:
            raise LedgerError(
                f"trade at {executed_at.isoformat()} is earlier than the last booked trade of "
                f"{self.symbol} ({last.isoformat()}): rebuild the symbol from its trades"
            )


def replay(
    symbol: str,
    method: str,
    fills: Iterable[Fill],
    allow_short: bool = True,
) -> tuple[Book, list[Booking]]:
    """Book `fills` (already in executed_at order) into a fresh Book.

    This is how positions are rebuilt from the trades. `allow_short` defaults to True
    because trades already accepted once (with or without an explicit allow-short) must
    rebuild the same way.
    """
    book = Book(symbol, method)
    bookings = [book.apply(fill, allow_short=allow_short) for fill in fills]
    return book, bookings
