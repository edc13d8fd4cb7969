"""The Revolut trading statement parser (stocksbot/importers/revolut.py, docs/brokers.md "Revolut").

tests/fixtures/brokers/revolut/statement.csv follows the real layout with invented data:
ISO times with 3 or 6 fraction digits (and one with 1), rows out of date order, `$`/`€` amounts,
a `"$1,000"` with a thousands comma, a quantity with a decimal comma, a split given as the
shares added, the entity-migration transfers, and an unknown type.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    Problem,
    Skipped,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.revolut import FORMAT
from tests.importers.eu_helpers import OTHER_HEADERS, by_line, fixture, parse

D = Decimal
HEADER = "Date,Ticker,Type,Quantity,Price per share,Total Amount,Currency,FX Rate\n"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)  # type: ignore[misc]


def test_detects_revolut_statements() -> None:
    assert FORMAT.name == "revolut"
    assert FORMAT.detect(fixture("revolut", "statement.csv"))


@pytest.mark.parametrize("other", ["degiro/account-nl.csv", "degiro/account-en.csv", "trading212/history-2020.csv",
                                   "trading212/history-2024.csv", "trading212/history-2025.csv"])
def test_does_not_claim_the_other_brokers_files(other: str) -> None:
    folder, name = other.split("/")
    assert not FORMAT.detect(fixture(folder, name))


@pytest.mark.parametrize("name", sorted(OTHER_HEADERS))
def test_does_not_claim_other_headers(name: str) -> None:
    assert not FORMAT.detect(OTHER_HEADERS[name] + "\n")


def test_statement_entry_by_entry() -> None:
    items = parse(FORMAT, fixture("revolut", "statement.csv"))
    assert [item.line for item in items] == list(range(2, 16))
    lines = by_line(items)
    assert lines[2] == [CashEntry(2, utc(2024, 1, 2, 9), "deposit", D("1000"), "USD", note="CASH TOP-UP")]
    assert lines[3] == [TradeEntry(3, utc(2024, 1, 3, 14, 30, 10, 514000), "buy", "AAPL", D("2"), D("185.5"),
                                   currency="USD")]
    assert lines[4] == [TradeEntry(4, utc(2024, 1, 4, 15, 0, 0, 123456), "buy", "MSFT", D("0.5"), D("370.2"),
                                   currency="USD")]
    assert lines[5] == [DividendEntry(5, utc(2024, 2, 15, 10, 0, 0, 500000), "AAPL", D("0.41"), currency="USD",
                                      note="as paid (Revolut states the net)")]
    assert lines[6] == [TaxEntry(6, utc(2024, 2, 15, 10, 0, 1), "AAPL", D("0.06"), "USD",
                                 note="DIVIDEND TAX (CORRECTION)")]
    assert lines[7] == [CashEntry(7, utc(2024, 3, 1, 8), "fee", D("0.12"), "USD", note="CUSTODY FEE")]
    assert lines[8] == [SplitEntry(8, utc(2024, 6, 10, 8, 27, 46, 419568), "NVDA", added=D("9"))]
    assert lines[9] == [TradeEntry(9, utc(2024, 5, 1, 13, 30), "buy", "NVDA", D("1"), D("850"), currency="USD")]
    assert lines[10] == [TradeEntry(10, utc(2024, 7, 14, 13, 30, 0, 797000), "sell", "AAPL", D("1"), D("230"),
                                    currency="USD")]
    assert isinstance(lines[11][0], Skipped) and "Revolut's own companies" in lines[11][0].reason
    assert lines[12] == [CashEntry(12, utc(2024, 8, 6, 9, 10), "withdraw", D("0.01"), "USD",
                                   note="TRANSFER FROM REVOLUT BANK UAB TO REVOLUT SECURITIES EUROPE UAB")]
    assert lines[13] == [TradeEntry(13, utc(2025, 6, 5, 7, 26, 4, 809000), "buy", "SAP", D("1"), D("200.1"),
                                    currency="EUR")]
    assert lines[14] == [CashEntry(14, utc(2024, 9, 1, 10), "withdraw", D("50"), "USD", note="CASH WITHDRAWAL")]
    assert lines[15] == [Unknown(15, "SPINOFF")]


def test_decimal_comma_option_settles_an_ambiguous_comma() -> None:
    row = "2024-01-03T14:30:10.514Z,AAPL,BUY - MARKET,\"1,500\",$1.00,$1.5,USD,1\n"
    (read_as_thousands,) = parse(FORMAT, HEADER + row)
    (read_as_decimal,) = parse(FORMAT, HEADER + row, decimal_comma=True)
    assert isinstance(read_as_thousands, TradeEntry) and isinstance(read_as_decimal, TradeEntry)
    assert (read_as_thousands.quantity, read_as_decimal.quantity) == (D("1500"), D("1.5"))


def test_bad_input_is_one_problem_per_row() -> None:
    assert parse(FORMAT, "") == [Problem(1, "the file is empty: it should start with the broker's header line")]
    assert parse(FORMAT, HEADER) == []
    items = parse(FORMAT, HEADER
                  + "22/09/2023 13:30,O,BUY - MARKET,1,$52.07,$52.07,USD,1\n"
                  + "2023-09-22T13:30:10.514Z,O,BUY - MARKET,1,$52.0.7,$52.07,USD,1\n"
                  + "2023-09-22T13:30:11.514Z,O,BUY - MARKET\n"
                  + "2023-09-22T13:30:12.514Z,,DIVIDEND,,,$1,USD,1\n"
                  + ",,,,,,,\n")
    assert items == [
        Problem(2, "date '22/09/2023 13:30' is not an ISO 8601 time such as 2023-09-22T13:30:10.514Z, the form Revolut writes"),
        Problem(3, "Price per share '$52.0.7' is not a number"),
        Problem(4, "BUY - MARKET without a Quantity or a Price per share"),
        Problem(5, "DIVIDEND without a Ticker"),
        Skipped(6, "blank line"),
    ]


def test_a_header_without_the_needed_columns_is_a_problem_on_line_1() -> None:
    (problem,) = parse(FORMAT, "Date,Ticker,Quantity\n2024-01-01T00:00:00Z,A,1\n")
    assert isinstance(problem, Problem) and problem.line == 1 and "action, amount" in problem.message
