"""`stocksbot order ...` through Click's runner: the life cycle, fills and refusals, on both backends."""

from __future__ import annotations

ORDER_KEYS = {"id", "side", "symbol", "type", "quantity", "limit_price", "stop_price", "tif", "status",
              "filled_quantity", "avg_fill_price", "strategy", "external_id", "created_at", "updated_at"}


def test_cli_choices_match_the_ledger() -> None:
    from stocksbot.cli import order
    from stocksbot.ledger import orders

    assert order.ORDER_TYPES == orders.ORDER_TYPES
    assert order.TIME_IN_FORCE == orders.TIME_IN_FORCE
    assert order.ORDER_STATUSES == orders.ORDER_STATUSES


def test_order_prices_must_match_the_type(run) -> None:
    for args, message in [
        (["--type", "limit"], "Error: a limit order needs a limit price\n"),
        (["--type", "stop", "--limit-price", "1"], "Error: a stop order needs a stop price\n"),
        (["--type", "stop_limit", "--limit-price", "1"],
         "Error: a stop_limit order needs both a limit price and a stop price (missing: stop price)\n"),
        (["--limit-price", "1"], "Error: a market order takes no limit or stop price: use type limit, stop or stop_limit\n"),
        (["--type", "limit", "--limit-price", "-1"], "Error: limit price must be greater than 0, got '-1'\n"),
    ]:
        result = run("order", "add", "buy", "AAPL", "10", *args)
        assert (result.exit_code, result.output) == (1, message), args
    assert run("--json", "order", "list").output == "[]\n"


def test_life_cycle_with_partial_fills(run, data) -> None:
    result = run("order", "add", "buy", "aapl", "10", "--type", "limit", "--limit-price", "150", "--tif", "gtc")
    assert (result.exit_code, result.output) == (0, "order 1: buy 10 AAPL limit 150 gtc (pending)\n")
    result = run("order", "fill", "1", "4", "--price", "149.5")
    assert (result.exit_code, result.output) == (1, "Error: cannot fill order: it is pending (submit it first)\n")
    assert run("order", "submit", "1").output == "order 1: buy 10 AAPL limit 150 gtc (submitted)\n"

    result = run("order", "fill", "1", "4", "--price", "149.5")
    assert (result.exit_code, result.output) == (
        0, "bought 4 AAPL @ 149.5 (trade 1); order 1 partially_filled, 4 of 10 filled\n")
    result = run("order", "fill", "1", "7", "--price", "150")
    assert (result.exit_code, result.output) == (1, "Error: fill of 7 exceeds the order's remaining quantity 6\n")
    # 150.1 is above the limit 150: recorded with --force (docs/ledger.md §7.4).
    trade = data("order", "fill", "1", "6", "--price", "150.1", "--commission", "1", "--at", "2030-01-01", "--force")
    assert (trade["side"], trade["quantity"], trade["price"], trade["commission"], trade["order_id"]) == (
        "buy", "6", "150.1", "1", 1)

    order = data("order", "show", "1")
    assert set(order) >= ORDER_KEYS
    assert (order["status"], order["filled_quantity"], order["avg_fill_price"], order["limit_price"]) == (
        "filled", "10", "149.86", "150")
    assert [t["order_id"] for t in data("trade", "list")] == [1, 1]
    assert [p["quantity"] for p in data("position", "list")] == ["10"]

    result = run("order", "cancel", "1")
    assert (result.exit_code, result.output) == (1, "Error: cannot change order from filled to cancelled: filled is final\n")
    result = run("order", "fill", "1", "1", "--price", "150")
    assert (result.exit_code, result.output) == (1, "Error: cannot fill order: it is filled (filled is final)\n")
    assert len(data("trade", "list")) == 2


def test_transitions(run, data) -> None:
    for _ in range(3):
        assert run("order", "add", "sell", "MSFT", "5", "--type", "stop", "--stop-price", "300").exit_code == 0
    assert run("order", "reject", "1").output == "order 1: sell 5 MSFT stop 300 day (rejected)\n"
    result = run("order", "expire", "1")
    assert (result.exit_code, result.output) == (1, "Error: cannot change order from rejected to expired: rejected is final\n")
    result = run("order", "expire", "2")
    assert (result.exit_code, result.output) == (
        1, "Error: cannot change order from pending to expired: allowed from pending: submitted, cancelled, rejected\n")
    assert data("order", "cancel", "2")["status"] == "cancelled"
    assert data("order", "submit", "3")["status"] == "submitted"
    assert data("order", "expire", "3")["status"] == "expired"
    assert [(o["id"], o["status"]) for o in data("order", "list")] == [(1, "rejected"), (2, "cancelled"), (3, "expired")]
    assert [o["id"] for o in data("order", "list", "--status", "cancelled")] == [2]
    assert data("order", "list", "--symbol", "aapl") == []


def test_unknown_order_id(run) -> None:
    for args in (["show", "99"], ["submit", "99"], ["cancel", "0"], ["fill", "99", "1", "--price", "1"]):
        result = run("order", *args)
        assert result.exit_code == 1, args
        assert result.output == f"Error: no order with id {args[1]}\n"


def test_click_usage_errors_keep_exit_2(run) -> None:
    result = run("order", "list", "--status", "done")
    assert result.exit_code == 2
    assert "Invalid value for '--status'" in result.output
    assert run("order", "add", "buy", "AAPL", "1", "--type", "twap").exit_code == 2
    assert run("order", "add", "buy", "AAPL", "1", "--tif", "week").exit_code == 2
    assert run("order", "show", "one").exit_code == 2


def test_order_with_strategy_and_tables(run, data) -> None:
    assert run("strategy", "add", "mom").exit_code == 0
    order = data("order", "add", "buy", "AAPL", "2", "--strategy", "mom", "--external-id", "BRK-7")
    assert (order["strategy"], order["external_id"], order["type"], order["tif"]) == ("mom", "BRK-7", "market", "day")
    run("order", "submit", "1")
    assert data("order", "fill", "1", "2", "--price", "100")["strategy"] == "mom"  # a fill inherits the strategy
    table = run("order", "list").output
    assert "\x1b[" not in table and "AAPL" in table and "filled" in table and "mom" in table
    shown = run("order", "show", "1").output
    assert "BRK-7" in shown and "avg fill price" in shown
