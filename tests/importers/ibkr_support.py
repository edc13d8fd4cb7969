"""What the IBKR parser tests share: reading a fixture, the other formats' headers, local days."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from stocksbot.importers.entries import Item, ParseOptions
from stocksbot.ledger.inputs import parse_time

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "brokers"

#: Header lines of other formats, as their exports write them (and stocksbot's own trade CSV).
OTHER_HEADERS = {
    "stocksbot": "executed_at,side,symbol,quantity,price,commission,fees,strategy,external_id,note\n",
    "schwab": '"Date","Action","Symbol","Description","Quantity","Price","Fees & Comm","Amount"\n',
    "schwab-title": '"Transactions  for account XXXX-1234 as of 01/02/2025"\n"Date","Action","Symbol","Description",'
                    '"Price","Quantity","Fees & Comm","Amount"\n',
    "degiro": "Datum,Tijd,Valutadatum,Product,ISIN,Omschrijving,FX,Mutatie,,Saldo,,Order Id\n",
    "degiro-en": "Date,Time,Value date,Product,ISIN,Description,FX,Change,,Balance,,Order Id\n",
    "trading212": "Action,Time,ISIN,Ticker,Name,No. of shares,Price / share,Currency (Price / share),Exchange rate,"
                  "Result,Currency (Result),Total,Currency (Total),Withholding tax,Currency (Withholding tax),Notes,ID\n",
    "revolut": "Date,Ticker,Type,Quantity,Price per share,Total Amount,Currency,FX Rate\n",
    "fidelity": "Run Date,Account,Action,Symbol,Description,Type,Quantity,Price ($),Commission ($),Fees ($),"
                "Accrued Interest ($),Amount ($),Settlement Date\n",
    "raw": "date,action,symbol,quantity,price,fees,currency\n",
}

OPTIONS = ParseOptions()


def fixture(format_dir: str, name: str) -> str:
    return (FIXTURES / format_dir / name).read_text(encoding="utf-8")


def other_fixture_heads(mine: Iterable[str]) -> list[tuple[str, str]]:
    """The first 4 KiB of every fixture file of the other formats (in a folder of their own or not)."""
    heads = []
    for path in sorted(FIXTURES.rglob("*")):
        relative = path.relative_to(FIXTURES)
        owner = relative.parts[0] if len(relative.parts) > 1 else path.stem
        if owner not in mine and path.is_file():
            heads.append((relative.as_posix(), path.read_text(encoding="utf-8", errors="replace")[:4096]))
    return heads


def parse(format_: object, text: str, options: ParseOptions = OPTIONS) -> list[Item]:
    """All items of a text, split into lines with their ends (as a file gives them)."""
    return list(format_.parse(text.splitlines(keepends=True), options))  # type: ignore[attr-defined]


def day(text: str) -> datetime:
    """Local midnight of an ISO day, in UTC: what a bare broker date means."""
    return parse_time(text)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)  # type: ignore[misc]


def by_line(items: list[Item]) -> dict[int, list[Item]]:
    found: dict[int, list[Item]] = {}
    for item in items:
        found.setdefault(item.line, []).append(item)
    return found
