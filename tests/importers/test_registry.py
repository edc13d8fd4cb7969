"""The format registry and `--from auto` (docs/brokers.md §2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stocksbot import importers
from stocksbot.errors import StocksbotError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "brokers"


def test_every_name_has_a_format_of_that_name() -> None:
    assert set(importers.MODULES) == {"stocksbot", "generic", "ibkr", "ibkr-activity", "ibkr-xml", "schwab",
                                      "fidelity", "degiro", "trading212", "revolut"}
    assert set(importers.DETECTION_ORDER) == set(importers.MODULES) - {"generic"}
    for name in importers.MODULES:
        found = importers.load(name)
        assert found.name == name and found.title
    assert [f.name for f in importers.available()] == list(importers.MODULES)


def test_auto_recognises_stocksbots_own_header_never_generic() -> None:
    head = (FIXTURES / "native.csv").read_text()
    assert importers.choose("auto", head, "f.csv").name == "stocksbot"
    assert not importers.load("generic").detect(head)
    assert importers.choose("generic", head, "f.csv").name == "generic"


def test_an_unknown_header_names_the_formats_and_suggests_from() -> None:
    with pytest.raises(StocksbotError) as caught:
        importers.choose("auto", "Foo,Bar\n1,2\n", "x.csv")
    message = str(caught.value)
    assert "x.csv" in message and "stocksbot (stocksbot trade CSV)" in message and "--from" in message
    assert "\n" not in message and "generic (" not in message
    with pytest.raises(StocksbotError, match="x.csv is empty"):
        importers.choose("auto", "", "x.csv")
    with pytest.raises(StocksbotError, match="unknown format 'nope'"):
        importers.choose("nope", "", "x.csv")
