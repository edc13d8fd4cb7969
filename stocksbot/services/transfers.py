"""Share transfers between own accounts: shares move with their lots, nothing is realized (docs/ledger.md §12).

A transfer is stored (`share_transfers`) and booked like a trade on its moment: the symbol is
re-booked in every account, the source account's lots leaving in cost-basis order with
their acquisition dates and costs, the receiving account's position taking them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, func, insert, select

from stocksbot import settings
from stocksbot.errors import StocksbotError
from stocksbot.ledger import format_decimal, parse_decimal
from stocksbot.ledger.inputs import parse_note, parse_symbol, parse_time
from stocksbot.storage import audit, tables
from stocksbot.storage.booking import BookingError, BookingStore, lock_symbol
from stocksbot.storage.records import TransferRecord
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import CLOSED

TRANSFERS = tables.share_transfers
TRADES = tables.trades


def _require_open(account: Any) -> None:
    if account.status == CLOSED:
        raise StocksbotError(f"account {account.name!r} is closed")


def transfer_shares(
    uow: UnitOfWork, symbol: str, quantity: str | Any, *, from_account: str, to_account: str,
    at: str | datetime | None = None, note: str | None = None,
) -> TransferRecord:
    """Move QUANTITY shares of a long position from one account to another at `at` (default now)."""
    symbol = parse_symbol(symbol)
    amount = parse_decimal(quantity, field="quantity", allow_zero=False)
    note = parse_note(note)
    moment = parse_time(at, field="--at") if at is not None else datetime.now(timezone.utc)
    with uow.transaction() as conn:
        lock_symbol(conn, symbol)
        repos = Repositories(conn)
        source, target = repos.accounts.require(from_account), repos.accounts.require(to_account)
        if source.id == target.id:
            raise StocksbotError("--from and --to name the same account")
        _require_open(source)
        _require_open(target)
        method = str(settings.known_value("accounting.cost_basis", repos.config.text("accounting.cost_basis")))
        store = BookingStore(conn, method)
        held = store.holding_at(source.id, symbol, moment, through=True)
        if held < amount:
            raise StocksbotError(
                f"cannot transfer {format_decimal(amount)} {symbol} from {source.name!r}: "
                f"{format_decimal(held) if held > 0 else 0} held long at that time"
            )
        _refuse_later_trades(conn, source, symbol, moment)
        transfer_id = conn.execute(insert(TRANSFERS).values(
            symbol=symbol, quantity=amount, from_account_id=source.id, to_account_id=target.id, at=moment, note=note,
        ).returning(TRANSFERS.c.id)).scalar_one()
        try:
            store.replay(symbol)
        except BookingError as exc:
            raise StocksbotError(f"cannot transfer {symbol}: {exc}") from None
        record = TransferRecord(id=transfer_id, symbol=symbol, quantity=amount, from_account=source.name,
                                to_account=target.name, at=moment, note=note)
        audit.log(conn, uow.command, "transfer.add", transfer_id, new=record.to_json())
        return record


def _refuse_later_trades(conn: Connection, source: Any, symbol: str, moment: datetime) -> None:
    """A transfer dated before the source account's later trades of the symbol could turn one of
    them into a short sale after the fact; such a transfer is refused (docs/ledger.md §12)."""
    later = conn.execute(select(func.count()).where(TRADES.c.symbol == symbol, TRADES.c.account_id == source.id,
                                                    TRADES.c.executed_at > moment, tables.LIVE_TRADE)).scalar_one()
    if later:
        raise StocksbotError(
            f"{source.name!r} has {later} trade(s) of {symbol} after the transfer's time: record the transfer at or "
            "after its last trade"
        )


def list_transfers(uow: UnitOfWork, symbol: str | None = None) -> list[TransferRecord]:
    wanted = parse_symbol(symbol) if symbol is not None else None
    with uow.reading() as conn:
        names = Repositories(conn).accounts.names()
        query = select(TRANSFERS).order_by(TRANSFERS.c.at, TRANSFERS.c.id)
        if wanted is not None:
            query = query.where(TRANSFERS.c.symbol == wanted)
        return [TransferRecord(id=row.id, symbol=row.symbol, quantity=row.quantity,
                               from_account=names[row.from_account_id], to_account=names[row.to_account_id],
                               at=row.at, note=row.note) for row in conn.execute(query)]
