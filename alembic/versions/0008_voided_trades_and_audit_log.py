"""voided trades and the audit log

A trade can now be voided instead of deleted (docs/ledger.md §19): `trades.voided_at` and
`trades.void_reason` mark it, and booking, lists and exports leave it out. Every write now
leaves an entry in `audit_log` (docs/ledger.md §20).

The trades stored before this revision were written without entries. So that `db check`'s
rule "every trade has its entry" holds from the first day, the upgrade writes one entry
per contiguous run of existing trade ids (action `trade.baseline`), saying the trades came
before the audit log. Downgrading drops the log and the two columns; voided trades would
come back to life, so the downgrade refuses while any trade is voided (void them by hand
first or keep the revision).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 02:00:00
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import stocksbot.storage.types
from stocksbot.errors import StocksbotError

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('trades', sa.Column('voided_at', stocksbot.storage.types.UTCDateTime(), nullable=True))
    op.add_column('trades', sa.Column('void_reason', sa.Text(), nullable=True))
    audit_log = op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', stocksbot.storage.types.UTCDateTime(), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('entity', sa.String(length=40), nullable=False),
        sa.Column('entity_key', sa.String(length=200), nullable=True),
        sa.Column('old', sa.JSON(), nullable=True),
        sa.Column('new', sa.JSON(), nullable=True),
        sa.Column('command', sa.Text(), nullable=True),
        sa.Column('first_trade_id', sa.Integer(), nullable=True),
        sa.Column('last_trade_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('(first_trade_id IS NULL) = (last_trade_id IS NULL)',
                           name=op.f('ck_audit_log_trade_range_complete')),
        sa.CheckConstraint('first_trade_id IS NULL OR first_trade_id <= last_trade_id',
                           name=op.f('ck_audit_log_trade_range_ordered')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    _baseline(op.get_bind(), audit_log)


def _baseline(bind: sa.Connection, audit_log: sa.Table) -> None:
    """One `trade.baseline` entry per contiguous run of the trade ids stored so far.

    The runs come from the "gaps and islands" grouping (id minus its rank is constant along
    a run), which both backends compute in one query however many trades there are.
    """
    runs = bind.execute(sa.text(
        "SELECT MIN(id), MAX(id), COUNT(*) FROM ("
        " SELECT id, id - ROW_NUMBER() OVER (ORDER BY id) AS island FROM trades"
        ") AS numbered GROUP BY island ORDER BY MIN(id)"
    )).all()
    if not runs:
        return
    now = datetime.now(timezone.utc)
    bind.execute(audit_log.insert(), [
        {
            'at': now, 'action': 'trade.baseline', 'entity': 'trade', 'entity_key': None, 'old': None,
            'new': {'trades': count, 'note': 'stored before the audit log (migration 0008)'},
            'command': 'db upgrade', 'first_trade_id': first, 'last_trade_id': last,
        }
        for first, last, count in runs
    ])


def downgrade() -> None:
    bind = op.get_bind()
    voided = bind.execute(sa.text("SELECT COUNT(*) FROM trades WHERE voided_at IS NOT NULL")).scalar()
    if voided:
        raise StocksbotError(
            f"cannot downgrade below 0008: {voided} voided trade(s) would count again; "
            "restore a backup taken before 0008 instead"
        )
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    with op.batch_alter_table('trades') as batch:
        batch.drop_column('void_reason')
        batch.drop_column('voided_at')
