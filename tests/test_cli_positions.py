"""`stocksbot position ...` and `stocksbot trade ...` through Click's runner, on both backends.

Exit codes and exact output, refusals included; numbers are checked as the JSON strings, so
any float on the way (parsing, storage, SQL, output) would show up as a wrong digit.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

TRADE_KEYS = {"account", "currency", "id", "side", "symbol", "quantity", "price", "commission", "fees", "executed_at",
              "realized_pnl", "order_id", "strategy", "external_id", "note", "voided_at", "void_reason"}
POSITION_KEYS = {"id", "symbol", "side", "quantity", "avg_entry_price", "realized_pnl", "market_price",
                 "market_value", "unrealized_pnl", "status", "opened_at", "closed_at", "strategy"}


@pytest.fixture
def worked(run) -> None:
    """The worked example: two buys, then sells of 4 @ 160 and 2 @ 140 (FIFO)."""
    steps = [
        (("position", "add", "AAPL", "4", "--price", "149.50", "--commission", "1.00", "--at", "2024-01-02"),
         "bought 4 AAPL @ 149.5 (trade 1)\n"),
        (("trade", "add", "buy", "AAPL", "6", "--price", "150", "--at", "2024-01-03"),
         "bought 6 AAPL @ 150 (trade 2)\n"),
        (("trade", "add", "sell", "AAPL", "4", "--price", "160", "--at", "2024-01-04"),
         "sold 4 AAPL @ 160 (trade 3), realized 41.00\n"),
        (("trade", "add", "sell", "AAPL", "2", "--price", "140", "--at", "2024-01-05"),
         "sold 2 AAPL @ 140 (trade 4), realized -20.00\n"),
    ]
    for args, output in steps:
        result = run(*args)
        assert (result.exit_code, result.output) == (0, output)


def test_worked_example(worked, data) -> None:
    trades = data("trade", "list")
    assert set(trades[0]) == TRADE_KEYS
    assert [(t["id"], t["side"], t["quantity"], t["price"], t["realized_pnl"]) for t in trades] == [
        (1, "buy", "4", "149.5", None), (2, "buy", "6", "150", None),
        (3, "sell", "4", "160", "41"), (4, "sell", "2", "140", "-20"),
    ]
    assert trades[0]["commission"] == "1" and trades[0]["executed_at"].endswith("+00:00")

    [position] = data("position", "list")
    assert POSITION_KEYS <= set(position)
    assert {k: position[k] for k in ("symbol", "side", "quantity", "avg_entry_price", "realized_pnl", "market_price",
                                     "market_value", "unrealized_pnl", "status", "closed_at", "strategy")} == {
        "symbol": "AAPL", "side": "long", "quantity": "4", "avg_entry_price": "150", "realized_pnl": "21",
        "market_price": None, "market_value": None, "unrealized_pnl": None, "status": "open", "closed_at": None,
        "strategy": None,
    }


def test_changing_the_cost_basis_rebuilds(worked, run, data) -> None:
    assert run("config", "set", "accounting.cost_basis", "lifo").exit_code == 0
    assert [t["realized_pnl"] for t in data("trade", "list")] == [None, None, "40", "-20"]
    [position] = data("position", "list")
    assert (position["quantity"], position["avg_entry_price"], position["realized_pnl"]) == ("4", "149.75", "20")
    assert data("position", "rebuild") == {"symbols": 1}
    assert run("position", "rebuild").output == "rebuilt positions of 1 symbol\n"
    [rebuilt] = data("position", "list")
    assert {**rebuilt, "id": None} == {**position, "id": None}  # rebuilt rows may get new ids


def test_oversell_is_refused_unless_shorting_is_allowed(worked, run, data) -> None:
    before = run("--json", "trade", "list").output
    result = run("trade", "add", "sell", "AAPL", "150", "--price", "155")
    expected = "Error: cannot sell 150 AAPL: long position is 4 (use --allow-short to sell short)\n"
    assert (result.exit_code, result.output) == (1, expected)
    assert run("--json", "trade", "list").output == before

    result = run("trade", "add", "sell", "AAPL", "150", "--price", "155", "--allow-short")
    # The refused trade may have used up an id (PostgreSQL sequences do not roll back).
    assert result.exit_code == 0
    assert re.fullmatch(r"sold 150 AAPL @ 155 \(trade \d+\), realized 20\.00\n", result.output)
    [short] = data("position", "list")
    assert (short["side"], short["quantity"], short["avg_entry_price"], short["realized_pnl"]) == (
        "short", "146", "155", "0")
    assert [(p["side"], p["status"], p["realized_pnl"]) for p in data("position", "list", "--all")] == [
        ("long", "closed", "41"), ("short", "open", "0"),
    ]


def test_position_add_short(worked, run, data) -> None:
    result = run("position", "add", "AAPL", "1", "--price", "150", "--short")
    assert (result.exit_code, result.output) == (
        1, "Error: cannot add a short position in AAPL: it is long 4 (close it first)\n")
    result = run("position", "add", "tsla", "5", "--price", "240", "--short", "--fees", "0.5")
    assert (result.exit_code, result.output) == (0, "sold 5 TSLA @ 240 (trade 5)\n")
    tsla = [p for p in data("position", "list") if p["symbol"] == "TSLA"]
    assert [(p["side"], p["quantity"], p["avg_entry_price"]) for p in tsla] == [("short", "5", "239.9")]


def test_position_close_partly_then_fully(worked, run, data) -> None:
    result = run("position", "close", "AAPL", "--price", "170", "--quantity", "1")
    assert (result.exit_code, result.output) == (0, "sold 1 AAPL @ 170 (trade 5), realized 20.00\n")
    result = run("position", "close", "AAPL", "--price", "170", "--quantity", "5")
    assert (result.exit_code, result.output) == (1, "Error: cannot close 5 AAPL: the long position is 3\n")
    closing = data("position", "close", "AAPL", "--price", "170", "--commission", "3")
    assert (closing["side"], closing["quantity"], closing["realized_pnl"]) == ("sell", "3", "57")

    assert data("position", "list") == []
    assert run("position").output == run("position", "list").output
    [closed] = data("position", "list", "--closed")
    assert (closed["status"], closed["quantity"], closed["realized_pnl"]) == ("closed", "0", "98")
    assert closed["closed_at"] is not None
    assert data("position", "list", "--all") == [closed]
    result = run("position", "close", "AAPL", "--price", "170")
    assert (result.exit_code, result.output) == (1, "Error: no open position in AAPL\n")
    result = run("position", "list", "--closed", "--all")
    assert result.exit_code == 2
    assert result.output.endswith("Error: --closed and --all cannot be used together\n")


def test_position_show(worked, run, data) -> None:
    detail = data("position", "show", "aapl")
    assert POSITION_KEYS <= set(detail)
    assert (detail["quantity"], detail["avg_entry_price"]) == ("4", "150")
    assert [(lot["trade_id"], lot["quantity"], lot["cost"], lot["unit_cost"]) for lot in detail["lots"]] == [
        (2, "4", "600", "150")]
    assert [t["id"] for t in detail["trades"]] == [1, 2, 3, 4]
    text = run("position", "show", "AAPL").output
    assert "AAPL position" in text and "open lots" in text and "trades" in text
    result = run("position", "show", "MSFT")
    assert (result.exit_code, result.output) == (1, "Error: no position in MSFT\n")


def test_trade_list_filters(worked, run, data) -> None:
    assert [t["id"] for t in data("trade", "list", "--limit", "2")] == [3, 4]
    assert [t["id"] for t in data("trade", "list", "--since", "2024-01-03", "--until", "2024-01-04")] == [2, 3]
    assert data("trade", "list", "--symbol", "msft") == []
    result = run("trade", "list", "--limit", "0")
    assert (result.exit_code, result.output) == (1, "Error: --limit must be 1 or more, got 0\n")
    assert run("trade", "list", "--limit", "x").exit_code == 2


def test_trade_add_keeps_note_and_external_id(run, data) -> None:
    trade = data("trade", "add", "buy", "BRK.B", "1", "--price", "400", "--external-id", "B-1", "--note", "[red]x")
    assert (trade["symbol"], trade["external_id"], trade["note"]) == ("BRK.B", "B-1", "[red]x")
    result = run("trade", "add", "buy", "BRK.B", "1", "--price", "400", "--external-id", "B-1")
    assert (result.exit_code, result.output) == (1, "Error: a trade with external id 'B-1' already exists\n")
    assert "[red]x" in run("trade", "list").output  # user text is shown literally, not as markup


def test_exact_numbers_round_trip(run, data) -> None:
    result = run("trade", "add", "buy", "TINY", "0.0000000001", "--price", "123456789012345678.5")
    assert (result.exit_code, result.output) == (0, "bought 0.0000000001 TINY @ 123456789012345678.5 (trade 1)\n")
    [trade] = data("trade", "list")
    assert (trade["quantity"], trade["price"]) == ("0.0000000001", "123456789012345678.5")

    for _ in range(3):
        assert run("trade", "add", "buy", "DIME", "1", "--price", "0.1").exit_code == 0
    [dime] = [p for p in data("position", "list") if p["symbol"] == "DIME"]
    assert (dime["quantity"], dime["avg_entry_price"], dime["open_cost"]) == ("3", "0.1", "0.3")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--price", "1", "--", "-5"], "Error: quantity must be greater than 0, got '-5'\n"),
        (["0", "--price", "1"], "Error: quantity must be greater than 0, got '0'\n"),
        (["NaN", "--price", "1"], "Error: quantity must be a number such as 10, 150.25 or .5, got 'NaN'\n"),
        (["1e40", "--price", "1"],
         "Error: quantity must be a number with at most 18 integer digits and 10 decimal places, got '1e40'\n"),
        (["1", "--price", "nan"], "Error: price must be a number such as 10, 150.25 or .5, got 'nan'\n"),
        (["1", "--price", "1", "--commission", "-1"], "Error: commission must be 0 or more, got '-1'\n"),
        (["1", "--price", "1", "--at", "2024-02-30"],
         "Error: invalid --at '2024-02-30': use an ISO date or datetime, e.g. 2024-01-15, 2024-01-15T14:30 or "
         "2024-01-15T14:30:00+00:00\n"),
        (["1", "--price", "1", "--strategy", "nope"], "Error: unknown strategy 'nope' (see `stocksbot strategy list`)\n"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_writes_nothing(run, args: list[str], message: str) -> None:
    for command in (["trade", "add", "buy", "AAPL"], ["position", "add", "AAPL"]):
        result = run(*command, *args)
        assert (result.exit_code, result.output) == (1, message), command
    assert run("--json", "trade", "list").output == "[]\n"
    assert run("--json", "position", "list", "--all").output == "[]\n"


def test_bad_symbol(run) -> None:
    result = run("trade", "add", "buy", "AA PL", "1", "--price", "1")
    assert result.exit_code == 1
    assert result.output == ("Error: invalid symbol 'AA PL': use 1-32 letters, digits or . - / : _ starting with a "
                             "letter or digit (e.g. AAPL, BRK.B, BTC-USD, EUR/USD)\n")
    assert run("--json", "trade", "list").output == "[]\n"


def test_click_usage_errors_keep_exit_2(run) -> None:
    assert run("trade", "add", "hold", "AAPL", "1", "--price", "1").exit_code == 2
    assert run("trade", "add", "buy", "AAPL", "1").exit_code == 2  # --price is required
    assert run("position", "close", "AAPL").exit_code == 2


def test_position_table_for_people(worked, run) -> None:
    output = run("position", "list").output
    assert "\x1b[" not in output
    lines = output.splitlines()
    header, rule = lines[0], lines[1]
    row = next(line for line in lines if "AAPL" in line)
    # Piped output is a plain table: each column spans its dashes in the rule line.
    spans, start = [], 0
    for dashes in rule.split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    cells = {header[a:b].strip(): row.ljust(len(rule))[a:b] for a, b in spans}
    assert cells["symbol"].startswith("AAPL")  # text left-aligned
    for name, value in (("qty", "4"), ("avg entry", "150"), ("realized", "21.00"), ("unrealized", "-")):
        assert cells[name].strip() == value and cells[name].endswith(value), name  # numbers right-aligned
        assert len(cells[name]) == len(cells[name].rstrip()), name
    trades = run("trade", "list").output
    assert "\x1b[" not in trades and "-20" in trades and "149.5" in trades


def test_pnl_cells_are_coloured_by_sign() -> None:
    from stocksbot.cli.output import pnl_cell, show_percent

    assert [(str(c), c.style) for c in map(pnl_cell, [Decimal("41"), Decimal("-20"), Decimal("0"), None])] == [
        ("41.00", "green"), ("-20.00", "red"), ("0.00", ""), ("-", "")]
    assert [show_percent(r) for r in (Decimal("0.5"), Decimal("1"), Decimal("0"), None)] == [
        "50.00%", "100.00%", "0.00%", "-"]
