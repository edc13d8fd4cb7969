"""`report realized`: closed lot portions and their totals (docs/ledger.md §17.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from stocksbot.storage.records import Record


@dataclass
class RealizedRow(Record):
    """One closed lot portion of `report realized` (docs/ledger.md §17), in its instrument's currency.

    `side` is the side of the lot (long: bought then sold; short: sold short then covered);
    `acquired_at` is when the lot was opened (for a short, the short sale) and `sold_at` when
    the portion was closed (for a short, the covering buy). Not frozen, unlike the other
    records: a year's report builds over 100,000 of them, and a frozen dataclass sets each
    field through object.__setattr__.
    """

    account: str
    symbol: str
    acquired_at: datetime
    sold_at: datetime
    quantity: Decimal
    proceeds: Decimal
    cost: Decimal
    gain: Decimal
    days_held: int
    term: str
    side: str
    currency: str
    opening_trade_id: int | None
    closing_trade_id: int | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)  # flat values: asdict's deep copy is not needed


@dataclass(frozen=True)
class RealizedTotal(Record):
    """The portions of one term (and one year; `year` None: every year) in one currency."""

    year: int | None
    term: str
    currency: str
    portions: int
    proceeds: Decimal
    cost: Decimal
    gain: Decimal


@dataclass(frozen=True)
class RealizedReport(Record):
    """`report realized`: the portions sold, and their totals per term (per year too without a year)."""

    rows: list[RealizedRow]
    totals: list[RealizedTotal]
    year: int | None = None
    account: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rows": [row.to_json() for row in self.rows], "totals": [total.to_json() for total in self.totals],
                "year": self.year, "account": self.account}
