"""Shared fixtures: an isolated home for every test, and each backend as a parameter.

`backend_url` runs a test once on a SQLite file and once on a fresh database of a real
PostgreSQL server that this test run starts and stops itself. Without the server binaries
the PostgreSQL half skips with a reason, unless STOCKSBOT_REQUIRE_POSTGRES=1 (as CI sets),
where it fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.postgres_server import PostgresServer, find_bindir


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
def backend_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend (no schema yet)."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def migrated_url(backend_url: str) -> str:
    """A database on each backend, upgraded to head."""
    from stocksbot.storage import migrations
    from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

    engine = build_engine(resolve_target(backend_url), ConnectionSettings())
    migrations.upgrade(engine)
    engine.dispose()
    return backend_url


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
