"""Dividends (docs/ledger.md §14) through the storage service and the command line, on SQLite and PostgreSQL.

Gross and per-share amounts (shares held at the start of the ex-date, splits applied), tax
and fee, the currency, cash at the pay date, reinvestment (DRIP), removal, listing, and
every refusal writing nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from stocksbot.errors import StocksbotError
from stocksbot.ledger.inputs import start_of_day
from stocksbot.storage import tables
from stocksbot.storage.repositories import Repositories

D = Decimal
DIVIDEND_KEYS = {"id", "account", "symbol", "gross", "tax", "fee", "net", "currency", "ex_date", "paid_at",
                 "per_share", "reinvest_trade_id", "note", "external_id"}


def cash(storage: Any, account: str = "main") -> dict[str, Decimal]:
    return {b.currency: b.balance for b in storage.cash_balances(account=account)}


def implicit(storage: Any) -> list[tuple[Decimal, int | None, int | None]]:
    return [(r.amount, r.trade_id, r.dividend_id) for r in storage.list_cash() if r.kind == "implicit_deposit"]


def count(storage: Any, table: Any) -> int:
    with storage.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def add_account(storage: Any, name: str, *, currency: str = "USD") -> None:
    with storage.transaction() as conn:
        Repositories(conn).accounts.add(name=name, currency=currency, margin=False, status="open")


def test_a_gross_dividend_pays_net_into_cash_at_the_pay_date(storage) -> None:
    storage.deposit("100", at="2024-05-01")
    dividend = storage.record_dividend("aapl", "24", tax="3.6", fee="0.4", paid_at="2024-05-16")
    assert set(dividend.to_json()) == DIVIDEND_KEYS
    assert (dividend.symbol, dividend.gross, dividend.tax, dividend.fee, dividend.net, dividend.currency) == (
        "AAPL", D("24"), D("3.6"), D("0.4"), D("20"), "USD")
    assert dividend.per_share is None and dividend.reinvest_trade_id is None
    assert dividend.ex_date == start_of_day("2024-05-16")
    assert cash(storage) == {"USD": D("120")}
    (paid,) = [r for r in storage.list_cash() if r.kind == "dividend"]
    assert (paid.amount, paid.dividend_id, paid.at) == (D("20"), dividend.id, dividend.paid_at)
    assert storage.check() == []


def test_per_share_counts_the_shares_held_at_the_start_of_the_ex_date(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-05-01T15:00")
    storage.record_trade(side="buy", symbol="AAPL", quantity="5", price="100", executed_at="2024-05-10T15:00")
    storage.record_trade(side="sell", symbol="AAPL", quantity="3", price="100", executed_at="2024-05-02T15:00")
    dividend = storage.record_dividend("AAPL", "0.24", per_share=True, ex_date="2024-05-10", paid_at="2024-05-16")
    assert (dividend.per_share, dividend.gross, dividend.net) == (D("0.24"), D("1.68"), D("1.68"))  # 7 shares
    # Another account's shares do not count.
    add_account(storage, "other")
    with pytest.raises(StocksbotError, match="no shares of AAPL in account 'other' at the ex-date 2024-05-10"):
        storage.record_dividend("AAPL", "0.24", per_share=True, ex_date="2024-05-10", paid_at="2024-05-16",
                                account="other")
    assert storage.check() == []


def test_per_share_applies_splits_up_to_the_ex_date(storage) -> None:
    storage.record_trade(side="buy", symbol="NVDA", quantity="10", price="800", executed_at="2024-06-01T15:00")
    with storage.transaction() as conn:
        conn.execute(insert(tables.splits).values(symbol="NVDA", numerator=10, denominator=1,
                                                  at=start_of_day("2024-06-10"),
                                                  created_at=datetime.now(timezone.utc)))
    storage.rebuild_positions()
    before = storage.record_dividend("NVDA", "0.1", per_share=True, ex_date="2024-06-09", paid_at="2024-06-20")
    on_the_day = storage.record_dividend("NVDA", "0.01", per_share=True, ex_date="2024-06-10", paid_at="2024-06-20")
    assert (before.gross, on_the_day.gross) == (D("1"), D("1"))  # 10 shares, then 100 from the split's day
    assert storage.check() == []


def test_per_share_with_no_shares_or_a_short_is_refused_and_writes_nothing(storage) -> None:
    with pytest.raises(StocksbotError, match="no shares of MSFT in account 'main' at the ex-date 2024-05-10$"):
        storage.record_dividend("MSFT", "1", per_share=True, ex_date="2024-05-10", paid_at="2024-05-20")
    storage.record_trade(side="sell", symbol="MSFT", quantity="5", price="400", executed_at="2024-05-01",
                         allow_short=True)
    with pytest.raises(StocksbotError, match=r"at the ex-date 2024-05-10 \(it is short 5\)"):
        storage.record_dividend("MSFT", "1", per_share=True, ex_date="2024-05-10", paid_at="2024-05-20")
    assert count(storage, tables.dividends) == 0


def test_the_currency_is_the_symbols_then_the_accounts_or_the_one_given(storage) -> None:
    add_account(storage, "euro", currency="EUR")
    storage.record_trade(side="buy", symbol="SAP", quantity="1", price="1", account="euro", executed_at="2024-01-02")
    assert storage.record_dividend("SAP", "2", paid_at="2024-02-01").currency == "EUR"  # SAP trades in EUR
    assert storage.record_dividend("NEW", "2", paid_at="2024-02-01", account="euro").currency == "EUR"
    assert storage.record_dividend("NEW", "2", paid_at="2024-02-01").currency == "USD"
    assert storage.record_dividend("NEW", "2", paid_at="2024-02-01", currency="gbp").currency == "GBP"
    assert cash(storage) == {"EUR": D("2"), "GBP": D("2"), "USD": D("2")}
    assert storage.check() == []


def test_a_reinvested_dividend_pays_for_its_buy(storage) -> None:
    storage.record_trade(side="buy", symbol="VTI", quantity="10", price="200", executed_at="2024-01-02")
    assert cash(storage) == {"USD": D("0")}
    dividend = storage.record_dividend("VTI", "3.0125", per_share=True, reinvest="0.125", price="240.96",
                                       ex_date="2024-06-25", paid_at="2024-06-28")
    assert dividend.gross == D("30.125")
    trade = {t.id: t for t in storage.list_trades()}[dividend.reinvest_trade_id]
    assert (trade.side, trade.quantity, trade.price, trade.executed_at) == ("buy", D("0.125"), D("240.96"),
                                                                           dividend.paid_at)
    assert trade.note == f"reinvested dividend {dividend.id}"
    assert implicit(storage) == [(D("2000"), 1, None)]  # the buy of 30.12 came out of the dividend
    assert cash(storage) == {"USD": D("0.005")}
    (position,) = storage.list_positions()
    assert position.quantity == D("10.125")
    with pytest.raises(StocksbotError, match=f"dividend {dividend.id} was reinvested by trade {trade.id}"):
        storage.remove_dividend(dividend.id)
    assert storage.check() == []


def test_a_reinvestment_in_another_currency_is_refused(storage) -> None:
    storage.record_trade(side="buy", symbol="VTI", quantity="1", price="200", executed_at="2024-01-02")
    with pytest.raises(StocksbotError, match="cannot reinvest a EUR dividend: VTI trades in USD"):
        storage.record_dividend("VTI", "3", currency="EUR", reinvest="0.01", price="200", paid_at="2024-06-28")
    with pytest.raises(StocksbotError, match="--reinvest QTY and --price P go together"):
        storage.record_dividend("VTI", "3", reinvest="0.01", paid_at="2024-06-28")
    assert count(storage, tables.dividends) == 0 and len(storage.list_trades()) == 1


def test_removing_a_dividend_rebooks_cash(storage) -> None:
    dividend = storage.record_dividend("AAPL", "50", paid_at="2024-01-01")
    buy = storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="80", executed_at="2024-01-02")
    assert implicit(storage) == [(D("30"), buy.id, None)]
    removed = storage.remove_dividend(dividend.id)
    assert removed.id == dividend.id
    assert implicit(storage) == [(D("80"), buy.id, None)]
    assert cash(storage) == {"USD": D("0")}
    with pytest.raises(StocksbotError, match=f"no dividend with id {dividend.id}"):
        storage.remove_dividend(dividend.id)
    assert storage.check() == []


def test_a_back_dated_dividend_rebooks_later_cash(storage) -> None:
    buy = storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="80", executed_at="2024-01-02")
    storage.record_dividend("AAPL", "50", tax="5", paid_at="2024-01-01")
    assert implicit(storage) == [(D("35"), buy.id, None)]
    assert storage.check() == []


def test_list_filters_by_symbol_year_and_account(storage) -> None:
    add_account(storage, "other")
    storage.record_dividend("AAPL", "1", paid_at="2023-12-31T12:00")
    storage.record_dividend("AAPL", "2", paid_at="2024-01-01T00:00")
    storage.record_dividend("MSFT", "3", paid_at="2024-06-01", account="other")
    assert [d.gross for d in storage.list_dividends()] == [D("1"), D("2"), D("3")]
    assert [d.gross for d in storage.list_dividends(symbol="aapl")] == [D("1"), D("2")]
    assert [d.gross for d in storage.list_dividends(year=2024)] == [D("2"), D("3")]
    assert [d.gross for d in storage.list_dividends(year=2023)] == [D("1")]
    assert [d.account for d in storage.list_dividends(account="other")] == ["other"]
    with pytest.raises(StocksbotError, match="unknown account 'nope'"):
        storage.list_dividends(account="nope")


def test_bad_input_is_refused_and_writes_nothing(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="1", executed_at="2024-01-02")
    cases = [
        (dict(amount="0"), "amount must be greater than 0"),
        (dict(amount="-1"), "amount must be greater than 0"),
        (dict(amount="5", tax="-1"), "--tax must be 0 or more"),
        (dict(amount="5", fee="-0.5"), "--fee must be 0 or more"),
        (dict(amount="5", tax="4", fee="2"), r"--tax and --fee \(6\) exceed the gross dividend 5"),
        (dict(amount="5", currency="US"), "invalid currency 'US'"),
        (dict(amount="5", account="nope"), "unknown account 'nope'"),
        (dict(amount="5", paid_at="2024-01-32"), "invalid --at"),
        (dict(amount="5", ex_date="soon"), "invalid --ex-date"),
        (dict(amount="5", ex_date="2024-03-02", paid_at="2024-03-01"),
         "the ex-date 2024-03-02 is after the pay date 2024-03-01"),
        (dict(amount="5", reinvest="0", price="1"), "--reinvest must be greater than 0"),
    ]
    for options, message in cases:
        with pytest.raises(StocksbotError, match=message):
            storage.record_dividend("AAPL", **options)
    with pytest.raises(StocksbotError, match="invalid symbol"):
        storage.record_dividend("bad symbol!", "5")
    assert count(storage, tables.dividends) == 0
    assert count(storage, tables.cash_movements) == 1  # the trade's implicit deposit
    assert len(storage.list_trades()) == 1


def test_cli_dividend_commands(run, data) -> None:
    data("trade", "add", "buy", "AAPL", "10", "--price", "100", "--at", "2024-05-01")
    added = data("dividend", "add", "AAPL", "0.25", "--per-share", "--tax", "0.375", "--ex-date", "2024-05-10",
                 "--at", "2024-05-16", "--note", "Q2")
    assert set(added) == DIVIDEND_KEYS
    assert (added["gross"], added["net"], added["per_share"], added["note"]) == ("2.5", "2.125", "0.25", "Q2")
    drip = data("dividend", "add", "AAPL", "2.5", "--reinvest", "0.02", "--price", "110", "--at", "2024-08-16")
    assert drip["reinvest_trade_id"] is not None
    assert [d["id"] for d in data("dividend", "list", "--year", "2024", "--symbol", "AAPL")] == [added["id"], drip["id"]]
    assert [m["kind"] for m in data("cash", "list", "--since", "2024-05-02")] == ["dividend", "dividend", "trade"]
    text = run("dividend", "list")
    assert text.exit_code == 0 and "Q2" in text.output
    assert run("dividend", "add", "AAPL", "1", "--at", "2024-09-01").output.startswith("dividend 3: AAPL 1.00 USD gross")
    removed = data("dividend", "remove", "3")
    assert removed["id"] == 3
    assert run("db", "check").exit_code == 0
    for command in ("add", "list", "remove"):
        result = run("dividend", command, "--help")
        assert result.exit_code == 0 and "Example:" in result.output


@pytest.mark.parametrize("args, message", [
    (("dividend", "add", "AAPL", "1", "--account", "nope"), "Error: unknown account 'nope'"),
    (("dividend", "add", "AAPL", "1", "--currency", "DOLLARS"), "Error: invalid currency 'DOLLARS'"),
    (("dividend", "add", "AAPL", "1", "--per-share", "--ex-date", "2024-05-10", "--at", "2024-05-20"),
     "Error: no shares of AAPL in account 'main' at the ex-date 2024-05-10"),
    (("dividend", "add", "AAPL", "1", "--tax", "-1"), "Error: --tax must be 0 or more"),
    (("dividend", "add", "AAPL", "1", "--fee", "x"), "Error: --fee must be a number"),
    (("dividend", "add", "AAPL", "0"), "Error: amount must be greater than 0"),
    (("dividend", "add", "AAPL", "1", "--at", "2024-02-30"), "Error: invalid --at"),
    (("dividend", "add", "AAPL", "1", "--reinvest", "1"), "Error: --reinvest QTY and --price P go together"),
    (("dividend", "add", "AAPL", "1", "--tax", "2"), "Error: --tax and --fee (2) exceed the gross dividend 1"),
    (("dividend", "remove", "99"), "Error: no dividend with id 99"),
    (("dividend", "list", "--account", "nope"), "Error: unknown account 'nope'"),
    (("dividend", "list", "--year", "0"), "Error: --year must be a year such as 2024"),
])
def test_cli_dividend_bad_input_is_one_line_and_writes_nothing(run, data, args: tuple[str, ...],
                                                               message: str) -> None:
    result = run(*args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert data("dividend", "list") == [] and data("cash", "list") == []
