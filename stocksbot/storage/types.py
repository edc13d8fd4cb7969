"""Column types that keep money exact and time in UTC on both SQLite and PostgreSQL.

SQLite has no exact decimal type: its NUMERIC affinity turns `0.1` into a binary float.
So on SQLite a decimal is stored as its plain-notation text and summed by the `decimal_sum`
aggregate that every stocksbot connection registers (see `exact_sum`). On PostgreSQL it is an
unconstrained NUMERIC, which is exact, and `sum()` over it is exact too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import DateTime, Numeric, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import TypeDecorator, TypeEngine

from stocksbot.ledger.numbers import add, canonical, format_decimal


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC on PostgreSQL, plain-notation TEXT on SQLite."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            value = Decimal(str(value)) if isinstance(value, (int, str)) else _refuse_float(value)
        if dialect.name == "sqlite":
            return format_decimal(value)
        return canonical(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, str):
            # SQLite text is written in canonical form (format_decimal), so the constructor
            # alone reads it back exactly; this runs for every number of every row read.
            return Decimal(value)
        return canonical(value if isinstance(value, Decimal) else Decimal(str(value)))

    @property
    def python_type(self) -> type:
        return Decimal


def _refuse_float(value: Any) -> Decimal:
    raise TypeError(f"refusing to store {type(value).__name__} {value!r} as an exact decimal")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC.

    PostgreSQL keeps it as `timestamptz`; SQLite as fixed-width ISO text in UTC, which sorts
    in time order. Values read back always carry `timezone.utc`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; convert it to UTC first")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# -- values that pass SQLAlchemy's types ------------------------------------------------------
# Bulk writes (imports, price imports) hand values to the driver directly, and whole-ledger
# reads (rebuilds) take them from it directly: SQLAlchemy's per-value processing would cost
# more than the work. This table is the one place that says what the two types above do on
# each backend, for both directions; tests/test_storage_types.py compares every entry with
# the TypeDecorators on SQLite and PostgreSQL.


@dataclass(frozen=True)
class Conversion:
    """How one column type's non-NULL values go to the driver and come back from it."""

    to_driver: Callable[[Any], Any]
    from_driver: Callable[[Any], Any]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database; convert it to UTC first")
    return value


def _sqlite_time(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME stores (always with microseconds), of the UTC time."""
    if _aware(value).tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    # The UTC time's own text without its "+00:00": the same as the naive time's text, and
    # cheaper than building that naive datetime first (this runs for every imported trade).
    return value.isoformat(" ", "microseconds")[:-6]


def _sqlite_time_read(text: str) -> datetime:
    # The stored text has no offset; parsed with "+00:00" it carries `timezone.utc` itself,
    # several times cheaper than `replace(tzinfo=...)` (reports read a time per row).
    return datetime.fromisoformat(text + "+00:00")


def _utc(value: datetime) -> datetime:
    return _aware(value).astimezone(timezone.utc)


CONVERSIONS: dict[tuple[type, str], Conversion] = {
    (ExactDecimal, "sqlite"): Conversion(format_decimal, Decimal),
    (ExactDecimal, "postgresql"): Conversion(canonical, canonical),
    (UTCDateTime, "sqlite"): Conversion(_sqlite_time, _sqlite_time_read),
    (UTCDateTime, "postgresql"): Conversion(_utc, _utc),
}


def conversion(column_type: TypeEngine[Any], dialect_name: str) -> Conversion | None:
    """The conversion of a stocksbot column type on a backend; None for types the driver takes as they are."""
    return CONVERSIONS.get((type(column_type), dialect_name))


def driver_conversion(column_type: TypeEngine[Any], dialect_name: str) -> Conversion:
    """The conversion of a column whose type has one (ExactDecimal, UTCDateTime)."""
    found = conversion(column_type, dialect_name)
    if found is None:
        raise TypeError(f"no driver conversion for {type(column_type).__name__} on {dialect_name}")
    return found


def bulk_converter(column_type: TypeEngine[Any], dialect: Dialect) -> Any:
    """What a bulk writer applies to a column's non-NULL values: the conversion above, or the
    type's own bind processor (None when the driver takes the value as it is)."""
    found = conversion(column_type, dialect.name)
    if found is not None:
        return found.to_driver
    return column_type._cached_bind_processor(dialect)  # noqa: SLF001 - SQLAlchemy's own


class exact_sum(GenericFunction[Decimal]):  # noqa: N801 - SQL function names are lower case
    """`SUM` that stays exact: `sum()` on PostgreSQL, the `decimal_sum` aggregate on SQLite."""

    type = ExactDecimal()
    name = "exact_sum"
    inherit_cache = True


@compiles(exact_sum)
def _compile_exact_sum(element: exact_sum, compiler: Any, **kw: Any) -> str:
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(exact_sum, "sqlite")
def _compile_exact_sum_sqlite(element: exact_sum, compiler: Any, **kw: Any) -> str:
    return f"decimal_sum({compiler.process(element.clauses, **kw)})"


class exact_add(GenericFunction[Decimal]):  # noqa: N801 - SQL function names are lower case
    """`a + b` that stays exact: NUMERIC addition on PostgreSQL, the `decimal_add` function on SQLite
    (where `+` on the stored text would go through floating point)."""

    type = ExactDecimal()
    name = "exact_add"
    inherit_cache = True


@compiles(exact_add)
def _compile_exact_add(element: exact_add, compiler: Any, **kw: Any) -> str:
    left, right = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({left} + {right})"


@compiles(exact_add, "sqlite")
def _compile_exact_add_sqlite(element: exact_add, compiler: Any, **kw: Any) -> str:
    return f"decimal_add({compiler.process(element.clauses, **kw)})"


def decimal_add(left: Any, right: Any) -> str | None:
    """The SQLite function behind `exact_add`: NULL if either side is NULL, like `+`."""
    if left is None or right is None:
        return None
    return format_decimal(add(Decimal(str(left)), Decimal(str(right))))


class DecimalSum:
    """The SQLite aggregate behind `exact_sum`: adds the decimal texts with Python's Decimal.

    Returns plain-notation text (or NULL over no rows, like SQL's SUM), which ExactDecimal
    reads back as a Decimal.
    """

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: Any) -> None:
        if value is None:
            return
        number = Decimal(value) if isinstance(value, str) else Decimal(str(value))
        self.total = number if self.total is None else add(self.total, number)

    def finalize(self) -> str | None:
        return None if self.total is None else format_decimal(self.total)
