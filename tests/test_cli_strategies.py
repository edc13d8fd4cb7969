"""`stocksbot strategy ...` through Click's runner: parameters, metrics from the ledger, removal rules."""

from __future__ import annotations

import pytest

STRATEGY_KEYS = {"name", "description", "params", "enabled", "trades", "closing_trades", "win_rate", "realized_pnl",
                 "costs", "open_positions"}
UNKNOWN = "Error: unknown strategy 'nope' (see `stocksbot strategy list`)\n"


@pytest.fixture
def mom(run) -> None:
    result = run("strategy", "add", "mom", "--description", "12-1 momentum", "--param", "lookback=20",
                 "--param", "name=x")
    assert (result.exit_code, result.output) == (0, "added strategy mom\n")


def test_add_with_params(mom, run, data) -> None:
    shown = data("strategy", "show", "mom")
    assert STRATEGY_KEYS <= set(shown)
    assert {k: shown[k] for k in STRATEGY_KEYS} == {
        "name": "mom", "description": "12-1 momentum", "params": {"lookback": 20, "name": "x"}, "enabled": True,
        "trades": 0, "closing_trades": 0, "win_rate": None, "realized_pnl": "0", "costs": "0", "open_positions": 0,
    }
    result = run("strategy", "add", "mom")
    assert (result.exit_code, result.output) == (1, "Error: strategy 'mom' already exists\n")
    result = run("strategy", "add", "bad", "--param", "oops")
    assert (result.exit_code, result.output) == (1, "Error: parameter 'oops' must look like KEY=VALUE, e.g. lookback=20\n")
    assert [s["name"] for s in data("strategy", "list")] == ["mom"]


def test_metrics_come_from_the_ledger(mom, run, data) -> None:
    for args in (["buy", "AAPL", "10", "--price", "100", "--commission", "1", "--at", "2024-01-02"],
                 ["sell", "AAPL", "10", "--price", "110", "--commission", "1", "--fees", "0.25", "--at", "2024-01-03"]):
        assert run("trade", "add", *args, "--strategy", "mom").exit_code == 0
    shown = data("strategy", "show", "mom")
    assert {k: shown[k] for k in ("trades", "closing_trades", "win_rate", "realized_pnl", "costs", "open_positions")} == {
        "trades": 2, "closing_trades": 1, "win_rate": "1", "realized_pnl": "97.75", "costs": "2.25", "open_positions": 0,
    }
    assert "100.00%" in run("strategy", "show", "mom").output
    assert "100%" in run("--full", "strategy", "show", "mom").output

    run("position", "add", "MSFT", "1", "--price", "300", "--strategy", "mom", "--at", "2024-01-04")
    run("position", "close", "MSFT", "--price", "290", "--at", "2024-01-05")  # inherits the position's strategy
    run("position", "add", "MSFT", "2", "--price", "280", "--strategy", "mom", "--at", "2024-01-06")
    [listed] = data("strategy", "list")
    assert (listed["trades"], listed["closing_trades"], listed["win_rate"], listed["realized_pnl"],
            listed["open_positions"]) == (5, 2, "0.5", "87.75", 1)
    table = run("strategy").output
    assert "50.00%" in table and "87.75" in table and "\x1b[" not in table
    assert [p["symbol"] for p in data("position", "list", "--strategy", "mom")] == ["MSFT"]


def test_disable_enable_and_set(mom, run, data) -> None:
    assert run("strategy", "disable", "mom").output == "disabled strategy mom\n"
    assert data("strategy", "show", "mom")["enabled"] is False
    assert data("strategy", "enable", "mom")["enabled"] is True

    result = run("strategy", "set", "mom", "lookback=60", "top=5")
    assert (result.exit_code, result.output) == (0, 'mom params: {"lookback": 60, "name": "x", "top": 5}\n')
    assert data("strategy", "set", "mom", "universe=[\"AAPL\"]")["params"] == {
        "lookback": 60, "name": "x", "top": 5, "universe": ["AAPL"]}
    assert run("strategy", "set", "mom").exit_code == 2  # at least one KEY=VALUE
    result = run("strategy", "set", "mom", "top")
    assert (result.exit_code, result.output) == (1, "Error: parameter 'top' must look like KEY=VALUE, e.g. lookback=20\n")


def test_remove(mom, run, data) -> None:
    run("trade", "add", "buy", "AAPL", "1", "--price", "100", "--strategy", "mom")
    result = run("strategy", "remove", "mom")
    assert (result.exit_code, result.output) == (
        1, "Error: strategy 'mom' has 1 trade and cannot be removed; disable it instead "
           "(`stocksbot strategy disable mom`)\n")
    run("strategy", "add", "idle")
    assert data("strategy", "remove", "idle") == {"name": "idle", "removed": True}
    run("strategy", "add", "idle2")
    assert run("strategy", "remove", "idle2").output == "removed strategy idle2\n"
    assert [s["name"] for s in data("strategy", "list")] == ["mom"]


def test_unknown_strategy(run) -> None:
    for args in (["show", "nope"], ["enable", "nope"], ["disable", "nope"], ["remove", "nope"],
                 ["set", "nope", "a=1"]):
        result = run("strategy", *args)
        assert (result.exit_code, result.output) == (1, UNKNOWN), args
    result = run("position", "list", "--strategy", "nope")
    assert (result.exit_code, result.output) == (1, UNKNOWN)
