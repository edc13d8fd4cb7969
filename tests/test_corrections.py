"""Corrections (docs/ledger.md §19): `trade void`, `trade amend` and the re-booking report, on SQLite and PostgreSQL.

What a void or an amend re-books (positions, realized P&L of later trades, cash, the order
a trade filled), what a voided trade is left out of (lists, exports, strategies, imports
of its external id), the audit entries, every refusal writing nothing, and the lines that
say which symbols' realized P&L a re-booking changed. The property tests that a correction
gives exactly the ledger of a history recorded right are in test_corrections_properties.py.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from stocksbot.errors import StocksbotError
from stocksbot.storage import tables
from stocksbot.storage.checks import ledger_snapshot

D = Decimal


def everything(storage: Any) -> dict[str, Any]:
    """All a refused correction must leave as it was."""
    with storage.reading() as conn:
        state: dict[str, Any] = ledger_snapshot(conn)
        state["audit"] = conn.execute(select(func.count()).select_from(tables.audit_log)).scalar_one()
    state["trades"] = [t.to_json() for t in storage.list_trades(include_voided=True)]
    state["orders"] = [o.to_json() for o in storage.list_orders()]
    return state


def audit_rows(storage: Any, action: str) -> list[Any]:
    with storage.reading() as conn:
        log = tables.audit_log
        return conn.execute(select(log).where(log.c.action == action).order_by(log.c.id)).all()


def three_trades(storage: Any) -> tuple[int, int, int]:
    """Buy 10 @ 100, buy 10 @ 120, sell 8 @ 130 (FIFO realized 240)."""
    first = storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-02T15:00")
    second = storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="120",
                                  executed_at="2024-01-03T15:00", external_id="fill-2")
    sell = storage.record_trade(side="sell", symbol="AAPL", quantity="8", price="130", executed_at="2024-01-05T15:00")
    assert sell.realized_pnl == D("240")
    return first.id, second.id, sell.id


# -- void ------------------------------------------------------------------------------------


def test_a_void_rebooks_the_symbol_and_its_cash_without_the_trade(storage: Any) -> None:
    first, second, sell = three_trades(storage)
    result = storage.void_trade(first, reason="entered twice")
    assert result.trade.id == first and result.trade.void_reason == "entered twice"
    assert result.trade.voided_at is not None and result.trade.realized_pnl is None
    assert [(c.symbol, c.before, c.after) for c in result.rebooked] == [("AAPL", D("240"), D("80"))]
    # The sell now closes 8 of the second buy: 8 × 130 − 8 × 120.
    assert {t.id: t.realized_pnl for t in storage.list_trades()} == {second: None, sell: D("80")}
    (position,) = storage.list_positions()
    assert (position.quantity, position.avg_entry_price) == (D("2"), D("120"))
    # Cash as if only the last two trades were recorded: an implicit deposit of 1200, then +1040.
    assert {b.currency: b.balance for b in storage.cash_balances()} == {"USD": D("1040")}
    assert [(r.kind, r.amount, r.trade_id) for r in storage.list_cash() if r.kind == "implicit_deposit"] == [
        ("implicit_deposit", D("1200"), second)]
    assert storage.check() == []
    (entry,) = audit_rows(storage, "trade.void")
    assert (entry.entity, entry.entity_key, entry.first_trade_id, entry.last_trade_id) == ("trade", str(first), first,
                                                                                           first)
    assert entry.old == {"voided_at": None, "void_reason": None}
    assert entry.new["void_reason"] == "entered twice" and entry.new["voided_at"].startswith("20")


def test_a_voided_trade_is_left_out_of_lists_exports_strategies_and_reports(storage: Any) -> None:
    storage.add_strategy("swing")
    kept = storage.record_trade(side="buy", symbol="MSFT", quantity="2", price="300", executed_at="2024-01-02T15:00",
                                strategy="swing")
    wrong = storage.record_trade(side="buy", symbol="MSFT", quantity="5", price="310", executed_at="2024-01-03T15:00",
                                 strategy="swing", commission="1")
    storage.record_trade(side="sell", symbol="MSFT", quantity="2", price="320", executed_at="2024-01-04T15:00",
                         strategy="swing")
    storage.void_trade(wrong.id)
    assert [t.id for t in storage.list_trades()] == [kept.id, kept.id + 2]
    assert [t.id for t in storage.list_trades(include_voided=True)] == [kept.id, wrong.id, kept.id + 2]
    out = io.StringIO()
    assert storage.export_trades(out, format="json") == 2
    assert wrong.id not in [row["id"] for row in json.loads(out.getvalue())]
    (swing,) = storage.list_strategies()
    assert (swing.trades, swing.closing_trades, swing.realized_pnl, swing.costs, swing.open_positions) == (
        2, 1, D("40"), D("0"), 0)
    (row,) = storage.realized().rows
    assert (row.quantity, row.cost, row.gain) == (D("2"), D("600"), D("40"))
    assert storage.list_positions(status=None, as_of="2024-01-03T23:00")[0].quantity == D("2")
    assert storage.check() == []


def test_a_voided_trades_external_id_stays_taken(storage: Any, tmp_path: Path) -> None:
    _first, second, _sell = three_trades(storage)
    storage.void_trade(second)
    path = tmp_path / "broker.csv"
    path.write_text("executed_at,side,symbol,quantity,price,external_id\n"
                    "2024-01-03T15:00:00Z,buy,AAPL,10,120,fill-2\n")
    result = storage.import_trades(path)
    assert (result.imported, result.skipped) == (0, 1)  # re-importing the broker's file does not bring it back
    with pytest.raises(StocksbotError, match="a trade with external id 'fill-2' already exists"):
        storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="1", external_id="fill-2")
    assert storage.check() == []


def test_voiding_an_order_fill_takes_it_off_the_order(storage: Any) -> None:
    order = storage.add_order(side="buy", symbol="NVDA", quantity="10")
    storage.change_order_status(order.id, "submitted")
    first = storage.fill_order(order.id, "1", "10", executed_at="2024-02-01T15:00")
    second = storage.fill_order(order.id, "2", "11", executed_at="2024-02-02T15:00")
    third = storage.fill_order(order.id, "7", "12", executed_at="2024-02-03T15:00")
    assert storage.get_order(order.id).status == "filled"
    storage.void_trade(third.id)
    shown = storage.get_order(order.id)
    assert (shown.status, shown.filled_quantity, shown.avg_fill_price) == (
        "partially_filled", D("3"), D("10.66666666666666666667"))
    storage.void_trade(first.id)
    storage.void_trade(second.id)
    shown = storage.get_order(order.id)
    assert (shown.status, shown.filled_quantity, shown.avg_fill_price) == ("submitted", D("0"), None)
    assert storage.list_positions() == []
    assert storage.check() == []


def test_void_refusals_write_nothing(storage: Any) -> None:
    first, second, _sell = three_trades(storage)
    storage.void_trade(second)
    dividend = storage.record_dividend("AAPL", "20", paid_at="2024-03-01", reinvest="0.1", price="150")
    before = everything(storage)
    refusals = [
        (999, "no trade with id 999"),
        (second, f"trade {second} is voided already"),
        (dividend.reinvest_trade_id, f"trade {dividend.reinvest_trade_id} reinvested dividend {dividend.id}"),
        # Without the first buy, the sell of 8 would sell short.
        (first, rf"cannot void trade {first}: then trade {_sell} \(sell 8 AAPL\) would be refused: "
                r"cannot sell 8 AAPL: long position is 0"),
    ]
    for trade_id, message in refusals:
        with pytest.raises(StocksbotError, match=message):
            storage.void_trade(trade_id)
    assert everything(storage) == before


def test_a_void_may_turn_a_later_sell_short_when_shorting_is_allowed(storage: Any) -> None:
    first, _second, sell = three_trades(storage)
    storage.void_trade(_second)
    storage.void_trade(first, allow_short=True)
    (position,) = storage.list_positions()
    assert (position.side, position.quantity) == ("short", D("8"))
    # A sell that sold short before the correction stays accepted without allow-short.
    later = storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="90", executed_at="2024-01-01T15:00")
    assert later.id > sell
    storage.void_trade(later.id)
    assert storage.list_positions()[0].quantity == D("8")
    assert storage.check() == []


def test_a_closed_accounts_trades_are_not_corrected(storage: Any) -> None:
    storage.add_account("old")
    buy = storage.record_trade(side="buy", symbol="KO", quantity="10", price="60", executed_at="2024-01-02T15:00",
                               account="old")
    storage.record_trade(side="sell", symbol="KO", quantity="10", price="60", executed_at="2024-01-03T15:00",
                         account="old")
    storage.withdraw("600", account="old", at="2024-01-04")
    storage.close_account("old")
    before = everything(storage)
    for correct in (lambda: storage.void_trade(buy.id), lambda: storage.amend_trade(buy.id, price="61")):
        with pytest.raises(StocksbotError, match=f"trade {buy.id} belongs to the closed account 'old'"):
            correct()
    assert everything(storage) == before


def test_a_void_that_breaks_a_share_transfer_is_refused(storage: Any) -> None:
    storage.add_account("ira")
    buy = storage.record_trade(side="buy", symbol="KO", quantity="10", price="60", executed_at="2024-01-02T15:00")
    storage.transfer_shares("KO", "10", from_account="main", to_account="ira", at="2024-01-05")
    before = everything(storage)
    with pytest.raises(StocksbotError, match=f"cannot void trade {buy.id}: transfer"):
        storage.void_trade(buy.id, allow_short=True)
    assert everything(storage) == before


# -- amend -----------------------------------------------------------------------------------


def test_an_amend_changes_the_trade_in_place_and_rebooks(storage: Any) -> None:
    storage.add_strategy("swing")
    first, second, sell = three_trades(storage)
    result = storage.amend_trade(first, price="95", commission="2", executed_at="2024-01-04T15:00", strategy="swing",
                                 note="broker confirm")
    assert result.trade.id == first
    assert (result.trade.price, result.trade.commission, result.trade.strategy, result.trade.note) == (
        D("95"), D("2"), "swing", "broker confirm")
    # Now the second buy (120) is the oldest lot: 8 × 130 − 8 × 120.
    assert [(c.symbol, c.before, c.after) for c in result.rebooked] == [("AAPL", D("240"), D("80"))]
    assert {name: (str(old), str(new)) for name, (old, new) in result.changes.items()} == {
        "price": ("100", "95"), "commission": ("0", "2"),
        "executed_at": ("2024-01-02 15:00:00+00:00", "2024-01-04 15:00:00+00:00"), "strategy": ("None", "swing"),
        "note": ("None", "broker confirm")}
    assert {t.id: t.realized_pnl for t in storage.list_trades()}[sell] == D("80")
    (entry,) = audit_rows(storage, "trade.amend")
    assert entry.old == {"price": "100", "commission": "0", "executed_at": "2024-01-02T15:00:00+00:00",
                         "strategy": None, "note": None}
    assert entry.new == {"price": "95", "commission": "2", "executed_at": "2024-01-04T15:00:00+00:00",
                         "strategy": "swing", "note": "broker confirm"}
    assert (entry.first_trade_id, entry.last_trade_id) == (first, first)
    # "" clears the strategy and the note; only what changes is reported and audited.
    cleared = storage.amend_trade(first, strategy="", note="", price="95")
    assert (cleared.trade.strategy, cleared.trade.note) == (None, None)
    assert set(cleared.changes) == {"strategy", "note"} and cleared.rebooked == ()
    assert {b.currency: b.balance for b in storage.cash_balances()} == {"USD": D("1040")}
    assert storage.check() == []


def test_amending_an_order_fill_updates_its_order(storage: Any) -> None:
    order = storage.add_order(side="buy", symbol="NVDA", quantity="10")
    storage.change_order_status(order.id, "submitted")
    fill = storage.fill_order(order.id, "10", "12", executed_at="2024-02-01T15:00")
    storage.amend_trade(fill.id, quantity="4", price="11")
    shown = storage.get_order(order.id)
    assert (shown.status, shown.filled_quantity, shown.avg_fill_price) == ("partially_filled", D("4"), D("11"))
    storage.change_order_status(order.id, "cancelled")
    before = everything(storage)
    with pytest.raises(StocksbotError, match=f"cannot amend trade {fill.id}: it fills order {order.id}: fill of 11 "
                                             "exceeds the order's remaining quantity 10"):
        storage.amend_trade(fill.id, quantity="11")
    with pytest.raises(StocksbotError, match=f"it would complete order {order.id}, which is cancelled"):
        storage.amend_trade(fill.id, quantity="10")
    assert everything(storage) == before
    storage.amend_trade(fill.id, quantity="6")
    assert storage.get_order(order.id).status == "cancelled"
    assert storage.check() == []


def test_amend_refusals_write_nothing(storage: Any) -> None:
    first, second, sell = three_trades(storage)
    storage.void_trade(second, allow_short=True)
    dividend = storage.record_dividend("AAPL", "20", paid_at="2024-03-01", reinvest="0.1", price="150")
    before = everything(storage)
    refusals: list[tuple[int, dict[str, Any], str]] = [
        (999, {"price": "1"}, "no trade with id 999"),
        (second, {"price": "1"}, f"trade {second} is voided: a voided trade cannot be amended"),
        (first, {}, "nothing to amend: give at least one of"),
        (first, {"price": "100"}, f"nothing to amend: trade {first} already has these values"),
        (first, {"quantity": "0"}, "quantity"),
        (first, {"price": "-1"}, "price"),
        (first, {"executed_at": "yesterday-ish"}, "--at"),
        (first, {"strategy": "nope"}, "unknown strategy 'nope'"),
        (first, {"quantity": "5"}, rf"then trade {sell} \(sell 8 AAPL\) would be refused: cannot sell 8 AAPL: "
                                   "long position is 5"),
        (sell, {"quantity": "12"}, f"cannot amend trade {sell}: cannot sell 12 AAPL: long position is 10"),
        (dividend.reinvest_trade_id, {"executed_at": "2024-03-02"}, f"reinvested dividend {dividend.id}"),
    ]
    for trade_id, options, message in refusals:
        with pytest.raises(StocksbotError, match=message):
            storage.amend_trade(trade_id, **options)
    assert everything(storage) == before
    # The reinvestment's quantity and price may be corrected.
    storage.amend_trade(dividend.reinvest_trade_id, quantity="0.12")
    assert storage.check() == []


# -- the command line ------------------------------------------------------------------------


def test_cli_void_amend_and_list_all(run: Any, data: Any) -> None:
    assert run("trade", "add", "buy", "AAPL", "10", "--price", "100", "--at", "2024-01-02T15:00").exit_code == 0
    assert run("trade", "add", "buy", "AAPL", "10", "--price", "120", "--at", "2024-01-03T15:00").exit_code == 0
    assert run("trade", "add", "sell", "AAPL", "8", "--price", "130", "--at", "2024-01-05T15:00").exit_code == 0
    voided = run("trade", "void", "1", "--reason", "entered twice")
    assert voided.exit_code == 0, voided.output
    assert voided.output.splitlines() == ["voided trade 1 (buy 10 AAPL): entered twice",
                                          "re-booked AAPL: realized P&L 240.00 -> 80.00"]
    listed = run("trade", "list")
    assert "entered twice" not in listed.output and "voided" not in listed.output
    assert [row["id"] for row in data("trade", "list")] == [2, 3]
    shown = run("trade", "list", "--all")
    assert "voided" in shown.output and "entered twice" in shown.output
    everything = data("trade", "list", "--all")
    assert [(row["id"], row["void_reason"]) for row in everything] == [(1, "entered twice"), (2, None), (3, None)]
    assert everything[0]["voided_at"] is not None and everything[0]["realized_pnl"] is None
    amended = data("trade", "amend", "3", "--price", "131", "--note", "fixed")
    assert amended["price"] == "131" and amended["note"] == "fixed"
    assert amended["changes"] == {"price": {"old": "130", "new": "131"}, "note": {"old": None, "new": "fixed"}}
    assert amended["rebooked"] == [{"symbol": "AAPL", "before": "80", "after": "88"}]
    text = run("trade", "amend", "3", "--quantity", "7")
    assert text.output.splitlines() == ["amended trade 3 (sell 7 AAPL): quantity 8 -> 7",
                                        "re-booked AAPL: realized P&L 88.00 -> 77.00"]
    assert data("db", "check")["ok"] is True


def test_cli_refusals_are_one_line(run: Any) -> None:
    assert run("trade", "add", "buy", "AAPL", "10", "--price", "100", "--at", "2024-01-02T15:00").exit_code == 0
    assert run("trade", "add", "sell", "AAPL", "8", "--price", "130", "--at", "2024-01-05T15:00").exit_code == 0
    for args, message in [
        (["trade", "void", "42"], "no trade with id 42"),
        (["trade", "amend", "1"], "nothing to amend"),
        (["trade", "amend", "1", "--price", "abc"], "price"),
        (["trade", "void", "1"], "would be refused: cannot sell 8 AAPL: long position is 0"),
    ]:
        result = run(*args)
        assert result.exit_code == 1
        (line,) = result.output.strip().splitlines()
        assert line.startswith("Error: ") and message in line and "Traceback" not in result.output
    assert "voided" not in run("trade", "list", "--all").output


# -- the re-booking report -------------------------------------------------------------------


def test_a_back_dated_trade_says_what_it_rebooked(run: Any, data: Any) -> None:
    assert run("trade", "add", "buy", "AAPL", "10", "--price", "100", "--at", "2024-01-02T15:00").exit_code == 0
    assert run("trade", "add", "sell", "AAPL", "5", "--price", "130", "--at", "2024-01-05T15:00").exit_code == 0
    late = run("trade", "add", "buy", "AAPL", "5", "--price", "90", "--at", "2024-01-01T15:00")
    assert late.output.splitlines() == ["bought 5 AAPL @ 90 (trade 3)", "re-booked AAPL: realized P&L 150.00 -> 200.00"]
    # A trade after the latest one re-books nothing, and its JSON says so.
    assert data("trade", "add", "buy", "AAPL", "1", "--price", "95", "--at", "2024-01-06T15:00")["rebooked"] == []
    back = data("trade", "add", "buy", "MSFT", "1", "--price", "1", "--at", "2023-12-01T15:00")
    assert back["rebooked"] == []  # a new symbol: nothing to re-book


def test_a_cost_basis_switch_says_what_it_rebooked(run: Any, data: Any) -> None:
    assert run("trade", "add", "buy", "AAPL", "10", "--price", "100", "--at", "2024-01-02T15:00").exit_code == 0
    assert run("trade", "add", "buy", "AAPL", "10", "--price", "120", "--at", "2024-01-03T15:00").exit_code == 0
    assert run("trade", "add", "sell", "AAPL", "5", "--price", "130", "--at", "2024-01-05T15:00").exit_code == 0
    assert run("trade", "add", "buy", "MSFT", "1", "--price", "10", "--at", "2024-01-02T15:00").exit_code == 0
    switched = run("config", "set", "accounting.cost_basis", "lifo")
    assert switched.output.splitlines() == ["accounting.cost_basis = lifo (string)",
                                            "re-booked AAPL: realized P&L 150.00 -> 50.00"]
    assert data("config", "set", "accounting.cost_basis", "average")["rebooked"] == [
        {"symbol": "AAPL", "before": "50", "after": "100"}]
    unset = run("config", "unset", "accounting.cost_basis")
    assert unset.output.splitlines() == ["unset accounting.cost_basis", "re-booked AAPL: realized P&L 100.00 -> 150.00"]
    assert data("config", "set", "trading.allow_short", "true")["rebooked"] == []


def test_a_reason_or_note_with_a_line_break_is_refused(storage: Any) -> None:
    """Reasons and notes are one line of text (docs/ledger.md §1.7), as everywhere else."""
    trade = storage.record_trade(side="buy", symbol="LB", quantity=D(1), price=D(10), executed_at="2024-01-02T15:00:00Z")
    with pytest.raises(StocksbotError, match="one line"):
        storage.void_trade(trade.id, reason="bad\nreason")
    with pytest.raises(StocksbotError, match="one line"):
        storage.amend_trade(trade.id, note="two\nlines")
    assert storage.list_trades(include_voided=True)[0].voided_at is None
