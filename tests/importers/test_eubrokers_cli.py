"""Degiro, Trading 212 and Revolut statements through `stocksbot import`, on SQLite and PostgreSQL.

Each fixture (tests/fixtures/brokers) gives the holdings, cash and dividends its statement
implies under docs/brokers.md: trades in the instrument's currency, conversions booked as
`cash convert` books them (docs/brokers.md §4.7), so each currency's cash is the statement's,
withholding paired with its dividend. Importing the same file again changes nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.importers.eu_helpers import FIXTURES

D = Decimal

#: fixture -> (what the import reports, holdings, cash per currency, dividends (symbol, gross, tax, net, currency))
CASES: dict[str, tuple[str, dict[str, str], dict[str, str], list[tuple[str, str, str, str, str]]]] = {
    "degiro/account-nl.csv": (
        "8 trade(s), 1 dividend(s), 15 cash movement(s), 1 split(s), 2 price(s); skipped 11",
        {"AU0000005521": "500", "IE00B3RBWM25": "3", "NL0013654783": "4", "US0378331005": "5"},
        # USD: 100 deposited implicitly for the 2021 buy, + 127.94 (its 2024 sale) - 127.94 (converted to EUR)
        # + 1.02 (dividend net) + 902.5 (converted from EUR) - 902.5 (the Apple buy) = 1.02, the statement's.
        # EUR: 100 + 5 - 50 - 0.03 - 19.5 + 116.84 (the sale converted) - 0.5 + 19.5 - 19.5 (product change)
        # + 0.42 + 1000 + 1000 - 1000 (reservation) - 332.26 = 819.97; then the Apple order's fee 2 and its
        # conversion 833.72: 15.75 short, deposited implicitly; the 2.5 fee another 2.5: 0, the statement's
        # last balance (its sweep to the flatex bank account moves the same cash, skipped).
        {"EUR": "0", "USD": "1.02"},
        [("US0378331005", "1.2", "0.18", "1.02", "USD")],
    ),
    "degiro/account-en.csv": (
        "4 trade(s), 1 dividend(s), 7 cash movement(s), 0 split(s), 1 price(s); skipped 5",
        {"US5949181045": "3"},
        # EUR: 500 - 100 - 2 (fee) - 2.5 (fee) + 0.61 (courtesy) + 12.28 (the FX credit) = 408.39;
        # GBP: 168 deposited implicitly for the buy, 196.85 from the sale (its 1.75 fee deducted);
        # USD: the buys deposited implicitly, 3.07 dividend net, the FX debit of 12.75 (9.68 short): 0,
        # the statement's USD balance after it.
        {"EUR": "408.39", "GBP": "196.85", "USD": "0"},
        [("US7561091049", "3.5", "0.43", "3.07", "USD")],  # 0.53 withheld, 0.10 of it refunded
    ),
    "trading212/history-2020.csv": (
        "4 trade(s), 1 dividend(s), 6 cash movement(s), 0 split(s), 2 price(s); skipped 0",
        {"AAPL": "3"},
        # The Total column: 2000 - 450 - 206.53 + 176.78 + 0.64 - 100 + 258.97 GBP; each AAPL trade's USD came
        # from (went back to) GBP, so no USD is left.
        {"GBP": "1679.86", "USD": "0"},
        [("AAPL", "0.64", "0", "0.64", "GBP")],
    ),
    "trading212/history-2024.csv": (
        "4 trade(s), 1 dividend(s), 11 cash movement(s), 1 split(s), 2 price(s); skipped 2",
        {"MSFT": "0.3", "PALAF": "1.5", "VOD": "100"},
        # The Total column: 500 - 169.10 - 81.64 + 0.26 + 1.25 + 0.50 + 75.42 - 100 EUR; the USD and GBP of the
        # trades were converted from and back to EUR.
        {"EUR": "226.69", "GBP": "0", "USD": "0"},
        [("MSFT", "0.26", "0", "0.26", "EUR")],
    ),
    "trading212/history-2025.csv": (
        "4 trade(s), 0 dividend(s), 11 cash movement(s), 0 split(s), 3 price(s); skipped 0",
        {"BA.": "20", "TTE": "10"},
        # GBP: 1000 - 460.40 - 231.15 - 100 (converted, fee included) + 0.05 - 190.55 + 185.08; EUR: the 119.50
        # the conversion bought (TTE was paid from GBP); USD: the AAPL buy and sale converted from and to GBP.
        {"EUR": "119.5", "GBP": "203.03", "USD": "0"},
        [],
    ),
    "revolut/statement.csv": (
        "5 trade(s), 1 dividend(s), 4 cash movement(s), 1 split(s), 0 price(s); skipped 3",
        {"AAPL": "1", "MSFT": "0.5", "NVDA": "10", "SAP": "1"},
        {"EUR": "0", "USD": "179.99"},
        [("AAPL", "0.41", "0.06", "0.35", "USD")],
    ),
}


def state(data: Any) -> tuple[dict[str, str], dict[str, str], list[tuple[str, ...]], int]:
    holdings = {p["symbol"]: p["quantity"] for p in data("position", "list")}
    cash = {b["currency"]: b["balance"] for b in data("cash", "balance")}
    dividends = [(d["symbol"], d["gross"], d["tax"], d["net"], d["currency"]) for d in data("dividend", "list")]
    return holdings, cash, dividends, len(data("trade", "list"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_statement_imports_into_what_it_implies_and_reimporting_changes_nothing(run, data, name: str) -> None:
    summary, holdings, cash, dividends = CASES[name]
    path = str(FIXTURES / name)
    result = run("import", path, "--skip-unknown")
    assert result.exit_code == 0, result.output
    assert summary in result.output
    before = state(data)
    assert before[:3] == (holdings, cash, dividends)
    again = run("import", path, "--skip-unknown")
    assert again.exit_code == 0, again.output
    assert "0 trade(s), 0 dividend(s), 0 cash movement(s), 0 split(s), 0 price(s)" in again.output
    assert state(data) == before
    assert run("db", "check").exit_code == 0


@pytest.mark.parametrize("name, line, action", [
    ("degiro/account-nl.csv", 33, "Rekeningoverzicht correctie"),
    ("trading212/history-2024.csv", 13, "Transfer out"),
    ("revolut/statement.csv", 15, "SPINOFF"),
])
def test_an_unknown_action_refuses_the_file_and_writes_nothing(run, data, name: str, line: int, action: str) -> None:
    result = run("import", str(FIXTURES / name))
    assert result.exit_code == 1
    assert f"line {line}: unknown action '{action}'" in result.output
    assert data("trade", "list") == [] and data("dividend", "list") == []


def test_auto_detection_picks_each_format(run) -> None:
    for name, title in (("degiro/account-en.csv", "Degiro account statement CSV"),
                        ("trading212/history-2025.csv", "Trading 212 history CSV"),
                        ("revolut/statement.csv", "Revolut trading account statement CSV")):
        result = run("import", str(FIXTURES / name), "--skip-unknown", "--dry-run")
        assert result.exit_code == 0, result.output
        assert f"would import from {title}" in result.output


def test_another_brokers_file_forced_with_from_is_refused(run, data) -> None:
    result = run("import", str(FIXTURES / "revolut/statement.csv"), "--from", "degiro")
    assert result.exit_code == 1
    assert "line 1: not a Degiro account statement CSV header" in result.output
    assert data("trade", "list") == []
