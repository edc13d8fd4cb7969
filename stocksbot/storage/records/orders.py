"""An order and its fills so far (docs/ledger.md §7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from stocksbot.storage.records import Record


@dataclass(frozen=True)
class OrderRecord(Record):
    id: int
    side: str
    symbol: str
    type: str
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    tif: str
    status: str
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    strategy: str | None
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    account: str
