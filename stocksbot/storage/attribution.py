"""Which strategy a realized P&L belongs to: one rule for `strategy list` and `summary`.

The rule (docs/ledger.md §8.3): realized P&L belongs to the strategy of the closing trade;
a closing trade with no strategy gives each lot portion it closed to the strategy of the
trade that opened that lot (none when that trade had none either).

A trade stores its realized P&L as one number, not per lot, so the part of the rule that
looks at lots (untagged closing trades) re-books the symbols concerned in memory (the
booking store's `bookings`); nothing is written. Only symbols where a strategy appears at
all can attribute anything to one: a ledger without strategies reads no trade here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, exists, select

from stocksbot.ledger.numbers import ZERO, add
from stocksbot.storage import tables
from stocksbot.storage.types import exact_sum

TRADES = tables.trades
POSITIONS = tables.positions
CHANGES = tables.symbol_changes
TRANSFERS = tables.share_transfers

#: (strategy id or None, symbol, account id) -> realized P&L
Realized = dict[tuple[int | None, str, int], Decimal]


@dataclass(frozen=True)
class Share:
    """The part of an untagged closing trade's realized P&L that belongs to one strategy."""

    trade_id: int
    account_id: int
    symbol: str
    strategy_id: int | None
    realized: Decimal


def strategy_symbols(conn: Connection) -> list[str]:
    """The symbols whose realized P&L may belong to a strategy: those with a trade that names
    one, and the later names of those symbols (their lots carry over, docs/ledger.md §12.6)."""
    if conn.execute(select(TRADES.c.id).where(TRADES.c.strategy_id.is_not(None)).limit(1)).first() is None:
        return []  # no strategy anywhere (the strategy_id index answers at once)
    # Every traded symbol has positions; each is asked for one tagged trade through the
    # (symbol, executed_at) index, which stops at the first, rather than grouping the trades.
    held = select(POSITIONS.c.symbol).distinct().subquery()
    tagged = exists().where(TRADES.c.symbol == held.c.symbol, TRADES.c.strategy_id.is_not(None))
    symbols = set(conn.execute(select(held.c.symbol).where(tagged)).scalars())
    renames = {old: new for old, new in conn.execute(select(CHANGES.c.old_symbol, CHANGES.c.new_symbol))}
    pending = list(symbols)
    while pending:
        new = renames.get(pending.pop())
        if new is not None and new not in symbols:
            symbols.add(new)
            pending.append(new)
    return sorted(symbols)


def _untagged_closing_symbols(conn: Connection, symbols: list[str]) -> list[str]:
    query = (
        select(TRADES.c.symbol).distinct()
        .where(TRADES.c.strategy_id.is_(None), TRADES.c.realized_pnl.is_not(None), TRADES.c.symbol.in_(symbols))
    )
    return sorted(conn.execute(query).scalars())


def untagged_shares(conn: Connection, method: str, symbols: list[str] | None = None) -> list[Share]:
    """How the realized P&L of each closing trade without a strategy splits over the strategies
    of the lots it closed (of `symbols`, by default every symbol where a strategy appears).

    Where every lot of (account, symbol) was opened under one strategy (or none), the answer
    needs no lots: all of an untagged close goes there. That holds when the trades that open
    lots (those that closed nothing) share one strategy, no run was opened by a closing trade
    (a flip, whose rest opens a lot under the closing trade's strategy) and no lot came in
    from another account or an old name. Other symbols are re-booked in memory.
    """
    candidates = strategy_symbols(conn) if symbols is None else symbols
    untagged = _untagged_closing_symbols(conn, candidates) if candidates else []
    if not untagged:
        return []
    openers: dict[tuple[int, str], set[int | None]] = {}
    for account_id, symbol, strategy_id in conn.execute(
        select(TRADES.c.account_id, TRADES.c.symbol, TRADES.c.strategy_id).distinct()
        .where(TRADES.c.realized_pnl.is_(None), TRADES.c.symbol.in_(untagged))
    ):
        openers.setdefault((account_id, symbol), set()).add(strategy_id)
    closers = conn.execute(
        select(TRADES.c.id, TRADES.c.account_id, TRADES.c.symbol, TRADES.c.realized_pnl)
        .where(TRADES.c.strategy_id.is_(None), TRADES.c.realized_pnl.is_not(None), TRADES.c.symbol.in_(untagged))
    ).all()
    replayed = _moved_or_flipped(conn, untagged)
    replayed |= {symbol for _id, account_id, symbol, _r in closers if len(openers.get((account_id, symbol), ())) != 1}
    shares = [Share(trade_id, account_id, symbol, next(iter(openers[(account_id, symbol)])), realized)
              for trade_id, account_id, symbol, realized in closers if symbol not in replayed]
    for symbol in sorted(replayed):
        shares += _replayed_shares(conn, method, symbol)
    return shares


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
                              TRADES.c.realized_pnl.is_not(None)))
    )
    return (moved & set(symbols)) | set(conn.execute(flip).scalars())


def _replayed_shares(conn: Connection, method: str, symbol: str) -> list[Share]:
    """`untagged_shares` of one symbol, from its closing trades' closed portions (re-booked in memory)."""
    from stocksbot.storage.booking import BookingStore  # re-booking code, only when needed

    bookings = BookingStore(conn, method).bookings(symbol)
    strategy_of: dict[object, int | None] = {trade_id: strategy_id for trade_id, strategy_id, _a, _b in bookings}
    parts: list[tuple[int, int, object, Decimal]] = [
        (trade_id, account_id, portion.trade_id, portion.realized)
        for trade_id, strategy_id, account_id, booking in bookings
        if strategy_id is None and booking.realized_pnl is not None
        for portion in booking.closed
    ]
    # Lots that came over from a symbol's old name were opened by trades of that name.
    missing = {lot_trade for _t, _a, lot_trade, _r in parts if lot_trade not in strategy_of}
    if missing:
        query = select(TRADES.c.id, TRADES.c.strategy_id).where(TRADES.c.id.in_(missing))
        strategy_of.update({trade_id: strategy_id for trade_id, strategy_id in conn.execute(query)})
    summed: dict[tuple[int, int, int | None], Decimal] = {}
    for trade_id, account_id, lot_trade, realized in parts:
        key = (trade_id, account_id, strategy_of.get(lot_trade))
        summed[key] = add(summed.get(key, ZERO), realized)
    return [Share(trade_id, account_id, symbol, strategy_id, realized)
            for (trade_id, account_id, strategy_id), realized in summed.items()]


def _credit(result: Realized, key: tuple[int | None, str, int], amount: Decimal) -> None:
    result[key] = add(result.get(key, ZERO), amount)


def realized_by_rule(conn: Connection, method: str, symbols: list[str], account_id: int | None = None) -> Realized:
    """The realized P&L of `symbols` per (strategy, symbol, account) by the attribution rule."""
    result: Realized = {}
    if not symbols:
        return result
    query = (
        select(TRADES.c.strategy_id, TRADES.c.symbol, TRADES.c.account_id, exact_sum(TRADES.c.realized_pnl))
        .where(TRADES.c.strategy_id.is_not(None), TRADES.c.realized_pnl.is_not(None), TRADES.c.symbol.in_(symbols))
        .group_by(TRADES.c.strategy_id, TRADES.c.symbol, TRADES.c.account_id)
    )
    if account_id is not None:
        query = query.where(TRADES.c.account_id == account_id)
    for strategy_id, symbol, owner, realized in conn.execute(query):
        _credit(result, (strategy_id, symbol, owner), realized)
    for share in untagged_shares(conn, method, symbols):
        if account_id is None or share.account_id == account_id:
            _credit(result, (share.strategy_id, share.symbol, share.account_id), share.realized)
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


def corrections(conn: Connection, method: str, account_id: int | None = None) -> Realized:
    """What moves realized P&L from the positions' strategies (docs/ledger.md §5.5) to the
    strategies the rule gives it to: per (strategy, symbol, account), the rule's figure minus
    the positions'. Each symbol's corrections add up to zero.

    Only symbols where a strategy appears are read, and of those only the ones where the two
    can differ: where every opening trade of each account has one strategy X (or none), every
    closing trade has X or none, and no lot came from a flip, a transfer or an old name, every
    position and every closed lot belongs to X, so nothing moves.
    """
    symbols = _differing_symbols(conn, strategy_symbols(conn))
    result = realized_by_rule(conn, method, symbols, account_id)
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
        .where(TRADES.c.symbol.in_(symbols))
    )
    for account_id, symbol, strategy_id, opens in conn.execute(query):
        (opening if opens else closing).setdefault((account_id, symbol), set()).add(strategy_id)
    differing = _moved_or_flipped(conn, symbols)
    for pair in opening.keys() | closing.keys():
        openers = opening.get(pair, set())
        if len(openers) != 1 or not closing.get(pair, set()) <= openers | {None}:
            differing.add(pair[1])
    return sorted(differing)
