"""one open position per symbol, as a unique index on an expression both databases share

0001 declared it as a partial unique index (`WHERE status = 'open'`), which SQLAlchemy can
only express with dialect-specific options; declaring those in tables.py makes every
command import the PostgreSQL dialect, even on SQLite. A unique index on
`CASE WHEN status = 'open' THEN symbol END` enforces the same rule (closed positions index
NULL, and NULLs never collide) with plain SQL on both backends.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:40:00
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.drop_index('uq_positions_open_symbol', table_name='positions', sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.create_index('uq_positions_open_symbol', 'positions', [sa.text("(CASE WHEN status = 'open' THEN symbol END)")],
                    unique=True)


def downgrade() -> None:
    op.drop_index('uq_positions_open_symbol', table_name='positions')
    op.create_index('uq_positions_open_symbol', 'positions', ['symbol'], unique=True, sqlite_where=_OPEN,
                    postgresql_where=_OPEN)
