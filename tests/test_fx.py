"""Instruments and currencies (docs/ledger.md §15), on both backends: exchange rates, symbols,
valuation in the instrument currency, and totals converted to the reporting currency."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, insert, select

from stocksbot.errors import StocksbotError
from stocksbot.services import fx, valuation
from stocksbot.services.symbols import isin_check_digit_ok, parse_isin
from stocksbot.storage import tables

D = Decimal
NOW = datetime.now(timezone.utc)
FUTURE = (NOW + timedelta(days=30)).isoformat()


def _account(storage, name: str, currency: str) -> None:  # type: ignore[no-untyped-def]
    storage.add_account(name, currency=currency)


def _account_id(storage, name: str) -> int:  # type: ignore[no-untyped-def]
    with storage.reading() as conn:
        return int(conn.execute(select(tables.accounts.c.id).where(tables.accounts.c.name == name)).scalar_one())


def _cash(storage, account: str, currency: str, balance: str) -> None:  # type: ignore[no-untyped-def]
    """Set a cash balance as booking would keep it (the summary reads the projection as it is)."""
    account_id = _account_id(storage, account)
    table = tables.cash_balances
    with storage.transaction() as conn:
        conn.execute(delete(table).where(table.c.account_id == account_id, table.c.currency == currency))
        conn.execute(insert(table).values(account_id=account_id, currency=currency, balance=D(balance), last_at=NOW))


def _dividend(storage, account: str, symbol: str, gross: str, tax: str, fee: str, currency: str) -> None:  # type: ignore[no-untyped-def]
    with storage.transaction() as conn:
        conn.execute(insert(tables.dividends).values(
            account_id=_account_id(storage, account), symbol=symbol, gross=D(gross), tax=D(tax), fee=D(fee),
            currency=currency, ex_date=NOW, paid_at=NOW,
        ))


def _interest(storage, account: str, amount: str, currency: str) -> None:  # type: ignore[no-untyped-def]
    with storage.transaction() as conn:
        conn.execute(insert(tables.cash_movements).values(
            account_id=_account_id(storage, account), kind="interest", amount=D(amount), currency=currency, at=NOW,
        ))


def _rates(storage) -> None:  # type: ignore[no-untyped-def]
    """EUR/USD: 1.1 early in 2024, 1.25 from June (the latest), and a future bar that must not count."""
    storage.add_price("EUR/USD", "1.1", at="2024-01-01")
    storage.add_price("EUR/USD", "1.25", at="2024-06-01")
    storage.add_price("EUR/USD", "9.9", at=FUTURE)


# -- rates --------------------------------------------------------------------------------------


def test_rates_direct_inverse_latest_and_missing(storage) -> None:
    _rates(storage)
    storage.add_price("USD/JPY", "150", at="2024-01-01")
    storage.add_price("CHF/USD", "0", at="2024-01-01")  # a zero close is no rate
    with storage.reading() as conn:
        rates = fx.Rates(conn)
        assert rates.rate("EUR", "EUR", NOW) == 1
        assert rates.rate("EUR", "USD", NOW) == D("1.25")  # the latest bar at or before now
        assert rates.rate("EUR", "USD", datetime(2024, 3, 1, tzinfo=timezone.utc)) == D("1.1")
        assert rates.rate("EUR", "USD", datetime(2023, 12, 1, tzinfo=timezone.utc)) is None  # nothing that early
        assert rates.rate("USD", "EUR", NOW) == D("0.8")  # the inverse of EUR/USD, exact
        assert rates.rate("JPY", "USD", NOW) == D("0.00666666666666666667")  # 1/150, 20 places
        assert rates.rate("CHF", "USD", NOW) is None and rates.rate("USD", "CHF", NOW) is None
        assert rates.rate("GBP", "USD", NOW) is None
        assert rates.convert(D("100"), "EUR", "USD", NOW) == D("125")
        assert rates.convert(D("100"), "USD", "EUR", NOW) == D("80")
        assert rates.convert(D("10"), "GBP", "USD", NOW) is None  # unknown, never 0
        assert rates.convert(D("0"), "GBP", "USD", NOW) == 0  # zero needs no rate
        assert rates.convert(None, "EUR", "USD", NOW) is None
        assert list(rates.missing) == ["GBP/USD"]
        assert isinstance(rates.convert(D("100"), "EUR", "USD", NOW), Decimal)


def test_rates_probe_each_pair_once(storage) -> None:
    _rates(storage)
    with storage.reading() as conn:
        rates = fx.Rates(conn)
        statements: list[str] = []
        from sqlalchemy import event

        def count(*args: object) -> None:
            if "price_bars" in str(args[2]):
                statements.append(str(args[2]))

        event.listen(conn, "before_cursor_execute", count)
        try:
            for _ in range(5):
                rates.convert(D("1"), "USD", "EUR", NOW)  # USD/EUR probed (none), then EUR/USD
                rates.convert(D("1"), "EUR", "USD", NOW)  # EUR/USD already known
        finally:
            event.remove(conn, "before_cursor_execute", count)
        assert len(statements) == 2


def test_reporting_currency_setting_else_main(storage) -> None:
    with storage.reading() as conn:
        assert fx.reporting_currency(conn) == ("USD", False)
    storage.config_set("reporting.currency", "EUR")
    with storage.reading() as conn:
        assert fx.reporting_currency(conn) == ("EUR", True)


# -- symbols ------------------------------------------------------------------------------------


@pytest.mark.parametrize("isin", ["US0378331005", "DE0007164600", "NL0010273215", "GB0002634946", "AU0000XVGZA3"])
def test_valid_isins(isin: str) -> None:
    assert isin_check_digit_ok(isin) and parse_isin(isin.lower()) == isin


@pytest.mark.parametrize("isin", ["US0378331006", "US037833100", "US03783310055", "1S0378331005", "US03783310X5",
                                  "US-378331005"])
def test_invalid_isins(isin: str) -> None:
    with pytest.raises(StocksbotError, match="invalid ISIN"):
        parse_isin(isin)


def test_symbol_set_list_show(storage) -> None:
    sap = storage.set_symbol("sap", currency="eur", name="SAP SE", isin="DE0007164600")
    assert (sap.symbol, sap.currency, sap.name, sap.isin) == ("SAP", "EUR", "SAP SE", "DE0007164600")
    assert storage.set_symbol("SAP", name="SAP").name == "SAP"  # options left out keep what is stored
    assert storage.get_symbol("SAP").isin == "DE0007164600"
    assert storage.set_symbol("SAP", isin="").isin is None  # empty clears
    assert storage.set_symbol("NEW").currency == "USD"  # no --currency: the default account's
    assert [s.symbol for s in storage.list_symbols()] == ["NEW", "SAP"]
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="1")
    assert storage.get_symbol("AAPL").currency == "USD"  # a first trade makes the instrument
    assert storage.set_symbol("AAPL", currency="USD", name="Apple").name == "Apple"  # same currency: fine
    with pytest.raises(StocksbotError, match="cannot change the currency of AAPL from USD to EUR"):
        storage.set_symbol("AAPL", currency="EUR")
    storage.set_symbol("NEW", isin="US0378331005")
    with pytest.raises(StocksbotError, match="already belongs to NEW"):
        storage.set_symbol("AAPL", isin="US0378331005")
    with pytest.raises(StocksbotError, match="unknown symbol 'NOPE'"):
        storage.get_symbol("nope")


def test_symbol_currency_before_the_first_trade(storage) -> None:
    """A symbol set to EUR before its first trade settles in EUR in a USD account."""
    storage.set_symbol("SAP", currency="EUR")
    trade = storage.record_trade(side="buy", symbol="SAP", quantity="10", price="100", commission="1")
    assert (trade.account, trade.currency) == ("main", "EUR")
    assert [t.currency for t in storage.list_trades()] == ["EUR"]


# -- valuation ----------------------------------------------------------------------------------


def test_eur_stock_in_a_usd_account(storage) -> None:
    storage.set_symbol("SAP", currency="EUR")
    storage.record_trade(side="buy", symbol="SAP", quantity="10", price="100", commission="1", executed_at="2024-01-02")
    storage.record_trade(side="buy", symbol="AAPL", quantity="2", price="100", executed_at="2024-01-02")
    storage.add_price("SAP", "120", at="2024-01-03")
    storage.add_price("AAPL", "110", at="2024-01-03")
    listing = storage.position_listing()
    sap = next(p for p in listing.positions if p.symbol == "SAP")
    assert (sap.currency, sap.market_value, sap.unrealized_pnl) == ("EUR", D("1200"), D("199"))
    assert (sap.reporting_currency, sap.converted_market_value, sap.converted_unrealized_pnl) == ("USD", None, None)
    assert listing.converted and listing.converted_market_value is None and listing.missing_rates == ["EUR/USD"]
    _rates(storage)
    listing = storage.position_listing()
    sap, aapl = sorted(listing.positions, key=lambda p: p.symbol != "SAP")
    assert (sap.market_value, sap.converted_market_value, sap.converted_unrealized_pnl) == (D("1200"), D("1500"),
                                                                                          D("248.75"))
    assert (aapl.currency, aapl.converted_market_value, aapl.converted_unrealized_pnl) == ("USD", D("220"), D("20"))
    assert (listing.converted_market_value, listing.converted_unrealized_pnl) == (D("1720"), D("268.75"))
    assert listing.missing_rates == []
    shown = storage.show_position("SAP").position
    assert (shown.currency, shown.converted_market_value, shown.reporting_currency) == ("EUR", D("1500"), "USD")


def test_single_currency_is_not_converted(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="2", price="100")
    listing = storage.position_listing()
    assert not listing.converted and listing.converted_market_value is None  # no price yet
    [aapl] = listing.positions
    assert (aapl.currency, aapl.reporting_currency) == ("USD", "USD")
    storage.config_set("reporting.currency", "USD")
    assert storage.position_listing().converted  # the setting asks for converted figures


def _two_accounts(storage) -> None:  # type: ignore[no-untyped-def]
    """main (USD): AAPL 2 @ 100 (USD, at 110), SAP 10 @ 100 (EUR, at 120); eu (EUR): ASML 5 @ 600 (EUR,
    at 700); cash main 1000 USD + 50 EUR, eu 200 EUR; income main 3 USD interest, eu ASML dividend
    10 gross - 1.5 tax - 0.5 fee = 8 EUR. EUR/USD is 1.25."""
    _account(storage, "eu", "EUR")
    storage.set_symbol("SAP", currency="EUR")
    storage.record_trade(side="buy", symbol="AAPL", quantity="2", price="100", executed_at="2024-01-02")
    storage.record_trade(side="buy", symbol="SAP", quantity="10", price="100", executed_at="2024-01-02")
    storage.record_trade(side="buy", symbol="ASML", quantity="5", price="600", executed_at="2024-01-02", account="eu")
    for symbol, price in (("AAPL", "110"), ("SAP", "120"), ("ASML", "700")):
        storage.add_price(symbol, price, at="2024-01-03")
    _rates(storage)
    _cash(storage, "main", "USD", "1000")
    _cash(storage, "main", "EUR", "50")
    _cash(storage, "eu", "EUR", "200")
    _interest(storage, "main", "3", "USD")
    _dividend(storage, "eu", "ASML", "10", "1.5", "0.5", "EUR")


def test_summary_in_the_reporting_currency_per_account(storage) -> None:
    _two_accounts(storage)
    assert storage.get_symbol("ASML").currency == "EUR"  # its first trade was in the EUR account
    summary = storage.summary()
    assert summary.reporting_currency == "USD" and summary.missing_rates == []
    total = summary.total
    assert (total.open_positions, total.cost, total.market_value, total.unrealized_pnl) == (
        3, D("5200"), D("6095"), D("895"))
    assert (summary.cash, summary.cash_value, summary.income, summary.total_value) == (
        {"EUR": D("250"), "USD": D("1000")}, D("1312.5"), D("13"), D("7407.5"))
    main, eu = summary.by_account
    assert (main.account, main.currency, main.open_positions, main.cash) == ("main", "USD", 2,
                                                                             {"EUR": D("50"), "USD": D("1000")})
    assert (main.cash_value, main.market_value, main.income, main.total_value) == (D("1062.5"), D("1720"), D("3"),
                                                                                    D("2782.5"))
    assert (eu.account, eu.currency, eu.open_positions, eu.cash) == ("eu", "EUR", 1, {"EUR": D("200")})
    assert (eu.cash_value, eu.market_value, eu.income, eu.total_value) == (D("250"), D("4375"), D("10"), D("4625"))


def test_summary_with_reporting_currency_set(storage) -> None:
    _two_accounts(storage)
    storage.config_set("reporting.currency", "EUR")
    summary = storage.summary()
    assert summary.reporting_currency == "EUR"
    assert (summary.total.market_value, summary.cash_value, summary.income, summary.total_value) == (
        D("4876"), D("1050"), D("10.4"), D("5926"))  # USD at the inverse of EUR/USD: 0.8
    main, eu = summary.by_account
    assert (main.market_value, main.cash_value, main.income, main.total_value) == (D("1376"), D("850"), D("2.4"),
                                                                                    D("2226"))
    assert (eu.market_value, eu.cash_value, eu.income, eu.total_value) == (D("3500"), D("200"), D("8"), D("3700"))


def test_summary_missing_rate_is_unknown_not_zero(storage) -> None:
    _two_accounts(storage)
    storage.set_symbol("VOD", currency="GBP")
    storage.record_trade(side="buy", symbol="VOD", quantity="10", price="1", executed_at="2024-01-02")
    storage.add_price("VOD", "2", at="2024-01-03")
    summary = storage.summary()
    assert summary.missing_rates == ["GBP/USD"]
    assert (summary.total.cost, summary.total.market_value, summary.total_value) == (None, None, None)
    main, eu = summary.by_account
    assert (main.market_value, main.total_value, main.cash_value) == (None, None, D("1062.5"))
    assert (eu.market_value, eu.total_value) == (D("4375"), D("4625"))
    storage.add_price("USD/GBP", "0.8", at="2024-01-01")  # only the inverse pair exists
    summary = storage.summary()
    assert summary.missing_rates == [] and summary.total.market_value == D("6120")  # + 20 GBP = 25 USD


def test_summary_realized_in_another_currency(storage) -> None:
    storage.set_symbol("BMW", currency="EUR")
    storage.set_symbol("SAP", currency="EUR")
    for side, symbol, quantity, price, commission in (
        ("buy", "AAPL", "1", "100", "0"), ("sell", "AAPL", "1", "110", "0"),  # closed: 10 USD
        ("buy", "BMW", "1", "50", "1"), ("sell", "BMW", "1", "150", "0"),  # closed: 99 EUR, costs 1 EUR
        ("buy", "SAP", "10", "100", "0"), ("sell", "SAP", "4", "130", "0"),  # open: 120 EUR so far
    ):
        storage.record_trade(side=side, symbol=symbol, quantity=quantity, price=price, commission=commission,
                             executed_at="2024-01-02")
    _rates(storage)
    total = storage.summary().total
    assert (total.realized_pnl, total.costs) == (D("283.75"), D("1.25"))
    storage.config_set("reporting.currency", "EUR")
    total = storage.summary().total
    assert (total.realized_pnl, total.costs) == (D("227"), D("1"))  # 10 USD = 8 EUR


def test_market_values_by_account(storage) -> None:
    _two_accounts(storage)
    _account(storage, "empty", "CHF")
    storage.record_trade(side="buy", symbol="MSFT", quantity="1", price="250", executed_at="2024-01-02")
    storage.record_trade(side="buy", symbol="MSFT", quantity="1", price="250", executed_at="2024-01-02", account="eu")
    storage.add_price("MSFT", "300", at="2024-01-03")
    ids = {name: _account_id(storage, name) for name in ("main", "eu", "empty")}
    with storage.reading() as conn:
        values = valuation.market_values_by_account(conn, NOW)
        assert values[ids["main"]] == (D("2020"), 3)  # 220 + 300 USD + 1200 EUR at 1.25
        assert values[ids["eu"]] == (D("3740"), 2)  # 3500 EUR + 300 USD at 1 / 1.25
        assert values[ids["empty"]] == (D("0"), 0)
        then = valuation.market_values_by_account(conn, datetime(2024, 3, 1, tzinfo=timezone.utc))
        assert then[ids["main"]] == (D("1840"), 3)  # EUR/USD was 1.1 then
        early = valuation.market_values_by_account(conn, datetime(2023, 12, 31, tzinfo=timezone.utc))
        assert early[ids["main"]] == (None, 3)  # no price yet


# -- the command line ---------------------------------------------------------------------------


def test_position_list_and_summary_commands(storage, run, data) -> None:
    _two_accounts(storage)
    positions = data("position", "list")
    sap = next(p for p in positions if p["symbol"] == "SAP")
    assert {k: sap[k] for k in ("currency", "market_value", "reporting_currency", "converted_market_value",
                                "converted_unrealized_pnl", "account")} == {
        "currency": "EUR", "market_value": "1200", "reporting_currency": "USD", "converted_market_value": "1500",
        "converted_unrealized_pnl": "250", "account": "main"}
    table = run("position", "list").output
    header, rule, *rows = table.splitlines()
    assert "ccy" in header and "value USD" in header and "unrealized USD" in header
    assert rows[-1].startswith("total") and "6095" in rows[-1]
    summary = data("summary")
    assert {k: summary[k] for k in ("reporting_currency", "market_value", "cash", "cash_value", "income",
                                    "total_value", "missing_rates")} == {
        "reporting_currency": "USD", "market_value": "6095", "cash": {"EUR": "250", "USD": "1000"},
        "cash_value": "1312.5", "income": "13", "total_value": "7407.5", "missing_rates": []}
    assert [a["account"] for a in summary["by_account"]] == ["main", "eu"]
    assert summary["by_account"][1] == {"account": "eu", "currency": "EUR", "open_positions": 1,
                                        "cash": {"EUR": "200"}, "cash_value": "250", "market_value": "4375",
                                        "income": "10", "total_value": "4625"}
    text = run("summary").output
    assert "by account, in USD" in text and "250.00 EUR, 1000.00 USD" in text and "7407.50" in text
    full = run("--full", "summary").output
    assert "250 EUR, 1000 USD" in full and "7407.5\n" in full


def test_unknown_rate_on_the_command_line(storage, run, data) -> None:
    storage.set_symbol("SAP", currency="EUR")
    storage.record_trade(side="buy", symbol="SAP", quantity="1", price="100")
    storage.add_price("SAP", "120", at="2024-01-03")
    [sap] = data("position", "list")
    assert (sap["market_value"], sap["converted_market_value"]) == ("120", None)
    summary = data("summary")
    assert (summary["market_value"], summary["total_value"], summary["missing_rates"]) == (None, None, ["EUR/USD"])
    result = run("summary")
    assert result.exit_code == 0 and "no exchange rate for EUR/USD" in result.output


def test_single_currency_table_has_no_converted_columns(storage, run) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="100")
    header = run("position", "list").output.splitlines()[0]
    assert "ccy" in header and "USD" not in header
    assert run("config", "set", "reporting.currency", "USD").exit_code == 0
    assert "value USD" in run("position", "list").output.splitlines()[0]


def test_symbol_commands(run, data) -> None:
    result = run("symbol", "set", "asml", "--currency", "eur", "--name", "ASML Holding", "--isin", "nl0010273215")
    assert (result.exit_code, result.output) == (0, "set ASML: EUR, ASML Holding, NL0010273215\n")
    assert data("symbol", "list") == [{"symbol": "ASML", "currency": "EUR", "name": "ASML Holding",
                                       "isin": "NL0010273215"}]
    assert data("symbol", "show", "ASML")["currency"] == "EUR"
    assert "NL0010273215" in run("symbol", "show", "ASML").output
    assert run("symbol").output == run("symbol", "list").output
    assert run("trade", "add", "buy", "ASML", "1", "--price", "600").exit_code == 0
    assert data("trade", "list")[0]["currency"] == "EUR"


@pytest.mark.parametrize(("args", "message"), [
    (("symbol", "set", "X", "--currency", "EURO"), "Error: invalid currency 'EURO': use a three-letter ISO 4217 code"),
    (("symbol", "set", "X", "--currency", "E1"), "Error: invalid currency 'E1'"),
    (("symbol", "set", "X", "--isin", "US0378331006"), "Error: invalid ISIN 'US0378331006': its check digit"),
    (("symbol", "set", "X", "--isin", "US03783310"), "Error: invalid ISIN 'US03783310': use 12 characters"),
    (("symbol", "set", "AAPL", "--currency", "EUR"),
     "Error: cannot change the currency of AAPL from USD to EUR: its trades settled in USD"),
    (("symbol", "set", "X", "--isin", "US0378331005"), "Error: ISIN US0378331005 already belongs to AAPL"),
    (("symbol", "set", "X", "--name", "a\tb"), "Error: invalid name"),
    (("symbol", "set", "bad symbol"), "Error: invalid symbol 'bad symbol'"),
    (("symbol", "show", "NOPE"), "Error: unknown symbol 'NOPE'"),
])
def test_symbol_refusals(storage, run, args: tuple[str, ...], message: str) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="1")
    storage.set_symbol("AAPL", isin="US0378331005")

    def snapshot() -> list[tuple[object, ...]]:
        with storage.reading() as conn:
            return [tuple(row) for row in conn.execute(select(tables.instruments).order_by(tables.instruments.c.symbol))]

    before = snapshot()
    result = run(*args)
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    assert snapshot() == before
    with storage.reading() as conn:
        assert conn.execute(select(func.count()).select_from(tables.trades)).scalar() == 1


def test_json_shapes_add_keys(storage, data) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="1", price="1")
    [position] = data("position", "list")
    assert {"reporting_currency", "converted_market_value", "converted_unrealized_pnl", "currency"} <= set(position)
    summary = data("summary")
    assert {"open_positions", "cost", "market_value", "realized_pnl", "unrealized_pnl", "costs", "by_strategy",
            "unpriced_symbols", "reporting_currency", "cash", "cash_value", "income", "total_value", "by_account",
            "missing_rates"} <= set(summary)
    json.dumps(summary)
