"""A correction leaves the ledger exactly as if the history had been recorded right (docs/ledger.md §19).

For random histories (several symbols and strategies, shorts, flips, back-dated trades, some
trades order fills), one database records the history and then voids (or amends) one of its
trades; a twin records the same history without that trade (or with the amended trade in its
place). Everything derived must be the same in both: positions, lots, every live trade's
realized P&L, closed-run totals, realized shares, closed lot portions, cash balances and
implicit deposits, orders, strategy metrics, `report realized`, positions as of a date, the
summary's strategy lines, the performance report, and a clean `db check`. Trade ids differ
between the two databases after a void, so trades are compared by their external ids.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, text

from stocksbot.errors import StocksbotError
from stocksbot.storage import tables
from stocksbot.storage.checks import ledger_snapshot
from tests.three_paths import STRATEGIES, trade_steps, twin  # noqa: F401  (a fixture)

D = Decimal
SYMBOLS = ["VA", "VB"]
_step = trade_steps(len(SYMBOLS), [None, *STRATEGIES])
#: Where each kind of snapshot row holds trade ids (docs: storage/checks.py, ledger_snapshot).
_TRADE_COLUMNS = {"lots": (3,), "realized": (0,), "shares": (0,), "closings": (0, 2), "implicit": (4,)}


@pytest.fixture
def fresh_pair(storage: Any, twin: Any) -> Callable[[], tuple[Any, Any]]:  # noqa: F811
    """The two databases, emptied for each example: a correction is compared with a whole
    ledger, so no example may see another's rows. (Emptied rather than created anew, so the
    engines and their compiled statements are reused: an example then costs a second or so.)"""

    def pair() -> tuple[Any, Any]:
        for service in (storage, twin):
            with service.transaction() as conn:
                wiped = [table for table in tables.metadata.sorted_tables if table.name != "accounts"]
                if conn.dialect.name == "postgresql":
                    conn.execute(text(f"TRUNCATE {', '.join(table.name for table in wiped)} RESTART IDENTITY"))
                else:
                    for table in reversed(wiped):
                        conn.execute(delete(table))
        return storage, twin

    return pair


def _prepare(service: Any, method: str) -> None:
    if service.setting("accounting.cost_basis") != method:
        service.config_set("accounting.cost_basis", method)
    service.config_set("trading.allow_short", "true")
    for name in STRATEGIES:
        service.add_strategy(name)
    for symbol in SYMBOLS:  # prices, so that positions, the summary and performance have values
        service.add_price(symbol, "20", at="2024-02-01T21:00:00Z")
        service.add_price(symbol, "25", at="2024-04-01T21:00:00Z")


def _trades(history: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The history as trades: external id, side, symbol, quantity, price, commission, time,
    strategy, and whether it is an order fill."""
    day, trades = 10, []
    for index, (which, side, tenths, cents, commission, gap, strategy, as_order) in enumerate(history):
        day = max(day + gap, 0)
        trades.append(dict(external_id=f"t{index}", side=side, symbol=SYMBOLS[which], quantity=D(tenths) / 10,
                           price=D(cents) / 100, commission=D(commission) / 100, day=day, strategy=strategy,
                           as_order=as_order))
    return trades


def _when(day: int) -> str:
    return f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}T15:00:00Z"


def _record(service: Any, trade: dict[str, Any], *, fill: bool = True) -> None:
    """Record one trade (as the fill of a new order when it is one); `fill=False` records nothing
    but the order it would fill, so that order ids stay the same in both databases."""
    values = dict(side=trade["side"], symbol=trade["symbol"], quantity=trade["quantity"], price=trade["price"],
                  commission=trade["commission"], executed_at=_when(trade["day"]), external_id=trade["external_id"])
    order_id = None
    if trade["as_order"]:
        order = service.add_order(side=trade["side"], symbol=trade["symbol"],
                                  quantity=trade.get("order_quantity", trade["quantity"]), strategy=trade["strategy"])
        service.change_order_status(order.id, "submitted")
        order_id = order.id
    if fill:
        service.record_trade(**values, strategy=None if order_id else trade["strategy"], order_id=order_id)


def _by_external_id(rows: list[tuple[Any, ...]], columns: tuple[int, ...], names: dict[int, str],
                    voided: set[int]) -> list[tuple[Any, ...]]:
    result = []
    for row in rows:
        if columns == (0,) and row[0] in voided:
            continue  # a voided trade has no realized P&L, shares or closings of its own
        result.append(tuple(names.get(value, value) if index in columns and value is not None else value
                            for index, value in enumerate(row)))
    return sorted(result, key=repr)


def _derived(service: Any) -> dict[str, Any]:
    """Everything the ledger derives, with trade ids replaced by external ids."""
    trades = service.list_trades(include_voided=True)
    names = {t.id: t.external_id for t in trades}
    voided = {t.id for t in trades if t.voided_at is not None}
    with service.reading() as conn:
        snapshot = ledger_snapshot(conn)
    derived: dict[str, Any] = {
        kind: _by_external_id(rows, _TRADE_COLUMNS.get(kind, ()), names, voided) for kind, rows in snapshot.items()
    }
    derived["trades"] = [{**t.to_json(), "id": None} for t in service.list_trades()]
    derived["orders"] = [{**o.to_json(), "created_at": None, "updated_at": None} for o in service.list_orders()]
    derived["strategies"] = [{**s.to_json(), "created_at": None, "updated_at": None} for s in service.list_strategies()]
    report = service.realized().to_json()
    report["rows"] = [{**row, "opening_trade_id": names.get(row["opening_trade_id"]),
                       "closing_trade_id": names.get(row["closing_trade_id"])} for row in report["rows"]]
    derived["realized"] = report
    derived["as_of"] = [{**p.to_json(), "id": None} for p in service.list_positions(status=None, as_of="2024-02-20")]
    derived["summary"] = service.summary().to_json()
    derived["performance"] = service.performance(since="2024-01-01", until="2024-06-30").to_json()
    derived["check"] = service.check()
    derived["cash"] = [b.to_json() for b in service.cash_balances()]
    return derived


_HISTORIES = st.lists(_step, min_size=1, max_size=12)
_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# An example books two ledgers of up to 12 trades and compares them whole (about 1.5 s on
# SQLite): the fast tier runs a few FIFO examples; the full run every method, more examples,
# both backends.
@pytest.mark.slow
@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
@settings(max_examples=12, **_SETTINGS)  # type: ignore[arg-type]
@given(history=_HISTORIES, data=st.data())
def test_voiding_a_trade_is_as_if_it_was_never_recorded(fresh_pair: Any, method: str, history: list[tuple[Any, ...]],
                                                        data: Any) -> None:
    _void_and_compare(fresh_pair, method, history, data)


@settings(max_examples=3, **_SETTINGS)  # type: ignore[arg-type]
@given(history=_HISTORIES, data=st.data())
def test_voiding_a_trade_is_as_if_it_was_never_recorded_fast(fresh_pair: Any, history: list[tuple[Any, ...]],
                                                             data: Any) -> None:
    _void_and_compare(fresh_pair, "fifo", history, data)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
@settings(max_examples=12, **_SETTINGS)  # type: ignore[arg-type]
@given(history=_HISTORIES, data=st.data())
def test_amending_a_trade_is_as_if_it_was_recorded_amended(fresh_pair: Any, method: str,
                                                           history: list[tuple[Any, ...]], data: Any) -> None:
    _amend_and_compare(fresh_pair, method, history, data)


@settings(max_examples=3, **_SETTINGS)  # type: ignore[arg-type]
@given(history=_HISTORIES, data=st.data())
def test_amending_a_trade_is_as_if_it_was_recorded_amended_fast(fresh_pair: Any, history: list[tuple[Any, ...]],
                                                                data: Any) -> None:
    _amend_and_compare(fresh_pair, "fifo", history, data)


def _void_and_compare(fresh_pair: Any, method: str, history: list[tuple[Any, ...]], data: Any) -> None:
    """Void one trade of `history` in one ledger; the other never records it."""
    storage, other = fresh_pair()
    trades = _trades(history)
    chosen = data.draw(st.integers(min_value=0, max_value=len(trades) - 1), label="voided")
    for service in (storage, other):
        _prepare(service, method)
    for index, trade in enumerate(trades):
        _record(storage, trade)
        _record(other, trade, fill=index != chosen)  # the other never sees the voided trade
    voided = next(t for t in storage.list_trades() if t.external_id == f"t{chosen}")
    result = storage.void_trade(voided.id, reason="property")
    assert result.trade.voided_at is not None and result.trade.realized_pnl is None
    after = _derived(storage)
    assert after == _derived(other)
    assert after["check"] == []


def _amend_and_compare(fresh_pair: Any, method: str, history: list[tuple[Any, ...]], data: Any) -> None:
    """Amend one trade of `history` in one ledger; the other records it amended in its place."""
    storage, other = fresh_pair()
    trades = _trades(history)
    chosen = data.draw(st.integers(min_value=0, max_value=len(trades) - 1), label="amended")
    original = trades[chosen]
    changes: dict[str, Any] = data.draw(st.fixed_dictionaries({}, optional={
        "quantity": st.integers(min_value=1, max_value=40).map(lambda tenths: D(tenths) / 10),
        "price": st.integers(min_value=0, max_value=5000).map(lambda cents: D(cents) / 100),
        "commission": st.integers(min_value=0, max_value=300).map(lambda cents: D(cents) / 100),
        "day": st.integers(min_value=-5, max_value=5),
        "strategy": st.sampled_from([None, *STRATEGIES]),
    }), label="changes")
    if original["as_order"]:
        changes.pop("strategy", None)  # an order's fill takes the order's strategy when it names none
    amended = {**original, "order_quantity": original["quantity"]}
    amended.update({name: value for name, value in changes.items() if name != "day"})
    if "day" in changes:
        amended["day"] = max(original["day"] + changes["day"], 0)
    for service in (storage, other):
        _prepare(service, method)
    for index, trade in enumerate(trades):
        _record(storage, trade)
    options = {name: value for name, value in changes.items() if name in ("quantity", "price", "commission")}
    if "day" in changes:
        options["executed_at"] = _when(amended["day"])
    if "strategy" in changes:
        options["strategy"] = changes["strategy"] or ""
    target = next(t for t in storage.list_trades() if t.external_id == f"t{chosen}")
    unchanged = all(getattr(target, name) == value for name, value in options.items()
                    if name in ("quantity", "price", "commission")) and (
        "executed_at" not in options or amended["day"] == original["day"]) and (
        "strategy" not in options or changes["strategy"] == original["strategy"])
    if unchanged:
        with pytest.raises(StocksbotError, match="nothing to amend"):
            storage.amend_trade(target.id, **options)
        return
    if original["as_order"] and amended["quantity"] > original["quantity"]:
        before = _derived(storage)
        with pytest.raises(StocksbotError, match="fills order .*exceeds the order's remaining quantity"):
            storage.amend_trade(target.id, **options)
        assert _derived(storage) == before  # nothing written
        return
    storage.amend_trade(target.id, **options)
    for index, trade in enumerate(trades):
        _record(other, amended if index == chosen else trade)
    after = _derived(storage)
    assert after == _derived(other)
    assert after["check"] == []
