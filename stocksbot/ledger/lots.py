"""Lot matching and realized P&L for one symbol (docs/ledger.md §4, "Lots and cost basis").

A `Book` holds the open run of one symbol (flat to flat) as a list of lots and books fills
into it one at a time, in `executed_at` order. It is pure: no storage, no clock, no I/O, so
the storage layer can use the same code to book a new trade and to rebuild every position
from the trades, and `stocksbot db check` can compare the two.

Exactness matters more than anything here. Whenever an amount (a lot's cost, a trade's
commission and fees) is split between portions, every portion but the last is its pro-rata
share rounded by `divide`, and the last one gets the exact remainder. So the portions of an
amount always add up to the amount itself, and the realized P&L of a round trip equals
proceeds minus costs with no rounding drift, whatever the method. See docs/ledger.md §4.4
(splitting amounts), §4.7 (worked examples) and §5.1 (runs from flat to flat).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, NamedTuple, TypeVar

from stocksbot.ledger.errors import LedgerError
from stocksbot.ledger.numbers import (
    ZERO,
    _add,
    _multiply,
    _subtract,
    _tidy,
    add,
    canonical,
    divide,
    format_decimal,
    multiply,
    prorate,
    subtract,
)
from stocksbot.vocabulary import (
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



class Fill(NamedTuple):
    """One executed trade as the ledger sees it.

    `trade_id` is opaque (a database id, an external id, anything hashable or not): the
    ledger only carries it into the lots it opens so callers can tell which trade a lot or a
    closed portion came from. A named tuple rather than a frozen dataclass: rebuilds and
    imports make one per trade, and a tuple is built several times faster.
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
    what is left instead of a rounded unit cost. See docs/ledger.md §4.2 (opening a lot).
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
        See docs/ledger.md §4.4 (splitting amounts).
        """
        if quantity <= 0 or quantity > self.quantity:
            raise ValueError(f"cannot take {quantity} units from a lot of {self.quantity}")
        if quantity == self.quantity:
            share = self.amount
        else:
            share = prorate(self.amount, quantity, self.quantity)
        self.quantity = _subtract(self.quantity, quantity)
        self.amount = _subtract(self.amount, share)
        return share


def _copy(lot: Lot) -> Lot:
    """A copy of a lot (what `dataclasses.replace` does, several times faster)."""
    return Lot(lot.side, lot.quantity, lot.amount, lot.opened_at, lot.trade_id)


@dataclass(frozen=True)
class ClosedPortion:
    """Part of a fill that closed (part of) one lot.

    `lot_amount` is the lot cost (long) or proceeds (short) allocated to these units and
    `costs` the closing trade's commission and fees allocated to them; `realized` is the P&L
    of the portion as docs/ledger.md §4.3 (realized P&L) defines it.
    """

    trade_id: object | None
    quantity: Decimal
    realized: Decimal
    lot_amount: Decimal
    costs: Decimal
    opened_at: datetime


@dataclass(frozen=True)
class RunSummary:
    """A finished run (position) from flat back to flat, reported when it closes.

    See docs/ledger.md §5.1 (runs) and §5.3 (realized P&L and costs of a run).
    """

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
    started a new run (from flat, or the remainder of a flip). See docs/ledger.md §4.3 and
    §4.5 (flips).
    """

    realized_pnl: Decimal | None
    closed: list[ClosedPortion] = field(default_factory=list)
    closed_run: RunSummary | None = None
    opened_run: bool = False


_FrozenResult = TypeVar("_FrozenResult", "ClosedPortion", "RunSummary", "Booking")


def _unchecked(cls: type[_FrozenResult], **values: Any) -> _FrozenResult:
    """`cls(**values)` without the frozen dataclass's __init__, for the booking hot path.

    A frozen dataclass's generated __init__ sets every field through object.__setattr__,
    which costs more than the arithmetic of a whole closed portion. This fills the same
    instance dictionary directly (every field must be given); the object is
    indistinguishable from one built the usual way (equality, repr, frozenness), which
    tests/ledger/test_ledger_lots.py checks.
    """
    result = object.__new__(cls)
    result.__dict__.update(values)
    return result


def _check_decimal(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise LedgerError(f"{name} must be a Decimal, got {value!r}")
    if not value.is_finite():
        raise LedgerError(f"{name} must be a finite number, got {value}")
    return value


def _validate_fill(fill: Fill) -> None:
    """Refuse fills that break the trade rules (docs/ledger.md §3.1) before they touch any lot."""
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
    the newest). With `average` there is at most one pooled lot. See docs/ledger.md §4.1
    (cost-basis methods).
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
        average entry of exactly P. See docs/ledger.md §5.2 (open cost and average entry).
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
        shares of closing trades that closed part of it (0 when flat). See docs/ledger.md §5.3."""
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
        The rules: docs/ledger.md §4.2 (opening), §4.3 (realized P&L), §4.5 (flips),
        §4.6 (allow-short) and §3.3-§3.4 (booking order, back-dated trades).

        This runs once per trade on every import and rebuild, so it works on local names and
        the exact context's operations directly (see `numbers._add`). The operations, and
        the order they are applied in, are the ones the rules below describe; where a
        value is stored as it is (lot quantities and amounts, closed portions), it is computed
        exactly as `add`/`subtract` would, so its text form does not change either.
        """
        side = fill.side
        quantity = fill.quantity
        price = fill.price
        commission = fill.commission
        fees = fill.fees
        executed_at = fill.executed_at
        # The usual fill in one pass of cheap checks (is_signed() needs no context, unlike <);
        # anything else, including valid oddities such as -0 or a Decimal subclass, goes
        # through _validate_fill, which names what is wrong or lets it through.
        if not (
            type(quantity) is Decimal and type(price) is Decimal
            and type(commission) is Decimal and type(fees) is Decimal
            and quantity.is_finite() and price.is_finite()
            and commission.is_finite() and fees.is_finite()
            and quantity and not quantity.is_signed() and not price.is_signed()
            and not commission.is_signed() and not fees.is_signed()
            and side in TRADE_SIDES and isinstance(executed_at, datetime)
        ):
            _validate_fill(fill)
        last = self._last_executed_at
        if last is not None:
            try:
                earlier = executed_at < last
            except TypeError:
                earlier = True  # naive against aware: _check_order says so
            if earlier:
                self._check_order(executed_at)

        if side == BUY:
            closing_side, opening_side = SHORT, LONG
        else:
            closing_side, opening_side = LONG, SHORT
        lots = self._lots
        closable = self._quantity if lots and lots[0].side == closing_side else ZERO

        if side == SELL and not allow_short and quantity > closable:
            # The hint names the switch every command that sells has (docs/ledger.md §4.6).
            short = f"it is short {format_decimal(self.quantity)}; " if self.side == SHORT else ""
            raise LedgerError(
                f"cannot sell {format_decimal(quantity)} {self.symbol}: "
                f"long position is {format_decimal(closable)} ({short}use --allow-short to sell short)"
            )

        if closable < quantity:  # min(quantity, closable), and what is left to open
            close_quantity, open_quantity = closable, _subtract(quantity, closable)
        else:
            close_quantity, open_quantity = quantity, ZERO  # only closes: nothing to open
        # The fill's commission + fees, as `Fill.costs` computes them; zero for most fills.
        costs = _add(_add(ZERO, commission), fees) if commission or fees else ZERO

        closed: list[ClosedPortion] = []
        realized_total: Decimal | None = None
        closed_run: RunSummary | None = None
        costs_left = costs
        if close_quantity > ZERO:
            realized_sum, costs_left = self._close(
                close_quantity, fill, costs, closing_side == LONG, not open_quantity, closed
            )
            realized_total = _tidy(realized_sum)
            self._realized = _add(self._realized, realized_total)
            if not lots:
                assert self._opened_at is not None
                closed_run = _unchecked(
                    RunSummary,
                    side=closing_side,
                    realized_pnl=_tidy(self._realized),
                    opened_at=self._opened_at,
                    closed_at=executed_at,
                    max_quantity=self._max_quantity,
                    costs=_tidy(self._costs),
                )
                self._reset_run()

        opened_run = False
        if open_quantity:  # never negative: close_quantity is at most the fill's quantity
            # The opening part is the fill's last part, so it gets what is left of the costs.
            if costs:
                self._costs = _add(self._costs, costs_left)
            gross = _multiply(open_quantity, price)
            if opening_side == LONG:
                # add(gross, costs_left): the zero `add` starts from changes nothing here, as
                # costs_left never has a positive exponent (see _close) and is never -0.
                amount = _add(gross, costs_left)
            else:
                amount = _subtract(gross, costs_left)
            # add(self._quantity, open_quantity), likewise: the open quantity starts as ZERO and
            # only changes by add/subtract, so it never has a positive exponent and is never -0.
            open_total = self._quantity = _add(self._quantity, open_quantity)
            self._amount = _add(self._amount, amount)
            if not lots:
                opened_run = True
                self._opened_at = executed_at
                lots.append(Lot(opening_side, open_quantity, amount, executed_at, fill.trade_id))
            elif self.method == AVERAGE:
                # Poured into the single pooled lot, which keeps its opened_at and trade_id.
                # add(pool.quantity, open_quantity) spelled out (a restored pool may hold any form).
                pool = lots[0]
                pool.quantity = _add(_add(ZERO, pool.quantity), open_quantity)
                pool.amount = _add(_add(ZERO, pool.amount), amount)
            else:
                lots.append(Lot(opening_side, open_quantity, amount, executed_at, fill.trade_id))
            if open_total > self._max_quantity:  # max(), which keeps the old value on a tie
                self._max_quantity = open_total

        self._last_executed_at = executed_at
        return _unchecked(
            Booking, realized_pnl=realized_total, closed=closed, closed_run=closed_run, opened_run=opened_run
        )

    def _close(
        self,
        quantity: Decimal,
        fill: Fill,
        costs: Decimal,
        closing_long: bool,
        closes_all_of_fill: bool,
        closed: list[ClosedPortion],
    ) -> tuple[Decimal, Decimal]:
        """Close `quantity` units (at most the open quantity) lot by lot; append the portions.

        Returns the sum of the portions' realized P&L and what is left of the fill's `costs`
        for the lot it opens. Each portion takes its lot's amount x q / lot quantity (all of
        what is left when it takes the whole lot) and the fill's costs x q / fill quantity
        (all of what is left when it is the fill's last part: `closes_all_of_fill` and the
        last portion). See docs/ledger.md §4.3 (realized P&L) and §4.4 (splitting amounts).

        The fill's costs start as add(commission, fees) and lose canonical shares, so they,
        and every cost share, never have a positive exponent and are never -0.
        """
        lots = self._lots
        index = -1 if self.method == LIFO else 0
        price = fill.price
        fill_quantity = fill.quantity
        costs_left = costs
        realized_sum: Decimal | None = None
        # The running totals, kept in locals while the loop changes them.
        open_quantity, open_amount, run_costs = self._quantity, self._amount, self._costs
        left = quantity
        while True:
            lot = lots[index]
            lot_quantity = lot.quantity
            if lot_quantity < left:  # the whole lot goes, and there is more to close
                if lot_quantity <= ZERO:  # only a restored lot that was not positive
                    self._quantity, self._amount, self._costs = open_quantity, open_amount, run_costs
                    raise ValueError(f"cannot take {lot_quantity} units from a lot of {lot_quantity}")
                last, taken, whole_lot = False, lot_quantity, True
            else:  # the last portion: min(left, lot_quantity) is left
                last, taken, whole_lot = True, left, left == lot_quantity
            if whole_lot:
                lot_amount = lot.amount
            else:
                lot_amount = prorate(lot.amount, taken, lot_quantity)
                lot.quantity = _subtract(lot_quantity, taken)
                lot.amount = _subtract(lot.amount, lot_amount)
            open_quantity = _subtract(open_quantity, taken)
            open_amount = _subtract(open_amount, lot_amount)
            if not costs:
                cost_share = ZERO
            elif last and closes_all_of_fill:
                cost_share = costs_left  # all that is left; nothing is opened to take more
            else:
                cost_share = prorate(costs, taken, fill_quantity)
                costs_left = _subtract(costs_left, cost_share)
            if costs:
                run_costs = _add(run_costs, cost_share)
            gross = _multiply(taken, price)
            if closing_long:
                realized = _subtract(_subtract(gross, cost_share), lot_amount)
            else:
                realized = _subtract(lot_amount, _add(gross, cost_share))  # as in apply's amount
            closed.append(
                _unchecked(ClosedPortion, trade_id=lot.trade_id, quantity=taken, realized=realized,
                           lot_amount=lot_amount, costs=cost_share, opened_at=lot.opened_at)
            )
            # Only the total's value matters (apply tidies it), so the first needs no addition.
            realized_sum = realized if realized_sum is None else _add(realized_sum, realized)
            if whole_lot:
                del lots[index]
            if last:
                self._quantity, self._amount, self._costs = open_quantity, open_amount, run_costs
                return realized_sum, costs_left
            left = _subtract(left, taken)

    def split(self, numerator: int, denominator: int, at: datetime) -> None:
        """Apply a split of `numerator` new shares for `denominator` old to every open lot, at `at`.

        Each lot's quantity is multiplied by N/D; its amount (cost or proceeds) and its
        opening date stay, so its per-unit amount is divided by N/D and nothing is realized.
        A repeating quotient (20 shares after 1:3) is rounded once by `prorate`, like every
        derived value. The split counts as a booked event at `at`: a fill dated before it
        needs a re-booking. See docs/ledger.md §12 (splits).
        """
        if numerator < 1 or denominator < 1 or numerator == denominator:
            raise LedgerError(f"a split ratio needs two different whole numbers of at least 1, got "
                              f"{numerator}:{denominator}")
        self._check_order(at)
        factor_n, factor_d = Decimal(numerator), Decimal(denominator)
        for lot in self._lots:
            lot.quantity = prorate(lot.quantity, factor_n, factor_d)
        self._quantity = add(*(lot.quantity for lot in self._lots))
        self._max_quantity = prorate(self._max_quantity, factor_n, factor_d)
        self._last_executed_at = at

    def transfer_out(self, quantity: Decimal, at: datetime) -> tuple[list[Lot], RunSummary | None]:
        """Take `quantity` units of a long position out with their lots, in cost-basis order.

        The lots leave with their acquisition dates and costs (a partly taken lot gives its
        pro-rata share of the cost, and keeps the rest); nothing is realized. Returns the
        lots taken, oldest first, for `transfer_in` of the receiving account's book, and the
        run's summary when the transfer left the book flat (the run ends there, with what it
        realized before). See docs/ledger.md §12.
        """
        self._check_order(at)
        if self.side != LONG or quantity > self._quantity:
            held = format_decimal(self.quantity) if self.side == LONG else "0"
            raise LedgerError(f"cannot transfer {format_decimal(quantity)} {self.symbol}: {held} held")
        taken: list[Lot] = []
        left = quantity
        index = -1 if self.method == LIFO else 0
        while left:
            lot = self._lots[index]
            if lot.quantity <= left:
                taken.append(self._lots.pop(index))
                left = subtract(left, lot.quantity)
            else:
                amount = prorate(lot.amount, left, lot.quantity)
                taken.append(Lot(lot.side, left, amount, lot.opened_at, lot.trade_id))
                lot.quantity, lot.amount = subtract(lot.quantity, left), subtract(lot.amount, amount)
                left = ZERO
        self._quantity = add(*(lot.quantity for lot in self._lots))
        self._amount = add(*(lot.amount for lot in self._lots))
        self._last_executed_at = at
        taken.sort(key=lambda lot: lot.opened_at)
        closed_run = None
        if not self._lots:
            assert self._opened_at is not None
            closed_run = _unchecked(RunSummary, side=LONG, realized_pnl=_tidy(self._realized), opened_at=self._opened_at,
                                    closed_at=at, max_quantity=self._max_quantity, costs=_tidy(self._costs))
            self._reset_run()
        return taken, closed_run

    def transfer_in(self, lots: list[Lot], at: datetime) -> None:
        """Add lots transferred from another account (their dates and costs kept); refused while short.

        A lot from the same opening trade as one already held joins it, so a lot is always
        known by its trade. With `average` they pour into the pooled lot.
        """
        self._check_order(at)
        if self.side == SHORT:
            raise LedgerError(f"cannot transfer {self.symbol} shares into a short position")
        if not lots:
            return
        if not self._lots:
            self._opened_at = at
        for lot in lots:
            same = next((held for held in self._lots if held.trade_id == lot.trade_id), None)
            if self.method == AVERAGE and self._lots:
                same = self._lots[0]
            if same is not None:
                same.quantity, same.amount = add(same.quantity, lot.quantity), add(same.amount, lot.amount)
            else:
                self._lots.append(_copy(lot))
        self._lots.sort(key=lambda lot: lot.opened_at)
        self._quantity = add(*(lot.quantity for lot in self._lots))
        self._amount = add(*(lot.amount for lot in self._lots))
        self._max_quantity = max(self._max_quantity, self._quantity)
        self._last_executed_at = at

    def take_all(self, at: datetime) -> tuple[list[Lot], RunSummary | None]:
        """Every open lot (long or short), leaving the book flat at `at`: for a symbol change.

        Like `transfer_out` of everything: the run ends without realizing anything, and the
        lots go on, with their dates and amounts, under the new symbol (`receive`).
        """
        self._check_order(at)
        lots, side = self._lots, self.side
        closed_run = None
        if lots:
            assert self._opened_at is not None and side is not None
            closed_run = _unchecked(RunSummary, side=side, realized_pnl=_tidy(self._realized), opened_at=self._opened_at,
                                    closed_at=at, max_quantity=self._max_quantity, costs=_tidy(self._costs))
        self._lots, self._quantity, self._amount = [], ZERO, ZERO
        self._reset_run()
        self._last_executed_at = at
        return lots, closed_run

    def receive(self, lots: list[Lot], at: datetime) -> None:
        """Open lots (long or short) from another symbol's book at `at`; the book must be flat or on their side."""
        if lots and self._lots and self._lots[0].side != lots[0].side:
            raise LedgerError(f"cannot add {lots[0].side} lots to a {self._lots[0].side} position in {self.symbol}")
        if lots and lots[0].side == LONG:
            self.transfer_in(lots, at)
            return
        self._check_order(at)
        if lots and not self._lots:
            self._opened_at = at
        self._lots.extend(_copy(lot) for lot in lots)
        self._lots.sort(key=lambda lot: lot.opened_at)
        self._quantity = add(*(lot.quantity for lot in self._lots))
        self._amount = add(*(lot.amount for lot in self._lots))
        self._max_quantity = max(self._max_quantity, self._quantity)
        self._last_executed_at = at

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


def realized_by_opener(
    closed: Iterable[ClosedPortion], strategy_of: Callable[[object | None], int | None]
) -> dict[int | None, Decimal]:
    """A closing fill's realized P&L per strategy of the trades that opened the lots it closed.

    The attribution rule of docs/ledger.md §8.3 gives an untagged closing trade's realized P&L
    to those strategies; the portions name their lot's opening trade, and `strategy_of` says
    which strategy that trade had (the caller knows the trades; the ledger knows the lots).
    Each figure is the exact sum of its portions in closing order, in canonical form; with
    the average method the pooled lot belongs to the trade that opened it.
    """
    sums: dict[int | None, Decimal] = {}
    for portion in closed:
        strategy_id = strategy_of(portion.trade_id)
        before = sums.get(strategy_id)
        sums[strategy_id] = portion.realized if before is None else _add(before, portion.realized)
    return {strategy_id: _tidy(total) for strategy_id, total in sums.items()}


def replay(
    symbol: str,
    method: str,
    fills: Iterable[Fill],
    allow_short: bool = True,
) -> tuple[Book, list[Booking]]:
    """Book `fills` (already in executed_at order) into a fresh Book.

    This is how positions are rebuilt from the trades. `allow_short` defaults to True
    because trades already accepted once (with or without an explicit allow-short) must
    rebuild the same way. See docs/ledger.md §3.2 (source of truth) and §3.4 (re-booking).
    """
    book = Book(symbol, method)
    bookings = [book.apply(fill, allow_short=allow_short) for fill in fills]
    return book, bookings
