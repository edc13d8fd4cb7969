"""Realized gains lot by lot: what a closed lot portion was bought and sold for, and how long
it was held (docs/ledger.md §17, "Portfolio as of a date and realized gains").

Pure: the portions come from `Book.apply` (`Booking.closed`), the same matching that books
every trade, so the report cannot disagree with the realized P&L stored on the trades. This
module only turns one `ClosedPortion` into the figures a realized-gains report shows:

- closing a long (a sell): proceeds = q x sell price - the sell's cost share, cost = the lot
  share (its buy price and costs, docs/ledger.md §4.2-§4.4);
- covering a short (a buy): proceeds = the short lot's share (the short sale's net
  proceeds), cost = q x buy price + the buy's cost share; acquired is the short sale and
  sold the covering buy.

Either way gain = proceeds - cost is exactly the portion's realized P&L (§4.3), so the gains
of a symbol's portions add up to its realized P&L.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from stocksbot.ledger.lots import ClosedPortion
from stocksbot.ledger.numbers import add, subtract

#: Held at most this many days: short term; more: long term.
SHORT_TERM_MAX_DAYS = 365
SHORT_TERM = "short"
LONG_TERM = "long"


class GainFigures(NamedTuple):
    """Proceeds, cost and gain of one closed portion, in its instrument's currency."""

    proceeds: Decimal
    cost: Decimal
    gain: Decimal


def figures(portion: ClosedPortion, *, closing_long: bool) -> GainFigures:
    """The portion's proceeds, cost and gain (see the module docstring); exact, gain == realized.

    From the realized P&L and the lot share alone, so no figure is computed a second way:
    for a long, proceeds = realized + lot share; for a short, cost = lot share - realized.
    """
    realized, lot_amount = portion.realized, portion.lot_amount
    if closing_long:
        return GainFigures(add(realized, lot_amount), lot_amount, realized)
    return GainFigures(lot_amount, subtract(lot_amount, realized), realized)


@lru_cache(maxsize=65536)
def _local_offset(quarter_hour: int, zone: tuple[str, ...]) -> timedelta | None:
    """The local UTC offset during one quarter of an hour (UTC), in the zone `time.tzname` names."""
    return datetime.fromtimestamp(quarter_hour * 900, timezone.utc).astimezone().utcoffset()


def _day_offset(ordinal: int, zone: tuple[str, ...]) -> timedelta | None:
    """The local UTC offset throughout one UTC day (by its ordinal), or None when it changes
    during that day (a daylight-saving switch): then each quarter hour is asked instead."""
    start = datetime.combine(date.fromordinal(ordinal), datetime.min.time(), timezone.utc)
    first = _local_offset(int(start.timestamp() // 900), zone)
    last = _local_offset(int(start.timestamp() // 900) + 95, zone)
    return first if first is not None and first == last else None


#: `_day_offset` of each UTC day asked so far (by ordinal), for the zone `_zone` names: a plain
#: dictionary lookup per moment (a year's report asks 400,000), dropped when the zone changes.
_day_offsets: dict[int, timedelta | None] = {}
_zone: tuple[str, ...] = ()
_UNKNOWN = timedelta.max


def _offset(moment: datetime) -> timedelta | None:
    """The local UTC offset at a moment, looked up once per UTC day where it does not change."""
    global _day_offsets, _zone
    zone = time.tzname
    if zone is not _zone:  # a new zone (time.tzset makes a new tuple): start over
        _day_offsets, _zone = {}, zone
    if moment.tzinfo is timezone.utc:
        ordinal = moment.toordinal()
        offset = _day_offsets.get(ordinal, _UNKNOWN)
        if offset is _UNKNOWN:
            offset = _day_offsets[ordinal] = _day_offset(ordinal, zone)
        if offset is not None:
            return offset
    return _local_offset(int(moment.timestamp() // 900), zone)


def local_time(moment: datetime) -> datetime:
    """The local wall time of a moment, naive (docs/ledger.md §1.5).

    The same as `moment.astimezone()` without its zone, which asks the system time zone on
    every call; a report asks for two per portion (over 100,000 portions in a year at a
    million trades), so the offset is looked up once per UTC day, or per quarter of an hour
    on a day when it changes (zones change offset on a quarter hour at the finest).
    """
    offset = _offset(moment)
    return (moment.astimezone() if offset is None else moment + offset).replace(tzinfo=None)


def local_day(moment: datetime) -> date:
    """The calendar day of a moment in local time (docs/ledger.md §1.5)."""
    if moment.tzinfo is timezone.utc and time.tzname is _zone:
        # The usual case inline, one dictionary lookup: a year's report asks 400,000 times.
        offset = _day_offsets.get(moment.toordinal())
        if offset is not None:
            return (moment + offset).date()
    offset = _offset(moment)
    return (moment.astimezone() if offset is None else moment + offset).date()


def days_held(acquired: datetime, sold: datetime) -> int:
    """Calendar days from the acquiring day to the selling day, both in local time (0: the same day)."""
    return (local_day(sold) - local_day(acquired)).days


def term(days: int) -> str:
    """`short` when held at most 365 days, else `long` (docs/ledger.md §17.3; not a tax rule of any country)."""
    return SHORT_TERM if days <= SHORT_TERM_MAX_DAYS else LONG_TERM
