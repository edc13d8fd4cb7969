"""`trade export --format beancount`: the output is checked by beancount itself.

Every export is loaded with `beancount.loader.load_string` (which books, interpolates and
validates exactly as `bean-check` does) and must load without a single error; one test also
runs the real `bean-check` command. Beyond validity, the ledger must agree with stocksbot:
each transaction's Income posting is minus that trade's realized P&L, the units left per
commodity are the open positions, and the cost left in the lots is the positions' open cost.
"""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from beancount import loader
from beancount.core import data
from hypothesis import given, settings
from hypothesis import strategies as st

from stocksbot.beancount import (
    CURRENCY,
    SHORT_COSTS_ROOT,
    account_component,
    commodity_name,
    quote,
    write_beancount,
)
from stocksbot.ledger import Book, Fill, add, multiply, subtract
from stocksbot.ledger.inputs import SYMBOL_PATTERN
from stocksbot.ledger.numbers import ZERO
from stocksbot.storage.records import TradeRecord

BEAN_CHECK = Path(sys.executable).with_name("bean-check")
#: Lot costs may differ from stocksbot's open cost by beancount's 28-digit per-unit rounding.
COST_SLACK = Decimal("1e-15")

WORKED_EXAMPLE = [
    ("buy", "4", "149.50", "1"),
    ("buy", "6", "150", "0"),
    ("sell", "4", "160", "0"),
    ("sell", "2", "140", "0"),
]


def _at(n: int) -> str:
    return (datetime(2024, 1, 15, 14, 30, tzinfo=timezone.utc) + timedelta(hours=5 * n)).isoformat()


def _record(storage: Any, rows: list[tuple[str, ...]], symbol: str = "AAPL", start: int = 0, **extra: Any) -> None:
    for n, (side, quantity, price, commission) in enumerate(rows, start):
        storage.record_trade(
            side=side, symbol=symbol, quantity=quantity, price=price, commission=commission,
            executed_at=_at(n), **extra,
        )


def _export(storage: Any) -> str:
    buf = io.StringIO()
    count = storage.export_trades(buf, format="beancount")
    assert count == len(storage.list_trades())
    return buf.getvalue()


def _load(text: str) -> tuple[list[Any], dict[str, Any]]:
    entries, errors, options = loader.load_string(text)
    assert errors == [], "\n".join(str(error) for error in errors) + "\n" + text
    return entries, options


def _check(text: str, trades: list[TradeRecord], positions: dict[str, tuple[Decimal, Decimal]]) -> list[Any]:
    """Load `text` cleanly and compare it with stocksbot's trades and open positions.

    `positions` maps symbol -> (signed open quantity, open cost).
    """
    entries, _ = _load(text)
    transactions = [entry for entry in entries if isinstance(entry, data.Transaction)]
    assert [txn.meta["trade-id"] for txn in transactions] == [trade.id for trade in trades]

    # Realized P&L: per trade, and in total.
    for txn, trade in zip(transactions, trades):
        income = [p.units.number for p in txn.postings if p.account.startswith("Income:")]
        if trade.realized_pnl is None:
            assert income == []
        else:
            assert income == [subtract(ZERO, trade.realized_pnl)]
    income_total = add(*(p.units.number for t in transactions for p in t.postings if p.account.startswith("Income:")))
    realized_total = add(*(t.realized_pnl for t in trades if t.realized_pnl is not None))
    assert income_total == subtract(ZERO, realized_total)

    # Open units and lot costs per commodity, mapped back to symbols.
    symbols = {entry.currency: entry.meta["symbol"] for entry in entries if isinstance(entry, data.Commodity)}
    units: dict[str, Decimal] = {}
    costs: dict[str, Decimal] = {}
    short_costs: dict[str, Decimal] = {}  # by account component
    for txn in transactions:
        for posting in txn.postings:
            if posting.account.startswith(SHORT_COSTS_ROOT + ":"):
                part = posting.account.rsplit(":", 1)[1]
                short_costs[part] = add(short_costs.get(part, ZERO), posting.units.number)
            if posting.units.currency == CURRENCY:
                continue
            assert posting.cost is not None  # every position is held at cost
            symbol = symbols[posting.units.currency]
            units[symbol] = add(units.get(symbol, ZERO), posting.units.number)
            costs[symbol] = add(costs.get(symbol, ZERO), multiply(posting.units.number, posting.cost.number))
    held = {symbol: quantity for symbol, quantity in units.items() if quantity != 0}
    assert held == {symbol: quantity for symbol, (quantity, _) in positions.items()}
    for symbol, (quantity, open_cost) in positions.items():
        lot_cost = costs[symbol] if quantity > 0 else subtract(ZERO, costs[symbol])
        parked = short_costs.get(account_component(symbol), ZERO)
        if quantity < 0:  # negative proceeds of short lots written at cost 0 belong to the lots
            lot_cost = subtract(lot_cost, parked)
        assert abs(subtract(lot_cost, open_cost)) <= COST_SLACK, (symbol, lot_cost, open_cost)
    for symbol in symbols.values():  # released in full once a symbol has no short left
        if positions.get(symbol, (ZERO,))[0] >= 0:
            assert short_costs.get(account_component(symbol), ZERO) == 0, symbol
    return entries


def _check_storage(storage: Any) -> tuple[str, list[Any]]:
    text = _export(storage)
    positions = {
        p.symbol: (p.quantity if p.side == "long" else subtract(ZERO, p.quantity), p.open_cost)
        for p in storage.list_positions()
    }
    return text, _check(text, storage.list_trades(), positions)


def _option_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("option ")]


# -- through the storage service, on both backends ------------------------------------------


def test_worked_fifo_example_passes_bean_check(storage: Any, tmp_path: Path) -> None:
    _record(storage, WORKED_EXAMPLE)
    text, _ = _check_storage(storage)

    assert _option_lines(text) == [
        'option "title" "stocksbot export"',
        'option "operating_currency" "USD"',
        'option "booking_method" "FIFO"',
        'option "inferred_tolerance_default" "USD:0.000000000001"',  # at the end of the file
    ]
    assert text.endswith('option "inferred_tolerance_default" "USD:0.000000000001"\n')
    assert '4 AAPL {{599 USD, "trade-' in text  # commission in the lot cost
    ids = [t.id for t in storage.list_trades()]
    assert f'-4 AAPL {{"trade-{ids[0]}"}} @ 160 USD' in text  # FIFO: the oldest lot
    assert "Income:Stocksbot:PnL:AAPL  -41 USD" in text
    assert "Income:Stocksbot:PnL:AAPL  20 USD" in text

    path = tmp_path / "ledger.beancount"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run([str(BEAN_CHECK), str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


@pytest.mark.parametrize("method", ["lifo", "average"])
def test_other_cost_basis_methods(storage: Any, method: str) -> None:
    storage.config_set("accounting.cost_basis", method)
    _record(storage, WORKED_EXAMPLE)
    # Repeating decimals: a lot of 31 for 3 units, closed in two parts, and a pool added to.
    _record(storage, [("buy", "3", "10", "1"), ("sell", "1", "11", "0"), ("buy", "7", "10.1", "0.3"),
                      ("sell", "2", "12", "0.7")], symbol="MSFT", start=10)
    text, _ = _check_storage(storage)
    booking = "LIFO" if method == "lifo" else "FIFO"
    assert f'option "booking_method" "{booking}"' in text
    realized = [t.realized_pnl for t in storage.list_trades(symbol="AAPL")]
    if method == "lifo":
        assert realized == [None, None, Decimal(40), Decimal(-20)]
    else:  # one pool of 10 units costing 1499
        assert realized == [None, None, Decimal("40.4"), Decimal("-19.8")]


@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
def test_shorts_and_flips(storage: Any, method: str) -> None:
    storage.config_set("accounting.cost_basis", method)
    rows = [
        ("sell", "5", "20", "1"),     # opens a short from flat
        ("sell", "3", "21", "0.3"),   # adds to it
        ("buy", "6", "18", "0.5"),    # covers part
        ("buy", "4", "19", "0.2"),    # covers the rest and flips long 2
        ("buy", "1", "19.5", "0"),
        ("sell", "7", "22", "0.7"),   # closes the long 3 and flips short 4
        ("buy", "4", "21", "0"),      # round trip back to flat
        ("sell", "2", "23", "0"),     # and a short left open
    ]
    _record(storage, rows, symbol="TSLA", allow_short=True)
    text, _ = _check_storage(storage)
    assert storage.list_positions()[0].side == "short"
    assert "Assets:Stocksbot:TSLA  -2 TSLA {{46 USD" in text


def test_short_whose_costs_exceed_its_proceeds(storage: Any) -> None:
    """A lot with negative net proceeds cannot carry a negative cost in beancount."""
    _record(storage, [("sell", "5", "0", "2"), ("sell", "1", "1", "0"), ("buy", "4", "0.1", "0.3")],
            symbol="JUNK", allow_short=True)
    text, _ = _check_storage(storage)
    assert f"{SHORT_COSTS_ROOT}:JUNK  2 USD" in text
    _record(storage, [("buy", "2", "0", "0")], symbol="JUNK", start=5)
    _, entries = _check_storage(storage)  # checks the parked amount is released in full
    assert storage.list_positions() == []


def test_symbols_become_valid_distinct_commodities(storage: Any) -> None:
    symbols = ["BRK.B", "EUR/USD", "EUR-USD", "EUR.USD", "EUR_USD", "3M", "V", "TRUE", "A.", "X:Y", "Q_", "1"]
    for n, symbol in enumerate(symbols):
        _record(storage, [("buy", "2", "10", "0.5"), ("sell", "1", "11", "0")], symbol=symbol, start=2 * n)
    text, entries = _check_storage(storage)
    commodities = {e.meta["symbol"]: e.currency for e in entries if isinstance(e, data.Commodity)}
    assert sorted(commodities) == sorted(symbols)
    assert len(set(commodities.values())) == len(symbols)
    assert commodities["BRK.B"] == "BRK.B" and commodities["V"] == "V"
    accounts = {e.account for e in entries if isinstance(e, data.Open)}
    assert "Assets:Stocksbot:BRKdB" in accounts and "Assets:Stocksbot:EURsUSD" in accounts
    assert len([a for a in accounts if a.startswith("Income:")]) == len(symbols)


def test_fractional_quantities(storage: Any) -> None:
    _record(storage, [
        ("buy", "0.0000000001", "123456.789", "0.0000000003"),
        ("buy", "2.5", "0.0000000001", "0"),
        ("buy", "0.0000000003", "7", "0.0000000001"),
        ("sell", "0.0000000002", "130000.1", "0.0000000001"),
        ("sell", "1.3333333333", "0.0000000002", "0"),
    ], symbol="BTC-USD")
    _check_storage(storage)
    assert storage.list_positions()[0].quantity == Decimal("1.1666666669")


def test_metadata_keeps_quotes_backslashes_and_lines(storage: Any) -> None:
    strategy = 'mean "rev" \\ v2'
    note = 'said "buy"\nC:\\path\\n\ttabbed'
    storage.add_strategy(strategy)
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10", executed_at=_at(0),
                         strategy=strategy, note=note, external_id='ext"1\\')
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10", executed_at=_at(1))
    _, entries = _check_storage(storage)
    first, second = [e for e in entries if isinstance(e, data.Transaction)]
    assert first.meta["strategy"] == strategy
    assert first.meta["note"] == note
    assert first.meta["external-id"] == 'ext"1\\'
    assert first.narration == "buy 1 AAPL @ 10"
    assert "note" not in second.meta and "strategy" not in second.meta


def test_empty_ledger(storage: Any) -> None:
    text = _export(storage)
    entries, options = _load(text)
    assert entries == []
    assert options["title"] == "stocksbot export"


# -- pure: names, and random ledgers through write_beancount ---------------------------------


def test_names_are_read_back_by_beancount() -> None:
    """Every kind of symbol gives a commodity and account names beancount's lexer accepts."""
    alphabet = "AZ09.-/:_"
    symbols = {a + b + c for a in "A0" for b in alphabet for c in alphabet}
    symbols |= {"A", "V", "0", "TRUE", "FALSE", "NULL", "Z" * 32, "9" + "/:" * 15 + "_", "EUR/USD"}
    assert all(SYMBOL_PATTERN.match(symbol) for symbol in symbols)
    names = {symbol: commodity_name(symbol) for symbol in symbols}
    parts = {symbol: account_component(symbol) for symbol in symbols}
    assert len(set(names.values())) == len(symbols) == len(set(parts.values()))

    lines = []
    for symbol in sorted(symbols):
        lines += [f"2024-01-01 commodity {names[symbol]}", f"  symbol: {quote(symbol)}",
                  f"2024-01-01 open Assets:Stocksbot:{parts[symbol]} {names[symbol]}"]
    entries, _ = _load("\n".join(lines) + "\n")
    read = {e.meta["symbol"]: e.currency for e in entries if isinstance(e, data.Commodity)}
    assert read == names
    opened = {e.account: e.currencies for e in entries if isinstance(e, data.Open)}
    assert opened == {f"Assets:Stocksbot:{parts[s]}": [names[s]] for s in symbols}

    assert names["EUR/USD"] == "X'EUR'SUSD" and names["TRUE"] == "X'TRUE"
    assert names["A"] == "A" and commodity_name("BRK.B") == "BRK.B" and commodity_name("3M") == "X'3M"
    assert account_component("BRK.B") == "BRKdB"
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


_TRADE = st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["AAPL", "EUR/USD"]),
    st.sampled_from([Decimal("1"), Decimal("3"), Decimal("0.7"), Decimal("0.0000000001"), Decimal("12.5")]),
    st.sampled_from([Decimal("0"), Decimal("1.5"), Decimal("99.99"), Decimal("0.0000000003")]),
    st.sampled_from([Decimal("0"), Decimal("1"), Decimal("0.33")]),
)


@settings(max_examples=60, deadline=None)
@given(method=st.sampled_from(["fifo", "lifo", "average"]), rows=st.lists(_TRADE, min_size=1, max_size=14))
def test_random_ledgers_load_cleanly(method: str, rows: list[tuple[str, str, Decimal, Decimal, Decimal]]) -> None:
    books: dict[str, Book] = {}
    trades = []
    start = datetime(2024, 3, 1, 22, tzinfo=timezone.utc)
    for n, (side, symbol, quantity, price, commission) in enumerate(rows, 1):
        at = start + timedelta(hours=3 * n)
        book = books.setdefault(symbol, Book(symbol, method))
        booking = book.apply(Fill(side, quantity, price, commission, ZERO, at, n), allow_short=True)
        trades.append(TradeRecord(
            id=n, side=side, symbol=symbol, quantity=quantity, price=price, commission=commission, fees=ZERO,
            executed_at=at, realized_pnl=booking.realized_pnl, order_id=None, strategy=None,
            external_id=None, note=None, account="main", currency="USD",
        ))
    buf = io.StringIO()
    assert write_beancount(iter(trades), buf, method=method) == len(trades)
    positions = {s: (b.signed_quantity, b.open_amount) for s, b in books.items() if not b.is_flat}
    _check(buf.getvalue(), trades, positions)
