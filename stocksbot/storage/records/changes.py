"""What a re-booking changed: a symbol's realized P&L before and after (docs/ledger.md §19.4)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from stocksbot.storage.records import Record


@dataclass(frozen=True)
class RealizedChange(Record):
    """A symbol's realized P&L (all accounts) before and after a re-booking (docs/ledger.md §19.4)."""

    symbol: str
    before: Decimal
    after: Decimal
