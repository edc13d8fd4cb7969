"""Fingerprints: the key of a record that came without a broker id (docs/brokers.md §5,
docs/csv-formats.md §2.5).

One function for every importer, so that `trade import`, `stocksbot import` (every format,
stocksbot's own CSV included) and `trade export` give the same row the same key: a file
imported by one command is recognised by the other, and re-importing it skips what is
stored. The key is `fp:` and 40 hex digits of a SHA-256 of the record's content as text
(`content_text`: canonical decimals, so `10` and `10.00` are one value, and times in UTC),
plus an occurrence counter: the number of earlier rows of the same file with the same
content, so two identical fills in one file are two records.

Pure: no storage, no I/O.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from decimal import Decimal

from stocksbot.ledger import format_decimal

#: What every fingerprint starts with; an `external_id` that starts with it is a fingerprint,
#: not a broker's id (`trade export` writes one for every trade without an id).
PREFIX = "fp:"

_UTC = timezone.utc


def plain(value: Decimal) -> str:
    """`format_decimal(value)` (canonical plain form: `10.00` is `10`), fast for the usual value.

    `str` of a decimal is plain already unless it has an exponent, a sign or trailing zeros
    after the point; only those go the long way. (An import fingerprints every row without an
    external_id: this is most of the cost of a fingerprint.)
    """
    text = str(value)
    if "E" in text or text[0] == "-" or ("." in text and text[-1] == "0"):
        return format_decimal(value)
    return text


def _utc_text(moment: datetime) -> str:
    return (moment if moment.tzinfo is _UTC else moment.astimezone(_UTC)).isoformat()


def content_text(value: object) -> str:
    """One value of a record's content as the fingerprint reads it: a decimal in canonical
    plain form, a time as ISO 8601 in UTC, nothing as the empty text."""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, datetime):
        return _utc_text(value)
    return "" if value is None else str(value)


def trade_content(
    at: datetime, account: str, symbol: str, isin: str | None, side: str, quantity: Decimal, price: Decimal,
    commission: Decimal, fees: Decimal, currency: str | None,
) -> tuple[str, ...]:
    """What identifies a fill without a broker id: its time, account (name), symbol and ISIN as
    the file gives them, side, quantity, price, commission, fees and currency (as given: None
    when the file leaves it to the symbol)."""
    return ("trade", _utc_text(at), account, symbol or "", isin or "", side, plain(quantity), plain(price),
            plain(commission), plain(fees), currency or "")


def fingerprint(values: tuple[str, ...], occurrence: int) -> str:
    """The key of a record without a broker id: `fp:` and 40 hex digits of a SHA-256 of its
    content and `occurrence` (the number of earlier rows of its file with the same content)."""
    digest = hashlib.sha256("\x1f".join((*values, str(occurrence))).encode()).hexdigest()
    return f"{PREFIX}{digest[:40]}"


def is_fingerprint(key: str | None) -> bool:
    """Whether an external_id is a fingerprint (rather than a broker's id)."""
    return key is not None and key.startswith(PREFIX)


class Occurrences:
    """Counts a file's rows by content, to number identical rows 0, 1, 2, ... in file order.

    Remembers the first fingerprint of each content (not the content itself), so the memory
    is one short text per distinct row without a broker id.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def key(self, values: tuple[str, ...]) -> str:
        """The fingerprint of the next row with this content."""
        first = fingerprint(values, 0)
        count = self._seen.get(first)
        if count is None:
            self._seen[first] = 1
            return first
        self._seen[first] = count + 1
        return fingerprint(values, count)
