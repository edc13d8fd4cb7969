"""Schwab and Fidelity statements through `stocksbot import`, on SQLite and PostgreSQL.

The fixture files (tests/fixtures/brokers/schwab|fidelity/) imported through the command line
give the holdings, cash and dividends the statements imply, and importing them again changes
nothing (docs/brokers.md §12).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

D = Decimal
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "brokers"
NOTHING = {"trades": 0, "dividends": 0, "cash": 0, "splits": 0, "prices": 0}


def call(run: Any, *args: str) -> Any:
    result = run("--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def holdings(run: Any) -> dict[tuple[str, str], Decimal]:
    return {(p["account"], p["symbol"]): D(p["quantity"]) for p in call(run, "position", "list")}


def cash(run: Any) -> dict[str, Decimal]:
    return {b["account"]: D(b["balance"]) for b in call(run, "cash", "balance") if D(b["balance"])}


def state(run: Any) -> tuple[Any, ...]:
    return (holdings(run), cash(run), call(run, "dividend", "list"), call(run, "trade", "list"),
            call(run, "cash", "list"))


@pytest.mark.slow  # about 2 s on SQLite: two imports and a refused one, each through the CLI
def test_a_schwab_statement_gives_the_holdings_cash_and_dividends_it_implies(run: Any) -> None:
    path = str(FIXTURES / "schwab" / "transactions.csv")
    refused = run("import", path, "--account", "schwab")
    assert refused.exit_code == 1
    assert "line 5: unknown action 'Journaled Shares'" in refused.output
    assert holdings(run) == {} and cash(run) == {}

    result = call(run, "import", path, "--account", "schwab", "--skip-unknown")
    assert (result["format"], result["imported"]) == (
        "schwab", {"trades": 11, "dividends": 3, "cash": 8, "splits": 3, "prices": 0})
    assert "line 34: skipped: the statement's total row (a summary, not a transaction)" in result["skipped_lines"]
    assert holdings(run) == {("schwab", "ACME"): D("85"), ("schwab", "BOLT"): D("206"), ("schwab", "NEWCO"): D("30"),
                             ("schwab", "VTIX"): D("10.1234"), ("schwab", "ZED"): D("100")}
    # The cash is the sum of the Amount column of the rows booked: the statement's own total.
    assert cash(run) == {"schwab": D("34649.35")}
    dividends = call(run, "dividend", "list")
    assert [(d["symbol"], D(d["gross"]), D(d["tax"])) for d in dividends] == [
        ("ACME", D("55"), D("8.25")), ("VTIX", D("30"), D("0")), ("BOLT", D("40"), D("0"))]

    before = state(run)
    again = call(run, "import", path, "--account", "schwab", "--skip-unknown")
    assert again["imported"] == NOTHING
    assert state(run) == before


def test_the_other_schwab_layout_imports_clean(run: Any) -> None:
    path = str(FIXTURES / "schwab" / "price-first.csv")
    result = call(run, "import", path, "--from", "schwab", "--account", "ira")
    assert result["imported"] == {"trades": 4, "dividends": 2, "cash": 2, "splits": 0, "prices": 0}
    assert holdings(run) == {("ira", "ACME"): D("61.5"), ("ira", "BOLT"): D("20")}
    assert cash(run) == {"ira": D("1820.10")}
    before = state(run)
    assert call(run, "import", path, "--account", "ira")["imported"] == NOTHING
    assert state(run) == before


def test_a_fidelity_file_of_two_accounts_makes_two_accounts(run: Any) -> None:
    path = str(FIXTURES / "fidelity" / "accounts_history.csv")
    result = call(run, "import", path, "--skip-unknown")
    assert result["format"] == "fidelity"
    assert sorted(result["created_accounts"]) == ["234567890", "X12345678"]
    assert result["imported"] == {"trades": 5, "dividends": 3, "cash": 6, "splits": 1, "prices": 0}
    assert holdings(run) == {("X12345678", "ACME"): D("80"), ("X12345678", "BOLT"): D("120"),
                             ("234567890", "VTIX"): D("8.104")}
    # Each account's cash is its rows' Amounts, the core position counted as cash.
    assert cash(run) == {"X12345678": D("3646.61"), "234567890": D("582.05")}
    before = state(run)
    assert call(run, "import", path, "--skip-unknown")["imported"] == NOTHING
    assert state(run) == before


def test_the_2025_fidelity_layout_with_a_bond(run: Any) -> None:
    path = str(FIXTURES / "fidelity" / "history_2025.csv")
    result = call(run, "import", path)
    assert result["imported"] == {"trades": 3, "dividends": 1, "cash": 3, "splits": 0, "prices": 0}
    assert holdings(run) == {("Z98765432", "123456AB7"): D("10000"), ("Z98765432", "BOLT"): D("10")}
    assert cash(run) == {"Z98765432": D("4104.09")}
    before = state(run)
    assert call(run, "import", path)["imported"] == NOTHING
    assert state(run) == before


def test_rows_of_one_day_are_booked_bottom_up(run: Any, tmp_path: Path) -> None:
    """Schwab lists newest first within a day too: a buy below a sell of the same day came first."""
    path = tmp_path / "same-day.csv"
    path.write_text("Date,Action,Symbol,Description,Price,Quantity,Fees & Comm,Amount\n"
                    "03/02/2021,Cash Merger,FOO,FOO INC,,,,$1000\n"
                    "03/02/2021,Cash Merger Adj,FOO,FOO INC,,-100,,\n"
                    "03/02/2021,Sell,FOO,FOO INC,$26,50,$1,$1299\n"
                    "03/02/2021,Buy,FOO,FOO INC,$25,150,$6,-$3756\n"
                    "03/01/2021,MoneyLink Transfer,,Tfr BANK,,,,$3756.00\n", encoding="utf-8")
    result = call(run, "import", str(path))
    assert result["imported"]["trades"] == 3
    assert holdings(run) == {}
    assert cash(run) == {"main": D("2299")}
