"""Cash: deposits, withdrawals, income and costs, transfers and conversions; balances and the list.

Every function parses and checks its input first (bad input writes nothing), then works in
one transaction: the movement rows are stored, then booked into the cash projection of their
(account, currency) by the cash store (`storage/cash.py`), which derives balances and
implicit deposits. The rules are docs/ledger.md §13.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from stocksbot.errors import StocksbotError
from stocksbot.ledger import format_decimal, multiply, parse_decimal
from stocksbot.ledger.cash import DIVIDEND, MOVEMENT, TRADE, dividend_amount, trade_amount
from stocksbot.ledger.inputs import parse_currency, parse_note, parse_range_end, parse_time
from stocksbot.storage import audit, tables
from stocksbot.storage.cash import CashStore, lock_cash, movement_event
from stocksbot.storage.records import CashBalanceRecord, CashMovementRecord
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import CLOSED, COST_CASH_KINDS, EXTERNAL_CASH_KINDS, IMPLICIT_DEPOSIT, INCOME_CASH_KINDS

Number = str | Decimal | int
MOVEMENTS = tables.cash_movements
BALANCES = tables.cash_balances
TRADES = tables.trades
DIVIDENDS = tables.dividends
#: What `record_cash` records; withdrawals, fees and taxes are stored negative.
RECORDED_KINDS: tuple[str, ...] = EXTERNAL_CASH_KINDS + INCOME_CASH_KINDS + COST_CASH_KINDS
OUTFLOW_KINDS = frozenset({"withdraw", "fee", "tax"})
_INSERT = insert(MOVEMENTS).returning(MOVEMENTS.c.id)


def _amount(value: Number, field: str = "amount") -> Decimal:
    return parse_decimal(value, field=field, allow_zero=False)


def _moment(at: str | datetime | None) -> datetime:
    return parse_time(at, field="--at") if at is not None else datetime.now(timezone.utc)


def open_account(conn: Connection, name: str | None) -> Any:
    """The row of the account named (the default one when None), which must be open to be written to."""
    account = Repositories(conn).accounts.chosen(name)
    if account.status == CLOSED:
        raise StocksbotError(f"account {account.name!r} is closed: reopen it or use another account")
    return account


def _store(conn: Connection, account: Any, kind: str, amount: Decimal, currency: str, at: datetime,
           note: str | None, pair_id: int | None = None) -> CashMovementRecord:
    values = {"account_id": account.id, "kind": kind, "amount": amount, "currency": currency, "at": at, "note": note,
              "pair_id": pair_id, "created_at": datetime.now(timezone.utc)}
    movement_id = int(conn.execute(_INSERT, values).scalar_one())
    return CashMovementRecord(id=movement_id, account=account.name, kind=kind, amount=amount, currency=currency,
                              at=at, note=note, trade_id=None, dividend_id=None)


def _settle(conn: Connection, account: Any, records: list[CashMovementRecord]) -> None:
    """Book stored movements of one account into its cash, per currency."""
    store = CashStore(conn)
    for currency in sorted({record.currency for record in records}):
        events = [movement_event(r.id or 0, r.amount, r.at) for r in records if r.currency == currency]
        store.settle(account.id, currency, events, margin=bool(account.margin))


def record_cash(
    uow: UnitOfWork,
    kind: str,
    amount: Number,
    *,
    currency: str | None = None,
    account: str | None = None,
    at: str | datetime | None = None,
    note: str | None = None,
) -> CashMovementRecord:
    """Record a deposit, withdrawal, interest, fee or tax of a positive AMOUNT (stored negative for
    withdrawals, fees and taxes) in the account's currency unless `currency` says otherwise.

    A withdrawal larger than a non-margin account's balance at its time is refused.
    """
    if kind not in RECORDED_KINDS:
        raise StocksbotError(f"cash kind must be one of {', '.join(RECORDED_KINDS)}, got {kind!r}")
    value = _amount(amount)
    note = parse_note(note)
    code = parse_currency(currency) if currency is not None else None
    moment = _moment(at)
    with uow.transaction() as conn:
        chosen = open_account(conn, account)
        code = code or chosen.currency
        signed = value.copy_negate() if kind in OUTFLOW_KINDS else value
        record = _store(conn, chosen, kind, signed, code, moment, note)
        if kind == "withdraw" and not chosen.margin:
            lock_cash(conn, [(chosen.id, code)])
            key = movement_event(record.id or 0, signed, moment)
            available = CashStore(conn).balance_before(chosen.id, code, False, key)
            if value > available:
                raise StocksbotError(
                    f"cannot withdraw {format_decimal(value)} {code} from account {chosen.name!r}: its {code} "
                    f"balance at that time is {format_decimal(available)}"
                )
        _settle(conn, chosen, [record])
        audit.log(conn, uow.command, f"cash.{kind}", record.id, new=record.to_json())
        return record


def deposit(uow: UnitOfWork, amount: Number, **options: Any) -> CashMovementRecord:
    """Record a deposit (see `record_cash` for the options)."""
    return record_cash(uow, "deposit", amount, **options)


def withdraw(uow: UnitOfWork, amount: Number, **options: Any) -> CashMovementRecord:
    """Record a withdrawal, refused beyond a non-margin account's balance (see `record_cash`)."""
    return record_cash(uow, "withdraw", amount, **options)


def transfer_cash(
    uow: UnitOfWork,
    amount: Number,
    *,
    from_account: str,
    to_account: str,
    currency: str | None = None,
    at: str | datetime | None = None,
    note: str | None = None,
) -> list[CashMovementRecord]:
    """Move cash between two own accounts: a transfer_out and a transfer_in row sharing `pair_id`.

    The currency defaults to the sending account's. A shortfall of a non-margin sender is an
    implicit deposit, as for any debit.
    """
    value = _amount(amount)
    note = parse_note(note)
    code = parse_currency(currency) if currency is not None else None
    moment = _moment(at)
    with uow.transaction() as conn:
        source, target = open_account(conn, from_account), open_account(conn, to_account)
        if source.id == target.id:
            raise StocksbotError("--from and --to must be two different accounts")
        code = code or source.currency
        out = _store(conn, source, "transfer_out", value.copy_negate(), code, moment, note)
        conn.execute(update(MOVEMENTS).where(MOVEMENTS.c.id == out.id).values(pair_id=out.id))
        came = _store(conn, target, "transfer_in", value, code, moment, note, pair_id=out.id)
        lock_cash(conn, [(source.id, code), (target.id, code)])
        _settle(conn, source, [out])
        _settle(conn, target, [came])
        audit.log(conn, uow.command, "cash.transfer", out.id, new={"movements": [out.to_json(), came.to_json()]})
        return [out, came]


def convert_cash(
    uow: UnitOfWork,
    amount: Number,
    from_currency: str,
    to_currency: str,
    *,
    rate: Number,
    fee: Number | None = None,
    account: str | None = None,
    at: str | datetime | None = None,
    note: str | None = None,
) -> list[CashMovementRecord]:
    """Exchange AMOUNT of one currency for AMOUNT x RATE of another in one account.

    RATE is units of TO per unit of FROM. Stored as a convert_out of AMOUNT, a `fee` row of FEE
    (in FROM, when given) and a convert_in of exactly AMOUNT x RATE, all sharing `pair_id`.
    """
    value = _amount(amount)
    note = parse_note(note)
    source, target = parse_currency(from_currency, field="FROM currency"), parse_currency(to_currency,
                                                                                           field="TO currency")
    if source == target:
        raise StocksbotError(f"cannot convert {source} into itself: give two different currencies")
    exchange = _amount(rate, "--rate")
    cost = parse_decimal(fee, field="--fee") if fee is not None else Decimal(0)
    moment = _moment(at)
    with uow.transaction() as conn:
        chosen = open_account(conn, account)
        out = _store(conn, chosen, "convert_out", value.copy_negate(), source, moment, note)
        conn.execute(update(MOVEMENTS).where(MOVEMENTS.c.id == out.id).values(pair_id=out.id))
        records = [out]
        if cost:
            records.append(_store(conn, chosen, "fee", cost.copy_negate(), source, moment, note, pair_id=out.id))
        records.append(_store(conn, chosen, "convert_in", multiply(value, exchange), target, moment, note,
                              pair_id=out.id))
        lock_cash(conn, [(chosen.id, source), (chosen.id, target)])
        _settle(conn, chosen, records)
        audit.log(conn, uow.command, "cash.convert", out.id, new={"movements": [r.to_json() for r in records]})
        return records


def cash_balances(uow: UnitOfWork, *, account: str | None = None) -> list[CashBalanceRecord]:
    """Each account's cash per currency; an account with no cash event shows 0 in its currency."""
    with uow.reading() as conn:
        repos = Repositories(conn)
        accounts = [repos.accounts.require(account)] if account is not None else list(repos.accounts.list())
        query = select(BALANCES).order_by(BALANCES.c.account_id, BALANCES.c.currency)
        if account is not None:
            query = query.where(BALANCES.c.account_id == accounts[0].id)
        stored: dict[int, list[Any]] = {}
        for row in conn.execute(query):
            stored.setdefault(row.account_id, []).append(row)
        records = []
        for chosen in sorted(accounts, key=lambda row: row.name):
            rows = stored.get(chosen.id)
            if not rows:
                records.append(CashBalanceRecord(account=chosen.name, currency=chosen.currency, balance=Decimal(0)))
            records += [CashBalanceRecord(account=chosen.name, currency=row.currency, balance=row.balance)
                        for row in rows or ()]
        return records


def list_cash(
    uow: UnitOfWork,
    *,
    account: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> list[CashMovementRecord]:
    """Every change of cash in booking order: recorded movements, implicit deposits (each just before
    the event that needed it), trade settlements (kind `trade`) and dividends (kind `dividend`)."""
    since_at = parse_time(since, field="--since") if since is not None else None
    until_at = parse_range_end(until) if until is not None else None
    with uow.reading() as conn:
        repos = Repositories(conn)
        account_id = repos.accounts.require(account).id if account is not None else None
        names = repos.accounts.names()
        rows: list[tuple[tuple[Any, ...], CashMovementRecord]] = []

        def within(query: Any, table: Any, moment: Any) -> Any:
            if account_id is not None:
                query = query.where(table.c.account_id == account_id)
            if since_at is not None:
                query = query.where(moment >= since_at)
            if until_at is not None:
                query = query.where(moment <= until_at)
            return query

        for m in conn.execute(within(select(MOVEMENTS), MOVEMENTS, MOVEMENTS.c.at)):
            if m.kind == IMPLICIT_DEPOSIT:  # just before the debit that needed it
                cause = (TRADE, m.trade_id) if m.trade_id is not None else (DIVIDEND, m.dividend_id) \
                    if m.dividend_id is not None else (MOVEMENT, -1)
                key: tuple[Any, ...] = (m.at, True, *cause, 0, m.id)
            else:
                key = (m.at, m.amount < 0, MOVEMENT, m.id, 1, 0)
            rows.append((key, CashMovementRecord(id=m.id, account=names[m.account_id], kind=m.kind, amount=m.amount,
                                                 currency=m.currency, at=m.at, note=m.note, trade_id=m.trade_id,
                                                 dividend_id=m.dividend_id)))
        trades = select(TRADES.c.id, TRADES.c.account_id, TRADES.c.currency, TRADES.c.side, TRADES.c.symbol,
                        TRADES.c.quantity, TRADES.c.price, TRADES.c.commission, TRADES.c.fees, TRADES.c.executed_at)
        for t in conn.execute(within(trades.where(tables.LIVE_TRADE), TRADES, TRADES.c.executed_at)):
            amount = trade_amount(t.side, t.quantity, t.price, t.commission, t.fees)
            note = f"{t.side} {format_decimal(t.quantity)} {t.symbol} @ {format_decimal(t.price)}"
            rows.append(((t.executed_at, amount < 0, TRADE, t.id, 1, 0), CashMovementRecord(
                id=None, account=names[t.account_id], kind="trade", amount=amount, currency=t.currency,
                at=t.executed_at, note=note, trade_id=t.id, dividend_id=None)))
        dividends = select(DIVIDENDS.c.id, DIVIDENDS.c.account_id, DIVIDENDS.c.currency, DIVIDENDS.c.symbol,
                           DIVIDENDS.c.gross, DIVIDENDS.c.tax, DIVIDENDS.c.fee, DIVIDENDS.c.paid_at, DIVIDENDS.c.note)
        for d in conn.execute(within(dividends, DIVIDENDS, DIVIDENDS.c.paid_at)):
            amount = dividend_amount(d.gross, d.tax, d.fee)
            rows.append(((d.paid_at, amount < 0, DIVIDEND, d.id, 1, 0), CashMovementRecord(
                id=None, account=names[d.account_id], kind="dividend", amount=amount, currency=d.currency,
                at=d.paid_at, note=d.note or f"{d.symbol} dividend", trade_id=None, dividend_id=d.id)))
        rows.sort(key=lambda pair: pair[0])
        return [record for _key, record in rows]
