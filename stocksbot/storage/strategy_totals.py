"""Per-(strategy, symbol, account) totals by the attribution rule, kept by booking.

`strategy list` and `summary` report each strategy's trades, closing trades, wins, realized
P&L and costs. Realized P&L follows the attribution rule (docs/ledger.md §8.3): a closing
trade's realized P&L belongs to its strategy; an untagged closing trade gives each lot
portion's share to the strategy that opened the lot (the `realized_shares` rows). Summing
that over every trade on each read made both commands cost as much as the whole history
(seconds at a million trades), so booking keeps the sums here instead, per (strategy,
symbol, account) so that one symbol can be recomputed alone and one account read alone:

- booking a new trade, and an import its trades booked in order, add their figures
  (`Deltas`, `apply`: an upsert whose additions are exact on both backends);
- re-booking a symbol deletes that symbol's rows and writes them from the replay, and a
  whole-ledger rebuild writes every row again, which also repairs the table;
- `db check` compares the stored rows with a rebuild's (storage/checks.py), and migration
  0009 fills the table with `refresh`, grouped SQL sums over the trades (`computed`).

`strategy_key` is the strategy id, 0 for no strategy (no foreign key, as in
`closed_run_totals`). Only (strategy, symbol, account)s with a live trade or a share of one
have a row: additions never take a row back to nothing, and a re-booking writes only what
its replay found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Connection, Numeric, case, cast, delete, exists, func, select

from stocksbot.ledger.numbers import ZERO, add
from stocksbot.storage import tables
from stocksbot.storage.totals import adding_upsert
from stocksbot.storage.types import exact_sum

TOTALS = tables.strategy_totals
TRADES = tables.trades
SHARES = tables.realized_shares
_NO_STRATEGY = 0


@dataclass
class Line:
    """One row's figures: trades tagged with the strategy, closing trades attributed to it
    (each share of an untagged close counts as one), those with a positive share, their
    realized P&L, and the commissions and fees of its trades."""

    trades: int = 0
    closing: int = 0
    won: int = 0
    realized_pnl: Decimal = ZERO
    commissions: Decimal = ZERO
    fees: Decimal = ZERO

    def add_trade(self, commission: Decimal, fees: Decimal) -> None:
        self.trades += 1
        self.commissions = add(self.commissions, commission)
        self.fees = add(self.fees, fees)

    def add_close(self, realized: Decimal) -> None:
        self.closing += 1
        self.won += realized > 0
        self.realized_pnl = add(self.realized_pnl, realized)

    def merge(self, other: "Line") -> None:
        self.trades += other.trades
        self.closing += other.closing
        self.won += other.won
        self.realized_pnl = add(self.realized_pnl, other.realized_pnl)
        self.commissions = add(self.commissions, other.commissions)
        self.fees = add(self.fees, other.fees)

    def as_tuple(self) -> tuple[int, int, int, Decimal, Decimal, Decimal]:
        return self.trades, self.closing, self.won, self.realized_pnl, self.commissions, self.fees


#: (strategy id or None, symbol, account id) -> its line
Key = tuple[int | None, str, int]
Totals = dict[Key, Line]


class Deltas:
    """What new trades add, gathered while booking and stored with `apply`."""

    def __init__(self) -> None:
        self.lines: Totals = {}

    def _line(self, key: Key) -> Line:
        line = self.lines.get(key)
        if line is None:
            line = self.lines[key] = Line()
        return line

    def trade(
        self, strategy_id: int | None, symbol: str, account_id: int, commission: Decimal, fees: Decimal,
        realized: Decimal | None, shares: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """A booked trade: counted for its strategy; its realized P&L (None: it closed nothing)
        goes to its strategy, or, for an untagged close with `shares` (`realized_shares` rows),
        to each share's strategy."""
        self._line((strategy_id, symbol, account_id)).add_trade(commission, fees)
        if realized is None:
            return
        if strategy_id is not None or not shares:
            self._line((strategy_id, symbol, account_id)).add_close(realized)
            return
        for share in shares:
            self._line((share["strategy_id"], symbol, account_id)).add_close(share["realized_pnl"])

    def __bool__(self) -> bool:
        return bool(self.lines)


@cache
def _upsert(dialect: str) -> Any:
    """The "add to the totals" upsert of a dialect (`totals.adding_upsert`)."""
    return adding_upsert(dialect, TOTALS, ["strategy_key", "symbol", "account_id"], ["trades", "closing", "won"],
                         ["realized_pnl", "commissions", "fees"])


def _rows(lines: Totals) -> list[dict[str, Any]]:
    """The table rows of `lines`, in key order (concurrent upserts then lock rows in one order)."""
    rows = []
    for (strategy_id, symbol, account_id), line in lines.items():
        rows.append({"strategy_key": strategy_id if strategy_id is not None else _NO_STRATEGY, "symbol": symbol,
                     "account_id": account_id, "trades": line.trades, "closing": line.closing, "won": line.won,
                     "realized_pnl": line.realized_pnl, "commissions": line.commissions, "fees": line.fees})
    return sorted(rows, key=lambda row: (row["strategy_key"], row["symbol"], row["account_id"]))


def apply(conn: Connection, deltas: Deltas) -> None:
    """Add `deltas` to the stored rows (deltas only ever add trades: no row can drop to zero)."""
    if deltas:
        conn.execute(_upsert(conn.dialect.name), _rows(deltas.lines))


def computed(conn: Connection) -> Totals:
    """The rows as the live trades and their realized shares give them: grouped sums, exact on
    both backends (what migration 0009 fills the table with, and what the tests compare the
    kept rows with)."""
    t = TRADES.c
    won = case((cast(t.realized_pnl, Numeric()) > 0, 1), else_=0)
    share_won = case((cast(SHARES.c.realized_pnl, Numeric()) > 0, 1), else_=0)
    shared = exists().where(SHARES.c.trade_id == t.id)
    live = tables.LIVE_TRADE
    trades = (select(t.strategy_id, t.symbol, t.account_id, func.count(), exact_sum(t.commission), exact_sum(t.fees))
              .where(live).group_by(t.strategy_id, t.symbol, t.account_id))
    closes = [  # closing trades with a strategy or no shares, then the shares of the others
        select(t.strategy_id, t.symbol, t.account_id, func.count(), func.sum(won), exact_sum(t.realized_pnl))
        .where(t.realized_pnl.is_not(None), t.strategy_id.is_not(None) | ~shared, live)
        .group_by(t.strategy_id, t.symbol, t.account_id),
        select(SHARES.c.strategy_id, t.symbol, t.account_id, func.count(), func.sum(share_won),
               exact_sum(SHARES.c.realized_pnl))
        .join(TRADES, t.id == SHARES.c.trade_id).where(live)
        .group_by(SHARES.c.strategy_id, t.symbol, t.account_id),
    ]
    result: Totals = {}
    for strategy_id, symbol, account_id, count, commissions, fees in conn.execute(trades):
        result.setdefault((strategy_id, symbol, account_id), Line()).merge(
            Line(trades=int(count), commissions=commissions, fees=fees))
    for query in closes:
        for strategy_id, symbol, account_id, count, wins, realized in conn.execute(query):
            result.setdefault((strategy_id, symbol, account_id), Line()).merge(
                Line(closing=int(count), won=int(wins), realized_pnl=realized))
    return result


def refresh(conn: Connection) -> None:
    """Replace every row with what the trades give (`computed`)."""
    conn.execute(delete(TOTALS))
    rows = computed(conn)
    if rows:
        conn.execute(TOTALS.insert(), _rows(rows))


def stored(conn: Connection, account_id: int | None = None) -> Totals:
    """The stored rows (of one account when `account_id` is given)."""
    query = select(TOTALS)
    if account_id is not None:
        query = query.where(TOTALS.c.account_id == account_id)
    return {
        (row.strategy_key or None, row.symbol, row.account_id):
            Line(row.trades, row.closing, row.won, row.realized_pnl, row.commissions, row.fees)
        for row in conn.execute(query)
    }


def by_strategy(conn: Connection, account_id: int | None = None) -> dict[int | None, Line]:
    """Each strategy's line (None: no strategy), all symbols and accounts (or one account) added up."""
    result: dict[int | None, Line] = {}
    for (strategy_id, _symbol, _account_id), line in stored(conn, account_id).items():
        result.setdefault(strategy_id, Line()).merge(line)
    return result
