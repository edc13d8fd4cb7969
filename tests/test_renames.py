"""Symbol changes (docs/ledger.md §12.6): open lots, their dates and costs and the strategy carry over."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stocksbot.errors import StocksbotError

D = Decimal


def test_open_lots_carry_over_to_the_new_symbol(storage) -> None:
    storage.add_strategy("growth")
    storage.add_account("ira")
    storage.record_trade(side="buy", symbol="FB", quantity="10", price="200", executed_at="2021-01-04T15:00Z",
                         strategy="growth")
    storage.record_trade(side="sell", symbol="FB", quantity="4", price="250", executed_at="2021-06-01T15:00Z")
    storage.record_trade(side="buy", symbol="FB", quantity="2", price="300", executed_at="2021-07-01T15:00Z",
                         account="ira")
    storage.rename_symbol("FB", "META", "2022-06-09")
    assert [p.symbol for p in storage.list_positions()] == ["META", "META"]
    meta = storage.show_position("META", account="main")
    assert (meta.position.quantity, meta.position.open_cost, meta.position.strategy) == (D(6), D(1200), "growth")
    assert [(lot.quantity, lot.cost, lot.opened_at.date().isoformat()) for lot in meta.lots] == [
        (D(6), D(1200), "2021-01-04")]
    [old_run] = storage.list_positions(status="closed", account="main")
    assert (old_run.symbol, old_run.realized_pnl) == ("FB", D(200))
    sale = storage.record_trade(side="sell", symbol="META", quantity="6", price="150",
                                executed_at="2022-07-01T15:00Z")
    assert sale.realized_pnl == D(-300)
    assert storage.show_position("META", account="ira").position.quantity == D(2)
    assert storage.check() == []


def test_a_back_dated_trade_of_the_old_symbol_re_books_the_new_one(storage) -> None:
    storage.record_trade(side="buy", symbol="OLD", quantity="10", price="10", executed_at="2021-01-04T15:00Z")
    storage.rename_symbol("OLD", "NEW", "2022-01-03")
    storage.record_trade(side="buy", symbol="OLD", quantity="5", price="20", executed_at="2021-02-01T15:00Z")
    new = storage.show_position("NEW")
    assert (new.position.quantity, new.position.open_cost) == (D(15), D(200))
    assert storage.check() == []
    storage.rebuild_positions()
    assert storage.show_position("NEW").position.quantity == D(15)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("A", "A", "the same"),
    ("A", "C", r"trade\(s\) on or after"),
    ("B", "A", "before"),
])
def test_bad_renames_are_refused(storage, old: str, new: str, message: str) -> None:
    storage.record_trade(side="buy", symbol="A", quantity="1", price="1", executed_at="2024-01-02T15:00Z")
    storage.record_trade(side="buy", symbol="B", quantity="1", price="1", executed_at="2024-01-02T15:00Z")
    with pytest.raises(StocksbotError, match=message):
        storage.rename_symbol(old, new, "2024-06-01" if message == "before" else "2023-06-01")


def test_a_symbol_is_renamed_once(storage) -> None:
    storage.rename_symbol("X", "Y", "2024-01-01")
    with pytest.raises(StocksbotError, match="renamed already"):
        storage.rename_symbol("X", "Z", "2024-02-01")
    with pytest.raises(StocksbotError, match="renamed already"):
        storage.rename_symbol("Y", "X", "2024-02-01")


def test_cli_symbol_rename(run, data) -> None:
    run("trade", "add", "buy", "FB", "3", "--price", "300", "--at", "2022-01-03")
    result = run("symbol", "rename", "FB", "META", "--at", "2022-06-09")
    assert result.exit_code == 0, result.output
    assert [(p["symbol"], p["quantity"]) for p in data("position", "list")] == [("META", "3")]
    again = run("symbol", "rename", "FB", "X", "--at", "2022-07-01")
    assert again.exit_code == 1 and again.output.count("\n") == 1
