"""Share transfers between own accounts (docs/ledger.md §12): lots move with dates and costs, nothing is realized."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stocksbot.errors import StocksbotError

D = Decimal


@pytest.fixture
def two_accounts(storage):  # type: ignore[no-untyped-def]
    storage.add_account("ibkr")
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2020-01-02T15:00Z")
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="120", executed_at="2020-02-03T15:00Z")
    return storage


def test_lots_move_in_cost_basis_order_with_their_dates_and_costs(two_accounts) -> None:
    storage = two_accounts
    moved = storage.transfer_shares("AAPL", "15", from_account="main", to_account="ibkr", at="2020-03-02T15:00Z")
    assert (moved.quantity, moved.from_account, moved.to_account) == (D(15), "main", "ibkr")
    source = storage.show_position("AAPL", account="main")
    target = storage.show_position("AAPL", account="ibkr")
    assert [(lot.quantity, lot.cost, lot.opened_at.date().isoformat()) for lot in source.lots] == [
        (D(5), D(600), "2020-02-03")]
    assert [(lot.quantity, lot.cost, lot.opened_at.date().isoformat()) for lot in target.lots] == [
        (D(10), D(1000), "2020-01-02"), (D(5), D(600), "2020-02-03")]
    assert (source.position.realized_pnl, target.position.realized_pnl) == (D(0), D(0))
    assert [e.kind for e in target.events] == ["transfer_in"]
    sale = storage.record_trade(side="sell", symbol="AAPL", quantity="10", price="130", account="ibkr",
                                executed_at="2020-04-01T15:00Z")
    assert sale.realized_pnl == D(300)  # FIFO: the 2020-01-02 lot at 100 travelled with the shares
    assert storage.check() == []


def test_moving_everything_closes_the_source_run(two_accounts) -> None:
    storage = two_accounts
    storage.transfer_shares("AAPL", "20", from_account="main", to_account="ibkr", at="2020-03-02T15:00Z")
    assert storage.list_positions(account="main") == []
    [closed] = storage.list_positions(account="main", status="closed")
    assert (closed.quantity, closed.realized_pnl) == (D(0), D(0))
    assert storage.list_positions(account="ibkr")[0].quantity == D(20)
    assert storage.check() == []


def test_a_split_after_the_transfer_applies_to_the_moved_lots(two_accounts) -> None:
    storage = two_accounts
    storage.transfer_shares("AAPL", "10", from_account="main", to_account="ibkr", at="2020-03-02T15:00Z")
    storage.record_split("AAPL", "4:1", "2020-08-31")
    assert storage.show_position("AAPL", account="ibkr").position.quantity == D(40)
    assert storage.show_position("AAPL", account="main").position.quantity == D(40)
    assert storage.check() == []


@pytest.mark.parametrize(("quantity", "source", "target", "at", "message"), [
    ("25", "main", "ibkr", "2020-03-02T15:00Z", "20 held long"),
    ("5", "main", "ibkr", "2020-01-15T15:00Z", "after the transfer's time"),
    ("5", "main", "main", "2020-03-02T15:00Z", "same account"),
    ("5", "main", "nope", "2020-03-02T15:00Z", "unknown account"),
    ("5", "ibkr", "main", "2020-03-02T15:00Z", "0 held long"),
    ("-5", "main", "ibkr", "2020-03-02T15:00Z", "quantity"),
])
def test_bad_transfers_are_refused(two_accounts, quantity: str, source: str, target: str, at: str,
                                   message: str) -> None:
    storage = two_accounts
    with pytest.raises(StocksbotError, match=message):
        storage.transfer_shares("AAPL", quantity, from_account=source, to_account=target, at=at)
    assert storage.list_transfers() == []
    assert storage.list_positions(account="ibkr") == []


def test_cli_transfer(run, data) -> None:
    run("account", "add", "ibkr")
    run("trade", "add", "buy", "MSFT", "4", "--price", "300", "--at", "2024-01-02")
    result = run("transfer", "MSFT", "3", "--from", "main", "--to", "ibkr", "--at", "2024-02-01")
    assert result.exit_code == 0 and "moved 3 MSFT from main to ibkr" in result.output
    assert {p["account"]: p["quantity"] for p in data("position", "list")} == {"main": "1", "ibkr": "3"}
    bad = run("transfer", "MSFT", "5", "--from", "main", "--to", "ibkr")
    assert bad.exit_code == 1 and bad.output.count("\n") == 1
