"""Where the database is and how to connect to it: URL resolution, engines, sessions.

Nothing here runs at import time; engines are built when a command first needs one, so
`--db`, `DATABASE_URL` and tests can point stocksbot anywhere and `--help` stays fast.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, cast
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from stocksbot.errors import DatabaseUnavailable, StocksbotError
from stocksbot.paths import default_file
from stocksbot.storage.types import DecimalSum, decimal_add

# The password runs to the last `@` of the URL's text: a password with an unencoded `@`
# (`bot:se@cret@host`) is masked whole, never in part. A pattern's text, compiled (and cached
# by `re`) on first use: most commands never mask a URL that has a password.
_PASSWORD_IN_URL = r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<password>\S*)(?P<tail>@)"


def mask_url(text: str) -> str:
    """Replace the password of every URL in `text` with `***` (works on messages too)."""
    if "@" not in text:  # the pattern ends at an `@`: nothing to mask
        return text
    return re.sub(_PASSWORD_IN_URL, r"\g<head>***\g<tail>", text, flags=re.I)


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


def resolve_target(cli_url: str | None = None, env: Mapping[str, str] = os.environ) -> DatabaseTarget:
    """Pick the database: `--db`, then `DATABASE_URL`, then the default file (DATABASE_SETUP.md)."""
    raw = cli_url or env.get("DATABASE_URL")
    if raw:
        return DatabaseTarget(url=normalize_url(raw), is_default=False)
    path = default_file(env)
    return DatabaseTarget(url=URL.create("sqlite", database=str(path)), is_default=True)


def normalize_url(raw: str) -> URL:
    """Parse a user's URL and map every PostgreSQL spelling to the psycopg 3 driver.

    A malformed URL (a port that is not a number, a password with an unencoded `@`) is
    refused in one line that shows it masked (docs/ledger.md §16.2): the parser's own message
    may quote a piece of the password, so it is never shown.
    """
    text = raw.strip()
    scheme, sep, rest = text.partition("://")
    if sep and not scheme.lower().startswith("sqlite") and rest.split("/", 1)[0].count("@") > 1:
        raise StocksbotError(
            f"cannot parse database URL {mask_url(text)!r}: a password with @, : or / must be percent-encoded "
            "(@ as %40, : as %3A, / as %2F)"
        )
    try:
        url = make_url(text)
        url.port  # noqa: B018 - a port that is not a number fails here, not later in the driver
    except (ArgumentError, ValueError):
        raise StocksbotError(
            f"cannot parse database URL {mask_url(text)!r}: "
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME, PORT a number"
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
    A folder or file that cannot be made (no permission, a read-only file system, `/proc`, a
    path under a regular file) is one line naming it (docs/ledger.md §16.1).
    """
    folder = path.parent
    try:
        if private_dir and not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
    except OSError as exc:
        raise DatabaseUnavailable(
            f"cannot create the data folder {folder}: {_reason(exc)} (set STOCKSBOT_HOME or --db to a writable place)"
        ) from None
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() or _under_a_file(folder) else "does not exist"
        raise DatabaseUnavailable(f"cannot open sqlite:///{path}: folder {folder} {what}")
    if path.is_dir():
        raise DatabaseUnavailable(f"cannot open sqlite:///{path}: it is a folder, not a file")
    if not path.exists():
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
            os.chmod(path, 0o600)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot create sqlite:///{path}: {_reason(exc)}") from None


@dataclass(frozen=True)
class NewFile:
    """A SQLite file this process created, and the rows each table held once it was ready
    (only tables with rows): the file can be removed again while it still holds exactly that."""

    path: Path
    rows: Mapping[str, int]


def sqlite_rows(path: Path) -> dict[str, int]:
    """How many rows each table of a SQLite file holds, leaving out the empty ones."""
    connection = sqlite3.connect(read_only_uri(path), uri=True)
    try:
        names = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")]
        counts = {name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}
    finally:
        connection.close()
    return {name: count for name, count in counts.items() if count}


def discard_new_file(new: NewFile, *, unless_schema: bool = False) -> bool:
    """Remove a SQLite file this process created (with its -wal, -shm and -journal files) while
    it holds nothing but what creating it put there: a command that failed leaves nothing
    behind (DATABASE_SETUP.md, "A file that did not exist"). `unless_schema` keeps a file
    that has tables, for a command that succeeded but may have created the schema on purpose
    (`db upgrade`). Best effort: a file that cannot be read or removed is left as it is.
    Returns whether the file was removed.
    """
    try:
        if not new.path.is_file():
            return False
        if unless_schema and _has_tables(new.path):
            return False
        if sqlite_rows(new.path) != dict(new.rows):  # someone wrote to it meanwhile: theirs now
            return False
        for suffix in ("-wal", "-shm", "-journal"):
            new.path.with_name(new.path.name + suffix).unlink(missing_ok=True)
        new.path.unlink()
    except (OSError, sqlite3.Error):
        return False
    return True


def _has_tables(path: Path) -> bool:
    connection = sqlite3.connect(read_only_uri(path), uri=True)
    try:
        return connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").fetchone() is not None
    finally:
        connection.close()


def _reason(exc: OSError) -> str:
    """An OSError's cause without the path it already names (`Permission denied`)."""
    return exc.strerror or type(exc).__name__


def _under_a_file(path: Path) -> bool:
    return any(parent.is_file() for parent in path.parents)


def sqlite_access(path: Path) -> str | None:
    """How a SQLite file that cannot be written must be opened: None when it can be written.

    "ro" when the file is read-only but its folder is writable (SQLite can still make the
    -shm file a WAL reader needs); "immutable" when the folder is read-only too, where a WAL
    reader could not start at all (docs/ledger.md §16.3). Root passes every permission check,
    so for root only a read-only file system makes a file read-only.
    """
    if not path.is_file():
        return None
    if not os.access(path.parent, os.W_OK):
        return "immutable"
    return None if os.access(path, os.W_OK) else "ro"


def build_engine(target: DatabaseTarget, settings: ConnectionSettings) -> Engine:
    """An engine for the target with stocksbot's connection rules applied (DATABASE_SETUP.md)."""
    if target.is_sqlite:
        return _sqlite_engine(target, settings)
    return _postgresql_engine(target, settings)


def read_only_uri(path: Path) -> str:
    """A `file:` URI that opens the SQLite file for reading only, even in a read-only folder
    (immutable there, since a WAL reader could not make its -shm file)."""
    extra = "&immutable=1" if sqlite_access(path) == "immutable" else ""
    return f"file:{quote(str(path))}?mode=ro{extra}"


def _sqlite_engine(target: DatabaseTarget, settings: ConnectionSettings) -> Engine:
    path = target.sqlite_path
    url = target.url
    access = None
    if path is not None:
        prepare_sqlite_file(path, private_dir=target.is_default)
        access = sqlite_access(path)
        if access is not None:  # read what can be read; a write fails and says the file is read-only
            query = {"mode": "ro", "uri": "true", **({"immutable": "1"} if access == "immutable" else {})}
            url = url.set(database=f"file:{quote(str(path))}", query=query)
    engine = create_engine(
        url,
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
        if path is not None and access is None:
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
    should wait rather than fail. After the last try the cause is reported in one line. A
    server that answers and refuses the credentials or the database (`is_refusal`) is
    reported at once: waiting does not make a wrong password right.
    """
    delay = 0.2
    for attempt in range(retries + 1):
        try:
            with engine.connect():
                return
        except DBAPIError as exc:
            explained = explain_failure(exc, target, None)
            if explained is not None:  # corrupt, not a database, read-only: trying again changes nothing
                raise explained from None
            if attempt == retries or not isinstance(exc, OperationalError) or is_refusal(exc):
                raise DatabaseUnavailable(
                    f"cannot connect to {target.masked}: {describe_db_error(exc)}"
                ) from None
            time.sleep(delay)
            delay *= 2


# What a PostgreSQL server answers when it is up but refuses these credentials or this database:
# SQLSTATE 28P01 (invalid_password), 28000 (invalid_authorization_specification: unknown role,
# no pg_hba.conf entry, a failed ident/peer/SCRAM exchange) and 3D000 (no such database).
# psycopg reports a failed connection without its SQLSTATE (there is no result to carry one),
# so libpq's message is what can be recognised.
# (Text, compiled on first use: only a failed connection is matched against it.)
_REFUSAL = (
    r"password authentication failed|authentication failed for user|no password supplied"
    r"|no pg_hba\.conf entry|pg_hba\.conf rejects connection"
    r'|(role|database) ".*" does not exist'
)
_REFUSAL_STATES = ("28000", "28P01", "3D000")


def is_refusal(exc: BaseException) -> bool:
    """True when the server answered and refused (wrong password, unknown role or database): not
    transient, so retrying only delays the answer (DATABASE_SETUP.md, "Connection retries")."""
    cause = getattr(exc, "orig", None) or exc
    if getattr(cause, "sqlstate", None) in _REFUSAL_STATES:
        return True
    return re.search(_REFUSAL, str(cause)) is not None


_CORRUPT = ("database disk image is malformed", "malformed database schema")


def explain_failure(exc: BaseException, target: DatabaseTarget, query_timeout: float | None) -> StocksbotError | None:
    """One line for a database failure the user can act on, or None when it is not one.

    Covers the driver's and SQLAlchemy's errors on either backend: the query deadline, a
    corrupt or read-only SQLite file, a file that is not a database, a file SQLite cannot
    open (docs/ledger.md §16). Anything else is left to its caller.
    """
    cause = getattr(exc, "orig", None) or exc
    if not _is_database_error(exc) and not _is_database_error(cause):
        return None
    if query_timeout and is_deadline_error(exc):
        return StocksbotError(f"query exceeded the {query_timeout} s deadline")
    text = describe_db_error(exc)
    if target.is_sqlite:
        where = str(target.sqlite_path or target.masked)
        if any(marker in text for marker in _CORRUPT):
            return DatabaseUnavailable(
                f"database file is corrupt: {where}: {text} (restore a backup with `stocksbot db restore`)"
            )
        if "file is not a database" in text:
            return DatabaseUnavailable(
                f"cannot open {where}: it is not a SQLite database ({text}); if it was a stocksbot database, "
                "restore a backup with `stocksbot db restore`"
            )
        if "readonly database" in text:
            return DatabaseUnavailable(
                f"database file {where} is read-only: this command writes, and reading commands "
                "(`stocksbot position list`) still work"
            )
    return None


def database_failure(exc: BaseException, target: DatabaseTarget, query_timeout: float | None) -> StocksbotError | None:
    """`explain_failure`, else "database error on URL: cause" for any other database error;
    None when `exc` is not a database error at all (a bug keeps its traceback)."""
    explained = explain_failure(exc, target, query_timeout)
    if explained is not None:
        return explained
    cause = getattr(exc, "orig", None) or exc
    if _is_database_error(exc) or _is_database_error(cause):
        return DatabaseUnavailable(f"database error on {target.masked}: {describe_db_error(exc)}")
    return None


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, (DBAPIError, sqlite3.Error)):
        return True
    return type(exc).__module__.startswith("psycopg") and isinstance(exc, Exception) and hasattr(exc, "sqlstate")


def describe_db_error(exc: BaseException) -> str:
    """The first line of a driver error, with any password masked."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return mask_url(lines[0] if lines else type(cause).__name__)


def driver_mark(conn: Connection) -> str:
    """The driver's parameter mark, for SQL run by `driver_rows`: `?` (sqlite3) or `%s` (psycopg)."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


@contextmanager
def driver_rows(
    conn: Connection, query: str, params: Sequence[Any] = (), *, server_side: str | None = None,
    batch: int = 10_000,
) -> Iterator[Iterator[tuple[Any, ...]]]:
    """The rows of `query` (written with `driver_mark`) as the driver returns them, closed after.

    For reads of many rows (a rebuild, a report of a year, the daily valuation): SQLAlchemy's
    per-value result processing would cost more than the work, so the callers convert the
    values themselves with the conversion table of `types.py`. `server_side` names a
    PostgreSQL server-side cursor that fetches `batch` rows at a time (memory holds a batch,
    not the table); SQLite's cursor steps through the rows anyway.
    """
    driver = driver_connection(conn)
    if conn.dialect.name == "sqlite":
        cursor = driver.execute(query, params)
        try:
            yield cursor
        finally:
            cursor.close()
        return
    with driver.cursor(name=server_side) as cursor:
        if server_side is not None:
            cursor.itersize = batch
        cursor.execute(query, params)
        yield cursor


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
