"""Plain, detached views of stored rows, as the service returns them to the CLI and to bots.

They carry names instead of foreign keys (`strategy` is the strategy's name) and hold only
Decimals, datetimes and plain values; `to_json()` gives the keys of the `--json` output,
which scripts rely on (keys may be added, never renamed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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


@dataclass(frozen=True)
class LotRecord(Record):
    trade_id: int | None
    quantity: Decimal
    cost: Decimal
    unit_cost: Decimal
    opened_at: datetime


@dataclass(frozen=True)
class PositionDetail(Record):
    position: PositionRecord
    lots: list[LotRecord] = field(default_factory=list)
    trades: list[TradeRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.position.to_json()
        data["lots"] = [lot.to_json() for lot in self.lots]
        data["trades"] = [trade.to_json() for trade in self.trades]
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
class SummaryLine(Record):
    """Totals for the whole portfolio or one strategy (`strategy` None: no strategy)."""

    strategy: str | None
    open_positions: int
    cost: Decimal
    market_value: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal | None
    costs: Decimal


@dataclass(frozen=True)
class Summary(Record):
    total: SummaryLine
    by_strategy: list[SummaryLine]
    unpriced_symbols: list[str]

    def to_json(self) -> dict[str, Any]:
        data = self.total.to_json()
        del data["strategy"]
        data["by_strategy"] = [line.to_json() for line in self.by_strategy]
        data["unpriced_symbols"] = self.unpriced_symbols
        return data


def trade_record(trade: Any, names: dict[int, str], accounts: dict[int, str]) -> TradeRecord:
    """A trades row as users see it (`names`: strategy id -> name, `accounts`: account id -> name)."""
    return TradeRecord(
        id=trade.id, side=trade.side, symbol=trade.symbol, quantity=trade.quantity, price=trade.price,
        commission=trade.commission, fees=trade.fees, executed_at=trade.executed_at,
        realized_pnl=trade.realized_pnl, order_id=trade.order_id,
        strategy=names.get(trade.strategy_id) if trade.strategy_id else None,
        external_id=trade.external_id, note=trade.note, account=accounts[trade.account_id], currency=trade.currency,
    )


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
