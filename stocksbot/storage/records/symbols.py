"""What is known about a symbol: its instrument (docs/ledger.md §15.1)."""

from __future__ import annotations

from dataclasses import dataclass

from stocksbot.storage.records import Record


@dataclass(frozen=True)
class InstrumentRecord(Record):
    """What is known about a symbol: the currency its trades settle in, its name and ISIN."""

    symbol: str
    currency: str
    name: str | None
    isin: str | None
