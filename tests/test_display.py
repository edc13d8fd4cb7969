"""Tables round for reading unless --full; JSON is never rounded (docs/ledger.md §1.3, "Display")."""

from __future__ import annotations

from decimal import Decimal

import click
import pytest

from stocksbot.cli.context import AppContext
from stocksbot.cli.output import (
    money_shower,
    pnl_cell,
    show_average,
    show_decimal,
    show_money,
    show_percent,
    show_price,
)

D = Decimal


def _shown(full: bool, show, *values):  # type: ignore[no-untyped-def]
    """Each value through `show` inside a command whose root context has --full set or not."""
    with click.Context(click.Command("stocksbot"), obj=AppContext(full=full)):
        return [show(value) for value in values]


def test_money_rounds_half_away_from_zero_to_2_places() -> None:
    values = [D("0.125"), D("-0.125"), D("9996.3025575"), D("1500"), D("0"), D("-0"), None,
              D("123456789012345678.995"), D("0.0000000001")]
    assert _shown(False, show_money, *values) == [
        "0.13", "-0.13", "9996.30", "1500.00", "0.00", "0.00", "-", "123456789012345679.00", "0.00"]
    assert _shown(True, show_money, *values) == [
        "0.125", "-0.125", "9996.3025575", "1500", "0", "0", "-", "123456789012345678.995",
        "0.0000000001"]


def test_money_that_rounds_to_zero_keeps_its_sign() -> None:
    assert _shown(False, show_money, D("-0.004"), D("0.004"), D("-0.005")) == ["-0.00", "0.00", "-0.01"]
    assert [(str(c), c.style) for c in _shown(False, pnl_cell, D("-0.004"), D("0.004"))] == [
        ("-0.00", "red"), ("0.00", "green")]


def test_averages_round_to_4_places_and_trim() -> None:
    third = D("33.33333333333333333333")
    assert _shown(False, show_average, third, D("150"), D("100.00005"), D("-0.00004"), None) == [
        "33.3333", "150", "100.0001", "0", "-"]
    assert _shown(True, show_average, third, D("150")) == ["33.33333333333333333333", "150"]


def test_prices_keep_their_input_digits() -> None:
    # up to 10 places is what a user can type (docs/ledger.md §1.2); more was derived, e.g. across a split
    assert _shown(False, show_price, D("100.12345"), D("0.0000000001"), D("110.125"), D("33.33333333333333333333"),
                  None) == ["100.12345", "0.0000000001", "110.125", "33.3333", "-"]
    assert _shown(True, show_price, D("33.33333333333333333333")) == ["33.33333333333333333333"]


def test_percentages_to_2_places_and_quantities_exact() -> None:
    ratios = (D("0.66666666666666666667"), D("0.5"), D("0.0000499"), None)
    assert _shown(False, show_percent, *ratios) == ["66.67%", "50.00%", "0.00%", "-"]
    assert _shown(True, show_percent, *ratios) == ["66.666666666666666667%", "50%", "0.00499%", "-"]
    assert _shown(False, show_decimal, D("0.0000000001"), D("2.123456789")) == ["0.0000000001", "2.123456789"]


def test_the_setting_is_read_once_for_long_tables() -> None:
    assert _shown(False, lambda v: money_shower()(v), D("1.005")) == ["1.01"]
    assert _shown(True, lambda v: money_shower()(v), D("1.005")) == ["1.005"]
    assert show_money(D("1.005")) == "1.01"  # outside a command (the Python API): rounded, as by default


def _row(output: str, first: str, title: str | None = None) -> dict[str, str]:
    """The cells of the first plain-table row starting with `first` (leading spaces aside), by column name (after `title`)."""
    lines = output.splitlines()
    if title is not None:
        lines = lines[lines.index(title) + 1:]
    start = next(i for i, line in enumerate(lines) if line.startswith("-"))
    header, rule = lines[start - 1], lines[start]
    spans, at = [], 0
    for dashes in rule.split("  "):
        spans.append((at, at + len(dashes)))
        at += len(dashes) + 2
    row = next(line for line in lines[start + 1:] if line.lstrip().startswith(first))
    return {header[a:b].strip(): row.ljust(len(rule))[a:b].strip() for a, b in spans}


@pytest.fixture
def book(storage) -> None:  # type: ignore[no-untyped-def]
    """Two buys (one at a 5-place price), a sell with a commission of 0.125, a quote."""
    storage.record_trade(side="buy", symbol="AAPL", quantity="3", price="100", commission="1",
                         executed_at="2024-01-02")
    storage.record_trade(side="buy", symbol="AAPL", quantity="3", price="100.12345", executed_at="2024-01-03")
    storage.record_trade(side="sell", symbol="AAPL", quantity="2", price="110.125", commission="0.125",
                         executed_at="2024-01-04")
    storage.add_price("AAPL", "105.5", at="2024-01-05")


def test_position_list_rounds_unless_full(book, run, data) -> None:  # type: ignore[no-untyped-def]
    rounded = _row(run("position", "list").output, "AAPL")
    assert {k: rounded[k] for k in ("qty", "avg entry", "price", "value", "unrealized", "realized")} == {
        "qty": "4", "avg entry": "100.1759", "price": "105.5", "value": "422.00", "unrealized": "21.30",
        "realized": "19.46"}
    full = _row(run("--full", "position", "list").output, "AAPL")
    assert {k: full[k] for k in ("avg entry", "value", "unrealized", "realized")} == {
        "avg entry": "100.17592083333333333333", "value": "422", "unrealized": "21.29631666666666666667",
        "realized": "19.45833333333333333333"}
    [shown] = data("position", "list")
    assert (shown["avg_entry_price"], shown["realized_pnl"]) == ("100.17592083333333333333", "19.45833333333333333333")
    assert data("position", "list") == data("--full", "position", "list")


def test_show_trades_and_lots(book, run) -> None:  # type: ignore[no-untyped-def]
    output = run("position", "show", "AAPL").output
    assert [_row(output, name)["value"] for name in ("avg entry", "open cost", "price", "value", "unrealized")] == [
        "100.1759", "400.70", "105.5", "422.00", "21.30"]
    lot = _row(output, "2 ", "open lots")
    assert (lot["quantity"], lot["unit cost"], lot["cost"]) == ("3", "100.1235", "300.37")
    sell = _row(run("trade", "list").output, "3 ")
    assert (sell["price"], sell["comm"], sell["fees"], sell["realized"]) == ("110.125", "0.13", "0.00", "19.46")
    full = _row(run("--full", "trade", "list").output, "3 ")
    assert (full["price"], full["comm"], full["realized"]) == ("110.125", "0.125", "19.45833333333333333333")
    # the confirmation line rounds the computed P&L too: 110 - 100.3333... (the rest of the first lot)
    assert run("trade", "add", "sell", "AAPL", "1", "--price", "110").output.endswith("realized 9.67\n")


def test_summary_cash_and_report(book, run) -> None:  # type: ignore[no-untyped-def]
    output = run("summary").output
    total = _row(output, "total")
    assert (total["cost"], total["market value"], total["costs paid"]) == ("400.70", "422.00", "1.13")
    account = _row(output, "total", "by account, in USD")
    assert (account["cash"], account["cash value"], account["total value"]) == ("220.13 USD", "220.13", "642.13")
    full = run("--full", "summary").output
    assert _row(full, "total")["costs paid"] == "1.125"
    assert _row(full, "total", "by account, in USD")["cash"] == "220.125 USD"
    assert _row(run("cash", "balance").output, "main")["balance"] == "220.13"
    assert _row(run("--full", "cash", "balance").output, "main")["balance"] == "220.125"
    gain = _row(run("report", "realized").output, "2024")
    assert (gain["qty"], gain["proceeds"], gain["cost"], gain["gain"]) == ("2", "220.13", "200.67", "19.46")
    gain = _row(run("--full", "report", "realized").output, "2024")
    assert (gain["proceeds"], gain["gain"]) == ("220.125", "19.45833333333333333333")


def test_totals_round_the_exact_total(storage, run) -> None:  # type: ignore[no-untyped-def]
    storage.add_strategy("a")
    storage.add_strategy("b")
    for name, symbol in (("a", "AAPL"), ("b", "MSFT")):
        storage.record_trade(side="buy", symbol=symbol, quantity="1", price="10", commission="0.005",
                             executed_at="2024-01-02", strategy=name)
    output = run("summary").output
    # each row rounds 0.005 up to 0.01; the total is the exact 0.01, not the sum (0.02) of the rounded rows
    assert [_row(output, name)["costs paid"] for name in ("a ", "b ", "total")] == ["0.01", "0.01", "0.01"]
    assert [_row(output, name)["cost"] for name in ("a ", "b ", "total")] == ["10.01", "10.01", "20.01"]
    full = run("--full", "summary").output
    assert [_row(full, name)["costs paid"] for name in ("a ", "b ", "total")] == ["0.005", "0.005", "0.01"]


def test_order_prices_and_average_fill(storage, run, data) -> None:  # type: ignore[no-untyped-def]
    order = storage.add_order(side="buy", symbol="AAPL", quantity="3", order_type="limit", limit_price="100.12345")
    storage.change_order_status(order.id, "submitted")
    storage.fill_order(order.id, "1", "100", executed_at="2024-01-02")
    storage.fill_order(order.id, "2", "100.1", executed_at="2024-01-02")
    row = _row(run("order", "list").output, f"{order.id} ")
    assert (row["limit"], row["filled"], row["avg fill"]) == ("100.12345", "3", "100.0667")
    assert _row(run("--full", "order", "list").output, f"{order.id} ")["avg fill"] == "100.06666666666666666667"
    assert data("order", "show", str(order.id))["avg_fill_price"] == "100.06666666666666666667"


def test_performance_money_has_no_thousands_separators(run) -> None:  # type: ignore[no-untyped-def]
    assert run("cash", "deposit", "12345.675", "--at", "2024-01-02").exit_code == 0
    row = _row(run("performance", "--interval", "all", "--until", "2024-01-03").output, "2024")
    assert (row["inflows"], row["end value"], row["TWR"]) == ("12345.68", "12345.68", "0.00%")
    full = _row(run("--full", "performance", "--interval", "all", "--until", "2024-01-03").output, "2024")
    assert (full["inflows"], full["TWR"]) == ("12345.675", "0%")


@pytest.mark.parametrize("width", [100])
def test_tables_fit_a_terminal_without_splitting_headers_or_dates(run, monkeypatch, width: int) -> None:  # type: ignore[no-untyped-def]
    """On a 100-column terminal the everyday tables keep every header, date and number on one
    line; only a note wraps (docs/ledger.md §1.3, "Layout")."""
    import re

    from stocksbot.cli import output

    note = "a long note that goes on and on about why this trade was made, over several lines"
    assert run("trade", "add", "buy", "AAPL", "100", "--price", "149.5", "--commission", "1.25",
               "--note", note, "--at", "2024-03-15T14:30:00Z").exit_code == 0
    assert run("strategy", "add", "momentum").exit_code == 0
    assert run("trade", "add", "sell", "AAPL", "30", "--price", "155.125", "--strategy", "momentum",
               "--at", "2024-04-02T15:00:00Z").exit_code == 0
    assert run("price", "add", "AAPL", "151.25", "--at", "2024-04-03").exit_code == 0
    assert run("order", "add", "buy", "MSFT", "10", "--type", "limit", "--limit-price", "300.5",
               "--strategy", "momentum").exit_code == 0
    monkeypatch.setattr(output, "is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("NO_COLOR", "1")
    for command, headers in (
        (["position", "list"], ["symbol", "ccy", "avg entry", "unrealized", "realized", "opened", "strategy"]),
        (["trade", "list"], ["executed", "symbol", "qty", "price", "comm", "realized", "strategy", "note"]),
        (["order", "list"], ["symbol", "type", "limit", "status", "avg fill", "strategy", "created"]),
        (["report", "realized"], ["sold", "account", "acquired", "proceeds", "gain", "days", "term"]),
        (["strategy", "list"], ["name", "enabled", "win rate", "realized", "params"]),
        (["summary"], ["strategy", "market value", "realized P&L", "unrealized P&L", "costs paid"]),
    ):
        result = run(*command)
        assert result.exit_code == 0 and "─" in result.output, command  # Rich's header rule: a terminal table
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in result.output.splitlines()]
        assert all(len(line.rstrip()) <= width for line in lines), command
        header = next(line for line in lines if headers[0] in line)
        assert all(name in header for name in headers), (command, header)  # no header folded
        body = "\n".join(lines)
        assert not re.search(r"\b\d{4}-\d{2}\s*$", body, re.M), command  # no date cut at a line end
    trades = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in run("trade", "list").output.splitlines()]
    assert any("2024-03-15" in line and "a long note" in line for line in trades)
    assert sum("2024-" in line for line in trades) == 2  # one line per trade holds its date...
    assert len(trades) > 4  # ...and the note wrapped onto lines of its own
