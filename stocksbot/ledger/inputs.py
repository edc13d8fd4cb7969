"""Parsing what users type for symbols and times (docs/ledger.md §1.5 and §2).

Pure functions; errors are LedgerError (a StocksbotError), so the command line turns them
into one line and exit 1.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone

from stocksbot.ledger.errors import LedgerError
from stocksbot.vocabulary import SYMBOL_MAX

SYMBOL_PATTERN = re.compile(rf"^[A-Z0-9][A-Z0-9.\-/:_]{{0,{SYMBOL_MAX - 1}}}$")
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_symbol(text: str) -> str:
    """Upper-cased symbol, or a refusal naming the accepted form (docs/ledger.md §2)."""
    symbol = text.strip().upper() if isinstance(text, str) else ""
    if not SYMBOL_PATTERN.match(symbol):
        raise LedgerError(
            f"invalid symbol {text!r}: use 1-{SYMBOL_MAX} letters, digits or . - / : _ starting with a letter or digit "
            "(e.g. AAPL, BRK.B, BTC-USD, EUR/USD)"
        )
    return symbol


def parse_time(text: str | datetime, *, field: str = "time") -> datetime:
    """A timezone-aware UTC datetime from an ISO date or datetime; naive means local time.

    A bare date (`2024-01-15`) is local midnight of that day, also when it ends a range.
    See docs/ledger.md §1.5 (time input) and §1.6 (date ranges).
    """
    if isinstance(text, datetime):
        moment = text
    else:
        stripped = text.strip() if isinstance(text, str) else ""
        try:
            if "T" in stripped:  # the usual datetime (a bare date has no T)
                moment = datetime.fromisoformat(stripped)
            elif _DATE_PATTERN.fullmatch(stripped):
                moment = datetime.combine(date.fromisoformat(stripped), time())
            else:
                moment = datetime.fromisoformat(stripped.replace(" ", "T", 1))
        except ValueError:
            raise LedgerError(
                f"invalid {field} {text!r}: use an ISO date or datetime, e.g. 2024-01-15, "
                "2024-01-15T14:30 or 2024-01-15T14:30:00+00:00"
            ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive: the user's local time
    return moment.astimezone(timezone.utc)
