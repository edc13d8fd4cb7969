"""The schema's shipped revisions (`db history`) and what a downgrade would delete (docs/ledger.md §16.7).

Here rather than in `storage/migrations.py`, which every command imports to check the
schema's revision: only the `db` commands make these (creating a dataclass costs start-up time).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    message: str
    is_head: bool


@dataclass(frozen=True)
class Loss:
    """Rows a downgrade would delete: a whole table (no `columns`), or its values of the
    columns the downgrade drops, in `rows` rows."""

    table: str
    columns: tuple[str, ...]
    rows: int

    def __str__(self) -> str:
        noun = "row" if self.rows == 1 else "rows"
        if not self.columns:
            return f"{self.table} ({self.rows} {noun})"
        return ", ".join(f"{self.table}.{column}" for column in self.columns) + f" (values of {self.rows} {noun})"
