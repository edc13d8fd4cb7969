"""The IBKR activity statement parser (`--from ibkr-activity`): Transaction History and the classic sections."""

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
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.ibkr_activity import FORMAT

from .ibkr_support import OTHER_HEADERS, by_line, day, fixture, other_fixture_heads, parse, utc

HISTORY_HEADER = ("Transaction History,Header,Date,Account,Description,Transaction Type,Symbol,Quantity,Price,"
                  "Gross Amount ,Commission,Net Amount\n")


@pytest.mark.parametrize("name", ["transaction-history.csv", "activity-statement.csv"])
def test_detects_its_own_files(name: str) -> None:
    assert FORMAT.detect(fixture("ibkr-activity", name)[:4096])


@pytest.mark.parametrize("name", sorted(OTHER_HEADERS))
def test_does_not_claim_other_formats(name: str) -> None:
    assert not FORMAT.detect(OTHER_HEADERS[name])


def test_does_not_claim_other_fixture_files() -> None:
    heads = other_fixture_heads({"ibkr-activity"})
    assert any(name.startswith("ibkr/") for name, _ in heads)
    assert [name for name, head in heads if FORMAT.detect(head)] == []


def test_transaction_history_in_the_base_currency() -> None:
    text = fixture("ibkr-activity", "transaction-history.csv")
    items = parse(FORMAT, text)
    found = by_line(items)
    assert set(found) | {1, 5, 8} == set(range(1, text.count("\n") + 1))
    assert found[2] == [Skipped(2, "Statement section: information, not a record")]
    assert found[9] == [CashEntry(9, day("2024-12-02"), "withdraw", Decimal("500"), "EUR", note="Electronic Fund Transfer")]
    assert found[10] == [DividendEntry(
        line=10, paid_at=day("2024-09-15"), symbol="ASML", gross=Decimal("7.6"), currency="EUR", isin="NL0010273215",
        note="ASML(NL0010273215) Cash Dividend EUR 1.52 per Share (Ordinary Dividend)")]
    assert found[11] == [TaxEntry(11, day("2024-09-15"), "ASML", Decimal("1.14"), "EUR", isin="NL0010273215",
                                  note="ASML(NL0010273215) Cash Dividend EUR 1.52 per Share - NL Tax")]
    assert found[12] == [CashEntry(12, day("2024-08-01"), "fee", Decimal("0.42"), "EUR", note="FX Translations P&L")]
    # Scientific notation, exactly: 1.5E-3 is 0.0015.
    assert found[13] == [
        RateEntry(13, day("2024-07-10"), "EUR", "USD", Decimal("1.0845")),
        # A gain on the conversion: a refunded fee, not a deposit.
        CashEntry(13, day("2024-07-10"), "fee", Decimal("0.0015"), "EUR",
                  note="credit: Net Amount in Base from Forex Trade: 100 EUR.USD", refund=True),
    ]
    assert found[14] == [TradeEntry(line=14, at=day("2024-06-20"), side="sell", symbol="ASML", quantity=Decimal("2"),
                                    price=Decimal("900.5"), commission=Decimal("2.5"), currency="EUR")]
    [in_lieu] = found[15]
    assert isinstance(in_lieu, DividendEntry) and (in_lieu.symbol, in_lieu.gross, in_lieu.isin) == (
        "MSFT", Decimal("0.69"), "US5949181045")
    [msft] = found[17]
    assert isinstance(msft, TradeEntry) and (msft.side, msft.quantity, msft.price, msft.commission) == (
        "buy", Decimal("3"), Decimal("371.3"), Decimal("1"))
    assert found[18] == [CashEntry(18, day("2024-02-01"), "interest", Decimal("8.25"), "EUR",
                                   note="EUR Credit Interest for Jan-2024")]
    assert found[19] == [CashEntry(19, day("2024-02-01"), "tax", Decimal("1.24"), "EUR",
                                   note="Withholding @ 15% on Credit Interest for Jan-2024")]
    assert found[21] == [Unknown(21, "Transaction Type 'Transfer'")]
    assert not [item for item in items if isinstance(item, Problem)]


def test_transaction_history_cash_adds_up_to_the_statement() -> None:
    """Deposits, trades, dividends, taxes, interest and FX adjustments in EUR net to the cash the
    statement implies: 10000 - 5954 - 1114.9 + 1798.5 + 0.69 + 7.6 - 1.14 + 8.25 - 1.24 - 0.42 + 0.0015 - 500."""
    items = parse(FORMAT, fixture("ibkr-activity", "transaction-history.csv"))
    cash = Decimal(0)
    for item in items:
        if isinstance(item, TradeEntry):
            cost = item.quantity * item.price
            if item.side == "sell":
                cash += cost - item.commission - item.fees
            else:
                cash -= cost + item.commission + item.fees
        elif isinstance(item, DividendEntry):
            cash += item.gross
        elif isinstance(item, (TaxEntry, CashEntry)):
            credit = item.refund or (isinstance(item, CashEntry) and item.kind in ("deposit", "interest"))
            cash = cash + item.amount if credit else cash - item.amount
    assert cash == Decimal("4243.3415")


def test_price_in_another_currency_becomes_the_gross_per_share() -> None:
    text = HISTORY_HEADER + "Transaction History,Data,2024-03-04,U1,APPLE,Buy,AAPL,3.0,170.0,-471.0,-1.0,-472.0\n"
    [trade] = parse(FORMAT, text)
    assert isinstance(trade, TradeEntry)
    assert (trade.price, trade.note) == (Decimal("157"), "price in the base currency: gross amount / quantity")


def test_classic_activity_statement_sections() -> None:
    text = fixture("ibkr-activity", "activity-statement.csv")
    items = parse(FORMAT, text)
    found = by_line(items)
    headers = {1, 5, 7, 13, 16, 19, 22, 25, 28, 31, 35}
    assert set(found) | headers == set(range(1, text.count("\n") + 1))
    assert found[8] == [TradeEntry(line=8, at=utc(2024, 1, 16, 14, 45, 12), side="buy", symbol="AAPL",
                                   quantity=Decimal("1200"), price=Decimal("182.5"), commission=Decimal("6"), currency="USD")]
    [sell] = found[9]
    assert isinstance(sell, TradeEntry) and (sell.side, sell.quantity, sell.at) == ("sell", Decimal("200"),
                                                                                    utc(2024, 7, 1, 18, 2, 33))
    assert found[10] == [Skipped(10, "ClosedLot row: a lot its sale closed, not a trade")]
    assert found[11] == [Skipped(11, "Trades subtotal row")]
    assert found[12] == [Skipped(12, "Trades total row")]
    # 20,000 EUR bought at 1.0951 for 21902 USD (the Proceeds), the commission in USD (the base currency).
    assert found[14] == [RateEntry(14, utc(2024, 1, 15, 8, 0), "EUR", "USD", Decimal("1.0951")),
                         ConversionEntry(14, utc(2024, 1, 15, 8, 0), Decimal("21902"), "USD", Decimal("20000"), "EUR",
                                         fee=Decimal("2"), fee_currency="USD", note="IBKR buy EUR.USD 20000 @ 1.0951")]
    assert found[17] == [CashEntry(17, day("2024-01-12"), "deposit", Decimal("250000"), "USD", note="Electronic Fund Transfer")]
    assert found[18] == [Skipped(18, "Deposits & Withdrawals total row")]
    [dividend] = found[20]
    assert isinstance(dividend, DividendEntry) and (dividend.symbol, dividend.gross, dividend.isin) == (
        "AAPL", Decimal("288"), "US0378331005")
    [tax] = found[23]
    assert isinstance(tax, TaxEntry) and (tax.symbol, tax.amount) == ("AAPL", Decimal("43.2"))
    assert found[26] == [CashEntry(26, day("2024-02-05"), "interest", Decimal("512.77"), "USD",
                                   note="USD Credit Interest for Jan-2024")]
    assert found[29] == [CashEntry(29, day("2024-03-04"), "fee", Decimal("4.5"), "USD", note="Market data subscription")]
    assert found[30] == [Skipped(30, "Fees total row")]
    assert found[32] == [SplitEntry(line=32, at=day("2024-06-07"), symbol="NVDA", numerator=10, denominator=1,
                                    isin="US67066G1040")]
    [merger] = found[33]
    assert isinstance(merger, Unknown) and merger.action.startswith("corporate action 'XYZ(US0000000001) Merged")
    assert found[36] == [Skipped(36, "Open Positions section: information, not a record")]


def test_bad_input() -> None:
    assert parse(FORMAT, "") == [Problem(1, "not an IBKR activity statement: no Section,Header,... line")]
    assert parse(FORMAT, HISTORY_HEADER) == []
    truncated = HISTORY_HEADER + "Transaction History,Data,2024-03-04,U1,APPLE,Buy,AAPL,3.0\n"
    assert parse(FORMAT, truncated) == [Problem(2, "the row is truncated: 6 cells, the header has 10")]
    bad_date = HISTORY_HEADER + "Transaction History,Data,04.03.2024,U1,Cash,Deposit,-,-,-,10,-,10\n"
    assert parse(FORMAT, bad_date) == [Problem(2, "date '04.03.2024' is not a date IBKR writes: use YYYYMMDD, "
                                                  "YYYY-MM-DD or MM/DD/YYYY (or --date-format)")]
    bad_number = HISTORY_HEADER + "Transaction History,Data,2024-03-04,U1,Cash,Deposit,-,-,-,ten,-,ten\n"
    assert parse(FORMAT, bad_number) == [Problem(2, "Net Amount 'ten' is not a number")]
    unknown = HISTORY_HEADER + "Transaction History,Data,2024-03-04,U1,Lending,Stock Yield Enhancement,-,-,-,1,-,1\n"
    assert parse(FORMAT, unknown) == [Unknown(2, "Transaction Type 'Stock Yield Enhancement'")]
    orphan = "Dividends,Data,USD,2024-05-16,AAPL(US0378331005) Cash Dividend,1\n"
    assert parse(FORMAT, orphan + HISTORY_HEADER) == [Problem(1, "'Dividends' row before its Header row")]
    # Another broker's file forced with --from ibkr-activity: one problem, not one per row.
    schwab = OTHER_HEADERS["schwab"] + '"01/02/2024","Buy","AAPL","APPLE INC","10","$185.00","$0.00","-$1,850.00"\n' * 3
    assert parse(FORMAT, schwab) == [Problem(1, "not an IBKR activity statement: no Section,Header,... line")]


def test_map_option_on_a_renamed_column() -> None:
    header = HISTORY_HEADER.replace("Net Amount", "Net")
    text = header + "Transaction History,Data,2024-01-02,U1,EFT,Deposit,-,-,-,100,-,100\n"
    [deposit] = parse(FORMAT, text, ParseOptions(columns={"amount": "Net"}))
    assert deposit == CashEntry(2, day("2024-01-02"), "deposit", Decimal("100"), None, note="EFT")


def test_an_option_trade_is_priced_per_unit_from_its_proceeds() -> None:
    text = ("Trades,Header,DataDiscriminator,Asset Category,Currency,Symbol,Date/Time,Quantity,T. Price,C. Price,Proceeds,"
            "Comm/Fee,Basis,Realized P/L,MTM P/L,Code\n"
            'Trades,Data,Order,Equity and Index Options,USD,AAPL  19JAN24 150 C,"2024-01-05, 10:00:00",2,3.1,3.2,-620,'
            '-1.3,621.3,0,20,O\n')
    [trade] = parse(FORMAT, text)
    assert isinstance(trade, TradeEntry)
    assert (trade.symbol, trade.quantity, trade.price, trade.commission) == ("AAPL.19JAN24.150.C", Decimal("2"), Decimal("310"),
                                                                             Decimal("1.3"))
    assert trade.note == "price per unit: proceeds / quantity (a multiplier)"
