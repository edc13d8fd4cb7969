"""Plain, detached views of stored rows, as the service returns them to the CLI and to bots.

They carry names instead of foreign keys (`strategy` is the strategy's name) and hold only
Decimals, datetimes and plain values; `to_json()` gives the keys of the `--json` output,
which scripts rely on (keys may be added, never renamed).

One module per noun (`records/trades.py`, `records/positions.py`, ...), loaded on first use:
`from stocksbot.storage.records import TradeRecord` works as before, but loads only the module
that defines it. Each record is a frozen dataclass, and making one costs about a millisecond
at start-up (Python compiles its generated methods then), so a command that imported all of
them paid some 30 ms before its first query, more than its queries take on a small database
(BENCHMARKS.md, start-up; issue 10).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from stocksbot.lazy import attributes

if TYPE_CHECKING:
    from stocksbot.storage.records.accounts import AccountRecord
    from stocksbot.storage.records.actions import DividendRecord, SplitRecord, TransferRecord
    from stocksbot.storage.records.audit import AuditEntry
    from stocksbot.storage.records.cash import CashBalanceRecord, CashMovementRecord
    from stocksbot.storage.records.changes import RealizedChange
    from stocksbot.storage.records.orders import OrderRecord
    from stocksbot.storage.records.positions import LotRecord, PositionDetail, PositionEvent, PositionListing, PositionRecord
    from stocksbot.storage.records.prices import PriceRecord
    from stocksbot.storage.records.realized import RealizedReport, RealizedRow, RealizedTotal
    from stocksbot.storage.records.revisions import Loss, Revision
    from stocksbot.storage.records.strategies import StrategyRecord
    from stocksbot.storage.records.summary import AccountSummary, Summary, SummaryLine
    from stocksbot.storage.records.symbols import InstrumentRecord
    from stocksbot.storage.records.trades import TradeRecord, trade_record


class Record:
    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


#: Where each record (and `trade_record`) is defined, for the lazy loading below.
_HOMES = {
    "AuditEntry": "audit",
    "Revision": "revisions",
    "Loss": "revisions",
    "TradeRecord": "trades",
    "trade_record": "trades",
    "RealizedChange": "changes",
    "PositionRecord": "positions",
    "LotRecord": "positions",
    "PositionEvent": "positions",
    "PositionDetail": "positions",
    "PositionListing": "positions",
    "SummaryLine": "summary",
    "AccountSummary": "summary",
    "Summary": "summary",
    "OrderRecord": "orders",
    "StrategyRecord": "strategies",
    "PriceRecord": "prices",
    "InstrumentRecord": "symbols",
    "AccountRecord": "accounts",
    "CashMovementRecord": "cash",
    "CashBalanceRecord": "cash",
    "SplitRecord": "actions",
    "TransferRecord": "actions",
    "DividendRecord": "actions",
    "RealizedRow": "realized",
    "RealizedTotal": "realized",
    "RealizedReport": "realized",
}

__all__ = [
    "AccountRecord",
    "AuditEntry",
    "AccountSummary",
    "CashBalanceRecord",
    "CashMovementRecord",
    "DividendRecord",
    "InstrumentRecord",
    "LotRecord",
    "Loss",
    "OrderRecord",
    "PositionDetail",
    "PositionEvent",
    "PositionListing",
    "PositionRecord",
    "PriceRecord",
    "RealizedChange",
    "RealizedReport",
    "RealizedRow",
    "RealizedTotal",
    "Revision",
    "Record",
    "SplitRecord",
    "StrategyRecord",
    "Summary",
    "SummaryLine",
    "TradeRecord",
    "TransferRecord",
    "trade_record",
]

if not TYPE_CHECKING:  # type checkers see the imports above; at run time names load on first use
    __getattr__, __dir__ = attributes(__name__, _HOMES, globals())
