"""A bare date in `--until` means the end of that local day (issue 11 §2.6, docs/ledger.md §1.6)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from stocksbot.ledger.inputs import parse_range_end, parse_time


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_bare_date_ends_at_the_last_microsecond_of_the_local_day(new_york) -> None:  # type: ignore[no-untyped-def]
    assert parse_range_end("2024-03-15") == datetime(2024, 3, 16, 3, 59, 59, 999999, tzinfo=timezone.utc)
    # The day DST starts has 23 hours: it still ends at the next local midnight.
    assert parse_range_end("2024-03-10") == datetime(2024, 3, 11, 3, 59, 59, 999999, tzinfo=timezone.utc)
    assert parse_range_end(" 2024-11-03 ") == datetime(2024, 11, 4, 4, 59, 59, 999999, tzinfo=timezone.utc)
    # A time, an offset or a datetime object is taken as given; `--since` keeps the start of the day.
    assert parse_range_end("2024-03-15T12:00") == parse_time("2024-03-15T12:00")
    assert parse_range_end("2024-03-15T12:00Z") == datetime(2024, 3, 15, 12, tzinfo=timezone.utc)
    moment = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert parse_range_end(moment) == moment
    assert parse_time("2024-03-15") == datetime(2024, 3, 15, 4, tzinfo=timezone.utc)


@pytest.mark.slow  # a dozen CLI runs: over a second
def test_until_a_date_includes_that_whole_day_in_every_command(run, data) -> None:  # type: ignore[no-untyped-def]
    assert run("cash", "deposit", "1000", "--at", "2024-03-15T09:00").exit_code == 0
    for at, price in (("2024-03-14T10:00", "10"), ("2024-03-15T15:30", "11"), ("2024-03-15T23:59:59", "12"),
                      ("2024-03-16T00:00", "13")):
        assert run("trade", "add", "buy", "AAA", "1", "--price", price, "--at", at).exit_code == 0
        assert run("price", "add", "AAA", price, "--at", at).exit_code == 0

    def trades(*args: str) -> list[str]:
        return [t["price"] for t in data("trade", "list", *args)]

    def bars(*args: str) -> list[str]:
        return [bar["close"] for bar in data("price", "history", "AAA", *args)]

    assert trades("--until", "2024-03-15") == ["10", "11", "12"]
    assert trades("--since", "2024-03-15", "--until", "2024-03-15") == ["11", "12"]
    assert trades("--until", "2024-03-15T15:30") == ["10", "11"]
    assert trades("--until", "2024-03-14") == ["10"]
    assert bars("--until", "2024-03-15") == ["10", "11", "12"]
    assert bars("--since", "2024-03-16", "--until", "2024-03-16") == ["13"]
    deposits = [m["amount"] for m in data("cash", "list", "--until", "2024-03-15") if m["kind"] == "deposit"]
    assert deposits == ["1000"]
    assert [m["kind"] for m in data("cash", "list", "--since", "2024-03-16", "--until", "2024-03-16")] == ["trade"]
