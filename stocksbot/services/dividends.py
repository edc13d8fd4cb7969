"""Dividends: recording them (with a reinvested buy, a DRIP), listing and removing them.

A dividend pays gross - tax - fee into its account's cash at its pay date (the cash store,
`storage/cash.py`); with `per_share` its gross is the amount per share times the shares the
account held at the start of the ex-date (the booking store's `holding_at`). A reinvestment
is a buy recorded through `trades.record_fill` in the same transaction. The rules are
docs/ledger.md §14.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from stocksbot import settings
from stocksbot.errors import StocksbotError
from stocksbot.ledger import add, format_decimal, multiply, parse_decimal
from stocksbot.ledger.cash import dividend_amount
from stocksbot.ledger.inputs import parse_currency, parse_note, parse_symbol, parse_time, start_of_day
from stocksbot.services import trades
from stocksbot.services.cash import open_account
from stocksbot.storage import audit, tables
from stocksbot.storage.booking import BookingStore, lock_symbol
from stocksbot.storage.cash import CashStore, dividend_event
from stocksbot.storage.records import DividendRecord
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import BUY, EXTERNAL_ID_MAX, IMPLICIT_DEPOSIT

Number = str | Decimal | int
DIVIDENDS = tables.dividends
INSTRUMENTS = tables.instruments
MOVEMENTS = tables.cash_movements


def dividend_record(row: Any, accounts: dict[int, str]) -> DividendRecord:
    """A dividends row as users see it (`accounts`: account id -> name)."""
    return DividendRecord(
        id=row.id, account=accounts[row.account_id], symbol=row.symbol, gross=row.gross, tax=row.tax, fee=row.fee,
        net=dividend_amount(row.gross, row.tax, row.fee), currency=row.currency, ex_date=row.ex_date, paid_at=row.paid_at,
        per_share=row.per_share, reinvest_trade_id=row.reinvest_trade_id, note=row.note, external_id=row.external_id,
    )


def _local_day(moment: datetime) -> str:
    return moment.astimezone().date().isoformat()


def record_dividend(
    uow: UnitOfWork,
    symbol: str,
    amount: Number,
    *,
    per_share: bool = False,
    tax: Number | None = None,
    fee: Number | None = None,
    ex_date: str | datetime | None = None,
    paid_at: str | datetime | None = None,
    account: str | None = None,
    currency: str | None = None,
    reinvest: Number | None = None,
    price: Number | None = None,
    note: str | None = None,
    external_id: str | None = None,
) -> DividendRecord:
    """Record a dividend of `amount` (the gross total, or with `per_share` the amount per share held
    at the start of the ex-date) paid at `paid_at` (default: now); the ex-date defaults to the pay date.

    Cash gets gross - tax - fee at the pay date, in the dividend's currency (default: the
    symbol's, else the account's). `reinvest` (a quantity) with `price` also records a buy at
    the pay date, paid from the dividend (a DRIP); its trade id is kept in `reinvest_trade_id`.
    """
    symbol = parse_symbol(symbol)
    value = parse_decimal(amount, field="amount", allow_zero=False)
    note = parse_note(note)
    withheld = parse_decimal(tax, field="--tax") if tax is not None else Decimal(0)
    charged = parse_decimal(fee, field="--fee") if fee is not None else Decimal(0)
    code = parse_currency(currency) if currency is not None else None
    paid = parse_time(paid_at, field="--at") if paid_at is not None else datetime.now(timezone.utc)
    ex_start = start_of_day(ex_date if ex_date is not None else paid, field="--ex-date")
    if ex_start > paid:
        raise StocksbotError(f"the ex-date {_local_day(ex_start)} is after the pay date {_local_day(paid)}")
    if (reinvest is None) != (price is None):
        raise StocksbotError("--reinvest QTY and --price P go together: the quantity bought and its price")
    buy = None
    if reinvest is not None and price is not None:
        buy = trades.parse_trade(BUY, symbol, parse_decimal(reinvest, field="--reinvest", allow_zero=False),
                                 parse_decimal(price, field="--price"), "0", "0", paid, note=note)
    external = trades.parse_text(external_id, "external id", EXTERNAL_ID_MAX)
    with uow.transaction() as conn:
        chosen = open_account(conn, account)
        lock_symbol(conn, symbol)
        traded_in = conn.execute(select(INSTRUMENTS.c.currency).where(INSTRUMENTS.c.symbol == symbol)).scalar()
        code = code or traded_in or chosen.currency
        per_unit = None
        gross = value
        if per_share:
            held = _holding(conn, chosen.id, symbol, ex_start)
            if held <= 0:
                short = f" (it is short {format_decimal(-held)})" if held < 0 else ""
                raise StocksbotError(f"no shares of {symbol} in account {chosen.name!r} at the ex-date "
                                     f"{_local_day(ex_start)}{short}")
            per_unit, gross = value, multiply(value, held)
        if add(withheld, charged) > gross:
            raise StocksbotError(f"--tax and --fee ({format_decimal(add(withheld, charged))}) exceed the gross "
                                 f"dividend {format_decimal(gross)}")
        if buy is not None and (traded_in or chosen.currency) != code:
            raise StocksbotError(f"cannot reinvest a {code} dividend: {symbol} trades in {traded_in or chosen.currency}")
        values = {"account_id": chosen.id, "symbol": symbol, "gross": gross, "tax": withheld, "fee": charged,
                  "currency": code, "ex_date": ex_start, "paid_at": paid, "per_share": per_unit, "note": note,
                  "external_id": external, "created_at": datetime.now(timezone.utc)}
        try:
            dividend_id = int(conn.execute(insert(DIVIDENDS).values(values).returning(DIVIDENDS.c.id)).scalar_one())
        except IntegrityError:
            raise StocksbotError(f"a dividend with external id {external!r} already exists") from None
        CashStore(conn).settle(chosen.id, code, [dividend_event(dividend_id, gross, withheld, charged, paid)],
                               margin=bool(chosen.margin))
        trade_id = None
        if buy is not None:
            buy["note"] = note if note is not None else f"reinvested dividend {dividend_id}"
            trade_id = trades.record_fill(conn, buy, strategy=None, order=None, allow_short=False,
                                          account=chosen.name).id
            conn.execute(update(DIVIDENDS).where(DIVIDENDS.c.id == dividend_id).values(reinvest_trade_id=trade_id))
        row = conn.execute(select(DIVIDENDS).where(DIVIDENDS.c.id == dividend_id)).one()
        record = dividend_record(row, {chosen.id: chosen.name})
        audit.log(conn, uow.command, "dividend.add", dividend_id, new=record.to_json(),
                  trade_ids=[trade_id] if trade_id is not None else [])
        return record


def _holding(conn: Connection, account_id: int, symbol: str, at: datetime) -> Decimal:
    """Shares of `symbol` held in the account at the moment `at` (negative: short)."""
    method = settings.known_value("accounting.cost_basis", Repositories(conn).config.text("accounting.cost_basis"))
    return BookingStore(conn, str(method)).holding_at(account_id, symbol, at)


def list_dividends(
    uow: UnitOfWork, *, symbol: str | None = None, year: int | None = None, account: str | None = None,
) -> list[DividendRecord]:
    """Dividends by pay date; `year` is the calendar year of the pay date in local time."""
    wanted = parse_symbol(symbol) if symbol is not None else None
    if year is not None and not 1 <= year <= 9998:
        raise StocksbotError(f"--year must be a year such as 2024, got {year}")
    with uow.reading() as conn:
        repos = Repositories(conn)
        query = select(DIVIDENDS).order_by(DIVIDENDS.c.paid_at, DIVIDENDS.c.id)
        if account is not None:
            query = query.where(DIVIDENDS.c.account_id == repos.accounts.require(account).id)
        if wanted is not None:
            query = query.where(DIVIDENDS.c.symbol == wanted)
        if year is not None:
            query = query.where(DIVIDENDS.c.paid_at >= _new_year(year), DIVIDENDS.c.paid_at < _new_year(year + 1))
        names = repos.accounts.names()
        return [dividend_record(row, names) for row in conn.execute(query)]


def _new_year(year: int) -> datetime:
    """The start of 1 January of `year`, local time, in UTC."""
    return datetime.combine(date(year, 1, 1), time()).astimezone().astimezone(timezone.utc)


def remove_dividend(uow: UnitOfWork, dividend_id: int) -> DividendRecord:
    """Remove a dividend and re-book its account's cash; a reinvested one (a DRIP) is refused."""
    with uow.transaction() as conn:
        row = conn.execute(select(DIVIDENDS).where(DIVIDENDS.c.id == dividend_id)).first()
        if row is None:
            raise StocksbotError(f"no dividend with id {dividend_id}")
        if row.reinvest_trade_id is not None:
            raise StocksbotError(f"dividend {dividend_id} was reinvested by trade {row.reinvest_trade_id}: "
                                 "a dividend with a reinvested buy cannot be removed")
        record = dividend_record(row, Repositories(conn).accounts.names())
        conn.execute(delete(MOVEMENTS).where(MOVEMENTS.c.kind == IMPLICIT_DEPOSIT,
                                             MOVEMENTS.c.dividend_id == dividend_id))
        conn.execute(delete(DIVIDENDS).where(DIVIDENDS.c.id == dividend_id))
        CashStore(conn).replay(row.account_id, row.currency)
        audit.log(conn, uow.command, "dividend.remove", dividend_id, old=record.to_json())
        return record
