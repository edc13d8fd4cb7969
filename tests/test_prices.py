"""Prices, valuation and the summary, on both backends."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocksbot.cli.main import cli
from stocksbot.csvfiles import RowErrors
from stocksbot.errors import StocksbotError

D = Decimal


def test_latest_and_history(storage) -> None:
    storage.add_price("AAPL", "150", at="2024-01-02T21:00:00Z")
    storage.add_price("AAPL", "151.5", at="2024-01-03T21:00:00Z")
    storage.add_price("MSFT", "300", at="2024-01-03T21:00:00Z")
    storage.add_price("MSFT", "999", at="2999-01-01T00:00:00Z")  # the future does not count as latest
    latest = {p.symbol: p.close for p in storage.latest_prices()}
    assert latest == {"AAPL": D("151.5"), "MSFT": D("300")}
    assert [p.close for p in storage.latest_prices(["msft"])] == [D("300")]
    history = storage.price_history("AAPL", since="2024-01-03")
    assert [(p.timestamp.day, p.close) for p in history] == [(3, D("151.5"))]
    storage.add_price("AAPL", "152", at="2024-01-03T21:00:00Z")  # same bar: replaced
    assert [p.close for p in storage.price_history("AAPL")] == [D("150"), D("152")]


def test_import_replaces_and_is_all_or_nothing(storage, tmp_path: Path) -> None:
    good = tmp_path / "bars.csv"
    good.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02,10,12,9,11,1000\n"
        "2024-01-03,11,13,10.5,12.25,0.0000000001\n"
    )
    assert storage.import_prices(good, symbol="AAPL") == 2
    closes = tmp_path / "closes.csv"
    closes.write_text("symbol,timestamp,close\nAAPL,2024-01-03,12.5\nMSFT,2024-01-03,300\n")
    assert storage.import_prices(closes) == 2
    bars = storage.price_history("AAPL")
    assert [(b.close, b.volume) for b in bars] == [(D("11"), D("1000")), (D("12.5"), None)]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "symbol,timestamp,close\n"
        "AAPL,2024-01-04,13\n"
        "AAPL,2024-02-30,13\n"
        "bad symbol,2024-01-05,1\n"
        "AAPL,2024-01-06,-1\n"
        "AAPL,2024-01-07\n"
    )
    with pytest.raises(RowErrors) as info:
        storage.import_prices(bad)
    assert [e.split(":")[0] for e in info.value.errors] == ["line 3", "line 4", "line 5", "line 6"]
    assert len(storage.price_history("AAPL")) == 2  # nothing written


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "is empty"),
        ("date,price\n", "header must have"),
        ("timestamp,close\n2024-01-01,1\n", "no symbol column"),
    ],
)
def test_import_refuses_bad_files(storage, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(StocksbotError, match=message):
        storage.import_prices(path)


def test_inconsistent_bar_is_refused(storage, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2024-01-02,10,9,8,11,1\n")
    with pytest.raises(RowErrors, match="line 2: inconsistent bar"):
        storage.import_prices(path, symbol="A")


def test_valuation_long_short_and_unknown(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", commission="1", executed_at="2024-01-01")
    storage.record_trade(side="sell", symbol="TSLA", quantity="5", price="200", executed_at="2024-01-01", allow_short=True)
    storage.record_trade(side="buy", symbol="MSFT", quantity="1", price="300", executed_at="2024-01-01")
    storage.add_price("AAPL", "110", at="2024-01-02")
    storage.add_price("TSLA", "190", at="2024-01-02")
    positions = {p.symbol: p for p in storage.list_positions()}
    assert (positions["AAPL"].market_value, positions["AAPL"].unrealized_pnl) == (D("1100"), D("99"))
    assert (positions["TSLA"].market_value, positions["TSLA"].unrealized_pnl) == (D("-950"), D("50"))
    assert (positions["MSFT"].market_price, positions["MSFT"].unrealized_pnl) == (None, None)
    summary = storage.summary()
    assert summary.total.market_value is None and summary.unpriced_symbols == ["MSFT"]
    storage.add_price("MSFT", "290", at="2024-01-02")
    total = storage.summary().total
    assert (total.cost, total.market_value, total.unrealized_pnl) == (D("301"), D("440"), D("139"))


def test_summary_by_strategy(storage) -> None:
    storage.add_strategy("momo")
    storage.record_trade(side="buy", symbol="A", quantity="2", price="10", strategy="momo", executed_at="2024-01-01")
    storage.record_trade(side="sell", symbol="A", quantity="1", price="12", strategy="momo", commission="0.1",
                         executed_at="2024-01-02")
    storage.record_trade(side="buy", symbol="B", quantity="1", price="5", fees="0.2", executed_at="2024-01-02")
    storage.add_price("A", "11", at="2024-01-03")
    storage.add_price("B", "4", at="2024-01-03")
    summary = storage.summary()
    momo, none = summary.by_strategy
    assert (momo.strategy, momo.realized_pnl, momo.costs, momo.unrealized_pnl) == ("momo", D("1.9"), D("0.1"), D("1"))
    assert (none.strategy, none.cost, none.unrealized_pnl, none.costs) == (None, D("5.2"), D("-1.2"), D("0.2"))
    assert (summary.total.realized_pnl, summary.total.costs) == (D("1.9"), D("0.3"))


def test_price_and_summary_commands(migrated_url: str, tmp_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, ["--db", migrated_url, *args], catch_exceptions=False)

    assert run("price", "add", "AAPL", "150.25", "--at", "2024-01-02T16:00:00Z").exit_code == 0
    rows = json.loads(run("--json", "price", "latest", "AAPL").output)
    assert rows == [{"symbol": "AAPL", "interval": "1d", "timestamp": "2024-01-02T16:00:00+00:00", "open": "150.25",
                     "high": "150.25", "low": "150.25", "close": "150.25", "volume": None}]
    path = tmp_path / "p.csv"
    path.write_text("timestamp,close\n2024-01-03,151\nnot-a-date,1\n2024-01-05,x\n")
    result = run("price", "import", str(path), "--symbol", "AAPL")
    assert result.exit_code == 1
    assert result.output.startswith("Error: 2 bad row(s), nothing imported:\nline 3: invalid timestamp 'not-a-date'")
    assert "line 4: close must be a number" in result.output
    assert run("price", "add", "AAPL", "NaN").exit_code == 1
    assert run("price", "add", "AAPL", "1", "--interval", "daily").exit_code == 1
    run("position", "add", "AAPL", "2", "--price", "100")
    data = json.loads(run("--json", "summary").output)
    assert (data["market_value"], data["unrealized_pnl"], data["unpriced_symbols"]) == ("300.5", "100.5", [])
    table = run("summary").output
    assert "total" in table and "300.5" in table and "\x1b[" not in table
    assert run("price", "history", "AAPL", "--since", "2024-01-01").exit_code == 0
