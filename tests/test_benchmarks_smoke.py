"""A tiny `--quick` run of the benchmark harness, so it cannot rot between real benchmark runs.

The full-size benchmark (`python -m benchmarks.run`) is not part of the unit-test run; this
only checks that every scenario runs and reports numbers, not how fast they are.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from benchmarks import run


@pytest.mark.slow
def test_quick_benchmark_reports_every_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "results.json"
    started = time.monotonic()
    code = run.main([
        "--quick", "--trades", "2000", "--symbols", "20", "--bars", "2000", "--repeat", "2",
        "--output", str(output), "--workdir", str(tmp_path / "work"),
    ])
    elapsed = time.monotonic() - started
    printed = capsys.readouterr().out

    report = json.loads(output.read_text())
    errors = {s["id"]: s.get("error") for s in report["scenarios"] if "error" in s}
    assert code == 0, f"benchmark exited {code}; errors: {errors}"
    assert not errors

    expected = {
        "startup.baseline_import_click", "help.root", "help.position", "help.trade",
        *(f"{name}@sqlite" for name in (
            "import.baseline_executemany", "import.trades", "setup.price_import", "position.list", "summary",
            "price.latest_5", "price.history_30d", "position.rebuild", "api.trade_add", "api.order_fill",
        )),
    }
    by_id = {s["id"]: s for s in report["scenarios"]}
    assert expected <= by_id.keys(), f"missing scenarios: {sorted(expected - by_id.keys())}"
    for ident in expected:
        scenario = by_id[ident]
        for key in ("median_s", "p95_s", "min_s", "max_s"):
            value = scenario[key]
            assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (ident, key, value)
        assert scenario["min_s"] <= scenario["median_s"] <= scenario["p95_s"] <= scenario["max_s"]
        assert scenario["verdict"] in ("PASS", "baseline", "info") or scenario["verdict"].startswith("FAIL")
    for ident in ("import.trades@sqlite", "api.trade_add@sqlite", "api.order_fill@sqlite"):
        assert by_id[ident]["rate_per_s"] > 0
    assert by_id["import.trades@sqlite"]["peak_rss_mb"] > 0
    assert by_id["import.trades@sqlite"]["items"] == 2000

    machine = report["machine"]
    assert machine["nproc"] >= 1 and machine["python"] and machine["sqlite"]
    assert report["parameters"]["trades"] == 2000 and report["parameters"]["repeat"] == 2
    assert "| help.root" in printed and "Verdict" in printed
    assert elapsed < 45, f"the quick benchmark took {elapsed:.0f} s"
