"""Migration 0005 (accounts) over live data, on SQLite and PostgreSQL.

0005 gives every existing trade, order and position to the new account `main`, makes each
traded symbol an instrument and fills `main`'s cash from the trades (docs/ledger.md §11).
These tests build a populated database at 0004, upgrade it, and require that the ledger
is untouched, that `db check` is clean and that the cash is what the trades imply; then
they go back down to 0004 and up again.

How the 0004 database is filled: today's service code needs 0005, so it cannot write to a
0004 database. Instead, the history (strategies, limit and market orders that are filled,
partly filled, pending and cancelled, fills, a long flipped to a short, shorts covered,
costs, an external id, a back-dated trade, tiny and huge decimals, prices, settings) is
recorded once per module through the public API (`open_storage(...).record_trade`,
`add_order`, `fill_order`, ...) in a scratch SQLite database at head, and every row of the
tables 0004 has is copied, without the columns 0005 added, into a fresh database migrated
to 0004 only. So the derived rows (positions, lots, realized P&L, closed-run totals, order
progress) are what the booking code itself produces, not figures computed by hand that
could share a mistake with the test; the ledger is the same for one account at 0004 and at
head, and `db check` after the upgrade (a full rebuild compared with the stored rows)
confirms the copied rows are what booking derives. The scratch database is SQLite on both
backends: booking is the same code on both, and only the database under test matters.

What the tests require is computed independently of the migration: the expected cash
with exact decimals (an Inexact trap proves nothing was rounded), the strategy metrics
in Python from the trade rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal, Inexact
from typing import Any, Iterable, Iterator, Sequence

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from stocksbot import open_storage
from stocksbot.cli.main import cli
from stocksbot.errors import StocksbotError
from stocksbot.ledger import divide
from stocksbot.storage import migrations, tables
from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

Row = dict[str, Any]
Snapshot = dict[str, list[tuple[Any, ...]]]

# The tables of revision 0004, parents first (the order rows can be inserted in).
TABLES_AT_0004 = ("strategies", "orders", "trades", "positions", "lots", "price_bars", "config", "closed_run_totals")
# What 0005 added to those tables: left out when copying into a 0004 database.
ADDED_IN_0005 = {"orders": {"account_id"}, "trades": {"account_id", "currency"}, "positions": {"account_id"}}
# Columns later revisions added to those tables: not there at 0004 either.
ADDED_LATER = {"trades": {"voided_at", "void_reason"}}

DAY = datetime(2024, 3, 1, 14, 30, tzinfo=timezone.utc)
TINY = Decimal("0.0000000001")
HUGE = Decimal("123456789012345678.5")
# Far more digits than the 28 of Python's default decimal context: cash must still be exact.
EXACT = Context(prec=200, traps=[Inexact])

# Whole databases built, upgraded and downgraded: the full run (both backends) covers them.
pytestmark = pytest.mark.slow


def exact_total(values: Iterable[Decimal]) -> Decimal:
    """A sum in EXACT: the builtin `sum` would round to the default context's 28 digits."""
    total = Decimal(0)
    for value in values:
        total = EXACT.add(total, value)
    return total


def at(days: int, hours: int = 0) -> datetime:
    return DAY + timedelta(days=days, hours=hours)


def connect(url: str) -> Engine:
    return build_engine(resolve_target(url), ConnectionSettings())


def old_table(name: str) -> sa.TableClause:
    """A table as revision 0004 has it: today's declaration without the columns 0005 added.

    Typed with stocksbot's column types, so decimals and times are written exactly as
    stocksbot writes them on each backend. `populate_0004` checks the column names against
    the reflected 0004 schema, so this cannot drift from what 0004 really is.
    """
    declared = tables.metadata.tables[name]
    added = ADDED_IN_0005.get(name, set()) | ADDED_LATER.get(name, set())
    return sa.table(name, *(sa.column(c.name, c.type) for c in declared.c if c.name not in added))


def key_columns(name: str) -> list[sa.ColumnClause[Any]]:
    """The primary key of a table at 0004, which is the order its rows are compared in."""
    table = old_table(name)
    return [table.c[c.name] for c in tables.metadata.tables[name].primary_key.columns]


# -- the history, recorded once through the public API --------------------------------------


def record_history(url: str) -> None:
    """Everything a user could have recorded before 0005, through the same API a bot uses."""
    with open_storage(url) as storage:
        storage.config_set("accounting.cost_basis", "lifo")  # not the default: the check must read it
        storage.config_set("trading.allow_short", "true")
        storage.add_strategy("momentum", params={"lookback": 20, "symbols": ["AAPL"]})
        storage.add_strategy("meanrev", description="fades moves")
        trade = storage.record_trade
        trade(side="buy", symbol="AAPL", quantity="10", price="150", commission="1", executed_at=at(1),
              strategy="momentum", external_id="broker-0001")
        trade(side="buy", symbol="AAPL", quantity="5", price="160.25", fees="0.35", executed_at=at(2),
              strategy="momentum")
        trade(side="sell", symbol="TSLA", quantity="20", price="250", commission="1", executed_at=at(2, 1),
              strategy="meanrev")  # opens a short
        trade(side="sell", symbol="AAPL", quantity="12", price="170", commission="1", fees="0.12", executed_at=at(3),
              strategy="momentum")
        limit = storage.add_order(side="buy", symbol="MSFT", quantity="100", order_type="limit", limit_price="300",
                                  tif="gtc", strategy="meanrev", external_id="order-0001")
        storage.change_order_status(limit.id, "submitted")
        storage.fill_order(limit.id, "40", "299.5", commission="1", executed_at=at(3, 1))
        storage.fill_order(limit.id, "60", "299.75", commission="1", executed_at=at(4))
        trade(side="sell", symbol="AAPL", quantity="8", price="165", executed_at=at(4, 1),
              strategy="momentum")  # closes the 3 left long and opens a short of 5
        trade(side="buy", symbol="AAPL", quantity="5", price="155.5", commission="1", executed_at=at(5),
              strategy="momentum")  # covers that short
        market = storage.add_order(side="sell", symbol="MSFT", quantity="50", strategy="meanrev")
        storage.change_order_status(market.id, "submitted")
        storage.fill_order(market.id, "20", "310", fees="0.05", executed_at=at(5, 1))
        trade(side="buy", symbol="TSLA", quantity="20", price="240", commission="1", executed_at=at(6),
              strategy="meanrev")  # covers the short with a gain
        trade(side="buy", symbol="TSLA", quantity="3", price="245", executed_at=at(6, 1), strategy="meanrev")
        storage.add_order(side="buy", symbol="NVDA", quantity="10", order_type="limit", limit_price="200")
        cancelled = storage.add_order(side="buy", symbol="AAPL", quantity="1")
        storage.change_order_status(cancelled.id, "cancelled")
        trade(side="buy", symbol="TINY", quantity=TINY, price="12345.6789", commission=TINY, executed_at=at(7))
        trade(side="buy", symbol="BIG", quantity=HUGE, price="10.0000000001", commission="0.01",
              executed_at=at(7))  # same time as the previous trade: settles after it
        trade(side="sell", symbol="BIG", quantity="23456789012345678.5", price="10.5", fees=TINY, executed_at=at(8))
        trade(side="buy", symbol="MSFT", quantity="1", price="280", executed_at=at(0),
              note="back-dated: recorded last, settles first")
        for symbol, price in (("AAPL", "171.5"), ("MSFT", "305"), ("TSLA", "243.25"), ("BIG", "10.25"),
                              ("SPY", "512.5")):
            storage.add_price(symbol, price, at=at(8))
        storage.add_price("AAPL", "150.5", at=at(1), interval="1h")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Row]]:
    """The rows of every 0004 table (in 0004's columns) after `record_history`, read once per module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('scratch') / 'head.db'}"
    engine = connect(url)
    try:
        migrations.upgrade(engine)
        record_history(url)
        with engine.connect() as conn:
            return {name: [dict(row) for row in conn.execute(sa.select(old_table(name)).order_by(*key_columns(name)))
                           .mappings()]
                    for name in TABLES_AT_0004}
    finally:
        engine.dispose()


@pytest.fixture
def engine(backend_url: str) -> Iterator[Engine]:
    """A fresh, empty database on each backend."""
    engine = connect(backend_url)
    yield engine
    engine.dispose()


def populate_0004(engine: Engine, history: dict[str, list[Row]], extra_config: Sequence[Row] = ()) -> None:
    """Migrate the empty database to 0004 and insert the history's rows, ids and all."""
    migrations.upgrade(engine, "0004")
    inspector = sa.inspect(engine)
    for name in TABLES_AT_0004:
        assert {c["name"] for c in inspector.get_columns(name)} == set(old_table(name).c.keys()), name
    with engine.begin() as conn:
        for name in TABLES_AT_0004:
            rows = history[name] + (list(extra_config) if name == "config" else [])
            if rows:
                conn.execute(sa.insert(old_table(name)), rows)
        if engine.dialect.name == "postgresql":  # explicit ids leave the sequences behind: move them on
            for name in TABLES_AT_0004:
                if "id" in old_table(name).c:
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                         f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"))


def snapshot(engine: Engine) -> Snapshot:
    """Every row of every 0004 table, in 0004's columns and primary-key order.

    Covers the positions, lots, per-trade realized P&L and closed-run totals, and also the
    trades, orders, strategies, prices and settings the migration must leave as they are.
    Ids are part of it: lots and trades refer to them, so they must survive too.
    """
    with engine.connect() as conn:
        return {name: [tuple(row) for row in conn.execute(sa.select(old_table(name)).order_by(*key_columns(name)))]
                for name in TABLES_AT_0004}


def rows_of(snap: Snapshot, name: str) -> list[Row]:
    return [dict(zip(old_table(name).c.keys(), row)) for row in snap[name]]


# -- what the tests expect, computed here ----------------------------------------------------


@dataclass(frozen=True)
class Cash:
    """A single account's cash from its trades alone (docs/ledger.md §11)."""

    balance: Decimal
    implicit: list[tuple[int, Decimal, datetime]]  # trade id, amount, at
    last_at: datetime


def expected_cash(trades: list[Row]) -> Cash:
    """Settle the trades in booking order (time, then entry order): a buy takes q x p +
    commission + fees, a sell adds q x p - commission - fees; a balance that would go below
    zero is topped up by an implicit deposit (main is not a margin account)."""
    balance = Decimal(0)
    implicit = []
    for trade in sorted(trades, key=lambda t: (t["executed_at"], t["id"])):
        gross = EXACT.multiply(trade["quantity"], trade["price"])
        costs = EXACT.add(trade["commission"], trade["fees"])
        if trade["side"] == "buy":
            balance = EXACT.subtract(balance, EXACT.add(gross, costs))
        else:
            balance = EXACT.add(balance, EXACT.subtract(gross, costs))
        if balance < 0:
            implicit.append((trade["id"], EXACT.minus(balance), trade["executed_at"]))
            balance = Decimal(0)
    return Cash(balance, implicit, max(t["executed_at"] for t in trades))


def expected_metrics(snap: Snapshot) -> dict[str, tuple[Any, ...]]:
    """Per strategy name: trades, closing trades, win rate, realized P&L, costs, open positions."""
    names = {row["id"]: row["name"] for row in rows_of(snap, "strategies")}
    metrics = {}
    for strategy_id, name in names.items():
        own = [t for t in rows_of(snap, "trades") if t["strategy_id"] == strategy_id]
        closing = [t["realized_pnl"] for t in own if t["realized_pnl"] is not None]
        wins = sum(1 for realized in closing if realized > 0)
        realized = exact_total(closing)
        costs = exact_total(EXACT.add(t["commission"], t["fees"]) for t in own)
        open_positions = sum(1 for p in rows_of(snap, "positions") if p["strategy_id"] == strategy_id and p["status"] == "open")
        win_rate = divide(Decimal(wins), Decimal(len(closing))) if closing else None
        metrics[name] = (len(own), len(closing), win_rate, realized, costs, open_positions)
    return metrics


def main_account(engine: Engine) -> Row:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(tables.accounts).where(tables.accounts.c.name == "main")).mappings().one())


def stored_cash(engine: Engine) -> tuple[list[Row], list[Row]]:
    """The cash projection as stored: (balances, movements), each in a fixed order."""
    with engine.connect() as conn:
        balances = conn.execute(sa.select(tables.cash_balances).order_by(tables.cash_balances.c.account_id,
                                                                         tables.cash_balances.c.currency))
        movements = conn.execute(sa.select(tables.cash_movements).order_by(tables.cash_movements.c.id))
        return [dict(r) for r in balances.mappings()], [dict(r) for r in movements.mappings()]


def require_upgraded(engine: Engine, url: str, before: Snapshot, currency: str) -> None:
    """What an upgraded populated database must be: the 0004 rows untouched, everything in
    `main`, every traded symbol an instrument, `db check` clean, the strategy metrics and
    main's cash as computed here."""
    assert migrations.read_revision(engine) == migrations.HEAD_REVISION
    assert snapshot(engine) == before
    main = main_account(engine)
    assert (main["currency"], main["margin"], main["status"]) == (currency, False, "open")
    traded = {t["symbol"] for t in rows_of(before, "trades")}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.accounts)).scalar_one() == 1
        for table in (tables.trades, tables.orders, tables.positions):
            owners = set(conn.execute(sa.select(table.c.account_id).distinct()).scalars())
            assert owners == {main["id"]}, table.name
        assert set(conn.execute(sa.select(tables.trades.c.currency).distinct()).scalars()) == {currency}
        instruments = {row.symbol: row.currency for row in conn.execute(sa.select(tables.instruments))}
        assert instruments == dict.fromkeys(traded, currency)
    with open_storage(url) as storage:
        assert storage.check() == []
        metrics = {s.name: (s.trades, s.closing_trades, s.win_rate, s.realized_pnl, s.costs, s.open_positions)
                   for s in storage.list_strategies()}
    assert metrics == expected_metrics(before)

    cash = expected_cash(rows_of(before, "trades"))
    balances, movements = stored_cash(engine)
    assert [(b["account_id"], b["currency"], b["balance"], b["last_at"]) for b in balances] == [
        (main["id"], currency, cash.balance, cash.last_at)]
    assert [(m["account_id"], m["kind"], m["currency"], m["trade_id"], m["amount"], m["at"]) for m in movements] == [
        (main["id"], "implicit_deposit", currency, trade_id, amount, when) for trade_id, amount, when in cash.implicit]
    assert exact_total(m["amount"] for m in movements) == exact_total(amount for _, amount, _ in cash.implicit)


# -- the tests ---------------------------------------------------------------------------------


def test_the_history_covers_what_the_migration_must_carry(engine: Engine, history: dict[str, list[Row]]) -> None:
    """Guards the fixture: if a change to the history drops a case, the tests below stop proving it."""
    populate_0004(engine, history)
    before = snapshot(engine)
    positions, trades = rows_of(before, "positions"), rows_of(before, "trades")
    assert {(p["side"], p["status"]) for p in positions} == {("long", "open"), ("long", "closed"),
                                                             ("short", "closed")}
    assert {o["status"] for o in rows_of(before, "orders")} == {"filled", "partially_filled", "pending", "cancelled"}
    assert {t["quantity"] for t in trades} >= {TINY, HUGE}
    assert any(t["external_id"] for t in trades) and any(t["order_id"] for t in trades)
    assert all(m[1] > 0 for m in expected_metrics(before).values())  # each strategy has closed something
    assert rows_of(before, "closed_run_totals") and rows_of(before, "lots")
    assert len(expected_cash(trades).implicit) > 2


def test_upgrade_gives_the_ledger_to_main_unchanged(engine: Engine, backend_url: str,
                                                    history: dict[str, list[Row]]) -> None:
    populate_0004(engine, history)
    before = snapshot(engine)
    migrations.upgrade(engine)
    require_upgraded(engine, backend_url, before, "USD")


def test_a_stored_reporting_currency_becomes_mains(engine: Engine, backend_url: str,
                                                    history: dict[str, list[Row]]) -> None:
    setting = {"key": "reporting.currency", "value": "EUR", "type": "string", "description": None, "updated_at": at(0)}
    populate_0004(engine, history, [setting])
    before = snapshot(engine)
    migrations.upgrade(engine)
    require_upgraded(engine, backend_url, before, "EUR")


def test_an_empty_database_upgrades_without_cash(engine: Engine, backend_url: str) -> None:
    migrations.upgrade(engine, "0004")
    migrations.upgrade(engine)
    assert main_account(engine)["currency"] == "USD"
    assert stored_cash(engine) == ([], [])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.instruments)).scalar_one() == 0
    with open_storage(backend_url) as storage:
        assert storage.check() == []


def test_downgrade_restores_0004_and_upgrades_again(engine: Engine, backend_url: str,
                                                    history: dict[str, list[Row]]) -> None:
    populate_0004(engine, history)
    before = snapshot(engine)
    migrations.upgrade(engine)
    migrations.downgrade(engine, "0004")
    assert migrations.read_revision(engine) == "0004"
    assert set(sa.inspect(engine).get_table_names()) == {*TABLES_AT_0004, "alembic_version"}
    assert snapshot(engine) == before

    # One open position per symbol again (0004's uq_positions_open_symbol): a second open run is refused.
    open_symbol = next(p["symbol"] for p in rows_of(before, "positions") if p["status"] == "open")
    run = {"side": "long", "quantity": Decimal(1), "open_cost": Decimal(1), "realized_pnl": Decimal(0),
           "costs": Decimal(0), "status": "open", "opened_at": at(9)}
    with engine.connect() as conn, conn.begin() as transaction:  # a symbol with no open run takes one
        conn.execute(sa.insert(old_table("positions")), dict(run, symbol="NEW"))
        transaction.rollback()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(old_table("positions")), dict(run, symbol=open_symbol))

    migrations.upgrade(engine)
    require_upgraded(engine, backend_url, before, "USD")


def test_downgrade_is_refused_while_another_account_holds_a_trade(engine: Engine, backend_url: str,
                                                                  history: dict[str, list[Row]]) -> None:
    populate_0004(engine, history)
    before = snapshot(engine)
    migrations.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(tables.accounts), {"name": "second", "currency": "USD", "margin": False,
                                                  "status": "open", "created_at": at(9)})
    with open_storage(backend_url) as storage:
        recorded = storage.record_trade(side="buy", symbol="NVDA", quantity="2", price="500", executed_at=at(9),
                                        account="second")
    assert recorded.account == "second"

    with pytest.raises(StocksbotError, match=r"accounts other than main hold .* \(second\)"):
        migrations.downgrade(engine, "0004")
    assert migrations.read_revision(engine) == migrations.HEAD_REVISION
    # The command line reports the refusal in one line (a crash would propagate from the runner).
    result = CliRunner().invoke(cli, ["--db", backend_url, "db", "downgrade", "0004", "--yes"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot downgrade below 0005: accounts other than main hold")
    assert migrations.read_revision(engine) == migrations.HEAD_REVISION
    with engine.connect() as conn:
        owner = conn.execute(sa.select(tables.accounts.c.name).join(tables.trades).where(tables.trades.c.id == recorded.id))
        assert owner.scalar_one() == "second"
    with open_storage(backend_url) as storage:
        assert storage.check() == []
    # Nothing of main's changed: the refused downgrade left every table as it was.
    after = snapshot(engine)
    theirs = {"trades": lambda row: row["id"] == recorded.id, "positions": lambda row: row["symbol"] == "NVDA",
              "lots": lambda row: row["trade_id"] == recorded.id}
    for name in TABLES_AT_0004:
        others = theirs.get(name, lambda row: False)
        assert [tuple(r.values()) for r in rows_of(after, name) if not others(r)] == before[name], name
