"""Booking a statement's entries (docs/brokers.md §3-§7), through the service on SQLite and PostgreSQL:
all or nothing, idempotency, tax pairing, splits by shares added, ISINs, rates and accounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from stocksbot.csvfiles import RowErrors
from stocksbot.errors import StocksbotError
from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    RateEntry,
    Skipped,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.services.broker_imports import content, fingerprint
from stocksbot.storage import tables
from tests.importers.helpers import book, utc

D = Decimal
COUNTED = (tables.trades, tables.dividends, tables.cash_movements, tables.splits, tables.price_bars,
           tables.accounts, tables.positions)


def counts(storage: Any) -> list[int]:
    with storage.reading() as conn:
        return [int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in COUNTED]


def buy(line: int, at: str, symbol: str, qty: str, price: str, **more: Any) -> TradeEntry:
    return TradeEntry(line=line, at=utc(at), side="buy", symbol=symbol, quantity=D(qty), price=D(price), **more)


def sell(line: int, at: str, symbol: str, qty: str, price: str, **more: Any) -> TradeEntry:
    return TradeEntry(line=line, at=utc(at), side="sell", symbol=symbol, quantity=D(qty), price=D(price), **more)


def holdings(storage: Any) -> dict[tuple[str, str], Decimal]:
    return {(p.account, p.symbol): p.quantity for p in storage.list_positions()}


def test_fingerprints_are_deterministic_short_and_count_occurrences() -> None:
    entry = buy(2, "2024-01-02T15:00:00", "AAPL", "10", "150.25")
    same = buy(9, "2024-01-02T15:00:00", "AAPL", "10.00", "150.250")
    assert content(entry, "main") == content(same, "main")  # the line does not count, 10 is 10.00
    first, second = fingerprint(content(entry, "main"), 0), fingerprint(content(entry, "main"), 1)
    assert first != second and first == fingerprint(content(same, "main"), 0)
    assert first.startswith("fp:") and len(first) == 43
    assert fingerprint(content(entry, "other"), 0) != first
    assert fingerprint(content(buy(2, "2024-01-02T15:00:01", "AAPL", "10", "150.25"), "main"), 0) != first


def test_entries_newest_first_are_booked_in_time_order_and_reimport_changes_nothing(storage) -> None:
    items = [
        sell(2, "2024-03-01T15:00:00", "AAPL", "5", "170", key="x:3"),
        buy(3, "2024-02-01T15:00:00", "AAPL", "5", "160"),
        buy(4, "2024-02-01T15:00:00", "AAPL", "5", "160"),  # an identical fill: a second trade
        Skipped(5, "total row"),
    ]
    result = book(storage, items)
    assert result.imported == {"trades": 3, "dividends": 0, "cash": 0, "splits": 0, "prices": 0}
    assert result.skipped_lines() == ["line 5: skipped: total row"]
    assert holdings(storage) == {("main", "AAPL"): D(5)}
    (closing,) = [t for t in storage.list_trades() if t.side == "sell"]
    assert closing.realized_pnl == D(50) and closing.external_id == "x:3"
    before = counts(storage)
    again = book(storage, items)
    assert again.imported["trades"] == 0 and len(again.skipped) == 4
    assert [why for _line, why in sorted(again.skipped)][:3] == [
        "already imported (x:3)", *(f"already imported ({t.external_id})" for t in storage.list_trades()[:2])]
    assert counts(storage) == before
    assert storage.check() == []


def test_a_refused_trade_writes_nothing_and_allow_short_lets_it_through(storage) -> None:
    storage.deposit("100", at="2024-01-01")
    before = counts(storage)
    items = [CashEntry(line=2, at=utc("2024-01-02T00:00:00"), kind="deposit", amount=D(50)),
             buy(3, "2024-01-03T15:00:00", "MSFT", "1", "10"),
             sell(4, "2024-01-04T15:00:00", "MSFT", "3", "10"),
             DividendEntry(line=5, paid_at=utc("2024-01-05T00:00:00"), symbol="MSFT", gross=D(1))]
    with pytest.raises(RowErrors) as caught:
        book(storage, items)
    assert caught.value.errors == ["line 4: cannot sell 3 MSFT: long position is 1 (use --allow-short to sell short)"]
    assert counts(storage) == before
    result = book(storage, items, allow_short=True)
    assert result.imported == {"trades": 2, "dividends": 1, "cash": 1, "splits": 0, "prices": 0}
    assert [(p.side, p.quantity) for p in storage.list_positions()] == [("short", D(2))]
    assert storage.check() == []


def test_dry_run_books_everything_and_writes_nothing(storage) -> None:
    before = counts(storage)
    result = book(storage, [buy(2, "2024-01-03T15:00:00", "MSFT", "1", "10", account="ira", currency="EUR"),
                            RateEntry(line=3, at=utc("2024-01-03T00:00:00"), base="EUR", quote="USD",
                                      rate=D("1.1"))], dry_run=True)
    assert result.dry_run and result.imported["trades"] == 1 and result.imported["prices"] == 1
    assert result.created_accounts == ("ira",)
    assert counts(storage) == before


def test_unknown_actions_refuse_unless_skipped_and_problems_are_all_reported(storage) -> None:
    items = [buy(2, "2024-01-03T15:00:00", "MSFT", "1", "10"), Unknown(3, "Journal")]
    with pytest.raises(RowErrors, match=r"line 3: unknown action 'Journal' .*--skip-unknown"):
        book(storage, items)
    assert counts(storage)[0] == 0
    result = book(storage, items, skip_unknown=True)
    assert result.skipped_lines() == ["line 3: skipped: unknown action 'Journal'"]
    with pytest.raises(RowErrors) as caught:
        book(storage, [buy(2, "2024-01-03T15:00:00", "bad symbol!", "1", "10"),
                       sell(3, "2024-01-03T15:00:00", "MSFT", "0", "10")])
    assert [e.split(":")[0] for e in caught.value.errors] == ["line 2", "line 3"]
    with pytest.raises(StocksbotError, match="no rows to import"):
        book(storage, [])


def test_a_withholding_tax_row_pairs_with_its_dividend_else_is_a_cash_tax(storage) -> None:
    storage.record_trade(side="buy", symbol="KO", quantity="100", price="60", executed_at="2024-01-02T15:00:00")
    paid = "2024-04-01T12:00:00"
    items = [
        TaxEntry(line=2, at=utc(paid), symbol="KO", amount=D("7.2"), key="b:2"),
        DividendEntry(line=3, paid_at=utc(paid), symbol="KO", gross=D(48), key="b:3"),
        TaxEntry(line=4, at=utc(paid), symbol="KO", amount=D("2.4"), refund=True, key="b:4"),
        TaxEntry(line=5, at=utc("2024-05-01T12:00:00"), symbol="KO", amount=D(3), key="b:5"),
    ]
    result = book(storage, items)
    assert result.imported == {"trades": 0, "dividends": 1, "cash": 1, "splits": 0, "prices": 0}
    assert result.skipped_lines() == ["line 2: skipped: withholding tax booked with the dividend on line 3",
                                      "line 4: skipped: withholding tax booked with the dividend on line 3"]
    (dividend,) = storage.list_dividends()
    assert (dividend.gross, dividend.tax, dividend.net, dividend.external_id) == (D(48), D("4.8"), D("43.2"), "b:3")
    (tax,) = [m for m in storage.list_cash() if m.kind == "tax"]
    assert tax.amount == D(-3)
    before = counts(storage)
    again = book(storage, items)
    assert sum(again.imported.values()) == 0 and counts(storage) == before
    assert "line 2: skipped: withholding tax of the dividend on line 3, already imported" in again.skipped_lines()
    assert storage.check() == []


def test_a_tax_pairs_with_the_dividend_of_the_day_that_can_carry_it(storage) -> None:
    # IBKR pays a small return of capital and the ordinary dividend on one day; the tax row,
    # listed apart, belongs to the ordinary one (4.83 could not carry 14.68).
    storage.record_trade(side="buy", symbol="SMMCHA", quantity="7", price="90", executed_at="2023-06-01T15:00:00")
    paid = "2023-09-13T12:00:00"
    items = [
        TaxEntry(line=2, at=utc(paid), symbol="SMMCHA", amount=D("14.68"), key="b:2"),
        DividendEntry(line=3, paid_at=utc(paid), symbol="SMMCHA", gross=D("4.83"), key="b:3"),
        DividendEntry(line=4, paid_at=utc(paid), symbol="SMMCHA", gross=D("41.93"), key="b:4"),
    ]
    result = book(storage, items)
    assert result.skipped_lines() == ["line 2: skipped: withholding tax booked with the dividend on line 4"]
    taxes = {d.external_id: (d.gross, d.tax) for d in storage.list_dividends()}
    assert taxes == {"b:3": (D("4.83"), D(0)), "b:4": (D("41.93"), D("14.68"))}
    assert storage.check() == []


def test_a_split_by_shares_added_gets_its_exact_ratio_from_the_holding(storage) -> None:
    items = [buy(2, "2024-01-02T15:00:00", "NVDA", "3", "900"),
             sell(4, "2024-06-20T15:00:00", "NVDA", "30", "120"),  # post-split units
             SplitEntry(line=3, at=utc("2024-06-10T12:00:00"), symbol="NVDA", added=D(27))]
    result = book(storage, items)
    assert result.imported["splits"] == 1 and result.imported["trades"] == 2
    (split,) = storage.list_splits()
    assert (split.numerator, split.denominator) == (10, 1)
    assert holdings(storage) == {}
    (closing,) = [t for t in storage.list_trades() if t.side == "sell"]
    assert closing.realized_pnl == D(900)
    again = book(storage, items)
    assert again.imported == dict.fromkeys(again.imported, 0)
    assert "line 3: skipped: NVDA already has a split on" in again.skipped_lines()[1]
    assert storage.check() == []


def test_a_split_by_shares_added_without_a_holding_is_refused(storage) -> None:
    with pytest.raises(RowErrors, match="line 2: TSLA split by shares added, but account 'main' holds no shares"):
        book(storage, [SplitEntry(line=2, at=utc("2024-06-10T12:00:00"), symbol="TSLA", added=D(2))])
    assert counts(storage)[3] == 0


def test_a_mapped_isin_gives_its_symbol_and_an_unmapped_one_is_the_symbol(storage) -> None:
    storage.set_symbol("AAPL", isin="US0378331005")
    result = book(storage, [buy(2, "2024-01-02T15:00:00", "", "1", "100", isin="US0378331005"),
                            buy(3, "2024-01-02T15:00:00", "Apple Inc", "1", "100", isin="us0378331005"),
                            buy(4, "2024-01-02T15:00:00", "", "2", "50", isin="US5949181045")])
    assert result.imported["trades"] == 3
    assert holdings(storage) == {("main", "AAPL"): D(2), ("main", "US5949181045"): D(2)}


def test_rates_land_as_pair_bars_and_accounts_are_created_in_the_entry_currency(storage) -> None:
    items = [RateEntry(line=2, at=utc("2024-01-02T00:00:00"), base="eur", quote="USD", rate=D("1.0945")),
             CashEntry(line=3, at=utc("2024-01-02T00:00:00"), kind="deposit", amount=D(1000), currency="EUR",
                       account="broker"),
             CashEntry(line=4, at=utc("2024-01-03T00:00:00"), kind="fee", amount=D(2), account="broker"),
             CashEntry(line=5, at=utc("2024-01-04T00:00:00"), kind="interest", amount=D(1), account="second")]
    result = book(storage, items)
    assert result.imported == {"trades": 0, "dividends": 0, "cash": 3, "splits": 0, "prices": 1}
    assert result.created_accounts == ("broker", "second")
    (bar,) = storage.price_history("EUR/USD")
    assert (bar.close, bar.open, bar.interval) == (D("1.0945"), D("1.0945"), "1d")
    assert storage.get_account("broker").currency == "EUR"
    assert storage.get_account("second").currency == "USD"  # the reporting currency (main's)
    assert {(b.account, b.currency): b.balance for b in storage.cash_balances()}[("broker", "EUR")] == D(998)
    again = book(storage, items)
    assert sum(again.imported.values()) == 0
    assert again.skipped_lines()[0] == "line 2: skipped: rate EUR/USD of that time already stored"
    assert storage.check() == []


def test_a_repeated_broker_id_refuses_the_file(storage) -> None:
    items = [CashEntry(line=2, at=utc("2024-01-02T00:00:00"), kind="deposit", amount=D(5), key="k:1"),
             CashEntry(line=3, at=utc("2024-01-03T00:00:00"), kind="deposit", amount=D(6), key="k:1")]
    with pytest.raises(RowErrors, match="line 3: id 'k:1' repeats line 2"):
        book(storage, items)
    assert counts(storage)[2] == 0


def test_a_closed_account_refuses_the_file(storage) -> None:
    storage.add_account("old")
    storage.close_account("old")
    with pytest.raises(StocksbotError, match="account 'old' is closed"):
        book(storage, [buy(2, "2024-01-02T15:00:00", "AAPL", "1", "100")], account="old")
    assert counts(storage)[0] == 0


def test_a_tax_without_a_currency_pairs_with_the_dividend_in_its_currency(storage) -> None:
    storage.add_account("eu", currency="EUR")
    paid = utc("2024-04-01T12:00:00")
    result = book(storage, [DividendEntry(line=2, paid_at=paid, symbol="KO", gross=D(10), currency="USD"),
                            TaxEntry(line=3, at=paid, symbol="KO", amount=D("1.5"))], account="eu")
    assert result.imported["dividends"] == 1 and result.imported["cash"] == 0
    (dividend,) = storage.list_dividends()
    assert (dividend.account, dividend.currency, dividend.tax) == ("eu", "USD", D("1.5"))


def test_split_and_trade_problems_are_reported_together(storage) -> None:
    items = [buy(2, "2024-01-02T15:00:00", "AAPL", "1", "100"),
             sell(3, "2024-01-03T15:00:00", "AAPL", "5", "100"),
             SplitEntry(line=4, at=utc("2024-06-10T12:00:00"), symbol="TSLA", added=D(2))]
    with pytest.raises(RowErrors) as caught:
        book(storage, items)
    assert [e.split(":")[0] for e in caught.value.errors] == ["line 3", "line 4"]
    assert counts(storage)[0] == 0
