"""Where the database is and how to connect to it: URL resolution, engines, sessions.

Nothing here runs at import time; engines are built when a command first needs one, so
`--db`, `DATABASE_URL` and tests can point stocksbot anywhere and `--help` stays fast.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, cast

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from stocksbot.errors import DatabaseUnavailable, StocksbotError
from stocksbot.storage.types import DecimalSum, decimal_add

DEFAULT_FILENAME = "stocksbot.db"
_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^@\s]*)(?P<tail>@)", re.I)


def mask_url(text: str) -> str:
    """Replace the password of every URL in `text` with `***` (works on messages too)."""
    return _PASSWORD_IN_URL.sub(r"\g<head>***\g<tail>", text)


@dataclass(frozen=True)
class DatabaseTarget:
    """Which database a command works on, and whether it is the managed default file."""

    url: URL
    is_default: bool

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL and in-memory SQLite."""
        if not self.is_sqlite or self.url.database in (None, "", ":memory:"):
            return None
        return Path(self.url.database)

    @property
    def masked(self) -> str:
        return self.url.render_as_string(hide_password=True)


def data_home(env: Mapping[str, str] = os.environ) -> Path:
    """The folder of the default database: `$STOCKSBOT_HOME` or the platform's user data dir."""
    if env.get("STOCKSBOT_HOME"):
        return Path(env["STOCKSBOT_HOME"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("stocksbot"))


def resolve_target(cli_url: str | None = None, env: Mapping[str, str] = os.environ) -> DatabaseTarget:
    """Pick the database: `--db`, then `DATABASE_URL`, then the default file (DATABASE_SETUP.md)."""
    raw = cli_url or env.get("DATABASE_URL")
    if raw:
        return DatabaseTarget(url=normalize_url(raw), is_default=False)
    path = data_home(env) / DEFAULT_FILENAME
    return DatabaseTarget(url=URL.create("sqlite", database=str(path)), is_default=True)


def normalize_url(raw: str) -> URL:
    """Parse a user's URL and map every PostgreSQL spelling to the psycopg 3 driver."""
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise StocksbotError(
            f"cannot parse database URL {mask_url(raw)!r}: use sqlite:///PATH or postgresql://USER@HOST/DBNAME"
        ) from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return url.set(drivername="sqlite")
    raise StocksbotError(
        f"unsupported database {backend!r} in {mask_url(raw)}: use sqlite:///PATH or postgresql://USER@HOST/DBNAME"
    )


def _env_number(env: Mapping[str, str], name: str, default: float, kind: type = float) -> Any:
    text = env.get(name)
    if text is None or text == "":
        return kind(default)
    try:
        value = kind(text)
    except ValueError:
        raise StocksbotError(f"{name} must be a {'whole ' if kind is int else ''}number, got {text!r}") from None
    if value < 0:
        raise StocksbotError(f"{name} must not be negative, got {text!r}")
    return value


@dataclass(frozen=True)
class ConnectionSettings:
    """Tunables read from the environment (or the global options) once per process."""

    echo: bool = False
    busy_timeout: float = 5.0
    pool_size: int = 5
    max_overflow: int = 10
    pool_recycle: int = 1800
    connect_retries: int = 3
    query_timeout: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: Any) -> "ConnectionSettings":
        timeout = env.get("STOCKSBOT_QUERY_TIMEOUT")
        values: dict[str, Any] = dict(
            echo=env.get("SQL_ECHO", "").lower() in ("1", "true", "yes", "on"),
            busy_timeout=_env_number(env, "STOCKSBOT_BUSY_TIMEOUT", 5.0),
            pool_size=_env_number(env, "DB_POOL_SIZE", 5, int),
            max_overflow=_env_number(env, "DB_MAX_OVERFLOW", 10, int),
            pool_recycle=_env_number(env, "DB_POOL_RECYCLE", 1800, int),
            connect_retries=_env_number(env, "STOCKSBOT_CONNECT_RETRIES", 3, int),
            query_timeout=_env_number(env, "STOCKSBOT_QUERY_TIMEOUT", 0) if timeout else None,
        )
        values.update({k: v for k, v in overrides.items() if v is not None and v is not False})
        return cls(**values)


def prepare_sqlite_file(path: Path, *, private_dir: bool) -> None:
    """Create the file (0600) and, for the managed default, its folder (0700) before SQLite does.

    SQLite would create the file with the process umask; a ledger of someone's money should be
    readable by its owner only. The -wal and -shm files SQLite adds inherit the file's mode.
    """
    folder = path.parent
    if private_dir and not folder.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    if not folder.exists():
        raise DatabaseUnavailable(f"cannot open sqlite:///{path}: folder {folder} does not exist")
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)


def build_engine(target: DatabaseTarget, settings: ConnectionSettings) -> Engine:
    """An engine for the target with stocksbot's connection rules applied (DATABASE_SETUP.md)."""
    if target.is_sqlite:
        return _sqlite_engine(target, settings)
    return _postgresql_engine(target, settings)


def _sqlite_engine(target: DatabaseTarget, settings: ConnectionSettings) -> Engine:
    path = target.sqlite_path
    if path is not None:
        prepare_sqlite_file(path, private_dir=target.is_default)
    engine = create_engine(
        target.url,
        echo=settings.echo,
        connect_args={"timeout": settings.busy_timeout},
    )
    busy_ms = int(settings.busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how a transaction starts (the
        # sqlite3 module would otherwise issue a deferred BEGIN on its own).
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        dbapi_connection.execute(f"PRAGMA busy_timeout={busy_ms}")
        if path is not None:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        # typeshed types an aggregate's result as int only; SQLite takes any value, here text.
        dbapi_connection.create_aggregate("decimal_sum", 1, cast(Any, DecimalSum))
        dbapi_connection.create_function("decimal_add", 2, decimal_add, deterministic=True)
        if settings.query_timeout:
            _install_sqlite_deadline(dbapi_connection, settings.query_timeout)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Write transactions take SQLite's write lock up front (BEGIN IMMEDIATE), so two
        # processes that read-then-write the same position serialise instead of one failing
        # with "database is locked" on upgrade, or both acting on a stale read.
        mode = "IMMEDIATE" if connection.get_execution_options().get("stocksbot_write") else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _install_sqlite_deadline(dbapi_connection: sqlite3.Connection, seconds: float) -> None:
    """Interrupt any statement running longer than `seconds` (SQLite has no statement_timeout).

    The progress handler runs every few thousand virtual-machine steps; returning non-zero
    makes SQLite abort the statement with "interrupted". The clock starts when the statement
    is first stepped, which is close enough to when it was sent.
    """
    started: dict[str, float] = {}

    def check() -> int:
        now = time.monotonic()
        begun = started.setdefault("at", now)
        return 1 if now - begun > seconds else 0

    def reset(*_args: Any) -> None:
        started.clear()

    dbapi_connection.set_progress_handler(check, 1000)
    dbapi_connection.set_trace_callback(reset)


def is_deadline_error(exc: BaseException) -> bool:
    """True for a statement stopped by the query deadline, on either backend."""
    text = str(getattr(exc, "orig", exc))
    return text == "interrupted" or "statement timeout" in text


def _postgresql_engine(target: DatabaseTarget, settings: ConnectionSettings) -> Engine:
    connect_args: dict[str, Any] = {"connect_timeout": 10}
    if settings.query_timeout:
        connect_args["options"] = f"-c statement_timeout={int(settings.query_timeout * 1000)}"
    return create_engine(
        target.url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def connect_with_retries(engine: Engine, target: DatabaseTarget, retries: int) -> None:
    """Open one connection, retrying transient failures with exponential backoff.

    A server that is still starting refuses connections for a moment; a bot started beside it
    should wait rather than fail. After the last try the cause is reported in one line.
    """
    delay = 0.2
    for attempt in range(retries + 1):
        try:
            with engine.connect():
                return
        except OperationalError as exc:
            if attempt == retries:
                raise DatabaseUnavailable(
                    f"cannot connect to {target.masked}: {describe_db_error(exc)}"
                ) from None
            time.sleep(delay)
            delay *= 2


def describe_db_error(exc: BaseException) -> str:
    """The first line of a driver error, with any password masked."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return mask_url(lines[0] if lines else type(cause).__name__)


def driver_connection(conn: Connection) -> Any:
    """The driver's own connection (sqlite3 or psycopg) under a Core connection.

    For the few paths that talk to the driver directly (bulk writes, whole-ledger reads,
    SQLite pragmas): typed as Any because the two drivers' APIs differ, and each caller
    knows which one it has.
    """
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("the connection has no driver connection (it is closed)")
    return driver
