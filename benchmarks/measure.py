"""Timing helpers: wall-clock samples, percentiles, and child processes with their peak RSS.

Only the standard library: `time.perf_counter` for wall time and `os.wait4` for a child's
resource usage (ru_maxrss is its peak resident set, in KiB on Linux).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    return {
        "median_s": percentile(samples, 50),
        "p95_s": percentile(samples, 95),
        "min_s": min(samples),
        "max_s": max(samples),
    }


@dataclass
class ProcessRun:
    seconds: float
    returncode: int
    peak_rss_mb: float
    stdout: str
    stderr: str


def stocksbot_command() -> list[str]:
    """The installed `stocksbot` console script next to this interpreter (what users run)."""
    beside = Path(sys.executable).parent / "stocksbot"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("stocksbot")
    return [found] if found else [sys.executable, "-m", "stocksbot"]


# A child's ru_maxrss starts at the resident size of the process that spawned it (Linux
# carries the spawner's high-water mark across fork/vfork + exec), so a large benchmark
# process would inflate every figure. Children are therefore spawned by this small launcher
# (a bare interpreter, about 10 MB), which also takes the wall time around spawn and reap and
# kills the child past its deadline.
LAUNCHER = r"""
import os, signal, sys, time
out_path, err_path, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
argv = sys.argv[4:]
actions = [
    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
    (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
]
started = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=actions)
signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
signal.setitimer(signal.ITIMER_REAL, timeout)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
signal.setitimer(signal.ITIMER_REAL, 0)
sys.stdout.write("%r %d %d\n" % (seconds, os.waitstatus_to_exitcode(status), usage.ru_maxrss))
"""


def run_process(
    argv: Sequence[str], *, env: dict[str, str], cwd: Path, log_dir: Path, timeout: float = 3600.0,
) -> ProcessRun:
    """Run a child to completion: its wall time (spawn to reap), exit code, peak RSS and output.

    Output goes to files, so a full pipe cannot stall the child and reading it does not count.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "stdout.txt", log_dir / "stderr.txt"
    # Its own session, so an interrupted benchmark can end the launcher and the child together.
    launcher = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", LAUNCHER, str(out_path), str(err_path), str(timeout), *argv],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        report, problems = launcher.communicate(timeout=timeout + 60)
    except BaseException:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
        raise
    if launcher.returncode != 0:
        raise RuntimeError(f"launcher failed ({launcher.returncode}): {problems.strip()[-1500:]}")
    seconds, returncode, maxrss_kib = report.split()
    return ProcessRun(
        seconds=float(seconds),
        returncode=int(returncode),
        peak_rss_mb=int(maxrss_kib) / 1024.0,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def time_calls(call: Callable[[], object], *, iterations: int, warmup: int = 0) -> list[float]:
    """Wall seconds of each of `iterations` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples
