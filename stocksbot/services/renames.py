"""Symbol changes: from a date on, an instrument trades under a new symbol (docs/ledger.md §12.6).

The change is stored and booked on its moment (the start of its day): every account's open
run of OLD ends there and a run of NEW begins with the same lots (acquisition dates and
costs kept) and the same strategy. Earlier trades keep OLD; trades from the date on are
recorded as NEW.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select

from stocksbot import settings
from stocksbot.errors import StocksbotError
from stocksbot.ledger.inputs import parse_symbol, start_of_day
from stocksbot.storage import audit, tables
from stocksbot.storage.booking import BookingError, BookingStore, lock_symbol
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork

CHANGES = tables.symbol_changes
TRADES = tables.trades
INSTRUMENTS = tables.instruments


def rename_symbol(uow: UnitOfWork, old: str, new: str, at: str | datetime) -> dict[str, object]:
    """Record that OLD trades as NEW from the start of the day `at`, and re-book both symbols."""
    old, new = parse_symbol(old), parse_symbol(new)
    if old == new:
        raise StocksbotError("the old and the new symbol are the same")
    moment = start_of_day(at, field="--at")
    day = moment.astimezone().date().isoformat()
    with uow.transaction() as conn:
        for symbol in sorted((old, new)):
            lock_symbol(conn, symbol)
        for symbol in (old, new):
            if conn.execute(select(CHANGES.c.id).where(CHANGES.c.old_symbol == symbol)).first():
                raise StocksbotError(f"{symbol} was renamed already")
        if conn.execute(select(CHANGES.c.id).where(CHANGES.c.new_symbol == new)).first():
            raise StocksbotError(f"{new} is the new name of another symbol already")
        count = select(func.count()).select_from(TRADES).where(tables.LIVE_TRADE)
        later = conn.execute(count.where(TRADES.c.symbol == old, TRADES.c.executed_at >= moment)).scalar_one()
        if later:
            raise StocksbotError(f"{old} has {later} trade(s) on or after {day}: they would belong to {new}")
        earlier = conn.execute(count.where(TRADES.c.symbol == new, TRADES.c.executed_at < moment)).scalar_one()
        if earlier:
            raise StocksbotError(f"{new} has {earlier} trade(s) before {day}: a new name must be new at the change")
        known = conn.execute(select(INSTRUMENTS).where(INSTRUMENTS.c.symbol == old)).first()
        if known is not None and not conn.execute(select(INSTRUMENTS.c.symbol).where(INSTRUMENTS.c.symbol == new)).first():
            conn.execute(insert(INSTRUMENTS).values(symbol=new, currency=known.currency, name=known.name))
        change_id = conn.execute(insert(CHANGES).values(old_symbol=old, new_symbol=new, at=moment)
                                 .returning(CHANGES.c.id)).scalar_one()
        method = settings.known_value("accounting.cost_basis", Repositories(conn).config.text("accounting.cost_basis"))
        try:
            BookingStore(conn, str(method)).replay(old)  # re-books `new` too
        except BookingError as exc:
            raise StocksbotError(f"cannot rename {old} to {new}: {exc}") from None
        change = {"id": change_id, "old_symbol": old, "new_symbol": new, "at": moment}
        audit.log(conn, uow.command, "symbol.rename", old, old={"symbol": old}, new=change)
        return change
