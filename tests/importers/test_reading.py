"""The shared readers of broker files (docs/brokers.md §8): amounts, dates and columns by name."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from stocksbot.errors import StocksbotError
from stocksbot.importers.reading import Columns, cell, csv_rows, parse_amount, parse_quantity, parse_when
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
    ("123456789012345678.5", False, "123456789012345678.5"),
])
def test_amounts_as_brokers_write_them_are_read_exactly(text: str, comma: bool | None, expected: str) -> None:
    value = parse_amount(text, decimal_comma=comma)
    assert value == D(expected) and isinstance(value, Decimal)
    assert format_decimal(value) == expected  # exact: never through a float


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "$", "1e999999", "12,34,5x", "--5"])
def test_a_bad_amount_is_one_line_naming_the_field(text: str) -> None:
    with pytest.raises(StocksbotError) as caught:
        parse_amount(text, field="price")
    assert "price" in str(caught.value) and "\n" not in str(caught.value)


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
    assert [line for line, _values in rows] == [1, 3, 4, 5]
    assert rows[1][1] == ["x\ny", "2"]
