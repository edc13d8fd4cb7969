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
                         executed_at="2024-01-02T15:00Z", note='first, "quoted" line')  # one line: docs/ledger.md §1.7
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
        # Everything but the key: a trade without an external_id arrives with its fingerprint
        # (docs/csv-formats.md §2.4), so the copy's re-imports are recognised too.
        ids = ("ib-2",)
        assert [v[:8] + v[9:] for v in trades_view(fresh)] == [v[:8] + v[9:] for v in trades_view(storage)]
        assert [t.external_id for t in storage.list_trades()] == [None, "ib-2", None, None]
        assert [t.external_id if t.external_id in ids else t.external_id[:3] for t in fresh.list_trades()] == [
            "fp:", "ib-2", "fp:", "fp:"]
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
    hint = " (use --allow-short to sell short)"
    assert info.value.errors == [f"line 3: cannot sell 1 A: long position is 0{hint}",
                                 f"line 4: cannot sell 1 B: long position is 0{hint}"]
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
        0, "would import 2 trade(s), skipped 0 already stored, 0 errors\nwould create strategies: momo\n")
    assert json.loads(run("--json", "trade", "import", str(path)).stdout) == {
        "imported": 2, "skipped": 0, "errors": 0, "dry_run": False, "created_strategies": ["momo"],
        "created_accounts": []}
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
    assert out.read_text().splitlines()[1].endswith(",buy,A,4,10,0,0,momo,e1,,main,USD,")
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


def trade_indexes(storage) -> list[tuple[str, str]]:
    """The trades table's indexes as the database defines them (name, definition)."""
    from sqlalchemy import text

    with storage.reading() as conn:
        if conn.dialect.name == "sqlite":
            query = "SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trades'"
        else:
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'trades'"
        return sorted(tuple(row) for row in conn.execute(text(query)))


def defer_indexes_always(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every import defer the trades indexes (as a large file into a small table does); counts the drops."""
    from stocksbot.services import imports

    monkeypatch.setattr(imports, "DEFER_INDEXES_MIN_ROWS", 0)
    monkeypatch.setattr(imports, "DEFER_INDEXES_BACKENDS", frozenset({"sqlite", "postgresql"}))
    monkeypatch.setattr(imports, "ROW_BYTES_ESTIMATE", 1)
    drops: list[int] = []
    original = imports.TradeImport.defer_indexes

    def counted(self: imports.TradeImport) -> None:
        drops.append(1)
        original(self)

    monkeypatch.setattr(imports.TradeImport, "defer_indexes", counted)
    return drops


def mixed_file(path: Path, rows: int, seed: int) -> None:
    """Trades over a few symbols with closes, flips refused (no shorting) avoided, and some
    rows dated before the stored history (so those symbols are re-booked at the end)."""
    rng = random.Random(seed)
    start = datetime(2024, 2, 1, tzinfo=timezone.utc)
    held: dict[str, int] = {}
    with path.open("w") as out:
        out.write(HEADER)
        for i in range(rows):
            symbol = f"S{rng.randrange(6)}"
            side = "sell" if held.get(symbol, 0) > 0 and rng.random() < 0.45 else "buy"
            quantity = rng.randint(1, held[symbol]) if side == "sell" else rng.randint(1, 50)
            held[symbol] = held.get(symbol, 0) + (quantity if side == "buy" else -quantity)
            when = start + timedelta(hours=i)
            if symbol == "S5" and side == "buy" and rng.random() < 0.1:
                when = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=i)  # before the stored trade
            strategy = rng.choice(["", "alpha", "beta"])
            out.write(f"{when.isoformat()},{side},{symbol},{quantity},{rng.randint(100, 9999) / 100},0.25,,"
                      f"{strategy},x-{seed}-{i},\n")


@pytest.mark.slow  # two migrated databases and two imports with the indexes dropped and rebuilt
def test_deferred_indexes_give_the_same_ledger(storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large import into a small table drops and rebuilds the trades indexes: same trades,
    positions, lots, realized P&L and totals as an import that keeps them (on SQLite)."""
    path = tmp_path / "t.csv"
    mixed_file(path, 3000, seed=3)

    def fill(target) -> None:
        target.record_trade(side="buy", symbol="S5", quantity="5", price="10", executed_at="2024-01-20T12:00Z",
                            external_id="first")
        target.record_trade(side="buy", symbol="S1", quantity="5", price="10", executed_at="2024-01-20T12:00Z")

    with open_storage(f"sqlite:///{tmp_path / 'kept.db'}", check_schema=False) as kept:
        from stocksbot.storage import migrations

        migrations.upgrade(kept.engine)
        fill(kept)
        kept.import_trades(path)
        expected = (ledger_snapshot_of(kept), trades_view(kept))
        assert kept.check() == []

    drops = defer_indexes_always(monkeypatch)
    fill(storage)
    before = trade_indexes(storage)
    result = storage.import_trades(path)
    assert (result.imported, drops) == (3000, [1])
    assert (ledger_snapshot_of(storage), trades_view(storage)) == expected
    assert trade_indexes(storage) == before
    assert storage.check() == []
    again = storage.import_trades(path)  # every external_id known: all skipped
    assert (again.imported, again.skipped) == (0, 3000)


def test_deferred_indexes_come_back_after_a_dry_run_a_refusal_and_a_failure(
    storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dropped indexes roll back with the import's transaction whatever ends it."""
    from stocksbot.storage.bulk import BulkInserter

    drops = defer_indexes_always(monkeypatch)
    storage.record_trade(side="buy", symbol="A", quantity="1", price="1", executed_at="2024-01-01")
    before, snapshot = trade_indexes(storage), ledger_snapshot_of(storage)
    assert [name for name, _ in before if name.startswith("ix_")] == [
        "ix_trades_account_id", "ix_trades_executed_at", "ix_trades_order_id", "ix_trades_strategy_id",
        "ix_trades_symbol_executed_at"]
    good = tmp_path / "good.csv"
    mixed_file(good, 500, seed=5)
    assert storage.import_trades(good, dry_run=True).imported == 500
    assert (trade_indexes(storage), ledger_snapshot_of(storage)) == (before, snapshot)

    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text() + "2024-03-01,buy,A,1,oops,,,,,\n")
    with pytest.raises(RowErrors, match="line 502: price"):
        storage.import_trades(bad)
    assert (trade_indexes(storage), ledger_snapshot_of(storage)) == (before, snapshot)

    calls: list[int] = []
    insert = BulkInserter.insert

    def failing(self: BulkInserter, rows) -> None:  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        insert(self, rows)

    monkeypatch.setattr(BulkInserter, "insert", failing)
    monkeypatch.setattr("stocksbot.services.imports.BATCH", 100)
    with pytest.raises(RuntimeError, match="disk on fire"):
        storage.import_trades(good)
    assert (trade_indexes(storage), ledger_snapshot_of(storage)) == (before, snapshot)
    assert len(drops) == 3
    monkeypatch.setattr(BulkInserter, "insert", insert)
    assert storage.import_trades(good).imported == 500
    assert trade_indexes(storage) == before


def test_small_imports_and_large_tables_keep_the_indexes(storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexes are deferred only for a file of at least DEFER_INDEXES_MIN_ROWS rows (estimated)
    that brings at least as many rows as the table holds."""
    from stocksbot.services import imports

    drops = defer_indexes_always(monkeypatch)
    monkeypatch.setattr(imports, "DEFER_INDEXES_MIN_ROWS", 100)
    monkeypatch.setattr(imports, "ROW_BYTES_ESTIMATE", 10_000)  # a 1,000-row file looks like a handful of rows
    path = tmp_path / "t.csv"
    mixed_file(path, 1000, seed=9)
    storage.import_trades(path)
    assert drops == []
    monkeypatch.setattr(imports, "ROW_BYTES_ESTIMATE", 100)  # now about 600 rows: fewer than the 1,000 stored
    other = tmp_path / "u.csv"
    mixed_file(other, 1000, seed=10)
    storage.import_trades(other)
    assert drops == []
    monkeypatch.setattr(imports, "ROW_BYTES_ESTIMATE", 10)  # about 6,000 rows: more than the 2,000 stored
    third = tmp_path / "v.csv"
    mixed_file(third, 1000, seed=11)
    storage.import_trades(third)
    assert drops == [1]
