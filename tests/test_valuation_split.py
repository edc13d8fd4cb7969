"""`performance` in two processes (services/valuation_split.py, docs/ledger.md §18.8), on SQLite.

The second process values half of the symbols; the numbers must be those of one process to
the last digit, for every scope and range, and its failures must reach the user as the first
process's would.
"""

from __future__ import annotations

import os
import random
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from stocksbot import open_storage
from stocksbot.errors import StocksbotError
from stocksbot.services import daily_values, valuation_split
from stocksbot.storage.repositories import Repositories

D = Decimal


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every `os.fork` the split makes, counted (the child's own forks are never seen: it makes none)."""
    made: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(valuation_split.os, "fork", fork)
    return made


@pytest.fixture
def sqlite_storage(migrated_sqlite_url: str) -> Iterator[Any]:
    with open_storage(migrated_sqlite_url) as storage:
        yield storage


def _ledger(storage: Any, seed: int) -> None:
    """A random ledger over two accounts: many trades a day, positions closed and opened again,
    renames (a chain of two, one more, one into a symbol only priced after), splits, share
    transfers at a trade's moment, deposits, a dividend, symbols in euros and in pounds (with
    their rates, one late) and one without bars."""
    rng = random.Random(seed)
    with storage.transaction() as conn:
        Repositories(conn).accounts.add(name="ira", currency="USD", margin=False, status="open")
    storage.set_symbol("SAP", currency="EUR")
    storage.set_symbol("VOD", currency="GBP")
    storage.add_price("EUR/USD", "1.1", at="2024-01-01T09:00")
    storage.deposit("500", at="2024-01-02T10:00")
    symbols = ["AAA", "BBB", "CCC", "DDD", "SAP", "VOD", "NOBAR"]
    held: dict[tuple[str, str], Decimal] = {}
    for day in range(2, 16):
        for minute in range(rng.randint(3, 10)):
            stamp = f"2024-01-{day:02d}T10:{minute * 5:02d}"
            symbol, account = rng.choice(symbols), rng.choice(["main", "ira"])
            have = held.get((account, symbol), D(0))
            price = str(D(rng.randint(500, 1500)) / 10)
            if have and rng.random() < 0.3:
                side, quantity = "sell", have
            elif have > 1 and rng.random() < 0.3:
                side, quantity = "sell", D(rng.randint(1, int(have)))
            else:
                side, quantity = "buy", D(rng.randint(1, 40)) / 4
            storage.record_trade(side=side, symbol=symbol, quantity=str(quantity), price=price, account=account,
                                 commission=rng.choice(["0", "1.25"]), fees=rng.choice(["0", "0", "0.1"]),
                                 executed_at=stamp)
            held[(account, symbol)] = have + (quantity if side == "buy" else -quantity)
            if rng.random() < 0.1:
                storage.deposit("50", account=account, at=stamp)
            if rng.random() < 0.08 and held[(account, symbol)] > 1:
                other = "ira" if account == "main" else "main"
                storage.transfer_shares(symbol, "1", from_account=account, to_account=other, at=stamp)
                held[(account, symbol)] -= 1
                held[(other, symbol)] = held.get((other, symbol), D(0)) + 1
        for symbol in rng.sample([s for s in symbols if s != "NOBAR"], 3):
            storage.add_price(symbol, str(D(rng.randint(500, 1500)) / 10), at=f"2024-01-{day:02d}T16:00")
        if day == 4:
            storage.record_split("AAA", "2:1", at="2024-01-05")
            held = {key: value * 2 if key[1] == "AAA" else value for key, value in held.items()}
        if day == 6:
            storage.rename_symbol("CCC", "CCX", "2024-01-07")
            symbols[symbols.index("CCC")] = "CCX"
            held = {(account, "CCX" if symbol == "CCC" else symbol): value for (account, symbol), value in held.items()}
            storage.record_dividend("BBB", "1.5", account="main", paid_at="2024-01-06T10:00")
        if day == 9:
            storage.rename_symbol("CCX", "CCY", "2024-01-10")
            symbols[symbols.index("CCX")] = "CCY"
            held = {(account, "CCY" if symbol == "CCX" else symbol): value for (account, symbol), value in held.items()}
            storage.record_split("DDD", "1:4", at="2024-01-10")
            held = {key: value / 4 if key[1] == "DDD" else value for key, value in held.items()}
        if day == 11:
            storage.add_price("GBP/USD", "1.27", at="2024-01-11T12:00")
            storage.rename_symbol("BBB", "BBZ", "2024-01-12")  # a chain the second process values
            symbols[symbols.index("BBB")] = "BBZ"
            held = {(account, "BBZ" if symbol == "BBB" else symbol): value for (account, symbol), value in held.items()}
    # A change into a symbol that is never traded, only priced, on a symbol the second process values.
    storage.rename_symbol("DDD", "DDE", "2024-01-17")
    storage.add_price("DDE", "77.5", at="2024-01-18T16:00")


def _both(monkeypatch: pytest.MonkeyPatch, forks: list[int], measure: Callable[[], Any]) -> tuple[Any, Any]:
    """`measure()` in one process, then in two (the split forced on a small ledger)."""
    monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 10**12)
    one = measure()
    assert not forks
    monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 0)
    two = measure()
    assert len(forks) == 1, "the second process did not run"
    forks.clear()
    return one, two


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_processes_give_the_numbers_of_one(sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch,
                                               forks: list[int], seed: int) -> None:
    """Every day's value, flows, income and costs, the value before the range and the missing
    rates are the same, to the last digit, for the portfolio, each account and a later range."""
    _ledger(sqlite_storage, seed)
    for options in ({}, {"accounts": ["ira"]}, {"accounts": ["main"]}, {"since": "2024-01-08"}):
        one, two = _both(monkeypatch, forks, lambda: sqlite_storage.performance(
            interval="week", until="2024-01-20", **options))
        assert str(one.days) == str(two.days), options
        assert sum(day.value is not None for day in one.days) >= 5, options  # rates and prices known from day 11
        assert (str(one.start_value), one.missing_rates) == (str(two.start_value), two.missing_rates), options
        assert one.to_json() == two.to_json()
    assert one.missing_rates == ["GBP/USD"]  # VOD was held before its rate arrived


def test_a_strategy_stays_in_one_process(sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch,
                                         forks: list[int]) -> None:
    sqlite_storage.add_strategy("swing")
    sqlite_storage.record_trade(side="buy", symbol="AAA", quantity="1", price="10", strategy="swing",
                                executed_at="2024-01-02T10:00")
    monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 0)
    report = sqlite_storage.performance(strategy="swing", interval="all", until="2024-01-03")
    assert report.total is not None and report.total.end_value == D(10)
    assert not forks


def test_the_second_part_keeps_chains_together_and_rates_with_the_first(sqlite_storage: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from stocksbot.storage.events import MOVEMENT, RENAME, other_events

    for symbol in ("AAA", "BBB", "CCC", "DDD", "EEE", "EUR/USD", "FFF"):
        sqlite_storage.record_trade(side="buy", symbol=symbol, quantity="1", price="1", executed_at="2024-01-02T10:00")
    sqlite_storage.rename_symbol("BBB", "ZZZ", "2024-01-03")
    sqlite_storage.record_trade(side="buy", symbol="ZZZ", quantity="1", price="1", executed_at="2024-01-04T10:00")
    assert not valuation_split.may_split(sqlite_storage.uow, None)  # a small ledger: one process
    monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 8)
    assert valuation_split.may_split(sqlite_storage.uow, None)
    assert not valuation_split.may_split(sqlite_storage.uow, "swing")
    with sqlite_storage.uow.reading() as conn:
        names = Repositories(conn).accounts.names()
        others = other_events(conn, names)
        second = valuation_split.second_part(conn, others)
    # The names but the pair: AAA BBB CCC DDD EEE FFF ZZZ; the median DDD starts the second's
    # half; ZZZ is BBB's new name, so it moves to the first with BBB, and the pair stays there.
    assert second is not None and (second.start, second.moved) == ("DDD", frozenset({"ZZZ"}))
    assert [symbol for symbol in ("AAA", "BBB", "CCC", "DDD", "EEE", "EUR/USD", "FFF", "ZZZ")
            if second.has(symbol)] == ["DDD", "EEE", "FFF"]
    first, theirs = valuation_split.split_events(others, second)
    assert not theirs and {kind for (_at, kind, _id), _event in first} == {RENAME, MOVEMENT}
    sqlite_storage.rename_symbol("EEE", "EEF", "2024-01-05")  # a chain wholly in the second's half
    with sqlite_storage.uow.reading() as conn:
        others = other_events(conn, Repositories(conn).accounts.names())
        second = valuation_split.second_part(conn, others)
    assert second is not None and (second.start, second.moved) == ("EEE", frozenset({"ZZZ"}))
    first, theirs = valuation_split.split_events(others, second)
    assert [event.new_symbol for _key, event in theirs] == ["EEF"]


def _fail_pass(monkeypatch: pytest.MonkeyPatch, which: Callable[[daily_values.DailyValuation], bool],
               error: Exception) -> None:
    """Make the pass of the process `which` picks raise `error` as it starts, with the split forced."""
    real_run = daily_values.DailyValuation.run

    def run(self: daily_values.DailyValuation, *args: Any) -> Any:
        if which(self):
            raise error
        return real_run(self, *args)

    monkeypatch.setattr(daily_values.DailyValuation, "run", run)
    monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 0)


def test_an_error_in_the_second_process_is_the_users_one_line(
        sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch, forks: list[int]) -> None:
    """The second process's error (here: one it raises as it starts its pass) is raised by the
    first, and the second is gone when `performance` returns."""
    _ledger(sqlite_storage, 1)
    _fail_pass(monkeypatch, lambda valuation: valuation.sink is not None,
               StocksbotError("database error on test.db: interrupted"))
    with pytest.raises(StocksbotError, match="^database error on test.db: interrupted$"):
        sqlite_storage.performance(interval="all", until="2024-01-20")
    assert len(forks) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(forks[0], os.WNOHANG)  # reaped


def test_a_second_process_that_dies_is_an_error_not_a_hang(
        sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch, forks: list[int]) -> None:
    _ledger(sqlite_storage, 2)
    monkeypatch.setattr(valuation_split, "_second", lambda *args: os._exit(3))
    monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 0)
    with pytest.raises(StocksbotError, match="second valuation process stopped without an answer"):
        sqlite_storage.performance(interval="all", until="2024-01-20")


def test_the_first_process_failing_stops_the_second(
        sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch, forks: list[int]) -> None:
    """The first process fails as its pass begins: the second, still replaying, stops on the
    broken pipe and is reaped."""
    _ledger(sqlite_storage, 3)
    _fail_pass(monkeypatch, lambda valuation: valuation.partner is not None, KeyError("a bug in the first process"))
    with pytest.raises(KeyError):
        sqlite_storage.performance(interval="day", until="2025-12-31")
    with pytest.raises(ChildProcessError):
        os.waitpid(forks[0], os.WNOHANG)


def test_the_hold_is_not_taken_while_another_writer_has_the_lock(migrated_sqlite_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 forks: list[int]) -> None:
    """Another process writing: the hold is refused at once, and one process values everything."""
    path = Path(migrated_sqlite_url.removeprefix("sqlite:///"))
    with open_storage(migrated_sqlite_url) as storage:
        _ledger(storage, 1)
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        try:
            with storage.uow.writers_held() as held:
                assert held is False
            monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 0)
            report = storage.performance(interval="all", until="2024-01-20")
            assert report.total is not None and not forks
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        with storage.uow.writers_held() as held:
            assert held is True
            other = sqlite3.connect(path, isolation_level=None, timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # a writer must wait for the hold
            assert other.execute("SELECT count(*) FROM trades").fetchone()[0] > 0  # a reader need not
            other.close()
        with storage.uow.writers_held() as held:  # released, and takeable again
            assert held is True


def test_a_program_with_other_threads_stays_in_one_process(sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch,
                                                           forks: list[int]) -> None:
    """A bot that calls `performance` while another thread runs: no fork (it would copy the
    program without that thread, and any lock it held would stay locked)."""
    import threading

    _ledger(sqlite_storage, 1)
    monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 0)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        report = sqlite_storage.performance(interval="all", until="2024-01-20")
    finally:
        stop.set()
        other.join()
    assert report.total is not None and not forks
    sqlite_storage.performance(interval="all", until="2024-01-20")
    assert len(forks) == 1


def test_a_file_this_process_may_only_read_stays_in_one_process(sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch,
                                                                forks: list[int]) -> None:
    """SQLite begins BEGIN IMMEDIATE on a read-only connection without locking anything, so no
    hold is claimed there, and one process values everything (root passes every permission
    check, so the test says the file is read-only as `database.sqlite_access` would)."""
    from stocksbot.storage import unit_of_work

    _ledger(sqlite_storage, 2)
    monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 0)
    monkeypatch.setattr(unit_of_work, "sqlite_access", lambda path: "ro")
    with sqlite_storage.uow.writers_held() as held:
        assert held is False
    report = sqlite_storage.performance(interval="all", until="2024-01-20")
    assert report.total is not None and not forks


def test_no_process_to_spare_is_one_process_not_an_error(sqlite_storage: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`os.fork` refused (a limit on processes): one process values everything, the same numbers."""
    _ledger(sqlite_storage, 3)
    expected = sqlite_storage.performance(interval="week", until="2024-01-20")

    def fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(valuation_split.os, "fork", fork)
    monkeypatch.setattr(valuation_split, "TWO_PROCESS_MIN_TRADES", 0)
    report = sqlite_storage.performance(interval="week", until="2024-01-20")
    assert str(report.days) == str(expected.days) and report.days
