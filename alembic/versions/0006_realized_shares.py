"""realized P&L of untagged closing trades per opening strategy, stored at booking time

A closing trade without a strategy gives each lot portion it closed to the strategy of the
trade that opened the lot (docs/ledger.md §8.3). A trade stores one realized figure, so the
readers (`strategy list`, `summary`) used to re-book the symbols concerned on every read;
from now on booking stores the split in `realized_shares` and they only sum.

Filled here for existing data by the booking store's own in-memory re-booking
(`BookingStore.bookings`) and `BookingStore.shares_of`, the code booking writes the rows
with, so an upgraded database holds exactly what booking would have written (`db check`
compares the two). Only symbols with an untagged closing trade are re-booked, and nothing
at all when no trade has a strategy. Downgrading drops the table (nothing else depends on it).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 23:50:00
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import sqlalchemy as sa
from alembic import op

import stocksbot.storage.types

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'realized_shares',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trade_id', sa.Integer(), nullable=False),
        sa.Column('strategy_id', sa.Integer(), nullable=True),
        sa.Column('realized_pnl', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.ForeignKeyConstraint(['trade_id'], ['trades.id'], name=op.f('fk_realized_shares_trade_id_trades'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['strategy_id'], ['strategies.id'],
                                name=op.f('fk_realized_shares_strategy_id_strategies')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_realized_shares')),
    )
    op.create_index(op.f('ix_realized_shares_trade_id'), 'realized_shares', ['trade_id'], unique=False)
    _fill(op.get_bind())


def _fill(bind: sa.Connection) -> None:
    """Store the shares of every untagged closing trade, as booking writes them."""
    from stocksbot import settings
    from stocksbot.storage.booking import BookingStore

    trades = sa.table('trades', sa.column('symbol', sa.String()), sa.column('strategy_id', sa.Integer()),
                      sa.column('realized_pnl', stocksbot.storage.types.ExactDecimal()))
    if bind.execute(sa.select(trades.c.symbol).where(trades.c.strategy_id.is_not(None)).limit(1)).first() is None:
        return  # no strategy anywhere: no share to store
    stored = bind.execute(sa.text("SELECT value FROM config WHERE key = 'accounting.cost_basis'")).scalar()
    # This revision's trades have no voided_at yet (0008 adds it): every trade is live.
    store = BookingStore(bind, str(settings.known_value('accounting.cost_basis', stored)), live_only=False)
    symbols = bind.execute(
        sa.select(trades.c.symbol).distinct()
        .where(trades.c.strategy_id.is_(None), trades.c.realized_pnl.is_not(None)).order_by(trades.c.symbol)
    ).scalars().all()
    for symbol in symbols:
        bookings = store.bookings(symbol)
        strategy_of: dict[object, int | None] = {trade_id: strategy_id for trade_id, strategy_id, _a, _b in bookings}
        rows: list[dict[str, Any]] = []
        for trade_id, strategy_id, _account_id, booking in bookings:
            if strategy_id is None and booking.closed:
                rows += store.shares_of(trade_id, booking.closed, strategy_of)
        store.save_shares(rows)


def downgrade() -> None:
    op.drop_index(op.f('ix_realized_shares_trade_id'), table_name='realized_shares')
    op.drop_table('realized_shares')
