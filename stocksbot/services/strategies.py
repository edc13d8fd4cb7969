"""Strategies: named, parameterised sources of trades; their metrics come from the ledger, never by hand.

The metrics (docs/ledger.md §8) are computed in SQL over the trades with exact sums; the
realized P&L of closing trades without a strategy goes to the strategies of the lots they
closed (the attribution rule, docs/ledger.md §8.3, kept by booking in `storage/strategy_totals.py`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from stocksbot.errors import StocksbotError
from stocksbot.ledger import add, divide
from stocksbot.ledger.inputs import parse_name, parse_note
from stocksbot.storage import audit, strategy_totals
from stocksbot.storage.records import StrategyRecord
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import STRATEGY_NAME_MAX, STRATEGY_PARAM_MAX

ZERO = Decimal(0)


def parse_params(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE that is valid JSON keeps its type (12, true, [1,2]), else text.

    KEY is a name (`_check_params`); VALUE is free: it is stored in JSON and shown as JSON,
    where a newline is written as `\\n` and breaks nothing (docs/ledger.md §1.7).
    """
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
    return _check_params(params)


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameter names are names (1-100 printable characters, docs/ledger.md §1.7): they are
    shown as table text and typed again in `strategy set`."""
    for key in params:
        parse_name(key, what="parameter name", limit=STRATEGY_PARAM_MAX)
    return params


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _check_name(name: str) -> str:
    """A new strategy's name: 1-100 printable characters (docs/ledger.md §1.7)."""
    return parse_name(name, what="strategy name", limit=STRATEGY_NAME_MAX)


def _row(repos: Repositories, name: str) -> Any:
    strategy = repos.strategies.by_name(name)
    if strategy is None:
        raise StocksbotError(f"unknown strategy {name!r} (see `stocksbot strategy list`)")
    return strategy


def _metrics(repos: Repositories, account_id: int | None = None) -> dict[int, tuple[Any, ...]]:
    """Per strategy id: trades, closing trades, winning closes, realized, commissions, fees.

    A closing trade without a strategy counts as a closing trade (and a win when its share is
    positive) of each strategy whose lots it closed, with its share of the realized P&L
    (docs/ledger.md §8.2-§8.3); its trade and costs count for no strategy. Booking keeps these
    figures per (strategy, symbol, account) (storage/strategy_totals.py): a read adds up a few
    rows, whatever the length of the history.
    """
    return {strategy_id: line.as_tuple()
            for strategy_id, line in strategy_totals.by_strategy(repos.conn, account_id).items()
            if strategy_id is not None}


def _record_of(repos: Repositories, name: str) -> StrategyRecord:
    strategy = _row(repos, name)
    metrics = _metrics(repos).get(strategy.id)
    return _record(strategy, metrics, repos.strategies.open_position_counts().get(strategy.id, 0))


def _record(strategy: Any, metrics: tuple[Any, ...] | None, open_positions: int) -> StrategyRecord:
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


def add_strategy(
    uow: UnitOfWork, name: str, *, description: str | None = None, params: dict[str, Any] | None = None
) -> StrategyRecord:
    _check_name(name)
    description = parse_note(description, field="description")
    params = _check_params(params) if params else params
    with uow.transaction() as conn:
        repos = Repositories(conn)
        if repos.strategies.by_name(name) is not None:
            raise StocksbotError(f"strategy {name!r} already exists")
        repos.strategies.add(name, description=description, params=params)
        audit.log(conn, uow.command, "strategy.add", name,
                  new={"name": name, "description": description, "params": params or {}, "enabled": True})
        return _record_of(repos, name)


def list_strategies(uow: UnitOfWork, *, account: str | None = None) -> list[StrategyRecord]:
    """Every strategy with its metrics from the ledger (from one account's trades and positions
    when `account` is given)."""
    with uow.reading() as conn:
        repos = Repositories(conn)
        account_id = repos.accounts.require(account).id if account is not None else None
        metrics = _metrics(repos, account_id)
        open_counts = repos.strategies.open_position_counts(account_id)
        return [_record(s, metrics.get(s.id), open_counts.get(s.id, 0)) for s in repos.strategies.list()]


def get_strategy(uow: UnitOfWork, name: str) -> StrategyRecord:
    with uow.reading() as conn:
        return _record_of(Repositories(conn), name)


def set_strategy_enabled(uow: UnitOfWork, name: str, enabled: bool) -> StrategyRecord:
    with uow.transaction() as conn:
        repos = Repositories(conn)
        strategy = _row(repos, name)
        repos.strategies.update(strategy.id, enabled=enabled)
        audit.log(conn, uow.command, "strategy.enable" if enabled else "strategy.disable", name,
                  old={"enabled": bool(strategy.enabled)}, new={"enabled": enabled})
        return _record_of(repos, name)


def set_strategy_params(uow: UnitOfWork, name: str, params: dict[str, Any]) -> StrategyRecord:
    """Merge `params` into the strategy's parameters."""
    if not params:
        raise StocksbotError("give at least one KEY=VALUE parameter")
    _check_params(params)
    with uow.transaction() as conn:
        repos = Repositories(conn)
        strategy = _row(repos, name)
        merged = {**(strategy.params or {}), **params}
        repos.strategies.update(strategy.id, params=merged)
        old, new = audit.changes(dict(strategy.params or {}), merged)
        audit.log(conn, uow.command, "strategy.set", name, old={"params": old}, new={"params": new})
        return _record_of(repos, name)


def remove_strategy(uow: UnitOfWork, name: str) -> None:
    """Delete a strategy that nothing refers to; one with trades can only be disabled."""
    with uow.transaction() as conn:
        repos = Repositories(conn)
        strategy = _row(repos, name)
        usage = repos.strategies.usage(strategy.id)
        if usage["trades"]:
            raise StocksbotError(
                f"strategy {name!r} has {_count(usage['trades'], 'trade')} and cannot be removed; "
                f"disable it instead (`stocksbot strategy disable {name}`)"
            )
        if usage["orders"]:
            raise StocksbotError(f"strategy {name!r} has {_count(usage['orders'], 'order')} and cannot be removed")
        repos.strategies.delete(strategy.id)
        audit.log(conn, uow.command, "strategy.remove", name, old={
            "name": name, "description": strategy.description, "params": dict(strategy.params or {}),
            "enabled": bool(strategy.enabled)})
