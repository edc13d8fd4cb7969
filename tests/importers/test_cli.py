"""`stocksbot import` end to end through the command line, on SQLite and PostgreSQL: stocksbot's own
format and the generic one, re-imports, dry runs, standard input, JSON, and every refusal writing
nothing (docs/brokers.md §1-§3, §9, §10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stocksbot.cli.main import cli

FIXTURES = Path(__file__).parent.parent / "fixtures" / "brokers"
NATIVE = str(FIXTURES / "native.csv")
GENERIC = str(FIXTURES / "generic.csv")
GENERIC_OPTIONS = ["--from", "generic", "--delimiter", ";", "--decimal-comma", "--date-format", "%d/%m/%Y",
                   "--map", "date=Run Date,side=Action,symbol=Ticker",
                   "--map", "quantity=Qty,price=Unit Price,amount=Total,id=Ref"]


def stdin_run(url: str, *args: str, text: str) -> Any:
    return CliRunner().invoke(cli, ["--db", url, *args], input=text, catch_exceptions=False)


def state(data: Any) -> tuple[Any, ...]:
    """Everything an import may write, as JSON."""
    return (data("trade", "list"), data("position", "list", "--all"), data("cash", "list"),
            data("dividend", "list"), data("account", "list"))


@pytest.mark.slow  # several commands a test, each a process start's worth of work
def test_stocksbots_own_format_imports_once_and_reimports_nothing(run, data) -> None:
    result = data("import", NATIVE)
    assert result["imported"] == {"trades": 6, "dividends": 0, "cash": 0, "splits": 0, "prices": 0}
    assert (result["skipped"], result["errors"], result["format"]) == (0, 0, "stocksbot")
    trades = data("trade", "list")
    assert [t["external_id"] for t in trades][:1] == ["n-1"]
    assert sum(1 for t in trades if t["external_id"].startswith("fp:")) == 4
    assert len({t["external_id"] for t in trades}) == 6  # the two identical fills are two trades
    (msft,) = data("position", "list")
    assert (msft["symbol"], msft["quantity"]) == ("MSFT", "5")
    before = state(data)
    again = run("import", NATIVE)
    assert again.exit_code == 0
    assert again.output.splitlines()[0] == ("imported from stocksbot trade CSV: 0 trade(s), 0 dividend(s), "
                                            "0 cash movement(s), 0 split(s), 0 price(s); skipped 6")
    assert "line 2: skipped: already imported (n-1)" in again.output
    assert state(data) == before
    assert run("db", "check").exit_code == 0


@pytest.mark.slow  # several commands a test, each a process start's worth of work
def test_dry_run_prints_the_counts_and_writes_nothing(run, data) -> None:
    before = state(data)
    result = run("import", NATIVE, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("would import from stocksbot trade CSV: 6 trade(s), 0 dividend(s)")
    assert state(data) == before
    assert data("import", GENERIC, *GENERIC_OPTIONS, "--skip-unknown", "--account", "degiro",
                "--dry-run")["created_accounts"] == ["degiro"]
    assert state(data) == before


def test_standard_input_is_recognised_and_read(migrated_url: str, data) -> None:
    result = stdin_run(migrated_url, "--json", "import", "-", text=Path(NATIVE).read_text())
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["imported"]["trades"] == 6
    assert len(data("trade", "list")) == 6


@pytest.mark.slow  # several commands a test, each a process start's worth of work
def test_the_generic_format_with_map_books_every_kind(run, data) -> None:
    refused = run("import", GENERIC, *GENERIC_OPTIONS, "--account", "degiro")
    assert refused.exit_code == 1
    assert "line 9: unknown action 'Corporate Action'" in refused.output and "--skip-unknown" in refused.output
    result = run("import", GENERIC, *GENERIC_OPTIONS, "--account", "degiro", "--skip-unknown")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "imported from generic CSV (--map): 4 trade(s), 1 dividend(s), 2 cash movement(s), 0 split(s), "
        "0 price(s); skipped 2",
        "line 7: skipped: withholding tax booked with the dividend on line 6",
        "line 9: skipped: unknown action 'Corporate Action'",
        "created accounts: degiro",
    ]
    accounts = {a["name"]: a for a in data("account", "list")}
    assert accounts["degiro"]["currency"] == "EUR"
    # 10000 deposited, three buys of 5 @ 600.50 + 4.90, a dividend of 15.25 less 2.29, a sale of
    # 3 @ 700 - 4.90 and 0.42 interest.
    assert accounts["degiro"]["cash"] == {"EUR": "3086.28"}
    (dividend,) = data("dividend", "list")
    assert (dividend["gross"], dividend["tax"], dividend["net"]) == ("15.25", "2.29", "12.96")
    (asml,) = data("position", "list")
    assert (asml["account"], asml["quantity"], asml["realized_pnl"]) == ("degiro", "12", "290.66")
    before = state(data)
    again = data("import", GENERIC, *GENERIC_OPTIONS, "--account", "degiro", "--skip-unknown")
    assert again["imported"] == dict.fromkeys(again["imported"], 0) and again["skipped"] == 9
    assert state(data) == before
    assert run("db", "check").exit_code == 0


def test_bad_files_are_refused_one_line_per_problem_writing_nothing(run, data, tmp_path: Path) -> None:
    before = state(data)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text(Path(NATIVE).read_text().splitlines()[0] + "\n")
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("Foo,Bar\n1,2\n")
    cases = [
        (["import", str(empty)], ["is empty"]),
        (["import", str(header_only)], ["has no rows to import"]),
        (["import", str(unknown)], ["cannot tell which broker's export", "--from"]),
        (["import", NATIVE, "--from", "generic", "--map", "date=Run Date"],
         ["--map date=Run Date: the header has no column 'Run Date'"]),
        (["import", str(FIXTURES / "generic-errors.csv"), *GENERIC_OPTIONS],
         ["3 bad row(s), nothing imported:",
          "line 3: invalid date '2024-01-05': expected a date like %d/%m/%Y",
          "line 4: expected 9 fields, got 4 (a truncated row?)",
          "line 5: unknown action 'Journal'"]),
        (["import", NATIVE, "--from", "generic", "--map", "nope=x"], ["--map: no field 'nope'"]),
        (["import", GENERIC, "--from", "stocksbot"], ["line 1:", "header has missing executed_at"]),
        (["import", NATIVE, "--map", "bogus"], ["--map takes FIELD=COLUMN pairs"]),
    ]
    for args, expected in cases:
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "Traceback" not in result.output
        for text in expected:
            assert text in result.output, (args, result.output)
    problems = run("--json", "import", str(FIXTURES / "generic-errors.csv"), *GENERIC_OPTIONS)
    assert problems.exit_code == 1
    body = json.loads(problems.output)
    assert body["errors"] == 3 and body["imported"]["trades"] == 0 and len(body["problems"]) == 3
    assert state(data) == before


def test_map_renames_a_column_of_stocksbots_own_format(data, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("When,side,symbol,quantity,price,Ref\n2024-01-02T15:00:00+00:00,buy,AAPL,3,100,r-1\n")
    result = data("import", str(renamed), "--from", "stocksbot", "--map", "date=When,id=Ref")
    assert result["imported"]["trades"] == 1
    (trade,) = data("trade", "list")
    assert (trade["external_id"], trade["quantity"]) == ("r-1", "3")


@pytest.mark.slow  # several commands a test
def test_a_raw_style_generic_file_newest_first_with_a_split_by_shares_added(data) -> None:
    raw = str(FIXTURES / "generic-raw.csv")
    result = data("import", raw, "--from", "generic")
    assert result["imported"] == {"trades": 3, "dividends": 1, "cash": 2, "splits": 1, "prices": 0}
    (split,) = data("split", "list")
    assert split["ratio"] == "4:1"  # 10 held, 30 added
    (widg,) = data("position", "list")
    # 30 x 12.50 - 1, less the first lot (20 shares after the split, 210.50) and half the second (105.25)
    assert (widg["quantity"], widg["realized_pnl"]) == ("10", "58.25")
    # 1000 in, 2 x 210.50 out, 100 withdrawn, 40 x 0.10 dividend, 30 x 12.50 - 1 sold
    assert data("cash", "balance") == [{"account": "main", "currency": "USD", "balance": "857"}]
    again = data("import", raw, "--from", "generic")
    assert again["imported"] == dict.fromkeys(again["imported"], 0) and again["skipped"] == 7
