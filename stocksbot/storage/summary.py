"""The portfolio summary: cost, value, realized and unrealized P&L, costs paid, by strategy.

Open positions are valued at their latest prices. A total that includes a position with no
price has no market value or unrealized P&L (unknown, never zero); the symbols concerned
are listed so the user knows what to price. Realized P&L and costs are summed over the
positions (open and closed), which carry them per run, so the summary reads no trades and
costs the same at a thousand trades or a million. By strategy means by the strategy of the
position (the strategy of the trade that opened it).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from stocksbot.ledger import add
from stocksbot.storage.models import Position
from stocksbot.storage.records import PositionRecord, Summary, SummaryLine
from stocksbot.storage.types import exact_sum

ZERO = Decimal(0)


def _line(strategy: str | None, positions: list[PositionRecord], realized: Decimal, costs: Decimal) -> SummaryLine:
    priced = all(p.market_value is not None for p in positions)
    signed_cost = [p.open_cost if p.side == "long" else p.open_cost.copy_negate() for p in positions]
    return SummaryLine(
        strategy=strategy,
        open_positions=len(positions),
        cost=add(ZERO, *signed_cost),
        market_value=add(ZERO, *(p.market_value for p in positions)) if priced else None,  # type: ignore[misc]
        realized_pnl=realized,
        unrealized_pnl=add(ZERO, *(p.unrealized_pnl for p in positions)) if priced else None,  # type: ignore[misc]
        costs=costs,
    )


class SummaryOperations:
    """Mixed into StorageService; relies on `reading()` and `list_positions()`."""

    reading: Any
    list_positions: Any

    def summary(self) -> Summary:
        positions = self.list_positions(status="open")
        with self.reading() as repos:
            names = repos.strategies.names()
            query = select(
                Position.strategy_id, exact_sum(Position.realized_pnl), exact_sum(Position.costs)
            ).group_by(Position.strategy_id)
            per_strategy = {
                names.get(row[0]) if row[0] else None: (row[1] or ZERO, row[2] or ZERO)
                for row in repos.session.execute(query)
            }
        by_strategy_positions: dict[str | None, list[PositionRecord]] = defaultdict(list)
        for position in positions:
            by_strategy_positions[position.strategy].append(position)
        keys = sorted(set(per_strategy) | set(by_strategy_positions), key=lambda k: (k is None, k or ""))
        lines = [
            _line(key, by_strategy_positions.get(key, []), *per_strategy.get(key, (ZERO, ZERO)))
            for key in keys
        ]
        total = _line(
            None, positions,
            add(ZERO, *(line.realized_pnl for line in lines)),
            add(ZERO, *(line.costs for line in lines)),
        )
        unpriced = sorted({p.symbol for p in positions if p.market_value is None})
        return Summary(total=total, by_strategy=lines, unpriced_symbols=unpriced)
