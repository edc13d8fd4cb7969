"""Reading trade CSVs: the rows and `line N: reason` messages `trade import` relies on."""

from __future__ import annotations

import dataclasses
import io
from datetime import datetime, timezone
from decimal import Decimal

from stocksbot.csvfiles import TradeRow, read_trades

HEADER = "executed_at,side,symbol,quantity,price,commission,fees,strategy,external_id,note\n"
LONG = "X" * 101


def read(text: str) -> list[TradeRow | str]:
    return list(read_trades(io.StringIO(text, newline=""), "trades.csv"))


def test_good_rows_are_ordinary_trade_rows() -> None:
    """read_trades builds TradeRow without its __init__ (for speed): same fields, equality,
    repr and frozenness as one built the usual way."""
    [row] = read(HEADER + "2024-01-15T14:30:00+00:00, SELL , aapl ,10.500,150.25,1.00,,momentum,X-1, a note \n")
    expected = TradeRow(
        line=2,
        executed_at=datetime(2024, 1, 15, 14, 30, tzinfo=timezone.utc),
        side="sell",
        symbol="AAPL",
        quantity=Decimal("10.5"),
        price=Decimal("150.25"),
        commission=Decimal("1"),
        fees=Decimal("0"),
        strategy="momentum",
        external_id="X-1",
        note=" a note ",
        account=None,
        currency=None,
    )
    assert row == expected
    assert repr(row) == repr(expected)
    assert isinstance(row, TradeRow)
    assert [str(row.quantity), str(row.commission), str(row.fees)] == ["10.5", "1", "0"]
    try:
        row.side = "buy"  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("TradeRow must stay frozen")


def test_remembered_values_do_not_leak_between_columns_or_rows() -> None:
    rows = read(
        HEADER
        + "2024-01-15T14:30:00+00:00,buy,AAPL,1.50,1.50,1.50,1.50,,,\n"
        + "2024-01-15T14:31:00+00:00,buy,AAPL,0,1,0,0,,,\n"
        + "2024-01-15T14:32:00+00:00,buy,MSFT,1.50,2,0,0,,,\n"
    )
    first, second, third = rows
    assert isinstance(first, TradeRow) and isinstance(third, TradeRow)
    assert (first.quantity, first.commission, first.fees, first.symbol) == (Decimal("1.5"),) * 3 + ("AAPL",)
    # '0' is a fine commission and fees, but not a quantity, even after both were seen.
    assert second == "line 3: quantity must be greater than 0, got '0'"
    assert (third.symbol, third.quantity) == ("MSFT", Decimal("1.5"))


def test_bad_rows_are_reported_with_their_reasons() -> None:
    rows = read(
        HEADER
        + "2024-01-15T14:30:00+00:00,hold,AAPL,10,150,0,0,,,\n"
        + "nonsense,buy,AAPL,10,150,0,0,,,\n"
        + "2024-01-15T14:32:00Z,buy,!!,10,150,0,0,,,\n"
        + "2024-01-15T14:33:00+00:00,buy,AAPL,0,150,0,0,,,\n"
        + "2024-01-15T14:34:00+00:00,buy,AAPL,-1,150,0,0,,,\n"
        + "2024-01-15T14:35:00+00:00,buy,AAPL,1e40,150,0,0,,,\n"
        + "2024-01-15T14:36:00+00:00,buy,AAPL,10,abc,0,0,,,\n"
        + "2024-01-15T14:37:00+00:00,buy,AAPL,10,150,-1,0,,,\n"
        + "2024-01-15T14:38:00+00:00,buy,AAPL,10,150,0,0.00000000001,,,\n"
        + f"2024-01-15T14:39:00+00:00,buy,AAPL,10,150,0,0,,{LONG},\n"
        + f"2024-01-15T14:40:00+00:00,buy,AAPL,10,150,0,0,{LONG},,\n"
        + "2024-01-15T14:41:00+00:00,buy,AAPL,10,150\n"
        + ",,,,,,,,,\n"
        + "\n"
        + "2024-01-15T14:42:00+00:00,buy,AAPL, 1.50 ,.5,1E1,0,,,\n"
    )
    *errors, last = rows
    assert errors == [
        "line 2: side must be buy or sell, got 'hold'",
        "line 3: invalid executed_at 'nonsense': use an ISO date or datetime, e.g. 2024-01-15, "
        "2024-01-15T14:30 or 2024-01-15T14:30:00+00:00",
        "line 4: invalid symbol '!!': use 1-32 letters, digits or . - / : _ starting with a letter or digit "
        "(e.g. AAPL, BRK.B, BTC-USD, EUR/USD)",
        "line 5: quantity must be greater than 0, got '0'",
        "line 6: quantity must be greater than 0, got '-1'",
        "line 7: quantity must be a number with at most 18 integer digits and 10 decimal places, got '1e40'",
        "line 8: price must be a number such as 10, 150.25 or .5, got 'abc'",
        "line 9: commission must be 0 or more, got '-1'",
        "line 10: fees must be a number with at most 18 integer digits and 10 decimal places, "
        "got '0.00000000001'",
        "line 11: external_id is longer than 100 characters",
        "line 12: strategy name is longer than 100 characters",
        "line 13: expected 10 fields, got 5",
        "line 14: side must be buy or sell, got ''",
    ]
    assert isinstance(last, TradeRow)
    assert (last.line, str(last.quantity), str(last.price), str(last.commission)) == (16, "1.5", "0.5", "10")


def test_optional_columns_may_be_left_out() -> None:
    [row] = read("executed_at,side,symbol,quantity,price\n2024-01-15 14:30+00:00,buy,brk.b,3,7\n")
    assert isinstance(row, TradeRow)
    assert (row.symbol, row.commission, row.fees, row.strategy, row.external_id, row.note) == (
        "BRK.B", Decimal(0), Decimal(0), None, None, None)
    assert row.executed_at == datetime(2024, 1, 15, 14, 30, tzinfo=timezone.utc)
