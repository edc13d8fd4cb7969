"""index price bars by symbol and time for latest-price lookups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:49:01.944658
"""

from __future__ import annotations

from typing import Sequence, Union

from alembic import op


revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('price_bars', schema=None) as batch_op:
        batch_op.create_index('ix_price_bars_symbol_timestamp', ['symbol', 'timestamp'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('price_bars', schema=None) as batch_op:
        batch_op.drop_index('ix_price_bars_symbol_timestamp')

