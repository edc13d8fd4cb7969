"""What every command shares: the global options and a lazily opened storage service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from stocksbot.storage.reader import Reader
    from stocksbot.storage.service import StorageService


@dataclass
class AppContext:
    db_url: str | None = None
    json: bool = False
    echo: bool = False
    timeout: float | None = None
    _storage: "StorageService | None" = field(default=None, repr=False)

    def storage(self, *, check_schema: bool = True) -> "StorageService":
        """Open the database on first use (commands that never need it never pay for it)."""
        if self._storage is None:
            from stocksbot.storage.database import ConnectionSettings
            from stocksbot.storage.service import open_storage

            settings = ConnectionSettings.from_env(echo=self.echo, query_timeout=self.timeout)
            self._storage = open_storage(self.db_url, settings=settings, check_schema=check_schema)
            click.get_current_context().call_on_close(self._storage.close)
        return self._storage

    def reader(self) -> "Reader":
        """For commands that only read positions or the summary: the same data without the ORM
        (see storage/reader.py); the storage service when it is open already."""
        if self._storage is not None:
            return self._storage
        from stocksbot.storage.database import ConnectionSettings
        from stocksbot.storage.reader import open_reader

        settings = ConnectionSettings.from_env(echo=self.echo, query_timeout=self.timeout)
        reader = open_reader(self.db_url, settings=settings)
        click.get_current_context().call_on_close(reader.close)
        return reader


pass_app = click.make_pass_decorator(AppContext)
