"""The IBKR fixtures imported through `stocksbot import` (both backends): the holdings, cash and
dividends each statement implies, and a second import that changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .ibkr_support import FIXTURES

pytest.importorskip("ibflex.parser")


def state(data: Any) -> dict[str, Any]:
    """What an import changes, as the commands report it."""
    return {
        "positions": {(row["symbol"], row["side"], Decimal(row["quantity"])) for row in data("position", "list")},
        "cash": {(row["currency"], Decimal(row["balance"])) for row in data("cash", "balance")},
        "dividends": sorted((row["symbol"], Decimal(row["gross"]), Decimal(row["tax"]), row["currency"])
                            for row in data("dividend", "list")),
        "trades": len(data("trade", "list")),
        "cash_movements": len(data("cash", "list")),
    }


def import_twice(run: Any, data: Any, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Import a fixture (refused without --skip-unknown, which its unknown rows need), then again."""
    file = str(FIXTURES / path)
    refused = run("import", file)
    assert refused.exit_code == 1 and "unknown" in refused.output.lower()
    assert data("trade", "list") == [] and data("dividend", "list") == []
    first = data("import", file, "--skip-unknown")
    assert sum(first["imported"].values()) > 0
    before = state(data)
    again = data("import", file, "--skip-unknown")
    assert again["imported"] == {kind: 0 for kind in again["imported"]}
    return first, before


@pytest.mark.slow
def test_transaction_history_gives_the_statements_holdings_cash_and_dividends(run: Any, data: Any) -> None:
    first, before = import_twice(run, data, "ibkr-activity/transaction-history.csv")
    assert first["imported"] == {"trades": 3, "dividends": 2, "cash": 6, "splits": 0, "prices": 1}
    assert before["positions"] == {("ASML", "long", Decimal("5")), ("MSFT", "long", Decimal("3"))}
    # 10000 - 5954 - 1114.9 + 1798.5 + 0.69 + 7.6 - 1.14 + 8.25 - 1.24 - 0.42 + 0.0015 - 500, all in EUR.
    assert before["cash"] == {("EUR", Decimal("4243.3415"))}
    assert before["dividends"] == [("ASML", Decimal("7.6"), Decimal("1.14"), "EUR"),
                                   ("MSFT", Decimal("0.69"), Decimal("0"), "EUR")]
    assert state(data) == before


def test_flex_csv_statement(run: Any, data: Any) -> None:
    first, before = import_twice(run, data, "ibkr/statement.csv")
    assert first["imported"]["trades"] == 3 and first["imported"]["dividends"] == 1
    # NVDA was bought and the buy cancelled: nothing of it is held.
    assert before["positions"] == {("MSFT", "long", Decimal("6")), ("VOD", "long", Decimal("1000"))}
    # USD: 10000 - 4052 (buy) - 1262.5 (GBP.USD: 1000 GBP bought at 1.2625) - 2 (its fee) + 3.82 (dividend
    # net) + 12.34 - 2.47 (interest, its tax) + 1678.9792 (sale) - 1.5 - 0.5 (fees) - 250 (withdrawal);
    # GBP: 1000 (the conversion) - 1000 x 0.7012 - 3 - 3.51 (the VOD buy, its commission and tax).
    assert before["cash"] == {("USD", Decimal("6124.1692")), ("GBP", Decimal("292.29"))}
    assert before["dividends"] == [("MSFT", Decimal("4.5"), Decimal("0.68"), "USD")]
    assert state(data) == before


@pytest.mark.slow
def test_flex_xml_statement(run: Any, data: Any) -> None:
    first, before = import_twice(run, data, "ibkr-xml/statement.xml")
    assert first["imported"]["splits"] == 1 and first["imported"]["prices"] == 2
    # AAPL 10 - 4, then split 2:1; SAP 5; MSFT's buy was cancelled.
    assert before["positions"] == {("AAPL", "long", Decimal("12")), ("SAP", "long", Decimal("5"))}
    # USD: 5000 - 1856 - 1082.5 (EUR.USD: 1000 EUR bought at 1.0825) - 2 (its fee) + 2.04 + 779.9785 + 3.17 - 10
    # - 100; EUR: 1000 (the conversion) - 5 x 170.12 - 1.25 - 0.5 (the SAP buy) + 11.5 (the SAP dividend paid
    # again after its reversal).
    assert before["cash"] == {("USD", Decimal("2734.6885")), ("EUR", Decimal("159.15"))}
    assert before["dividends"] == [("AAPL", Decimal("2.4"), Decimal("0.36"), "USD"),
                                   ("SAP", Decimal("11.5"), Decimal("0"), "EUR")]
    assert state(data) == before


def test_flex_csv_trades_and_cash_files(run: Any, data: Any) -> None:
    """The two-file export (Trades, Cash Transactions) with ISINs only: the ISIN is the symbol."""
    trades = data("import", str(FIXTURES / "ibkr" / "trades.csv"))
    assert trades["imported"]["trades"] == 4 and trades["imported"]["prices"] == 1
    cash = data("import", str(FIXTURES / "ibkr" / "cash.csv"), "--skip-unknown")
    assert cash["imported"]["dividends"] == 4
    positions = {(row["symbol"], Decimal(row["quantity"])) for row in data("position", "list")}
    assert positions == {("IE00B3RBWM25", Decimal("17")), ("CH0012032048", Decimal("3"))}
    dividends = {(row["symbol"], Decimal(row["gross"]), Decimal(row["tax"])) for row in data("dividend", "list")}
    assert ("IE00B3RBWM25", Decimal("7"), Decimal("1.05")) in dividends
