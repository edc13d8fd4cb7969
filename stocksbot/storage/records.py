"""Plain, detached views of stored rows, as the service returns them to the CLI and to bots.

They carry names instead of foreign keys (`strategy` is the strategy's name) and hold only
Decimals, datetimes and plain values; `to_json()` gives the keys of the `--json` output,
which scripts rely on (keys may be added, never renamed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any


class Record:
    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class TradeRecord(Record):
    id: int
    side: str
    symbol: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    fees: Decimal
    executed_at: datetime
    realized_pnl: Decimal | None
    order_id: int | None
    strategy: str | None
    external_id: str | None
    note: str | None
    account: str
    currency: str
    # A voided trade is kept but counts nowhere (docs/ledger.md §19); None for a live trade.
    voided_at: datetime | None = None
    void_reason: str | None = None
    # What recording it re-booked (a back-dated trade): realized P&L changes per symbol. Not a
    # field of the trade, so `to_json()` leaves it out; `trade add --json` shows it.
    rebooked: tuple["RealizedChange", ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rebooked"}


@dataclass(frozen=True)
class RealizedChange(Record):
    """A symbol's realized P&L (all accounts) before and after a re-booking (docs/ledger.md §19.4)."""

    symbol: str
    before: Decimal
    after: Decimal


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


@dataclass(frozen=True)
class InstrumentRecord(Record):
    """What is known about a symbol: the currency its trades settle in, its name and ISIN."""

    symbol: str
    currency: str
    name: str | None
    isin: str | None


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


def trade_record(trade: Any, names: dict[int, str], accounts: dict[int, str]) -> TradeRecord:
    """A trades row as users see it (`names`: strategy id -> name, `accounts`: account id -> name)."""
    return TradeRecord(
        id=trade.id, side=trade.side, symbol=trade.symbol, quantity=trade.quantity, price=trade.price,
        commission=trade.commission, fees=trade.fees, executed_at=trade.executed_at,
        realized_pnl=trade.realized_pnl, order_id=trade.order_id,
        strategy=names.get(trade.strategy_id) if trade.strategy_id else None,
        external_id=trade.external_id, note=trade.note, account=accounts[trade.account_id], currency=trade.currency,
        voided_at=trade.voided_at, void_reason=trade.void_reason,
    )


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
