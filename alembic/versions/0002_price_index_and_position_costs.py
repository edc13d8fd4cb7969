"""index price bars by symbol and time; keep each position's commissions and fees

The index serves "latest price of a symbol" whatever the bar interval. `positions.costs`
lets the summary total costs from the positions instead of reading every trade; positions
are a projection of the trades, so an existing database gets the right values from
`stocksbot position rebuild` (the column starts at 0, which `db check` reports until then).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:49:01.944658
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import stocksbot.storage.types

revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

def upgrade() -> None:
    with op.batch_alter_table('price_bars', schema=None) as batch_op:
        batch_op.create_index('ix_price_bars_symbol_timestamp', ['symbol', 'timestamp'], unique=False)
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('costs', stocksbot.storage.types.ExactDecimal(), server_default='0', nullable=False)
        )
        batch_op.create_check_constraint('costs_not_negative', 'CAST(costs AS NUMERIC) >= 0')

def downgrade() -> None:
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_positions_costs_not_negative'), type_='check')
        batch_op.drop_column('costs')
    with op.batch_alter_table('price_bars', schema=None) as batch_op:
        batch_op.drop_index('ix_price_bars_symbol_timestamp')

