"""`trade export --format beancount`: the output is checked by beancount itself.

Every export is loaded with `beancount.loader.load_string` (which books, interpolates and
validates exactly as `bean-check` does) and must load without a single error; two tests also
run the real `bean-check` command. Beyond validity, the ledger must agree with stocksbot: each
trade's Income posting is minus that trade's realized P&L, the P&L accounts of each account
add up to its realized P&L, the units left per (account, commodity) are the open positions,
the cost left in the lots is the positions' open cost, and the cash accounts hold stocksbot's
cash balances per (account, currency).
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from beancount import loader
from beancount.core import data
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from stocksbot.beancount import (
    account_component,
    account_name,
    account_part,
    accounts_of,
    commodity_name,
    quote,
    write_beancount,
)
from stocksbot.ledger import Book, Fill, add, multiply, subtract
from stocksbot.ledger.inputs import SYMBOL_PATTERN
from stocksbot.ledger.numbers import ZERO
from stocksbot.storage import tables
from stocksbot.storage.cash import CashStore, dividend_event
from stocksbot.storage.records import SplitRecord, TradeRecord, TransferRecord

BEAN_CHECK = Path(sys.executable).with_name("bean-check")
#: Lot costs may differ from stocksbot's open cost by beancount's 28-digit per-unit rounding.
COST_SLACK = Decimal("1e-15")
MAIN = accounts_of("main")

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


def _bean_check(text: str, tmp_path: Path) -> None:
    path = tmp_path / "ledger.beancount"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run([str(BEAN_CHECK), str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def _split_account(account: str) -> tuple[str, str, str]:
    """`Assets:<part>:<rest>` -> (stocksbot account name, rest, root)."""
    root, part, rest = account.split(":", 2)
    return account_name(part), rest, root


def _check(
    text: str,
    trades: list[TradeRecord],
    positions: dict[tuple[str, str], tuple[Decimal, Decimal]],
    cash: dict[tuple[str, str], Decimal] | None = None,
    never_negative: set[str] | None = None,
) -> list[Any]:
    """Load `text` cleanly and compare it with stocksbot's trades, open positions and cash.

    `positions` maps (account, symbol) -> (signed open quantity, open cost); `cash` maps
    (account, currency) -> balance (None: not compared); the cash of the accounts named in
    `never_negative` must be 0 or more at the end of every day.
    """
    entries, _ = _load(text)
    transactions = [entry for entry in entries if isinstance(entry, data.Transaction)]
    trade_txns = [txn for txn in transactions if "trade-id" in txn.meta]
    assert [txn.meta["trade-id"] for txn in trade_txns] == [trade.id for trade in trades]

    # Realized P&L: per trade, per account, and only trades realize anything.
    for txn, trade in zip(trade_txns, trades):
        income = [p.units.number for p in txn.postings if p.account.startswith("Income:PnL:")]
        assert [p.units.currency for p in txn.postings if p.account.startswith("Income:PnL:")] == \
               [trade.currency] * len(income)
        if trade.realized_pnl is None:
            assert income == []
        else:
            assert income == [subtract(ZERO, trade.realized_pnl)]
    pnl: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for txn in transactions:
        for p in txn.postings:
            if p.account.startswith("Income:PnL:"):
                assert "trade-id" in txn.meta
                name = account_name(p.account.split(":")[2])
                pnl[name] = add(pnl[name], p.units.number)  # exact: `+=` rounds to 28 digits
    realized: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for trade in trades:
        if trade.realized_pnl is not None:
            realized[trade.account] = add(realized[trade.account], trade.realized_pnl)
    assert {a: v for a, v in pnl.items()} == {a: subtract(ZERO, v) for a, v in realized.items()}

    # Open units and lot costs per (account, commodity), mapped back to names and symbols.
    symbols = {entry.currency: entry.meta["symbol"] for entry in entries if isinstance(entry, data.Commodity)}
    units: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    costs: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    short_costs: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)  # by (account, component)
    balances: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for txn in transactions:
        for posting in txn.postings:
            account, rest, root = _split_account(posting.account)
            if root != "Assets":
                continue
            if rest.startswith("ShortCosts:"):
                short_costs[(account, rest.split(":")[1])] += posting.units.number
            elif rest == "Cash":
                balances[(account, posting.units.currency)] += posting.units.number
            else:
                assert posting.cost is not None  # every position is held at cost
                symbol = symbols[posting.units.currency]
                assert rest == account_component(symbol)
                units[(account, symbol)] = add(units[(account, symbol)], posting.units.number)
                costs[(account, symbol)] = add(costs[(account, symbol)],
                                               multiply(posting.units.number, posting.cost.number))
    held = {key: quantity for key, quantity in units.items() if quantity != 0}
    assert held == {key: quantity for key, (quantity, _) in positions.items()}
    for key, (quantity, open_cost) in positions.items():
        lot_cost = costs[key] if quantity > 0 else subtract(ZERO, costs[key])
        parked = short_costs[(key[0], account_component(key[1]))]
        if quantity < 0:  # negative proceeds of short lots written at cost 0 belong to the lots
            lot_cost = subtract(lot_cost, parked)
        assert abs(subtract(lot_cost, open_cost)) <= COST_SLACK, (key, lot_cost, open_cost)
    for (account, part), parked in short_costs.items():  # released in full once nothing is short
        if not any(a == account and account_component(s) == part and q < 0 for (a, s), (q, _) in positions.items()):
            assert parked == 0, (account, part)
    if cash is not None:
        assert {k: v for k, v in balances.items() if v} == {k: v for k, v in cash.items() if v}
    if never_negative:  # non-margin accounts: at the end of every day, as after every event in stocksbot
        running: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for index, txn in enumerate(transactions):
            for posting in txn.postings:
                account, rest, root = _split_account(posting.account)
                if root == "Assets" and rest == "Cash" and account in never_negative:
                    running[(account, posting.units.currency)] += posting.units.number
            if index + 1 == len(transactions) or transactions[index + 1].date != txn.date:
                assert all(balance >= 0 for balance in running.values()), (txn.date, dict(running))
    return entries


def _stored_positions(storage: Any) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """Signed quantity and the open lots' amount (a short's open cost is shown negative, §5.2)."""
    return {
        (p.account, p.symbol): (p.quantity if p.side == "long" else subtract(ZERO, p.quantity),
                                p.open_cost if p.side == "long" else subtract(ZERO, p.open_cost))
        for p in storage.list_positions()
    }


def _check_storage(storage: Any) -> tuple[str, list[Any]]:
    text = _export(storage)
    cash = {(b.account, b.currency): b.balance for b in storage.cash_balances()}
    plain = {account.name for account in storage.list_accounts() if not account.margin}
    return text, _check(text, storage.list_trades(), _stored_positions(storage), cash, plain)


def _option_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("option ")]


# -- through the storage service, on both backends ------------------------------------------


def test_worked_fifo_example_passes_bean_check(storage: Any, tmp_path: Path) -> None:
    _record(storage, WORKED_EXAMPLE)
    text, _ = _check_storage(storage)

    assert _option_lines(text) == [
        'option "title" "stocksbot export"',
        'option "booking_method" "FIFO"',
        'option "operating_currency" "USD"',  # this and the tolerance are at the end of the file
        'option "inferred_tolerance_default" "USD:0.000000000001"',
    ]
    assert text.endswith('option "inferred_tolerance_default" "USD:0.000000000001"\n')
    assert '4 AAPL {{599 USD, "trade-' in text  # commission in the lot cost
    ids = [t.id for t in storage.list_trades()]
    assert f'-4 AAPL {{"trade-{ids[0]}"}} @ 160 USD' in text  # FIFO: the oldest lot
    assert "Income:PnL:X-main:AAPL  -41 USD" in text
    assert "Income:PnL:X-main:AAPL  20 USD" in text
    # Nothing was deposited: the buys are funded by implicit deposits, as in stocksbot.
    assert "Equity:Contributions:X-main  -599 USD" in text
    _bean_check(text, tmp_path)


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
    assert "Assets:X-main:TSLA  -2 TSLA {{46 USD" in text


def test_short_whose_costs_exceed_its_proceeds(storage: Any) -> None:
    """A lot with negative net proceeds cannot carry a negative cost in beancount."""
    _record(storage, [("sell", "5", "0", "2"), ("sell", "1", "1", "0"), ("buy", "4", "0.1", "0.3")],
            symbol="JUNK", allow_short=True)
    text, _ = _check_storage(storage)
    assert f"{MAIN.short_costs('JUNK')}  2 USD" in text
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
    assert "Assets:X-main:BRKdB" in accounts and "Assets:X-main:EURsUSD" in accounts
    assert len([a for a in accounts if a.startswith("Income:PnL:")]) == len(symbols)


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
    trade = storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10", executed_at=_at(0),
                                 strategy=strategy, external_id='ext"1\\')
    # A note on several lines is refused as input now (docs/ledger.md §1.7), but one stored
    # before that rule must still export: written directly.
    with storage.transaction() as conn:
        conn.execute(tables.trades.update().where(tables.trades.c.id == trade.id).values(note=note))
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10", executed_at=_at(1))
    _, entries = _check_storage(storage)
    first, second = [e for e in entries if isinstance(e, data.Transaction) and "trade-id" in e.meta]
    assert first.meta["strategy"] == strategy
    assert first.meta["note"] == note
    assert first.meta["external-id"] == 'ext"1\\'
    assert first.meta["account"] == "main"
    assert first.narration == "buy 1 AAPL @ 10"
    assert "note" not in second.meta and "strategy" not in second.meta


def test_empty_ledger(storage: Any) -> None:
    text = _export(storage)
    entries, options = _load(text)
    assert entries == []
    assert options["title"] == "stocksbot export"


def _when(day: str, hour: int = 15) -> str:
    return f"2024-{day}T{hour:02d}:00:00+00:00"


def _add_dividend(storage: Any, account: str, symbol: str, gross: str, tax: str, fee: str, currency: str,
                  paid_at: str) -> int:
    """A dividend stored with Core and booked into the cash, as the dividends service will (docs/ledger.md §13)."""
    moment = datetime.fromisoformat(paid_at)
    amounts = Decimal(gross), Decimal(tax), Decimal(fee)
    with storage.transaction() as conn:
        accounts = tables.accounts
        account_id, margin = conn.execute(select(accounts.c.id, accounts.c.margin)
                                          .where(accounts.c.name == account)).one()
        dividend_id = int(conn.execute(insert(tables.dividends).values(
            account_id=account_id, symbol=symbol, gross=amounts[0], tax=amounts[1], fee=amounts[2],
            currency=currency, ex_date=moment - timedelta(days=10), paid_at=moment,
        ).returning(tables.dividends.c.id)).scalar_one())
        CashStore(conn).settle(account_id, currency, [dividend_event(dividend_id, *amounts, moment)],
                               margin=bool(margin))
    return dividend_id


def _two_accounts_ledger(storage: Any) -> None:
    """Two accounts in two currencies (and a margin account) with every kind of event."""
    storage.add_account("ibkr eu", currency="EUR")
    storage.add_account("Margin", margin=True)
    storage.set_symbol("SAP", currency="EUR")
    eu = {"account": "ibkr eu"}

    def trade(side: str, symbol: str, quantity: str, price: str, at: str, commission: str = "0",
              **extra: Any) -> None:
        storage.record_trade(side=side, symbol=symbol, quantity=quantity, price=price, commission=commission,
                             executed_at=at, **extra)

    storage.deposit("10000", at=_when("01-02", 10))
    storage.deposit("2000", at=_when("01-02", 10), **eu)
    trade("buy", "AAPL", "10", "150", _when("01-03"), "1")
    trade("buy", "AAPL", "5", "160", _when("01-04"))
    trade("buy", "FB", "20", "300", _when("01-05"), "2")
    trade("buy", "SAP", "10", "120", _when("01-05"), **eu)
    trade("buy", "SAP", "10", "125", _when("01-08"), "1.5", **eu)  # 451.5 EUR short: an implicit deposit
    trade("buy", "TSLA", "3", "200", _when("01-08"), account="Margin")  # margin cash goes negative
    storage.withdraw("100", at=_when("01-09"))
    storage.record_cash("interest", "3.25", at=_when("01-10"))
    storage.record_cash("fee", "5", at=_when("01-10"), **eu)  # no EUR left: another implicit deposit
    storage.record_cash("tax", "1.25", at=_when("01-11"))
    storage.transfer_cash("1000", from_account="main", to_account="ibkr eu", at=_when("01-12"))
    storage.convert_cash("500", "USD", "EUR", rate="0.9187654321", fee="1.5", at=_when("01-15"), **eu)
    storage.transfer_shares("AAPL", "6", from_account="main", to_account="ibkr eu", at=_when("01-16"))
    storage.record_split("AAPL", "2:1", "2024-02-01")
    storage.record_split("SAP", "1:3", "2024-02-01")  # 10 shares become 3.33333333333333333333
    storage.rename_symbol("FB", "META", "2024-02-05")
    trade("sell", "AAPL", "7", "90", _when("02-10"), "1")
    trade("sell", "AAPL", "10", "95", _when("02-11"), **eu)  # a USD instrument settles in USD
    trade("sell", "META", "5", "400", _when("02-12"), "1")
    trade("sell", "SAP", "2", "370", _when("02-13"), **eu)
    trade("buy", "AAPL", "1", "92", _when("02-13"), **eu)
    # fifo: 1 share of the lot that ibkr eu still holds 2 of (they join it) and 1 of the next lot
    storage.transfer_shares("AAPL", "2", from_account="main", to_account="ibkr eu", at=_when("02-14"))
    _add_dividend(storage, "main", "AAPL", "2.4", "0.36", "0.04", "USD", _when("02-15"))
    _add_dividend(storage, "ibkr eu", "SAP", "30", "7.91", "0", "EUR", _when("02-16"))


@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
def test_accounts_cash_dividends_splits_transfers_and_renames(storage: Any, method: str, tmp_path: Path) -> None:
    storage.config_set("accounting.cost_basis", method)
    _two_accounts_ledger(storage)
    assert storage.check() == []
    text, entries = _check_storage(storage)
    eu = accounts_of("ibkr eu")
    assert eu.cash == "Assets:X-ibkr-20-eu:Cash" and MAIN.cash == "Assets:X-main:Cash"
    assert accounts_of("Margin").cash == "Assets:Margin:Cash"
    options = _load(text)[1]
    assert options["operating_currency"] == ["EUR", "USD"]
    balances = {(b.account, b.currency): b.balance for b in storage.cash_balances()}
    assert balances[("Margin", "USD")] == Decimal(-600)
    assert balances[("ibkr eu", "USD")] > 0 and balances[("ibkr eu", "EUR")] > 0

    transactions = [e for e in entries if isinstance(e, data.Transaction)]

    def postings(narration: str) -> dict[str, list[Any]]:
        found = [t for t in transactions if t.narration.startswith(narration)]
        assert len(found) == 1, (narration, [t.narration for t in transactions])
        by_account: dict[str, list[Any]] = defaultdict(list)
        for posting in found[0].postings:
            by_account[posting.account].append(posting)
        return by_account

    def amounts(narration: str) -> dict[str, list[tuple[Decimal, str]]]:
        return {a: [(p.units.number, p.units.currency) for p in ps] for a, ps in postings(narration).items()}

    D = Decimal
    assert amounts("deposit 10000 USD") == {MAIN.cash: [(D(10000), "USD")],
                                            MAIN.contributions: [(D(-10000), "USD")]}
    assert amounts("withdraw 100 USD") == {MAIN.cash: [(D(-100), "USD")], MAIN.contributions: [(D(100), "USD")]}
    assert amounts("interest 3.25 USD") == {MAIN.cash: [(D("3.25"), "USD")], MAIN.interest: [(D("-3.25"), "USD")]}
    assert amounts("fee 5 EUR") == {eu.cash: [(D(-5), "EUR")], eu.fees: [(D(5), "EUR")]}
    assert amounts("tax 1.25 USD") == {MAIN.cash: [(D("-1.25"), "USD")], MAIN.taxes: [(D("1.25"), "USD")]}
    assert amounts("implicit deposit 451.5 EUR") == {eu.cash: [(D("451.5"), "EUR")],
                                                     eu.contributions: [(D("-451.5"), "EUR")]}
    assert amounts("cash transfer 1000 USD") == {MAIN.cash: [(D(-1000), "USD")], eu.cash: [(D(1000), "USD")]}
    conversion = postings("convert 500 USD to 459.38271605 EUR, fee 1.5 USD")
    sold = conversion[eu.cash][0]
    assert (sold.units.number, sold.units.currency) == (D(-500), "USD")
    assert (sold.price.number, sold.price.currency) == (D("0.9187654321"), "EUR")
    assert sorted((p.units.number, p.units.currency) for p in conversion[eu.cash][1:]) == [
        (D("-1.5"), "USD"), (D("459.38271605"), "EUR")]
    assert [(p.units.number, p.units.currency) for p in conversion[eu.fees]] == [(D("1.5"), "USD")]
    assert amounts("AAPL dividend") == {
        "Income:Dividends:X-main:AAPL": [(D("-2.4"), "USD")], MAIN.withholding: [(D("0.36"), "USD")],
        MAIN.fees: [(D("0.04"), "USD")], MAIN.cash: [(D("2"), "USD")]}
    assert MAIN.withholding == "Expenses:Taxes:X-main:Withholding"
    assert amounts("SAP dividend")[eu.withholding] == [(D("7.91"), "EUR")]

    # The splits: lots re-added in post-split units at their cost, keeping their dates and labels.
    split = postings("split SAP 1:3")
    added = [p for p in split[eu.holding("SAP")] if p.units.number > 0]
    assert sorted((p.units.number, p.cost.date.isoformat()) for p in added) == (
        [(D("6.66666666666666666667"), "2024-01-05")] if method == "average" else
        [(D("3.33333333333333333333"), "2024-01-05"), (D("3.33333333333333333333"), "2024-01-08")])
    assert all(p.cost.currency == "EUR" for p in split[eu.holding("SAP")])
    aapl = postings("split AAPL 2:1")
    assert set(aapl) == {MAIN.holding("AAPL"), eu.holding("AAPL")}
    labels_before = {p.cost.label for p in aapl[MAIN.holding("AAPL")] if p.units.number < 0}
    labels_after = {p.cost.label for p in aapl[MAIN.holding("AAPL")] if p.units.number > 0}
    assert labels_before == labels_after
    # The symbol change: FB's lot goes on as META with its cost and date.
    change = postings("symbol change FB -> META")
    assert [(p.units.number, p.units.currency) for p in change[MAIN.holding("FB")]] == [(D(-20), "FB")]
    (meta_lot,) = change[MAIN.holding("META")]
    assert (meta_lot.units.number, meta_lot.units.currency, meta_lot.cost.date.isoformat()) == (
        D(20), "META", "2024-01-05")
    assert meta_lot.cost.number * 20 == D(6002)
    # The share transfer: nothing realized, the lots keep their cost.
    move = postings("transfer 6 AAPL from main to ibkr eu")
    assert set(move) == {MAIN.holding("AAPL"), eu.holding("AAPL")}
    assert not any(t.narration.startswith("transfer") and any(p.account.startswith("Income:") for p in t.postings)
                   for t in transactions)

    _bean_check(text, tmp_path)


def test_a_split_with_a_repeating_quotient_keeps_the_cost(storage: Any) -> None:
    """10 shares after 2:1 then 1:3 are 6.66666666666666666667; the lot still costs exactly 1000."""
    storage.record_trade(side="buy", symbol="Y", quantity="10", price="100", executed_at=_when("01-10"))
    storage.record_split("Y", "2:1", "2024-02-01")
    storage.record_split("Y", "1:3", "2024-03-01")
    text, entries = _check_storage(storage)
    (position,) = storage.list_positions()
    assert position.quantity == Decimal("6.66666666666666666667") and position.open_cost == Decimal(1000)
    trade_id = storage.list_trades()[0].id
    assert f'6.66666666666666666667 Y {{{{1000 USD, 2024-01-10, "trade-{trade_id}"}}}}' in text
    splits = [e for e in entries if isinstance(e, data.Transaction) and "split-id" in e.meta]
    assert [t.narration for t in splits] == ["split Y 2:1", "split Y 1:3"]
    assert all(not any(p.account.startswith("Income:") for p in t.postings) for t in splits)


def test_a_short_is_split_and_renamed_too(storage: Any) -> None:
    storage.record_trade(side="sell", symbol="OLD", quantity="9", price="10", commission="1",
                         executed_at=_when("01-10"), allow_short=True)
    storage.record_trade(side="sell", symbol="OLD", quantity="1", price="0", commission="2",
                         executed_at=_when("01-11"), allow_short=True)  # a lot at cost 0: parked proceeds
    storage.record_split("OLD", "1:3", "2024-02-01")
    storage.rename_symbol("OLD", "NEW", "2024-02-05")
    storage.record_trade(side="buy", symbol="NEW", quantity="1", price="20", executed_at=_when("02-10"))
    _check_storage(storage)
    storage.record_trade(side="buy", symbol="NEW", quantity="2.3333333333", price="21", executed_at=_when("02-11"))
    _check_storage(storage)


def test_a_split_at_the_moment_of_a_rename_is_booked_as_stocksbot_books_it(storage: Any) -> None:
    """A split of OLD at the very moment of the change applies first (both from the start of
    the day), so NEW takes over the split lots; the export follows (storage/events.py)."""
    storage.record_trade(side="buy", symbol="OLD", quantity="10", price="10", executed_at=_when("01-10"))
    storage.record_split("OLD", "2:1", "2024-02-01")
    storage.rename_symbol("OLD", "NEW", "2024-02-01")
    storage.record_split("NEW", "3:1", "2024-03-01")
    _check_storage(storage)
    assert [(p.symbol, p.quantity) for p in storage.list_positions()] == [("NEW", Decimal(60))]


def test_every_account_name_gives_a_valid_reversible_part(storage: Any) -> None:
    names = ["main", "Main", "X-main", "x", "X", "X-", "IBKR", "roth ira", "Roth-IRA", "Société Générale",
             "日本口座", "€uro", "_x", "-", "0", "9 lives", "a-20-", "x-2D-", "X-2D-"]
    for name in names[1:]:
        storage.add_account(name)
    for n, name in enumerate(names):
        storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="10", executed_at=_at(n), account=name)
    storage.transfer_cash("1", from_account="roth ira", to_account="Société Générale", at=_at(len(names)))
    _, entries = _check_storage(storage)
    opened = {e.account for e in entries if isinstance(e, data.Open)}
    assert {accounts_of(name).cash for name in names} <= opened
    assert len({account_part(name) for name in names}) == len(names)


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
                  f"2024-01-01 open Assets:X-main:{parts[symbol]} {names[symbol]}"]
    entries, _ = _load("\n".join(lines) + "\n")
    read = {e.meta["symbol"]: e.currency for e in entries if isinstance(e, data.Commodity)}
    assert read == names
    opened = {e.account: e.currencies for e in entries if isinstance(e, data.Open)}
    assert opened == {f"Assets:X-main:{parts[s]}": [names[s]] for s in symbols}

    assert names["EUR/USD"] == "X'EUR'SUSD" and names["TRUE"] == "X'TRUE"
    assert names["A"] == "A" and commodity_name("BRK.B") == "BRK.B" and commodity_name("3M") == "X'3M"
    assert account_component("BRK.B") == "BRKdB"
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


def test_account_parts() -> None:
    assert account_part("main") == "X-main"
    assert account_part("IBKR") == "IBKR"
    assert account_part("Roth IRA") == "Roth-20-IRA"
    assert account_part("roth-ira") == "X-roth-2D-ira"
    assert account_part("Société") == "Soci-E9-t-E9-"
    assert account_part("_x") == "X--5F-x"
    assert account_part("X_x") == "X-5F-x"


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=64)
                      .filter(str.isprintable), min_size=1, max_size=8, unique=True))
def test_account_parts_are_unique_reversible_and_valid(names: list[str]) -> None:
    parts = [account_part(name) for name in names]
    assert [account_name(part) for part in parts] == names
    assert len(set(parts)) == len(names)
    entries, _ = _load("".join(f"2024-01-01 open Assets:{part}:Cash\n" for part in parts))
    assert [e.account for e in entries] == [f"Assets:{part}:Cash" for part in parts]


_TRADE = st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["AAPL", "EUR/USD"]),
    st.sampled_from([Decimal("1"), Decimal("3"), Decimal("0.7"), Decimal("0.0000000001"), Decimal("12.5")]),
    st.sampled_from([Decimal("0"), Decimal("1.5"), Decimal("99.99"), Decimal("0.0000000003")]),
    st.sampled_from([Decimal("0"), Decimal("1"), Decimal("0.33")]),
)


def _trade_record(n: int, side: str, symbol: str, quantity: Decimal, price: Decimal, commission: Decimal,
                  at: datetime, realized: Decimal | None, account: str = "main") -> TradeRecord:
    return TradeRecord(
        id=n, side=side, symbol=symbol, quantity=quantity, price=price, commission=commission, fees=ZERO,
        executed_at=at, realized_pnl=realized, order_id=None, strategy=None, external_id=None, note=None,
        account=account, currency="USD",
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
        trades.append(_trade_record(n, side, symbol, quantity, price, commission, at, booking.realized_pnl))
    buf = io.StringIO()
    assert write_beancount(iter(trades), buf, method=method) == len(trades)
    positions = {("main", s): (b.signed_quantity, b.open_amount) for s, b in books.items() if not b.is_flat}
    _check(buf.getvalue(), trades, positions)


_EVENT = st.one_of(
    st.tuples(st.just("trade"), _TRADE, st.sampled_from(["main", "IRA"])),
    st.tuples(st.just("split"), st.sampled_from(["AAPL", "EUR/USD"]), st.sampled_from([(2, 1), (1, 3), (3, 2)])),
    st.tuples(st.just("transfer"), st.sampled_from(["AAPL", "EUR/USD"]), st.sampled_from(["main", "IRA"]),
              st.sampled_from([Decimal("1"), Decimal("0.5")])),
)


@settings(max_examples=60, deadline=None)
@given(method=st.sampled_from(["fifo", "lifo", "average"]), events=st.lists(_EVENT, min_size=1, max_size=16))
def test_random_ledgers_with_splits_and_transfers(method: str, events: list[tuple[Any, ...]]) -> None:
    """Trades in two accounts, splits and share transfers, booked with the ledger's own Book (as
    `storage/booking.py` does); the export must load and hold exactly the books' lots."""
    books: dict[tuple[str, str], Book] = {}
    trades: list[TradeRecord] = []
    stream: list[Any] = []
    start = datetime(2024, 3, 1, 22, tzinfo=timezone.utc)
    for n, event in enumerate(events, 1):
        at = start + timedelta(hours=7 * n)
        if event[0] == "trade":
            (side, symbol, quantity, price, commission), account = event[1], event[2]
            book = books.setdefault((account, symbol), Book(symbol, method))
            booking = book.apply(Fill(side, quantity, price, commission, ZERO, at, n), allow_short=True)
            trades.append(_trade_record(n, side, symbol, quantity, price, commission, at, booking.realized_pnl,
                                        account))
            stream.append(trades[-1])
        elif event[0] == "split":
            symbol, (numerator, denominator) = event[1], event[2]
            for (_account, held), book in books.items():
                if held == symbol:
                    book.split(numerator, denominator, at)
            stream.append(SplitRecord(id=n, symbol=symbol, numerator=numerator, denominator=denominator, at=at,
                                      cash_in_lieu=None))
        else:
            symbol, source, share = event[1], event[2], event[3]
            target = "IRA" if source == "main" else "main"
            book = books.get((source, symbol))
            if book is None or book.side != "long" or (books.get((target, symbol)) or Book(symbol, method)).side \
                    == "short":
                continue
            quantity = book.quantity if share == 1 else Decimal("0.5") if book.quantity > Decimal("0.5") else \
                book.quantity
            lots, _run = book.transfer_out(quantity, at)
            books.setdefault((target, symbol), Book(symbol, method)).transfer_in(lots, at)
            stream.append(TransferRecord(id=n, symbol=symbol, quantity=quantity, from_account=source,
                                         to_account=target, at=at, note=None))
    buf = io.StringIO()
    assert write_beancount(iter(stream), buf, method=method) == len(trades)
    positions = {key: (b.signed_quantity, b.open_amount) for key, b in books.items() if not b.is_flat}
    _check(buf.getvalue(), trades, positions)
