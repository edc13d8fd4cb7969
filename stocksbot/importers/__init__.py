"""Broker statement formats for `stocksbot import` (docs/brokers.md §2, §14): the registry.

Each `--from` name maps to a module of this package exposing `FORMAT` (entries.Format).
Modules are imported only when asked for, so `stocksbot --help` and the other commands pay
nothing for the parsers (and `ibflex` loads only for IBKR's XML). `--from auto` asks each
format's `detect` in `DETECTION_ORDER` about the first kilobytes of the file; `generic`
is never detected, it is chosen with `--from generic` and `--map`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from stocksbot.errors import StocksbotError

if TYPE_CHECKING:
    from stocksbot.importers.entries import Format

#: `--from` name -> module of this package.
MODULES: dict[str, str] = {
    "stocksbot": "native",
    "generic": "generic",
    "ibkr": "ibkr_flex",
    "ibkr-activity": "ibkr_activity",
    "ibkr-xml": "ibkr_xml",
    "schwab": "schwab",
    "fidelity": "fidelity",
    "degiro": "degiro",
    "trading212": "trading212",
    "revolut": "revolut",
}
#: The `--from` choices: auto first, then the formats.
CHOICES: tuple[str, ...] = ("auto", *MODULES)
#: The order `auto` asks in: the specific layouts first, stocksbot's own (plain column names) last.
DETECTION_ORDER: tuple[str, ...] = ("ibkr-xml", "ibkr-activity", "ibkr", "schwab", "fidelity", "degiro",
                                    "trading212", "revolut", "stocksbot")
#: How much of a file `auto` reads to recognise it.
HEAD_SIZE = 8192


def load(name: str) -> "Format":
    """The format called `name` (a key of `MODULES`), its module imported on first use."""
    found: Format = importlib.import_module(f"{__name__}.{MODULES[name]}").FORMAT
    return found


def available() -> list["Format"]:
    """Every format, in `MODULES` order."""
    return [load(name) for name in MODULES]


def choose(name: str, head: str, source: str) -> "Format":
    """The format to read `source` with: `name`'s, or with `auto` the first whose `detect` knows `head`."""
    if name != "auto":
        if name not in MODULES:
            raise StocksbotError(f"unknown format {name!r}: use one of {', '.join(CHOICES)}")
        return load(name)
    candidates = [load(candidate) for candidate in DETECTION_ORDER]
    for candidate in candidates:
        if candidate.detect(head):
            return candidate
    if not head.strip():
        raise StocksbotError(f"{source} is empty: expected a broker statement with a header row")
    names = ", ".join(f"{found.name} ({found.title})" for found in candidates)
    raise StocksbotError(f"cannot tell which broker's export {source} is from its header: it is none of {names}; "
                         "name the format with --from, or read any CSV with --from generic --map FIELD=COLUMN,...")
