"""Per-strategy totals of closed runs: kept up to date by booking, read by the summary.

Every change is a delta added in one statement (an upsert whose additions are exact on both
backends: NUMERIC `+` on PostgreSQL, the `decimal_add` function on SQLite), so concurrent
writers that close runs of one strategy never lose an update. A whole-ledger rebuild
recomputes the table from the positions instead, which also repairs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, delete, select

from stocksbot.ledger.numbers import ZERO, add
from stocksbot.storage.tables import closed_run_totals as TOTALS
from stocksbot.storage.tables import positions as POSITIONS
from stocksbot.storage.types import exact_add

#: strategy_key -> (runs, realized P&L, costs)
Totals = dict[int, tuple[int, Decimal, Decimal]]

_NO_STRATEGY = 0


def key_of(strategy_id: int | None) -> int:
    return strategy_id if strategy_id is not None else _NO_STRATEGY


def strategy_of(key: int) -> int | None:
    return key if key != _NO_STRATEGY else None


def _add_to(totals: Totals, key: int, runs: int, realized: Decimal, costs: Decimal) -> None:
    old_runs, old_realized, old_costs = totals.get(key, (0, ZERO, ZERO))
    totals[key] = (old_runs + runs, add(old_realized, realized), add(old_costs, costs))


def accumulate(totals: Totals, strategy_id: int | None, realized: Decimal, costs: Decimal) -> None:
    """Add one closed run of the strategy `strategy_id` (None: no strategy) to `totals`."""
    _add_to(totals, key_of(strategy_id), 1, realized, costs)


def adding_upsert(
    dialect: str, table: Table, keys: Sequence[str], counts: Sequence[str], amounts: Sequence[str]
) -> Any:
    """An INSERT of `table` whose conflict on `keys` adds the new row's `counts` (integers) and
    `amounts` (exact decimals: `exact_add`) to the stored row's, in one statement. Built on first
    use of each table (readers never need it); the dialect module is imported only then."""
    statement: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(table)
    else:
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(table)
    excluded, stored = statement.excluded, table.c
    return statement.on_conflict_do_update(
        index_elements=[stored[key] for key in keys],
        set_={**{name: stored[name] + excluded[name] for name in counts},
              **{name: exact_add(stored[name], excluded[name]) for name in amounts}},
    )


@cache
def _upsert(dialect: str) -> Any:
    """The "add to the totals" upsert of a dialect."""
    return adding_upsert(dialect, TOTALS, ["strategy_key"], ["runs"], ["realized_pnl", "costs"])


_DELETE_EMPTY = delete(TOTALS).where(TOTALS.c.runs == 0)


def apply(conn: Connection, deltas: Totals) -> None:
    """Add `deltas` to the stored totals; rows left with no run are removed."""
    changes = [
        {"strategy_key": key, "runs": runs, "realized_pnl": realized, "costs": costs}
        for key, (runs, realized, costs) in sorted(deltas.items())
        if runs or realized or costs
    ]
    if not changes:
        return
    conn.execute(_upsert(conn.dialect.name), changes)
    if any(runs < 0 for runs, _realized, _costs in deltas.values()):
        conn.execute(_DELETE_EMPTY)


def stored(conn: Connection) -> Totals:
    return {row[0]: (row[1], row[2], row[3]) for row in conn.execute(select(TOTALS))}


def from_positions(conn: Connection, where: Any = None) -> Totals:
    """What the closed positions (optionally only those matching `where`) add up to."""
    query = select(POSITIONS.c.strategy_id, POSITIONS.c.realized_pnl, POSITIONS.c.costs).where(
        POSITIONS.c.status == "closed"
    )
    if where is not None:
        query = query.where(where)
    totals: Totals = {}
    for strategy_id, realized, costs in conn.execute(query):
        accumulate(totals, strategy_id, realized, costs)
    return totals


def negated(totals: Totals) -> Totals:
    return {key: (-runs, realized.copy_negate(), costs.copy_negate()) for key, (runs, realized, costs) in totals.items()}


def merged(*parts: Totals) -> Totals:
    result: Totals = {}
    for part in parts:
        for key, (runs, realized, costs) in part.items():
            _add_to(result, key, runs, realized, costs)
    return result


def recompute(conn: Connection) -> None:
    """Replace the stored totals with what the closed positions add up to."""
    conn.execute(delete(TOTALS))
    apply(conn, from_positions(conn))


def of_runs(runs: Iterable[Any]) -> Totals:
    """Totals of closed position states (anything with strategy_id, realized_pnl and costs)."""
    totals: Totals = {}
    for run in runs:
        accumulate(totals, run.strategy_id, run.realized_pnl, run.costs)
    return totals
