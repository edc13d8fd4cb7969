"""Shell completion of the names a database holds: symbols, strategies, accounts, config keys.

Click calls these `shell_complete=` callbacks when the shell asks for completions
(`_STOCKSBOT_COMPLETE=bash_source stocksbot` prints the script; README "Shell completion").
A completion runs on every Tab press, so it must be quick and it must never get in the way:

- it reads the database that the command line names (`--db`, else `DATABASE_URL`, else the
  default file) and never writes, creates, migrates or backs up anything: no database yet, an
  empty file, an older schema or a server that does not answer all mean "no completions";
- any failure at all gives no completions, never a message or a traceback in the middle of
  the user's line;
- the default SQLite file is read with the `sqlite3` module alone (no SQLAlchemy to import,
  which would cost more than the query), and symbols, which can be in a million price bars,
  are found by index seeks, one per distinct symbol, not by scanning the bars.

docs/completion.md says what is completed where.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterable

import click

if TYPE_CHECKING:  # imported when a completion runs: every command imports this module at start-up
    from pathlib import Path

#: Most completions offered at once: a shell shows no more than a screenful anyway.
LIMIT = 200
#: Seconds a completion waits for a locked SQLite file or a PostgreSQL server before giving up.
WAIT = 1.0
#: Tables (storage/tables.py) whose indexed `symbol` column names symbols the ledger knows.
SYMBOL_TABLES = ("instruments", "trades", "orders", "price_bars")


def _distinct_symbols(table: str, prefixed: Callable[[str], str]) -> str:
    """Every distinct `symbol` of a table from `:low` on, one index seek per symbol (a loose index
    scan: SQLite and PostgreSQL plan `min(symbol) WHERE symbol > x` as one seek), at most LIMIT.
    `prefixed(column)` is the SQL condition that a value starts with the prefix, or ""."""
    return (
        "WITH RECURSIVE s(v, n) AS ("
        f" SELECT (SELECT min(symbol) FROM {table} WHERE symbol >= :low), 0"
        f" UNION ALL SELECT (SELECT min(symbol) FROM {table} WHERE symbol > s.v), s.n + 1 FROM s"
        f" WHERE s.v IS NOT NULL AND s.n < {LIMIT}{prefixed('s.v')})"
        f" SELECT v FROM s WHERE v IS NOT NULL{prefixed('v')}"
    )


def _symbol_queries(sqlite: bool) -> list[str]:
    """One walk per table of SYMBOL_TABLES.

    SQLite compares text by code point, so the symbols that start with the prefix come one
    after another from the prefix on, and the walk stops at the first that does not. A
    PostgreSQL collation may order them otherwise: the walk covers every symbol (at most LIMIT)
    and `_matching` keeps those with the prefix."""
    def prefixed(column: str) -> str:
        return f" AND substr({column}, 1, :length) = :prefix" if sqlite else ""

    return [_distinct_symbols(table, prefixed) for table in SYMBOL_TABLES]


def _read(ctx: click.Context, queries: Callable[[bool], list[str]], prefix: str) -> list[str]:
    """The values the queries find in the command line's database, or [] on any failure."""
    try:
        url = ctx.find_root().params.get("db_url") or os.environ.get("DATABASE_URL")
        path: Path | None
        if not url:
            from stocksbot.paths import default_file

            path = default_file()
        else:
            from stocksbot.storage.database import normalize_url, resolve_target

            target = resolve_target(url)
            path = target.sqlite_path
            if not target.is_sqlite:
                return _read_server(normalize_url(url), queries(False), prefix)
        if path is None or not path.is_file():
            return []
        return _read_sqlite(path, queries(True), prefix)
    except Exception:  # noqa: BLE001 - a completion never fails loudly (see the module docstring)
        return []


def _parameters(query: str, prefix: str) -> dict[str, Any]:
    """The bound values a query names (a driver may refuse one it does not use)."""
    values = {"low": prefix if ":prefix" in query else "", "prefix": prefix, "length": len(prefix)}
    return {name: value for name, value in values.items() if f":{name}" in query}


def _read_sqlite(path: Path, queries: list[str], prefix: str) -> list[str]:
    import sqlite3
    from urllib.parse import quote

    # mode=ro: an absent file is an error, never created; nothing is written, not even a journal.
    connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=WAIT)
    try:
        found: list[str] = []
        for query in queries:
            found += [row[0] for row in connection.execute(query, _parameters(query, prefix))]
        return found
    finally:
        connection.close()


def _read_server(url: Any, queries: list[str], prefix: str) -> list[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": max(1, int(WAIT))})
    try:
        found: list[str] = []
        with engine.connect() as connection:
            for query in queries:
                found += [row[0] for row in connection.execute(text(query), _parameters(query, prefix))]
        return found
    finally:
        engine.dispose()


def _matching(values: Iterable[object], prefix: str) -> list[str]:
    """The distinct values that start with the prefix, sorted, at most LIMIT."""
    return sorted({str(v) for v in values if v is not None and str(v).startswith(prefix)})[:LIMIT]


def _names(table: str, column: str) -> Callable[[bool], list[str]]:
    return lambda sqlite: [f"SELECT {column} FROM {table}"]


def complete_symbols(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Symbols the ledger knows (traded, ordered, priced or described), upper-cased as stored."""
    prefix = incomplete.upper()
    return _matching(_read(ctx, _symbol_queries, prefix), prefix)


def complete_strategies(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Strategy names."""
    return _matching(_read(ctx, _names("strategies", "name"), incomplete), incomplete)


def complete_accounts(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Account names."""
    return _matching(_read(ctx, _names("accounts", "name"), incomplete), incomplete)


def complete_config_keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """stocksbot's own keys (known even before the database exists) and the keys stored."""
    from stocksbot.settings import KNOWN_KEYS

    return _matching([*KNOWN_KEYS, *_read(ctx, _names("config", "key"), incomplete)], incomplete)
