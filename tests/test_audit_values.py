"""The audit log's pure helpers: id runs and JSON-ready values (docs/ledger.md §20)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from stocksbot.storage.audit import jsonable, trade_runs


def test_runs_split_at_gaps_in_any_order() -> None:
    assert trade_runs([7, 1, 2, 3, 8, 10]) == [(1, 3), (7, 8), (10, 10)]
    assert trade_runs([]) == []


@given(st.sets(st.integers(min_value=1, max_value=500)))
def test_runs_cover_exactly_the_ids(ids: set[int]) -> None:
    runs = trade_runs(ids)
    assert {i for first, last in runs for i in range(first, last + 1)} == ids
    # Maximal runs: consecutive runs never touch.
    assert all(b[0] > a[1] + 1 for a, b in zip(runs, runs[1:]))


def test_values_keep_every_digit_and_say_utc() -> None:
    at = datetime(2024, 3, 15, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    value = {"price": Decimal("149.8333333333333333333"), "at": at, "day": date(2024, 3, 15),
             "ids": (1, Decimal("2.50")), "none": None}
    assert jsonable(value) == {"price": "149.8333333333333333333", "at": "2024-03-15T08:00:00+00:00",
                               "day": "2024-03-15", "ids": [1, "2.50"], "none": None}
