"""Trade files in and out (docs/csv-formats.md §1, §2.3-§2.5, §3.3, §4.4), on SQLite and PostgreSQL.

Re-importing a file without external ids skips what is stored (issue 11 §2.1), one fingerprint
for `trade import`, `stocksbot import` and `trade export`; export -> import round trips are
idempotent and carry shorts (§2.8); `--json trade export` is JSON, `--dry-run` says "would
create"; `-` reads standard input; `--delimiter` and `--date-format`; beancount dates by the
local day (§2.10).
"""

from __future__ import annotations

import io
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from stocksbot import open_storage
from stocksbot.cli.main import cli
from stocksbot.csvfiles import RowErrors, read_trades
from stocksbot.fingerprints import fingerprint, trade_content
from stocksbot.storage import tables

HEADER = "executed_at,side,symbol,quantity,price,commission,fees\n"
FILLS = (HEADER
         + "2024-01-02T14:30:00Z,buy,AAPL,10,150,1,0\n"
         + "2024-01-03T15:00:00Z,buy,MSFT,5,300.5,1,0.25\n"
         + "2024-01-04T15:00:00Z,sell,AAPL,4,160,1,0\n")
#: The same fills written differently: other decimal forms, an offset instead of Z, other case.
FILLS_RESTATED = (HEADER
                  + "2024-01-02T15:30:00+01:00,BUY,aapl,10.00,150.0,1.0,\n"
                  + "2024-01-03T15:00:00+00:00,buy,MSFT,5.0,300.50,1,0.250\n"
                  + "2024-01-04T15:00:00Z,Sell,AAPL,4,160.000,1,0\n")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def trade_count(storage: Any) -> int:
    return len(storage.list_trades())


def positions_view(storage: Any) -> list[tuple[Any, ...]]:
    return sorted((p.account, p.symbol, p.side, p.quantity, p.open_cost, p.realized_pnl, p.status, p.opened_at,
                   p.closed_at) for p in storage.list_positions(status=None))


def export_csv(storage: Any) -> str:
    out = io.StringIO()
    storage.export_trades(out)
    return out.getvalue()


@pytest.fixture
def empty_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second migrated database on the same backend (for export -> import into an empty one)."""
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = request.getfixturevalue("tmp_path") / "empty.db"
        target.write_bytes(template.read_bytes())
        yield f"sqlite:///{target}"
        return
    server = request.getfixturevalue("postgres_server")
    name = server.create_database(template=request.getfixturevalue("postgres_template"))
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def empty(empty_url: str) -> Iterator[Any]:
    with open_storage(empty_url) as service:
        yield service


def cli_runner(url: str) -> Any:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:  # noqa: A002 - CliRunner's name
        return runner.invoke(cli, ["--db", url, *args], input=input, catch_exceptions=False)

    return invoke


# -- §2.1: re-importing a file without external ids --------------------------------------


def test_reimporting_a_file_without_ids_skips_every_row(storage: Any, tmp_path: Path) -> None:
    """Failed before: the second import duplicated every trade."""
    path = write(tmp_path, "fills.csv", FILLS)
    first = storage.import_trades(path)
    assert (first.imported, first.skipped) == (3, 0)
    before = positions_view(storage)
    again = storage.import_trades(path)
    assert (again.imported, again.skipped) == (0, 3)
    # The same fills in other canonical forms (10 and 10.00, Z and +01:00) are the same fills.
    restated = storage.import_trades(write(tmp_path, "restated.csv", FILLS_RESTATED))
    assert (restated.imported, restated.skipped) == (0, 3)
    assert trade_count(storage) == 3
    assert positions_view(storage) == before
    keys = [t.external_id for t in storage.list_trades()]
    assert all(key.startswith("fp:") and len(key) == 43 for key in keys) and len(set(keys)) == 3
    assert storage.check() == []


def test_a_different_fill_is_not_a_stored_one(storage: Any, tmp_path: Path) -> None:
    storage.import_trades(write(tmp_path, "fills.csv", FILLS))
    changed = FILLS.replace("MSFT,5,300.5,1,0.25", "MSFT,5,300.5,1,0.26")  # other fees
    other_account = HEADER.rstrip("\n") + ",account\n2024-01-02T14:30:00Z,buy,AAPL,10,150,1,0,ira\n"
    assert storage.import_trades(write(tmp_path, "changed.csv", changed)).imported == 1
    assert storage.import_trades(write(tmp_path, "ira.csv", other_account)).imported == 1
    assert trade_count(storage) == 5


def test_identical_rows_of_one_file_are_all_imported_once(storage: Any, tmp_path: Path) -> None:
    """The n-th identical row matches the n-th stored fill (docs/csv-formats.md §2.5)."""
    row = "2024-01-02T14:30:00Z,buy,AAPL,1,150,0,0\n"
    two = storage.import_trades(write(tmp_path, "two.csv", HEADER + row + row))
    assert (two.imported, two.skipped) == (2, 0)
    assert (storage.import_trades(tmp_path / "two.csv").imported, trade_count(storage)) == (0, 2)
    three = storage.import_trades(write(tmp_path, "three.csv", HEADER + row * 3))
    assert (three.imported, three.skipped) == (1, 2)
    one = storage.import_trades(write(tmp_path, "one.csv", HEADER + row))
    assert (one.imported, one.skipped, trade_count(storage)) == (0, 1, 3)


def test_identical_rows_across_batches_keep_counting(storage: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from stocksbot.services import imports

    monkeypatch.setattr(imports, "BATCH", 2)
    row = "2024-01-02T14:30:00Z,buy,AAPL,1,150,0,0\n"
    path = write(tmp_path, "five.csv", HEADER + row * 5)
    assert storage.import_trades(path).imported == 5
    assert (storage.import_trades(path).skipped, trade_count(storage)) == (5, 5)


def test_allow_duplicates_imports_identical_fills_again(storage: Any, tmp_path: Path) -> None:
    row = "2024-01-02T14:30:00Z,buy,AAPL,1,150,0,0\n"
    path = write(tmp_path, "two.csv", HEADER + row + row + "2024-01-03,buy,AAPL,1,151,,\n")
    storage.import_trades(path)
    result = storage.import_trades(path, allow_duplicates=True)
    assert (result.imported, result.skipped) == (3, 0)
    keys = [t.external_id for t in storage.list_trades()]
    assert len(keys) == 6 and len(set(keys)) == 6  # every copy has a key of its own
    # Without the flag the file is stored (twice over): nothing more.
    assert (storage.import_trades(path).imported, trade_count(storage)) == (0, 6)
    assert positions_view(storage)[0][3] == 6


def test_a_fill_stored_without_any_id_is_recognised(storage: Any, tmp_path: Path) -> None:
    """Trades of `trade add` (and of imports before fingerprints) have no external_id: a row
    with the same content claims one of them, each at most once."""
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="150", executed_at="2024-01-02T14:30:00Z")
    row = "2024-01-02T14:30:00Z,buy,AAPL,1.0,150,0,0\n"
    result = storage.import_trades(write(tmp_path, "two.csv", HEADER + row + row))
    assert (result.imported, result.skipped) == (1, 1)
    assert (storage.import_trades(tmp_path / "two.csv").imported, trade_count(storage)) == (0, 2)


def test_trade_import_and_stocksbot_import_share_the_fingerprint(migrated_url: str, tmp_path: Path) -> None:
    """One fingerprint function: a file imported by either command is recognised by the other."""
    run = cli_runner(migrated_url)
    path = write(tmp_path, "fills.csv", FILLS)
    assert run("trade", "import", str(path)).exit_code == 0
    result = run("--json", "import", str(path), "--from", "stocksbot")
    assert result.exit_code == 0, result.output
    assert (json.loads(result.stdout)["imported"]["trades"], json.loads(result.stdout)["skipped"]) == (0, 3)
    other = write(tmp_path, "other.csv", FILLS.replace("2024-01", "2023-01"))
    assert run("import", str(other), "--from", "stocksbot").exit_code == 0
    again = json.loads(run("--json", "trade", "import", str(other)).stdout)
    assert (again["imported"], again["skipped"]) == (0, 3)


def test_the_fingerprint_reads_canonical_values() -> None:
    at = datetime(2024, 1, 2, 14, 30, tzinfo=timezone.utc)
    from decimal import Decimal as D

    one = trade_content(at, "main", "AAPL", None, "buy", D("10"), D("150"), D("1"), D("0"), None)
    same = trade_content(at, "main", "AAPL", None, "buy", D("10.00"), D("150.0"), D("1.0"), D("0E-10"), None)
    assert one == same and fingerprint(one, 0) == fingerprint(same, 0)
    assert fingerprint(one, 0) != fingerprint(one, 1)
    assert fingerprint(one, 0) != fingerprint(trade_content(at, "ira", "AAPL", None, "buy", D("10"), D("150"), D("1"),
                                                             D("0"), None), 0)


# -- export -> import round trips ------------------------------------------------------------


def _ledger_with_everything(storage: Any, tmp_path: Path) -> None:
    """Trades of every origin: `trade add` (no id), identical `trade add`s, a broker id, an
    import without ids, a short opened with `position add --short` and a flip."""
    storage.add_strategy("swing")
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="150", executed_at="2024-01-02T14:30Z")
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="150", executed_at="2024-01-02T14:30Z")
    storage.record_trade(side="buy", symbol="MSFT", quantity="5", price="300", executed_at="2024-01-03T14:30Z",
                         external_id="ib-1", strategy="swing")
    storage.import_trades(write(tmp_path, "fills.csv", HEADER + "2024-01-02T14:30:00Z,buy,AAPL,10,150,0,0\n"))
    storage.add_position("TSLA", "3", "200", short=True, executed_at="2024-01-05T15:00Z")
    storage.add_position("TSLA", "2", "210", short=True, executed_at="2024-01-06T15:00Z")
    storage.record_trade(side="buy", symbol="NVDA", quantity="5", price="50", executed_at="2024-01-04T15:00Z")
    storage.record_trade(side="sell", symbol="NVDA", quantity="8", price="55", executed_at="2024-01-08T15:00Z",
                         allow_short=True)  # a flip: closes the long, opens a short of 3


def test_export_into_the_same_database_skips_every_row(storage: Any, tmp_path: Path) -> None:
    _ledger_with_everything(storage, tmp_path)
    count = trade_count(storage)
    before = positions_view(storage)
    path = write(tmp_path, "export.csv", export_csv(storage))
    result = storage.import_trades(path)
    assert (result.imported, result.skipped) == (0, count)
    assert trade_count(storage) == count and positions_view(storage) == before
    assert storage.check() == []


@pytest.mark.slow  # two databases, a ledger of every kind of trade, three imports
def test_export_into_an_empty_database_imports_all_then_skips_all(storage: Any, empty: Any, tmp_path: Path) -> None:
    """Default settings (no allow-short) in the new database: the short opened with `position
    add --short` and the flip still import (failed before: `cannot sell 3 TSLA`)."""
    _ledger_with_everything(storage, tmp_path)
    exported = export_csv(storage)
    lines = exported.splitlines()
    assert lines[0].endswith(",account,currency,allow_short")
    marked = [line.split(",")[2:4] for line in lines[1:] if line.endswith(",true")]
    assert marked == [["TSLA", "3"], ["TSLA", "2"], ["NVDA", "8"]]
    path = write(tmp_path, "export.csv", exported)
    first = empty.import_trades(path)
    assert (first.imported, first.skipped) == (trade_count(storage), 0)
    assert positions_view(empty) == positions_view(storage)
    second = empty.import_trades(path)
    assert (second.imported, second.skipped) == (0, trade_count(storage))
    assert export_csv(empty) == exported  # the copy exports the same keys
    assert empty.check() == []


def test_export_keys_never_clash_with_stored_fingerprints(storage: Any, empty: Any, tmp_path: Path) -> None:
    """A trade without an id at the moment of a fingerprinted one with the same content takes
    the next free fingerprint, so the file imports (each key once)."""
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="1", executed_at="2024-01-02T14:30Z")
    row = "2024-01-02T14:30:00Z,buy,AAPL,1,1,0,0\n"
    storage.import_trades(write(tmp_path, "two.csv", HEADER + row + row))  # claims the added one, then fp #1
    storage.import_trades(write(tmp_path, "one.csv", HEADER + row), allow_duplicates=True)
    exported = export_csv(storage)
    keys = [line.split(",")[8] for line in exported.splitlines()[1:]]
    assert len(keys) == 3 and len(set(keys)) == 3
    path = write(tmp_path, "export.csv", exported)
    assert storage.import_trades(path).imported == 0
    assert empty.import_trades(path).imported == 3


def test_allow_short_column(storage: Any, tmp_path: Path) -> None:
    header = HEADER.rstrip("\n") + ",allow_short\n"
    result = storage.import_trades(write(tmp_path, "short.csv", header + "2024-01-02,sell,TSLA,3,200,,,Yes\n"))
    assert result.imported == 1
    (position,) = storage.list_positions()
    assert (position.side, position.quantity) == ("short", 3)
    with pytest.raises(RowErrors) as refused:
        storage.import_trades(write(tmp_path, "no.csv", header + "2024-01-03,sell,TSLA,1,200,,,\n"))
    assert refused.value.errors == [
        "line 2: cannot sell 1 TSLA: long position is 0 (it is short 3; use --allow-short to sell short)"]
    with pytest.raises(RowErrors) as bad:
        storage.import_trades(write(tmp_path, "bad.csv", header + "2024-01-03,sell,TSLA,1,200,,,maybe\n"))
    assert bad.value.errors == ["line 2: allow_short must be true or false, got 'maybe'"]


def test_allow_short_holds_when_a_late_row_rebooks_the_symbol(storage: Any, tmp_path: Path) -> None:
    """A row dated before a stored trade re-books its symbol: the row's allow_short still counts there."""
    storage.record_trade(side="buy", symbol="TSLA", quantity="1", price="190", executed_at="2024-02-01")
    header = HEADER.rstrip("\n") + ",allow_short\n"
    assert storage.import_trades(write(tmp_path, "late.csv", header + "2024-01-02,sell,TSLA,3,200,,,true\n")).imported
    # Re-booked in time order: the sell opened a short of 3, the stored buy covered 1 of it.
    assert [(p.side, p.quantity, p.status) for p in storage.list_positions(status=None)] == [("short", 2, "open")]
    assert storage.check() == []
    path = write(tmp_path, "late2.csv", header + "2024-01-01,sell,TSLA,1,200,,,\n")
    with pytest.raises(RowErrors) as refused:
        storage.import_trades(path)
    assert refused.value.errors == ["line 2: cannot sell 1 TSLA: long position is 0 (use --allow-short to sell short)"]


# -- the command line ---------------------------------------------------------------------


def test_json_trade_export_prints_json(run: Any) -> None:
    """Failed before: `--json trade export` printed CSV."""
    run("trade", "add", "buy", "AAPL", "2", "--price", "10", "--at", "2024-01-02")
    result = run("--json", "trade", "export")
    assert result.exit_code == 0
    (trade,) = json.loads(result.stdout)
    assert {"id", "side", "symbol", "quantity", "price", "commission", "fees", "executed_at", "realized_pnl",
            "order_id", "strategy", "external_id", "note"} <= set(trade)
    assert (trade["symbol"], trade["quantity"]) == ("AAPL", "2")
    assert run("--json", "trade", "export", "--format", "csv").stdout.startswith("executed_at,side,")
    assert run("trade", "export").stdout.startswith("executed_at,side,")


def test_dry_run_says_what_it_would_create(run: Any, storage: Any, tmp_path: Path) -> None:
    """Failed before: a dry run said "created strategies"."""
    path = write(tmp_path, "new.csv", "executed_at,side,symbol,quantity,price,strategy,account\n"
                                      "2024-01-02,buy,AAPL,1,10,momo,ira\n")
    result = run("trade", "import", str(path), "--dry-run")
    assert result.stdout.splitlines()[1:] == ["would create strategies: momo", "would create accounts: ira"]
    assert storage.list_strategies() == [] and trade_count(storage) == 0
    result = run("trade", "import", str(path))
    assert result.stdout.splitlines()[1:] == ["created strategies: momo", "created accounts: ira"]


def test_dash_reads_standard_input(migrated_url: str, storage: Any) -> None:
    run = cli_runner(migrated_url)
    result = run("trade", "import", "-", input="\ufeff" + FILLS)
    assert (result.exit_code, result.stdout) == (0, "imported 3 trade(s), skipped 0 already stored, 0 errors\n")
    assert run("trade", "import", "-", input=FILLS).stdout.startswith("imported 0 trade(s), skipped 3")
    bad = run("trade", "import", "-", input=HEADER + "2024-01-02,buy,AAPL,x,1,,\n")
    assert bad.exit_code == 1 and "line 2: quantity" in bad.stderr
    prices = run("price", "import", "-", "--symbol", "AAPL", input="timestamp,close\n2024-01-02,185.64\n")
    assert (prices.exit_code, prices.stdout) == (0, "imported 1 bar(s)\n")
    assert [str(p.close) for p in storage.price_history("AAPL")] == ["185.64"]


def test_delimiter_and_date_format(migrated_url: str, storage: Any, tmp_path: Path) -> None:
    run = cli_runner(migrated_url)
    path = write(tmp_path, "eu.csv", "executed_at;side;symbol;quantity;price\n15/01/2024 14:30;buy;SAP;3;150,5\n"
                 .replace("150,5", "150.5"))
    result = run("trade", "import", str(path), "--delimiter", ";", "--date-format", "%d/%m/%Y %H:%M")
    assert result.exit_code == 0, result.output
    (trade,) = storage.list_trades()
    assert trade.executed_at == datetime(2024, 1, 15, 14, 30).astimezone(timezone.utc)
    assert run("trade", "import", str(path), "--delimiter", ";", "--date-format", "%d/%m/%Y %H:%M").stdout \
        .startswith("imported 0 trade(s), skipped 1")
    wrong = run("trade", "import", str(path), "--delimiter", ";", "--date-format", "%Y-%m-%d")
    assert wrong.exit_code == 1
    assert "line 2: executed_at '15/01/2024 14:30' does not match --date-format '%Y-%m-%d'" in wrong.stderr
    assert run("trade", "import", str(path), "--delimiter", ";;").exit_code == 2
    tabs = write(tmp_path, "bars.tsv", "timestamp\tclose\n01/16/2024\t151.25\n")
    result = run("price", "import", str(tabs), "--symbol", "SAP", "--delimiter", "\\t", "--date-format", "%m/%d/%Y")
    assert (result.exit_code, result.stdout) == (0, "imported 1 bar(s)\n")
    (bar,) = storage.price_history("SAP")
    assert bar.timestamp == datetime(2024, 1, 16).astimezone(timezone.utc)


def test_read_trades_with_a_date_format_and_delimiter() -> None:
    rows = list(read_trades(io.StringIO("executed_at|side|symbol|quantity|price\n2024.01.15|buy|A|1|2\n"
                                        "15.01.2024|buy|A|1|2\n"), "x.csv", delimiter="|", date_format="%Y.%m.%d"))
    assert rows[0].executed_at == datetime(2024, 1, 15).astimezone(timezone.utc)  # type: ignore[union-attr]
    assert rows[1] == "line 3: executed_at '15.01.2024' does not match --date-format '%Y.%m.%d'"


# -- beancount: local dates ------------------------------------------------------------------


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_beancount_dates_a_trade_by_its_local_day(storage: Any, new_york: None) -> None:
    """Failed before: a fill at 22:00 in New York (03:00 UTC the next day) was dated the next day."""
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10", executed_at="2024-01-14T22:00")
    out = io.StringIO()
    storage.export_trades(out, format="beancount")
    text = out.getvalue()
    assert '2024-01-14 * "buy 1 AAPL @ 10"' in text
    assert "2024-01-15" not in text
    with storage.reading() as conn:
        stored = conn.execute(select(tables.trades.c.executed_at)).scalar_one()
    assert stored == datetime(2024, 1, 15, 3, tzinfo=timezone.utc)
