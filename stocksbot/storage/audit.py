"""The audit log: one append-only row per write (docs/ledger.md §20).

Services call `log()` inside the transaction that makes the change, so an entry exists
exactly when its change committed. Values go in as JSON: `jsonable()` turns decimals into
strings (never floats: the log is as exact as the ledger) and times into ISO 8601 UTC.

Trades carry their ids as a range (`first_trade_id`..`last_trade_id`) instead of one row
each: `trade_runs()` splits the ids of an import into contiguous runs, so a million-trade
import writes one entry, and `db check` can still prove every trade has its entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from stocksbot.storage import tables

if TYPE_CHECKING:
    from stocksbot.storage.records import AuditEntry

#: Who made a change when no command line says it: a program using the Python API.
API_COMMAND = "python api"

#: The actions whose entries bring trades into the ledger: `db check` wants every stored
#: trade inside the trade range of one of them (docs/ledger.md §20.3). An action that only
#: changes trades already stored (`trade.void`, `trade.amend`) is not one of them.
TRADE_CREATING_ACTIONS = frozenset({
    "trade.baseline", "trade.add", "trade.import", "statement.import", "order.fill", "position.add",
    "position.close", "dividend.add", "split.add",
})
#: The action a voided trade must have an entry of (docs/ledger.md §20.3).
VOID_ACTION = "trade.void"


def jsonable(value: Any) -> Any:
    """`value` with decimals as strings and times as ISO 8601 UTC, ready for a JSON column."""
    if isinstance(value, Decimal):
        return format(value, "f")  # every digit it has, never '1E-10' (docs/ledger.md §1.4)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    return value


def trade_runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """The ids as inclusive (first, last) runs of consecutive numbers, in order."""
    if isinstance(ids, range) and ids.step == 1:  # an import's ids: one run, without a million-item sort
        return [(ids.start, ids.stop - 1)] if ids else []
    runs: list[tuple[int, int]] = []
    for trade_id in sorted(ids):
        if runs and trade_id == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], trade_id)
        else:
            runs.append((trade_id, trade_id))
    return runs


def log(
    conn: Connection, command: str | None, action: str, key: object = None, *,
    old: Mapping[str, Any] | None = None, new: Mapping[str, Any] | None = None,
    trade_ids: Sequence[int] = (),
) -> None:
    """Write the entry of one change (one row per contiguous run of `trade_ids`, if any): what
    the services call for each change they commit (docs/ledger.md §20.1).

    `action` is "<noun>.<verb>" ("trade.add", "order.fill") and its noun is the entity; `key`
    the id or name of what changed (None for a batch), `command` the command line that asked
    for it (None: the Python API).
    """
    base = {
        "at": datetime.now(timezone.utc), "action": action, "entity": action.partition(".")[0],
        "entity_key": None if key is None else str(key),
        "old": None if old is None else jsonable(old), "new": None if new is None else jsonable(new),
        "command": command or API_COMMAND,
    }
    runs: list[tuple[int | None, int | None]] = [*trade_runs(trade_ids)] or [(None, None)]
    conn.execute(tables.audit_log.insert(), [
        {**base, "first_trade_id": first, "last_trade_id": last} for first, last in runs
    ])


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose values differ, as (old, new): what an entry of a change stores."""
    keys = [key for key in dict.fromkeys([*old, *new]) if old.get(key) != new.get(key)]
    return {key: old.get(key) for key in keys}, {key: new.get(key) for key in keys}


def entries(conn: Connection, *, since: datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
    """The newest entries first (from `since` on, at most `limit` of them)."""
    from stocksbot.storage.records import AuditEntry

    log = tables.audit_log
    query = select(
        log.c.id, log.c.at, log.c.action, log.c.entity, log.c.entity_key, log.c.old, log.c.new,
        log.c.command, log.c.first_trade_id, log.c.last_trade_id,
    ).order_by(log.c.id.desc())
    if since is not None:
        query = query.where(log.c.at >= since)
    if limit is not None:
        query = query.limit(limit)
    return [AuditEntry(**row._mapping) for row in conn.execute(query)]
