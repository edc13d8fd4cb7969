"""Which strategy a realized P&L belongs to: one rule for `strategy list` and `summary`.

The rule (docs/ledger.md §8.3): realized P&L belongs to the strategy of the closing trade;
a closing trade with no strategy gives each lot portion it closed to the strategy of the
trade that opened that lot (none when that trade had none either).

A trade stores its realized P&L as one number; the part of the rule that looks at lots
(untagged closing trades) is stored by booking in `realized_shares`, one row per (trade,
opening strategy), for every untagged closing trade that closed a lot opened under a
strategy (`BookingStore.shares_of`). So everything here is a grouped SQL sum, exact on both
backends (`exact_sum`), and nothing is re-booked on a read. Only symbols where a strategy
appears at all can attribute anything to one: a ledger without strategies reads no trade here.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, Numeric, case, cast, exists, func, select

from stocksbot.ledger.numbers import ZERO, add
from stocksbot.storage import tables
from stocksbot.storage.types import exact_sum

TRADES = tables.trades
POSITIONS = tables.positions
CHANGES = tables.symbol_changes
SHARES = tables.realized_shares
TRANSFERS = tables.share_transfers
LIVE = tables.LIVE_TRADE  # voided trades count nowhere (docs/ledger.md §19)

#: (strategy id or None, symbol, account id) -> realized P&L
Realized = dict[tuple[int | None, str, int], Decimal]


def strategy_symbols(conn: Connection) -> list[str]:
    """The symbols whose realized P&L may belong to a strategy: those with a trade that names
    one, and the later names of those symbols (their lots carry over, docs/ledger.md §12.6)."""
    if conn.execute(select(TRADES.c.id).where(TRADES.c.strategy_id.is_not(None), LIVE).limit(1)).first() is None:
        return []  # no strategy anywhere (the strategy_id index answers at once)
    # Every traded symbol has positions; each is asked for one tagged trade through the
    # (symbol, executed_at) index, which stops at the first, rather than grouping the trades.
    held = select(POSITIONS.c.symbol).distinct().subquery()
    tagged = exists().where(TRADES.c.symbol == held.c.symbol, TRADES.c.strategy_id.is_not(None), LIVE)
    symbols = set(conn.execute(select(held.c.symbol).where(tagged)).scalars())
    renames = {old: new for old, new in conn.execute(select(CHANGES.c.old_symbol, CHANGES.c.new_symbol))}
    pending = list(symbols)
    while pending:
        new = renames.get(pending.pop())
        if new is not None and new not in symbols:
            symbols.add(new)
            pending.append(new)
    return sorted(symbols)


def share_metrics(conn: Connection, account_id: int | None = None) -> dict[int, tuple[int, int, Decimal]]:
    """Per strategy id: the untagged closing trades that closed lots it opened, how many of
    them gave it a positive share, and the sum of those shares (of one account's trades when
    `account_id` is given). Aggregated in SQL from `realized_shares`; exact on both backends."""
    won = case((cast(SHARES.c.realized_pnl, Numeric()) > 0, 1), else_=0)
    query = (
        select(SHARES.c.strategy_id, func.count(), func.coalesce(func.sum(won), 0), exact_sum(SHARES.c.realized_pnl))
        .where(SHARES.c.strategy_id.is_not(None))
        .group_by(SHARES.c.strategy_id)
    )
    if account_id is not None:
        query = query.join(TRADES, TRADES.c.id == SHARES.c.trade_id).where(TRADES.c.account_id == account_id)
    return {strategy_id: (int(closing), int(won), realized) for strategy_id, closing, won, realized in conn.execute(query)}


def _moved_or_flipped(conn: Connection, symbols: list[str]) -> set[str]:
    """The symbols whose lots may come from elsewhere (a share transfer, a symbol change) or
    from a closing trade (a run opened at the moment a trade closed something: a flip)."""
    moved = set(conn.execute(select(TRANSFERS.c.symbol).where(TRANSFERS.c.symbol.in_(symbols))).scalars())
    for old, new in conn.execute(select(CHANGES.c.old_symbol, CHANGES.c.new_symbol)):
        moved |= {old, new}
    flip = (
        select(POSITIONS.c.symbol).distinct()
        .where(POSITIONS.c.symbol.in_(symbols))
        # Any account's closing trade at that moment counts (conservative): without the account,
        # both databases look the trade up by the (symbol, executed_at) index.
        .where(exists().where(TRADES.c.symbol == POSITIONS.c.symbol, TRADES.c.executed_at == POSITIONS.c.opened_at,
                              TRADES.c.realized_pnl.is_not(None), LIVE))
    )
    return (moved & set(symbols)) | set(conn.execute(flip).scalars())


def _credit(result: Realized, key: tuple[int | None, str, int], amount: Decimal) -> None:
    result[key] = add(result.get(key, ZERO), amount)


def realized_by_rule(conn: Connection, symbols: list[str], account_id: int | None = None) -> Realized:
    """The realized P&L of `symbols` per (strategy, symbol, account) by the attribution rule, in
    three grouped sums: closing trades with a strategy, untagged ones with no stored shares
    (all of it belongs to no strategy), and the stored shares of the others."""
    result: Realized = {}
    if not symbols:
        return result
    t = TRADES.c
    shared = exists().where(SHARES.c.trade_id == t.id)
    queries = [
        select(t.strategy_id, t.symbol, t.account_id, exact_sum(t.realized_pnl))
        .where(t.realized_pnl.is_not(None), t.symbol.in_(symbols), t.strategy_id.is_not(None) | ~shared, LIVE)
        .group_by(t.strategy_id, t.symbol, t.account_id),
        select(SHARES.c.strategy_id, t.symbol, t.account_id, exact_sum(SHARES.c.realized_pnl))
        .join(TRADES, t.id == SHARES.c.trade_id).where(t.symbol.in_(symbols), LIVE)
        .group_by(SHARES.c.strategy_id, t.symbol, t.account_id),
    ]
    for query in queries:
        if account_id is not None:
            query = query.where(t.account_id == account_id)
        for strategy_id, symbol, owner, realized in conn.execute(query):
            _credit(result, (strategy_id, symbol, owner), realized)
    return result


def realized_by_position(conn: Connection, symbols: list[str], account_id: int | None = None) -> Realized:
    """The realized P&L of `symbols`' positions, open and closed, per (position strategy, symbol, account)."""
    result: Realized = {}
    if not symbols:
        return result
    query = (
        select(POSITIONS.c.strategy_id, POSITIONS.c.symbol, POSITIONS.c.account_id, exact_sum(POSITIONS.c.realized_pnl))
        .where(POSITIONS.c.symbol.in_(symbols))
        .group_by(POSITIONS.c.strategy_id, POSITIONS.c.symbol, POSITIONS.c.account_id)
    )
    if account_id is not None:
        query = query.where(POSITIONS.c.account_id == account_id)
    for strategy_id, symbol, owner, realized in conn.execute(query):
        _credit(result, (strategy_id, symbol, owner), realized)
    return result


def corrections(conn: Connection, account_id: int | None = None) -> Realized:
    """What moves realized P&L from the positions' strategies (docs/ledger.md §5.5) to the
    strategies the rule gives it to: per (strategy, symbol, account), the rule's figure minus
    the positions'. Each symbol's corrections add up to zero.

    Only symbols where a strategy appears are read, and of those only the ones where the two
    can differ: where every opening trade of each account has one strategy X (or none), every
    closing trade has X or none, and no lot came from a flip, a transfer or an old name, every
    position and every closed lot belongs to X, so nothing moves.
    """
    symbols = _differing_symbols(conn, strategy_symbols(conn))
    result = realized_by_rule(conn, symbols, account_id)
    for key, realized in realized_by_position(conn, symbols, account_id).items():
        _credit(result, key, realized.copy_negate())
    return {key: amount for key, amount in result.items() if amount}


def _differing_symbols(conn: Connection, symbols: list[str]) -> list[str]:
    """Of `symbols`, those where the rule and the positions' strategies may attribute differently."""
    if not symbols:
        return []
    opening: dict[tuple[int, str], set[int | None]] = {}
    closing: dict[tuple[int, str], set[int | None]] = {}
    query = (
        select(TRADES.c.account_id, TRADES.c.symbol, TRADES.c.strategy_id, TRADES.c.realized_pnl.is_(None)).distinct()
        .where(TRADES.c.symbol.in_(symbols), LIVE)
    )
    for account_id, symbol, strategy_id, opens in conn.execute(query):
        (opening if opens else closing).setdefault((account_id, symbol), set()).add(strategy_id)
    differing = _moved_or_flipped(conn, symbols)
    for pair in opening.keys() | closing.keys():
        openers = opening.get(pair, set())
        if len(openers) != 1 or not closing.get(pair, set()) <= openers | {None}:
            differing.add(pair[1])
    return sorted(differing)
