"""`audit list`: the audit log, newest first (docs/ledger.md §20).

The entries are written by the other services, each inside the transaction of its change
(`storage/audit.py`); this module only reads them.
"""

from __future__ import annotations

from datetime import datetime

from stocksbot.errors import StocksbotError
from stocksbot.ledger.inputs import parse_time
from stocksbot.storage import audit
from stocksbot.storage.records import AuditEntry
from stocksbot.storage.unit_of_work import UnitOfWork

#: How many entries `audit list` shows without --limit.
DEFAULT_LIMIT = 50


def audit_entries(
    uow: UnitOfWork, *, since: str | datetime | None = None, limit: int | None = DEFAULT_LIMIT
) -> list[AuditEntry]:
    """The newest entries first: those from `since` on (a date means its start, local time), at
    most `limit` of them (None: all)."""
    if limit is not None and limit < 1:
        raise StocksbotError(f"--limit must be 1 or more, got {limit}")
    start = parse_time(since, field="--since") if since is not None else None
    with uow.reading() as conn:
        return audit.entries(conn, since=start, limit=limit)
