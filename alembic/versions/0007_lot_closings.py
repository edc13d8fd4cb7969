"""every closed lot portion, stored at booking time, for `report realized`

`report realized` used to replay the trades in memory on every run to find the lot portions
closed in a year (docs/ledger.md §17.3). From now on booking stores each portion in
`lot_closings` (the closing trade, the lot's opening trade and time, quantity, proceeds, cost
and realized P&L) and the report reads one range of `closed_at`.

Filled here for existing data by the booking store's own in-memory re-booking
(`BookingStore.bookings`) and `closings_of`, the code booking writes the rows with, so an
upgraded database holds exactly what booking would have written (`db check` compares the
two). Only symbols with a closing trade (a stored realized P&L) are re-booked. Downgrading
drops the table (nothing else depends on it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 00:30:00
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import sqlalchemy as sa
from alembic import op

import stocksbot.storage.types

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'lot_closings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trade_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('opening_trade_id', sa.Integer(), nullable=True),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('symbol', sa.String(length=32), nullable=False),
        sa.Column('side', sa.String(length=5), nullable=False),
        sa.Column('quantity', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.Column('opened_at', stocksbot.storage.types.UTCDateTime(), nullable=False),
        sa.Column('closed_at', stocksbot.storage.types.UTCDateTime(), nullable=False),
        sa.Column('proceeds', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.Column('cost', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.Column('realized_pnl', stocksbot.storage.types.ExactDecimal(), nullable=False),
        sa.ForeignKeyConstraint(['trade_id'], ['trades.id'], name=op.f('fk_lot_closings_trade_id_trades'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_lot_closings_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lot_closings')),
    )
    op.create_index(op.f('ix_lot_closings_trade_id'), 'lot_closings', ['trade_id'], unique=False)
    op.create_index(op.f('ix_lot_closings_closed_at'), 'lot_closings', ['closed_at'], unique=False)
    _fill(op.get_bind())


def _fill(bind: sa.Connection) -> None:
    """Store the closed portions of every closing trade, as booking writes them."""
    from stocksbot import settings
    from stocksbot.ledger import Fill
    from stocksbot.storage.booking import BookingStore, closings_of, symbol_trades

    trades = sa.table('trades', sa.column('symbol', sa.String()),
                      sa.column('realized_pnl', stocksbot.storage.types.ExactDecimal()))
    stored = bind.execute(sa.text("SELECT value FROM config WHERE key = 'accounting.cost_basis'")).scalar()
    # This revision's trades have no voided_at yet (0008 adds it): every trade is live.
    store = BookingStore(bind, str(settings.known_value('accounting.cost_basis', stored)), live_only=False)
    symbols = bind.execute(
        sa.select(trades.c.symbol).distinct().where(trades.c.realized_pnl.is_not(None)).order_by(trades.c.symbol)
    ).scalars().all()
    for symbol in symbols:
        fills = {trade[0]: Fill(*trade[1:7], trade[0]) for trade in symbol_trades(bind, symbol, live_only=False)}
        rows: list[tuple[Any, ...]] = []
        for trade_id, _strategy_id, account_id, booking in store.bookings(symbol):
            if booking.closed:
                rows += closings_of(account_id, symbol, fills[trade_id], booking.closed)
        store.save_closings(rows)


def downgrade() -> None:
    op.drop_index(op.f('ix_lot_closings_closed_at'), table_name='lot_closings')
    op.drop_index(op.f('ix_lot_closings_trade_id'), table_name='lot_closings')
    op.drop_table('lot_closings')
