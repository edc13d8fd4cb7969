"""stocksbot's own trade CSV (docs/csv-formats.md §2) as a broker format: `--from stocksbot`.

The rows are read by `csvfiles.read_trades`, with the same checks and messages as
`trade import`; each becomes a TradeEntry whose key is its `external_id` as written (not
prefixed), so a file imported by `trade import` and again by `stocksbot import` is
recognised. `--map` renames header columns to stocksbot's names before reading
(docs/brokers.md §9).
"""

from __future__ import annotations

import csv
import io
from itertools import chain
from typing import Iterable, Iterator

from stocksbot.csvfiles import TRADE_COLUMNS, TRADE_COLUMNS_REQUIRED, read_trades
from stocksbot.errors import StocksbotError
from stocksbot.importers.entries import ParseOptions, Problem, TradeEntry
from stocksbot.importers.reading import Columns

#: `--map` fields that other formats call by another name.
ALIASES = {"date": "executed_at", "id": "external_id"}


def _header(line: str) -> list[str]:
    return next(csv.reader([line]), [])


class NativeFormat:
    name = "stocksbot"
    title = "stocksbot trade CSV"

    def detect(self, head: str) -> bool:
        first = head.lstrip("\ufeff").split("\n", 1)[0]
        names = {column.strip().lower() for column in _header(first)}
        return set(TRADE_COLUMNS_REQUIRED) <= names and names <= set(TRADE_COLUMNS)

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[TradeEntry | Problem]:
        rows = iter(lines)
        first = next(rows, None)
        if first is None:
            return
        if options.columns:
            try:
                first = self._renamed(first, options)
            except StocksbotError as exc:
                yield Problem(1, str(exc))
                return
        try:
            for row in read_trades(chain([first], rows), "the file"):
                if isinstance(row, str):
                    head, _, message = row.partition(": ")
                    yield Problem(int(head[5:]), message)
                    continue
                yield TradeEntry(line=row.line, at=row.executed_at, side=row.side, symbol=row.symbol,
                                 quantity=row.quantity, price=row.price, commission=row.commission, fees=row.fees,
                                 currency=row.currency, account=row.account, key=row.external_id, note=row.note,
                                 strategy=row.strategy, allow_short=row.allow_short)
        except StocksbotError as exc:  # a header read_trades refuses
            yield Problem(1, str(exc).removeprefix("the file: "))

    @staticmethod
    def _renamed(first: str, options: ParseOptions) -> str:
        """The header line with each `--map` column renamed to its stocksbot name."""
        header = _header(first)
        columns = Columns(header, options.columns)
        renamed = list(columns.header)
        for field in columns.mapping:
            name = ALIASES.get(field, field)
            if name not in TRADE_COLUMNS:
                raise StocksbotError(f"--map {field}=...: stocksbot's format has no field {field!r} "
                                     f"(fields: {', '.join(TRADE_COLUMNS)})")
            position = columns.find(field)
            assert position is not None
            renamed[position] = name
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(renamed)
        return out.getvalue()


FORMAT = NativeFormat()
