"""`collector_paused`: the cyclic collector rests for a block and comes back as it was."""

from __future__ import annotations

import gc

import pytest

from stocksbot.collector import collector_paused


def test_the_collector_rests_in_the_block_and_is_back_after_it_even_on_an_error() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_reports_leave_the_collector_on(storage) -> None:
    storage.record_trade(side="buy", symbol="AAPL", quantity="10", price="100", executed_at="2024-01-02T10:00")
    storage.record_trade(side="sell", symbol="AAPL", quantity="4", price="110", executed_at="2024-01-03T10:00")
    assert len(storage.realized().rows) == 1
    assert storage.performance(interval="all", until="2024-01-03").total is not None
    assert gc.isenabled()
