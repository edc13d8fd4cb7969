"""Shared fixtures: an isolated home for every test, and each backend as a parameter.

`backend_url` runs a test once on a SQLite file and once on a fresh database of a real
PostgreSQL server that this test run starts and stops itself. Without the server binaries
the PostgreSQL half skips with a reason, unless STOCKSBOT_REQUIRE_POSTGRES=1 (as CI sets),
where it fails.

`migrated_url` is a fresh database at head per test, but Alembic runs once per backend and
session: each test gets a copy of a migrated template (a file copy on SQLite, CREATE DATABASE
... TEMPLATE on PostgreSQL).

The fast tier (`pytest -m "not slow"`) leaves out every test that needs the PostgreSQL server:
`pytest_collection_modifyitems` below marks those `slow`, so the same tests still run on
SQLite in the fast tier and on both backends in the full run. In a run that leaves slow tests
out, Hypothesis tests also run at most FAST_TIER_MAX_EXAMPLES examples each; the full run keeps
each test's own max_examples.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest

from tests.postgres_server import PostgresServer, find_bindir

POSTGRES_FIXTURES = {"postgres_server", "postgres_url", "migrated_postgres_url"}
FAST_TIER_MAX_EXAMPLES = 12


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `slow` every test that needs the PostgreSQL server (see the marker in pyproject.toml).

    In the fast tier, cap the examples of every Hypothesis test.
    """
    fast_tier = _leaves_out_slow_tests(config)
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("backend") == "postgres"
        if on_postgres or POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if fast_tier and isinstance(item, pytest.Function):
            _cap_examples(item, FAST_TIER_MAX_EXAMPLES)


def _leaves_out_slow_tests(config: pytest.Config) -> bool:
    """True when -m keeps unmarked tests but leaves out those marked `slow` (as `-m "not slow"` does)."""
    expression = config.getoption("markexpr", "")
    if not expression:
        return False
    try:
        from _pytest.mark.expression import Expression

        compiled = Expression.compile(expression)
        return compiled.evaluate(lambda name, **_: False) and not compiled.evaluate(lambda name, **_: name == "slow")
    except Exception:  # pytest's expression parser moved or changed: run every example
        return False


def _cap_examples(item: pytest.Function, cap: int) -> None:
    """Run at most `cap` examples: the same wrapping Hypothesis' own pytest plugin does for settings."""
    from hypothesis import is_hypothesis_test, settings

    function = getattr(item.obj, "__func__", item.obj)
    if not is_hypothesis_test(function):
        return
    current = getattr(function, "_hypothesis_internal_use_settings", settings.default)
    if current.max_examples > cap:
        function._hypothesis_internal_use_settings = settings(parent=current, max_examples=cap)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the user's real data dir or a DATABASE_URL from the environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("STOCKSBOT_HOME", str(home))
    for name in ("DATABASE_URL", "SQL_ECHO", "STOCKSBOT_QUERY_TIMEOUT", "STOCKSBOT_DEBUG", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl) not found"
        if os.environ.get("STOCKSBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}, and STOCKSBOT_REQUIRE_POSTGRES=1")
        pytest.skip(reason)
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which backend a test runs on: the parameter behind `backend_url` and `migrated_url`."""
    return str(request.param)


@pytest.fixture
def backend_url(backend: str, request: pytest.FixtureRequest) -> str:
    """An empty database on each backend (no schema yet)."""
    return str(request.getfixturevalue(f"{backend}_url"))


@pytest.fixture
def migrated_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A fresh database on each backend, upgraded to head (a copy of a template migrated once)."""
    return str(request.getfixturevalue(f"migrated_{backend}_url"))


def _upgrade(url: str) -> None:
    from stocksbot.storage import migrations
    from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

    engine = build_engine(resolve_target(url), ConnectionSettings())
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session, checkpointed: the -wal file is empty."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the template must be whole in its main file"
    return path


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str, sqlite_template: Path) -> str:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # the mode stocksbot gives its files
    with os.fdopen(fd, "wb") as out, sqlite_template.open("rb") as template:
        shutil.copyfileobj(template, out)
    return sqlite_url


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database migrated to head once per session, copied by CREATE DATABASE ... TEMPLATE."""
    name = postgres_server.create_database()
    _upgrade(postgres_server.url(name))
    return name


@pytest.fixture
def migrated_postgres_url(postgres_server: PostgresServer, postgres_template: str) -> Iterator[str]:
    name = postgres_server.create_database(template=postgres_template)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def storage(migrated_url: str) -> Iterator["object"]:
    from stocksbot import open_storage

    with open_storage(migrated_url) as service:
        yield service


@pytest.fixture
def run(migrated_url: str):
    """Run a stocksbot command line against the migrated database (each backend), via Click's runner."""
    from click.testing import CliRunner

    from stocksbot.cli.main import cli

    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, ["--db", migrated_url, *args], catch_exceptions=False)

    return invoke


@pytest.fixture
def data(run):  # type: ignore[no-untyped-def]
    """The parsed `--json` output of a command that must succeed."""
    import json

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        result = run("--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    return invoke
