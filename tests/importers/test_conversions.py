"""Booking conversions and refunds from a statement (docs/brokers.md §4.5, §4.7), on SQLite and PostgreSQL:
a conversion is stored exactly as `cash convert` stores one, keyed so a re-import skips it; a refund
is a credit of its cost kind, never a deposit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from stocksbot.csvfiles import RowErrors
from stocksbot.importers.entries import CashEntry, ConversionEntry, TradeEntry
from stocksbot.services.broker_imports import content, fingerprint
from stocksbot.storage import tables
from tests.importers.helpers import book, utc

D = Decimal
MOVEMENTS = tables.cash_movements
AT = "2024-03-01T14:00:00"


def movements(storage: Any, account: str) -> list[tuple[str, Decimal, str, str | None, bool]]:
    """An account's stored movements: kind, amount, currency, external id, and whether it shares the
    pair id of the account's first row (the conversion's convert_out)."""
    with storage.reading() as conn:
        account_id = conn.execute(select(tables.accounts.c.id).where(tables.accounts.c.name == account)).scalar_one()
        rows = conn.execute(select(MOVEMENTS).where(MOVEMENTS.c.account_id == account_id,
                                                    MOVEMENTS.c.kind != "implicit_deposit")
                            .order_by(MOVEMENTS.c.id)).all()
    first = rows[0].id if rows else None
    return [(r.kind, r.amount, r.currency, r.external_id, r.pair_id == first) for r in rows]


def balances(storage: Any, account: str) -> dict[str, Decimal]:
    return {b.currency: b.balance for b in storage.cash_balances(account=account)}


def test_a_conversion_is_stored_as_cash_convert_stores_it_and_a_reimport_skips_it(storage) -> None:
    storage.add_account("manual")
    storage.convert_cash("1250", "USD", "GBP", rate="0.8", fee="2", account="manual", at=AT)
    entry = ConversionEntry(line=7, at=utc(AT), sold=D("1250"), sold_currency="usd", bought=D("1000"),
                            bought_currency="GBP", fee=D("2"), key="ibkr:5004", note="IBKR buy GBP.USD")
    result = book(storage, [entry], account="imported")
    # Three movements, as `cash convert` writes: out, fee (in the sold currency), in; one pair id.
    assert result.imported == {"trades": 0, "dividends": 0, "cash": 3, "splits": 0, "prices": 0}
    assert movements(storage, "imported") == [
        ("convert_out", D("-1250"), "USD", "ibkr:5004", True),
        ("fee", D("-2"), "USD", "ibkr:5004:fee", True),
        ("convert_in", D("1000"), "GBP", "ibkr:5004:in", True),
    ]
    manual = movements(storage, "manual")
    assert [(kind, amount, currency, paired) for kind, amount, currency, _key, paired in manual] == [
        (kind, amount, currency, paired) for kind, amount, currency, _key, paired in movements(storage, "imported")]
    # Nothing was held: the USD debit of 1252 is an implicit deposit, the GBP is the conversion's.
    assert balances(storage, "imported") == balances(storage, "manual") == {"USD": D(0), "GBP": D(1000)}
    again = book(storage, [entry], account="imported")
    assert sum(again.imported.values()) == 0
    assert again.skipped_lines() == ["line 7: skipped: already imported (ibkr:5004)"]
    assert len(movements(storage, "imported")) == 3
    assert storage.check() == []


def test_a_conversion_pays_a_foreign_buy_so_each_currency_is_the_brokers(storage) -> None:
    items = [CashEntry(line=2, at=utc("2024-01-02T09:00:00"), kind="deposit", amount=D(500), currency="EUR"),
             # Listed before the conversion that pays it: booking order puts the credit first.
             TradeEntry(line=3, at=utc(AT), side="buy", symbol="MSFT", quantity=D("0.5"), price=D(370),
                        fees=D("0.16425"), currency="USD"),
             ConversionEntry(line=3, at=utc(AT), sold=D("169.1"), sold_currency="EUR", bought=D("185.16425"),
                             bought_currency="USD"),
             ConversionEntry(line=4, at=utc("2024-03-02T09:00:00"), sold=D("100"), sold_currency="EUR",
                             bought=D("108.5"), bought_currency="USD", fee=D("0.5"), fee_currency="USD")]
    result = book(storage, items, account="t212")
    assert result.imported["cash"] == 1 + 2 + 3
    # EUR: 500 - 169.1 - 100; USD: 185.16425 - 185.16425 (the buy) + 108.5 - 0.5 (a fee in the bought currency).
    assert balances(storage, "t212") == {"EUR": D("230.9"), "USD": D(108)}
    with storage.reading() as conn:
        implicit = conn.execute(select(MOVEMENTS.c.id).where(MOVEMENTS.c.kind == "implicit_deposit")).all()
    assert implicit == []
    keys = [key for *_rest, key, _paired in movements(storage, "t212")]
    assert all(key and key.startswith("fp:") for key in keys)
    again = book(storage, items, account="t212")
    assert sum(again.imported.values()) == 0 and len(again.skipped) == 4
    assert balances(storage, "t212") == {"EUR": D("230.9"), "USD": D(108)}
    assert storage.check() == []


def test_a_refund_is_a_credit_of_its_cost_kind_not_a_deposit(storage) -> None:
    items = [CashEntry(line=2, at=utc("2024-01-02T00:00:00"), kind="fee", amount=D("1.5"), currency="USD",
                       key="ibkr:7007"),
             CashEntry(line=3, at=utc("2024-01-03T00:00:00"), kind="fee", amount=D("1.5"), currency="USD",
                       key="ibkr:7010", refund=True, note="refund: MARKET DATA FEE"),
             CashEntry(line=4, at=utc("2024-01-04T00:00:00"), kind="tax", amount=D("3.9"), currency="USD",
                       refund=True, note="refund of withheld tax")]
    result = book(storage, items)
    assert result.imported["cash"] == 3
    kinds = [(kind, amount) for kind, amount, *_rest in movements(storage, "main")]
    assert kinds == [("fee", D("-1.5")), ("fee", D("1.5")), ("tax", D("3.9"))]
    # The fee (paid by an implicit deposit of 1.5), then 1.5 + 3.9 credited.
    assert balances(storage, "main") == {"USD": D("5.4")}
    assert sum(again for again in book(storage, items).imported.values()) == 0
    assert storage.check() == []


def test_refund_changes_the_fingerprint_only_when_set() -> None:
    plain = CashEntry(line=2, at=utc(AT), kind="fee", amount=D(2), currency="EUR")
    refund = CashEntry(line=2, at=utc(AT), kind="fee", amount=D(2), currency="EUR", refund=True)
    # The content of a row without refund is what it was before refunds existed: stored keys still match.
    assert content(plain, "main") == ("cash", "2024-03-01T14:00:00+00:00", "main", "fee", "2", "EUR")
    assert fingerprint(content(plain, "main"), 0) != fingerprint(content(refund, "main"), 0)
    conversion = ConversionEntry(line=2, at=utc(AT), sold=D("100.0"), sold_currency="EUR", bought=D("108.5"),
                                 bought_currency="USD")
    assert content(conversion, "main")[:1] == ("conversion",)
    assert content(conversion, "main") == content(
        ConversionEntry(line=9, at=utc(AT), sold=D(100), sold_currency="EUR", bought=D("108.50"),
                        bought_currency="USD"), "main")


@pytest.mark.parametrize("entry, message", [
    (ConversionEntry(line=2, at=utc(AT), sold=D(1), sold_currency="EUR", bought=D(1), bought_currency="eur"),
     "line 2: cannot convert EUR into itself"),
    (ConversionEntry(line=2, at=utc(AT), sold=D(0), sold_currency="EUR", bought=D(1), bought_currency="USD"),
     "line 2: amount sold must be greater than 0"),
    (ConversionEntry(line=2, at=utc(AT), sold=D(1), sold_currency="EUR", bought=D(1), bought_currency="USD",
                     fee=D(-1)), "line 2: conversion fee must be 0 or more"),
    (ConversionEntry(line=2, at=utc(AT), sold=D(1), sold_currency="EUR", bought=D(1), bought_currency="US"),
     "line 2: "),
    (ConversionEntry(line=2, at=utc(AT), sold=D(1), sold_currency="EUR", bought=D(1), bought_currency="USD",
                     key="k" * 98), "line 2: the broker's id 'kkkkkkkkkkkkkkkkkkkk'... is longer than 96"),
    (CashEntry(line=2, at=utc(AT), kind="deposit", amount=D(1), refund=True),
     "line 2: only a fee or tax can be a refund, got 'deposit'"),
])
def test_bad_conversions_and_refunds_are_refused_and_write_nothing(storage, entry: Any, message: str) -> None:
    with pytest.raises(RowErrors) as caught:
        book(storage, [entry])
    assert caught.value.errors[0].startswith(message)
    with storage.reading() as conn:
        assert conn.execute(select(MOVEMENTS.c.id)).all() == []
