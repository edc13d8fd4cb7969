"""What happens to holdings besides trades: splits, share transfers, dividends (docs/ledger.md §12-§14)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from stocksbot.storage.records import Record


@dataclass(frozen=True)
class SplitRecord(Record):
    id: int
    symbol: str
    numerator: int
    denominator: int
    at: datetime
    cash_in_lieu: Decimal | None

    @property
    def ratio(self) -> str:
        return f"{self.numerator}:{self.denominator}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


@dataclass(frozen=True)
class TransferRecord(Record):
    id: int
    symbol: str
    quantity: Decimal
    from_account: str
    to_account: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class DividendRecord(Record):
    """A dividend (docs/ledger.md §14); `net` is what it paid into cash: gross - tax - fee."""

    id: int
    account: str
    symbol: str
    gross: Decimal
    tax: Decimal
    fee: Decimal
    net: Decimal
    currency: str
    ex_date: datetime
    paid_at: datetime
    per_share: Decimal | None
    reinvest_trade_id: int | None
    note: str | None
    external_id: str | None
