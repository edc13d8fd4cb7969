"""pytest-alembic's four built-in migration tests, on a SQLite file and on PostgreSQL.

The plugin's own collection of these tests cannot be used (it fails on pytest 9; see
`pytest_alembic_tests_path` in pyproject.toml), so they are called from here instead, where
`alembic_engine` is each backend in turn. They overlap tests/test_migrations.py on purpose:
these are the checks as the wider Alembic world writes them, run through the `Engine` path of
alembic/env.py that pytest-alembic uses, while test_migrations.py goes through stocksbot's own
`Connection` path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from alembic.config import Config
from pytest_alembic import tests as builtin
from pytest_alembic.runner import MigrationContext
from sqlalchemy import Engine

from stocksbot.storage.database import ConnectionSettings, build_engine, resolve_target

# This checkout's migrations, not those of whichever stocksbot happens to be installed.
SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "alembic"


@pytest.fixture
def alembic_config() -> Config:
    """A Config built in code, as stocksbot.storage.migrations builds it: no alembic.ini, so no
    URL and no logging setup; pytest-alembic puts the engine in `attributes["connection"]`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


@pytest.fixture
def alembic_engine(backend_url: str) -> Iterator[Engine]:
    """An empty database on each backend, through stocksbot's own engine setup, so SQLite
    connections have the pragmas and the `decimal_sum`/`decimal_add` functions stocksbot uses."""
    engine = build_engine(resolve_target(backend_url), ConnectionSettings())
    try:
        yield engine
    finally:
        engine.dispose()


def test_single_head_revision(alembic_runner: MigrationContext) -> None:
    builtin.test_single_head_revision(alembic_runner)


def test_upgrade(alembic_runner: MigrationContext) -> None:
    builtin.test_upgrade(alembic_runner)


def test_model_definitions_match_ddl(alembic_runner: MigrationContext) -> None:
    builtin.test_model_definitions_match_ddl(alembic_runner)


def test_up_down_consistency(alembic_runner: MigrationContext) -> None:
    builtin.test_up_down_consistency(alembic_runner)
