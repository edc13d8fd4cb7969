"""What a re-booking changed: each symbol's realized P&L before and after (docs/ledger.md §19.4).

A back-dated trade, a void, an amend and a cost-basis switch re-book symbols, and with them
the realized P&L already stored on later trades. The command says so: the caller takes
`realized_by_symbol` before and after the re-booking, and `changes` gives the symbols whose
total moved. A symbol's realized P&L is the sum over its live trades (every account), read
with one grouped exact sum.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal

from sqlalchemy import Connection, select

from stocksbot.ledger.numbers import ZERO
from stocksbot.storage import tables
from stocksbot.storage.records import RealizedChange
from stocksbot.storage.types import exact_sum

TRADES = tables.trades
CHANGES = tables.symbol_changes

_REALIZED = (
    select(TRADES.c.symbol, exact_sum(TRADES.c.realized_pnl))
    .where(tables.LIVE_TRADE, TRADES.c.realized_pnl.is_not(None))
    .group_by(TRADES.c.symbol)
)


def symbols_rebooked_with(conn: Connection, symbol: str) -> list[str]:
    """`symbol` and the names it was later renamed to: re-booking a symbol re-books those too
    (`BookingStore.replay`, docs/ledger.md §12.6)."""
    renamed = {old: new for old, new in conn.execute(select(CHANGES.c.old_symbol, CHANGES.c.new_symbol))}
    chain = [symbol]
    while chain[-1] in renamed and renamed[chain[-1]] not in chain:
        chain.append(renamed[chain[-1]])
    return chain


def realized_by_symbol(conn: Connection, symbols: Collection[str] | None = None) -> dict[str, Decimal]:
    """Each symbol's realized P&L, the sum over its live trades (of `symbols` only, when given);
    a symbol whose trades closed nothing is left out (its realized P&L is 0)."""
    query = _REALIZED if symbols is None else _REALIZED.where(TRADES.c.symbol.in_(list(symbols)))
    return {symbol: realized for symbol, realized in conn.execute(query)}


def changes(before: Mapping[str, Decimal], after: Mapping[str, Decimal]) -> tuple[RealizedChange, ...]:
    """The symbols whose realized P&L differs between the two readings, by symbol."""
    result = []
    for symbol in sorted(set(before) | set(after)):
        old, new = before.get(symbol, ZERO), after.get(symbol, ZERO)
        if old != new:
            result.append(RealizedChange(symbol=symbol, before=old, after=new))
    return tuple(result)
