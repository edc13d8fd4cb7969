"""A price bar (docs/ledger.md §6.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from stocksbot.storage.records import Record


@dataclass(frozen=True)
class PriceRecord(Record):
    symbol: str
    interval: str
    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None
