"""`trade import`: a CSV of trades into the ledger, all or nothing, in one streaming pass.

Rows are validated and inserted in batches inside one transaction while the file is read;
then every symbol the file touched is re-booked from its trades in time order with the
same ledger rules as `trade add`. Any bad row, or any trade the ledger refuses, rolls the
whole transaction back and every problem is reported as `line N: reason`. Rows whose
external_id is already stored are skipped and counted, so re-importing a file is safe.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import insert, select

from stocksbot.csvfiles import RowErrors, TradeRow, read_trades
from stocksbot.errors import StocksbotError
from stocksbot.storage.booking import BookingError, SymbolBooker, lock_ledger
from stocksbot.storage.models import Strategy, Trade
from stocksbot.storage.repositories import Repositories

BATCH = 2000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportResult:
    imported: int
    skipped: int
    errors: int
    dry_run: bool = False
    created_strategies: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped, "errors": self.errors, "dry_run": self.dry_run,
                "created_strategies": list(self.created_strategies)}


def _line_number(error: str) -> int:
    """The N of `line N: reason` (errors of a symbol as a whole sort last)."""
    head = error.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 1 << 62


class TradeIds:
    """An ascending array of trade ids with fast membership, for "is this trade new?"."""

    def __init__(self) -> None:
        self.ids = array("q")

    def extend(self, ids: list[int]) -> None:
        if ids and self.ids and ids[0] <= self.ids[-1]:
            raise RuntimeError("trade ids of one import must ascend")
        self.ids.extend(ids)

    def index(self, trade_id: int) -> int | None:
        position = bisect_left(self.ids, trade_id)
        return position if position < len(self.ids) and self.ids[position] == trade_id else None

    def __contains__(self, trade_id: object) -> bool:
        return isinstance(trade_id, int) and self.index(trade_id) is not None


class _DryRun(Exception):
    """Raised to roll back a successful dry run."""


def _batches(rows: Iterator[TradeRow | str], size: int) -> Iterator[list[TradeRow | str]]:
    batch: list[TradeRow | str] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class TradeImport:
    """One import run over an open transaction."""

    def __init__(self, repos: Repositories, method: str, allow_short: bool) -> None:
        self.repos = repos
        self.method = method
        self.allow_short = allow_short
        self.errors: list[str] = []
        self.skipped = 0
        self.imported = 0
        self.symbols: set[str] = set()
        self.seen_external_ids: dict[str, int] = {}
        # The new trades' ids (ascending, as inserted) and their lines, side by side: 16 bytes a
        # trade instead of a dict entry, so a million-row import stays small.
        self.new_ids = TradeIds()
        self.lines = array("q")
        self.strategies = {name: id_ for id_, name in repos.session.execute(select(Strategy.id, Strategy.name))}
        self.created_strategies: list[str] = []

    def run(self, rows: Iterator[TradeRow | str], progress: Progress | None) -> None:
        for batch in _batches(rows, BATCH):
            self._insert(batch)
            if progress:
                progress(len(batch))
        self._fail_on_errors()
        self._book()
        self._fail_on_errors()

    def _fail_on_errors(self) -> None:
        if self.errors:
            raise RowErrors(sorted(self.errors, key=_line_number))

    def _insert(self, batch: list[TradeRow | str]) -> None:
        good = [row for row in batch if isinstance(row, TradeRow)]
        self.errors.extend(row for row in batch if isinstance(row, str))
        stored = self._stored_external_ids([r.external_id for r in good if r.external_id is not None])
        values = []
        for row in good:
            if row.external_id is not None:
                if row.external_id in stored:
                    self.skipped += 1
                    continue
                first = self.seen_external_ids.setdefault(row.external_id, row.line)
                if first != row.line:
                    self.errors.append(f"line {row.line}: external_id {row.external_id!r} repeats line {first}")
                    continue
            strategy_id = self._strategy_id(row.strategy) if row.strategy is not None else None
            values.append({
                "external_id": row.external_id, "side": row.side, "symbol": row.symbol, "quantity": row.quantity,
                "price": row.price, "commission": row.commission, "fees": row.fees, "executed_at": row.executed_at,
                "strategy_id": strategy_id, "note": row.note,
            })
            self.lines.append(row.line)
            self.symbols.add(row.symbol)
        if not values or self.errors:
            return  # the import will fail: stop writing, keep reading to report every bad row
        ids = self.repos.session.scalars(
            insert(Trade).returning(Trade.id, sort_by_parameter_order=True), values
        ).all()
        self.new_ids.extend(ids)
        self.imported += len(values)

    def _strategy_id(self, name: str) -> int:
        """The id of a strategy named in the file, created (enabled, no parameters) if new.

        Creating it keeps export -> import into a new database working; the result names the
        strategies an import created so a typo does not go unnoticed.
        """
        strategy_id = self.strategies.get(name)
        if strategy_id is None:
            strategy = Strategy(name=name, params={}, enabled=True)
            self.repos.session.add(strategy)
            self.repos.session.flush()
            strategy_id = self.strategies[name] = strategy.id
            self.created_strategies.append(name)
        return strategy_id

    def _stored_external_ids(self, external_ids: list[str]) -> set[str]:
        if not external_ids:
            return set()
        query = select(Trade.external_id).where(Trade.external_id.in_(external_ids))
        return set(self.repos.session.scalars(query)) - self.seen_external_ids.keys()

    def _book(self) -> None:
        for symbol in sorted(self.symbols):
            try:
                SymbolBooker(self.repos, symbol, self.method).rebuild(
                    new_trade_ids=self.new_ids, allow_short=self.allow_short
                )
            except BookingError as exc:
                index = self.new_ids.index(exc.trade_id)
                self.errors.append(f"line {self.lines[index]}: {exc}" if index is not None else f"{symbol}: {exc}")


class ImportOperations:
    """Mixed into StorageService; relies on `transaction()` and `setting()`."""

    transaction: Any
    setting: Any

    def import_trades(
        self,
        path: str | Path,
        *,
        dry_run: bool = False,
        allow_short: bool | None = None,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Import a trade CSV (see the module docstring); `dry_run` checks everything, writes nothing.

        `allow_short=None` follows the `trading.allow_short` setting, as `trade add` does.
        """
        path = Path(path)
        try:
            handle = path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise StocksbotError(f"cannot read {path}: {exc.strerror}") from None
        run: TradeImport | None = None
        try:
            with handle, self.transaction() as repos:
                lock_ledger(repos)
                if allow_short is None:
                    allow_short = bool(self.setting("trading.allow_short"))
                run = TradeImport(repos, str(self.setting("accounting.cost_basis")), allow_short)
                run.run(read_trades(handle, str(path)), progress)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        except UnicodeDecodeError:
            raise StocksbotError(f"cannot read {path}: not UTF-8 text") from None
        assert run is not None
        return ImportResult(imported=run.imported, skipped=run.skipped, errors=0, dry_run=dry_run,
                            created_strategies=tuple(run.created_strategies))
