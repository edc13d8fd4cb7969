"""Exact decimal arithmetic for the ledger.

The rule (docs/ledger.md §1, "Numbers and time") is that quantities, prices, costs and P&L
never pass through a float and never drift. Python's default decimal context has only 28 digits
of precision, so an 18-integer-digit, 10-place quantity times a price of the same size would
be silently rounded if we used the ordinary operators. Every ledger calculation therefore
goes through the helpers here:

* `add`, `subtract` and `multiply` are always exact: they widen the precision to whatever
  the operands need instead of rounding.
* `divide` (and `prorate`, built on it) is the only place a result may be rounded: a
  quotient such as 100 / 3 repeats forever, so it is rounded once, half-even, to
  `DERIVED_PLACES` decimal places. Finite quotients of ledger-sized inputs (599 / 4,
  a cost divided by its own quantity) fit in 20 places and stay exact. See
  docs/ledger.md §1.1 (exact decimals) and §1.3 (derived values and rounding).

`LEDGER_CONTEXT` traps `Inexact`, so any accidental rounding in ledger arithmetic fails
loudly instead of producing a number that is almost right.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import (
    ROUND_05UP,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

from stocksbot.ledger.errors import LedgerError

__all__ = [
    "DERIVED_PLACES",
    "LEDGER_CONTEXT",
    "MAX_DECIMAL_PLACES",
    "MAX_INTEGER_DIGITS",
    "ZERO",
    "add",
    "canonical",
    "divide",
    "format_decimal",
    "multiply",
    "parse_decimal",
    "prorate",
    "subtract",
    "total",
]

#: Base context for ledger arithmetic: 60 significant digits is enough for the product of two
#: values with 18 integer digits and 10 decimal places (at most 56 digits). The helpers widen
#: it further when an operand is bigger, so it never rounds; `Inexact` is trapped so that a
#: rounding that slipped through anyway raises instead of drifting.
LEDGER_CONTEXT = Context(
    prec=60,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)

#: Decimal places kept by `divide` (docs/ledger.md §1.3): repeating quotients are rounded to
#: this many places; 20 also keeps every finite quotient of ledger-sized inputs exact (for
#: example 599 / 4 = 149.75).
DERIVED_PLACES = 20

#: Limits on numbers users may enter (docs/ledger.md §1.2: up to 18 integer digits and 10
#: decimal places, which round-trip exactly through storage on every backend).
MAX_INTEGER_DIGITS = 18
MAX_DECIMAL_PLACES = 10

ZERO = Decimal(0)
_EXACT_DIGITS = 1_000

_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHOWN_INPUT_LIMIT = 40
_PLAIN_RE = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,10})?")


def _require_finite(*values: Decimal) -> None:
    """Refuse NaN/Infinity early: they would poison every sum they touch."""
    for value in values:
        if not isinstance(value, Decimal):
            raise TypeError(f"ledger arithmetic needs Decimal values, got {type(value).__name__}")
        if not value.is_finite():
            raise InvalidOperation(f"ledger arithmetic needs finite values, got {value}")


#: Where sums, differences and products are computed: so many digits that ledger-sized
#: values never round (the C decimal module only spends the digits a result really has),
#: with `Inexact` trapped as a guard should one ever need more.
_EXACT = Context(
    prec=_EXACT_DIGITS,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999_999,
    Emax=999_999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)
_ONE = Decimal(1)
_SCALE = Decimal(1).scaleb(DERIVED_PLACES)
_UNSCALE = Decimal(1).scaleb(-DERIVED_PLACES)
_QUANTUM = _UNSCALE  # the last place `divide` keeps

#: `divide`'s fast path first divides to _ODD_DIGITS significant digits with ROUND_05UP
#: ("round to odd": truncate, then turn a last digit of 0 or 5 into 1 or 6 if anything was
#: cut off). A quotient whose adjusted exponent is at most _ODD_MAX_ADJUSTED (up to 58
#: integer digits) then keeps at least two digits beyond DERIVED_PLACES, and its last digit
#: is 0 or 5 only when it is exact; so it lies below, on or above a half-way point of the
#: last kept place exactly when the true quotient does, and rounding it half-even to
#: DERIVED_PLACES is the single rounding of the true quotient that the integer path below
#: computes. Bigger quotients take the integer path.
_ODD_DIGITS = 80
_ODD_MAX_ADJUSTED = _ODD_DIGITS - DERIVED_PLACES - 3
_ROUND_TO_ODD = Context(
    prec=_ODD_DIGITS,
    rounding=ROUND_05UP,
    Emin=-999_999_999,
    Emax=999_999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
#: Rounds (half-even) without complaint: only used to quantize the round-to-odd quotient.
_ROUNDING = Context(
    prec=_EXACT_DIGITS,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999_999,
    Emax=999_999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
_divide_to_odd = _ROUND_TO_ODD.divide
_quantize_half_even = _ROUNDING.quantize

# The exact context's operations as plain callables. Looking a bound method up once here
# instead of `_EXACT.add` per call roughly halves the cost of each operation, and the
# ledger's hot path (`lots.Book.apply`) calls them directly instead of going through the
# public wrappers below. Package-internal: other code should use the wrappers.
_add = _EXACT.add
_subtract = _EXACT.subtract
_multiply = _EXACT.multiply
_divmod = _EXACT.divmod
_remainder = _EXACT.remainder
_abs = _EXACT.abs


def canonical(value: Decimal) -> Decimal:
    """The tidy form of a value: trailing fractional zeros dropped, never a positive exponent.

    `Decimal.normalize` alone would turn 100 into 1E+2, which prints in scientific notation
    and loses the "this is an integer" look; here 100 stays 100, 1.50 becomes 1.5, and any
    zero (0E-10, -0) becomes plain 0. Exact: the context has digits to spare. See
    docs/ledger.md §1.4 (canonical form).
    """
    if type(value) is not Decimal or not value.is_finite():
        _require_finite(value)  # raises, unless a finite Decimal subclass
    return _tidy(value)


def _tidy(value: Decimal) -> Decimal:
    """`canonical` for a value already known to be a finite Decimal (the ledger's own results).

    Adding a zero whose exponent is 0 brings a positive exponent down to 0 (1E+2 becomes 100)
    and leaves every other exponent as it is, which is what `quantize(1)` did after reading
    the exponent from `as_tuple()`, at a fraction of the cost.
    """
    if not value:
        return ZERO
    tidy = value.normalize(_EXACT)
    try:
        return _add(tidy, ZERO)
    except Inexact:
        # More than the context's digits once written without an exponent: fail the way
        # quantize always has (InvalidOperation) rather than with a different error.
        return tidy.quantize(_ONE, context=_EXACT)


def format_decimal(value: Decimal) -> str:
    """Plain notation for people and JSON: '0.0000000001', never '1E-10'; no trailing zeros.

    See docs/ledger.md §1.4 (canonical form). This is also the text SQLite stores for every
    decimal (storage/types.py), so bulk writes call it for each amount of each row.
    """
    if type(value) is Decimal:
        # Fast path, most values: `str` is the plain notation whenever it has no exponent, and
        # a last digit 1-9 means no trailing zero to drop and no -0 (NaN and Infinity end in a
        # letter). It costs a fraction of `format` and the checks below.
        text = str(value)
        if "0" < text[-1] <= "9" and "E" not in text and "e" not in text:
            return text
    _require_finite(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def add(*values: Decimal) -> Decimal:
    """Exact sum of any number of decimals (zero for none).

    Like `subtract` and `multiply`, it trusts its operands to be finite Decimals: they come
    from parse_decimal, validated fills or the database, and these helpers sit on the hot
    path of every booking. The sum starts from a zero with exponent 0, so the result never
    has a positive exponent (add(1E+2) is 100).
    """
    total = ZERO
    for value in values:
        total = _add(total, value)
    return total


def total(values: Iterable[Decimal]) -> Decimal:
    """`add` for many values (a report's totals over 100,000 rows): the same exact sum, with
    the loop in C (the built-in `sum` under the exact context) instead of a call per value."""
    with localcontext(_EXACT):
        return sum(values, ZERO)


def subtract(a: Decimal, b: Decimal) -> Decimal:
    """Exact difference a - b (the operators would round to the caller's context)."""
    return _subtract(a, b)


def multiply(a: Decimal, b: Decimal) -> Decimal:
    """Exact product."""
    return _multiply(a, b)


def divide(a: Decimal, b: Decimal) -> Decimal:
    """a / b rounded once, half-even, to DERIVED_PLACES places; exact when the quotient fits.

    The quotient is found as an exact integer quotient and remainder of a x 10**places by b,
    so there is exactly one rounding (a division at fixed precision followed by a quantize
    could round twice). This is the only ledger operation that may round; callers that split
    an amount into parts use the remainder for the last part so the parts still add up.
    See docs/ledger.md §1.3 (derived values and rounding).
    """
    if not (type(a) is Decimal and type(b) is Decimal and a.is_finite() and b.is_finite()):
        _require_finite(a, b)  # raises, unless finite Decimal subclasses
    if not b:
        raise ZeroDivisionError("ledger division by zero")
    return _quotient(a, b)


def _quotient(a: Decimal, b: Decimal) -> Decimal:
    """`divide` once the operands are known to be finite Decimals and `b` non-zero."""
    odd = _divide_to_odd(a, b)
    if odd.adjusted() <= _ODD_MAX_ADJUSTED:  # every ledger-sized quotient (see _ODD_DIGITS)
        rounded = _quantize_half_even(odd, _QUANTUM)
        # _tidy(rounded), inline: at most _ODD_DIGITS digits, so adding the zero cannot fail.
        return _add(rounded.normalize(_EXACT), ZERO) if rounded else ZERO
    quotient, remainder = _divmod(_multiply(a, _SCALE), b)  # truncated toward zero
    if remainder:
        twice = _multiply(_abs(remainder), 2)
        limit = _abs(b)
        if twice > limit or (twice == limit and _remainder(quotient, 2)):
            quotient = _add(quotient, -1 if (a < 0) != (b < 0) else 1)
    # quotient x 10**-places, tidied: multiplying by 1E-20 only moves the exponent (scaleb).
    return _tidy(_multiply(quotient, _UNSCALE))


def prorate(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """The share of `amount` that belongs to `part` out of `whole`: amount * part / whole.

    The multiplication is exact and the division rounds once (see `divide`). Lots split
    their amounts with this on every partial close, so the usual case (a finite product
    over a finite, non-zero Decimal) skips straight to the quotient; anything else goes
    through `divide` and is refused the same way. See docs/ledger.md §4.4 (splitting
    amounts) for where the ledger uses it.
    """
    product = _multiply(amount, part)
    if type(whole) is Decimal and whole.is_finite() and whole and product.is_finite():
        odd = _divide_to_odd(product, whole)
        if odd.adjusted() <= _ODD_MAX_ADJUSTED:  # _quotient's fast path, inline
            rounded = _quantize_half_even(odd, _QUANTUM)
            return _add(rounded.normalize(_EXACT), ZERO) if rounded else ZERO
    return divide(product, whole)


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent


def _shown(text: str) -> str:
    """The user's input as quoted in an error message, shortened if it is very long."""
    if len(text) > _SHOWN_INPUT_LIMIT:
        text = text[: _SHOWN_INPUT_LIMIT - 3] + "..."
    return f"'{text}'"


def parse_decimal(
    text: str | Decimal | int,
    *,
    field: str,
    allow_zero: bool = True,
    allow_negative: bool = False,
) -> Decimal:
    """Parse a number the user typed, exactly, or refuse it with one clear line.

    Accepts plain decimal text ('10', '150.25', '.5', '-3' when negatives are allowed) and
    exponent forms ('1e-3') as long as the value fits the ledger's range: at most
    MAX_INTEGER_DIGITS integer digits and MAX_DECIMAL_PLACES decimal places (trailing zeros
    do not count). Decimal and int values (from the Python API) are checked the same way.
    Floats are refused outright, because a float has already lost the exact value the user
    meant. Returns the canonical form. See docs/ledger.md §1.2 (input limits).
    """
    if type(text) is str:
        stripped = text.strip()
        if _PLAIN_RE.fullmatch(stripped):
            # The common case, plain digits within range ('150.25'): no sign, so never
            # negative, and no range or form checks needed.
            value = Decimal(stripped)
            if "." in stripped and stripped.endswith("0"):
                value = _tidy(value)
            if not value and not allow_zero:
                raise LedgerError(f"{field} must be greater than 0, got {_shown(text)}")
            return value
    if isinstance(text, bool) or isinstance(text, float):
        raise LedgerError(
            f"{field} must be given as text or a Decimal, not a {type(text).__name__} "
            f"(got {text!r})"
        )
    if isinstance(text, (Decimal, int)):
        text = str(text)
    if not isinstance(text, str):
        raise LedgerError(f"{field} must be a number such as 10 or 150.25, got {text!r}")
    stripped = text.strip()
    if _PLAIN_RE.fullmatch(stripped):
        # The common case, plain digits within range ('150.25'): no range or form checks needed.
        value = Decimal(stripped)
        if "." in stripped and stripped.endswith("0"):
            value = canonical(value)
    else:
        value = _parse_other(stripped, text, field)
    if value < 0 and not allow_negative:
        accepted = "0 or more" if allow_zero else "greater than 0"
        raise LedgerError(f"{field} must be {accepted}, got {_shown(text)}")
    if value == 0 and not allow_zero:
        raise LedgerError(f"{field} must be greater than 0, got {_shown(text)}")
    return value


def _parse_other(stripped: str, text: str, field: str) -> Decimal:
    """parse_decimal for signs, exponents, and anything that may be out of range or no number."""
    if not stripped:
        raise LedgerError(f"{field} is empty: give a number such as 10 or 150.25")
    if not _NUMBER_RE.fullmatch(stripped):
        raise LedgerError(f"{field} must be a number such as 10, 150.25 or .5, got {_shown(text)}")
    value = Decimal(stripped)  # exact: the constructor never rounds
    if value:
        # Check the range on the digit tuple before canonical(), which would otherwise
        # expand an input such as '1e999999999' into a billion zeros.
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
        if value.adjusted() >= MAX_INTEGER_DIGITS or -(exponent + trailing_zeros) > MAX_DECIMAL_PLACES:
            raise LedgerError(
                f"{field} must be a number with at most {MAX_INTEGER_DIGITS} integer digits and "
                f"{MAX_DECIMAL_PLACES} decimal places, got {_shown(text)}"
            )
    return canonical(value)
