"""Returns of a portfolio from its daily values and flows: TWR, IRR (XIRR), drawdown, intervals.

Pure domain logic (no database): the daily valuation (`services/performance.py`) hands in one
`Day` per local calendar day and gets back a `Period` per interval and one for the whole
range. The rules, with their conventions and edge cases, are in docs/ledger.md §18
(Performance):

* TWR chains one ratio per day, inflows at the start of the day and outflows at its end:
  r_t = (V_t + OUT_t) / (V_{t-1} + IN_t) - 1 and TWR = prod(1 + r_t) - 1. A ratio can repeat
  forever (1/3), so the chain is kept to `PRECISION` significant digits (far below any
  displayed place) and the result is rounded once to `RETURN_PLACES` places.
* IRR is the rate r at which the flows' present value is 0, each discounted by
  (1 + r) ** (days / day_count): a deterministic bracketing root search in Decimal to 1e-10
  (the result is shown to `IRR_PLACES` places). No root is an unknown IRR with its reason,
  never 0.
* Max drawdown is the largest fall of the TWR index from a previous peak, as a fraction >= 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from stocksbot.ledger.numbers import ZERO, add, subtract
from stocksbot.vocabulary import IRR_DAY_COUNTS, PERFORMANCE_INTERVALS

#: Significant digits kept while chaining daily ratios and solving for the IRR.
PRECISION = 50
#: Places of a TWR and a drawdown in results (JSON is never rounded further).
RETURN_PLACES = 20
#: Places of an IRR: the root search stops well inside 1e-10, so all ten are right.
IRR_PLACES = 10
#: The IRR's tolerance: the search stops once the root is bracketed this tightly (in r).
IRR_TOLERANCE = Decimal("1e-13")
#: Day counts an IRR may use (ACT/365, the default, and ACT/365.25) and the intervals a range is grouped into.
DAY_COUNTS = IRR_DAY_COUNTS
INTERVALS = PERFORMANCE_INTERVALS

ONE = Decimal(1)
_CONTEXT = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)
# The IRR's present values: 34 digits resolve a rate to far below IRR_TOLERANCE, and exp() at
# this precision keeps a search over thousands of daily flows quick.
_IRR_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
_RETURN_QUANTUM = Decimal(1).scaleb(-RETURN_PLACES)
_IRR_QUANTUM = Decimal(1).scaleb(-IRR_PLACES)
_MAX_ITERATIONS = 400


@dataclass(frozen=True)
class Day:
    """One local calendar day of a portfolio (or an account, or a strategy).

    `value` is the end-of-day value (None when a price or a rate is missing); `inflows` and
    `outflows` are the external flows of the day (both >= 0); `income` (dividends,
    interest) and `costs` (commissions, fees, taxes) are already inside the value and are
    reported, not used by the returns.
    """

    day: date
    value: Decimal | None
    inflows: Decimal = ZERO
    outflows: Decimal = ZERO
    income: Decimal = ZERO
    costs: Decimal = ZERO


@dataclass(frozen=True)
class Irr:
    """A money-weighted annual rate, or None with the reason there is none."""

    rate: Decimal | None
    reason: str | None = None


@dataclass(frozen=True)
class Period:
    """The figures of one interval (or of the whole range)."""

    start: date
    end: date
    start_value: Decimal | None
    inflows: Decimal
    outflows: Decimal
    income: Decimal
    costs: Decimal
    end_value: Decimal | None
    pnl: Decimal | None
    twr: Decimal | None
    irr: Decimal | None
    max_drawdown: Decimal | None
    #: Why the TWR, the IRR or the drawdown is unknown (empty when all are known).
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        from stocksbot.ledger.numbers import format_decimal

        def text(value: Decimal | None) -> str | None:
            return None if value is None else format_decimal(value)

        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "start_value": text(self.start_value), "inflows": text(self.inflows),
            "outflows": text(self.outflows), "income": text(self.income), "costs": text(self.costs),
            "end_value": text(self.end_value), "pnl": text(self.pnl), "twr": text(self.twr),
            "irr": text(self.irr), "max_drawdown": text(self.max_drawdown), "notes": list(self.notes),
        }


@dataclass(frozen=True)
class DailyReturn:
    """One day's return r_t, or None with the reason it cannot be measured."""

    rate: Decimal | None
    reason: str | None = None


def daily_return(previous: Decimal | None, day: Day) -> DailyReturn:
    """r_t = (V_t + OUT_t) / (V_{t-1} + IN_t) - 1 (docs/ledger.md §18.4).

    Nothing invested and nothing there at the end (both sides 0) is a day without a return
    (0). Value appearing from nothing (a denominator of 0), a denominator below 0 (a margin
    account worth less than nothing) or an unknown value make the day's return unknown: any
    number put there would be invented.
    """
    if previous is None or day.value is None:
        return DailyReturn(None, f"value unknown on {day.day.isoformat()}")
    base = add(previous, day.inflows)
    worth = add(day.value, day.outflows)
    if base == 0:
        if worth == 0:
            return DailyReturn(ZERO)
        return DailyReturn(None, f"nothing was invested at the start of {day.day.isoformat()}")
    if base < 0:
        return DailyReturn(None, f"the value was below zero at the start of {day.day.isoformat()}")
    with localcontext(_CONTEXT):
        return DailyReturn(worth / base - ONE)


def chain(returns: Iterable[Decimal]) -> Decimal:
    """TWR = prod(1 + r_t) - 1, kept to PRECISION digits (not rounded to places)."""
    with localcontext(_CONTEXT):
        growth = ONE
        for rate in returns:
            growth *= ONE + rate
        return growth - ONE


def max_drawdown(returns: Iterable[Decimal]) -> Decimal:
    """The largest fall of the TWR index from its peak so far, as a fraction >= 0.

    The index starts at 1 at the start of the first day, so a loss on the first day counts.
    """
    with localcontext(_CONTEXT):
        index = peak = ONE
        worst = ZERO
        for rate in returns:
            index *= ONE + rate
            if index > peak:
                peak = index
            elif peak > 0:
                fall = ONE - index / peak
                if fall > worst:
                    worst = fall
        return worst


def rounded(value: Decimal, quantum: Decimal = _RETURN_QUANTUM) -> Decimal:
    """A return rounded once, half-even, for results; -0 is shown as 0."""
    digits = max(PRECISION, value.adjusted() - quantum.adjusted() + 2)  # a huge rate keeps every place
    with localcontext(Context(prec=digits, rounding=ROUND_HALF_EVEN)):
        result = value.quantize(quantum)
    return result if result else ZERO.quantize(quantum)


# --- IRR ---------------------------------------------------------------------------------


def xirr(flows: Sequence[tuple[date, Decimal]], day_count: str = "365") -> Irr:
    """The annual rate r with sum(c_i / (1 + r) ** (t_i / day_count)) = 0 (docs/ledger.md §18.5).

    t_i is the number of days from the first flow's date. Flows on one date are added. The
    search runs on x = ln(1 + r), where every r > -1 is reachable and the present value is a
    smooth function: from x = 0 it widens a bracket outwards (doubling, on both sides in
    turn) until the present value changes sign, then narrows it by regula falsi (Illinois)
    with bisection steps whenever that stalls, until the rate is known to IRR_TOLERANCE.
    With several roots it finds the one nearest 0 on the side found first; it is the same
    answer every time. Rounded to IRR_PLACES places.
    """
    if day_count not in DAY_COUNTS:
        raise ValueError(f"day count must be one of {', '.join(DAY_COUNTS)}, not {day_count}")
    merged: dict[date, Decimal] = {}
    for when, amount in flows:
        merged[when] = add(merged.get(when, ZERO), amount)
    points = sorted((when, amount) for when, amount in merged.items() if amount)
    if not points:
        return Irr(None, "no money was invested")
    if all(amount > 0 for _, amount in points) or all(amount < 0 for _, amount in points):
        return Irr(None, "the flows do not change sign, so no rate makes them worth 0")
    first = points[0][0]
    span = (points[-1][0] - first).days
    if span == 0:
        return Irr(None, "every flow is on one day, so no annual rate applies")
    with localcontext(_IRR_CONTEXT):
        basis = Decimal(day_count)
        times = [Decimal((when - first).days) / basis for when, _ in points]
        amounts = [amount for _, amount in points]

        def value(x: Decimal) -> Decimal:
            total = ZERO
            for amount, time in zip(amounts, times):
                total += amount * (-(x * time)).exp()
            return total

        found = _bracket(value, Decimal(span) / basis)
        if found is None:
            return Irr(None, "no rate between -100% and the largest representable rate makes the flows worth 0")
        x = _solve(value, *found)
        rate = x.exp() - ONE
    return Irr(rounded(rate, _IRR_QUANTUM))


def _bracket(
    value: Callable[[Decimal], Decimal], years: Decimal
) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
    """Two points (x_low, f_low, x_high, f_high) whose values differ in sign, nearest 0 first."""
    origin = value(ZERO)
    if origin == 0:
        return ZERO, origin, ZERO, origin
    # x * years up to about 700 keeps exp() far inside Decimal's range while covering every
    # rate a ledger can produce ((1 + r) up to e**700 over the span).
    step = Decimal("0.01") / years
    limit = Decimal(700) / years
    inner_low = inner_high = ZERO
    f_low = f_high = origin
    while step <= limit * 2:
        x = min(step, limit)
        above = value(x)
        if (above > 0) != (origin > 0) or above == 0:
            return inner_high, f_high, x, above
        inner_high, f_high = x, above
        below = value(x.copy_negate())
        if (below > 0) != (origin > 0) or below == 0:
            return x.copy_negate(), below, inner_low, f_low
        inner_low, f_low = x.copy_negate(), below
        if x == limit:
            break
        step *= 2
    return None


def _solve(value: Callable[[Decimal], Decimal], low: Decimal, f_low: Decimal, high: Decimal, f_high: Decimal) -> Decimal:
    """x in [low, high] with value(x) = 0, to IRR_TOLERANCE in r = exp(x) - 1."""
    if f_low == 0:
        return low
    if f_high == 0:
        return high
    side = 0
    for iteration in range(_MAX_ITERATIONS):
        if high.exp() - low.exp() <= IRR_TOLERANCE:
            break
        if iteration % 4 == 3:  # a bisection step now and then: regula falsi can crawl
            x = (low + high) / 2
        else:
            x = (low * f_high - high * f_low) / (f_high - f_low)
            if not low < x < high:
                x = (low + high) / 2
        f_x = value(x)
        if f_x == 0:
            return x
        if (f_x > 0) == (f_low > 0):
            low, f_low = x, f_x
            if side == -1:
                f_high /= 2  # Illinois: halve the stale end's weight
            side = -1
        else:
            high, f_high = x, f_x
            if side == 1:
                f_low /= 2
            side = 1
    return (low + high) / 2


# --- periods -----------------------------------------------------------------------------


def period(days: Sequence[Day], start_value: Decimal | None, day_count: str = "365") -> Period:
    """The figures of consecutive days; `start_value` is the value at the end of the day before.

    IRR flows (docs/ledger.md §18.5): -start value at the end of the day before the first,
    each day's inflows at its start (the end of the day before), its outflows at its end,
    and +end value at the end of the last day.
    """
    if not days:
        raise ValueError("a period needs at least one day")
    first, last = days[0].day, days[-1].day
    inflows = add(*(d.inflows for d in days))
    outflows = add(*(d.outflows for d in days))
    income = add(*(d.income for d in days))
    costs = add(*(d.costs for d in days))
    end_value = days[-1].value
    notes: list[str] = []
    pnl = None
    if start_value is not None and end_value is not None:
        pnl = add(subtract(subtract(end_value, start_value), inflows), outflows)
    rates: list[Decimal] = []
    previous = start_value
    twr_known = True
    for day in days:
        found = daily_return(previous, day)
        if found.rate is None:
            if twr_known:
                notes.append(f"TWR unknown: {found.reason}")
            twr_known = False
        else:
            rates.append(found.rate)
        previous = day.value
    twr = rounded(chain(rates)) if twr_known else None
    drawdown = rounded(max_drawdown(rates)) if twr_known else None
    irr: Decimal | None = None
    if start_value is None or end_value is None:
        notes.append("IRR unknown: a value is unknown")
    else:
        before = first - timedelta(days=1)
        flows: list[tuple[date, Decimal]] = [(before, start_value.copy_negate())]
        for day in days:
            if day.inflows:
                flows.append((day.day - timedelta(days=1), day.inflows.copy_negate()))
            if day.outflows:
                flows.append((day.day, day.outflows))
        flows.append((last, end_value))
        found_irr = xirr(flows, day_count)
        irr = found_irr.rate
        if irr is None:
            notes.append(f"IRR unknown: {found_irr.reason}")
    return Period(first, last, start_value, inflows, outflows, income, costs, end_value, pnl, twr, irr,
                  drawdown, tuple(notes))


def interval_start(day: date, interval: str) -> date:
    """The first day of the interval `day` falls in: weeks start on Monday (ISO 8601)."""
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if interval == "year":
        return date(day.year, 1, 1)
    if interval == "all":
        return date.min
    raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, not {interval}")


def group(days: Sequence[Day], interval: str) -> list[Sequence[Day]]:
    """Consecutive days cut at the calendar boundaries of `interval` (the first and last
    groups may be partial: they start and end where the range does)."""
    groups: list[Sequence[Day]] = []
    begin = 0
    for index in range(1, len(days) + 1):
        if index == len(days) or interval_start(days[index].day, interval) != interval_start(days[begin].day, interval):
            groups.append(days[begin:index])
            begin = index
    return groups


def performance(
    days: Sequence[Day], start_value: Decimal | None, interval: str = "month", day_count: str = "365"
) -> tuple[list[Period], Period | None]:
    """A period per interval and the total over every day; ([], None) for no days.

    `start_value` is the value at the end of the day before the first; each interval's
    start value is the end value of the one before it.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, not {interval}")
    if not days:
        return [], None
    rows: list[Period] = []
    previous = start_value
    for chunk in group(days, interval):
        rows.append(period(chunk, previous, day_count))
        previous = chunk[-1].value
    return rows, period(days, start_value, day_count)


def twr_index(days: Sequence[Day], start_value: Decimal | None) -> list[tuple[date, Decimal | None]]:
    """The TWR index at the end of each day (1 at the start of the first), rounded to
    RETURN_PLACES; None from the first day whose return is unknown on (what `--chart` draws)."""
    points: list[tuple[date, Decimal | None]] = []
    previous = start_value
    growth: Decimal | None = ONE
    for day in days:
        found = daily_return(previous, day)
        if growth is not None and found.rate is not None:
            with localcontext(_CONTEXT):
                growth = growth * (ONE + found.rate)
        else:
            growth = None
        points.append((day.day, None if growth is None else rounded(growth)))
        previous = day.value
    return points
