"""`--timeout` / STOCKSBOT_QUERY_TIMEOUT bounds every statement on both backends."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from stocksbot import open_storage
from stocksbot.errors import StocksbotError
from stocksbot.storage.database import ConnectionSettings

SLOW = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
    "SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(20)",
}


def test_slow_statement_is_stopped_and_rolled_back(migrated_url: str) -> None:
    settings = ConnectionSettings(query_timeout=0.3)
    with open_storage(migrated_url, settings=settings) as storage:
        started = time.monotonic()
        with pytest.raises(StocksbotError, match=r"^query exceeded the 0.3 s deadline$"):
            with storage.transaction() as conn:
                storage.config_set("bot.lost", "1")
                conn.execute(text(SLOW[storage.engine.dialect.name]))
        assert time.monotonic() - started < 5
        # The write before the slow statement was rolled back, and the connection still works.
        with pytest.raises(StocksbotError, match="not set"):
            storage.config_get("bot.lost")
        assert storage.config_set("bot.after", "ok").value == "ok"


def test_fast_statements_are_unaffected(migrated_url: str) -> None:
    with open_storage(migrated_url, settings=ConnectionSettings(query_timeout=0.3)) as storage:
        for _ in range(3):
            storage.config_set("bot.n", "1", "int")
            time.sleep(0.15)  # time between statements does not count
        assert storage.setting("bot.n") == 1
