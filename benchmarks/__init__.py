"""stocksbot's performance benchmarks: `python -m benchmarks.run` (see BENCHMARKS.md).

Not part of the unit-test run; `tests/test_benchmarks_smoke.py` runs a tiny `--quick` pass.
"""
