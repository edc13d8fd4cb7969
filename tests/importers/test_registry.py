"""The format registry and `--from auto` (docs/brokers.md §2)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from stocksbot import importers
from stocksbot.errors import StocksbotError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "brokers"


def test_every_name_has_a_module_and_the_missing_ones_are_left_out() -> None:
    assert set(importers.MODULES) == {"stocksbot", "generic", "ibkr", "ibkr-activity", "ibkr-xml", "schwab",
                                      "fidelity", "degiro", "trading212", "revolut"}
    assert set(importers.DETECTION_ORDER) == set(importers.MODULES) - {"generic"}
    for name, module in importers.MODULES.items():
        found = importers.load(name)
        exists = importlib.util.find_spec(f"stocksbot.importers.{module}") is not None
        assert (found is not None) == exists
        if found is not None:
            assert found.name == name and found.title
    assert {f.name for f in importers.available()} >= {"stocksbot", "generic"}


def test_a_module_failing_for_another_reason_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> object:
        raise ModuleNotFoundError("No module named 'somedependency'", name="somedependency")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError):
        importers.load("degiro")


def test_auto_recognises_stocksbots_own_header_never_generic() -> None:
    head = (FIXTURES / "native.csv").read_text()
    assert importers.choose("auto", head, "f.csv").name == "stocksbot"
    assert not importers.load("generic").detect(head)  # type: ignore[union-attr]
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


def test_a_format_not_in_this_build_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(importers.MODULES, "revolut", "no_such_module_here")
    monkeypatch.delitem(sys.modules, "stocksbot.importers.no_such_module_here", raising=False)
    assert importers.load("revolut") is None
    with pytest.raises(StocksbotError, match="the revolut format is not available"):
        importers.choose("revolut", "a,b\n", "x.csv")
