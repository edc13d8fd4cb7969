"""stocksbot: a command-line portfolio tracker with an exact trade ledger.

Importing the package stays cheap (no SQLAlchemy, no Rich) so that `stocksbot --help`
answers quickly; the storage layer is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from stocksbot.storage.service import StorageService

__all__ = ["__version__", "open_storage"]


def open_storage(url: str | None = None, **options: Any) -> "StorageService":
    """Open the stocksbot database (the default file when `url` is None) as a unit of work.

    Use it as a context manager: `with open_storage() as storage: storage.record_trade(...)`.
    """
    from stocksbot.storage.service import open_storage as _open_storage

    return _open_storage(url, **options)
