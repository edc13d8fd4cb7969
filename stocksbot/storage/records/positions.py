"""Positions as `position list` and `position show` give them: the run, its lots, its history (docs/ledger.md §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from stocksbot.storage.records import Record

if TYPE_CHECKING:
    from stocksbot.storage.records.trades import TradeRecord


@dataclass(frozen=True)
class PositionRecord(Record):
    id: int
    symbol: str
    side: str
    quantity: Decimal
    avg_entry_price: Decimal | None
    realized_pnl: Decimal
    market_price: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    status: str
    opened_at: datetime
    closed_at: datetime | None
    strategy: str | None
    open_cost: Decimal
    account: str
    currency: str | None
    # In the reporting currency at the latest rate (docs/ledger.md §15.4); None when unknown.
    reporting_currency: str | None = None
    converted_market_value: Decimal | None = None
    converted_unrealized_pnl: Decimal | None = None


@dataclass(frozen=True)
class LotRecord(Record):
    trade_id: int | None
    quantity: Decimal
    cost: Decimal
    unit_cost: Decimal
    opened_at: datetime


@dataclass(frozen=True)
class PositionEvent(Record):
    """A split or a share transfer in a position's history (`kind`: split, transfer_in, transfer_out)."""

    kind: str
    at: datetime
    detail: str


@dataclass(frozen=True)
class PositionDetail(Record):
    position: PositionRecord
    lots: list[LotRecord] = field(default_factory=list)
    trades: list[TradeRecord] = field(default_factory=list)
    events: list[PositionEvent] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.position.to_json()
        data["lots"] = [lot.to_json() for lot in self.lots]
        data["trades"] = [trade.to_json() for trade in self.trades]
        data["events"] = [event.to_json() for event in self.events]
        return data


@dataclass(frozen=True)
class PositionListing(Record):
    """`position list`: the positions, and their converted totals (docs/ledger.md §15.4).

    `converted` says whether a table should show the converted figures: more than one
    currency is involved (the positions' and the reporting currency), or the
    `reporting.currency` setting is set.
    """

    positions: list[PositionRecord]
    reporting_currency: str
    converted: bool
    converted_market_value: Decimal | None
    converted_unrealized_pnl: Decimal | None
    missing_rates: list[str]
    # `position list --as-of` (docs/ledger.md §17): the moment, and the symbols valued at a trade price.
    as_of: datetime | None = None
    trade_priced: list[str] = field(default_factory=list)
