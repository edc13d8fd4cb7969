"""Accounts: where trades, positions and cash live (docs/ledger.md §11).

Every database has the account `main` (migration 0005 gave it the ledger that existed
before accounts). Commands that write use `--account`, else the `accounts.default` setting,
else main; commands that read cover every account unless one is named.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from stocksbot.errors import StocksbotError
from stocksbot.ledger import format_decimal
from stocksbot.ledger.inputs import parse_account_name, parse_currency, parse_note
from stocksbot.ledger.numbers import ZERO
from stocksbot.storage import audit, tables
from stocksbot.storage.records import AccountRecord
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import CLOSED, DEFAULT_CURRENCY, OPEN

POSITIONS = tables.positions
BALANCES = tables.cash_balances
INSTRUMENTS = tables.instruments


def _cash(conn: Connection) -> dict[int, dict[str, Decimal]]:
    """Each account's non-zero cash balances, by currency."""
    cash: dict[int, dict[str, Decimal]] = {}
    for account_id, currency, balance in conn.execute(
        select(BALANCES.c.account_id, BALANCES.c.currency, BALANCES.c.balance).order_by(BALANCES.c.currency)
    ):
        if balance:
            cash.setdefault(account_id, {})[currency] = balance
    return cash


def _market_values(conn: Connection, at: datetime) -> dict[int, tuple[Decimal | None, int]]:
    """Each account's open positions: their market value in the account's currency and how many.

    A position whose price, or whose exchange rate into the account's currency, is unknown
    leaves the value unknown (None), never 0 (docs/ledger.md §15).
    """
    from stocksbot.services.valuation import market_values_by_account

    return market_values_by_account(conn, at)


def _record(row: Any, cash: dict[int, dict[str, Decimal]], values: dict[int, tuple[Decimal | None, int]]) -> AccountRecord:
    value, count = values.get(row.id, (ZERO, 0))
    return AccountRecord(
        name=row.name, currency=row.currency, margin=bool(row.margin), description=row.description,
        status=row.status, cash=cash.get(row.id, {}), market_value=value, open_positions=count,
        created_at=row.created_at,
    )


def _default_currency(repos: Repositories) -> str:
    stored = repos.config.text("reporting.currency")
    return stored if stored is not None else DEFAULT_CURRENCY


def add_account(
    uow: UnitOfWork, name: str, *, currency: str | None = None, margin: bool = False, description: str | None = None
) -> AccountRecord:
    """A new open account; its currency defaults to `reporting.currency`, else USD."""
    name = parse_account_name(name)
    description = parse_note(description, field="description")
    code = parse_currency(currency) if currency is not None else None
    with uow.transaction() as conn:
        repos = Repositories(conn)
        if repos.accounts.by_name(name) is not None:
            raise StocksbotError(f"an account named {name!r} already exists")
        values = {"name": name, "currency": code or _default_currency(repos), "margin": margin,
                  "description": description, "status": OPEN}
        repos.accounts.add(**values)
        audit.log(conn, uow.command, "account.add", name, new=values)
        return _record(repos.accounts.require(name), {}, {})


def list_accounts(uow: UnitOfWork) -> list[AccountRecord]:
    """Every account with its cash per currency, market value and open positions."""
    with uow.reading() as conn:
        repos = Repositories(conn)
        cash, values = _cash(conn), _market_values(conn, datetime.now(timezone.utc))
        return [_record(row, cash, values) for row in repos.accounts.list()]


def get_account(uow: UnitOfWork, name: str) -> AccountRecord:
    with uow.reading() as conn:
        row = Repositories(conn).accounts.require(name)
        return _record(row, _cash(conn), _market_values(conn, datetime.now(timezone.utc)))


def rename_account(uow: UnitOfWork, old: str, new: str) -> AccountRecord:
    """Rename an account; its trades, positions and cash follow (they refer to it by id)."""
    new = parse_account_name(new)
    with uow.transaction() as conn:
        repos = Repositories(conn)
        row = repos.accounts.require(old)
        if new != old and repos.accounts.by_name(new) is not None:
            raise StocksbotError(f"an account named {new!r} already exists")
        repos.accounts.update(row.id, name=new)
        default = repos.config.text("accounts.default")
        before, after = {"name": row.name}, {"name": new}
        if default == old:
            repos.config.upsert("accounts.default", new, "string", None)
            before["accounts.default"], after["accounts.default"] = old, new
        audit.log(conn, uow.command, "account.rename", old, old=before, new=after)
        return _record(repos.accounts.require(new), _cash(conn), _market_values(conn, datetime.now(timezone.utc)))


def close_account(uow: UnitOfWork, name: str) -> AccountRecord:
    """Close an account: refused while it holds positions or cash. A closed account takes no new records."""
    with uow.transaction() as conn:
        repos = Repositories(conn)
        row = repos.accounts.require(name)
        if row.status == CLOSED:
            raise StocksbotError(f"account {name!r} is already closed")
        held = conn.execute(select(func.count()).where(POSITIONS.c.account_id == row.id,
                                                       POSITIONS.c.status == OPEN)).scalar_one()
        if held:
            raise StocksbotError(f"cannot close account {name!r}: it holds {held} open position(s)")
        cash = _cash(conn).get(row.id, {})
        if cash:
            shown = ", ".join(f"{format_decimal(amount)} {currency}" for currency, amount in cash.items())
            raise StocksbotError(f"cannot close account {name!r}: it holds cash ({shown})")
        repos.accounts.update(row.id, status=CLOSED)
        audit.log(conn, uow.command, "account.close", name, old={"status": row.status}, new={"status": CLOSED})
        return _record(repos.accounts.require(name), {}, {})
