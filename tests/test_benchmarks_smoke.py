"""A tiny `--quick` run of the benchmark harness, so it cannot rot between real benchmark runs.

The full-size benchmark (`python -m benchmarks.run`) is not part of the unit-test run; this
only checks that every scenario runs and reports numbers, not how fast they are.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import run


@pytest.mark.slow
def test_quick_benchmark_reports_every_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "results.json"
    code = run.main([
        "--quick", "--trades", "2000", "--symbols", "20", "--bars", "2000", "--repeat", "2",
        "--output", str(output), "--workdir", str(tmp_path / "work"),
    ])
    printed = capsys.readouterr().out

    report = json.loads(output.read_text())
    errors = {s["id"]: s.get("error") for s in report["scenarios"] if "error" in s}
    assert code == 0, f"benchmark exited {code}; errors: {errors}"
    assert not errors

    baselines = {
        "startup.baseline_python", "startup.baseline_import_click", "startup.baseline_import_sqlalchemy",
        *(f"{name}@sqlite" for name in (
            "import.baseline_executemany", "import.baseline_schema", "read.baseline_select",
            "startup.baseline_import_sqlalchemy", "price.baseline_point_query", "api.baseline_insert_commit",
            "import.broker_baseline",
        )),
    }
    judged = {
        "help.root", "help.position", "help.trade",
        "startup.trade_add", "startup.position_list", "startup.summary", "startup.config_get",
        *(f"{name}@sqlite" for name in (
            "import.trades", "position.list", "summary", "price.latest_5", "price.history_30d", "position.rebuild",
            "api.trade_add", "api.order_fill", "account.list", "portfolio.position_list", "portfolio.summary",
            "portfolio.account_list", "portfolio.rebuild", "import.broker", "report.realized_year", "summary.as_of",
            "performance.month", "portfolio.performance_month",
        )),
    }
    expected = baselines | judged | {"setup.price_import@sqlite", "setup.portfolio@sqlite"}
    by_id = {s["id"]: s for s in report["scenarios"]}
    assert expected <= by_id.keys(), f"missing scenarios: {sorted(expected - by_id.keys())}"
    for ident in expected:
        scenario = by_id[ident]
        for key in ("median_s", "p95_s", "min_s", "max_s"):
            value = scenario[key]
            assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (ident, key, value)
        assert scenario["min_s"] <= scenario["median_s"] <= scenario["p95_s"] <= scenario["max_s"]
        assert scenario["verdict"] in ("PASS", "baseline", "info") or scenario["verdict"].startswith("FAIL")
    for ident in baselines:
        assert by_id[ident]["verdict"] == "baseline", ident
    # Every target is a ratio to a baseline measured in the same run, and the verdict judges it.
    for ident in judged:
        scenario = by_id[ident]
        assert scenario["verdict"] == "PASS" or scenario["verdict"].startswith("FAIL"), (ident, scenario["verdict"])
        # The portfolio database's rebuild is judged against the plain database's, of the same run, and the
        # views of the past and `performance` against `summary`.
        assert scenario["ratio_to"] in {b.split("@")[0] for b in baselines} | {"position.rebuild", "summary"}, ident
        assert scenario["ratio_limit"] > 0 and scenario["calibration"], ident
        ratio = scenario["ratio"]
        assert isinstance(ratio, float) and math.isfinite(ratio) and ratio > 0, (ident, ratio)
        assert scenario["ratios"][scenario["ratio_to"]] == ratio
        passed = ratio >= scenario["ratio_limit"] if scenario["target_kind"] == "rate_min" else (
            ratio <= scenario["ratio_limit"])
        rss_ok = ident != "import.trades@sqlite" or scenario["peak_rss_mb"] <= 300
        assert (scenario["verdict"] == "PASS") == (passed and rss_ok), ident
    assert by_id["startup.trade_add"]["ratio_to"] == "startup.baseline_import_sqlalchemy"
    assert by_id["startup.trade_add"]["ratio_limit"] == 1.3 and by_id["help.root"]["ratio_limit"] == 1.5
    assert by_id["import.trades@sqlite"]["ratio_to"] == "import.baseline_schema"
    assert by_id["import.trades@sqlite"]["ratio_limit"] == 0.5
    for ident in ("account.list@sqlite", "portfolio.position_list@sqlite", "portfolio.summary@sqlite",
                  "portfolio.account_list@sqlite"):
        assert by_id[ident]["ratio_to"] == "startup.baseline_import_sqlalchemy", ident
        assert by_id[ident]["ratio_limit"] == 2.3, ident
    for ident in ("report.realized_year@sqlite", "summary.as_of@sqlite"):
        assert by_id[ident]["ratio_to"] == "summary" and by_id[ident]["ratio_limit"] == 5, ident
    rebuild = by_id["portfolio.rebuild@sqlite"]
    assert rebuild["ratio_to"] == "position.rebuild" and rebuild["ratio_limit"] == 1.2
    assert rebuild["ratio"] == rebuild["median_s"] / by_id["position.rebuild@sqlite"]["median_s"]
    steps = by_id["setup.portfolio@sqlite"]["steps"]
    assert steps["splits"]["count"] == 1  # one per 20 symbols
    assert steps["deposits"]["count"] >= 3  # one a month: 100 business days of history
    assert steps["dividends"]["count"] >= 1  # a quarter per symbol held: one ex-date in the history
    assert steps["second_account"]["trades"] == 70
    # The harness and the stocksbot commands it times run this checkout's code.
    code = report["stocksbot_code"]
    assert code["in_process"] == code["children"] == str(Path(run.__file__).resolve().parent.parent / "stocksbot"
                                                          / "__init__.py")
    assert report["schema"] == 2 and report["targets"]["startup.*"]["limit"] == 1.3
    for ident in ("import.trades@sqlite", "api.trade_add@sqlite", "api.order_fill@sqlite",
                  "api.baseline_insert_commit@sqlite", "read.baseline_select@sqlite"):
        assert by_id[ident]["rate_per_s"] > 0
    assert by_id["import.trades@sqlite"]["peak_rss_mb"] > 0
    assert by_id["import.trades@sqlite"]["items"] == 2000

    machine = report["machine"]
    assert machine["nproc"] >= 1 and machine["python"] and machine["sqlite"]
    assert report["parameters"]["trades"] == 2000 and report["parameters"]["repeat"] == 2
    assert "| help.root" in printed and "| startup.trade_add" in printed and "Verdict" in printed
    assert "x import sqlalchemy" in printed
