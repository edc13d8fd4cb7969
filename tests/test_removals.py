"""`price remove` and `order remove` (docs/ledger.md §6.4, §7.5) on SQLite and PostgreSQL: what they
remove, what they refuse in one line (writing nothing), and the audit entry each leaves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stocksbot.errors import StocksbotError

D = Decimal


def bars(storage) -> list[tuple[str, str, Decimal]]:  # type: ignore[no-untyped-def]
    return [(b.timestamp.isoformat(), b.interval, b.close) for b in storage.price_history("AAPL")]


def add_bars(storage) -> None:  # type: ignore[no-untyped-def]
    for day, close in ((2, "150"), (3, "151"), (4, "152"), (5, "153")):
        storage.add_price("AAPL", close, at=f"2024-01-0{day}T21:00:00Z")
    storage.add_price("AAPL", "151.5", at="2024-01-03T21:00:00Z", interval="1h")
    storage.add_price("MSFT", "400", at="2024-01-03T21:00:00Z")


def test_price_remove_one_bar_a_range_or_all(storage) -> None:
    add_bars(storage)
    assert storage.remove_prices("aapl", at="2024-01-02T21:00:00Z") == 1
    assert [b[2] for b in bars(storage)] == [D("151"), D("151.5"), D("152"), D("153")]
    # A range of one interval; the hourly bar and MSFT stay.
    assert storage.remove_prices("AAPL", since="2024-01-03T00:00:00Z", until="2024-01-04T23:00:00Z",
                                 interval="1d") == 2
    assert [(b[1], b[2]) for b in bars(storage)] == [("1h", D("151.5")), ("1d", D("153"))]
    (entry,) = storage.audit(limit=1)
    assert (entry.action, entry.entity, entry.entity_key) == ("price.remove", "price", "AAPL")
    assert entry.new is None
    assert (entry.old["bars"], entry.old["interval"]) == (2, "1d")
    assert [bar["close"] for bar in entry.old["removed"]] == ["151", "152"]
    assert entry.old["first"].startswith("2024-01-03T21:00:00") and entry.old["last"].startswith("2024-01-04T21")
    # No range: every bar of the symbol.
    assert storage.remove_prices("AAPL") == 2
    assert bars(storage) == []
    assert [p.symbol for p in storage.latest_prices()] == ["MSFT"]


def test_price_remove_refuses_in_one_line_and_removes_nothing(storage) -> None:
    add_bars(storage)
    before, logged = bars(storage), len(storage.audit())
    for kwargs, message in (
        ({"at": "2024-01-06T21:00:00Z"}, "no AAPL prices at 2024-01-06T21:00:00Z: nothing removed"),
        ({"since": "2025-01-01"}, "no AAPL prices since 2025-01-01: nothing removed"),
        ({"at": "2024-01-02T21:00:00Z", "interval": "1w"}, "of interval 1w: nothing removed"),
        ({"at": "2024-01-02T21:00:00Z", "since": "2024-01-01"}, "give --at for one bar, or --since/--until"),
        ({"at": "tomorrow"}, "--at"),
        ({"interval": "daily"}, "invalid interval 'daily'"),
    ):
        with pytest.raises(StocksbotError, match=message):
            storage.remove_prices("AAPL", **kwargs)
    with pytest.raises(StocksbotError, match="symbol"):
        storage.remove_prices("no good")
    assert bars(storage) == before and len(storage.audit()) == logged


def test_price_remove_a_day_by_date(run, data) -> None:
    assert run("price", "add", "AAPL", "150", "--at", "2024-01-02T10:00").exit_code == 0
    assert run("price", "add", "AAPL", "151", "--at", "2024-01-02T15:00").exit_code == 0
    assert run("price", "add", "AAPL", "152", "--at", "2024-01-03T10:00").exit_code == 0
    # A bare date as --until is the end of that day (docs/ledger.md §1.6).
    result = run("price", "remove", "AAPL", "--since", "2024-01-02", "--until", "2024-01-02")
    assert (result.exit_code, result.output) == (0, "removed 2 AAPL bar(s)\n")
    assert [b["close"] for b in data("price", "history", "AAPL")] == ["152"]
    assert data("price", "remove", "AAPL", "--at", "2024-01-03T10:00") == {"removed": 1}
    result = run("price", "remove", "AAPL")
    assert result.exit_code == 1
    assert result.stderr == ("Error: no AAPL prices: nothing removed (see `stocksbot price history AAPL`)\n")
    assert [e["action"] for e in data("audit", "list")][:2] == ["price.remove", "price.remove"]


def test_order_remove_deletes_an_order_that_never_filled(storage) -> None:
    pending = storage.add_order(side="buy", symbol="AAPL", quantity="10", order_type="limit", limit_price="150")
    cancelled = storage.add_order(side="sell", symbol="AAPL", quantity="1")
    storage.change_order_status(cancelled.id, "cancelled")
    assert storage.remove_order(pending.id) == pending
    assert storage.remove_order(cancelled.id).status == "cancelled"
    assert storage.list_orders() == []
    removed, _cancel, _added, _added_first = [e for e in storage.audit() if e.entity == "order"][:4]
    assert (removed.action, removed.entity_key, removed.new) == ("order.remove", str(cancelled.id), None)
    assert removed.old["status"] == "cancelled" and removed.old["quantity"] == "1"
    with pytest.raises(StocksbotError, match=f"no order with id {pending.id}"):
        storage.remove_order(pending.id)
    assert storage.check() == []


def test_order_remove_refuses_an_order_with_fills(storage) -> None:
    order = storage.add_order(side="buy", symbol="AAPL", quantity="10")
    storage.change_order_status(order.id, "submitted")
    storage.fill_order(order.id, "4", "150")
    logged = len(storage.audit())
    with pytest.raises(StocksbotError) as refused:
        storage.remove_order(order.id)
    assert str(refused.value) == (
        f"order {order.id} cannot be removed: it is partially_filled with 4 of 10 filled, and a fill is a trade "
        f"of the ledger; cancel it instead (`stocksbot order cancel {order.id}`) to stop further fills")
    storage.fill_order(order.id, "6", "150")
    with pytest.raises(StocksbotError, match="it is filled with 10 of 10 filled.*void its fills first"):
        storage.remove_order(order.id)
    assert storage.get_order(order.id).status == "filled" and len(storage.audit()) == logged + 1
    assert storage.check() == []


def test_order_remove_on_the_command_line(run, data) -> None:
    assert run("order", "add", "buy", "AAPL", "5").exit_code == 0
    result = run("order", "remove", "1")
    assert (result.exit_code, result.output) == (0, "removed order 1: buy 5 AAPL market day (pending)\n")
    assert data("order", "list") == []
    result = run("order", "remove", "1")
    assert (result.exit_code, result.stderr) == (1, "Error: no order with id 1\n")
    # SQLite may give the next order the removed one's id (docs/ledger.md §20.2); ask which.
    added = data("order", "add", "sell", "MSFT", "2")
    removed = data("order", "remove", str(added["id"]))
    assert removed == added
    assert [e["action"] for e in data("audit", "list")] == ["order.remove", "order.add", "order.remove", "order.add"]
