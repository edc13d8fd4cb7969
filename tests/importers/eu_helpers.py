"""Shared by the broker-format tests: fixture paths, parsing a file or a text, other brokers' headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stocksbot.importers.entries import Item, ParseOptions

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "brokers"

#: Header lines of other formats (layouts only, no data): a detector must not claim them.
OTHER_HEADERS = {
    "stocksbot": "executed_at,side,symbol,quantity,price,commission,fees,strategy,external_id,note",
    "schwab": "Date,Action,Symbol,Description,Quantity,Price,Fees & Comm,Amount",
    "ibkr": '"Buy/Sell","TradeDate","ISIN","Quantity","TradePrice","TradeMoney","CurrencyPrimary","IBCommission"',
    "ibkr-activity": "Transaction History,Header,Date,Account,Description,Transaction Type,Symbol,Quantity,Price,"
                     "Gross Amount ,Commission,Net Amount",
    "fidelity": "Run Date,Account,Action,Symbol,Security Description,Security Type,Quantity,Price ($),"
                "Commission ($),Fees ($),Accrued Interest ($),Amount ($),Settlement Date",
    "raw": "date,action,symbol,quantity,price,fees,currency",
}


def fixture(format_name: str, name: str) -> str:
    """A fixture file's text, line endings kept (a CRLF file stays CRLF)."""
    return (FIXTURES / format_name / name).read_bytes().decode("utf-8")


def parse(fmt: Any, text: str, **options: Any) -> list[Item]:
    """All the items of `text` (split into lines the way a file is read) with these options."""
    return list(fmt.parse(text.splitlines(keepends=True), ParseOptions(**options)))


def by_line(items: list[Item]) -> dict[int, list[Item]]:
    out: dict[int, list[Item]] = {}
    for item in items:
        out.setdefault(item.line, []).append(item)
    return out
