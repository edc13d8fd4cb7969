"""An entry of the audit log as `audit list` shows it (docs/ledger.md §20.5).

Here rather than beside `log()` in `storage/audit.py`: every command that writes imports that
module, and only `audit list` makes entries (creating a dataclass costs start-up time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log, as `audit list` shows it."""

    id: int
    at: datetime
    action: str
    entity: str
    entity_key: str | None
    old: Any
    new: Any
    command: str | None
    first_trade_id: int | None
    last_trade_id: int | None

    def to_json(self) -> dict[str, Any]:
        """Every field, for `audit list --json` (old and new as stored: decimals are strings)."""
        return {"id": self.id, "at": self.at, "action": self.action, "entity": self.entity,
                "entity_key": self.entity_key, "old": self.old, "new": self.new, "command": self.command,
                "first_trade_id": self.first_trade_id, "last_trade_id": self.last_trade_id}
