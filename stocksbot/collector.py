"""The cyclic garbage collector, paused while a command starts and while a pass builds many
objects that form no cycles.

CPython's collector runs each time some hundreds of container objects (tuples, lists, records)
have been made since the last run, and examines the young ones; every tenth run examines older
ones too, and now and then all of them. A pass that reads a million rows, or builds a report of
a hundred thousand records, makes containers that all stay alive until it ends and hold no
reference cycle: the collector would examine them again and again and free nothing (a large
share of `report realized --year` on the benchmark database; BENCHMARKS.md, eleventh round).
Garbage made while paused is freed by reference counting as usual; only cycles wait for the end.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (if it was on), and turn it back on after."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


#: Whether `pause_gc` turned the cyclic garbage collector off (and `resume_gc` must turn it on).
_gc_paused = False


def pause_gc() -> None:
    """Turn Python's cyclic garbage collector off while the command starts (`main` calls it).

    Starting a command makes some 50,000 objects that live as long as the process (Click,
    SQLAlchemy, the schema, stocksbot's modules), and the collector examines them again and
    again as they are made, freeing nothing: about 4 % of a short command's instructions
    (measured with callgrind on `position list`; issue 10). `resume_gc` turns it back on.
    """
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def resume_gc() -> None:
    """Turn the collector back on once the database is open (start-up is over), after moving
    what start-up made out of its way (`gc.freeze`): without that, the first collection would
    examine all of it at once, and every full collection of a long command again."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.enable()
