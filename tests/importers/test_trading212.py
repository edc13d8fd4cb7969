"""The Trading 212 history parser (stocksbot/importers/trading212.py, docs/brokers.md "Trading 212").

The fixtures in tests/fixtures/brokers/trading212 follow the real layouts with invented data:
2020 (`Total (GBP)`, `Transaction fee (GBP)`, no final newline), 2024 (`Currency (Total)`,
`Transaction fee`, conversion fee), 2025 (33 columns, Notes and ID before the shares, CRLF)
and a 2023 header with a row of the newer layout pasted under it.
"""

from __future__ import annotations

from datetime import datetime, timezone
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
    TradeEntry,
    Unknown,
)
from stocksbot.importers.trading212 import FORMAT
from tests.importers.eu_helpers import OTHER_HEADERS, by_line, fixture, parse

D = Decimal
HEADER_2024 = fixture("trading212", "history-2024.csv").splitlines()[0] + "\n"


def utc(*parts: int) -> datetime:
    """Trading 212 writes its times in UTC."""
    return datetime(*parts, tzinfo=timezone.utc)  # type: ignore[misc]


@pytest.mark.parametrize("name", ["history-2020.csv", "history-2024.csv", "history-2025.csv", "mixed-layout.csv"])
def test_detects_every_layout(name: str) -> None:
    assert FORMAT.name == "trading212"
    assert FORMAT.detect(fixture("trading212", name))


@pytest.mark.parametrize("other", ["degiro/account-nl.csv", "degiro/account-en.csv", "revolut/statement.csv"])
def test_does_not_claim_the_other_brokers_files(other: str) -> None:
    folder, name = other.split("/")
    assert not FORMAT.detect(fixture(folder, name))


@pytest.mark.parametrize("name", sorted(OTHER_HEADERS))
def test_does_not_claim_other_headers(name: str) -> None:
    assert not FORMAT.detect(OTHER_HEADERS[name] + "\n")


def test_2020_layout_currency_in_the_header_and_gbx_prices() -> None:
    lines = by_line(parse(FORMAT, fixture("trading212", "history-2020.csv")))
    assert sorted(lines) == list(range(2, 9))
    assert lines[2] == [CashEntry(2, utc(2020, 9, 11, 8), "deposit", D("2000"), "GBP", key="trading212:dep-0001",
                                  note="Transaction ID: aaaa")]
    assert lines[3] == [
        TradeEntry(3, utc(2020, 9, 14, 13, 31, 2), "buy", "AAPL", D("5"), D("115.2"), currency="USD",
                   key="trading212:EOF100000001", isin="US0378331005"),
        # The Total, 450 GBP, paid the 5 x 115.2 = 576 USD the buy took.
        ConversionEntry(3, utc(2020, 9, 14, 13, 31, 2), D("450"), "GBP", D("576"), "USD",
                        key="trading212:EOF100000001:fx", note="GBP paid for the buy of AAPL"),
        RateEntry(3, utc(2020, 9, 14, 13, 31, 2), "GBP", "USD", D("1.2801")),
    ]
    # 205.50 pence = 2.055 GBP; the Transaction fee (GBP) is in the trade's currency.
    assert lines[4] == [TradeEntry(4, utc(2020, 10, 1, 9, 15, 40), "buy", "BP.", D("100"), D("2.055"), fees=D("1.03"),
                                   currency="GBP", key="trading212:EOF100000002", isin="GB0007980591")]
    assert lines[5] == [
        TradeEntry(5, utc(2020, 11, 20, 14, 45), "sell", "AAPL", D("2"), D("117.34"), fees=D("0.02"), currency="USD",
                   key="trading212:EOF100000003", isin="US0378331005"),
        # The sale's 2 x 117.34 - 0.02 = 234.66 USD became its Total, 176.78 GBP.
        ConversionEntry(5, utc(2020, 11, 20, 14, 45), D("234.66"), "USD", D("176.78"), "GBP",
                        key="trading212:EOF100000003:fx", note="GBP received for the sale of AAPL"),
        RateEntry(5, utc(2020, 11, 20, 14, 45), "GBP", "USD", D("1.3275")),
    ]
    # The dividend is what reached the account; the USD withholding stays in the note.
    assert lines[6] == [DividendEntry(6, utc(2020, 11, 13, 10), "AAPL", D("0.64"), currency="GBP", isin="US0378331005",
                                      note="Dividend (Ordinary); net of 0.03 USD withholding tax")]
    assert lines[7] == [CashEntry(7, utc(2020, 12, 1, 12), "withdraw", D("100"), "GBP", key="trading212:wd-0001",
                                  note="Sent to Bank Account")]
    assert lines[8] == [TradeEntry(8, utc(2021, 1, 4, 14, 30), "sell", "BP.", D("100"), D("2.6"), fees=D("1.03"),
                                   currency="GBP", key="trading212:EOF100000004", isin="GB0007980591")]


def test_2024_layout_entry_by_entry() -> None:
    lines = by_line(parse(FORMAT, fixture("trading212", "history-2024.csv")))
    assert sorted(lines) == list(range(2, 14))
    assert lines[2] == [CashEntry(2, utc(2024, 1, 2, 9, 0, 0, 500000), "deposit", D("500"), "EUR",
                                  key="trading212:dep-2024-01", note="Transaction ID: x1")]
    # The EUR conversion fee, converted at the row's rate (1 EUR = 1.095 USD): 0.15 x 1.095, exactly.
    assert lines[3] == [
        TradeEntry(3, utc(2024, 1, 3, 14, 30, 3, 610000), "buy", "MSFT", D("0.5"), D("370"), fees=D("0.16425"),
                   currency="USD", key="trading212:EOF200000001", isin="US5949181045",
                   note="fees converted at the Exchange rate: currency conversion fee 0.15 EUR"),
        # 169.10 EUR (the Total) paid 0.5 x 370 + 0.16425 = 185.16425 USD.
        ConversionEntry(3, utc(2024, 1, 3, 14, 30, 3, 610000), D("169.1"), "EUR", D("185.16425"), "USD",
                        key="trading212:EOF200000001:fx", note="EUR paid for the buy of MSFT"),
        RateEntry(3, utc(2024, 1, 3, 14, 30, 3, 610000), "EUR", "USD", D("1.095")),
    ]
    # GBX: the rate is not trusted, so the EUR fee is a fee of its own and no rate is given.
    assert lines[4] == [
        TradeEntry(4, utc(2024, 1, 4, 8, 0, 1), "buy", "VOD", D("100"), D("0.7012"), currency="GBP",
                   key="trading212:EOF200000002", isin="GB00BH4HKS39"),
        CashEntry(4, utc(2024, 1, 4, 8, 0, 1), "fee", D("0.12"), "EUR", key="trading212:EOF200000002:currency-conversion-fee",
                  note="currency conversion fee of Limit buy VOD"),
        # The Total 81.64 EUR less that fee (booked apart) paid the 100 x 0.7012 = 70.12 GBP.
        ConversionEntry(4, utc(2024, 1, 4, 8, 0, 1), D("81.52"), "EUR", D("70.12"), "GBP",
                        key="trading212:EOF200000002:fx", note="EUR paid for the buy of VOD"),
    ]
    assert lines[5] == [DividendEntry(5, utc(2024, 2, 15, 10), "MSFT", D("0.26"), currency="EUR", isin="US5949181045",
                                      note="Dividend (Dividend); net of 0.05 USD withholding tax")]
    assert lines[6] == [CashEntry(6, utc(2024, 2, 1, 0, 10, 11, 200000), "interest", D("1.25"), "EUR",
                                  key="trading212:int-0001", note="Interest on cash")]
    # A positive Result adjustment is a cost refunded (here a tax, as its note says), not income.
    assert lines[7] == [CashEntry(7, utc(2024, 2, 3, 10), "tax", D("0.5"), "EUR", key="trading212:adj-0001",
                                  note="Withholding tax refund - interest on cash", refund=True)]
    # A USD transaction fee is the trade's own; the EUR conversion fee is converted (0.11 x 1.085).
    assert lines[8] == [
        TradeEntry(8, utc(2024, 3, 1, 15, 0, 0, 125000), "sell", "MSFT", D("0.2"), D("410"), fees=D("0.13935"),
                   currency="USD", key="trading212:EOF200000003", isin="US5949181045",
                   note="fees converted at the Exchange rate: currency conversion fee 0.11 EUR"),
        # 0.2 x 410 - 0.13935 = 81.86065 USD became the Total, 75.42 EUR.
        ConversionEntry(8, utc(2024, 3, 1, 15, 0, 0, 125000), D("81.86065"), "USD", D("75.42"), "EUR",
                        key="trading212:EOF200000003:fx", note="EUR received for the sale of MSFT"),
        RateEntry(8, utc(2024, 3, 1, 15, 0, 0, 125000), "EUR", "USD", D("1.085")),
    ]
    assert lines[9] == [CashEntry(9, utc(2024, 3, 5, 9), "withdraw", D("100"), "EUR", key="trading212:wd-0002",
                                  note="Sent to bank")]
    assert lines[10] == [SplitEntry(10, utc(2024, 6, 10, 7, 0, 0, 95000), "NVDA", 10, 1, key="trading212:EOF200000004",
                                    isin="US67066G1040")]
    assert lines[11] == [Skipped(11, "the new shares of the split on line 10")]
    assert lines[12] == [TradeEntry(12, utc(2024, 7, 1, 14, 46, 6, 327000), "buy", "PALAF", D("1.5"), D("0"),
                                    currency="USD", key="trading212:EOF200000006", isin="US9078181081",
                                    note="stock distribution")]
    assert lines[13] == [Unknown(13, "Transfer out")]


def test_2025_layout_crlf_with_stamp_duty_french_tax_and_finra_fee() -> None:
    text = fixture("trading212", "history-2025.csv")
    assert "\r\n" in text
    lines = by_line(parse(FORMAT, text))
    assert sorted(lines) == list(range(2, 9))
    assert lines[2] == [CashEntry(2, utc(2025, 1, 2, 8), "deposit", D("1000"), "GBP", key="trading212:dep-2025-01",
                                  note="Deposit")]
    # 1.65 EUR French transaction tax + 0.69 GBP conversion fee x 1.20 = 2.478 EUR.
    assert lines[3] == [
        TradeEntry(3, utc(2025, 1, 3, 8, 5, 0, 789000), "buy", "TTE", D("10"), D("55"), fees=D("2.478"), currency="EUR",
                   key="trading212:EOF300000001", isin="FR0000120271",
                   note="fees converted at the Exchange rate: currency conversion fee 0.69 GBP"),
        ConversionEntry(3, utc(2025, 1, 3, 8, 5, 0, 789000), D("460.4"), "GBP", D("552.478"), "EUR",
                        key="trading212:EOF300000001:fx", note="GBP paid for the buy of TTE"),
        RateEntry(3, utc(2025, 1, 3, 8, 5, 0, 789000), "GBP", "EUR", D("1.2")),
    ]
    assert lines[4] == [TradeEntry(4, utc(2025, 1, 6, 8, 10, 0, 1000), "buy", "BA.", D("20"), D("11.5"), fees=D("1.15"),
                                   currency="GBP", key="trading212:EOF300000002", isin="GB0002634946")]
    # 100 GBP taken, its 0.50 GBP fee included (the rate 0.83 is 99.50 / 119.50): 99.50 converted, plus the fee.
    assert lines[5] == [ConversionEntry(5, utc(2025, 1, 7, 9), D("99.5"), "GBP", D("119.5"), "EUR", fee=D("0.5"),
                                        fee_currency="GBP", key="trading212:conv-0001", note="Currency conversion")]
    assert lines[6] == [CashEntry(6, utc(2025, 1, 31, 23), "interest", D("0.05"), "GBP", key="trading212:li-0001",
                                  note="Lending interest")]
    assert lines[7] == [
        TradeEntry(7, utc(2025, 1, 31, 23, 30), "buy", "AAPL", D("1"), D("236"), fees=D("0.2852"), currency="USD",
                   key="trading212:EOF300000004", isin="US0378331005",
                   note="fees converted at the Exchange rate: currency conversion fee 0.23 GBP"),
        ConversionEntry(7, utc(2025, 1, 31, 23, 30), D("190.55"), "GBP", D("236.2852"), "USD",
                        key="trading212:EOF300000004:fx", note="GBP paid for the buy of AAPL"),
        RateEntry(7, utc(2025, 1, 31, 23, 30), "GBP", "USD", D("1.24")),
    ]
    # 0.01 USD Finra fee + (0.04 + 0.28) GBP x 1.24 = 0.4068 USD.
    assert lines[8] == [
        TradeEntry(8, utc(2025, 2, 3, 14, 31, 0, 500000), "sell", "AAPL", D("1"), D("230"), fees=D("0.4068"),
                   currency="USD", key="trading212:EOF300000003", isin="US0378331005",
                   note="fees converted at the Exchange rate: transaction fee 0.04 GBP, currency conversion fee 0.28 GBP"),
        ConversionEntry(8, utc(2025, 2, 3, 14, 31, 0, 500000), D("229.5932"), "USD", D("185.08"), "GBP",
                        key="trading212:EOF300000003:fx", note="GBP received for the sale of AAPL"),
        RateEntry(8, utc(2025, 2, 3, 14, 31, 0, 500000), "GBP", "USD", D("1.24")),
    ]


def test_a_newer_layout_row_under_an_older_header_is_read_by_the_newer_layout() -> None:
    lines = by_line(parse(FORMAT, fixture("trading212", "mixed-layout.csv")))
    assert lines[2][0] == TradeEntry(2, utc(2023, 12, 18, 14, 30, 3, 613000), "buy", "CSCO", D("0.029053"), D("49.96"),
                                     currency="USD", key="trading212:EOF7504196256", isin="US17275R1023")
    assert lines[3] == [TradeEntry(3, utc(2025, 1, 23, 14, 46, 6, 327000), "buy", "PALAF", D("11.0563304"), D("0"),
                                   currency="USD", key="trading212:EOF27002856700", isin="US9078181081",
                                   note="stock distribution")]


def test_a_repeated_id_gets_a_distinct_key() -> None:
    row = 'Market buy,2024-01-03 14:30:03,US5949181045,MSFT,"Microsoft",1,370.00,USD,1,,"USD",370,"USD",,,,,EOF1,,,\n'
    first, second = parse(FORMAT, HEADER_2024 + row + row.replace("buy", "sell"))
    assert isinstance(first, TradeEntry) and isinstance(second, TradeEntry)
    assert (first.key, second.key) == ("trading212:EOF1", "trading212:EOF1#2")


def test_bad_input_is_one_problem_per_row() -> None:
    assert parse(FORMAT, "") == [Problem(1, "the file is empty: it should start with the broker's header line")]
    assert parse(FORMAT, HEADER_2024) == []
    items = parse(FORMAT, HEADER_2024
                  + 'Market buy,03/01/2024 14:30,US5949181045,MSFT,"Microsoft",1,370.00,USD,1,,"USD",370,"USD",,,,,E2,,,\n'
                  + 'Market buy,2024-01-03 14:30:03,US5949181045,MSFT,"Microsoft",1,abc,USD,1,,"USD",370,"USD",,,,,E3,,,\n'
                  + "Market buy,2024-01-03 14:30:04,US5949181045\n"
                  + "\n"
                  + 'Gift,2024-01-03 14:30:05,,,,,,,,,,1.00,"EUR",,,,,G1,,,\n'
                  + 'Stock split close,2024-06-10 07:00:00,US67066G1040,NVDA,"NVIDIA",2,1,USD,1,,"EUR",1,"EUR",,,,,S1,,,\n')
    assert items == [
        Problem(2, "time '03/01/2024 14:30' is not YYYY-MM-DD HH:MM:SS, the form Trading 212 writes"),
        Problem(3, "Price / share 'abc' is not a number"),
        Problem(4, "Market buy without No. of shares or Price / share"),
        Skipped(5, "blank line"),
        Unknown(6, "Gift"),
        Problem(7, "Stock split close without its other half (stock split close and open come as a pair)"),
    ]


def test_the_newest_header_names_time_utc_and_an_offset_is_honoured() -> None:
    header = HEADER_2024.replace("Action,Time,", "Action,Time (UTC),")
    text = header + 'Deposit,2025-09-05 16:33:00+00:00,,,,,,,,,,10.00,"EUR",,,,"x",d1,,,\n' \
                    'Deposit,2025-09-05 16:33:00.5+02:00,,,,,,,,,,10.00,"EUR",,,,"x",d2,,,\n'
    assert FORMAT.detect(text)
    first, second = parse(FORMAT, text)
    assert isinstance(first, CashEntry) and isinstance(second, CashEntry)
    assert (first.at, second.at) == (utc(2025, 9, 5, 16, 33), utc(2025, 9, 5, 14, 33, 0, 500000))
