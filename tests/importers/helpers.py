"""A format made of given items, for testing the booking of every kind of entry."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from stocksbot.importers.entries import Item, ParseOptions
from stocksbot.services import broker_imports


class ListFormat:
    name = "list"
    title = "test list"

    def __init__(self, items: list[Item]) -> None:
        self.items = items

    def detect(self, head: str) -> bool:
        return False

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        return iter(self.items)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def book(storage: Any, items: list[Item], **options: Any) -> broker_imports.StatementResult:
    return broker_imports.import_statement(storage.uow, ListFormat(items), [], **options)
