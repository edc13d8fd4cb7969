"""the index of closed lot portions in report order

`report realized --year Y` reads a year's portions ordered by (closed_at, trade_id, seq)
(storage/closings.py). The index of 0007 on closed_at alone found the range, but SQLite then
sorted every row of it by trade and place (a temporary B-tree: about a sixth of the read at
120,000 portions). This one holds the whole order, so the read walks it; it replaces the old
one, which every query it served can use as well. Downgrading restores the old index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from typing import Sequence, Union

from alembic import op

revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index('ix_lot_closings_closed_at', table_name='lot_closings')
    op.create_index('ix_lot_closings_closed_at_trade_id_seq', 'lot_closings', ['closed_at', 'trade_id', 'seq'])


def downgrade() -> None:
    op.drop_index('ix_lot_closings_closed_at_trade_id_seq', table_name='lot_closings')
    op.create_index('ix_lot_closings_closed_at', 'lot_closings', ['closed_at'])
