"""initial schema: strategies, orders, trades, positions, lots, price bars, config

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:40:40.158824
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import stocksbot.storage.types

revision: str = '0001'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('config',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=6), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('updated_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("type IN ('string', 'int', 'float', 'bool', 'json')", name=op.f('ck_config_type')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_config'))
    )
    op.create_table('price_bars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('interval', sa.String(length=8), nullable=False),
    sa.Column('timestamp', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('open', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('high', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('low', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('close', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('volume', stocksbot.storage.types.ExactDecimal(), nullable=True),
    sa.CheckConstraint('CAST(close AS NUMERIC) >= 0', name=op.f('ck_price_bars_close_not_negative')),
    sa.CheckConstraint('volume IS NULL OR CAST(volume AS NUMERIC) >= 0', name=op.f('ck_price_bars_volume_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_bars')),
    sa.UniqueConstraint('symbol', 'interval', 'timestamp', name=op.f('uq_price_bars_symbol_interval_timestamp'))
    )
    op.create_table('strategies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(name) > 0', name=op.f('ck_strategies_name_not_empty')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strategies')),
    sa.UniqueConstraint('name', name=op.f('uq_strategies_name'))
    )
    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=10), nullable=False),
    sa.Column('quantity', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('limit_price', stocksbot.storage.types.ExactDecimal(), nullable=True),
    sa.Column('stop_price', stocksbot.storage.types.ExactDecimal(), nullable=True),
    sa.Column('tif', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('filled_quantity', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('avg_fill_price', stocksbot.storage.types.ExactDecimal(), nullable=True),
    sa.Column('strategy_id', sa.Integer(), nullable=True),
    sa.Column('created_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f('ck_orders_side')),
    sa.CheckConstraint("status IN ('pending', 'submitted', 'partially_filled', 'filled', 'cancelled', 'rejected', 'expired')", name=op.f('ck_orders_status')),
    sa.CheckConstraint("tif IN ('day', 'gtc', 'ioc', 'fok')", name=op.f('ck_orders_tif')),
    sa.CheckConstraint("type IN ('market', 'limit', 'stop', 'stop_limit')", name=op.f('ck_orders_type')),
    sa.CheckConstraint("type NOT IN ('limit', 'stop_limit') OR limit_price IS NOT NULL", name=op.f('ck_orders_limit_price_required')),
    sa.CheckConstraint("type NOT IN ('stop', 'stop_limit') OR stop_price IS NOT NULL", name=op.f('ck_orders_stop_price_required')),
    sa.CheckConstraint('CAST(filled_quantity AS NUMERIC) >= 0', name=op.f('ck_orders_filled_not_negative')),
    sa.CheckConstraint('CAST(quantity AS NUMERIC) > 0', name=op.f('ck_orders_quantity_positive')),
    sa.CheckConstraint('limit_price IS NULL OR CAST(limit_price AS NUMERIC) > 0', name=op.f('ck_orders_limit_price_positive')),
    sa.CheckConstraint('stop_price IS NULL OR CAST(stop_price AS NUMERIC) > 0', name=op.f('ck_orders_stop_price_positive')),
    sa.ForeignKeyConstraint(['strategy_id'], ['strategies.id'], name=op.f('fk_orders_strategy_id_strategies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('external_id', name=op.f('uq_orders_external_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_strategy_id'), ['strategy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_symbol'), ['symbol'], unique=False)

    op.create_table('positions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=5), nullable=False),
    sa.Column('quantity', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('open_cost', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('avg_entry_price', stocksbot.storage.types.ExactDecimal(), nullable=True),
    sa.Column('realized_pnl', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('status', sa.String(length=6), nullable=False),
    sa.Column('opened_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('strategy_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("(status = 'open' AND closed_at IS NULL) OR (status = 'closed' AND closed_at IS NOT NULL)", name=op.f('ck_positions_closed_at_matches_status')),
    sa.CheckConstraint("side IN ('long', 'short')", name=op.f('ck_positions_side')),
    sa.CheckConstraint("status IN ('open', 'closed')", name=op.f('ck_positions_status')),
    sa.CheckConstraint('CAST(quantity AS NUMERIC) >= 0', name=op.f('ck_positions_quantity_not_negative')),
    sa.ForeignKeyConstraint(['strategy_id'], ['strategies.id'], name=op.f('fk_positions_strategy_id_strategies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_positions'))
    )
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.create_index('ix_positions_status_symbol', ['status', 'symbol'], unique=False)
        batch_op.create_index(batch_op.f('ix_positions_strategy_id'), ['strategy_id'], unique=False)
        batch_op.create_index('uq_positions_open_symbol', ['symbol'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('trades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('quantity', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('price', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('commission', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('fees', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('executed_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('realized_pnl', stocksbot.storage.types.ExactDecimal(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('strategy_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f('ck_trades_side')),
    sa.CheckConstraint('CAST(commission AS NUMERIC) >= 0', name=op.f('ck_trades_commission_not_negative')),
    sa.CheckConstraint('CAST(fees AS NUMERIC) >= 0', name=op.f('ck_trades_fees_not_negative')),
    sa.CheckConstraint('CAST(price AS NUMERIC) >= 0', name=op.f('ck_trades_price_not_negative')),
    sa.CheckConstraint('CAST(quantity AS NUMERIC) > 0', name=op.f('ck_trades_quantity_positive')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_trades_order_id_orders')),
    sa.ForeignKeyConstraint(['strategy_id'], ['strategies.id'], name=op.f('fk_trades_strategy_id_strategies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trades')),
    sa.UniqueConstraint('external_id', name=op.f('uq_trades_external_id'))
    )
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trades_executed_at'), ['executed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_trades_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trades_strategy_id'), ['strategy_id'], unique=False)
        batch_op.create_index('ix_trades_symbol_executed_at', ['symbol', 'executed_at', 'id'], unique=False)

    op.create_table('lots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('position_id', sa.Integer(), nullable=False),
    sa.Column('trade_id', sa.Integer(), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('quantity', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('amount', stocksbot.storage.types.ExactDecimal(), nullable=False),
    sa.Column('opened_at', stocksbot.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('CAST(quantity AS NUMERIC) > 0', name=op.f('ck_lots_quantity_positive')),
    sa.ForeignKeyConstraint(['position_id'], ['positions.id'], name=op.f('fk_lots_position_id_positions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trade_id'], ['trades.id'], name=op.f('fk_lots_trade_id_trades')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lots')),
    sa.UniqueConstraint('position_id', 'seq', name=op.f('uq_lots_position_id_seq'))
    )
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lots_trade_id'), ['trade_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lots_trade_id'))

    op.drop_table('lots')
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.drop_index('ix_trades_symbol_executed_at')
        batch_op.drop_index(batch_op.f('ix_trades_strategy_id'))
        batch_op.drop_index(batch_op.f('ix_trades_order_id'))
        batch_op.drop_index(batch_op.f('ix_trades_executed_at'))

    op.drop_table('trades')
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.drop_index('uq_positions_open_symbol', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_positions_strategy_id'))
        batch_op.drop_index('ix_positions_status_symbol')

    op.drop_table('positions')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_symbol'))
        batch_op.drop_index(batch_op.f('ix_orders_strategy_id'))
        batch_op.drop_index(batch_op.f('ix_orders_status'))

    op.drop_table('orders')
    op.drop_table('strategies')
    op.drop_table('price_bars')
    op.drop_table('config')
