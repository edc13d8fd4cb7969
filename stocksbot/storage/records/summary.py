"""`summary`: the totals of the portfolio, per strategy and per account (docs/ledger.md §15.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from stocksbot.storage.records import Record


@dataclass(frozen=True)
class SummaryLine(Record):
    """Totals for the whole portfolio or one strategy (`strategy` None: no strategy).

    In the reporting currency; a figure that needs a missing rate is None (docs/ledger.md §15.5).
    """

    strategy: str | None
    open_positions: int
    cost: Decimal | None
    market_value: Decimal | None
    realized_pnl: Decimal | None
    unrealized_pnl: Decimal | None
    costs: Decimal | None


@dataclass(frozen=True)
class AccountSummary(Record):
    """One account in `summary`: its cash per currency, and its figures in the reporting currency."""

    account: str
    currency: str
    open_positions: int
    cash: dict[str, Decimal]
    cash_value: Decimal | None
    market_value: Decimal | None
    income: Decimal | None
    total_value: Decimal | None


@dataclass(frozen=True)
class Summary(Record):
    total: SummaryLine
    by_strategy: list[SummaryLine]
    unpriced_symbols: list[str]
    # docs/ledger.md §15.5: cash, income and total value, overall and per account.
    reporting_currency: str | None = None
    cash: dict[str, Decimal] = field(default_factory=dict)
    cash_value: Decimal | None = None
    income: Decimal | None = None
    total_value: Decimal | None = None
    by_account: list[AccountSummary] = field(default_factory=list)
    missing_rates: list[str] = field(default_factory=list)
    # `summary --as-of` (docs/ledger.md §17): the moment, and the symbols valued at a trade price.
    as_of: datetime | None = None
    trade_priced: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.total.to_json()
        del data["strategy"]
        data["by_strategy"] = [line.to_json() for line in self.by_strategy]
        data["unpriced_symbols"] = self.unpriced_symbols
        data.update(
            reporting_currency=self.reporting_currency, cash=dict(self.cash), cash_value=self.cash_value,
            income=self.income, total_value=self.total_value,
            by_account=[account.to_json() for account in self.by_account], missing_rates=self.missing_rates,
        )
        if self.as_of is not None:
            data.update(as_of=self.as_of, trade_priced=self.trade_priced)
        return data
