"""The IBKR Flex XML parser (`--from ibkr-xml`, on ibflex): detection, every element of the fixture, bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stocksbot.importers.entries import (
    CashEntry,
    ConversionEntry,
    DividendEntry,
    Problem,
    RateEntry,
    Skipped,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.ibkr_xml import FORMAT

from .ibkr_support import OTHER_HEADERS, by_line, day, fixture, other_fixture_heads, parse, utc

pytest.importorskip("ibflex.parser")

HEAD = ('<FlexQueryResponse queryName="q" type="AF">\n<FlexStatements count="1">\n'
        '<FlexStatement accountId="U1" fromDate="20240101" toDate="20241231" period="LastYear" '
        'whenGenerated="20250102;083000">\n')
TAIL = "</FlexStatement>\n</FlexStatements>\n</FlexQueryResponse>\n"


def statement(body: str) -> str:
    return HEAD + body + TAIL


def test_detects_its_own_file() -> None:
    assert FORMAT.detect(fixture("ibkr-xml", "statement.xml")[:4096])


@pytest.mark.parametrize("name", sorted(OTHER_HEADERS))
def test_does_not_claim_other_formats(name: str) -> None:
    assert not FORMAT.detect(OTHER_HEADERS[name])


def test_does_not_claim_other_fixture_files() -> None:
    heads = other_fixture_heads({"ibkr-xml"})
    assert any(name.startswith("ibkr/") for name, _ in heads)
    assert [name for name, head in heads if FORMAT.detect(head)] == []


def test_statement_elements() -> None:
    items = parse(FORMAT, fixture("ibkr-xml", "statement.xml"))
    found = by_line(items)
    assert found[4] == [Skipped(4, "<AccountInformation>: information, not a record")]
    assert found[6] == [TradeEntry(line=6, at=utc(2024, 1, 15, 14, 30, 5), side="buy", symbol="AAPL", quantity=Decimal("10"),
                                   price=Decimal("185.5"), commission=Decimal("1"), currency="USD", key="ibkr:900001",
                                   isin="US0378331005")]
    assert found[7] == [Skipped(7, "ORDER row: the total of its EXECUTION rows")]
    [sap] = found[8]
    assert isinstance(sap, TradeEntry)
    assert (sap.symbol, sap.currency, sap.commission, sap.fees, sap.at) == (
        "SAP", "EUR", Decimal("1.25"), Decimal("0.5"), utc(2024, 3, 1, 9, 0))
    [sell] = found[9]
    assert isinstance(sell, TradeEntry) and (sell.side, sell.quantity, sell.price, sell.commission) == (
        "sell", Decimal("4"), Decimal("195.25"), Decimal("1.0215"))
    assert found[10] == [Skipped(10, "<Lot> closed lot: a lot a sale closed, not a trade")]
    # BUY 1000 EUR.USD at 1.0825: 1000 EUR bought for 1082.5 USD, plus the 2 USD commission.
    assert found[11] == [RateEntry(11, utc(2024, 2, 29, 15, 15), "EUR", "USD", Decimal("1.0825")),
                         ConversionEntry(11, utc(2024, 2, 29, 15, 15), Decimal("1082.5"), "USD", Decimal("1000"), "EUR",
                                         fee=Decimal("2"), fee_currency="USD", key="ibkr:900004",
                                         note="IBKR buy EUR.USD 1000 @ 1.0825")]
    assert found[12] == [Skipped(12, "trade cancelled by line 13")]
    assert found[13] == [Skipped(13, "cancels the trade of line 12")]
    assert found[16] == [CashEntry(16, day("2024-01-10"), "deposit", Decimal("5000"), "USD", key="ibkr:700001",
                                   note="CASH RECEIPTS / ELECTRONIC FUND TRANSFERS")]
    assert found[17] == [DividendEntry(
        line=17, paid_at=utc(2024, 5, 17, 0, 20), symbol="AAPL", gross=Decimal("2.4"), currency="USD", key="ibkr:700002",
        isin="US0378331005", ex_date=day("2024-05-10"),
        note="AAPL(US0378331005) CASH DIVIDEND USD 0.24 PER SHARE (Ordinary Dividend)")]
    assert found[18] == [Skipped(18, "SUMMARY row: the total of its DETAIL rows")]
    [tax] = found[19]
    assert isinstance(tax, TaxEntry) and (tax.amount, tax.key, tax.refund) == (Decimal("0.36"), "ibkr:700003", False)
    assert found[20] == [Skipped(20, "dividend reversed by line 21")]
    assert found[21] == [Skipped(21, "reverses the dividend of line 20")]
    [again] = found[22]
    assert isinstance(again, DividendEntry) and (again.gross, again.key) == (Decimal("11.5"), "ibkr:700006")
    assert [(item.kind, item.amount) for line in (23, 24, 25) for item in found[line] if isinstance(item, CashEntry)] == [
        ("interest", Decimal("3.17")), ("fee", Decimal("10")), ("withdraw", Decimal("100"))]
    assert found[28] == [SplitEntry(line=28, at=day("2024-08-01"), symbol="AAPL", numerator=2, denominator=1,
                                    key="ibkr:600001", isin="US0378331005")]
    assert found[29] == [Skipped(29, "SUMMARY row: the total of its DETAIL rows")]
    [merger] = found[30]
    assert isinstance(merger, Unknown) and merger.action.startswith("corporate action TC: ")
    assert found[33] == [RateEntry(33, day("2024-02-29"), "EUR", "USD", Decimal("1.0813"))]
    assert found[34] == [Skipped(34, "rate of USD to itself")]
    assert found[35] == [Skipped(35, "no CHF/USD rate that day (IBKR writes -1)")]
    assert found[38] == [Skipped(38, "<OpenPosition>: information, not a record")]
    assert not [item for item in items if isinstance(item, Problem)]


def test_summary_rows_are_the_records_when_there_is_no_detail() -> None:
    text = statement('<CashTransactions>\n<CashTransaction currency="USD" symbol="KO" description="KO CASH DIVIDEND" '
                     'type="Dividends" amount="9.7" dateTime="20240401" levelOfDetail="SUMMARY" />\n</CashTransactions>\n')
    [dividend] = parse(FORMAT, text)
    assert isinstance(dividend, DividendEntry) and (dividend.line, dividend.symbol, dividend.gross) == (5, "KO", Decimal("9.7"))


def test_split_given_only_as_added_shares() -> None:
    text = statement('<CorporateActions>\n<CorporateAction currency="USD" symbol="ABC" description="ABC STOCK SPLIT" '
                     'type="FS" quantity="30" dateTime="20240801" transactionID="9" />\n</CorporateActions>\n')
    assert parse(FORMAT, text) == [SplitEntry(line=5, at=day("2024-08-01"), symbol="ABC", added=Decimal("30"), key="ibkr:9")]


def test_bad_input() -> None:
    assert parse(FORMAT, "") == [Problem(1, "the file is empty: not an IBKR Flex XML statement")]
    assert parse(FORMAT, statement("")) == []
    truncated = HEAD + '<Trades>\n<Trade symbol="AAPL" quantity="1"\n'
    [problem] = parse(FORMAT, truncated)
    assert isinstance(problem, Problem) and problem.message.startswith("not well-formed XML")
    assert parse(FORMAT, fixture("ibkr", "trades.csv")) == [
        Problem(1, "not an IBKR Flex XML statement: the file is not XML (for a CSV export use --from ibkr)")]
    assert parse(FORMAT, "<Statement/>\n") == [
        Problem(1, "not an IBKR Flex XML statement: the root element is <Statement>, not <FlexQueryResponse>")]
    bad_number = statement('<Trades>\n<Trade currency="USD" symbol="AAPL" tradeDate="20240102" quantity="ten" '
                           'tradePrice="1" buySell="BUY" levelOfDetail="EXECUTION" />\n</Trades>\n')
    [problem] = parse(FORMAT, bad_number)
    assert isinstance(problem, Problem) and problem.line == 5 and "quantity" in problem.message
    bad_date = statement('<Trades>\n<Trade currency="USD" symbol="AAPL" tradeDate="02.01.2024" quantity="1" '
                         'tradePrice="1" buySell="BUY" levelOfDetail="EXECUTION" />\n</Trades>\n')
    [problem] = parse(FORMAT, bad_date)
    assert isinstance(problem, Problem) and problem.line == 5 and "tradeDate" in problem.message
    unknown = statement('<CashTransactions>\n<CashTransaction currency="USD" type="Commission Credits" amount="1" '
                        'dateTime="20240102" />\n</CashTransactions>\n')
    assert parse(FORMAT, unknown) == [Unknown(5, "cash transaction type 'Commission Credits'")]


def test_attributes_stocksbot_does_not_read_cannot_spoil_a_record() -> None:
    """A notes code newer than ibflex's list (ibflex refuses it) on a trade is left out before conversion."""
    text = statement('<Trades>\n<Trade currency="USD" symbol="AAPL" tradeID="5" tradeDate="20240102" quantity="1" '
                     'tradePrice="190" buySell="BUY" levelOfDetail="EXECUTION" notes="ZZZ" fifoPnlRealized="?" />\n'
                     '</Trades>\n')
    assert parse(FORMAT, text) == [TradeEntry(line=5, at=day("2024-01-02"), side="buy", symbol="AAPL", quantity=Decimal("1"),
                                              price=Decimal("190"), currency="USD", key="ibkr:5")]


def test_transfers_are_unknown_actions() -> None:
    text = statement('<Transfers>\n<Transfer currency="USD" symbol="AAPL" type="ACATS" direction="IN" quantity="10" />\n'
                     '</Transfers>\n')
    assert parse(FORMAT, text) == [Unknown(5, "<Transfer> ACATS IN of AAPL")]
