"""The cyclic garbage collector, paused while a pass builds many objects that form no cycles.

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
