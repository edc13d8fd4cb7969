"""per-(strategy, symbol, account) totals by the attribution rule, for a fast `strategy list` and `summary`

`strategy list` and `summary` summed every trade's realized P&L (and, for `strategy list`,
every trade's costs) by the attribution rule of docs/ledger.md §8.3 on each read: seconds at
a million trades. Booking now keeps those sums in `strategy_totals`
(storage/strategy_totals.py); this revision creates the table and fills it from the trades
and their realized shares with the same grouped, exact sums `strategy_totals.computed` uses.
Downgrading drops the table (it is derived: nothing is lost).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 05:00:00
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import stocksbot.storage.types

revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'strategy_totals',
        sa.Column('strategy_key', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('symbol', sa.String(length=32), nullable=False),
        sa.Column('account_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('trades', sa.Integer(), nullable=False),
        sa.Column('closing', sa.Integer(), nullable=False),
        sa.Column('won', sa.Integer(), nullable=False),
        sa.Column('realized_pnl', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.Column('commissions', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.Column('fees', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint('strategy_key', 'symbol', 'account_id', name=op.f('pk_strategy_totals')),
    )
    bind = op.get_bind()
    if bind.execute(sa.text('SELECT 1 FROM trades LIMIT 1')).first() is None:
        return  # nothing to sum (and a scratch database may lack stocksbot's SQL functions)
    # The booking code's own computation (as 0006 and 0007 use the booking code), run once here.
    from stocksbot.storage import strategy_totals

    strategy_totals.refresh(bind)


def downgrade() -> None:
    op.drop_table('strategy_totals')
