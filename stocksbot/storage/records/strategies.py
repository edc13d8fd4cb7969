"""A strategy with its metrics (docs/ledger.md §8.2, §8.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from stocksbot.storage.records import Record


@dataclass(frozen=True)
class StrategyRecord(Record):
    name: str
    description: str | None
    params: dict[str, Any]
    enabled: bool
    trades: int
    closing_trades: int
    win_rate: Decimal | None
    realized_pnl: Decimal
    costs: Decimal
    open_positions: int
    created_at: datetime
    updated_at: datetime
