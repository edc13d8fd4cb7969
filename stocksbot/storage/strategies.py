"""The strategy operations of StorageService; metrics come from the ledger, never by hand."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from stocksbot.errors import StocksbotError
from stocksbot.ledger import add, divide
from stocksbot.storage.models import Strategy
from stocksbot.storage.records import StrategyRecord
from stocksbot.storage.repositories import Repositories

ZERO = Decimal(0)


def parse_params(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE that is valid JSON keeps its type (12, true, [1,2]), else text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise StocksbotError(f"parameter {pair!r} must look like KEY=VALUE, e.g. lookback=20")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params[key.strip()] = value
    return params


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise StocksbotError(f"strategy name must be 1 to 100 characters, got {name!r}")
    return name


class StrategyOperations:
    """Mixed into StorageService; relies on its `transaction()` and `reading()`."""

    transaction: Any
    reading: Any

    def add_strategy(
        self, name: str, *, description: str | None = None, params: dict[str, Any] | None = None
    ) -> StrategyRecord:
        _check_name(name)
        with self.transaction() as repos:
            if repos.strategies.get_by_name(name) is not None:
                raise StocksbotError(f"strategy {name!r} already exists")
            repos.strategies.add(Strategy(name=name, description=description, params=params or {}, enabled=True))
            return self._strategy_record(repos, name)

    def list_strategies(self) -> list[StrategyRecord]:
        with self.reading() as repos:
            metrics = repos.strategies.metrics()
            open_counts = repos.strategies.open_position_counts()
            return [_record(s, metrics.get(s.id), open_counts.get(s.id, 0)) for s in repos.strategies.list()]

    def get_strategy(self, name: str) -> StrategyRecord:
        with self.reading() as repos:
            return self._strategy_record(repos, name)

    def set_strategy_enabled(self, name: str, enabled: bool) -> StrategyRecord:
        with self.transaction() as repos:
            self._strategy_row(repos, name).enabled = enabled
            repos.session.flush()
            return self._strategy_record(repos, name)

    def set_strategy_params(self, name: str, params: dict[str, Any]) -> StrategyRecord:
        """Merge `params` into the strategy's parameters (a new dict, so the JSON column updates)."""
        if not params:
            raise StocksbotError("give at least one KEY=VALUE parameter")
        with self.transaction() as repos:
            strategy = self._strategy_row(repos, name)
            strategy.params = {**strategy.params, **params}
            repos.session.flush()
            return self._strategy_record(repos, name)

    def remove_strategy(self, name: str) -> None:
        """Delete a strategy that nothing refers to; one with trades can only be disabled."""
        with self.transaction() as repos:
            strategy = self._strategy_row(repos, name)
            usage = repos.strategies.usage(strategy.id)
            if usage["trades"]:
                raise StocksbotError(
                    f"strategy {name!r} has {_count(usage['trades'], 'trade')} and cannot be removed; "
                    f"disable it instead (`stocksbot strategy disable {name}`)"
                )
            if usage["orders"]:
                raise StocksbotError(f"strategy {name!r} has {_count(usage['orders'], 'order')} and cannot be removed")
            repos.strategies.delete(strategy)

    def _strategy_row(self, repos: Repositories, name: str) -> Strategy:
        strategy = repos.strategies.get_by_name(name)
        if strategy is None:
            raise StocksbotError(f"unknown strategy {name!r} (see `stocksbot strategy list`)")
        return strategy

    def _strategy_record(self, repos: Repositories, name: str) -> StrategyRecord:
        strategy = self._strategy_row(repos, name)
        metrics = repos.strategies.metrics().get(strategy.id)
        return _record(strategy, metrics, repos.strategies.open_position_counts().get(strategy.id, 0))


def _record(strategy: Strategy, metrics: tuple[Any, ...] | None, open_positions: int) -> StrategyRecord:
    trades, closing, won, realized, commissions, fees = metrics or (0, 0, 0, None, None, None)
    return StrategyRecord(
        name=strategy.name,
        description=strategy.description,
        params=dict(strategy.params or {}),
        enabled=bool(strategy.enabled),
        trades=int(trades),
        closing_trades=int(closing),
        win_rate=divide(Decimal(int(won)), Decimal(int(closing))) if closing else None,
        realized_pnl=realized if realized is not None else ZERO,
        costs=add(commissions or ZERO, fees or ZERO),
        open_positions=int(open_positions),
        created_at=strategy.created_at,
        updated_at=strategy.updated_at,
    )
