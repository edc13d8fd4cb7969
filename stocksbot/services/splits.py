"""Stock splits: N new shares for D old, booked like a trade on their day (docs/ledger.md §12).

Adding or removing a split re-books the symbol in every account from its trades and splits,
so lots keep their acquisition dates and costs and only their quantities change. Open orders
placed before the split are adjusted the same way (quantities times N/D, prices divided by
it). `--cash-in-lieu` records the sale of the fractional share the split left in one account
as an ordinary trade at the split's moment, so its gain, cash and strategy follow the usual
rules.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stocksbot import settings
from stocksbot.errors import StocksbotError
from stocksbot.ledger import add, divide, format_decimal, parse_decimal, prorate, subtract
from stocksbot.ledger.inputs import parse_ratio, parse_symbol, start_of_day
from stocksbot.storage import audit, tables
from stocksbot.storage.booking import BookingError, BookingStore, lock_symbol
from stocksbot.storage.records import SplitRecord, TradeRecord
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import OPEN_ORDER_STATUSES, SELL

SPLITS = tables.splits
ORDERS = tables.orders
TRADES = tables.trades


def _record(row: Any) -> SplitRecord:
    return SplitRecord(id=row.id, symbol=row.symbol, numerator=row.numerator, denominator=row.denominator,
                       at=row.at, cash_in_lieu=row.cash_in_lieu)


def cash_in_lieu_id(split_id: int) -> str:
    """The external id of the trade that sold a split's fractional share."""
    return f"split-{split_id}-cash-in-lieu"


def _store(conn: Connection) -> BookingStore:
    method = settings.known_value("accounting.cost_basis", Repositories(conn).config.text("accounting.cost_basis"))
    return BookingStore(conn, str(method))


def _rebook(conn: Connection, symbol: str) -> None:
    try:
        _store(conn).replay(symbol)
    except BookingError as exc:  # replays accepted trades with shorting allowed; kept as a guard
        raise StocksbotError(f"re-booking {symbol} failed at trade {exc.trade_id}: {exc}") from None


def _adjust_orders(conn: Connection, symbol: str, at: datetime, numerator: int, denominator: int) -> int:
    """Scale the symbol's open orders placed before `at` by N/D (prices by D/N); how many changed."""
    n, d = Decimal(numerator), Decimal(denominator)
    rows = conn.execute(select(ORDERS).where(ORDERS.c.symbol == symbol, ORDERS.c.created_at < at,
                                             ORDERS.c.status.in_(OPEN_ORDER_STATUSES))).all()
    for order in rows:
        conn.execute(update(ORDERS).where(ORDERS.c.id == order.id).values(
            quantity=prorate(order.quantity, n, d),
            filled_quantity=prorate(order.filled_quantity, n, d),
            limit_price=None if order.limit_price is None else prorate(order.limit_price, d, n),
            stop_price=None if order.stop_price is None else prorate(order.stop_price, d, n),
            avg_fill_price=None if order.avg_fill_price is None else prorate(order.avg_fill_price, d, n),
        ))
    return len(rows)


def insert_split(
    conn: Connection, symbol: str, numerator: int, denominator: int, moment: datetime, *,
    cash_in_lieu: Decimal | None = None,
) -> int:
    """Store a split and adjust the symbol's open orders; the caller re-books the symbol (its id)."""
    split_id = int(conn.execute(insert(SPLITS).values(symbol=symbol, numerator=numerator, denominator=denominator,
                                                      at=moment, cash_in_lieu=cash_in_lieu)
                                .returning(SPLITS.c.id)).scalar_one())
    _adjust_orders(conn, symbol, moment, numerator, denominator)
    return split_id


def add_split(
    uow: UnitOfWork, symbol: str, ratio: str, at: str | datetime, *, cash_in_lieu: str | Decimal | None = None,
    account: str | None = None,
) -> tuple[SplitRecord, Decimal]:
    """Record a split from the start of the day `at`; re-book the symbol. Returns the split and the
    quantity held across accounts right after it (0: the split changes no position; it is
    still recorded, for the prices and later history)."""
    symbol = parse_symbol(symbol)
    numerator, denominator = parse_ratio(ratio)
    moment = start_of_day(at, field="--at")
    lieu = parse_decimal(cash_in_lieu, field="cash in lieu") if cash_in_lieu is not None else None
    with uow.transaction() as conn:
        lock_symbol(conn, symbol)
        repos = Repositories(conn)
        chosen = repos.accounts.chosen(account) if lieu is not None else None
        if conn.execute(select(SPLITS.c.id).where(SPLITS.c.symbol == symbol, SPLITS.c.at == moment)).first():
            raise StocksbotError(f"{symbol} already has a split on {moment.astimezone().date().isoformat()}")
        split_id = insert_split(conn, symbol, numerator, denominator, moment, cash_in_lieu=lieu)
        _rebook(conn, symbol)
        store = _store(conn)
        sale = None
        if chosen is not None and lieu is not None:
            sale = _sell_fraction(conn, store, split_id, chosen, symbol, moment, lieu)
        held = _held_after(conn, store, symbol, moment)
        row = conn.execute(select(SPLITS).where(SPLITS.c.id == split_id)).one()
        record = _record(row)
        new = {**record.to_json(), "held_after": held}
        if sale is not None:
            new["cash_in_lieu_trade"] = sale.to_json()
        audit.log(conn, uow.command, "split.add", split_id, new=new, trade_ids=[sale.id] if sale is not None else [])
        return record, held


def _held_after(conn: Connection, store: BookingStore, symbol: str, moment: datetime) -> Decimal:
    """Shares of the symbol held across accounts right after `moment` (absolute, shorts included)."""
    account_ids = conn.execute(select(TRADES.c.account_id).where(TRADES.c.symbol == symbol, tables.LIVE_TRADE)
                               .distinct()).scalars()
    return add(Decimal(0), *(abs(store.holding_at(account_id, symbol, moment, through=True))
                             for account_id in account_ids))


def _sell_fraction(
    conn: Connection, store: BookingStore, split_id: int, account: Any, symbol: str, moment: datetime, lieu: Decimal
) -> TradeRecord:
    """Sell the fractional share the split left in the account, for `lieu` in total."""
    from stocksbot.services import trades

    held = store.holding_at(account.id, symbol, moment, through=True)
    fraction = subtract(held, held.to_integral_value(rounding=ROUND_FLOOR)) if held > 0 else Decimal(0)
    if not fraction:
        raise StocksbotError(
            f"the split leaves no fractional share of {symbol} in account {account.name!r} "
            f"({format_decimal(held)} held): drop --cash-in-lieu"
        )
    values = trades.parse_trade(SELL, symbol, fraction, divide(lieu, fraction), "0", "0", moment,
                                external_id=cash_in_lieu_id(split_id),
                                note=f"cash in lieu of {format_decimal(fraction)} share after a split")
    return trades.record_fill(conn, values, strategy=None, order=None, allow_short=False, account=account.name)


def list_splits(uow: UnitOfWork, symbol: str | None = None) -> list[SplitRecord]:
    wanted = parse_symbol(symbol) if symbol is not None else None
    with uow.reading() as conn:
        query = select(SPLITS).order_by(SPLITS.c.symbol, SPLITS.c.at)
        if wanted is not None:
            query = query.where(SPLITS.c.symbol == wanted)
        return [_record(row) for row in conn.execute(query)]


def remove_split(uow: UnitOfWork, split_id: int) -> SplitRecord:
    """Delete a split (and its cash-in-lieu sale), undo its order adjustment, re-book the symbol."""
    with uow.transaction() as conn:
        row = conn.execute(select(SPLITS).where(SPLITS.c.id == split_id)).first()
        if row is None:
            raise StocksbotError(f"no split with id {split_id} (see `stocksbot split list`)")
        lock_symbol(conn, row.symbol)
        sale = conn.execute(select(TRADES.c.id).where(TRADES.c.external_id == cash_in_lieu_id(split_id))).scalar()
        conn.execute(delete(TRADES).where(TRADES.c.external_id == cash_in_lieu_id(split_id)))
        conn.execute(delete(SPLITS).where(SPLITS.c.id == split_id))
        _adjust_orders(conn, row.symbol, row.at, row.denominator, row.numerator)
        _rebook(conn, row.symbol)
        record = _record(row)
        audit.log(conn, uow.command, "split.remove", split_id, old={**record.to_json(), "cash_in_lieu_trade_id": sale})
        return record
