"""Corrections: voiding a trade and amending one in place (`trade void`, `trade amend`; docs/ledger.md §19).

A wrong trade is never deleted: a void keeps it (with when and why) and leaves it out of
everything that reads trades, an amend changes its fields under the same id. Either way its
symbol is re-booked in the same transaction, with the same code as a back-dated trade
(`BookingStore.replay`): positions, lots, the realized P&L of later trades, realized shares
and closed lot portions, the cash of its account and currency, and the order it filled. What
the ledger cannot accept is refused with one line and nothing is written:

- a trade that does not exist, is voided already, or belongs to a closed account;
- voiding the buy of a dividend reinvestment (the dividend and its buy go together, §14.4),
  or moving it to another time;
- a change after which a sell that was covered by the long position would sell short
  (unless shorting is allowed), or a share transfer no longer has its shares;
- an order fill whose new quantity would overfill its order, or complete a cancelled or
  expired one.

Each correction writes its audit entry (`trade.void`, `trade.amend`) with the old and new
values of what changed, and returns the symbols whose realized P&L the re-booking changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, RowMapping, select, update

from stocksbot import settings
from stocksbot.errors import StocksbotError
from stocksbot.ledger import Booking, Fill, LedgerError, canonical, format_decimal, parse_decimal
from stocksbot.ledger.inputs import parse_note, parse_time
from stocksbot.ledger.numbers import ZERO
from stocksbot.ledger.orders import apply_fill
from stocksbot.storage import audit, rebookings, tables
from stocksbot.storage.booking import BookingError, BookingStore, lock_symbol
from stocksbot.storage.cash import CashStore
from stocksbot.storage.history import END_OF_TIME
from stocksbot.storage.records import RealizedChange, TradeRecord, trade_record
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import CLOSED, FILLED, PARTIALLY_FILLED, SELL, SUBMITTED

TRADES = tables.trades
ORDERS = tables.orders
DIVIDENDS = tables.dividends

#: The options of `trade amend`, in the order they are reported.
AMENDABLE = ("quantity", "price", "commission", "fees", "executed_at", "strategy", "note")
#: The fields whose change re-books the symbol (a note changes nothing the ledger derives).
_BOOKED = frozenset({"quantity", "price", "commission", "fees", "executed_at", "strategy"})
#: The fields whose change re-books the cash of the trade's account and currency.
_CASH = frozenset({"quantity", "price", "commission", "fees", "executed_at"})
#: The order states that follow from the fills; the others (cancelled, expired) stay as set.
_FILL_STATES = frozenset({SUBMITTED, PARTIALLY_FILLED, FILLED})

ACCOUNTS = tables.accounts
_TRADE = (
    select(TRADES, select(DIVIDENDS.c.id).where(DIVIDENDS.c.reinvest_trade_id == TRADES.c.id)
           .limit(1).scalar_subquery().label("reinvested_dividend"),
           select(ACCOUNTS.c.name).where(ACCOUNTS.c.id == TRADES.c.account_id, ACCOUNTS.c.status == CLOSED)
           .scalar_subquery().label("closed_account"))
)


@dataclass(frozen=True)
class Correction:
    """A corrected trade as it is now, what changed (field -> (old, new)) and what the re-booking changed."""

    trade: TradeRecord
    changes: dict[str, tuple[Any, Any]]
    rebooked: tuple[RealizedChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.trade.to_json(),
                "changes": {name: {"old": old, "new": new} for name, (old, new) in self.changes.items()},
                "rebooked": [change.to_json() for change in self.rebooked]}


def void_trade(uow: UnitOfWork, trade_id: int, reason: str | None = None, *,
               allow_short: bool | None = None) -> Correction:
    """Void a trade: keep it, marked, and re-book its symbol and cash without it (docs/ledger.md §19.1).

    `allow_short=None` follows `trading.allow_short`: without it, a later sell that the voided
    trade's shares covered is refused rather than turned into a short sale.
    """
    reason = parse_note(reason, field="reason")
    if reason is not None and not reason.strip():
        reason = None
    with uow.transaction() as conn:
        trade = _locked_trade(conn, trade_id)
        if trade["voided_at"] is not None:
            raise StocksbotError(f"trade {trade_id} is voided already (see `stocksbot trade list --all`)")
        if trade["reinvested_dividend"] is not None:
            raise StocksbotError(
                f"trade {trade_id} reinvested dividend {trade['reinvested_dividend']}: a reinvestment's buy "
                "cannot be voided on its own (amend its quantity or price instead)"
            )
        now = datetime.now(timezone.utc)
        changes = {"voided_at": (None, now), "void_reason": (None, reason)}
        rebooked = _rebook(conn, trade, "void", allow_short, _CASH, lambda: conn.execute(
            update(TRADES).where(TRADES.c.id == trade_id).values(voided_at=now, void_reason=reason, realized_pnl=None)
        ))
        audit.log(conn, uow.command, "trade.void", trade_id,
                     old={"voided_at": None, "void_reason": None}, new={"voided_at": now, "void_reason": reason},
                     trade_ids=[trade_id])
        return Correction(_record(conn, trade_id), changes, rebooked)


def amend_trade(
    uow: UnitOfWork,
    trade_id: int,
    *,
    quantity: str | Decimal | int | None = None,
    price: str | Decimal | int | None = None,
    commission: str | Decimal | int | None = None,
    fees: str | Decimal | int | None = None,
    executed_at: str | datetime | None = None,
    strategy: str | None = None,
    note: str | None = None,
    allow_short: bool | None = None,
) -> Correction:
    """Change a trade in place (same id) and re-book its symbol (docs/ledger.md §19.2).

    Options left out (None) keep what is stored; `strategy=""` and `note=""` clear them.
    """
    wanted: dict[str, Any] = {}
    if quantity is not None:
        wanted["quantity"] = parse_decimal(quantity, field="quantity", allow_zero=False)
    for name, value in (("price", price), ("commission", commission), ("fees", fees)):
        if value is not None:
            wanted[name] = parse_decimal(value, field=name)
    if executed_at is not None:
        wanted["executed_at"] = parse_time(executed_at, field="--at")
    if strategy is not None:
        wanted["strategy"] = strategy or None
    if note is not None:
        wanted["note"] = parse_note(note) or None
    if not wanted:
        raise StocksbotError("nothing to amend: give at least one of --quantity, --price, --commission, --fees, "
                             "--at, --strategy, --note")
    with uow.transaction() as conn:
        trade = _locked_trade(conn, trade_id)
        if trade["voided_at"] is not None:
            raise StocksbotError(f"trade {trade_id} is voided: a voided trade cannot be amended")
        repos = Repositories(conn)
        names = repos.strategies.names()
        old = {name: trade[name] for name in ("quantity", "price", "commission", "fees", "executed_at", "note")}
        old["strategy"] = names.get(trade["strategy_id"]) if trade["strategy_id"] is not None else None
        values: dict[str, Any] = {}
        if "strategy" in wanted:
            name = wanted["strategy"]
            values["strategy_id"] = repos.strategies.require_id(name) if name is not None else None
        values.update({name: value for name, value in wanted.items() if name != "strategy"})
        changes = {name: (old[name], _shown(wanted[name])) for name in AMENDABLE
                   if name in wanted and old[name] != wanted[name]}
        if not changes:
            raise StocksbotError(f"nothing to amend: trade {trade_id} already has these values")
        if "executed_at" in changes and trade["reinvested_dividend"] is not None:
            raise StocksbotError(f"trade {trade_id} reinvested dividend {trade['reinvested_dividend']}: "
                                 "it stays at the dividend's pay date")
        stored = {("strategy_id" if name == "strategy" else name): values["strategy_id" if name == "strategy" else name]
                  for name in changes}
        rebooked = _rebook(conn, trade, "amend", allow_short, changes.keys() & _CASH,
                           lambda: conn.execute(update(TRADES).where(TRADES.c.id == trade_id).values(**stored)),
                           booked=bool(changes.keys() & _BOOKED))
        audit.log(conn, uow.command, "trade.amend", trade_id,
                     old={name: before for name, (before, _after) in changes.items()},
                     new={name: after for name, (_before, after) in changes.items()}, trade_ids=[trade_id])
        return Correction(_record(conn, trade_id), changes, rebooked)


def _shown(value: Any) -> Any:
    """A new value as stored and shown: decimals in canonical form."""
    return canonical(value) if isinstance(value, Decimal) else value


def _locked_trade(conn: Connection, trade_id: int) -> RowMapping:
    """The trade's row (with the dividend it reinvested, if any), its symbol locked first and then
    the row itself: booking takes the symbol's lock before it writes trades, so this order never
    waits on a writer that waits on it."""
    symbol = conn.execute(select(TRADES.c.symbol).where(TRADES.c.id == trade_id)).scalar()
    if symbol is None:
        raise StocksbotError(f"no trade with id {trade_id} (see `stocksbot trade list --all`)")
    lock_symbol(conn, symbol)
    trade = conn.execute(_TRADE.where(TRADES.c.id == trade_id).with_for_update(of=TRADES)).mappings().one()
    if trade["closed_account"] is not None:  # a correction could leave it holding shares or cash
        raise StocksbotError(f"trade {trade_id} belongs to the closed account {trade['closed_account']!r}: "
                             "a closed account's trades are not corrected")
    return trade


def _rebook(
    conn: Connection, trade: RowMapping, verb: str, allow_short: bool | None, cash_fields: Any, write: Any, *,
    booked: bool = True,
) -> tuple[RealizedChange, ...]:
    """Apply `write` (the change to the trade's row) and re-book what it touches: the order the
    trade filled, the symbol (unless `booked` is False) and the cash (when `cash_fields`).
    A refusal names the trade that cannot be booked and why; the caller's transaction rolls back."""
    trade_id, symbol = trade["id"], trade["symbol"]
    method = str(settings.known_value("accounting.cost_basis", Repositories(conn).config.text("accounting.cost_basis")))
    if allow_short is None:
        allow_short = bool(settings.known_value("trading.allow_short",
                                                Repositories(conn).config.text("trading.allow_short")))
    store = BookingStore(conn, method)
    symbols = rebookings.symbols_rebooked_with(conn, symbol)
    before = rebookings.realized_by_symbol(conn, symbols)
    # Sells that sold short before the correction were accepted as such; any other sell must
    # still be covered by the long position afterwards (docs/ledger.md §19.3).
    excused = set() if allow_short or not booked else _short_sales(store, symbol)
    write()
    if trade["order_id"] is not None:
        _refill_order(conn, trade["order_id"], trade_id, verb)
    if booked:
        try:
            store.replay(symbol, new_trade_ids=_AllBut(excused), allow_short=allow_short)
        except BookingError as exc:
            raise StocksbotError(f"cannot {verb} trade {trade_id}: {_failure(conn, exc, trade_id)}") from None
    if cash_fields:
        CashStore(conn).replay(trade["account_id"], trade["currency"])
    return rebookings.changes(before, rebookings.realized_by_symbol(conn, symbols))


class _AllBut:
    """Every trade id except `excused`: the trades that must pass the allow-short rule in a replay."""

    def __init__(self, excused: set[int]) -> None:
        self.excused = excused

    def __contains__(self, trade_id: object) -> bool:
        return trade_id not in self.excused


def _short_sales(store: BookingStore, symbol: str) -> set[int]:
    """The sells of `symbol` that sold more than the long position they met (in memory, as booked now)."""
    shorted: set[int] = set()

    def seen(_account_id: int, fill: Fill, booking: Booking) -> None:
        if fill.side == SELL and sum((portion.quantity for portion in booking.closed), ZERO) < fill.quantity:
            shorted.add(fill.trade_id)  # type: ignore[arg-type]

    store.replay_window(symbol, END_OF_TIME, inclusive=True, on_fill=seen)
    return shorted


def _failure(conn: Connection, exc: BookingError, corrected: int) -> str:
    """Why a re-booking failed, naming the trade it refused when that is another trade."""
    if not exc.trade_id or exc.trade_id == corrected:
        return str(exc)
    row = conn.execute(select(TRADES.c.side, TRADES.c.quantity, TRADES.c.symbol)
                       .where(TRADES.c.id == exc.trade_id)).one()
    return (f"then trade {exc.trade_id} ({row.side} {format_decimal(row.quantity)} {row.symbol}) would be refused: "
            f"{exc}")


def _refill_order(conn: Connection, order_id: int, trade_id: int, verb: str) -> None:
    """Recompute an order's filled quantity, average fill price and status from its live fills,
    in the order they were recorded (docs/ledger.md §7.4): what the order would show had the
    corrected fill been recorded this way, or not at all."""
    order = conn.execute(select(ORDERS).where(ORDERS.c.id == order_id).with_for_update()).mappings().one()
    fills = conn.execute(select(TRADES.c.quantity, TRADES.c.price)
                         .where(TRADES.c.order_id == order_id, tables.LIVE_TRADE).order_by(TRADES.c.id)).all()
    filled, average = ZERO, None
    for quantity, price in fills:
        try:
            result = apply_fill(order["quantity"], filled, average, SUBMITTED, quantity, price)
        except LedgerError as exc:
            raise StocksbotError(f"cannot {verb} trade {trade_id}: it fills order {order_id}: {exc}") from None
        filled, average = result.filled_quantity, result.avg_fill_price
    status = order["status"]
    complete = filled == order["quantity"]
    if status in _FILL_STATES:
        status = FILLED if complete else PARTIALLY_FILLED if filled else SUBMITTED
    elif complete:
        raise StocksbotError(f"cannot {verb} trade {trade_id}: it would complete order {order_id}, which is {status}")
    conn.execute(update(ORDERS).where(ORDERS.c.id == order_id).values(
        filled_quantity=filled, avg_fill_price=average, status=status, updated_at=datetime.now(timezone.utc)))


def _record(conn: Connection, trade_id: int) -> TradeRecord:
    repos = Repositories(conn)
    row = conn.execute(select(TRADES).where(TRADES.c.id == trade_id)).one()
    return trade_record(row, repos.strategies.names(), repos.accounts.names())
