"""stocksbot's own format and the generic one, read on their own (no database): docs/brokers.md §9, §10."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from stocksbot.importers import generic, native
from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    ParseOptions,
    Problem,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.reading import DateFormat, Remembered

D = Decimal
FIXTURES = Path(__file__).parent.parent / "fixtures" / "brokers"


def read(fmt: object, text: str, **options: object) -> list[object]:
    return list(fmt.parse(text.splitlines(keepends=True), ParseOptions(**options)))  # type: ignore[attr-defined, arg-type]


def test_native_detects_its_header_only() -> None:
    assert native.FORMAT.detect("\ufeffExecuted_At,side,symbol,quantity,price,note\n")
    assert not native.FORMAT.detect("executed_at,side,symbol,quantity\n")  # price missing
    assert not native.FORMAT.detect("executed_at,side,symbol,quantity,price,Action\n")  # a column it does not know


def test_native_rows_become_trade_entries_keyed_by_external_id() -> None:
    items = read(native.FORMAT, (FIXTURES / "native.csv").read_text())
    assert len(items) == 6 and all(isinstance(item, TradeEntry) for item in items)
    first = items[0]
    assert isinstance(first, TradeEntry)
    assert (first.line, first.side, first.symbol, first.quantity, first.price, first.key, first.note) == (
        2, "buy", "AAPL", D(10), D("150.25"), "n-1", "first")
    assert [item.key for item in items] == ["n-1", None, "n-3", None, None, None]  # type: ignore[attr-defined]


def test_native_reports_bad_rows_and_headers_as_problems() -> None:
    items = read(native.FORMAT, "executed_at,side,symbol,quantity,price\n2024-01-02,buy,AAPL,-1,10\n")
    assert items == [Problem(2, "quantity must be greater than 0, got '-1'")]
    (problem,) = read(native.FORMAT, "executed_at,side,symbol,quantity\n")
    assert isinstance(problem, Problem) and problem.line == 1 and "missing price" in problem.message
    (problem,) = read(native.FORMAT, "When,side,symbol,quantity,price\n", columns={"strategy_x": "When"})
    assert isinstance(problem, Problem) and "no field 'strategy_x'" in problem.message


def test_generic_is_never_detected_and_reads_every_kind() -> None:
    assert not generic.FORMAT.detect("date,side,symbol,quantity,price\n")
    text = ("Date,Type,Symbol,ISIN,Quantity,Price,Fees,Amount,Currency,Account,ID\n"
            "2024-01-02,Buy,aapl,,10,$150.25,1,,USD,ira,a1\n"
            "2024-01-03,SOLD,,US0378331005,-4,160,,,,,\n"
            "2024-01-04,Dividend,AAPL,,,,,2.40,USD,,\n"
            "2024-01-04,dividends,MSFT,,30,0.75,,,USD,,\n"
            "2024-01-04,Withholding Tax,AAPL,,,,,-0.36,USD,,\n"
            "2024-01-05,Deposit,,,,,,\"1,000.00\",USD,,\n"
            "2024-01-06,tax,,,,,,5,,,\n"
            "2024-01-07,Journal,,,,,,5,,,\n"
            "2024-01-08,,,,,,,5,,,\n"
            "2024-01-09,Buy,AAPL,,10\n")
    items = read(generic.FORMAT, text)
    local = datetime(2024, 1, 2).astimezone().astimezone(timezone.utc)
    assert items[0] == TradeEntry(line=2, at=local, side="buy", symbol="aapl", quantity=D(10), price=D("150.25"),
                                  fees=D(1), currency="USD", account="ira", key="a1")
    assert isinstance(items[1], TradeEntry) and (items[1].side, items[1].quantity, items[1].isin) == (
        "sell", D(4), "US0378331005")
    assert isinstance(items[2], DividendEntry) and items[2].gross == D("2.4")
    per_share = items.pop(3)
    assert isinstance(per_share, DividendEntry) and per_share.gross == D("22.5")  # 30 shares x 0.75
    assert isinstance(items[3], TaxEntry) and items[3].amount == D("0.36")
    assert isinstance(items[4], CashEntry) and (items[4].kind, items[4].amount) == ("deposit", D(1000))
    assert isinstance(items[5], CashEntry) and items[5].kind == "tax"  # no symbol: a cash tax
    assert items[6] == Unknown(9, "Journal")
    assert items[7] == Problem(10, "no action: the side (or kind) is empty")
    assert items[8] == Problem(11, "expected 11 fields, got 5 (a truncated row?)")


def test_generic_needs_a_date_and_an_action_column() -> None:
    (problem,) = read(generic.FORMAT, "When,Side\n2024-01-02,buy\n")
    assert isinstance(problem, Problem) and "no date column" in problem.message and "--map date=COLUMN" in \
        problem.message
    (problem,) = read(generic.FORMAT, "date,what\n2024-01-02,buy\n")
    assert isinstance(problem, Problem) and "no side column" in problem.message
    (problem,) = read(generic.FORMAT, "date,side\n", columns={"colour": "x"})
    assert isinstance(problem, Problem) and "no field 'colour'" in problem.message
    assert read(generic.FORMAT, "") == []


def test_generic_with_options() -> None:
    text = "Datum;Aktion;Wert;Stück;Kurs\n15.03.2024;kauf;SAP;2;180,50\n15.03.2024;Bought;SAP;1;1.234,5\n"
    items = read(generic.FORMAT, text, delimiter=";", decimal_comma=True, date_format="%d.%m.%Y",
                 columns={"date": "Datum", "side": "Aktion", "symbol": "Wert", "quantity": "Stück", "price": "Kurs"})
    assert items[0] == Unknown(2, "kauf")
    assert isinstance(items[1], TradeEntry) and items[1].price == D("1234.5")
    assert items[1].at == datetime(2024, 3, 15).astimezone().astimezone(timezone.utc)


@pytest.mark.parametrize(("pattern", "text"), [
    ("%m/%d/%Y %H:%M:%S.%f%z", "12/31/2025 20:59:59.7+0100"),
    ("%m/%d/%Y", "3/5/2024"),
    ("%Y%m%d;%H%M%S", "20240315;103000"),
    ("%d-%m-%Y %H:%M", "15-03-2024 10:30"),
    ("%Y-%m-%dT%H:%M:%S%z", "2024-03-15T10:30:00Z"),
    ("%b %d %Y", "Mar 15 2024"),  # not a fast pattern: strptime
])
def test_date_formats_read_as_strptime_does(pattern: str, text: str) -> None:
    expected = datetime.strptime(text, pattern)
    expected = (expected if expected.tzinfo else expected.astimezone()).astimezone(timezone.utc)
    assert DateFormat(pattern)(text) == expected
    with pytest.raises(ValueError):
        DateFormat(pattern)("13/45/2024 99:99")


def test_remembered_parses_once_and_forgets_failures() -> None:
    calls: list[str] = []

    def parse(text: str) -> int:
        calls.append(text)
        return int(text)

    remembered = Remembered(parse, size=2)
    assert [remembered(t) for t in ("1", "1", "2", "1")] == [1, 1, 2, 1]
    assert calls == ["1", "2"]
    with pytest.raises(ValueError):
        remembered("x")
    remembered("3")  # full: starts over
    assert remembered("1") == 1 and calls[-1] == "1"


def test_generic_splits_by_shares_added_and_transfers_by_sign() -> None:
    text = ("date,action,symbol,quantity,price,fees,currency\n"
            "2022-06-06,STOCK_SPLIT,AMZN,209,0.00,0.00,USD\n"
            "2022-06-07,TRANSFER,,1,-500.5,0,USD\n"
            "2022-06-08,Transfer,,1,2000,0,USD\n"
            "2022-06-09,transfer,,0,10,0,USD\n")
    split, out, into, zero = read(generic.FORMAT, text)
    assert isinstance(split, SplitEntry) and (split.symbol, split.added, split.numerator) == ("AMZN", D(209), None)
    assert isinstance(out, CashEntry) and (out.kind, out.amount) == ("withdraw", D("500.5"))
    assert isinstance(into, CashEntry) and (into.kind, into.amount) == ("deposit", D(2000))
    assert zero == Problem(5, "a transfer of 0")
