"""The IBKR Flex Query CSV parser (`--from ibkr`): detection, every row of the fixtures, bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stocksbot.importers.entries import (
    CashEntry,
    ConversionEntry,
    DividendEntry,
    ParseOptions,
    Problem,
    RateEntry,
    Skipped,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.ibkr_flex import FORMAT

from .ibkr_support import OTHER_HEADERS, by_line, day, fixture, other_fixture_heads, parse, utc

TRADES_HEADER = ('"Buy/Sell","TradeDate","ISIN","Quantity","TradePrice","TradeMoney","CurrencyPrimary","IBCommission",'
                 '"IBCommissionCurrency"\n')


@pytest.mark.parametrize("name", ["trades.csv", "cash.csv", "statement.csv"])
def test_detects_its_own_files(name: str) -> None:
    assert FORMAT.detect(fixture("ibkr", name)[:4096])


@pytest.mark.parametrize("name", sorted(OTHER_HEADERS))
def test_does_not_claim_other_formats(name: str) -> None:
    assert not FORMAT.detect(OTHER_HEADERS[name])


def test_does_not_claim_other_fixture_files() -> None:
    heads = other_fixture_heads({"ibkr"})
    assert any(name.startswith("ibkr-activity/") for name, _ in heads)  # at least the other IBKR formats
    assert [name for name, head in heads if FORMAT.detect(head)] == []


def test_trades_file_with_isin_only_and_forex_rows() -> None:
    """The Trades export without Symbol and TradeID: the ISIN is the symbol; a row without ISIN is a
    CHF.USD conversion (its pair from the commission currency); no newline after the last row."""
    items = parse(FORMAT, fixture("ibkr", "trades.csv"))
    assert items == [
        TradeEntry(line=2, at=day("2023-03-15"), side="buy", symbol="IE00B3RBWM25", quantity=Decimal("20"),
                   price=Decimal("101.25"), commission=Decimal("1"), currency="USD", isin="IE00B3RBWM25"),
        TradeEntry(line=3, at=day("2023-01-12"), side="buy", symbol="CH0012032048", quantity=Decimal("3"),
                   price=Decimal("250.4"), commission=Decimal("5"), currency="CHF", isin="CH0012032048"),
        TradeEntry(line=4, at=day("2023-06-01"), side="sell", symbol="IE00B3RBWM25", quantity=Decimal("5"),
                   price=Decimal("110.5"), commission=Decimal("1.0125"), currency="USD", isin="IE00B3RBWM25"),
        RateEntry(line=5, at=day("2023-01-10"), base="CHF", quote="USD", rate=Decimal("1.0815")),
        # SELL 2000 CHF at 1.0815: 2163 USD bought (the TradeMoney), the CHF commission its fee.
        ConversionEntry(line=5, at=day("2023-01-10"), sold=Decimal("2000"), sold_currency="CHF",
                        bought=Decimal("2163"), bought_currency="USD", fee=Decimal("1.85"), fee_currency="CHF",
                        note="IBKR sell CHF.USD 2000 @ 1.0815"),
        TradeEntry(line=6, at=day("2023-09-20"), side="buy", symbol="IE00B3RBWM25", quantity=Decimal("2"),
                   price=Decimal("99.9"), commission=Decimal("0.5"), currency="USD", isin="IE00B3RBWM25"),
    ]


def test_cash_transactions_file() -> None:
    items = parse(FORMAT, fixture("ibkr", "cash.csv"))
    found = by_line(items)
    assert sorted(found) == list(range(2, 10))
    [dividend] = found[2]
    assert dividend == DividendEntry(
        line=2, paid_at=day("2023-06-28"), symbol="IE00B3RBWM25", gross=Decimal("7"), currency="USD",
        isin="IE00B3RBWM25", note="VWRA(IE00B3RBWM25) CASH DIVIDEND USD 0.35 PER SHARE (Ordinary Dividend)")
    assert found[3] == [TaxEntry(line=3, at=day("2023-06-28"), symbol="IE00B3RBWM25", amount=Decimal("1.05"),
                                 currency="USD", isin="IE00B3RBWM25",
                                 note="VWRA(IE00B3RBWM25) CASH DIVIDEND USD 0.35 PER SHARE - IE TAX")]
    # A description with a contract id instead of the ISIN: the ISIN column still names the security.
    [tax] = found[4]
    assert isinstance(tax, TaxEntry) and (tax.symbol, tax.amount, tax.currency) == ("CH0012032048", Decimal("9.98"), "CHF")
    [ordinary], [capital] = found[5], found[6]
    assert isinstance(ordinary, DividendEntry) and ordinary.gross == Decimal("28.5")
    assert isinstance(capital, DividendEntry) and capital.gross == Decimal("0.3") and "Return of Capital" in (capital.note or "")
    [in_lieu] = found[7]
    assert isinstance(in_lieu, DividendEntry)
    assert (in_lieu.symbol, in_lieu.gross, in_lieu.currency) == ("JP3633400001", Decimal("1200"), "JPY")
    [refund] = found[8]
    assert isinstance(refund, TaxEntry) and refund.refund and refund.amount == Decimal("0.25")
    assert found[9] == [Unknown(9, "Type 'Bond Coupons'")]


def test_statement_with_sections_markers_and_levels_of_detail() -> None:
    text = fixture("ibkr", "statement.csv")
    items = parse(FORMAT, text)
    found = by_line(items)
    headers = {4, 17, 30}
    # Every line but the section headers is accounted for.
    assert set(found) | headers == set(range(1, text.count("\n") + 1))
    assert found[1] == [Skipped(1, "Flex BOF marker row (not a record)")]
    assert found[5] == [TradeEntry(line=5, at=utc(2024, 2, 12, 15, 15), side="buy", symbol="MSFT", quantity=Decimal("10"),
                                   price=Decimal("405.1"), commission=Decimal("1"), currency="USD", key="ibkr:5001",
                                   isin="US5949181045")]
    assert found[6] == [Skipped(6, "ORDER row: the total of its EXECUTION rows")]
    # Thousands comma in the quantity; New York 05:00 is 10:00 UTC in winter; Taxes are fees.
    [vod] = found[7]
    assert isinstance(vod, TradeEntry)
    assert (vod.quantity, vod.price, vod.fees, vod.at, vod.currency) == (
        Decimal("1000"), Decimal("0.7012"), Decimal("3.51"), utc(2024, 3, 5, 10, 0), "GBP")
    [sell] = found[8]
    assert isinstance(sell, TradeEntry)
    assert (sell.side, sell.quantity, sell.commission, sell.fees, sell.at) == (
        "sell", Decimal("4"), Decimal("1.0008"), Decimal("0.02"), utc(2024, 8, 20, 19, 30))
    assert found[9] == [Skipped(9, "CLOSED_LOT row: a lot its sale closed, not a trade")]
    assert found[10] == [
        RateEntry(10, utc(2024, 3, 1, 14, 0), "GBP", "USD", Decimal("1.2625")),
        # BUY 1000 GBP.USD at 1.2625: 1000 GBP bought for 1262.5 USD, plus the 2 USD commission.
        ConversionEntry(10, utc(2024, 3, 1, 14, 0), Decimal("1262.5"), "USD", Decimal("1000"), "GBP",
                        fee=Decimal("2"), fee_currency="USD", key="ibkr:5004", note="IBKR buy GBP.USD 1000 @ 1.2625"),
    ]
    assert found[11] == [Skipped(11, "trade cancelled by line 12")]
    assert found[12] == [Skipped(12, "cancels the trade of line 11")]
    assert found[13] == [Unknown(13, "Buy/Sell 'HOLD'")]
    assert found[15] == [Skipped(15, "blank line")]
    assert found[18] == [CashEntry(18, day("2024-02-01"), "deposit", Decimal("10000"), "USD", key="ibkr:7001",
                                   note="CASH RECEIPTS / ELECTRONIC FUND TRANSFERS")]
    [dividend] = found[19]
    assert isinstance(dividend, DividendEntry)
    assert (dividend.gross, dividend.key, dividend.paid_at, dividend.ex_date) == (
        Decimal("4.5"), "ibkr:7002", utc(2024, 6, 14, 0, 20), day("2024-05-15"))
    assert found[20] == [Skipped(20, "SUMMARY row: the total of its DETAIL rows")]
    [tax] = found[21]
    assert isinstance(tax, TaxEntry) and (tax.symbol, tax.amount, tax.key) == ("MSFT", Decimal("0.68"), "ibkr:7003")
    kinds = {line: [(item.kind, item.amount) for item in found[line] if isinstance(item, CashEntry)] for line in range(22, 27)}
    assert kinds == {22: [("interest", Decimal("12.34"))], 23: [("fee", Decimal("0.5"))], 24: [("tax", Decimal("2.47"))],
                     25: [("fee", Decimal("1.5"))], 26: [("withdraw", Decimal("250"))]}
    assert found[27] == [Unknown(27, "Dividends (a reversal of a dividend not in this file)")]
    assert found[31] == [RateEntry(31, day("2024-03-01"), "GBP", "USD", Decimal("1.26305"))]
    assert found[32] == [Skipped(32, "rate of USD to itself")]
    assert found[35] == [Skipped(35, "header of a Flex section stocksbot does not import")]
    assert found[36] == [Skipped(36, "row of a Flex section stocksbot does not import")]
    assert not [item for item in items if isinstance(item, Problem)]


def test_reversed_dividend_and_its_original_are_both_skipped() -> None:
    text = ('"Type","Date/Time","Symbol","Amount","CurrencyPrimary","TransactionID"\n'
            '"Dividends","20240613","MSFT","4.5","USD","1"\n'
            '"Dividends","20240613","MSFT","-4.5","USD","2"\n'
            '"Dividends","20240613","MSFT","4.25","USD","3"\n')
    items = parse(FORMAT, text)
    assert items[:2] == [Skipped(2, "dividend reversed by line 3"), Skipped(3, "reverses the dividend of line 2")]
    assert isinstance(items[2], DividendEntry) and items[2].gross == Decimal("4.25") and items[2].key == "ibkr:3"


def test_empty_file_and_header_only() -> None:
    assert parse(FORMAT, "") == [Problem(1, "not an IBKR Flex Query CSV: no header row with Buy/Sell and TradePrice, "
                                            "or Type and Amount")]
    assert parse(FORMAT, TRADES_HEADER) == []


@pytest.mark.parametrize(("row", "message"), [
    ('"BUY","20230315","IE00B3RBWM25","20"', "the row is truncated: 4 cells, the header has 9"),
    ('"BUY","2023/03/15","IE00B3RBWM25","20","101.25","2025","USD","-1","USD"',
     "date '2023/03/15' is not a date IBKR writes: use YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY (or --date-format)"),
    ('"BUY","20231315","IE00B3RBWM25","20","101.25","2025","USD","-1","USD"',
     "date '20231315' is not a date IBKR writes: use YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY (or --date-format)"),
    ('"BUY","20230315","IE00B3RBWM25","twenty","101.25","2025","USD","-1","USD"', "Quantity 'twenty' is not a number"),
    ('"BUY","20230315","IE00B3RBWM25","0","101.25","2025","USD","-1","USD"', "Quantity is 0"),
    ('"BUY","20230315","IE00B3RBWM25","20","","2025","USD","-1","USD"', "TradePrice is empty"),
    ('"BUY","20230315","IE00B3RBWM25","20","101.25","2025","US","-1","USD"',
     "CurrencyPrimary: 'US' is not a three-letter currency code"),
])
def test_unreadable_rows_are_problems(row: str, message: str) -> None:
    assert parse(FORMAT, TRADES_HEADER + row + "\n") == [Problem(2, message)]


def test_another_brokers_file_is_one_problem() -> None:
    schwab = OTHER_HEADERS["schwab"] + '"01/02/2024","Buy","AAPL","APPLE INC","10","$185.00","$0.00","-$1,850.00"\n' * 3
    assert parse(FORMAT, schwab) == [Problem(1, "not an IBKR Flex Query CSV: no header row with Buy/Sell and TradePrice, "
                                                "or Type and Amount")]
    assert parse(FORMAT, fixture("ibkr-activity", "transaction-history.csv")) == parse(FORMAT, schwab)


def test_rows_before_the_first_header_are_problems() -> None:
    text = '"BUY","20230315","X","1","1"\n' + TRADES_HEADER
    assert parse(FORMAT, text) == [Problem(1, "no Flex header row (Buy/Sell, TradePrice, ... or Type, Amount, ...) "
                                              "before this row")]


def test_map_option_renames_one_column_and_date_format() -> None:
    header = TRADES_HEADER.replace('"TradePrice"', '"Price"').replace('"TradeDate"', '"Date"')
    text = header + '"SELL","15/03/2023","IE00B3RBWM25","-20","101.25","2025","USD","-1","USD"\n'
    options = ParseOptions(columns={"price": "Price", "date": "Date"}, date_format="%d/%m/%Y")
    [trade] = parse(FORMAT, text, options)
    assert isinstance(trade, TradeEntry)
    assert (trade.side, trade.price, trade.at) == ("sell", Decimal("101.25"), day("2023-03-15"))


def test_lines_without_line_ends_and_a_byte_order_mark() -> None:
    lines = ["\ufeff" + TRADES_HEADER.rstrip("\n"), '"BUY","20230315","ie00b3rbwm25","1E1","1.5E2","1500","USD","-1","USD"']
    [trade] = list(FORMAT.parse(lines, ParseOptions()))
    assert isinstance(trade, TradeEntry)
    assert (trade.symbol, trade.quantity, trade.price, trade.line) == ("IE00B3RBWM25", Decimal("10"), Decimal("150"), 2)


def test_an_empty_datetime_falls_back_to_the_trade_date() -> None:
    text = ('"Buy/Sell","DateTime","TradeDate","Symbol","Quantity","TradePrice","CurrencyPrimary","TradeID"\n'
            '"BUY","","20240105","aapl","1","180","USD","77"\n')
    assert parse(FORMAT, text) == [TradeEntry(line=2, at=day("2024-01-05"), side="buy", symbol="AAPL", quantity=Decimal("1"),
                                              price=Decimal("180"), currency="USD", key="ibkr:77")]


def test_section_code_and_line_descriptor_columns() -> None:
    """A query with "Include section code and line descriptor" starts each row with HEADER or DATA and the section."""
    text = ('"HEADER","TRNT","Buy/Sell","TradeDate","Symbol","Quantity","TradePrice","CurrencyPrimary","TradeID"\n'
            '"DATA","TRNT","SELL","20240105","AAPL","-2","181.5","USD","78"\n'
            '"HEADER","CTRN","Type","Date/Time","Symbol","Amount","CurrencyPrimary","TransactionID"\n'
            '"DATA","CTRN","Deposits/Withdrawals","20240102","","500","USD","79"\n')
    assert FORMAT.detect(text)
    assert parse(FORMAT, text) == [
        TradeEntry(line=2, at=day("2024-01-05"), side="sell", symbol="AAPL", quantity=Decimal("2"), price=Decimal("181.5"),
                   currency="USD", key="ibkr:78"),
        CashEntry(4, day("2024-01-02"), "deposit", Decimal("500"), "USD", key="ibkr:79"),
    ]


def test_transfer_rows_are_unknown_actions() -> None:
    text = (TRADES_HEADER
            + '"ClientAccountID","CurrencyPrimary","AssetClass","Symbol","Type","Direction","Quantity","TransferPrice"\n'
            + '"U1","USD","STK","AAPL","ACATS","IN","10","0"\n')
    assert parse(FORMAT, text) == [Unknown(3, "Transfers row (ACATS of shares or cash: not imported)")]
