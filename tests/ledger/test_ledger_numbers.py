"""Exact decimal helpers: parsing user input, canonical form, exact arithmetic, division."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocksbot.errors import StocksbotError
from stocksbot.ledger import (
    DERIVED_PLACES,
    LedgerError,
    add,
    canonical,
    divide,
    format_decimal,
    multiply,
    parse_decimal,
    prorate,
    subtract,
)

D = Decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", "10"),
        ("150.25", "150.25"),
        (".5", "0.5"),
        ("5.", "5"),
        ("1e-3", "0.001"),
        ("1E2", "100"),
        ("+7", "7"),
        (" 42 ", "42"),
        ("1.5000", "1.5"),
        ("0.0000000001", "0.0000000001"),
        ("123456789012345678.5", "123456789012345678.5"),
        ("999999999999999999.9999999999", "999999999999999999.9999999999"),
        ("0.000000000000", "0"),
        ("-0", "0"),
    ],
)
def test_parse_accepts_plain_and_exponent_forms(text: str, expected: str) -> None:
    value = parse_decimal(text, field="quantity")
    assert format_decimal(value) == expected
    assert value == D(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1e40", "quantity must be a number with at most 18 integer digits and 10 decimal "
                 "places, got '1e40'"),
        ("1234567890123456789", "at most 18 integer digits"),
        ("0.00000000001", "10 decimal places"),
        ("1e-11", "10 decimal places"),
        ("1e999999999999", "18 integer digits"),
        ("nan", "quantity must be a number such as 10, 150.25 or .5, got 'nan'"),
        ("NaN", "got 'NaN'"),
        ("Infinity", "got 'Infinity'"),
        ("-inf", "got '-inf'"),
        ("abc", "got 'abc'"),
        ("1_000", "got '1_000'"),
        ("1,5", "got '1,5'"),
        ("0x10", "got '0x10'"),
        ("", "quantity is empty"),
        ("   ", "quantity is empty"),
        ("-1", "quantity must be 0 or more, got '-1'"),
    ],
)
def test_parse_refuses_with_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(StocksbotError) as info:
        parse_decimal(text, field="quantity")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, LedgerError)


def test_parse_zero_and_negative_switches() -> None:
    assert parse_decimal("0", field="fees") == 0
    with pytest.raises(LedgerError, match="quantity must be greater than 0, got '0'"):
        parse_decimal("0", field="quantity", allow_zero=False)
    with pytest.raises(LedgerError, match="greater than 0, got '-2'"):
        parse_decimal("-2", field="quantity", allow_zero=False)
    assert parse_decimal("-2.5", field="amount", allow_negative=True) == D("-2.5")


def test_parse_accepts_decimal_and_int_but_not_float() -> None:
    assert parse_decimal(D("1.50"), field="price") == D("1.5")
    assert parse_decimal(3, field="price") == 3
    with pytest.raises(LedgerError, match="not a float"):
        parse_decimal(0.1, field="price")  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="got 'NaN'"):
        parse_decimal(D("NaN"), field="price")


def test_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(LedgerError) as info:
        parse_decimal("x" * 500, field="price")
    assert len(str(info.value)) < 120


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("100"), "100"),
        (D("1E+2"), "100"),
        (D("1.50"), "1.5"),
        (D("0E-10"), "0"),
        (D("-0.00"), "0"),
        (D("1E-10"), "0.0000000001"),
        (D("123456789012345678.50"), "123456789012345678.5"),
        (D("-3.000"), "-3"),
    ],
)
def test_canonical_and_format(value: Decimal, text: str) -> None:
    assert format_decimal(value) == text
    result = canonical(value)
    assert result == value
    assert result.as_tuple().exponent <= 0  # type: ignore[operator]


def test_arithmetic_is_exact_beyond_default_precision() -> None:
    big = D("123456789012345678.5")
    # 28-digit default context would round this product; the ledger must not.
    square = multiply(big, big)
    assert square == D(f"{1234567890123456785**2}E-2")  # the string constructor is exact
    assert format_decimal(square) == "15241578753238836651425088777625362.25"
    assert add(D("999999999999999999.9999999999"), D("0.0000000001")) == D("1000000000000000000")
    assert subtract(D("0.0000000001"), D("123456789012345678")) == D(
        "-123456789012345677.9999999999"
    )
    assert add() == 0


def test_divide_rounds_once_half_even_to_derived_places() -> None:
    assert DERIVED_PLACES == 20
    assert divide(D(599), D(4)) == D("149.75")
    assert divide(D(100), D(3)) == D("33.33333333333333333333")
    assert divide(D(200), D(3)) == D("66.66666666666666666667")
    assert divide(D(-200), D(3)) == D("-66.66666666666666666667")
    # exact ties at the 21st place go to the even neighbour
    assert divide(D("0.000000000000000000025"), D(1)) == D("0.00000000000000000002")
    assert divide(D("0.000000000000000000035"), D(1)) == D("0.00000000000000000004")
    assert divide(D(0), D(7)) == 0
    assert prorate(D(1499), D(4), D(10)) == D("599.6")
    with pytest.raises(ZeroDivisionError):
        divide(D(1), D(0))


scaled = st.builds(
    lambda n, k: D(n).scaleb(-k),
    st.integers(-(10**12), 10**12),
    st.integers(0, 10),
)


@settings(max_examples=200, deadline=None)
@given(scaled, scaled.filter(bool))
def test_divide_is_within_half_a_unit_of_the_last_place(a: Decimal, b: Decimal) -> None:
    q = divide(a, b)
    unit = D(1).scaleb(-DERIVED_PLACES)
    error = subtract(multiply(q, b), a)
    assert abs(error) <= multiply(abs(b), unit) / 2
    # finite quotients that fit stay exact: (a * b) / b == a
    assert divide(multiply(a, b), b) == a


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**18 - 1), st.integers(0, 10**10 - 1))
def test_ledger_range_round_trips_through_text(integer: int, fraction: int) -> None:
    text = f"{integer}.{fraction:010d}"
    value = parse_decimal(text, field="price")
    assert value == D(text)
    assert parse_decimal(format_decimal(value), field="price") == value
    assert "E" not in format_decimal(value)


def test_divide_breaks_wide_half_way_ties_to_even() -> None:
    """A tie on a quotient wider than the default 28-digit context still rounds half-even."""
    wide = Decimal("12345678901234567890.00000000000000000001")
    assert divide(wide, Decimal(2)) == Decimal("6172839450617283945")
    assert divide(Decimal("0.000000000000000000035"), Decimal(1)) == Decimal("4E-20")
    assert divide(Decimal("-0.000000000000000000025"), Decimal(1)) == Decimal("-2E-20")


def _reference_divide(a: Decimal, b: Decimal) -> Decimal:
    """a / b rounded half-even to DERIVED_PLACES places, worked out with exact fractions."""
    from fractions import Fraction

    scaled = Fraction(a) / Fraction(b) * 10**DERIVED_PLACES
    whole = scaled.numerator // scaled.denominator  # floor
    rest = scaled - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2):
        whole += 1
    return canonical(D(f"{whole}E-{DERIVED_PLACES}"))  # exact, unlike scaleb in 28 digits


wide = st.builds(
    lambda n, k: D(n).scaleb(k),
    st.integers(-(10**40), 10**40),
    st.integers(-45, 30),
)


@settings(max_examples=500, deadline=None)
@given(wide, wide.filter(bool))
def test_divide_matches_an_exact_fraction_reference(a: Decimal, b: Decimal) -> None:
    """Both of divide's paths (round-to-odd for ledger-sized quotients, the integer quotient
    for huge ones) round exactly once, half-even, and return the canonical form."""
    expected = _reference_divide(a, b)
    result = divide(a, b)
    assert result == expected
    assert str(result) == str(expected)
    assert str(prorate(a, D(1), b)) == str(expected)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1", "8E+20"),  # exactly half of the last place: ties to even (0)
        ("3", "2E+20"),  # 1.5 units of the last place: ties to even (2)
        ("5", "2E+20"),  # 2.5 units: ties to even (2)
        ("-3", "2E+20"),
        ("1", "3"),
        ("2", "3"),
        ("1E+60", "3"),  # a quotient too wide for the round-to-odd path
        ("-2E+58", "3"),
        ("123456789012345678901234567890123456789", "7"),
    ],
)
def test_divide_ties_and_wide_quotients(a: str, b: str) -> None:
    assert str(divide(D(a), D(b))) == str(_reference_divide(D(a), D(b)))


def test_canonical_and_divide_keep_refusing_what_they_refused() -> None:
    with pytest.raises(TypeError):
        canonical(1.5)  # type: ignore[arg-type]
    with pytest.raises(ArithmeticError):
        canonical(D("NaN"))
    with pytest.raises(ArithmeticError):
        divide(D("Infinity"), D(1))
    with pytest.raises(ZeroDivisionError):
        prorate(D(1), D(1), D(0))
    with pytest.raises(TypeError):
        prorate(D(1), D(1), 3)  # type: ignore[arg-type]
    assert str(canonical(D("1E+2"))) == "100"
    assert str(canonical(D("-0E-5"))) == "0"
    assert str(canonical(D("1.2500"))) == "1.25"


def test_parse_decimal_plain_fast_path_keeps_its_messages() -> None:
    with pytest.raises(LedgerError, match="^quantity must be greater than 0, got ' 0.00 '$"):
        parse_decimal(" 0.00 ", field="quantity", allow_zero=False)
    assert str(parse_decimal("10.500", field="price")) == "10.5"
    assert str(parse_decimal("100", field="price")) == "100"


def _reference_format(value: Decimal) -> str:
    """format_decimal as it was before its fast path: `format(value, "f")`, trailing zeros dropped."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=-(10**40), max_value=10**40), st.integers(min_value=-30, max_value=8))
def test_format_decimal_fast_path_is_the_plain_text(coefficient: int, exponent: int) -> None:
    value = D(coefficient).scaleb(exponent)
    assert format_decimal(value) == _reference_format(value)
    assert D(format_decimal(value)) == value


@pytest.mark.parametrize("text", ["1E+2", "1.2E-8", "5E-7", "-0", "0E-10", "-0.000", "123.4500", "-17.35", "0.000001"])
def test_format_decimal_edge_forms(text: str) -> None:
    assert format_decimal(D(text)) == _reference_format(D(text))


def test_format_decimal_refuses_what_is_not_a_finite_decimal() -> None:
    for bad in (D("NaN"), D("Infinity"), D("-Infinity"), D("sNaN")):
        with pytest.raises((ArithmeticError, ValueError)):
            format_decimal(bad)
    with pytest.raises(TypeError):
        format_decimal(1.5)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=-(10**60), max_value=10**60), st.integers(min_value=-40, max_value=8)),
                max_size=30))
def test_total_is_add_to_the_last_digit_and_exponent(parts: list[tuple[int, int]]) -> None:
    """`total` (the sum in C under the exact context) is `add`: the same value and the same form."""
    from stocksbot.ledger.numbers import total

    values = [D(coefficient).scaleb(exponent) for coefficient, exponent in parts]
    expected = add(*values)
    assert total(values).as_tuple() == expected.as_tuple()
    assert total(iter(values)) == expected


def test_total_of_nothing_is_zero_and_wide_sums_do_not_round() -> None:
    from stocksbot.ledger.numbers import total

    assert total([]).as_tuple() == D(0).as_tuple()
    assert total([D(10) ** 70, D("1E-70")]) == D("1" + "0" * 70 + "." + "0" * 69 + "1")
    assert total([D("1E+2")]).as_tuple() == D(100).as_tuple()  # never a positive exponent, as add
