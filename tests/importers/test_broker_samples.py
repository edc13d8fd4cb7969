"""Every real broker export beside the repository is recognised and read without a problem.

The real exports (from public projects) live outside the repository, in
`../shared/broker-samples/<format>/` next to the checkout; they are read where they are and
never copied in (the project's own fixtures are invented, in tests/fixtures/brokers/). Each
file must be detected as its folder's format by `--from auto`, and every row must become an
entry, a skip or an unknown action (the reasons are in docs/brokers.md §11-§13) — never a
problem. The files that book on their own (complete histories) are then imported through the
command line, and a second import must change nothing.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from stocksbot import importers
from stocksbot.errors import StocksbotError
from stocksbot.importers.entries import ParseOptions, Problem, Unknown

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "broker-samples"
#: Sample folder -> the `--from` name its files must be detected as (the cgt-calc "raw"
#: files are a generic CSV: no broker's header, so auto must refuse them).
FOLDERS = {"degiro": "degiro", "ibkr": "ibkr", "ibkr-activity": "ibkr-activity", "revolut": "revolut",
           "schwab": "schwab", "trading212": "trading212"}
#: Unknown actions the samples are known to hold, per file (docs/brokers.md says why each
#: has no record): anything else unknown is a regression.
KNOWN_UNKNOWN = {"schwab-export.csv": 8, "trading212-export.csv": 1}
#: Files imported through the command line, with the options they need: the Degiro sample is
#: a window of a longer history (it sells what it never bought), so it needs --allow-short.
BOOKABLE = {"ibkr/ibkr-trades-export.csv": (), "ibkr/ibkr-dividends-export.csv": (),
            "ibkr-activity/cgt-test_basic.csv": (),
            "schwab/cgt-2023-transactions.csv": (), "schwab/cgt-rsu_settlement-transactions.csv": (),
            "trading212/cgt-2026-transactions.csv": (), "degiro/degiro-export.csv": ("--allow-short",)}

if not SAMPLES.is_dir() and os.environ.get("STOCKSBOT_REQUIRE_SAMPLES") == "1":
    # CI has the samples beside the checkout; there a missing folder is a failure, not a skip.
    raise RuntimeError(f"STOCKSBOT_REQUIRE_SAMPLES=1 but there are no broker samples at {SAMPLES}")
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"no broker samples at {SAMPLES}")


def _samples() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(path for folder in FOLDERS for path in (SAMPLES / folder).glob("*.csv"))


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("path", _samples(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_sample_is_detected_and_read_without_problems(path: Path) -> None:
    text = _text(path)
    found = importers.choose("auto", text[: importers.HEAD_SIZE], str(path))
    assert found.name == FOLDERS[path.parent.name]
    items = list(found.parse(text.splitlines(keepends=True), ParseOptions()))
    problems = [item for item in items if isinstance(item, Problem)]
    assert problems == []
    assert sum(isinstance(item, Unknown) for item in items) == KNOWN_UNKNOWN.get(path.name, 0)
    kinds = Counter(type(item).__name__ for item in items)
    assert sum(count for kind, count in kinds.items() if kind.endswith("Entry")) > 0


def test_generic_csv_is_not_claimed_by_any_broker() -> None:
    for path in sorted((SAMPLES / "raw").glob("*.csv")):
        with pytest.raises(StocksbotError, match="cannot tell which broker"):
            importers.choose("auto", _text(path)[: importers.HEAD_SIZE], str(path))


@pytest.mark.slow
@pytest.mark.parametrize("relative", BOOKABLE)
def test_sample_imports_once(run, relative: str) -> None:  # type: ignore[no-untyped-def]
    path = SAMPLES / relative
    first = run("--json", "import", str(path), *BOOKABLE[relative])
    assert first.exit_code == 0, first.output
    imported = json.loads(first.output)["imported"]
    assert sum(imported.values()) > 0
    check = run("db", "check")
    assert check.exit_code == 0, check.output
    again = run("--json", "import", str(path), *BOOKABLE[relative])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["imported"] == dict.fromkeys(imported, 0)
