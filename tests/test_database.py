"""Database selection, URL handling, connection settings and file permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stocksbot.errors import DatabaseUnavailable, StocksbotError
from stocksbot.storage.database import (
    ConnectionSettings,
    build_engine,
    connect_with_retries,
    mask_url,
    normalize_url,
    resolve_target,
)


def test_precedence_option_then_env_then_default(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "sqlite:///from-env.db", "STOCKSBOT_HOME": str(tmp_path)}
    assert resolve_target("sqlite:///from-option.db", env).url.database == "from-option.db"
    assert resolve_target(None, env).url.database == "from-env.db"
    default = resolve_target(None, {"STOCKSBOT_HOME": str(tmp_path)})
    assert default.is_default
    assert default.sqlite_path == tmp_path / "stocksbot.db"


def test_default_home_is_the_platform_user_data_dir() -> None:
    import platformdirs

    target = resolve_target(None, {})
    assert target.sqlite_path == Path(platformdirs.user_data_dir("stocksbot")) / "stocksbot.db"


@pytest.mark.parametrize(
    "raw",
    [
        "postgres://u:p@h/db",
        "postgresql://u:p@h/db",
        "postgresql+psycopg2://u:p@h/db",
        "postgresql+psycopg://u:p@h/db",
    ],
)
def test_every_postgresql_spelling_uses_psycopg3(raw: str) -> None:
    url = normalize_url(raw)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.database) == ("u", "p", "h", "db")


@pytest.mark.parametrize("raw", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_refused(raw: str) -> None:
    with pytest.raises(StocksbotError, match="sqlite:///PATH or postgresql://"):
        normalize_url(raw)


def test_passwords_are_masked_everywhere() -> None:
    assert mask_url("postgresql://bot:s3cr%40t@db.local:5432/stocks") == "postgresql://bot:***@db.local:5432/stocks"
    assert mask_url("cannot reach postgres://a:b@h/x (refused)") == "cannot reach postgres://a:***@h/x (refused)"
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert resolve_target("postgresql://bot:secret@h/db").masked == "postgresql+psycopg://bot:***@h/db"


def test_settings_from_environment() -> None:
    settings = ConnectionSettings.from_env(
        {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "0", "DB_POOL_RECYCLE": "60", "SQL_ECHO": "1",
         "STOCKSBOT_BUSY_TIMEOUT": "0.5", "STOCKSBOT_QUERY_TIMEOUT": "2"}
    )
    assert (settings.pool_size, settings.max_overflow, settings.pool_recycle) == (2, 0, 60)
    assert settings.echo and settings.busy_timeout == 0.5 and settings.query_timeout == 2.0


@pytest.mark.parametrize("name,value", [("DB_POOL_SIZE", "many"), ("DB_POOL_SIZE", "-1"), ("STOCKSBOT_BUSY_TIMEOUT", "x")])
def test_bad_settings_are_one_clear_error(name: str, value: str) -> None:
    with pytest.raises(StocksbotError, match=name):
        ConnectionSettings.from_env({name: value})


def test_postgresql_engine_gets_pool_settings() -> None:
    target = resolve_target("postgresql://u:p@127.0.0.1:1/db")
    engine = build_engine(target, ConnectionSettings(pool_size=3, max_overflow=1, pool_recycle=7))
    assert engine.pool.size() == 3
    assert engine.pool._max_overflow == 1  # type: ignore[attr-defined]
    assert engine.pool._recycle == 7  # type: ignore[attr-defined]
    assert engine.pool._pre_ping  # type: ignore[attr-defined]


def test_unreachable_server_is_one_line_with_masked_url() -> None:
    target = resolve_target("postgresql://bot:topsecret@127.0.0.1:9/stocks")
    engine = build_engine(target, ConnectionSettings())
    with pytest.raises(DatabaseUnavailable) as info:
        connect_with_retries(engine, target, retries=1)
    message = str(info.value)
    assert "topsecret" not in message
    assert message.startswith("cannot connect to postgresql+psycopg://bot:***@127.0.0.1:9/stocks: ")
    assert "\n" not in message


def test_default_folder_is_0700_and_file_0600(isolated_home: Path) -> None:
    from stocksbot import open_storage

    old = os.umask(0o022)
    try:
        with open_storage():
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(isolated_home.stat().st_mode) == 0o700
    assert stat.S_IMODE((isolated_home / "stocksbot.db").stat().st_mode) == 0o600


def test_sqlite_connections_have_the_pragmas(sqlite_url: str) -> None:
    engine = build_engine(resolve_target(sqlite_url), ConnectionSettings())
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()
