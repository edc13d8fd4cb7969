"""Cash (docs/ledger.md §13) through the storage service and the command line, on SQLite and PostgreSQL.

Trade settlements, implicit deposits of non-margin accounts, margin accounts going negative,
recorded movements, transfers and conversions, re-booking of back-dated events, and the
incremental projection equal to a rebuild (`db check`) over generated histories.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from stocksbot.errors import StocksbotError
from stocksbot.storage import tables
from stocksbot.storage.checks import cash_snapshot
from stocksbot.storage.repositories import Repositories

D = Decimal


def add_account(storage: Any, name: str, *, margin: bool = False, currency: str = "USD") -> None:
    with storage.transaction() as conn:
        Repositories(conn).accounts.add(name=name, currency=currency, margin=margin, status="open")


def balances(storage: Any, account: str | None = None) -> dict[tuple[str, str], Decimal]:
    return {(b.account, b.currency): b.balance for b in storage.cash_balances(account=account)}


def implicit(storage: Any, account: str | None = None) -> list[tuple[Decimal, int | None, int | None]]:
    return [(r.amount, r.trade_id, r.dividend_id) for r in storage.list_cash(account=account)
            if r.kind == "implicit_deposit"]


def movement_count(storage: Any) -> int:
    with storage.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.cash_movements)).scalar_one())


def test_trades_alone_are_funded_by_implicit_deposits(storage) -> None:
    buy = storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-02T15:00Z")
    assert implicit(storage) == [(D("1000"), buy.id, None)]
    assert balances(storage) == {("main", "USD"): D("0")}
    storage.record_trade(side="sell", symbol="AAPL", quantity="10", price="110", executed_at="2024-01-03T15:00Z")
    assert balances(storage) == {("main", "USD"): D("1100")}
    assert implicit(storage) == [(D("1000"), buy.id, None)]
    assert storage.check() == []


def test_a_deposit_covers_what_it_can_and_the_rest_is_implicit(storage) -> None:
    storage.deposit("500", at="2024-01-01")
    buy = storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", commission="1",
                               executed_at="2024-01-02")
    assert implicit(storage) == [(D("501"), buy.id, None)]
    assert balances(storage) == {("main", "USD"): D("0")}
    assert storage.check() == []


def test_a_back_dated_deposit_rebooks_and_removes_the_implicit_deposit(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-02")
    storage.record_trade(side="sell", symbol="AAPL", quantity="4", price="120", executed_at="2024-01-05")
    assert implicit(storage) != []
    storage.deposit("2000", at="2024-01-01")
    assert implicit(storage) == []
    assert balances(storage) == {("main", "USD"): D("1480")}  # 2000 - 1000 + 480
    assert storage.check() == []


def test_a_back_dated_buy_rebooks_later_events(storage) -> None:
    storage.deposit("1000", at="2024-01-01")
    storage.record_trade(side="buy", symbol="AAPL", quantity="5", price="100", executed_at="2024-01-10")
    assert implicit(storage) == []
    early = storage.record_trade(side="buy", symbol="MSFT", quantity="8", price="100", executed_at="2024-01-05")
    later = [t for t in storage.list_trades() if t.symbol == "AAPL"][0]
    # 1000 - 800 leaves 200 for the AAPL buy of 500: 300 implicit, linked to it.
    assert implicit(storage) == [(D("300"), later.id, None)]
    assert early.id != later.id
    assert balances(storage) == {("main", "USD"): D("0")}
    assert storage.check() == []


def test_credits_book_before_debits_at_one_instant(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-02T10:00Z")
    storage.deposit("1000", at="2024-01-02T10:00Z")
    # The deposit, recorded after the buy at the same instant, still pays for it.
    assert implicit(storage) == []
    storage.record_trade(side="buy", symbol="MSFT", quantity="1", price="50", executed_at="2024-01-03T10:00Z")
    storage.record_trade(side="sell", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-03T10:00Z")
    assert implicit(storage) == []
    assert balances(storage) == {("main", "USD"): D("950")}
    assert storage.check() == []


def test_a_margin_account_goes_negative(storage) -> None:
    add_account(storage, "margin", margin=True)
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", fees="0.5", account="margin",
                         executed_at="2024-01-02")
    assert implicit(storage, "margin") == []
    assert balances(storage, "margin") == {("margin", "USD"): D("-1000.5")}
    storage.withdraw("10", account="margin", at="2024-01-03")  # a margin withdrawal is not refused
    assert balances(storage, "margin") == {("margin", "USD"): D("-1010.5")}
    assert storage.check() == []


def test_a_withdrawal_beyond_the_balance_is_refused_and_writes_nothing(storage) -> None:
    storage.deposit("500", at="2024-01-01")
    storage.deposit("1000", at="2024-01-10")
    before = movement_count(storage)
    with pytest.raises(StocksbotError, match="cannot withdraw 600 USD from account 'main': its USD balance at that "
                                             "time is 500"):
        storage.withdraw("600", at="2024-01-05")
    assert movement_count(storage) == before
    storage.withdraw("500", at="2024-01-05")
    assert balances(storage) == {("main", "USD"): D("1000")}
    # Later events that a withdrawal leaves short are funded implicitly.
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="100", executed_at="2024-01-06")
    assert [amount for amount, _t, _d in implicit(storage)] == [D("100")]
    assert storage.check() == []


def test_fees_and_taxes_are_debits_interest_a_credit(storage) -> None:
    fee = storage.record_cash("fee", "5", at="2024-01-01")
    assert fee.amount == D("-5")
    assert implicit(storage) == [(D("5"), None, None)]
    storage.record_cash("interest", "3.25", at="2024-01-02")
    tax = storage.record_cash("tax", "1.25", at="2024-01-03")
    assert tax.amount == D("-1.25")
    assert balances(storage) == {("main", "USD"): D("2")}
    with pytest.raises(StocksbotError, match="cash kind must be one of"):
        storage.record_cash("implicit_deposit", "5")
    assert storage.check() == []


def test_transfer_moves_cash_between_accounts_with_a_shared_pair(storage) -> None:
    add_account(storage, "broker")
    storage.deposit("1000", at="2024-01-01")
    out, came = storage.transfer_cash("400", from_account="main", to_account="broker", at="2024-01-02")
    assert (out.kind, out.amount, came.kind, came.amount) == ("transfer_out", D("-400"), "transfer_in", D("400"))
    with storage.reading() as conn:
        pairs = conn.execute(select(tables.cash_movements.c.pair_id).where(
            tables.cash_movements.c.id.in_([out.id, came.id]))).scalars().all()
    assert pairs == [out.id, out.id]
    assert balances(storage) == {("broker", "USD"): D("400"), ("main", "USD"): D("600")}
    with pytest.raises(StocksbotError, match="two different accounts"):
        storage.transfer_cash("1", from_account="main", to_account="main")
    assert storage.check() == []


def test_convert_exchanges_exactly_with_a_fee(storage) -> None:
    storage.deposit("1000", at="2024-01-01")
    records = storage.convert_cash("123.45", "usd", "EUR", rate="0.9187654321", fee="1.5", at="2024-01-02")
    assert [(r.kind, r.amount, r.currency) for r in records] == [
        ("convert_out", D("-123.45"), "USD"), ("fee", D("-1.5"), "USD"),
        ("convert_in", D("113.421592592745"), "EUR"),
    ]
    assert balances(storage) == {("main", "EUR"): D("113.421592592745"), ("main", "USD"): D("875.05")}
    before = movement_count(storage)
    for rate in ("0", "-1"):
        with pytest.raises(StocksbotError, match="--rate must be greater than 0"):
            storage.convert_cash("1", "USD", "EUR", rate=rate)
    with pytest.raises(StocksbotError, match="into itself"):
        storage.convert_cash("1", "USD", "usd", rate="1")
    assert movement_count(storage) == before
    assert storage.check() == []


def test_bad_input_writes_nothing(storage) -> None:
    storage.deposit("1", at="2024-01-01")
    before = movement_count(storage)
    cases = [
        (dict(amount="0"), "amount must be greater than 0"),
        (dict(amount="-3"), "amount must be greater than 0"),
        (dict(amount="1", currency="EURO"), "invalid currency 'EURO'"),
        (dict(amount="1", account="nope"), "unknown account 'nope'"),
        (dict(amount="1", at="2024-02-30"), "invalid --at"),
    ]
    for options, message in cases:
        with pytest.raises(StocksbotError, match=message):
            storage.deposit(**options)
    add_account(storage, "old")
    with storage.transaction() as conn:
        Repositories(conn).accounts.update(Repositories(conn).accounts.require("old").id, status="closed")
    with pytest.raises(StocksbotError, match="account 'old' is closed"):
        storage.deposit("1", account="old")
    assert movement_count(storage) == before


def test_cash_list_shows_every_change_in_booking_order(storage) -> None:
    storage.deposit("100", at="2024-01-01", note="start")
    buy = storage.record_trade(side="buy", symbol="AAPL", quantity="2", price="100", commission="1",
                               executed_at="2024-01-02")
    storage.record_trade(side="sell", symbol="AAPL", quantity="2", price="110", executed_at="2024-01-03")
    listed = storage.list_cash()
    assert [(r.kind, r.amount, r.trade_id) for r in listed] == [
        ("deposit", D("100"), None), ("implicit_deposit", D("101"), buy.id), ("trade", D("-201"), buy.id),
        ("trade", D("220"), buy.id + 1),
    ]
    assert listed[0].note == "start" and listed[2].note == "buy 2 AAPL @ 100"
    assert [r.kind for r in storage.list_cash(since="2024-01-02", until="2024-01-02")] == ["implicit_deposit", "trade"]


def test_rebuild_restores_a_damaged_projection_and_check_reports_it(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-02")
    storage.deposit("50", at="2024-01-03")
    with storage.transaction() as conn:
        conn.execute(tables.cash_balances.update().values(balance=D("7")))
        conn.execute(tables.cash_movements.delete().where(tables.cash_movements.c.kind == "implicit_deposit"))
    findings = storage.check()
    assert any(line.startswith("stored cash balance (account id, currency, balance, last event) not produced by a "
                               "rebuild: 1, USD, 7,") for line in findings)
    assert any(line.startswith("rebuild gives a cash movement of kind implicit_deposit (account id, currency, at, "
                               "amount, trade, dividend, rank) that is not stored: 1, USD,") for line in findings)
    storage.rebuild_positions()
    assert storage.check() == []
    assert balances(storage) == {("main", "USD"): D("50")}
    assert [amount for amount, _t, _d in implicit(storage)] == [D("1000")]


def test_changing_the_cost_basis_keeps_cash(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-02")
    with storage.reading() as conn:
        before = cash_snapshot(conn)
    storage.config_set("accounting.cost_basis", "lifo")
    with storage.reading() as conn:
        assert cash_snapshot(conn) == before


def test_order_fills_and_manual_positions_settle_cash(storage) -> None:
    order = storage.add_order(side="buy", symbol="AAPL", quantity="10", order_type="limit", limit_price="100")
    storage.change_order_status(order.id, "submitted")
    storage.fill_order(order.id, "4", price="99", executed_at="2024-01-02")
    storage.add_position("MSFT", "1", "300", executed_at="2024-01-03")
    storage.close_position("MSFT", "310", executed_at="2024-01-04")
    assert [amount for amount, _t, _d in implicit(storage)] == [D("396"), D("300")]
    assert balances(storage) == {("main", "USD"): D("310")}
    assert storage.check() == []


def test_import_settles_cash_like_trade_add(storage, tmp_path) -> None:
    rows = ["executed_at,side,symbol,quantity,price,commission,fees"]
    rows += [f"2024-01-0{day},buy,AAPL,1,100,1,0" for day in range(2, 6)]
    rows += ["2024-01-06,sell,AAPL,4,120,0,0", "2024-01-06,buy,MSFT,1,50,0,0"]  # one instant: the sell first
    path = tmp_path / "trades.csv"
    path.write_text("\n".join(rows) + "\n")
    storage.deposit("150", at="2024-01-01")
    storage.import_trades(path)
    assert [amount for amount, _t, _d in implicit(storage)] == [D("52"), D("101"), D("101")]
    assert balances(storage) == {("main", "USD"): D("430")}
    assert storage.check() == []
    # An import of older history re-books the account's cash.
    older = tmp_path / "older.csv"
    older.write_text("executed_at,side,symbol,quantity,price\n2023-12-31,sell,AAPL,1,200\n")
    storage.import_trades(older, allow_short=True)
    assert storage.check() == []
    assert [amount for amount, _t, _d in implicit(storage)] == [D("54")]  # 350 covers three buys


_counter = itertools.count()
_event = st.tuples(
    st.sampled_from(["buy", "sell", "deposit", "withdraw", "fee", "interest", "dividend", "send", "receive",
                     "convert"]),
    st.integers(min_value=0, max_value=6),  # the day: few days, so many events share an instant
    st.integers(min_value=1, max_value=500),  # amount or price, in cents
    st.integers(min_value=1, max_value=3),  # quantity
)


def _record(storage: Any, account: str, peer: str, kind: str, at: str, amount: str, quantity: int) -> None:
    if kind in ("buy", "sell"):
        storage.record_trade(side=kind, symbol="X", quantity=str(quantity), price=amount, executed_at=at,
                             allow_short=True, account=account)
    elif kind == "dividend":
        storage.record_dividend("X", amount, tax=str(D(amount) / 4), paid_at=at, account=account)
    elif kind in ("send", "receive"):
        sender, receiver = (account, peer) if kind == "send" else (peer, account)
        storage.transfer_cash(amount, from_account=sender, to_account=receiver, at=at)
    elif kind == "convert":
        storage.convert_cash(amount, "USD", "EUR", rate="0.9", fee="0.01", account=account, at=at)
    else:
        try:
            storage.record_cash(kind, amount, account=account, at=at)
        except StocksbotError as exc:
            assert kind == "withdraw" and "cannot withdraw" in str(exc)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(_event, min_size=1, max_size=14), margin=st.booleans())
def test_incremental_cash_equals_a_rebuild(storage, events: list[tuple[str, int, int, int]], margin: bool) -> None:
    """Any mix of trades, dividends, transfers, conversions and movements, in any time order (so
    many are back-dated or share an instant), booked one at a time, equals a rebuild from
    scratch; and a non-margin account is never below zero."""
    account, peer = f"a{next(_counter)}", f"p{next(_counter)}"  # examples share the database: fresh accounts
    add_account(storage, account, margin=margin)
    add_account(storage, peer)
    for kind, day, cents, quantity in events:
        _record(storage, account, peer, kind, f"2024-01-0{day + 1}T12:00:00Z", str(D(cents) / 100), quantity)
    assert storage.check() == []
    for name in (account, peer):
        if name == peer or not margin:
            assert all(balance >= 0 for balance in balances(storage, name).values())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.lists(_event, max_size=6), imported=st.lists(_event, min_size=1, max_size=10))
def test_an_import_books_cash_like_a_rebuild(storage, tmp_path, before: list[tuple[str, int, int, int]],
                                             imported: list[tuple[str, int, int, int]]) -> None:
    """An import (in file order, sorted or not, appending or back-dated) into an account that has
    cash events already equals a rebuild."""
    account, peer = f"a{next(_counter)}", f"p{next(_counter)}"
    add_account(storage, account)
    add_account(storage, peer)
    for kind, day, cents, quantity in before:
        _record(storage, account, peer, kind, f"2024-01-0{day + 1}T12:00:00Z", str(D(cents) / 100), quantity)
    rows = ["executed_at,side,symbol,quantity,price,account"]
    rows += [f"2024-01-0{day + 3}T12:00:00Z,{'buy' if kind < 'm' else 'sell'},X,{quantity},{D(cents) / 100},{account}"
             for kind, day, cents, quantity in imported]
    path = tmp_path / f"{account}.csv"
    path.write_text("\n".join(rows) + "\n")
    storage.import_trades(path, allow_short=True)
    assert storage.check() == []


WRITER = textwrap.dedent(
    """
    import sys
    from stocksbot import open_storage
    url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open_storage(url) as storage:
        for i in range(count):
            storage.record_trade(side="buy", symbol=f"W{worker}", quantity="1", price="10")
            storage.deposit("3")
            storage.record_trade(side="sell", symbol=f"W{worker}", quantity="1", price="11", commission="0.5")
            storage.record_cash("fee", "0.25")
    """
)


@pytest.mark.slow
def test_concurrent_writers_of_one_account_lose_no_cash(storage, migrated_url: str) -> None:
    """Writers of different symbols (not serialised by the per-symbol lock) and of cash movements
    change one account's cash at once: no update is lost."""
    storage.deposit("1000", at="2020-01-01")
    workers, each = 4, 8
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, migrated_url, str(w), str(each)], stderr=subprocess.PIPE,
                              text=True) for w in range(workers)]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    # Each round: -10 + 3 + 10.5 - 0.25 = 3.25, never below zero (the deposit of 1000 covers it all).
    assert balances(storage) == {("main", "USD"): D("1000") + D("3.25") * workers * each}
    assert implicit(storage) == []
    assert storage.check() == []


def test_cli_cash_commands(run, data) -> None:
    deposit = data("cash", "deposit", "1000", "--at", "2024-01-01", "--note", "salary")
    assert set(deposit) == {"id", "account", "kind", "amount", "currency", "at", "note", "trade_id", "dividend_id"}
    assert (deposit["kind"], deposit["amount"], deposit["currency"], deposit["account"]) == (
        "deposit", "1000", "USD", "main")
    withdrawal = data("cash", "withdraw", "250.5", "--at", "2024-01-02")
    assert withdrawal["amount"] == "-250.5"
    converted = data("cash", "convert", "100", "USD", "EUR", "--rate", "0.9", "--fee", "1", "--at", "2024-01-03")
    assert [m["kind"] for m in converted] == ["convert_out", "fee", "convert_in"]
    assert data("cash", "balance") == [
        {"account": "main", "currency": "EUR", "balance": "90"},
        {"account": "main", "currency": "USD", "balance": "648.5"},
    ]
    listed = data("cash", "list", "--until", "2024-01-02")
    assert [m["kind"] for m in listed] == ["deposit", "withdraw"]
    text = run("cash", "list")
    assert text.exit_code == 0 and "salary" in text.output
    assert run("cash", "balance").exit_code == 0
    assert run("db", "check").exit_code == 0


@pytest.mark.parametrize("args, message", [
    (("cash", "deposit", "10", "--account", "nope"), "Error: unknown account 'nope'"),
    (("cash", "deposit", "10", "--currency", "EURO"), "Error: invalid currency 'EURO'"),
    (("cash", "deposit", "0"), "Error: amount must be greater than 0"),
    (("cash", "deposit", "--", "-10"), "Error: amount must be greater than 0"),
    (("cash", "fee", "abc"), "Error: amount must be a number"),
    (("cash", "deposit", "10", "--at", "yesterday"), "Error: invalid --at 'yesterday'"),
    (("cash", "withdraw", "10"), "Error: cannot withdraw 10 USD from account 'main': its USD balance at that time is 0"),
    (("cash", "transfer", "10", "--from", "main", "--to", "nope"), "Error: unknown account 'nope'"),
    (("cash", "convert", "10", "USD", "EUR", "--rate", "0"), "Error: --rate must be greater than 0"),
    (("cash", "convert", "10", "USD", "EU", "--rate", "1"), "Error: invalid TO currency 'EU'"),
    (("cash", "list", "--account", "nope"), "Error: unknown account 'nope'"),
    (("cash", "balance", "--account", "nope"), "Error: unknown account 'nope'"),
])
def test_cli_cash_bad_input_is_one_line_and_writes_nothing(run, data, args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert data("cash", "list") == []


def test_cli_cash_help_has_examples(run) -> None:
    for command in ("deposit", "withdraw", "interest", "fee", "tax", "transfer", "convert", "balance", "list"):
        result = run("cash", command, "--help")
        assert result.exit_code == 0 and "Example:" in result.output, command
    assert json.loads(run("--json", "cash", "list").output) == []


def test_migration_0005_fills_cash_exactly_as_a_rebuild(backend_url: str) -> None:
    """The cash that migration 0005 derives for existing trades equals what the cash store
    rebuilds, also for trades that share an instant (credits first)."""
    from datetime import datetime, timezone

    from sqlalchemy import column, insert, table

    from stocksbot.storage import migrations
    from stocksbot.storage.cash import CashStore
    from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target
    from stocksbot.storage.types import ExactDecimal, UTCDateTime

    engine = build_engine(resolve_target(backend_url), ConnectionSettings())
    try:
        migrations.upgrade(engine, "0004")
        old_trades = table("trades", column("side"), column("symbol"), column("quantity", ExactDecimal()),
                           column("price", ExactDecimal()), column("commission", ExactDecimal()),
                           column("fees", ExactDecimal()), column("executed_at", UTCDateTime()),
                           column("created_at", UTCDateTime()))
        day = datetime(2024, 1, 2, 15, tzinfo=timezone.utc)
        later = datetime(2024, 1, 3, 15, tzinfo=timezone.utc)
        rows = [("buy", "A", "10", "100", "1", "0", day), ("buy", "B", "5", "20", "0", "0.5", later),
                ("sell", "A", "10", "101", "0", "0", later), ("buy", "A", "0.5", "3.3", "0", "0", later)]
        with engine.begin() as conn:
            conn.execute(insert(old_trades), [dict(side=s, symbol=sym, quantity=D(q), price=D(p), commission=D(c),
                                                   fees=D(f), executed_at=at, created_at=at)
                                              for s, sym, q, p, c, f, at in rows])
        migrations.upgrade(engine)
        with engine.connect() as conn:
            migrated = cash_snapshot(conn)
            CashStore(conn).rebuild_all()
            assert cash_snapshot(conn) == migrated
            conn.rollback()
        # The buy of 1001 is implicit; at the later instant the sale (1010) pays both buys (100.5 + 1.65).
        assert [row[3] for row in migrated["implicit"]] == [D("1001")]
        assert [row[2] for row in migrated["cash"]] == [D("907.85")]
    finally:
        engine.dispose()


def test_rebuild_writes_implicit_deposits_in_batches_while_it_reads(storage, monkeypatch) -> None:
    """A rebuild streams the events (a server-side cursor on PostgreSQL) and writes implicit deposits
    in batches meanwhile; batches of two make that happen here."""
    import stocksbot.storage.cash as cash_store

    add_account(storage, "second")
    for day in range(1, 8):
        for account in ("main", "second"):
            storage.record_trade(side="buy", symbol="A", quantity="1", price=str(day), account=account,
                                 executed_at=f"2024-01-0{day}")
    with storage.reading() as conn:
        before = cash_snapshot(conn)
    assert len(before["implicit"]) == 14
    monkeypatch.setattr(cash_store, "BATCH", 2)
    storage.rebuild_positions()
    with storage.reading() as conn:
        assert cash_snapshot(conn) == before
    assert storage.check() == []
