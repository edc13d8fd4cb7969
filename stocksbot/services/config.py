"""Settings: typed values stored as text; known keys have fixed types and defaults (`settings.py`).

Changing `accounting.cost_basis` re-books the whole ledger in the same transaction, so the
new method applies to all of history or to none of it (docs/ledger.md, Settings).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection

from stocksbot import settings as rules
from stocksbot.errors import StocksbotError
from stocksbot.ledger.inputs import parse_note
from stocksbot.storage import audit, rebookings
from stocksbot.storage.records import RealizedChange
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork

_COST_BASIS = "accounting.cost_basis"


@dataclass(frozen=True)
class ConfigItem:
    """A setting as users see it: typed value, its type, and whether it is only the default."""

    key: str
    value: Any
    value_type: str
    description: str | None
    is_default: bool = False
    # What a cost-basis switch re-booked: the symbols whose realized P&L changed (docs/ledger.md §19.4).
    rebooked: tuple[RealizedChange, ...] = field(default=(), compare=False)

    @property
    def text(self) -> str:
        return rules.to_text(self.value, self.value_type)


def _rebuild(conn: Connection) -> tuple[RealizedChange, ...]:
    """Re-book the whole ledger with the cost-basis method now stored; the symbols whose realized
    P&L that changed, from what to what.

    The trades service (and with it the booking code) is imported here, on the one path that
    needs it, so that `config get` and `config list` start without it.
    """
    from stocksbot.services import trades

    before = rebookings.realized_by_symbol(conn)
    trades.rebuild(conn)
    return rebookings.changes(before, rebookings.realized_by_symbol(conn))


def _item(repos: Repositories, key: str) -> ConfigItem | None:
    """The stored setting, else a known key's default, else None."""
    entry = repos.config.get(key)
    if entry is not None:
        return ConfigItem(key, rules.from_text(entry.value, entry.type), entry.type, entry.description)
    known = rules.KNOWN_KEYS.get(key)
    if known is None or known.default is None:  # no default: unset until a value is stored
        return None
    return ConfigItem(key, known.default, known.value_type, known.description, is_default=True)


def config_set(
    uow: UnitOfWork, key: str, text: str, value_type: str | None = None, description: str | None = None
) -> ConfigItem:
    """Store a typed setting; a value that does not parse as its type changes nothing.

    A key under one of stocksbot's own namespaces must be a known key (docs/ledger.md §9.2).
    """
    rules.check_key(key)
    if rules.is_unknown_own_key(key):
        raise rules.unknown_own_key_error(key)
    description = parse_note(description, field="description")
    known = rules.KNOWN_KEYS.get(key)
    with uow.transaction() as conn:
        repos = Repositories(conn)
        existing = repos.config.get(key)
        if known is not None:
            if value_type is not None and value_type != known.value_type:
                raise StocksbotError(f"{key} is a {known.value_type} setting; --type {value_type} is not allowed")
            value_type = known.value_type
        elif value_type is None:
            value_type = existing.type if existing is not None else "string"
        value = rules.parse_value(key, text, value_type)
        previous = _item(repos, key)
        if description is None and known is not None and (existing is None or existing.description is None):
            description = known.description
        repos.config.upsert(key, rules.to_text(value, value_type), value_type, description)
        rebooked: tuple[RealizedChange, ...] = ()
        if key == _COST_BASIS and previous is not None and value != previous.value:
            rebooked = _rebuild(conn)  # the new method applies to the whole history, atomically
        item = _item(repos, key)
        assert item is not None
        old, new = audit.changes(_stored(previous), _stored(item))
        audit.log(conn, uow.command, "config.set", key, old=old, new=new)
        return replace(item, rebooked=rebooked)


def _stored(item: ConfigItem | None) -> dict[str, Any]:
    """A setting as its audit entry shows it: the typed value (its default when unset), type, description."""
    if item is None:
        return {}
    return {"value": item.value, "type": item.value_type, "description": item.description,
            "default": item.is_default}


def config_get(uow: UnitOfWork, key: str) -> ConfigItem:
    """A stored setting or a known key's default. An unknown key of an own namespace that is
    not stored is refused with the closest known key (a typo); one stored before that rule
    still reads (docs/ledger.md §9.3)."""
    rules.check_key(key)
    with uow.reading() as conn:
        item = _item(Repositories(conn), key)
    if item is None and rules.is_unknown_own_key(key):
        raise rules.unknown_own_key_error(key)
    if item is None:
        raise StocksbotError(f"config key {key!r} is not set (see `stocksbot config list`)")
    return item


def config_list(uow: UnitOfWork) -> list[ConfigItem]:
    """Stored settings plus the known keys that are still at their defaults, by key."""
    with uow.reading() as conn:
        stored = {
            e.key: ConfigItem(e.key, rules.from_text(e.value, e.type), e.type, e.description)
            for e in Repositories(conn).config.list()
        }
    for key, known in rules.KNOWN_KEYS.items():
        if known.default is not None:
            stored.setdefault(key, ConfigItem(key, known.default, known.value_type, known.description, True))
    return [stored[key] for key in sorted(stored)]


def config_unset(uow: UnitOfWork, key: str) -> tuple[RealizedChange, ...]:
    """Remove a setting; a known key falls back to its default. Returns what a cost-basis change
    re-booked (docs/ledger.md §19.4; empty otherwise).

    An unknown key of an own namespace that is stored (set before docs/ledger.md §9.2 refused
    it) can be removed; one that is not stored is refused with the closest known key.
    """
    rules.check_key(key)
    with uow.transaction() as conn:
        repos = Repositories(conn)
        previous = _item(repos, key)
        if not repos.config.delete(key):
            if rules.is_unknown_own_key(key):
                raise rules.unknown_own_key_error(key)
            raise StocksbotError(f"config key {key!r} is not set")
        current = _item(repos, key)
        audit.log(conn, uow.command, "config.unset", key, old=_stored(previous), new=_stored(current) or None)
        if key == _COST_BASIS and previous is not None and current is not None and current.value != previous.value:
            return _rebuild(conn)
        return ()


def setting(uow: UnitOfWork, key: str) -> Any:
    """The typed value of a setting, its default when unset."""
    return config_get(uow, key).value
