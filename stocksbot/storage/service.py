"""StorageService: the unit of work. It owns sessions and transactions; nothing else commits.

Every public operation runs inside `transaction()` (or `reading()`); when the caller has
opened a transaction already, the operation joins it, so a bot can group several operations
into one commit: `with storage.transaction(): ...`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from stocksbot import settings as config_rules
from stocksbot.errors import StocksbotError
from stocksbot.storage.database import ConnectionSettings, DatabaseTarget
from stocksbot.storage.exports import ExportOperations
from stocksbot.storage.imports import ImportOperations
from stocksbot.storage.prices import PriceOperations
from stocksbot.storage.reader import Reader, database_errors, open_engine
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.strategies import StrategyOperations
from stocksbot.storage.trading import TradingOperations


@dataclass(frozen=True)
class ConfigItem:
    """A setting as users see it: typed value, its type, and whether it is only the default."""

    key: str
    value: Any
    value_type: str
    description: str | None
    is_default: bool = False

    @property
    def text(self) -> str:
        return config_rules.to_text(self.value, self.value_type)


class StorageService(
    Reader, TradingOperations, StrategyOperations, PriceOperations, ImportOperations, ExportOperations
):
    """The unit of work over one database, and every operation stocksbot performs on it."""

    def __init__(self, engine: Engine, target: DatabaseTarget, settings: ConnectionSettings | None = None) -> None:
        super().__init__(engine, target, settings)
        self._write_engine = engine.execution_options(stocksbot_write=True)
        self._repos: Repositories | None = None
        self._conn: Connection | None = None  # an open ledger_transaction()

    # -- unit of work -------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Repositories]:
        """A write transaction: commits when the block ends, rolls back on any exception."""
        if self._repos is not None:
            yield self._repos
            return
        with self._session(self._write_engine) as repos:
            yield repos
            repos.session.commit()

    @contextmanager
    def ledger_transaction(self) -> Iterator[Connection]:
        """A write transaction on a bare Core connection, for recording trades and fills.

        A bot records fills in a hot loop, and a Session costs more per transaction than
        the statements of booking a trade, so this path has none. It joins any transaction
        already open (a Session's too, expiring the Session's objects afterwards, since
        booking may rewrite rows behind its back).
        """
        if self._conn is not None:
            yield self._conn
            return
        if self._repos is not None:
            session = self._repos.session
            session.flush()
            yield session.connection()
            session.expire_all()
            return
        with database_errors(self.target, self.settings), self._write_engine.begin() as conn:
            self._conn = conn
            try:
                yield conn
            finally:
                self._conn = None

    @contextmanager
    def reading(self) -> Iterator[Repositories]:
        """A read-only view; joins an open transaction so a bot sees its own writes."""
        if self._repos is not None:
            yield self._repos
            return
        with self._session(self.engine) as repos:
            yield repos

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Core reads join an open transaction (after a flush), so a bot sees its own writes."""
        if self._conn is not None:
            yield self._conn
            return
        if self._repos is None:
            with super().connection() as conn:
                yield conn
            return
        self._repos.session.flush()
        yield self._repos.session.connection()

    @contextmanager
    def _session(self, bind: Engine) -> Iterator[Repositories]:
        if self._conn is not None:
            raise RuntimeError("a Session transaction cannot start inside ledger_transaction()")
        session = Session(bind=bind, expire_on_commit=False, autoflush=True)
        self._repos = Repositories(session)
        try:
            with database_errors(self.target, self.settings):
                try:
                    yield self._repos
                except BaseException:
                    session.rollback()
                    raise
        finally:
            self._repos = None
            session.close()

    def __enter__(self) -> "StorageService":
        return self

    # -- settings -----------------------------------------------------------------------

    def config_set(
        self, key: str, text: str, value_type: str | None = None, description: str | None = None
    ) -> ConfigItem:
        """Store a typed setting; a value that does not parse as its type changes nothing."""
        config_rules.check_key(key)
        known = config_rules.KNOWN_KEYS.get(key)
        with self.transaction() as repos:
            existing = repos.config.get(key)
            if known is not None:
                if value_type is not None and value_type != known.value_type:
                    raise StocksbotError(f"{key} is a {known.value_type} setting; --type {value_type} is not allowed")
                value_type = known.value_type
            elif value_type is None:
                value_type = existing.value_type if existing is not None else "string"
            value = config_rules.parse_value(key, text, value_type)
            previous = self.setting(key) if key == "accounting.cost_basis" else None
            entry = repos.config.upsert(
                key, config_rules.to_text(value, value_type), value_type, description
            )
            if key == "accounting.cost_basis" and value != previous:
                self.rebuild_positions()  # the new method applies to the whole history, atomically
            if description is None and entry.description is None and known is not None:
                entry.description = known.description
            return ConfigItem(key, value, value_type, entry.description)

    def config_get(self, key: str) -> ConfigItem:
        config_rules.check_key(key)
        with self.reading() as repos:
            entry = repos.config.get(key)
        if entry is not None:
            return ConfigItem(key, config_rules.from_text(entry.value, entry.value_type), entry.value_type, entry.description)
        known = config_rules.KNOWN_KEYS.get(key)
        if known is None:
            raise StocksbotError(f"config key {key!r} is not set (see `stocksbot config list`)")
        return ConfigItem(key, known.default, known.value_type, known.description, is_default=True)

    def config_list(self) -> list[ConfigItem]:
        """Stored settings plus the known keys that are still at their defaults, by key."""
        with self.reading() as repos:
            stored = {
                e.key: ConfigItem(e.key, config_rules.from_text(e.value, e.value_type), e.value_type, e.description)
                for e in repos.config.list()
            }
        for key, known in config_rules.KNOWN_KEYS.items():
            stored.setdefault(key, ConfigItem(key, known.default, known.value_type, known.description, True))
        return [stored[key] for key in sorted(stored)]

    def config_unset(self, key: str) -> None:
        """Remove a setting; a known key falls back to its default."""
        config_rules.check_key(key)
        with self.transaction() as repos:
            previous = self.setting(key) if key == "accounting.cost_basis" else None
            if not repos.config.delete(key):
                raise StocksbotError(f"config key {key!r} is not set")
            if key == "accounting.cost_basis" and self.setting(key) != previous:
                self.rebuild_positions()

    def setting(self, key: str) -> Any:
        """The typed value of a setting, its default when unset."""
        return self.config_get(key).value


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
