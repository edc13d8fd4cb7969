"""a covering index for reading every price bar in time order

`performance` replays the whole history once, and reads every price bar ordered by time
(several intervals at one moment in reverse name order, storage/streams.py). Without an
index in that order SQLite sorts the whole table first: 0.6 s of about 8 at a million bars.
The index holds the columns the read takes (timestamp, interval, symbol, close), so the
read walks it alone. Downgrading drops it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 07:00:00
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index('ix_price_bars_timestamp_interval', 'price_bars',
                    ['timestamp', sa.desc(sa.column('interval')), 'symbol', 'close'])


def downgrade() -> None:
    op.drop_index('ix_price_bars_timestamp_interval', table_name='price_bars')
