"""Accounts (docs/ledger.md §11): positions and lots per (account, symbol), commands, bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stocksbot.errors import StocksbotError

D = Decimal


def test_a_sell_in_one_account_never_closes_a_lot_of_another(storage) -> None:
    storage.add_account("ira")
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-02T15:00Z")
    storage.record_trade(side="buy", symbol="AAPL", quantity="5", price="120", executed_at="2024-01-03T15:00Z",
                         account="ira")
    with pytest.raises(StocksbotError, match="cannot sell 6 AAPL: long position is 5"):
        storage.record_trade(side="sell", symbol="AAPL", quantity="6", price="130", account="ira")
    sale = storage.record_trade(side="sell", symbol="AAPL", quantity="5", price="130", account="ira",
                                executed_at="2024-01-04T15:00Z")
    assert sale.realized_pnl == D(50)  # against ira's lot at 120, not main's older lot at 100
    [main] = storage.list_positions(account="main")
    assert (main.quantity, main.account) == (D(10), "main")
    assert storage.list_positions(account="ira") == []
    assert storage.check() == []


def test_default_account_setting_and_rename(storage) -> None:
    storage.add_account("broker", currency="EUR")
    storage.config_set("accounts.default", "broker")
    trade = storage.record_trade(side="buy", symbol="SAP", quantity="1", price="100")
    assert (trade.account, trade.currency) == ("broker", "EUR")
    storage.rename_account("broker", "degiro")
    assert storage.config_get("accounts.default").value == "degiro"
    assert [t.account for t in storage.list_trades()] == ["degiro"]


def test_closing_an_account(storage) -> None:
    storage.add_account("old")
    storage.record_trade(side="buy", symbol="T", quantity="1", price="10", account="old",
                         executed_at="2024-01-02T15:00Z")
    with pytest.raises(StocksbotError, match="holds 1 open position"):
        storage.close_account("old")
    storage.record_trade(side="sell", symbol="T", quantity="1", price="10", account="old",
                         executed_at="2024-01-03T15:00Z")
    with pytest.raises(StocksbotError, match=r"holds cash \(10 USD\)"):  # the sale's proceeds
        storage.close_account("old")
    storage.withdraw("10", account="old", at="2024-01-04T15:00Z")
    closed = storage.close_account("old")
    assert closed.status == "closed"
    with pytest.raises(StocksbotError, match="account is closed"):
        storage.record_trade(side="buy", symbol="T", quantity="1", price="10", account="old")


@pytest.mark.parametrize(("name", "currency", "message"), [
    ("tab\there", None, "invalid account name"),
    ("", None, "invalid account name"),
    ("x" * 65, None, "invalid account name"),
    ("ok", "US", "invalid currency"),
    ("ok", "usd1", "invalid currency"),
    ("main", None, "already exists"),
])
def test_bad_accounts_are_refused(storage, name: str, currency: str | None, message: str) -> None:
    with pytest.raises(StocksbotError, match=message):
        storage.add_account(name, currency=currency)
    assert [a.name for a in storage.list_accounts()] == ["main"]


def test_cli_accounts(run, data) -> None:
    assert run("account", "add", "ira", "--currency", "usd", "--description", "retirement").exit_code == 0
    run("trade", "add", "buy", "VTI", "3", "--price", "200", "--account", "ira")
    run("trade", "add", "buy", "AAPL", "1", "--price", "150")
    run("price", "add", "VTI", "210")
    accounts = {a["name"]: a for a in data("account", "list")}
    assert set(accounts) == {"main", "ira"}
    assert (accounts["ira"]["currency"], accounts["ira"]["market_value"], accounts["ira"]["open_positions"]) == (
        "USD", "630", 1)
    assert accounts["main"]["market_value"] is None  # AAPL has no price: unknown, never 0
    assert {p["account"] for p in data("position", "list")} == {"main", "ira"}
    assert [p["symbol"] for p in data("position", "list", "--account", "ira")] == ["VTI"]
    assert [t["symbol"] for t in data("trade", "list", "--account", "main")] == ["AAPL"]
    for args in (["trade", "add", "buy", "X", "1", "--price", "1", "--account", "nope"],
                 ["position", "list", "--account", "nope"],
                 ["account", "add", "bad\x07name"],
                 ["account", "add", "eu", "--currency", "EURO"],
                 ["account", "close", "ira"]):
        result = run(*args)
        assert result.exit_code == 1, args
        assert result.output.count("\n") == 1 and result.output.startswith("Error: "), result.output
    assert len(data("account", "list")) == 2
    assert len(data("trade", "list")) == 2


def test_import_with_accounts_and_currencies(storage, tmp_path) -> None:
    path = tmp_path / "fills.csv"
    path.write_text("executed_at,side,symbol,quantity,price,account,currency\n"
                    "2024-01-02,buy,SAP,4,100,eu,EUR\n"
                    "2024-01-03,buy,AAPL,2,150,,\n"
                    "2024-01-04,sell,SAP,1,110,eu,\n")
    result = storage.import_trades(path)
    assert (result.imported, result.created_accounts) == (3, ("eu",))
    assert {(t.symbol, t.account, t.currency) for t in storage.list_trades()} == {
        ("SAP", "eu", "EUR"), ("AAPL", "main", "USD")}
    assert [(p.symbol, p.account, p.quantity) for p in storage.list_positions()] == [
        ("AAPL", "main", D(2)), ("SAP", "eu", D(3))]
    out = tmp_path / "out.csv"
    with out.open("w") as handle:
        storage.export_trades(handle)
    assert out.read_text().splitlines()[1].endswith(",eu,EUR,")  # then allow_short, empty
    bad = tmp_path / "bad.csv"
    bad.write_text("executed_at,side,symbol,quantity,price,currency\n2024-02-01,buy,SAP,1,100,USD\n")
    with pytest.raises(StocksbotError, match="line 2: SAP trades in EUR, not USD"):
        storage.import_trades(bad)
    assert len(storage.list_trades()) == 3


def test_summary_narrowed_to_one_account(storage) -> None:
    storage.add_account("ira")
    storage.record_trade(side="buy", symbol="A", quantity="10", price="10", executed_at="2024-01-02T15:00Z")
    storage.record_trade(side="sell", symbol="A", quantity="10", price="12", executed_at="2024-01-03T15:00Z")
    storage.record_trade(side="buy", symbol="B", quantity="5", price="20", executed_at="2024-01-04T15:00Z",
                         account="ira")
    storage.record_trade(side="sell", symbol="B", quantity="2", price="25", executed_at="2024-01-05T15:00Z",
                         account="ira", commission="1")
    storage.add_price("B", "30")
    whole, ira = storage.summary(), storage.summary(account="ira")
    assert (whole.total.realized_pnl, whole.total.open_positions) == (D(29), 1)
    assert (ira.total.realized_pnl, ira.total.costs, ira.total.open_positions) == (D(9), D(1), 1)
    assert (ira.total.market_value, ira.total.unrealized_pnl) == (D(90), D(30))
    assert [line.account for line in ira.by_account] == ["ira"]
    assert ira.cash == {"USD": D(49)}  # implicit deposit 100, sale 50 - 1
    main = storage.summary(account="main")
    assert (main.total.realized_pnl, main.total.open_positions, main.cash) == (D(20), 0, {"USD": D(120)})
    with pytest.raises(StocksbotError, match="unknown account"):
        storage.summary(account="nope")


def test_strategy_list_narrowed_to_one_account(run, data) -> None:
    run("account", "add", "ira")
    run("strategy", "add", "momo")
    run("trade", "add", "buy", "A", "10", "--price", "10", "--strategy", "momo", "--at", "2024-01-02")
    run("trade", "add", "sell", "A", "10", "--price", "12", "--strategy", "momo", "--at", "2024-01-03")
    run("trade", "add", "buy", "B", "5", "--price", "20", "--strategy", "momo", "--account", "ira")
    [every] = data("strategy", "list")
    [ira] = data("strategy", "list", "--account", "ira")
    assert (every["trades"], every["realized_pnl"], every["open_positions"]) == (3, "20", 1)
    assert (ira["trades"], ira["realized_pnl"], ira["open_positions"]) == (1, "0", 1)
    assert run("strategy", "list", "--account", "nope").exit_code == 1
