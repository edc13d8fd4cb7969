"""An account with its cash and holdings (docs/ledger.md §11)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from stocksbot.storage.records import Record


@dataclass(frozen=True)
class AccountRecord(Record):
    name: str
    currency: str
    margin: bool
    description: str | None
    status: str
    cash: dict[str, Decimal]
    market_value: Decimal | None
    open_positions: int
    created_at: datetime
