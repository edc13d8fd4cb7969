"""StorageService: the Python API's facade over the unit of work and the services.

`open_storage()` returns one. Every method is a service function of `stocksbot/services/`
bound to this service's unit of work, so a bot and the command line run the same code.
`transaction()` groups several operations into one commit:

    with storage.transaction():
        order = storage.add_order(...)
        storage.change_order_status(order.id, "submitted")

An operation inside it runs in a SAVEPOINT: if it fails, its own writes are undone and the
bot decides whether the rest commits (leaving the block by the exception rolls all back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine

from stocksbot.services import (
    accounts,
    admin,
    cash,
    config,
    corrections,
    dividends,
    exports,
    imports,
    orders,
    performance,
    positions,
    prices,
    renames,
    splits,
    strategies,
    symbols,
    trades,
    transfers,
)
from stocksbot.services import audit as audit_trail
from stocksbot.services import realized as realized_gains
from stocksbot.storage.database import ConnectionSettings, DatabaseTarget, NewFile
from stocksbot.storage.unit_of_work import UnitOfWork, open_engine

P = ParamSpec("P")
R = TypeVar("R")


def _operation(function: Callable[Concatenate[UnitOfWork, P], R]) -> Callable[Concatenate["StorageService", P], R]:
    """A service function as a method: the service's unit of work is its first argument."""

    def method(self: "StorageService", /, *args: P.args, **kwargs: P.kwargs) -> R:
        return function(self.uow, *args, **kwargs)

    method.__name__ = function.__name__
    method.__doc__ = function.__doc__
    return method


class StorageService:
    """Every operation stocksbot performs on one database (see the module docstring)."""

    def __init__(
        self, engine: Engine, target: DatabaseTarget, settings: ConnectionSettings | None = None,
        upgraded: str | None = None, new_file: NewFile | None = None,
    ) -> None:
        self.uow = UnitOfWork(engine, target, settings, upgraded, new_file)

    @property
    def upgraded(self) -> str | None:
        """What opening the database did to its schema: the default file upgraded (with a
        backup beside it), or None."""
        return self.uow.upgraded

    @property
    def engine(self) -> Engine:
        return self.uow.engine

    @property
    def target(self) -> DatabaseTarget:
        return self.uow.target

    @property
    def settings(self) -> ConnectionSettings:
        return self.uow.settings

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: commits when the block ends, rolls back on any exception."""
        with self.uow.transaction() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection to read with; inside `transaction()` it is the transaction's own."""
        with self.uow.reading() as conn:
            yield conn

    # trades and positions
    record_trade = _operation(trades.record_trade)
    list_trades = _operation(trades.list_trades)
    add_position = _operation(trades.add_position)
    close_position = _operation(trades.close_position)
    show_position = _operation(positions.show_position)
    list_positions = _operation(positions.list_positions)
    summary = _operation(positions.summary)
    realized = _operation(realized_gains.realized)  # report realized (docs/ledger.md §17)
    rebuild_positions = _operation(trades.rebuild_positions)
    # corrections (docs/ledger.md §19)
    void_trade = _operation(corrections.void_trade)
    amend_trade = _operation(corrections.amend_trade)
    # orders
    add_order = _operation(orders.add_order)
    list_orders = _operation(orders.list_orders)
    get_order = _operation(orders.get_order)
    change_order_status = _operation(orders.change_order_status)
    fill_order = _operation(orders.fill_order)
    remove_order = _operation(orders.remove_order)
    # strategies
    add_strategy = _operation(strategies.add_strategy)
    list_strategies = _operation(strategies.list_strategies)
    get_strategy = _operation(strategies.get_strategy)
    set_strategy_enabled = _operation(strategies.set_strategy_enabled)
    set_strategy_params = _operation(strategies.set_strategy_params)
    remove_strategy = _operation(strategies.remove_strategy)
    # prices
    add_price = _operation(prices.add_price)
    import_prices = _operation(prices.import_prices)
    latest_prices = _operation(prices.latest_prices)
    price_history = _operation(prices.price_history)
    remove_prices = _operation(prices.remove_prices)
    # instruments and currencies
    set_symbol = _operation(symbols.set_symbol)
    list_symbols = _operation(symbols.list_symbols)
    get_symbol = _operation(symbols.get_symbol)
    position_listing = _operation(positions.position_listing)
    # settings
    config_set = _operation(config.config_set)
    config_get = _operation(config.config_get)
    config_list = _operation(config.config_list)
    config_unset = _operation(config.config_unset)
    setting = _operation(config.setting)
    # files in and out
    import_trades = _operation(imports.import_trades)
    export_trades = _operation(exports.export_trades)
    # accounts and splits
    add_account = _operation(accounts.add_account)
    list_accounts = _operation(accounts.list_accounts)
    get_account = _operation(accounts.get_account)
    rename_account = _operation(accounts.rename_account)
    close_account = _operation(accounts.close_account)
    record_split = _operation(splits.add_split)
    list_splits = _operation(splits.list_splits)
    remove_split = _operation(splits.remove_split)
    transfer_shares = _operation(transfers.transfer_shares)
    rename_symbol = _operation(renames.rename_symbol)
    list_transfers = _operation(transfers.list_transfers)
    # cash (docs/ledger.md §13)
    deposit = _operation(cash.deposit)
    withdraw = _operation(cash.withdraw)
    record_cash = _operation(cash.record_cash)
    transfer_cash = _operation(cash.transfer_cash)
    convert_cash = _operation(cash.convert_cash)
    cash_balances = _operation(cash.cash_balances)
    list_cash = _operation(cash.list_cash)
    # dividends (docs/ledger.md §14)
    record_dividend = _operation(dividends.record_dividend)
    list_dividends = _operation(dividends.list_dividends)
    remove_dividend = _operation(dividends.remove_dividend)
    # performance (docs/ledger.md §18)
    performance = _operation(performance.performance)
    # the database
    check = _operation(admin.check)
    audit = _operation(audit_trail.audit_entries)  # the audit log, newest first (docs/ledger.md §20)

    def close(self) -> None:
        self.uow.close()

    def __enter__(self) -> "StorageService":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def open_storage(
    url: str | None = None,
    *,
    settings: ConnectionSettings | None = None,
    check_schema: bool = True,
) -> StorageService:
    """Resolve the database, connect (with retries) and check the schema revision.

    `check_schema=False` is for the `db` commands, which inspect or migrate the schema itself.
    """
    return StorageService(*open_engine(url, settings, check_schema))
