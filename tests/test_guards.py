"""Guards against silent damage (issue 11 §2 items 5, 7, 9 and 11), on SQLite and PostgreSQL.

- a downgrade that would drop rows asks first, says what goes, and backs SQLite up
  (docs/ledger.md §16.7);
- a misspelled key under stocksbot's own config namespaces is refused with the closest known
  key (§9.2);
- a fill on the wrong side of its order's limit is refused unless --force, and `order fill`
  takes --allow-short like `trade add` (§7.4, §4.6);
- names are printable, notes and descriptions have no control characters (§1.7).

Every refusal is one line, exit 1, and writes nothing.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from stocksbot.errors import StocksbotError
from stocksbot.storage import tables


def one_line(result: Any) -> str:
    """The single error line of a failed command (exit 1, nothing else printed)."""
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    return str(result.output)


def count(storage: Any, table: Any) -> int:
    with storage.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# -- §2.9: fills must respect the order's limit --------------------------------------------------

def _submitted(storage: Any, side: str, order_type: str = "limit", **prices: str) -> int:
    order = storage.add_order(side=side, symbol="AAPL", quantity="10", order_type=order_type, **prices)
    storage.change_order_status(order.id, "submitted")
    return int(order.id)


def test_a_buy_limit_fill_above_the_limit_is_refused_unless_forced(storage) -> None:
    order_id = _submitted(storage, "buy", limit_price="50")
    with pytest.raises(StocksbotError) as info:
        storage.fill_order(order_id, "10", "51")
    assert str(info.value) == (
        "fill price 51 is above the order's buy limit 50 (use --force if the broker really filled it there)"
    )
    # `trade add --order` records a fill of the order too: the same rule, in the same place.
    with pytest.raises(StocksbotError, match="above the order's buy limit 50"):
        storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="50.01", order_id=order_id)
    order = storage.get_order(order_id)
    assert (order.status, order.filled_quantity, count(storage, tables.trades)) == ("submitted", 0, 0)

    assert storage.fill_order(order_id, "4", "50").price == 50  # at the limit
    assert storage.fill_order(order_id, "4", "49.5").price == Decimal("49.5")  # better than the limit
    forced = storage.fill_order(order_id, "2", "51", force=True)
    order = storage.get_order(order_id)
    assert (forced.order_id, order.status, order.filled_quantity, order.avg_fill_price) == (
        order_id, "filled", 10, 50)  # (4 × 50 + 4 × 49.5 + 2 × 51) ÷ 10
    assert storage.check() == []


def test_a_sell_limit_below_the_limit_and_a_stop_limit_are_refused(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="20", price="40")
    sell = _submitted(storage, "sell", limit_price="50")
    with pytest.raises(StocksbotError, match=r"^fill price 49.99 is below the order's sell limit 50 \(use --force"):
        storage.fill_order(sell, "1", "49.99")
    assert storage.fill_order(sell, "1", "50.5").price == Decimal("50.5")
    stop_limit = _submitted(storage, "buy", "stop_limit", limit_price="55", stop_price="52")
    with pytest.raises(StocksbotError, match="above the order's buy limit 55"):
        storage.fill_order(stop_limit, "1", "56")
    # A stop order (a market order once triggered) and a market order have no limit to break.
    stop = _submitted(storage, "buy", "stop", stop_price="52")
    market = _submitted(storage, "buy", "market")
    assert storage.fill_order(stop, "1", "60").price == 60
    assert storage.fill_order(market, "1", "70").price == 70
    assert count(storage, tables.trades) == 4


def test_order_fill_and_trade_add_on_the_command_line(run, data) -> None:
    run("order", "add", "buy", "AAPL", "10", "--type", "limit", "--limit-price", "50")
    run("order", "submit", "1")
    expected = "Error: fill price 51 is above the order's buy limit 50 (use --force if the broker really filled it there)\n"
    assert one_line(run("order", "fill", "1", "10", "--price", "51")) == expected
    assert one_line(run("trade", "add", "buy", "AAPL", "10", "--price", "51", "--order", "1")) == expected
    assert data("trade", "list") == []
    assert one_line(run("trade", "add", "buy", "AAPL", "1", "--price", "51", "--force")) == (
        "Error: --force applies to a fill of an order only: give --order ID\n")

    result = run("order", "fill", "1", "4", "--price", "51", "--force")
    assert (result.exit_code, result.output) == (
        0, "bought 4 AAPL @ 51 (trade 1); order 1 partially_filled, 4 of 10 filled\n")
    trade = data("trade", "add", "buy", "AAPL", "6", "--price", "52", "--order", "1", "--force")
    assert (trade["order_id"], trade["price"]) == (1, "52")
    assert data("order", "show", "1")["status"] == "filled"


def test_order_fill_takes_allow_short_and_the_refusal_names_it(run, data) -> None:
    data("trade", "add", "buy", "AAPL", "100", "--price", "10")
    run("order", "add", "sell", "AAPL", "150")
    run("order", "submit", "1")
    assert one_line(run("order", "fill", "1", "150", "--price", "11")) == (
        "Error: cannot sell 150 AAPL: long position is 100 (use --allow-short to sell short)\n")
    assert data("order", "show", "1")["filled_quantity"] == "0"
    trade = data("order", "fill", "1", "150", "--price", "11", "--allow-short")
    assert (trade["order_id"], trade["realized_pnl"]) == (1, "100")
    [position] = data("position", "list")
    assert (position["side"], position["quantity"]) == ("short", "50")
    assert run("db", "check").exit_code == 0


def test_a_sell_while_short_names_the_short_and_the_switch(run) -> None:
    run("position", "add", "AAPL", "3", "--price", "10", "--short")
    assert one_line(run("trade", "add", "sell", "AAPL", "1", "--price", "10")) == (
        "Error: cannot sell 1 AAPL: long position is 0 (it is short 3; use --allow-short to sell short)\n")


# -- §2.7: stocksbot's own config namespaces hold known keys only ------------------------------

def test_a_misspelled_known_key_is_refused_with_the_closest(run, data) -> None:
    for key, closest in [("accounting.costbasis", "accounting.cost_basis"), ("trading.allowshort", "trading.allow_short"),
                         ("reporting.curency", "reporting.currency"), ("accounts.defualt", "accounts.default")]:
        namespace = key.partition(".")[0]
        expected = f"Error: unknown setting {key!r}: {namespace}.* keys are stocksbot's own; did you mean {closest}?\n"
        assert one_line(run("config", "set", key, "lifo")) == expected, key
        assert one_line(run("config", "get", key)) == expected, key
        assert one_line(run("config", "unset", key)) == expected, key
    assert one_line(run("config", "set", "accounting.tax_lots", "x")) == (
        "Error: unknown setting 'accounting.tax_lots': accounting.* keys are stocksbot's own; "
        "known: accounting.cost_basis\n")
    assert [c["key"] for c in data("config", "list") if not c["is_default"]] == []
    # Other namespaces stay free for users and bots; known keys work as before.
    assert run("config", "set", "bot.costbasis", "lifo").output == "bot.costbasis = lifo (string)\n"
    assert run("config", "set", "accounting.cost_basis", "lifo").exit_code == 0
    assert run("config", "get", "accounting.cost_basis").output == "lifo\n"


def test_a_misspelled_key_stored_before_the_rule_can_be_read_and_removed(storage) -> None:
    with storage.transaction() as conn:
        conn.execute(tables.config.insert().values(key="accounting.costbasis", value="lifo", type="string"))
    assert storage.config_get("accounting.costbasis").value == "lifo"
    with pytest.raises(StocksbotError, match="did you mean accounting.cost_basis"):
        storage.config_set("accounting.costbasis", "fifo")
    storage.config_unset("accounting.costbasis")
    with pytest.raises(StocksbotError, match="did you mean accounting.cost_basis"):
        storage.config_get("accounting.costbasis")
    assert storage.setting("accounting.cost_basis") == "fifo"


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- §2.11: names are printable, notes have no control characters -------------------------------

BAD_NAMES = ["a\nb", "tab\there", "bell\x07", "esc\x1b[31m", "nbsp\u00a0x", "line\u2028sep", "", "   ", "x" * 101]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_strategy_name_must_be_1_to_100_printable_characters(run, data, name: str) -> None:
    assert one_line(run("strategy", "add", name)) == (
        f"Error: invalid strategy name {name!r}: use 1-100 printable characters (no control characters)\n")
    assert data("strategy", "list") == []


def test_names_and_notes_on_the_command_line(run, data) -> None:
    result = run("strategy", "add", "mean reversion ü", "--description", "buys dips · sells rips")
    assert result.exit_code == 0, result.output
    line = "use text on one line (no tabs, newlines or other control characters)"
    assert one_line(run("strategy", "add", "s2", "--description", "two\nlines")) == (
        f"Error: invalid description 'two\\nlines': {line}\n")
    assert one_line(run("strategy", "add", "s3", "--param", "look\tback=20")) == (
        "Error: invalid parameter name 'look\\tback': use 1-100 printable characters (no control characters)\n")
    assert one_line(run("strategy", "set", "mean reversion ü", "a\x1bb=1")).startswith("Error: invalid parameter name")
    assert [s["name"] for s in data("strategy", "list")] == ["mean reversion ü"]
    # A parameter's value is free: it is shown as JSON, where the newline is escaped.
    assert data("strategy", "set", "mean reversion ü", "msg=two\nlines")["params"] == {"msg": "two\nlines"}

    assert one_line(run("trade", "add", "buy", "AAPL", "1", "--price", "1", "--note", "a\rb")) == (
        f"Error: invalid note 'a\\rb': {line}\n")
    assert one_line(run("cash", "deposit", "10", "--note", "x\ny")) == f"Error: invalid note 'x\\ny': {line}\n"
    assert one_line(run("account", "add", "ira", "--description", "a\tb")) == f"Error: invalid description 'a\\tb': {line}\n"
    assert one_line(run("config", "set", "bot.x", "1", "--description", "a\x00b")).startswith("Error: invalid description")
    assert one_line(run("account", "add", "i\nra")).startswith("Error: invalid account name 'i\\nra'")
    assert one_line(run("symbol", "set", "AAPL", "--name", "Apple\nInc")).startswith("Error: invalid name")
    assert data("trade", "list") == [] and data("cash", "list") == []
    assert [a["name"] for a in data("account", "list")] == ["main"]
    # Printable text with spaces and any script is a fine note.
    trade = data("trade", "add", "buy", "AAPL", "1", "--price", "1", "--note", "  took profit — 利益 ✓  ")
    assert trade["note"] == "  took profit — 利益 ✓  "


def test_the_python_api_refuses_the_same(storage) -> None:
    with pytest.raises(StocksbotError, match="invalid strategy name"):
        storage.add_strategy("a\nb")
    with pytest.raises(StocksbotError, match="invalid parameter name"):
        storage.add_strategy("ok", params={"a\nb": 1})
    with pytest.raises(StocksbotError, match="invalid note"):
        storage.record_dividend("AAPL", "1", note="x\ny")
    with pytest.raises(StocksbotError, match="invalid note"):
        storage.transfer_cash("1", from_account="main", to_account="main", note="\x1b")
    assert count(storage, tables.strategies) == 0 and count(storage, tables.cash_movements) == 0


def test_trade_import_refuses_control_characters_in_strategy_and_note(storage, tmp_path) -> None:
    path = tmp_path / "fills.csv"
    path.write_text(
        "executed_at,side,symbol,quantity,price,strategy,note\n"
        '2024-01-02,buy,AAPL,1,10,"mo\nmo",\n'
        '2024-01-03,buy,AAPL,1,10,momo,"two\nlines"\n'
        "2024-01-04,buy,AAPL,1,10,momo,fine note\n",
        encoding="utf-8",
    )
    with pytest.raises(StocksbotError) as info:
        storage.import_trades(str(path))
    assert info.value.errors == [  # type: ignore[attr-defined]
        "line 3: invalid strategy name 'mo\\nmo': use 1-100 printable characters (no control characters)",
        "line 5: invalid note 'two\\nlines': use text on one line (no tabs, newlines or other control characters)",
    ]
    assert count(storage, tables.trades) == 0 and count(storage, tables.strategies) == 0


# -- §2.5: a downgrade that deletes rows asks first ------------------------------------------------
# The revisions named below are fixed points of history: 0007 added lot_closings, 0005 the
# accounts and cash tables and trades.account_id/currency. What later revisions add (and a
# downgrade to these drops too) is only ever added to the lists checked here.

def _revision(run: Any) -> str:
    return str(_json(run("--json", "db", "current"))["revision"])


def _engine(url: str) -> Any:
    from sqlalchemy import create_engine

    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _lot_closings(url: str) -> int:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tables.lot_closings)).scalar_one())
    finally:
        engine.dispose()


def test_a_downgrade_that_deletes_rows_needs_yes_and_backs_sqlite_up(run, migrated_url: str, backend: str,
                                                                     tmp_path) -> None:
    from stocksbot.storage.migrations import HEAD_REVISION

    run("trade", "add", "buy", "AAPL", "10", "--price", "5")
    run("trade", "add", "sell", "AAPL", "4", "--price", "6")
    sqlite = backend == "sqlite"
    refused = one_line(run("db", "downgrade", "0006"))
    assert re.fullmatch(r"Error: downgrading to 0006 would delete (.+, )?lot_closings \(1 row\)(, .+)?: run again with "
                        r"--yes to go ahead" + (r" \(the file is backed up first\)" if sqlite else "") + "\n", refused)
    assert _revision(run) == HEAD_REVISION and _lot_closings(migrated_url) == 1
    files = set(tmp_path.iterdir())

    done = _json(run("--json", "db", "downgrade", "0006", "--yes"))
    assert (done["from"], done["to"]) == (HEAD_REVISION, "0006")
    assert {"table": "lot_closings", "columns": None, "rows": 1} in done["deleted"]
    assert _revision(run) == "0006"
    if sqlite:  # the backup beside the file holds what the downgrade dropped
        [backup] = set(tmp_path.iterdir()) - files
        assert done["backup"] == str(backup)
        assert backup.name.startswith("test.db.backup-") and backup.name.endswith(f".before-downgrade-{HEAD_REVISION}")
        assert _lot_closings(f"sqlite:///{backup}") == 1
    else:
        assert done["backup"] is None and set(tmp_path.iterdir()) == files
    assert run("db", "upgrade").exit_code == 0
    assert run("db", "check").exit_code == 0


@pytest.mark.slow
def test_the_downgrade_names_dropped_columns_and_says_it_on_the_terminal(run, backend: str) -> None:
    from stocksbot.storage.migrations import HEAD_REVISION

    run("trade", "add", "buy", "AAPL", "10", "--price", "5")
    result = run("db", "downgrade", "0004", "--yes")
    assert result.exit_code == 0, result.output
    *before, last = result.output.splitlines()
    assert last.startswith(f"downgraded {HEAD_REVISION} -> 0004, deleting ")
    for lost in ("cash_balances (1 row)", "cash_movements (1 row)", "instruments (1 row)",
                 "positions.account_id (values of 1 row)", "trades.account_id, trades.currency (values of 1 row)"):
        assert lost in last
    assert "lots" not in last.replace("lot_closings", "")  # 0004 keeps the lots table
    assert [line.startswith("backed up to ") for line in before] == ([True] if backend == "sqlite" else [])
    assert _revision(run) == "0004"


@pytest.mark.slow
def test_a_database_without_rows_downgrades_without_asking(run, migrated_url: str) -> None:
    from stocksbot.storage.migrations import HEAD_REVISION

    # A setting is a row, but no downgrade to 0005 or later touches the config table: nothing is
    # lost. (Written directly: through `config set` it would leave an audit entry, itself a row.)
    engine = _engine(migrated_url)
    try:
        with engine.begin() as conn:
            conn.execute(tables.config.insert().values(key="bot.name", value="kept", type="string"))
        result = run("db", "downgrade", "0005")
        assert (result.exit_code, result.output) == (0, f"downgraded {HEAD_REVISION} -> 0005\n")
        with engine.begin() as conn:
            assert conn.execute(select(tables.config.c.value)).scalar_one() == "kept"
            conn.execute(tables.config.delete())
    finally:
        engine.dispose()
    # The account main the migrations create is not data either: base drops it without asking.
    result = run("db", "downgrade", "base")
    assert (result.exit_code, result.output) == (0, "downgraded 0005 -> <empty>\n")


@pytest.mark.slow
def test_on_a_terminal_the_downgrade_asks(run, migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from stocksbot.cli import db
    from stocksbot.cli.main import cli
    from stocksbot.storage.migrations import HEAD_REVISION

    monkeypatch.setattr(db, "_stdin_is_terminal", lambda: True)
    run("strategy", "add", "momo")
    answered_no = CliRunner().invoke(cli, ["--db", migrated_url, "db", "downgrade", "base"], input="n\n")
    question = answered_no.output.splitlines()[0]
    assert question.startswith("This downgrade deletes ") and "strategies (1 row)" in question
    assert question.endswith(". Go ahead? [y/N]: n")
    assert answered_no.exit_code == 1 and "Aborted!" in answered_no.output
    assert _revision(run) == HEAD_REVISION
    answered_yes = CliRunner().invoke(cli, ["--db", migrated_url, "db", "downgrade", "base"], input="y\n")
    assert answered_yes.exit_code == 0, answered_yes.output
    last = answered_yes.output.splitlines()[-1]
    assert last.startswith(f"downgraded {HEAD_REVISION} -> <empty>, deleting ") and "strategies (1 row)" in last


@pytest.mark.slow
def test_the_python_api_refuses_without_a_confirmation_and_keeps_no_stray_backup(storage, tmp_path) -> None:
    from stocksbot.services import admin
    from stocksbot.storage.migrations import HEAD_REVISION

    storage.add_strategy("momo")
    with pytest.raises(StocksbotError, match=r"^downgrading to base would delete .*strategies \(1 row\)"):
        admin.migrate(storage.uow, "downgrade", "base")
    seen: list[str] = []
    with pytest.raises(StocksbotError, match="would delete .*strategies"):
        admin.migrate(storage.uow, "downgrade", "base", confirm=lambda lost: bool(seen.extend(map(str, lost))))
    assert "strategies (1 row)" in seen
    # Confirmed, backed up, then refused by the migration itself (another account holds a
    # trade, migration 0005): nothing changed, so the backup taken for it is not left behind.
    storage.add_account("second")
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="1", account="second")
    with pytest.raises(StocksbotError, match="cannot downgrade below 0005"):
        admin.migrate(storage.uow, "downgrade", "0004", confirm=lambda lost: True)
    assert admin.current_revision(storage.uow) == HEAD_REVISION
    assert count(storage, tables.strategies) == 1 and count(storage, tables.trades) == 1
    assert not [p for p in tmp_path.iterdir() if ".before-downgrade-" in p.name]


def test_a_downgrade_target_must_be_below_the_current_revision() -> None:
    from stocksbot.storage.migrations import downgrade_target

    assert downgrade_target("0005", "-1") == "0004"
    assert downgrade_target("0005", "0002") == "0002"
    assert downgrade_target("0005", "base") is None and downgrade_target("0005", "-5") is None
    for revision, message in [
        ("0007", "cannot downgrade from 0005 to 0007: it is not below the current revision"),
        ("head", "cannot downgrade from 0005 to head: it is not below"),
        ("-6", "cannot go 6 revisions down from 0005: it is 5 above base"),
        ("+1", "cannot downgrade to '\\+1': use base, a revision or -N"),
    ]:
        with pytest.raises(StocksbotError, match=message):
            downgrade_target("0005", revision)
