"""Realized P&L per strategy: one attribution rule for `strategy list` and `summary` (docs/ledger.md §8.3).

The rule: realized P&L belongs to the strategy of the closing trade; a closing trade with no
strategy gives each lot it closed to the strategy of the trade that opened that lot.
"""

from __future__ import annotations

import pytest


def _realized_by_list(data, *extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {s["name"]: s["realized_pnl"] for s in data("strategy", "list", *extra)}


def _realized_by_summary(data, *extra: str) -> dict[str | None, str]:  # type: ignore[no-untyped-def]
    return {line["strategy"]: line["realized_pnl"] for line in data("summary", *extra)["by_strategy"]}


def _trade(run, *args: str) -> None:  # type: ignore[no-untyped-def]
    result = run("trade", "add", *args)
    assert result.exit_code == 0, result.output


@pytest.fixture
def two_strategies(run) -> None:  # type: ignore[no-untyped-def]
    for name in ("s1", "s2"):
        assert run("strategy", "add", name).exit_code == 0


@pytest.mark.slow  # several CLI runs: over a second
def test_the_issue_example_agrees_in_both_commands(two_strategies, run, data) -> None:  # type: ignore[no-untyped-def]
    """Issue 11 §2.2: buy E with s1, sell it with s2 at a loss; buy F with s2, sell it untagged at a gain."""
    _trade(run, "buy", "E", "10", "--price", "10", "--strategy", "s1", "--at", "2024-01-02")
    _trade(run, "sell", "E", "10", "--price", "9", "--strategy", "s2", "--at", "2024-01-03")
    _trade(run, "buy", "F", "10", "--price", "10", "--strategy", "s2", "--at", "2024-01-04")
    _trade(run, "sell", "F", "10", "--price", "11", "--at", "2024-01-05")
    # E's loss belongs to s2 (its closing trade); F's gain to s2 too (the untagged sell closed s2's lot).
    assert _realized_by_list(data) == {"s1": "0", "s2": "0"}
    assert _realized_by_summary(data) == {"s1": "0", "s2": "0"}
    assert _realized_by_list(data, "--account", "main") == {"s1": "0", "s2": "0"}
    assert _realized_by_summary(data, "--account", "main") == {"s1": "0", "s2": "0"}
    s2 = data("strategy", "show", "s2")
    assert (s2["trades"], s2["closing_trades"], s2["win_rate"]) == (2, 2, "0.5")
    table = run("summary").output
    assert "s1" in table and "-10" not in table


def test_untagged_partial_close_goes_to_the_opening_strategy(two_strategies, run, data) -> None:  # type: ignore[no-untyped-def]
    """docs/ledger.md §8.3's example: the untagged sell of 4 gives its P&L to s1, the lot's strategy."""
    _trade(run, "buy", "X", "10", "--price", "100", "--commission", "1", "--strategy", "s1", "--at", "2024-01-02")
    _trade(run, "sell", "X", "4", "--price", "110", "--commission", "1", "--at", "2024-01-03")
    _trade(run, "sell", "X", "6", "--price", "120", "--strategy", "s2", "--at", "2024-01-04")
    # 4 x 110 - 1 - 1001 x 4/10 = 38.6 to s1; 6 x 120 - 600.6 = 119.4 to s2.
    assert _realized_by_list(data) == {"s1": "38.6", "s2": "119.4"}
    assert _realized_by_summary(data) == {"s1": "38.6", "s2": "119.4"}
    assert data("summary")["realized_pnl"] == "158"
    s1 = data("strategy", "show", "s1")
    assert (s1["trades"], s1["closing_trades"], s1["win_rate"], s1["costs"]) == (1, 1, "1", "1")


@pytest.mark.slow  # several CLI runs: over a second
def test_one_untagged_sell_splits_over_the_lots_strategies(two_strategies, run, data) -> None:  # type: ignore[no-untyped-def]
    """An untagged sell that closes lots of two strategies splits its realized P&L lot by lot,
    in every cost-basis method; an untagged lot's share goes to no strategy."""
    _trade(run, "buy", "Y", "5", "--price", "10", "--strategy", "s1", "--at", "2024-01-02")
    _trade(run, "buy", "Y", "5", "--price", "20", "--strategy", "s2", "--at", "2024-01-03")
    _trade(run, "buy", "Y", "5", "--price", "30", "--at", "2024-01-04")
    _trade(run, "sell", "Y", "10", "--price", "15", "--at", "2024-01-05")
    # fifo: s1's lot +25, s2's lot -25.
    assert _realized_by_list(data) == {"s1": "25", "s2": "-25"}
    assert _realized_by_summary(data) == {"s1": "25", "s2": "-25"}
    assert run("config", "set", "accounting.cost_basis", "lifo").exit_code == 0
    # lifo: the untagged lot (-75) and s2's lot (-25).
    assert _realized_by_list(data) == {"s1": "0", "s2": "-25"}
    assert _realized_by_summary(data) == {"s1": "0", "s2": "-25", None: "-75"}
    assert run("config", "set", "accounting.cost_basis", "average").exit_code == 0
    # average: one pooled lot, opened by s1's buy: 10 x 15 - 10 x 20 = -50.
    assert _realized_by_list(data) == {"s1": "-50", "s2": "0"}
    assert _realized_by_summary(data) == {"s1": "-50"}  # summary lists only strategies with figures


def test_accounts_keep_their_own_attribution(two_strategies, run, data) -> None:  # type: ignore[no-untyped-def]
    assert run("account", "add", "ira", "--currency", "USD").exit_code == 0
    _trade(run, "buy", "Z", "10", "--price", "10", "--strategy", "s1", "--at", "2024-01-02")
    _trade(run, "sell", "Z", "10", "--price", "12", "--at", "2024-01-03")
    _trade(run, "buy", "Z", "10", "--price", "10", "--strategy", "s2", "--account", "ira", "--at", "2024-01-02")
    _trade(run, "sell", "Z", "10", "--price", "7", "--account", "ira", "--at", "2024-01-03")
    assert _realized_by_list(data) == {"s1": "20", "s2": "-30"}
    assert _realized_by_summary(data) == {"s1": "20", "s2": "-30"}
    assert _realized_by_list(data, "--account", "ira") == {"s1": "0", "s2": "-30"}
    assert _realized_by_summary(data, "--account", "ira") == {"s2": "-30"}
    assert _realized_by_summary(data, "--account", "main") == {"s1": "20"}


def test_a_ledger_without_strategies_is_unchanged(run, data) -> None:  # type: ignore[no-untyped-def]
    _trade(run, "buy", "W", "10", "--price", "10", "--at", "2024-01-02")
    _trade(run, "sell", "W", "4", "--price", "12", "--at", "2024-01-03")
    summary = data("summary")
    assert (summary["realized_pnl"], _realized_by_summary(data)) == ("8", {None: "8"})
    assert data("strategy", "list") == []


@pytest.mark.slow  # several CLI runs: over a second
def test_lots_keep_their_opening_strategy_across_a_transfer_and_a_rename(two_strategies, run, data) -> None:  # type: ignore[no-untyped-def]
    """Lots moved to another account (docs/ledger.md §12.4) or carried to a symbol's new name
    (§12.6) still belong to the trade that opened them."""
    assert run("account", "add", "ira", "--currency", "USD").exit_code == 0
    _trade(run, "buy", "T", "10", "--price", "10", "--strategy", "s1", "--at", "2024-01-02")
    assert run("transfer", "T", "10", "--from", "main", "--to", "ira", "--at", "2024-01-03").exit_code == 0
    _trade(run, "sell", "T", "10", "--price", "13", "--account", "ira", "--at", "2024-01-04")
    _trade(run, "buy", "OLD", "5", "--price", "20", "--strategy", "s2", "--at", "2024-01-02")
    result = run("symbol", "rename", "OLD", "NEW", "--at", "2024-02-01")
    assert result.exit_code == 0, result.output
    _trade(run, "sell", "NEW", "5", "--price", "18", "--at", "2024-02-02")
    assert _realized_by_list(data) == {"s1": "30", "s2": "-10"}
    assert _realized_by_summary(data) == {"s1": "30", "s2": "-10"}
    assert _realized_by_summary(data, "--account", "ira") == {"s1": "30"}


def test_a_flip_opens_a_lot_under_the_closing_trades_strategy(two_strategies, run, data) -> None:  # type: ignore[no-untyped-def]
    """An untagged sell beyond the long closes s1's lot and opens a short lot of its own (no
    strategy): the buy that covers that short gives its P&L to no strategy, not to s1."""
    _trade(run, "buy", "V", "10", "--price", "10", "--strategy", "s1", "--at", "2024-01-02")
    _trade(run, "sell", "V", "15", "--price", "12", "--allow-short", "--at", "2024-01-03")
    _trade(run, "buy", "V", "5", "--price", "11", "--at", "2024-01-04")
    assert _realized_by_list(data) == {"s1": "20", "s2": "0"}
    assert _realized_by_summary(data) == {"s1": "20", None: "5"}
