"""A trade as users see it, and `trade_record`, which makes one from a trades row."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from stocksbot.storage.records import Record

if TYPE_CHECKING:
    from stocksbot.storage.records.changes import RealizedChange


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
