"""Crash safety, retries, and bad input everywhere: nothing lost, nothing half-written, no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from stocksbot import open_storage
from stocksbot.cli.main import cli
from stocksbot.errors import DatabaseUnavailable
from stocksbot.storage import database

runner = CliRunner()
HEADER = "executed_at,side,symbol,quantity,price,commission,fees,strategy,external_id,note\n"


def run(url: str, *args: str):
    return runner.invoke(cli, ["--db", url, *args], catch_exceptions=False)


@pytest.mark.slow
def test_kill_9_during_a_large_import_leaves_none_or_all(migrated_url: str, tmp_path: Path) -> None:
    rows = 200_000  # large enough to be still running when killed, however fast imports get
    path = tmp_path / "big.csv"
    with path.open("w") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(f"2024-01-01T00:00:{i % 60:02d}+00:00,buy,S{i % 50},1,{1 + i % 7}.25,,,,k-{i},\n")
    outcomes = set()
    for delay in (0.5, 2.0):
        proc = subprocess.Popen(
            [sys.executable, "-m", "stocksbot", "--db", migrated_url, "trade", "import", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        assert proc.poll() is None, "the import finished before it could be killed: use a larger file"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with open_storage(migrated_url) as storage:
            count = len(storage.list_trades())
            assert count in (0, rows)
            assert storage.check() == []
            outcomes.add(count)
    # the killed imports wrote nothing; a complete one afterwards still works
    result = run(migrated_url, "--json", "trade", "import", str(path))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["imported"] + json.loads(result.stdout)["skipped"] == rows


def test_connect_retries_with_backoff_then_succeeds(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    target = database.resolve_target(sqlite_url)
    engine = database.build_engine(target, database.ConnectionSettings())
    real_connect = engine.connect
    attempts: list[float] = []
    sleeps: list[float] = []

    def flaky_connect():  # type: ignore[no-untyped-def]
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise OperationalError("connect", {}, Exception("server is starting up"))
        return real_connect()

    monkeypatch.setattr(engine, "connect", flaky_connect)
    monkeypatch.setattr(database.time, "sleep", sleeps.append)
    database.connect_with_retries(engine, target, retries=3)
    assert len(attempts) == 3 and sleeps == [0.2, 0.4]
    attempts.clear()
    sleeps.clear()
    monkeypatch.setattr(engine, "connect", lambda: (_ for _ in ()).throw(
        OperationalError("connect", {}, Exception("connection refused"))))
    with pytest.raises(DatabaseUnavailable, match="cannot connect to sqlite:///.*: connection refused"):
        database.connect_with_retries(engine, target, retries=2)
    assert sleeps == [0.2, 0.4]


BAD_INVOCATIONS = [
    ["trade", "add", "buy", "AAPL", "0", "--price", "1"],
    ["trade", "add", "buy", "AAPL", "--price", "1", "--", "-1"],
    ["trade", "add", "buy", "AAPL", "NaN", "--price", "1"],
    ["trade", "add", "buy", "AAPL", "Infinity", "--price", "1"],
    ["trade", "add", "buy", "AAPL", "1e40", "--price", "1"],
    ["trade", "add", "buy", "AAPL", "1", "--price", "0.00000000001"],
    ["trade", "add", "buy", "AAPL", "1", "--price", "1", "--commission", "-1"],
    ["trade", "add", "buy", "AA PL", "1", "--price", "1"],
    ["trade", "add", "buy", "$AAPL", "1", "--price", "1"],
    ["trade", "add", "buy", "AAPL", "1", "--price", "1", "--at", "2024-02-30"],
    ["trade", "add", "buy", "AAPL", "1", "--price", "1", "--at", "yesterday"],
    ["trade", "add", "buy", "AAPL", "1", "--price", "1", "--strategy", "nope"],
    ["trade", "add", "buy", "AAPL", "1", "--price", "1", "--order", "999"],
    ["trade", "add", "sell", "AAPL", "1", "--price", "1"],
    ["trade", "list", "--since", "soon"],
    ["trade", "list", "--limit", "0"],
    ["position", "close", "AAPL", "--price", "1"],
    ["position", "show", "NONE"],
    ["order", "add", "buy", "AAPL", "1", "--type", "limit"],
    ["order", "add", "buy", "AAPL", "1", "--type", "stop", "--limit-price", "1"],
    ["order", "show", "999"],
    ["order", "cancel", "999"],
    ["order", "fill", "999", "1", "--price", "1"],
    ["strategy", "show", "nope"],
    ["strategy", "remove", "nope"],
    ["strategy", "set", "nope", "a=1"],
    ["config", "set", "bot.j", "{bad", "--type", "json"],
    ["config", "get", "no.such.key"],
    ["price", "add", "AAPL", "--", "-1"],
    ["price", "add", "AAPL", "1", "--at", "2024-13-01"],
    ["price", "history", "AAPL", "--since", "13/01/2024"],
    ["db", "upgrade", "nope"],
]


@pytest.mark.parametrize("args", BAD_INVOCATIONS, ids=lambda a: " ".join(a)[:60])
def test_bad_input_is_one_line_exit_1_nothing_written(migrated_url: str, args: list[str]) -> None:
    before = everything(migrated_url)
    result = run(migrated_url, *args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    assert everything(migrated_url) == before


def everything(url: str) -> str:
    return "".join(run(url, "--json", *args).stdout for args in (
        ["trade", "list"], ["position", "list", "--all"], ["order", "list"], ["strategy", "list"], ["config", "list"],
        ["price", "latest"],
    ))


_words = st.sampled_from(["AAPL", "aapl", "BRK.B", "EUR/USD", "", " ", "A" * 40, "-", "0", "1", "-1", "1.5", "NaN",
                          "inf", "1e400", "1e-400", "0.00000000001", "99999999999999999999", "2024-01-01",
                          "2024-02-30", "x=1", "=", "{}", "[", "null", "é", "\x00", "--price", "buy", "sell"])
_commands = st.sampled_from([
    ["trade", "add", "buy"], ["trade", "add", "sell"], ["position", "add"], ["position", "close"], ["order", "add", "buy"],
    ["order", "fill"], ["strategy", "set"], ["config", "set"], ["price", "add"], ["price", "history"], ["trade", "list"],
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=_commands, words=st.lists(_words, max_size=5))
def test_generated_arguments_never_crash(sqlite_url: str, command: list[str], words: list[str]) -> None:
    """Whatever the arguments, stocksbot answers with a result, a usage error (2) or one line (1)."""
    if not Path(sqlite_url.removeprefix("sqlite:///")).exists():
        run(sqlite_url, "db", "upgrade")
    result = runner.invoke(cli, ["--db", sqlite_url, *command, *words])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2)
    if result.exit_code == 1:
        assert result.stderr.startswith("Error: ") and "Traceback" not in result.output


@pytest.mark.slow
def test_passwords_never_appear(monkeypatch: pytest.MonkeyPatch, postgres_server) -> None:
    url = postgres_server.url("nosuchdb", password="s3cret-pw")
    monkeypatch.setenv("STOCKSBOT_CONNECT_RETRIES", "0")
    for args in (["config", "list"], ["db", "current"], ["db", "path"], ["--echo", "db", "upgrade"]):
        result = runner.invoke(cli, ["--db", url, *args])
        assert "s3cret-pw" not in result.output, args
        assert "s3cret-pw" not in repr(result.exception), args
    monkeypatch.setenv("DATABASE_URL", url)
    result = subprocess.run([sys.executable, "-m", "stocksbot", "--echo", "config", "list"],
                            capture_output=True, text=True, env={**os.environ})
    assert result.returncode == 1
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "***" in result.stderr
