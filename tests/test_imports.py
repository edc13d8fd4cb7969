"""Trade import and export on both backends: round trip, atomicity, idempotence, size."""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from stocksbot import open_storage
from stocksbot.csvfiles import RowErrors
from stocksbot.errors import StocksbotError
from stocksbot.storage.checks import ledger_snapshot

HEADER = "executed_at,side,symbol,quantity,price,commission,fees,strategy,external_id,note\n"


def positions_view(storage) -> list[tuple]:
    """Positions without database ids, for comparing two databases."""
    return sorted(
        (p.symbol, p.side, p.quantity, p.open_cost, p.avg_entry_price, p.realized_pnl, p.status, p.opened_at,
         p.closed_at, p.strategy)
        for p in storage.list_positions(status=None)
    )


def trades_view(storage) -> list[tuple]:
    return [(t.executed_at, t.side, t.symbol, t.quantity, t.price, t.commission, t.fees, t.strategy,
             t.external_id, t.note, t.realized_pnl) for t in storage.list_trades()]


def test_export_then_import_into_a_new_database_is_identical(storage, tmp_path: Path) -> None:
    storage.add_strategy("momo")
    storage.record_trade(side="buy", symbol="AAPL", quantity="4", price="149.50", commission="1", strategy="momo",
                         executed_at="2024-01-02T15:00Z", note='first, "quoted"\nline')
    storage.record_trade(side="buy", symbol="AAPL", quantity="6", price="150", executed_at="2024-01-03T15:00Z",
                         external_id="ib-2")
    storage.record_trade(side="sell", symbol="AAPL", quantity="12", price="160", fees="0.0000000001",
                         executed_at="2024-01-04T15:00Z", allow_short=True)
    storage.record_trade(side="buy", symbol="EUR/USD", quantity="123456789012345678.5", price="0.0000000001",
                         executed_at="2024-01-04T15:00Z")
    exported = tmp_path / "trades.csv"
    with exported.open("w", newline="") as out:
        assert storage.export_trades(out) == 4
    with open_storage(f"sqlite:///{tmp_path / 'fresh.db'}", check_schema=False) as fresh:
        from stocksbot.storage import migrations

        migrations.upgrade(fresh.engine)
        result = fresh.import_trades(exported, allow_short=True)
        assert (result.imported, result.skipped, result.created_strategies) == (4, 0, ("momo",))
        assert positions_view(fresh) == positions_view(storage)
        assert trades_view(fresh) == trades_view(storage)
        again = io.StringIO()
        fresh.export_trades(again)
        assert again.getvalue() == exported.read_text()


def test_bad_rows_are_all_reported_and_nothing_is_written(storage, tmp_path: Path) -> None:
    storage.record_trade(side="buy", symbol="A", quantity="1", price="1", executed_at="2024-01-01")
    before = ledger_snapshot_of(storage)
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + "2024-01-02,buy,A,1,1,,,,x1,\n"
        + "2024-01-02,hold,A,1,1,,,,,\n"
        + "2024-02-30,buy,A,1,1,,,,,\n"
        + "2024-01-02,buy,A,-1,1,,,,,\n"
        + "2024-01-02,buy,a a,1,1,,,,,\n"
        + "2024-01-02,buy,A,1,NaN,,,,,\n"
        + "2024-01-02,buy,A,1,1,1e40,,,,\n"
        + "2024-01-02,buy,A,1,1,,,,x1,\n"
        + "2024-01-02,buy,A,1\n"
    )
    with pytest.raises(RowErrors) as info:
        storage.import_trades(path)
    assert [e.split(":")[0] for e in info.value.errors] == [f"line {n}" for n in range(3, 11)]
    assert "line 9: external_id 'x1' repeats line 2" in info.value.errors
    assert ledger_snapshot_of(storage) == before


def test_ledger_refusals_name_their_lines(storage, tmp_path: Path) -> None:
    path = tmp_path / "oversell.csv"
    path.write_text(HEADER + "2024-01-02,buy,A,4,10,,,,,\n2024-01-01,sell,A,1,10,,,,,\n2024-01-03,sell,B,1,1,,,,,\n")
    with pytest.raises(RowErrors) as info:
        storage.import_trades(path)
    assert info.value.errors == ["line 3: cannot sell 1 A: long position is 0", "line 4: cannot sell 1 B: long position is 0"]
    assert storage.list_trades() == []
    storage.config_set("trading.allow_short", "true")
    assert storage.import_trades(path).imported == 3


def test_reimport_skips_known_external_ids_and_dry_run_writes_nothing(storage, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "2024-01-02,buy,A,4,10,,,,e1,\n2024-01-03,sell,A,1,12,,,,e2,\n")
    dry = storage.import_trades(path, dry_run=True)
    assert (dry.imported, dry.skipped, dry.dry_run) == (2, 0, True)
    assert storage.list_trades() == []
    assert storage.import_trades(path).imported == 2
    again = storage.import_trades(path)
    assert (again.imported, again.skipped) == (0, 2)
    assert len(storage.list_trades()) == 2


def test_out_of_order_rows_book_in_time_order_after_existing_history(storage, tmp_path: Path) -> None:
    storage.record_trade(side="buy", symbol="A", quantity="10", price="100", executed_at="2024-01-05")
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "2024-01-06,sell,A,5,110,,,,,\n2024-01-01,buy,A,10,90,,,,,\n")
    storage.import_trades(path)
    sale = [t for t in storage.list_trades() if t.side == "sell"][0]
    assert sale.realized_pnl == Decimal("100")  # FIFO takes the 2024-01-01 lot at 90
    assert storage.check() == []


@pytest.mark.parametrize("content,message", [
    ("", "is empty"),
    ("when,side,symbol,quantity,price\n", "header has missing executed_at; unknown when"),
])
def test_bad_files_are_one_line(storage, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(StocksbotError, match=message):
        storage.import_trades(path)
    with pytest.raises(StocksbotError, match="cannot read"):
        storage.import_trades(tmp_path / "missing.csv")


@pytest.mark.slow
def test_hundred_thousand_rows(storage, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rng = random.Random(7)
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    held: dict[str, int] = {}
    with path.open("w") as out:
        out.write(HEADER)
        for i in range(100_000):
            symbol = f"S{rng.randrange(200)}"
            side = "sell" if held.get(symbol, 0) > 0 and rng.random() < 0.4 else "buy"
            quantity = rng.randint(1, held[symbol]) if side == "sell" else rng.randint(1, 100)
            held[symbol] = held.get(symbol, 0) + (quantity if side == "buy" else -quantity)
            when = (start + timedelta(minutes=i)).isoformat()
            out.write(f"{when},{side},{symbol},{quantity},{rng.randint(100, 99999) / 100},0.5,,,id-{i},\n")
    result = storage.import_trades(path)
    assert result.imported == 100_000
    open_quantity = {p.symbol: p.quantity for p in storage.list_positions()}
    assert open_quantity == {s: Decimal(q) for s, q in held.items() if q}


def ledger_snapshot_of(storage) -> dict:
    with storage.reading() as conn:
        return ledger_snapshot(conn)


def test_import_and_export_commands(migrated_url: str, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from stocksbot.cli.main import cli

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, ["--db", migrated_url, *args], catch_exceptions=False)

    path = tmp_path / "t.csv"
    path.write_text(HEADER + "2024-01-02,buy,A,4,10,,,momo,e1,\n2024-01-03,sell,A,1,12,,,momo,e2,\n")
    result = run("trade", "import", str(path), "--dry-run")
    assert (result.exit_code, result.stdout) == (
        0, "would import 2 trade(s), skipped 0 already stored, 0 errors\ncreated strategies: momo\n")
    assert json.loads(run("--json", "trade", "import", str(path)).stdout) == {
        "imported": 2, "skipped": 0, "errors": 0, "dry_run": False, "created_strategies": ["momo"]}
    assert json.loads(run("--json", "trade", "import", str(path)).stdout)["skipped"] == 2

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "2024-01-02,buy,A,x,10,,,,,\n2024-01-02,buy,A,1,10,,,,,\n2024-01-02,buy,A,1,-1,,,,,\n")
    result = run("trade", "import", str(bad))
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: 2 bad row(s), nothing imported:\n"
        "line 2: quantity must be a number such as 10, 150.25 or .5, got 'x'\n"
        "line 4: price must be 0 or more, got '-1'\n"
    )
    result = run("--json", "trade", "import", str(bad))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"] == 2

    out = tmp_path / "out.csv"
    result = run("trade", "export", "--output", str(out))
    assert (result.exit_code, result.stderr) == (0, f"exported 2 trade(s) to {out}\n")
    assert out.read_text().splitlines()[1].endswith(",buy,A,4,10,0,0,momo,e1,")
    exported = json.loads(run("trade", "export", "--format", "json").stdout)
    assert [t["external_id"] for t in exported] == ["e1", "e2"]
    assert exported[1]["realized_pnl"] == "2"
    assert run("trade", "import", str(tmp_path / "missing.csv")).exit_code == 1


def test_repeats_across_batches_are_found(storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeated external ids are found through the database, batch by batch (memory stays flat)."""
    from stocksbot.services import imports

    monkeypatch.setattr(imports, "BATCH", 2)
    storage.record_trade(side="buy", symbol="A", quantity="1", price="1", external_id="old", executed_at="2024-01-01")
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "".join(f"2024-01-0{2 + i},buy,A,1,1,,,,{e},\n" for i, e in
                                     enumerate(["a", "b", "old", "c", "a", "d", "c"])))
    with pytest.raises(RowErrors) as info:
        storage.import_trades(path)
    assert info.value.errors == ["line 6: external_id 'a' repeats line 2", "line 8: external_id 'c' repeats line 5"]
    assert len(storage.list_trades()) == 1
