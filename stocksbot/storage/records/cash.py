"""Cash movements and balances (docs/ledger.md §13)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from stocksbot.storage.records import Record


@dataclass(frozen=True)
class CashMovementRecord(Record):
    """One change of an account's cash (docs/ledger.md §13): a recorded movement, an implicit deposit,
    or a trade's settlement or a dividend as `cash list` derives them (`id` None, `trade_id` or
    `dividend_id` set)."""

    id: int | None
    account: str
    kind: str
    amount: Decimal
    currency: str
    at: datetime
    note: str | None
    trade_id: int | None
    dividend_id: int | None


@dataclass(frozen=True)
class CashBalanceRecord(Record):
    account: str
    currency: str
    balance: Decimal
