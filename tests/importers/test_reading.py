"""The shared readers of broker files (docs/brokers.md §8): amounts, dates and columns by name.

One number reader for every format: the cases are what Schwab, Fidelity, IBKR, Degiro,
Trading 212, Revolut and the generic format write, each read the same way everywhere.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from stocksbot.errors import StocksbotError
from stocksbot.importers.reading import (
    Columns,
    RowError,
    cell,
    csv_rows,
    is_empty,
    local_midnight,
    optional_amount,
    parse_amount,
    parse_quantity,
    parse_when,
    pounds,
    records,
    strptime_day,
    strptime_local,
)
from stocksbot.ledger import format_decimal

D = Decimal


@pytest.mark.parametrize(("text", "comma", "expected"), [
    ("1234.56", False, "1234.56"),
    ("$1,234.56", False, "1234.56"),
    ("-$5.00", False, "-5"),
    ("$-5.00", False, "-5"),
    ("(5.00)", False, "-5"),
    ("($1,000.10)", False, "-1000.1"),
    ("5.00-", False, "-5"),
    ("+3", False, "3"),
    ("1E-4", False, "0.0001"),
    ("-2.5E+3", False, "-2500"),
    ("12.5 USD", False, "12.5"),
    ("EUR 12.5", False, "12.5"),
    ("1.234,56", True, "1234.56"),
    ("-1.234.567,8", True, "-1234567.8"),
    ("33,9", True, "33.9"),
    ("1.5", True, "1.5"),
    ("€ 3,10", None, "3.1"),
    ("1,234", None, "1234"),
    ("1.234,5", None, "1234.5"),
    ("1,234.5", None, "1234.5"),
    ("0.0000000001", False, "0.0000000001"),
    # US brokers (Schwab, Fidelity): dollar signs either side of the minus, thousands commas.
    ("$694.48", False, "694.48"),
    ("-$1,259.59", False, "-1259.59"),
    ("$-0.88", False, "-0.88"),
    ("500,135", False, "500135"),
    ("-1,000", False, "-1000"),
    ("(12.50)", False, "-12.5"),
    ("1.2E-4", False, "0.00012"),
    ("$0", False, "0"),
    ("0.000", False, "0"),
    ("-3,10", True, "-3.1"),
    # Degiro, Trading 212, Revolut: decided per value, spaces of any kind group thousands.
    ("26,45", None, "26.45"),
    ("0,039", None, "0.039"),
    ("-97.93", None, "-97.93"),
    ("-$30.93", None, "-30.93"),
    ("€88.94", None, "88.94"),
    ("1\u202f046,3825", None, "1046.3825"),
    ("1\u00a0234,5", True, "1234.5"),
    ("1'234.5", False, "1234.5"),
    ("3,10 €", True, "3.1"),
    ("1.234.567", True, "1234567"),
    ("123456789012345678.5", False, "123456789012345678.5"),
])
def test_amounts_as_brokers_write_them_are_read_exactly(text: str, comma: bool | None, expected: str) -> None:
    value = parse_amount(text, decimal_comma=comma)
    assert value == D(expected) and isinstance(value, Decimal)
    assert format_decimal(value) == expected  # exact: never through a float


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "$", "1e999999", "12,34,5x", "--5", "1,0", "$1,23.5",
                                  "0.00000000001", "$52.0.7", "5,0x"])
def test_a_bad_amount_is_one_line_naming_the_field(text: str) -> None:
    with pytest.raises(RowError) as caught:
        parse_amount(text, field="price")
    assert str(caught.value).startswith("price") and "\n" not in str(caught.value)


def test_the_refusals_say_why() -> None:
    with pytest.raises(StocksbotError, match=r"^Quantity '1,0' is not a number \(a comma must separate thousands"):
        parse_amount("1,0", field="Quantity")
    with pytest.raises(StocksbotError, match="^amount '5,0x' is not a number$"):
        parse_amount("5,0x", decimal_comma=None)
    with pytest.raises(StocksbotError, match=r"^Amount '-\$1,209.00' is not a number \(with --decimal-comma"):
        parse_amount("-$1,209.00", field="Amount", decimal_comma=True)
    with pytest.raises(StocksbotError, match="at most 18 integer digits and 10 decimal places"):
        parse_amount("0.00000000001")


def test_without_the_ledger_limit_an_exact_value_is_kept() -> None:
    # IBKR writes more places than the ledger stores; Degiro and Trading 212 too, in rates.
    assert parse_amount("-2.637591265E-4", limit=False) == D("-0.0002637591265")
    assert parse_amount("1,234.567891234567", limit=False) == D("1234.567891234567")
    with pytest.raises(RowError, match="is not a number"):
        parse_amount("1e999999", limit=False)


@pytest.mark.parametrize("text", ["", "  ", "-", "--", "N/A", "Not available", None])
def test_empty_cells_are_no_value(text: str | None) -> None:
    assert is_empty(text) and optional_amount(text) is None


def test_pence_are_pounds_exactly() -> None:
    assert pounds(D("496")) == D("4.96") and pounds(D("70.12")) == D("0.7012")


def test_a_quantity_is_the_absolute_value() -> None:
    assert parse_quantity("-10") == D(10)
    assert parse_quantity("(2.5)") == D("2.5")


def test_dates_by_format_are_local_time_in_utc_and_iso_by_default() -> None:
    local = datetime(2024, 3, 15).astimezone().astimezone(timezone.utc)
    assert parse_when("03/15/2024", ("%m/%d/%Y",)) == local
    assert parse_when("15-03-2024", ("%m/%d/%Y", "%d-%m-%Y")) == local
    assert parse_when("2024-03-15") == local
    assert parse_when("2024-03-15T10:00:00+00:00") == datetime(2024, 3, 15, 10, tzinfo=timezone.utc)
    with pytest.raises(StocksbotError, match="expected a date like %m/%d/%Y"):
        parse_when("2024-03-15", ("%m/%d/%Y",))
    with pytest.raises(StocksbotError, match="invalid date"):
        parse_when("15.03.2024")


def test_columns_are_found_by_name_with_map_overriding() -> None:
    columns = Columns(["\ufeffDate ", "Symbol", "Qty", "Trade Price"], {"price": "trade price"})
    assert columns.find("date", "date") == 0  # byte-order mark, trailing space and case ignored
    assert columns.find("quantity", "quantity", "qty") == 2
    assert columns.find("price", "price") == 3  # --map wins
    assert columns.find("fees", "fees") is None
    assert columns.require("symbol", "ticker", "symbol") == 1
    with pytest.raises(StocksbotError, match=r"no fees column .*--map fees=COLUMN"):
        columns.require("fees", "fees")
    with pytest.raises(StocksbotError, match="the header has no column 'Prise'"):
        Columns(["Date", "Price"], {"price": "Prise"}).find("price", "price")


def test_cells_and_rows() -> None:
    assert cell([" a ", "b"], 0) == "a" and cell(["a"], 3) == "" and cell(["a"], None) == ""
    rows = list(csv_rows(['a;b\n', '"x\n', 'y";2\n', '\n', '3;4\n'], ";"))
    assert [line for line, _values in rows] == [1, 2, 4, 5]  # a record's line is where it starts
    assert rows[1][1] == ["x\ny", "2"]


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_records_count_file_lines_however_the_lines_end(ending: str) -> None:
    lines = ["\ufeffDate,Note" + ending, ' 01/02/2024 ,"two' + ending, 'lines"' + ending, ending, "x,y" + ending]
    found = list(records(lines, strip=True))
    assert [(record.line, record.cells) for record in found] == [
        (1, ["Date", "Note"]), (2, ["01/02/2024", "two\nlines"]), (4, []), (5, ["x", "y"])]
    assert found[2].blank and not found[0].blank
    assert list(records(["a, b "]))[0].cells == ["a", " b "]  # cells as written unless stripped


def test_an_unreadable_record_is_a_row_error_at_its_start() -> None:
    # An unclosed quote swallows the rest of the file, until the CSV reader's field limit.
    lines = ["a,b\n", '1,"open\n', *(["x" * 1000 + "\n"] * 200)]
    with pytest.raises(RowError, match=r"^cannot read the CSV from line 2 on \(field larger") as caught:
        list(records(lines))
    assert caught.value.line == 2


def test_local_days_and_times() -> None:
    midnight = datetime(2024, 3, 15).astimezone().astimezone(timezone.utc)
    assert local_midnight(date(2024, 3, 15)) == midnight
    assert strptime_day("15.03.2024", "%d.%m.%Y") == date(2024, 3, 15)
    assert strptime_local("15.03.2024 10:30", "%d.%m.%Y %H:%M") == \
        datetime(2024, 3, 15, 10, 30).astimezone().astimezone(timezone.utc)
    with pytest.raises(RowError, match=r"^date '2024-03-15' does not match --date-format '%d.%m.%Y'$"):
        strptime_day("2024-03-15", "%d.%m.%Y")
