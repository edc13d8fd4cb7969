"""`--csv` and `--tsv` on list commands (docs/csv-formats.md §5), on SQLite and PostgreSQL.

The tables are for programs: a header row, the csv module's quoting, every digit (the table
rounds, JSON and CSV do not), times in ISO 8601 UTC, unknown values empty, percentages as the
fractions JSON has. Each value is compared with the same command's `--json`, so the CSV is
checked against the ledger's own figures rather than against copied text.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest

#: Every list command and the arguments it needs on the ledger `_ledger` builds.
LIST_COMMANDS = [
    ("trade", "list"), ("position", "list"), ("order", "list"), ("strategy", "list"), ("price", "latest"),
    ("price", "history", "AAPL"), ("config", "list"), ("cash", "list"), ("cash", "balance"), ("dividend", "list"),
    ("split", "list"), ("account", "list"), ("symbol", "list"), ("report", "realized"), ("performance",),
]


def _ledger(run) -> None:  # type: ignore[no-untyped-def]
    for args in (
        ("strategy", "add", "swing"),
        ("trade", "add", "buy", "AAPL", "3", "--price", "149.3333333", "--at", "2024-01-02T15:00:00+00:00",
         "--strategy", "swing", "--note", 'first, "test" buy'),
        ("trade", "add", "sell", "AAPL", "1", "--price", "150.1234567", "--commission", "0.015",
         "--at", "2024-01-03T15:00:00+00:00", "--strategy", "swing"),
        ("order", "add", "buy", "MSFT", "2", "--type", "limit", "--limit-price", "399.125"),
        ("price", "add", "AAPL", "151.0000001", "--at", "2024-01-04"),
        ("dividend", "add", "AAPL", "0.2475", "--per-share", "--at", "2024-02-15"),
        ("trade", "add", "buy", "NVDA", "1", "--price", "480", "--at", "2024-01-05"),
        ("split", "add", "NVDA", "10:1", "--at", "2024-06-10"),
    ):
        result = run(*args)
        assert result.exit_code == 0, result.output


def _rows(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


def test_trade_list_csv_is_exact_quoted_and_in_utc(run, data) -> None:  # type: ignore[no-untyped-def]
    _ledger(run)
    result = run("trade", "list", "--csv")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "id,executed,side,symbol,quantity,price,commission,fees,realized,order," \
                                            "strategy,note"
    rows = _rows(result.output)
    trades = data("trade", "list")
    assert [row["id"] for row in rows] == [str(t["id"]) for t in trades]
    by_id = {str(t["id"]): t for t in trades}
    for row in rows:
        trade = by_id[row["id"]]
        # the JSON figures, digit for digit; an unknown value (no realized P&L on a buy) is empty
        assert row["price"] == trade["price"] and row["commission"] == trade["commission"]
        assert row["realized"] == (trade["realized_pnl"] or "")
        assert datetime.fromisoformat(row["executed"]) == datetime.fromisoformat(trade["executed_at"])
        assert row["executed"].endswith("+00:00")
    sell = next(row for row in rows if row["side"] == "sell")
    assert Decimal(sell["realized"]) == Decimal("150.1234567") - Decimal("0.015") - Decimal("149.3333333")
    assert '"first, ""test"" buy"' in result.output  # the csv module's quoting of a comma and a quote
    assert next(row for row in rows if row["side"] == "buy")["note"] == 'first, "test" buy'

    table = run("trade", "list")  # the table for people still rounds
    assert "150.12" in table.output or "0.78" in table.output
    assert "0.7754567" not in table.output


def test_tsv_is_tab_separated(run) -> None:  # type: ignore[no-untyped-def]
    _ledger(run)
    result = run("position", "list", "--tsv")
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    assert header.split("\t")[:4] == ["symbol", "currency", "side", "quantity"]
    row = next(row for row in _rows(result.output, "\t") if row["symbol"] == "AAPL")
    assert (row["symbol"], row["quantity"], row["avg entry"]) == ("AAPL", "2", "149.3333333")
    assert row["price"] == "151.0000001" and row["realized"] == "0.7751234"


def test_percentages_are_fractions_and_config_defaults_a_column(run, data) -> None:  # type: ignore[no-untyped-def]
    _ledger(run)
    (swing,) = _rows(run("strategy", "list", "--csv").output)
    assert swing["win rate"] == "1" and swing["realized"] == data("strategy", "show", "swing")["realized_pnl"]
    config = {row["key"]: row for row in _rows(run("config", "list", "--csv").output)}
    assert config["accounting.cost_basis"]["value"] == "fifo"
    assert config["accounting.cost_basis"]["is_default"] == "true"
    assert run("config", "set", "trading.allow_short", "true").exit_code == 0
    config = {row["key"]: row for row in _rows(run("config", "list", "--csv").output)}
    assert (config["trading.allow_short"]["value"], config["trading.allow_short"]["is_default"]) == ("true", "false")


@pytest.mark.slow
def test_every_list_command_writes_a_header_and_well_formed_rows(run) -> None:  # type: ignore[no-untyped-def]
    _ledger(run)
    for command in LIST_COMMANDS:
        result = run(*command, "--csv")
        assert result.exit_code == 0, result.output
        rows = list(csv.reader(io.StringIO(result.output)))
        header, body = rows[0], rows[1:]
        assert header and all(header), f"{command}: a header row of column names"
        assert body, f"{command} has rows on this ledger"
        assert all(len(row) == len(header) for row in body), command
        assert not any(cell == "-" for row in body for cell in row), f"{command}: unknown values are empty, not '-'"
        tsv = run(*command, "--tsv")
        assert list(csv.reader(io.StringIO(tsv.output), delimiter="\t")) == rows, command


def test_one_output_format_at_a_time(run) -> None:  # type: ignore[no-untyped-def]
    for args in (("--json", "trade", "list", "--csv"), ("trade", "list", "--csv", "--tsv"),
                 ("--json", "position", "list", "--tsv")):
        result = run(*args)
        assert result.exit_code == 2
        assert "cannot be used together" in result.output


def test_report_and_performance_write_only_their_rows(run, data) -> None:  # type: ignore[no-untyped-def]
    _ledger(run)
    realized = _rows(run("report", "realized", "--csv").output)
    assert len(realized) == len(data("report", "realized")["rows"]) == 1
    assert realized[0]["gain"] == "0.7751234" and realized[0]["sold"] == "2024-01-03T15:00:00+00:00"
    performance = run("performance", "--interval", "month", "--since", "2024-01-01", "--until", "2024-02-29", "--csv")
    assert performance.exit_code == 0, performance.output
    rows = _rows(performance.output)
    report = data("performance", "--interval", "month", "--since", "2024-01-01", "--until", "2024-02-29")
    assert [row["start"] for row in rows] == [r["start"] for r in report["rows"]]  # no "total" row
    assert [row["TWR"] for row in rows] == [r["twr"] or "" for r in report["rows"]]
