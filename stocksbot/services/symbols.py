"""Instruments: what is known about a symbol, its currency, name and ISIN (docs/ledger.md §15.1).

A symbol's first trade gives it an instrument in its account's currency (services/trades.py);
`symbol set` creates or changes one beforehand, so that its trades settle in the currency it
names. The currency of a symbol that has trades cannot change: they settled in it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from stocksbot.errors import StocksbotError
from stocksbot.ledger import inputs
from stocksbot.ledger.inputs import parse_currency, parse_symbol
from stocksbot.storage import audit, tables
from stocksbot.storage.records import InstrumentRecord
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import ISIN_LENGTH

INSTRUMENTS = tables.instruments
TRADES = tables.trades
NAME_MAX = 200
_ISIN_PATTERN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")


def isin_check_digit_ok(isin: str) -> bool:
    """The Luhn check of an ISIN: letters become two digits (A = 10 ... Z = 35), and every second
    digit from the right, starting left of the check digit, is doubled."""
    digits = "".join(str(int(char, 36)) for char in isin)
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return total % 10 == 0


def parse_isin(text: str) -> str | None:
    """An ISIN, upper-cased: 2 letters, 9 letters or digits, a check digit (ISO 6166). Empty: none."""
    isin = text.strip().upper() if isinstance(text, str) else ""
    if isinstance(text, str) and not isin:
        return None
    if len(isin) != ISIN_LENGTH or not _ISIN_PATTERN.fullmatch(isin):
        raise StocksbotError(
            f"invalid ISIN {text!r}: use {ISIN_LENGTH} characters, a two-letter country code, 9 letters or digits "
            "and a check digit (e.g. US0378331005)"
        )
    if not isin_check_digit_ok(isin):
        raise StocksbotError(f"invalid ISIN {text!r}: its check digit does not match (e.g. US0378331005)")
    return isin


def parse_name(text: str) -> str | None:
    """An instrument's name: 1-200 printable characters (`inputs.parse_name`), kept as typed. Empty: none."""
    if isinstance(text, str) and not text.strip():
        return None
    return inputs.parse_name(text, what="name", limit=NAME_MAX)


def instrument_record(row: Any) -> InstrumentRecord:
    return InstrumentRecord(symbol=row.symbol, currency=row.currency, name=row.name, isin=row.isin)


def _row(conn: Connection, symbol: str) -> Any:
    return conn.execute(select(INSTRUMENTS).where(INSTRUMENTS.c.symbol == symbol)).first()


def _has_trades(conn: Connection, symbol: str) -> bool:
    return conn.execute(select(TRADES.c.id).where(TRADES.c.symbol == symbol, tables.LIVE_TRADE).limit(1)).first() \
        is not None


def set_symbol(
    uow: UnitOfWork, symbol: str, *, currency: str | None = None, name: str | None = None, isin: str | None = None
) -> InstrumentRecord:
    """Create or update the instrument of SYMBOL; options left out (None) keep what is stored.

    An empty `name` or `isin` clears it. A new instrument without `currency` takes the currency
    of the default account (the one its first trade would give it without --account). Changing
    the currency of a symbol that has trades is refused; an ISIN belongs to one symbol.
    """
    symbol = parse_symbol(symbol)
    values: dict[str, Any] = {}
    if currency is not None:
        values["currency"] = parse_currency(currency)
    if name is not None:
        values["name"] = parse_name(name)
    if isin is not None:
        values["isin"] = parse_isin(isin)
    with uow.transaction() as conn:
        from stocksbot.storage.booking import lock_symbol

        lock_symbol(conn, symbol)  # a trade of the symbol being recorded now is either seen or waits
        stored = _row(conn, symbol)
        if values.get("isin") is not None:
            owner = conn.execute(select(INSTRUMENTS.c.symbol).where(INSTRUMENTS.c.isin == values["isin"])).scalar()
            if owner is not None and owner != symbol:
                raise StocksbotError(f"ISIN {values['isin']} already belongs to {owner}: an ISIN names one symbol")
        new_currency = values.get("currency")
        if stored is not None and new_currency is not None and new_currency != stored.currency \
                and _has_trades(conn, symbol):
            raise StocksbotError(
                f"cannot change the currency of {symbol} from {stored.currency} to {new_currency}: "
                f"its trades settled in {stored.currency}"
            )
        try:
            if stored is None:
                if new_currency is None:
                    values["currency"] = Repositories(conn).accounts.default().currency
                conn.execute(insert(INSTRUMENTS).values(symbol=symbol, **values))
            elif values:
                conn.execute(update(INSTRUMENTS).where(INSTRUMENTS.c.symbol == symbol).values(**values))
        except IntegrityError:  # a concurrent command stored the symbol or the ISIN first
            raise StocksbotError(f"{symbol} was changed by another command meanwhile: try again") from None
        record = instrument_record(_row(conn, symbol))
        if stored is None:
            audit.log(conn, uow.command, "symbol.set", symbol, new=record.to_json())
        else:
            old, new = audit.changes(instrument_record(stored).to_json(), record.to_json())
            audit.log(conn, uow.command, "symbol.set", symbol, old=old, new=new)
        return record


def list_symbols(uow: UnitOfWork) -> list[InstrumentRecord]:
    """Every instrument, by symbol."""
    with uow.reading() as conn:
        return [instrument_record(row) for row in conn.execute(select(INSTRUMENTS).order_by(INSTRUMENTS.c.symbol))]


def get_symbol(uow: UnitOfWork, symbol: str) -> InstrumentRecord:
    """The instrument of SYMBOL; refused when it has none."""
    symbol = parse_symbol(symbol)
    with uow.reading() as conn:
        row = _row(conn, symbol)
    if row is None:
        raise StocksbotError(
            f"unknown symbol {symbol!r}: it has no trades and was never set "
            f"(see `stocksbot symbol list`, or `stocksbot symbol set {symbol} --currency C`)"
        )
    return instrument_record(row)
