"""per-strategy totals of closed runs, for a summary whose cost does not grow with history

Filled from the closed positions here (summed in Python with exact decimals, as SQLite's
`+` would go through floating point); booking keeps it up to date from then on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:45:00
"""

from __future__ import annotations

from decimal import Decimal
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import stocksbot.storage.types
from stocksbot.ledger.numbers import add

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    totals_table = op.create_table(
        'closed_run_totals',
        sa.Column('strategy_key', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('runs', sa.Integer(), nullable=False),
        sa.Column('realized_pnl', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.Column('costs', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint('strategy_key', name=op.f('pk_closed_run_totals')),
    )
    positions = sa.table(
        'positions', sa.column('strategy_id', sa.Integer()), sa.column('status', sa.String()),
        sa.column('realized_pnl', stocksbot.storage.types.ExactDecimal()),
        sa.column('costs', stocksbot.storage.types.ExactDecimal()),
    )
    totals: dict[int, tuple[int, Decimal, Decimal]] = {}
    rows = op.get_bind().execute(
        sa.select(positions.c.strategy_id, positions.c.realized_pnl, positions.c.costs)
        .where(positions.c.status == 'closed')
    )
    for strategy_id, realized, costs in rows:
        runs, realized_sum, costs_sum = totals.get(strategy_id or 0, (0, Decimal(0), Decimal(0)))
        totals[strategy_id or 0] = (runs + 1, add(realized_sum, realized), add(costs_sum, costs))
    if totals:
        op.bulk_insert(totals_table, [
            {'strategy_key': key, 'runs': runs, 'realized_pnl': realized, 'costs': costs}
            for key, (runs, realized, costs) in sorted(totals.items())
        ])


def downgrade() -> None:
    op.drop_table('closed_run_totals')
