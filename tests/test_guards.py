"""Guards against silent damage (issue 11 §2 items 5, 7, 9 and 11), on SQLite and PostgreSQL.

- a downgrade that would drop rows asks first, says what goes, and backs SQLite up
  (docs/ledger.md §16.7);
- a misspelled key under stocksbot's own config namespaces is refused with the closest known
  key (§9.2);
- a fill on the wrong side of its order's limit is refused unless --force, and `order fill`
  takes --allow-short like `trade add` (§7.4, §4.6);
- names are printable, notes and descriptions have no control characters (§1.7).

Every refusal is one line, exit 1, and writes nothing.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from stocksbot.errors import StocksbotError
from stocksbot.storage import tables


def one_line(result: Any) -> str:
    """The single error line of a failed command (exit 1, nothing else printed)."""
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    return str(result.output)


def count(storage: Any, table: Any) -> int:
    with storage.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# -- §2.9: fills must respect the order's limit --------------------------------------------------

def _submitted(storage: Any, side: str, order_type: str = "limit", **prices: str) -> int:
    order = storage.add_order(side=side, symbol="AAPL", quantity="10", order_type=order_type, **prices)
    storage.change_order_status(order.id, "submitted")
    return int(order.id)


def test_a_buy_limit_fill_above_the_limit_is_refused_unless_forced(storage) -> None:
    order_id = _submitted(storage, "buy", limit_price="50")
    with pytest.raises(StocksbotError) as info:
        storage.fill_order(order_id, "10", "51")
    assert str(info.value) == (
        "fill price 51 is above the order's buy limit 50 (use --force if the broker really filled it there)"
    )
    # `trade add --order` records a fill of the order too: the same rule, in the same place.
    with pytest.raises(StocksbotError, match="above the order's buy limit 50"):
        storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="50.01", order_id=order_id)
    order = storage.get_order(order_id)
    assert (order.status, order.filled_quantity, count(storage, tables.trades)) == ("submitted", 0, 0)

    assert storage.fill_order(order_id, "4", "50").price == 50  # at the limit
    assert storage.fill_order(order_id, "4", "49.5").price == Decimal("49.5")  # better than the limit
    forced = storage.fill_order(order_id, "2", "51", force=True)
    order = storage.get_order(order_id)
    assert (forced.order_id, order.status, order.filled_quantity, order.avg_fill_price) == (
        order_id, "filled", 10, 50)  # (4 × 50 + 4 × 49.5 + 2 × 51) ÷ 10
    assert storage.check() == []


def test_a_sell_limit_below_the_limit_and_a_stop_limit_are_refused(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="20", price="40")
    sell = _submitted(storage, "sell", limit_price="50")
    with pytest.raises(StocksbotError, match=r"^fill price 49.99 is below the order's sell limit 50 \(use --force"):
        storage.fill_order(sell, "1", "49.99")
    assert storage.fill_order(sell, "1", "50.5").price == Decimal("50.5")
    stop_limit = _submitted(storage, "buy", "stop_limit", limit_price="55", stop_price="52")
    with pytest.raises(StocksbotError, match="above the order's buy limit 55"):
        storage.fill_order(stop_limit, "1", "56")
    # A stop order (a market order once triggered) and a market order have no limit to break.
    stop = _submitted(storage, "buy", "stop", stop_price="52")
    market = _submitted(storage, "buy", "market")
    assert storage.fill_order(stop, "1", "60").price == 60
    assert storage.fill_order(market, "1", "70").price == 70
    assert count(storage, tables.trades) == 4


def test_order_fill_and_trade_add_on_the_command_line(run, data) -> None:
    run("order", "add", "buy", "AAPL", "10", "--type", "limit", "--limit-price", "50")
    run("order", "submit", "1")
    expected = "Error: fill price 51 is above the order's buy limit 50 (use --force if the broker really filled it there)\n"
    assert one_line(run("order", "fill", "1", "10", "--price", "51")) == expected
    assert one_line(run("trade", "add", "buy", "AAPL", "10", "--price", "51", "--order", "1")) == expected
    assert data("trade", "list") == []
    assert one_line(run("trade", "add", "buy", "AAPL", "1", "--price", "51", "--force")) == (
        "Error: --force applies to a fill of an order only: give --order ID\n")

    result = run("order", "fill", "1", "4", "--price", "51", "--force")
    assert (result.exit_code, result.output) == (
        0, "bought 4 AAPL @ 51 (trade 1); order 1 partially_filled, 4 of 10 filled\n")
    trade = data("trade", "add", "buy", "AAPL", "6", "--price", "52", "--order", "1", "--force")
    assert (trade["order_id"], trade["price"]) == (1, "52")
    assert data("order", "show", "1")["status"] == "filled"


def test_order_fill_takes_allow_short_and_the_refusal_names_it(run, data) -> None:
    data("trade", "add", "buy", "AAPL", "100", "--price", "10")
    run("order", "add", "sell", "AAPL", "150")
    run("order", "submit", "1")
    assert one_line(run("order", "fill", "1", "150", "--price", "11")) == (
        "Error: cannot sell 150 AAPL: long position is 100 (use --allow-short to sell short)\n")
    assert data("order", "show", "1")["filled_quantity"] == "0"
    trade = data("order", "fill", "1", "150", "--price", "11", "--allow-short")
    assert (trade["order_id"], trade["realized_pnl"]) == (1, "100")
    [position] = data("position", "list")
    assert (position["side"], position["quantity"]) == ("short", "50")
    assert run("db", "check").exit_code == 0


def test_a_sell_while_short_names_the_short_and_the_switch(run) -> None:
    run("position", "add", "AAPL", "3", "--price", "10", "--short")
    assert one_line(run("trade", "add", "sell", "AAPL", "1", "--price", "10")) == (
        "Error: cannot sell 1 AAPL: long position is 0 (it is short 3; use --allow-short to sell short)\n")


# -- §2.7: stocksbot's own config namespaces hold known keys only ------------------------------

def test_a_misspelled_known_key_is_refused_with_the_closest(run, data) -> None:
    for key, closest in [("accounting.costbasis", "accounting.cost_basis"), ("trading.allowshort", "trading.allow_short"),
                         ("reporting.curency", "reporting.currency"), ("accounts.defualt", "accounts.default")]:
        namespace = key.partition(".")[0]
        expected = f"Error: unknown setting {key!r}: {namespace}.* keys are stocksbot's own; did you mean {closest}?\n"
        assert one_line(run("config", "set", key, "lifo")) == expected, key
        assert one_line(run("config", "get", key)) == expected, key
        assert one_line(run("config", "unset", key)) == expected, key
    assert one_line(run("config", "set", "accounting.tax_lots", "x")) == (
        "Error: unknown setting 'accounting.tax_lots': accounting.* keys are stocksbot's own; "
        "known: accounting.cost_basis\n")
    assert [c["key"] for c in data("config", "list") if not c["is_default"]] == []
    # Other namespaces stay free for users and bots; known keys work as before.
    assert run("config", "set", "bot.costbasis", "lifo").output == "bot.costbasis = lifo (string)\n"
    assert run("config", "set", "accounting.cost_basis", "lifo").exit_code == 0
    assert run("config", "get", "accounting.cost_basis").output == "lifo\n"


def test_a_misspelled_key_stored_before_the_rule_can_be_read_and_removed(storage) -> None:
    with storage.transaction() as conn:
        conn.execute(tables.config.insert().values(key="accounting.costbasis", value="lifo", type="string"))
    assert storage.config_get("accounting.costbasis").value == "lifo"
    with pytest.raises(StocksbotError, match="did you mean accounting.cost_basis"):
        storage.config_set("accounting.costbasis", "fifo")
    storage.config_unset("accounting.costbasis")
    with pytest.raises(StocksbotError, match="did you mean accounting.cost_basis"):
        storage.config_get("accounting.costbasis")
    assert storage.setting("accounting.cost_basis") == "fifo"


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- §2.11: names are printable, notes have no control characters -------------------------------

BAD_NAMES = ["a\nb", "tab\there", "bell\x07", "esc\x1b[31m", "nbsp\u00a0x", "line\u2028sep", "", "   ", "x" * 101]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_strategy_name_must_be_1_to_100_printable_characters(run, data, name: str) -> None:
    assert one_line(run("strategy", "add", name)) == (
        f"Error: invalid strategy name {name!r}: use 1-100 printable characters (no control characters)\n")
    assert data("strategy", "list") == []


def test_names_and_notes_on_the_command_line(run, data) -> None:
    result = run("strategy", "add", "mean reversion ü", "--description", "buys dips · sells rips")
    assert result.exit_code == 0, result.output
    line = "use text on one line (no tabs, newlines or other control characters)"
    assert one_line(run("strategy", "add", "s2", "--description", "two\nlines")) == (
        f"Error: invalid description 'two\\nlines': {line}\n")
    assert one_line(run("strategy", "add", "s3", "--param", "look\tback=20")) == (
        "Error: invalid parameter name 'look\\tback': use 1-100 printable characters (no control characters)\n")
    assert one_line(run("strategy", "set", "mean reversion ü", "a\x1bb=1")).startswith("Error: invalid parameter name")
    assert [s["name"] for s in data("strategy", "list")] == ["mean reversion ü"]
    # A parameter's value is free: it is shown as JSON, where the newline is escaped.
    assert data("strategy", "set", "mean reversion ü", "msg=two\nlines")["params"] == {"msg": "two\nlines"}

    assert one_line(run("trade", "add", "buy", "AAPL", "1", "--price", "1", "--note", "a\rb")) == (
        f"Error: invalid note 'a\\rb': {line}\n")
    assert one_line(run("cash", "deposit", "10", "--note", "x\ny")) == f"Error: invalid note 'x\\ny': {line}\n"
    assert one_line(run("account", "add", "ira", "--description", "a\tb")) == f"Error: invalid description 'a\\tb': {line}\n"
    assert one_line(run("config", "set", "bot.x", "1", "--description", "a\x00b")).startswith("Error: invalid description")
    assert one_line(run("account", "add", "i\nra")).startswith("Error: invalid account name 'i\\nra'")
    assert one_line(run("symbol", "set", "AAPL", "--name", "Apple\nInc")).startswith("Error: invalid name")
    assert data("trade", "list") == [] and data("cash", "list") == []
    assert [a["name"] for a in data("account", "list")] == ["main"]
    # Printable text with spaces and any script is a fine note.
    trade = data("trade", "add", "buy", "AAPL", "1", "--price", "1", "--note", "  took profit — 利益 ✓  ")
    assert trade["note"] == "  took profit — 利益 ✓  "


def test_the_python_api_refuses_the_same(storage) -> None:
    with pytest.raises(StocksbotError, match="invalid strategy name"):
        storage.add_strategy("a\nb")
    with pytest.raises(StocksbotError, match="invalid parameter name"):
        storage.add_strategy("ok", params={"a\nb": 1})
    with pytest.raises(StocksbotError, match="invalid note"):
        storage.record_dividend("AAPL", "1", note="x\ny")
    with pytest.raises(StocksbotError, match="invalid note"):
        storage.transfer_cash("1", from_account="main", to_account="main", note="\x1b")
    assert count(storage, tables.strategies) == 0 and count(storage, tables.cash_movements) == 0


def test_trade_import_refuses_control_characters_in_strategy_and_note(storage, tmp_path) -> None:
    path = tmp_path / "fills.csv"
    path.write_text(
        "executed_at,side,symbol,quantity,price,strategy,note\n"
        '2024-01-02,buy,AAPL,1,10,"mo\nmo",\n'
        '2024-01-03,buy,AAPL,1,10,momo,"two\nlines"\n'
        "2024-01-04,buy,AAPL,1,10,momo,fine note\n",
        encoding="utf-8",
    )
    with pytest.raises(StocksbotError) as info:
        storage.import_trades(str(path))
    assert info.value.errors == [  # type: ignore[attr-defined]
        "line 3: invalid strategy name 'mo\\nmo': use 1-100 printable characters (no control characters)",
        "line 5: invalid note 'two\\nlines': use text on one line (no tabs, newlines or other control characters)",
    ]
    assert count(storage, tables.trades) == 0 and count(storage, tables.strategies) == 0
