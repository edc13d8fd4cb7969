"""`db check`: database integrity and ledger consistency, reported as a list of findings.

The ledger half re-books every trade inside a transaction that is always rolled back and
compares what it derives with what is stored; so it checks the stored positions against the
very code that maintains them, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, or_, select, text

from stocksbot.ledger import format_decimal
from stocksbot.ledger.numbers import ZERO
from stocksbot.storage import audit, strategy_totals, tables, totals
from stocksbot.storage.audit import trade_runs
from stocksbot.storage.database import driver_connection
from stocksbot.storage.types import exact_sum
from stocksbot.vocabulary import IMPLICIT_DEPOSIT

POSITIONS = tables.positions
LOTS = tables.lots
TRADES = tables.trades
ORDERS = tables.orders
CASH_BALANCES = tables.cash_balances
CASH_MOVEMENTS = tables.cash_movements
SHARES = tables.realized_shares
CLOSINGS = tables.lot_closings


def ledger_snapshot(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """What booking derives from the trades: positions (without ids), lots, realized P&L per trade, totals,
    realized shares, closed lot portions."""
    p = POSITIONS.c
    positions = sorted(
        (tuple(row) for row in conn.execute(select(
            p.symbol, p.status, p.opened_at, p.side, p.quantity, p.open_cost, p.avg_entry_price, p.realized_pnl,
            p.costs, p.closed_at, p.strategy_id, p.account_id))),
        key=repr,
    )
    # A lot's place in its position counts, not the raw `seq` (incremental booking leaves gaps).
    rows = conn.execute(
        select(LOTS.c.position_id, p.account_id, p.symbol, LOTS.c.trade_id, LOTS.c.quantity, LOTS.c.amount, LOTS.c.opened_at)
        .join(POSITIONS, LOTS.c.position_id == p.id)
        .order_by(LOTS.c.position_id, LOTS.c.seq)
    )
    lots = []
    rank, last_position = 0, None
    for position_id, account_id, symbol, trade_id, quantity, amount, opened_at in rows:
        rank = rank + 1 if position_id == last_position else 0
        last_position = position_id
        lots.append((account_id, symbol, rank, trade_id, quantity, amount, opened_at))
    lots.sort(key=repr)
    realized = sorted((tuple(row) for row in conn.execute(select(TRADES.c.id, TRADES.c.realized_pnl))), key=repr)
    closed = sorted((key, *values) for key, values in totals.stored(conn).items())
    # Untagged closing trades' realized P&L per opening strategy (docs/ledger.md §8.3), without ids.
    shares = sorted((tuple(row) for row in conn.execute(
        select(SHARES.c.trade_id, SHARES.c.strategy_id, SHARES.c.realized_pnl))), key=repr)
    # Every closed lot portion with its figures (docs/ledger.md §17.3), without ids.
    c = CLOSINGS.c
    closings = sorted((tuple(row) for row in conn.execute(select(
        c.trade_id, c.seq, c.opening_trade_id, c.account_id, c.symbol, c.side, c.quantity, c.opened_at, c.closed_at,
        c.proceeds, c.cost, c.realized_pnl))), key=repr)
    strategies = sorted(((*key, *line.as_tuple()) for key, line in strategy_totals.stored(conn).items()), key=repr)
    return {"positions": positions, "lots": lots, "realized": realized, "totals": closed, "shares": shares,
            "closings": closings, "strategy_totals": strategies, **cash_snapshot(conn)}


def cash_snapshot(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """The cash projection (docs/ledger.md §13): balances, and implicit deposits (without ids; a
    repeated row is told apart by its rank among its equals)."""
    balances = sorted((tuple(row) for row in conn.execute(select(
        CASH_BALANCES.c.account_id, CASH_BALANCES.c.currency, CASH_BALANCES.c.balance, CASH_BALANCES.c.last_at))),
        key=repr)
    m = CASH_MOVEMENTS.c
    rows = sorted((tuple(row) for row in conn.execute(
        select(m.account_id, m.currency, m.at, m.amount, m.trade_id, m.dividend_id).where(m.kind == IMPLICIT_DEPOSIT))),
        key=repr)
    implicit = []
    rank, previous = 0, None
    for row in rows:  # sorted: equal rows are neighbours
        rank = rank + 1 if row == previous else 0
        previous = row
        implicit.append((*row, rank))
    return {"cash": balances, "implicit": implicit}


def integrity_findings(conn: Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        findings = [f"sqlite integrity: {row[0]}" for row in conn.execute(text("PRAGMA integrity_check"))
                    if row[0] != "ok"]
        findings += [f"broken reference: {row[0]} row {row[1]} -> {row[2]}"
                     for row in conn.execute(text("PRAGMA foreign_key_check"))]
        return findings
    unvalidated = conn.execute(
        text("SELECT conrelid::regclass::text, conname FROM pg_constraint "
             "WHERE NOT convalidated AND connamespace = 'public'::regnamespace")
    )
    return [f"constraint {name} on {table} is not validated" for table, name in unvalidated]


def order_findings(conn: Connection) -> list[str]:
    """Each order's filled quantity and status must agree with its live fills."""
    query = select(TRADES.c.order_id, exact_sum(TRADES.c.quantity)) \
        .where(TRADES.c.order_id.is_not(None), tables.LIVE_TRADE).group_by(TRADES.c.order_id)
    fills = {row[0]: row[1] for row in conn.execute(query)}
    findings = []
    for order in conn.execute(select(ORDERS).order_by(ORDERS.c.id)):
        filled = fills.get(order.id) or ZERO
        if order.filled_quantity != filled:
            findings.append(
                f"order {order.id}: filled quantity {format_decimal(order.filled_quantity)} "
                f"but its fills add up to {format_decimal(filled)}"
            )
        if (order.status == "filled") != (order.filled_quantity == order.quantity):
            findings.append(
                f"order {order.id}: status {order.status} with {format_decimal(order.filled_quantity)} "
                f"of {format_decimal(order.quantity)} filled"
            )
    return findings


Runs = list[tuple[int, int]]


def audit_findings(conn: Connection) -> list[str]:
    """The audit trail and the ledger agree (docs/ledger.md §20.3): every trade, voided or not, lies
    in the trade range of an entry that created it, and every voided trade in a `trade.void` entry's.

    No query per trade: the entries' ranges are read in order and merged, and only the trades in
    the gaps between them are read, through the primary key (one index range scan per gap, a
    few gaps a query). A ledger whose trades are all covered costs a handful of probes however
    many trades it holds; the voided trades (few) are swept against the void ranges.
    """
    findings = []
    for first, last in trade_runs(_outside(conn, _covered(conn, audit.TRADE_CREATING_ACTIONS))):
        findings.append(f"{_trades(first, last)}: no audit entry records {'its' if first == last else 'their'} "
                        "creation (an entry of the audit log was deleted, or a trade written outside stocksbot)")
    voided = conn.execute(select(TRADES.c.id).where(TRADES.c.voided_at.is_not(None))).scalars()
    for first, last in _missing(trade_runs(voided), _covered(conn, {audit.VOID_ACTION})):
        findings.append(f"{_trades(first, last)}: voided, but no {audit.VOID_ACTION} entry of the audit log "
                        f"records {'it' if first == last else 'them'}")
    return findings


#: Gaps between covered ranges read by one query (a few hundred ORed index range scans).
_GAPS_PER_QUERY = 200


def _outside(conn: Connection, covered: Runs) -> list[int]:
    """The ids of the stored trades outside the `covered` ranges (sorted, merged)."""
    gaps: list[Any] = []
    after = 0  # trade ids start at 1
    for first, last in covered:
        if first > after + 1:
            gaps.append(TRADES.c.id.between(after + 1, first - 1))
        after = last
    gaps.append(TRADES.c.id > after)
    ids: list[int] = []
    for start in range(0, len(gaps), _GAPS_PER_QUERY):
        ids += conn.execute(select(TRADES.c.id).where(or_(*gaps[start:start + _GAPS_PER_QUERY]))).scalars()
    return ids


def _trades(first: int, last: int) -> str:
    return f"trade {first}" if first == last else f"trades {first}-{last}"


def _covered(conn: Connection, actions: Iterable[str]) -> Runs:
    """The trade ranges of the entries of `actions`, merged where they overlap or touch, in order.

    Read straight from the driver: a bot that records its trades one by one leaves one entry per
    trade, and a million of them would cost seconds as SQLAlchemy rows. The actions are
    stocksbot's own constants (`storage/audit.py`), written into the query as literals.
    """
    wanted = ", ".join(f"'{action}'" for action in sorted(actions))
    log = tables.audit_log.name
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(f"SELECT first_trade_id, last_trade_id FROM {log} WHERE action IN ({wanted}) "
                       "AND first_trade_id IS NOT NULL ORDER BY first_trade_id")
        merged: Runs = []
        while rows := cursor.fetchmany(10_000):
            for first, last in rows:
                if merged and first <= merged[-1][1] + 1:
                    if last > merged[-1][1]:
                        merged[-1] = (merged[-1][0], last)
                else:
                    merged.append((first, last))
        return merged
    finally:
        cursor.close()


def _missing(runs: Runs, covered: Runs) -> Runs:
    """The parts of `runs` outside `covered` (both sorted, neither overlapping itself), in one sweep."""
    missing: Runs = []
    index = 0
    for first, last in runs:
        start = first
        while index < len(covered) and covered[index][1] < start:
            index += 1
        position = index
        while start <= last:
            if position >= len(covered) or covered[position][0] > last:
                missing.append((start, last))
                break
            low, high = covered[position]
            if low > start:
                missing.append((start, low - 1))
            start = max(start, high + 1)
            position += 1
    return missing


def ledger_findings(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """Differences between stored state (`before`) and a rebuild (`after`), one line each."""
    findings = []
    labels = {"positions": "position", "lots": "lot", "realized": "trade realized P&L",
              "totals": "closed-run total (strategy key, runs, realized P&L, costs)",
              "shares": "realized share (trade, opening strategy, realized P&L)",
              "closings": "closed lot portion (trade, place, opening trade, account id, symbol, side, quantity, "
                          "opened, closed, proceeds, cost, realized P&L)",
              "strategy_totals": "strategy total (strategy, symbol, account id, trades, closing trades, wins, "
                                 "realized P&L, commissions, fees)",
              "cash": "cash balance (account id, currency, balance, last event)",
              "implicit": "cash movement of kind implicit_deposit (account id, currency, at, amount, trade, dividend, rank)"}
    for kind, label in labels.items():
        stored, rebuilt = set(before[kind]), set(after[kind])
        findings += [f"stored {label} not produced by a rebuild: {_row(r)}" for r in sorted(stored - rebuilt, key=str)]
        findings += [f"rebuild gives a {label} that is not stored: {_row(r)}" for r in sorted(rebuilt - stored, key=str)]
    return findings


def _row(row: tuple[Any, ...]) -> str:
    return ", ".join(format_decimal(v) if hasattr(v, "as_tuple") else str(v) for v in row)
