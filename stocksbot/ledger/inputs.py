"""Parsing what users type for symbols and times (docs/ledger.md §1.5 and §2).

Pure functions; errors are LedgerError (a StocksbotError), so the command line turns them
into one line and exit 1.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone

from stocksbot.ledger.errors import LedgerError
from stocksbot.vocabulary import ACCOUNT_NAME_MAX, SYMBOL_MAX

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

    A bare date (`2024-01-15`) is local midnight of that day: the start of a range; the end
    of a range is read by `parse_range_end`. See docs/ledger.md §1.5 (time input) and §1.6
    (date ranges).
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


def parse_range_end(text: str | datetime, *, field: str = "--until") -> datetime:
    """The end of a range (`--until`), inclusive: a bare date means the END of that local day
    (its last microsecond, so `<= end` takes in every time of the day and nothing of the
    next, DST days included); anything else is `parse_time`. See docs/ledger.md §1.6.
    """
    if isinstance(text, str) and _DATE_PATTERN.fullmatch(text.strip()):
        day = date.fromisoformat(text.strip())
        next_midnight = datetime.combine(day + timedelta(days=1), time()).astimezone()
        return (next_midnight - timedelta(microseconds=1)).astimezone(timezone.utc)
    return parse_time(text, field=field)


_CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
#: What breaks a line of a table or a row of an export: control characters (C0, DEL, C1:
#: tab, newline, carriage return, escape, ...) and Unicode's line and paragraph separators.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def parse_currency(text: str, *, field: str = "currency") -> str:
    """An ISO 4217 code: three letters, upper-cased (docs/ledger.md §15)."""
    code = text.strip().upper() if isinstance(text, str) else ""
    if not _CURRENCY_PATTERN.fullmatch(code):
        raise LedgerError(f"invalid {field} {text!r}: use a three-letter ISO 4217 code such as USD, EUR or GBP")
    return code


def parse_name(text: str, *, what: str, limit: int) -> str:
    """A name users pick (account, strategy, instrument, strategy parameter): 1-`limit`
    printable characters, not all spaces, kept as typed (docs/ledger.md §1.7).

    The one check for names: a name is a cell of a table, a field of an export and an
    argument to type again, so a newline, tab or escape in it would break all three.
    Printable is Python's `str.isprintable`: no control, format or separator characters
    other than the plain space.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > limit or not text.isprintable():
        raise LedgerError(f"invalid {what} {text!r}: use 1-{limit} printable characters (no control characters)")
    return text


def parse_account_name(text: str) -> str:
    """An account name: 1-64 printable characters (`parse_name`), kept as typed."""
    return parse_name(text, what="account name", limit=ACCOUNT_NAME_MAX)


def parse_note(text: str | None, *, field: str = "note") -> str | None:
    """A note, description or reason: any text of one line (docs/ledger.md §1.7).

    Free text, spaces and every printable character included, but no control characters
    (tab, newline, escape, ...) and no line or paragraph separator: a note is shown in a
    table cell and written into exports, where those would break the row. None stays None.
    """
    if text is None:
        return None
    if not isinstance(text, str) or _LINE_BREAKING.search(text):
        raise LedgerError(f"invalid {field} {text!r}: use text on one line (no tabs, newlines or other control characters)")
    return text


def parse_ratio(text: str) -> tuple[int, int]:
    """A split ratio `N:D`: N new shares for D old, two different whole numbers of at least 1."""
    match = re.fullmatch(r"\s*(\d{1,9})\s*:\s*(\d{1,9})\s*", text) if isinstance(text, str) else None
    numerator, denominator = (int(match[1]), int(match[2])) if match else (0, 0)
    if numerator < 1 or denominator < 1 or numerator == denominator:
        raise LedgerError(
            f"invalid split ratio {text!r}: use N:D, N new shares for D old, two different whole numbers "
            "of at least 1 (e.g. 4:1, 3:2, 1:10)"
        )
    return numerator, denominator


def start_of_day(text: str | datetime, *, field: str = "date") -> datetime:
    """The start of the local day named by an ISO date (or the day of a datetime), in UTC."""
    moment = parse_time(text, field=field).astimezone()
    return datetime.combine(moment.date(), time()).astimezone().astimezone(timezone.utc)
