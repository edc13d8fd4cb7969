"""Splits (docs/ledger.md §12): exact N:D ratios applied to open lots in time order, on both backends.

The facts are the issue's: 10 @ 100 split 2:1 is 20 @ 50 (cost 1000); 1:10 is 1 @ 1000;
buy 10 @ 100, split 2:1, sell 5 @ 60 leaves 15 @ 50 with 50 realized; 2:1 then 1:3 on
10 @ 100 is 20/3 shares at 150 with the cost still exactly 1000; 357 after 1:3 is 119 and
back after 3:1 is 357.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from stocksbot.errors import StocksbotError

D = Decimal


def lots(storage, symbol: str, account: str | None = None):  # type: ignore[no-untyped-def]
    detail = storage.show_position(symbol, account=account)
    return detail.position, [(lot.quantity, lot.cost, lot.opened_at.date().isoformat()) for lot in detail.lots]


def test_forward_split_multiplies_quantity_and_keeps_cost_and_date(storage) -> None:
    storage.record_trade(side="buy", symbol="NVDA", quantity="10", price="100", executed_at="2024-01-02T15:00Z")
    split, held = storage.record_split("NVDA", "2:1", "2024-06-10")
    assert (split.ratio, held) == ("2:1", D(20))
    position, open_lots = lots(storage, "NVDA")
    assert (position.quantity, position.avg_entry_price, position.open_cost, position.realized_pnl) == (
        D(20), D(50), D(1000), D(0))
    assert open_lots == [(D(20), D(1000), "2024-01-02")]


def test_reverse_split(storage) -> None:
    storage.record_trade(side="buy", symbol="X", quantity="10", price="100", executed_at="2024-01-02T15:00Z")
    storage.record_split("X", "1:10", "2024-03-01")
    position, _ = lots(storage, "X")
    assert (position.quantity, position.avg_entry_price, position.open_cost) == (D(1), D(1000), D(1000))


def test_sell_after_a_split_is_in_post_split_units(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2020-01-02T15:00Z")
    storage.record_split("AAPL", "2:1", "2020-08-31")
    sale = storage.record_trade(side="sell", symbol="AAPL", quantity="5", price="60", executed_at="2020-09-01T15:00Z")
    assert sale.realized_pnl == D(50)
    position, _ = lots(storage, "AAPL")
    assert (position.quantity, position.avg_entry_price, position.realized_pnl) == (D(15), D(50), D(50))


def test_two_splits_keep_the_cost_exact(storage) -> None:
    storage.record_trade(side="buy", symbol="Y", quantity="10", price="100", executed_at="2024-01-02T15:00Z")
    storage.record_split("Y", "2:1", "2024-02-01")
    storage.record_split("Y", "1:3", "2024-03-01")
    position, open_lots = lots(storage, "Y")
    assert position.open_cost == D(1000)
    assert abs(position.quantity - D(20) / D(3)) < D("1e-18")  # 20/3, repeating: kept to 20 places
    assert position.avg_entry_price.quantize(D("1e-12")) == D(150)
    assert open_lots[0][1] == D(1000)


def test_reverse_and_forward_again_is_exact(storage) -> None:
    storage.record_trade(side="buy", symbol="Z", quantity="357", price="3", executed_at="2024-01-02T15:00Z")
    storage.record_split("Z", "1:3", "2024-02-01")
    assert storage.show_position("Z").position.quantity == D(119)
    storage.record_split("Z", "3:1", "2024-03-01")
    position = storage.show_position("Z").position
    assert (position.quantity, position.open_cost, position.avg_entry_price) == (D(357), D(1071), D(3))


def test_a_back_dated_trade_before_a_split_is_re_booked_in_pre_split_units(storage) -> None:
    storage.record_trade(side="buy", symbol="B", quantity="10", price="100", executed_at="2024-01-02T15:00Z")
    storage.record_split("B", "2:1", "2024-06-10")
    storage.record_trade(side="buy", symbol="B", quantity="10", price="110", executed_at="2024-03-01T15:00Z")
    position, open_lots = lots(storage, "B")
    assert (position.quantity, position.open_cost) == (D(40), D(2100))
    assert open_lots == [(D(20), D(1000), "2024-01-02"), (D(20), D(1100), "2024-03-01")]
    assert storage.check() == []


def test_removing_a_split_re_books_the_symbol(storage) -> None:
    storage.record_trade(side="buy", symbol="R", quantity="10", price="100", executed_at="2024-01-02T15:00Z")
    split, _ = storage.record_split("R", "4:1", "2024-06-10")
    assert storage.show_position("R").position.quantity == D(40)
    storage.remove_split(split.id)
    assert storage.show_position("R").position.quantity == D(10)
    assert storage.list_splits() == []
    assert storage.check() == []


def test_a_split_before_anything_was_held_changes_nothing(storage) -> None:
    _, held = storage.record_split("EARLY", "2:1", "2019-01-01")
    assert held == D(0)
    storage.record_trade(side="buy", symbol="EARLY", quantity="10", price="5", executed_at="2024-01-02T15:00Z")
    assert storage.show_position("EARLY").position.quantity == D(10)


def test_a_split_applies_in_every_account(storage) -> None:
    storage.add_account("ira")
    storage.record_trade(side="buy", symbol="S", quantity="10", price="100", executed_at="2024-01-02T15:00Z")
    storage.record_trade(side="buy", symbol="S", quantity="3", price="90", executed_at="2024-01-03T15:00Z",
                         account="ira")
    _, held = storage.record_split("S", "3:1", "2024-06-10")
    assert held == D(39)
    assert storage.show_position("S", account="main").position.quantity == D(30)
    assert storage.show_position("S", account="ira").position.quantity == D(9)
    assert storage.check() == []


def test_open_orders_placed_before_the_split_are_adjusted(storage) -> None:
    order = storage.add_order(side="buy", symbol="O", quantity="10", order_type="limit", limit_price="100")
    from datetime import datetime, timedelta, timezone

    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    storage.record_split("O", "2:1", tomorrow)
    adjusted = storage.get_order(order.id)
    assert (adjusted.quantity, adjusted.limit_price, adjusted.filled_quantity) == (D(20), D(50), D(0))


def test_cash_in_lieu_sells_the_fraction(storage) -> None:
    storage.record_trade(side="buy", symbol="F", quantity="5", price="10", executed_at="2024-01-02T15:00Z")
    storage.record_split("F", "3:2", "2024-06-10", cash_in_lieu="9")
    position = storage.show_position("F").position
    # 5 shares -> 7.5; the half share (cost 50 / 7.5 x 0.5 = 3.33...) is sold for 9
    assert position.quantity == D(7)
    sale = [t for t in storage.list_trades(symbol="F") if t.side == "sell"]
    assert [(t.quantity, t.external_id) for t in sale] == [(D("0.5"), "split-1-cash-in-lieu")]
    assert position.open_cost + (D(9) - sale[0].realized_pnl) == D(50)
    assert storage.check() == []


@pytest.mark.parametrize("ratio", ["0:1", "4:0", "a:b", "1:1", "2", "-2:1"])
def test_bad_ratios_are_refused(storage, ratio: str) -> None:
    with pytest.raises(StocksbotError, match="invalid split ratio"):
        storage.record_split("A", ratio, "2024-01-01")
    assert storage.list_splits() == []


def test_a_second_split_on_the_same_day_is_refused(storage) -> None:
    storage.record_split("A", "2:1", "2024-01-01")
    with pytest.raises(StocksbotError, match="already has a split"):
        storage.record_split("A", "3:1", "2024-01-01")


def test_cli_split_add_list_remove_and_errors(run, data) -> None:
    run("trade", "add", "buy", "NVDA", "10", "--price", "1000", "--at", "2024-01-02")
    result = run("split", "add", "NVDA", "10:1", "--at", "2024-06-10")
    assert result.exit_code == 0 and "100 shares held after it" in result.output
    [split] = data("split", "list", "NVDA")
    assert (split["ratio"], split["numerator"], split["denominator"], split["cash_in_lieu"]) == ("10:1", 10, 1, None)
    [position] = data("position", "list")
    assert (position["quantity"], position["avg_entry_price"]) == ("100", "100")
    for args in (["NVDA", "0:1"], ["NVDA", "4:0"], ["NVDA", "a:b"], ["NVDA", "1:1"]):
        bad = run("split", "add", *args, "--at", "2024-07-01")
        assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "invalid split ratio" in bad.output
    assert run("split", "add", "NVDA", "2:1", "--at", "someday").exit_code == 1
    assert run("split", "remove", "99").exit_code == 1
    assert len(data("split", "list")) == 1
    assert run("split", "remove", str(split["id"])).exit_code == 0
    assert data("position", "list")[0]["quantity"] == "10"


def test_split_adjusted_prices_are_stored_as_traded(storage, tmp_path) -> None:
    storage.record_trade(side="buy", symbol="NVDA", quantity="10", price="1200", executed_at="2024-06-03T15:00Z")
    storage.record_split("NVDA", "10:1", "2024-06-10")
    adjusted = tmp_path / "nvda.csv"
    adjusted.write_text("timestamp,open,high,low,close,volume\n"
                        "2024-06-07T20:00:00+00:00,120,121,119,120.5,1000\n"
                        "2024-06-10T20:00:00+00:00,121,122,120,121.5,900\n")
    assert storage.import_prices(adjusted, symbol="NVDA", split_adjusted=True) == 2
    bars = {bar.timestamp.date().isoformat(): bar for bar in storage.price_history("NVDA")}
    before, after = bars["2024-06-07"], bars["2024-06-10"]
    assert (before.open, before.close, before.volume) == (D(1200), D(1205), D(100))
    assert (after.close, after.volume) == (D("121.5"), D(900))
    # valuation uses the quantity held then x the price as traded then, and today's quantity x today's price
    position = storage.list_positions()[0]
    assert (position.quantity, position.market_price, position.market_value) == (D(100), D("121.5"), D(12150))
