"""accounts, instruments, cash, dividends, splits, share transfers and symbol changes

Every database gets the account `main`, which receives every existing trade, order and
position: a migration over live data. Its currency is the `reporting.currency` setting when
one is stored, else USD, and each traded symbol becomes an instrument in that currency.

Existing trades settle in `main`'s cash from now on, so the cash projection is filled here:
the trades in booking order (by time; at one instant credits before debits, then by id),
buys taking quantity x price + costs and sells adding quantity x price - costs, every
shortfall covered by an implicit deposit (`main` is not a margin account). The arithmetic
is repeated here, with exact decimals, rather than imported, so this migration keeps
meaning what it meant when later code changes (docs/ledger.md §13).

Downgrading drops accounts, cash, dividends, splits and transfers; it is refused while an
account other than `main` holds trades, orders or positions (they would collide).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:10:00
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone
from decimal import Context, Decimal
from typing import Any, Sequence, Union

import sqlalchemy as sa
from alembic import op

import stocksbot.storage.types
from stocksbot.errors import StocksbotError

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_EXACT = Context(prec=1000)
_MONEY = stocksbot.storage.types.ExactDecimal
_TIME = stocksbot.storage.types.UTCDateTime
_OPEN_BY_SYMBOL = sa.text("(CASE WHEN status = 'open' THEN symbol END)")
_CASH_KINDS = ("deposit", "withdraw", "interest", "fee", "tax", "transfer_in", "transfer_out", "convert_in",
               "convert_out", "implicit_deposit")


def _main_currency(bind: sa.Connection) -> str:
    stored = bind.execute(sa.text("SELECT value FROM config WHERE key = 'reporting.currency'")).scalar()
    return stored if isinstance(stored, str) and re.fullmatch("[A-Z]{3}", stored) else "USD"


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(timezone.utc)
    accounts = op.create_table(
        'accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('margin', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=6), nullable=False),
        sa.Column('created_at', _TIME(), nullable=False),
        sa.CheckConstraint('length(name) > 0', name=op.f('ck_accounts_name_not_empty')),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f('ck_accounts_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
        sa.UniqueConstraint('name', name=op.f('uq_accounts_name')),
    )
    currency = _main_currency(bind)
    bind.execute(sa.insert(accounts).values(name='main', currency=currency, margin=False, status='open',
                                            created_at=now))
    main_id = bind.execute(sa.select(accounts.c.id).where(accounts.c.name == 'main')).scalar_one()

    instruments = op.create_table(
        'instruments',
        sa.Column('symbol', sa.String(length=32), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('name', sa.Text(), nullable=True),
        sa.Column('isin', sa.String(length=12), nullable=True),
        sa.PrimaryKeyConstraint('symbol', name=op.f('pk_instruments')),
        sa.UniqueConstraint('isin', name=op.f('uq_instruments_isin')),
    )
    symbols = bind.execute(sa.text("SELECT DISTINCT symbol FROM trades ORDER BY symbol")).scalars().all()
    if symbols:
        op.bulk_insert(instruments, [{'symbol': symbol, 'currency': currency} for symbol in symbols])

    # An expression index, which SQLite's batch mode cannot carry over: dropped first.
    op.drop_index('uq_positions_open_symbol', table_name='positions')
    for table in ('orders', 'trades', 'positions'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
            if table == 'trades':
                batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        values: dict[str, Any] = {'account_id': main_id}
        if table == 'trades':
            values['currency'] = currency
        bind.execute(sa.table(table, *(sa.column(name) for name in values)).update().values(values))
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column('account_id', existing_type=sa.Integer(), nullable=False)
            if table == 'trades':
                batch_op.alter_column('currency', existing_type=sa.String(length=3), nullable=False)
            batch_op.create_foreign_key(op.f(f'fk_{table}_account_id_accounts'), 'accounts', ['account_id'], ['id'])
            batch_op.create_index(op.f(f'ix_{table}_account_id'), ['account_id'], unique=False)
    op.create_index('uq_positions_open_account_symbol', 'positions', ['account_id', _OPEN_BY_SYMBOL], unique=True)

    op.create_table(
        'splits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('symbol', sa.String(length=32), nullable=False),
        sa.Column('numerator', sa.Integer(), nullable=False),
        sa.Column('denominator', sa.Integer(), nullable=False),
        sa.Column('at', _TIME(), nullable=False),
        sa.Column('cash_in_lieu', _MONEY(), nullable=True),
        sa.Column('created_at', _TIME(), nullable=False),
        sa.CheckConstraint('numerator >= 1 AND denominator >= 1 AND numerator <> denominator',
                           name=op.f('ck_splits_ratio')),
        sa.CheckConstraint('cash_in_lieu IS NULL OR CAST(cash_in_lieu AS NUMERIC) >= 0',
                           name=op.f('ck_splits_cash_in_lieu_not_negative')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_splits')),
        sa.UniqueConstraint('symbol', 'at', name=op.f('uq_splits_symbol_at')),
    )
    op.create_table(
        'share_transfers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('symbol', sa.String(length=32), nullable=False),
        sa.Column('quantity', _MONEY(), nullable=False),
        sa.Column('from_account_id', sa.Integer(), nullable=False),
        sa.Column('to_account_id', sa.Integer(), nullable=False),
        sa.Column('at', _TIME(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', _TIME(), nullable=False),
        sa.CheckConstraint('CAST(quantity AS NUMERIC) > 0', name=op.f('ck_share_transfers_quantity_positive')),
        sa.CheckConstraint('from_account_id <> to_account_id', name=op.f('ck_share_transfers_two_accounts')),
        sa.ForeignKeyConstraint(['from_account_id'], ['accounts.id'],
                                name=op.f('fk_share_transfers_from_account_id_accounts')),
        sa.ForeignKeyConstraint(['to_account_id'], ['accounts.id'],
                                name=op.f('fk_share_transfers_to_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_share_transfers')),
    )
    op.create_index(op.f('ix_share_transfers_symbol'), 'share_transfers', ['symbol'], unique=False)
    op.create_table(
        'symbol_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('old_symbol', sa.String(length=32), nullable=False),
        sa.Column('new_symbol', sa.String(length=32), nullable=False),
        sa.Column('at', _TIME(), nullable=False),
        sa.Column('created_at', _TIME(), nullable=False),
        sa.CheckConstraint('old_symbol <> new_symbol', name=op.f('ck_symbol_changes_two_symbols')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_symbol_changes')),
        sa.UniqueConstraint('old_symbol', name=op.f('uq_symbol_changes_old_symbol')),
        sa.UniqueConstraint('new_symbol', name=op.f('uq_symbol_changes_new_symbol')),
    )
    op.create_table(
        'dividends',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('symbol', sa.String(length=32), nullable=False),
        sa.Column('gross', _MONEY(), nullable=False),
        sa.Column('tax', _MONEY(), nullable=False),
        sa.Column('fee', _MONEY(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('ex_date', _TIME(), nullable=False),
        sa.Column('paid_at', _TIME(), nullable=False),
        sa.Column('per_share', _MONEY(), nullable=True),
        sa.Column('reinvest_trade_id', sa.Integer(), nullable=True),
        sa.Column('external_id', sa.String(length=100), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', _TIME(), nullable=False),
        sa.CheckConstraint('CAST(gross AS NUMERIC) > 0', name=op.f('ck_dividends_gross_positive')),
        sa.CheckConstraint('CAST(tax AS NUMERIC) >= 0', name=op.f('ck_dividends_tax_not_negative')),
        sa.CheckConstraint('CAST(fee AS NUMERIC) >= 0', name=op.f('ck_dividends_fee_not_negative')),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_dividends_account_id_accounts')),
        sa.ForeignKeyConstraint(['reinvest_trade_id'], ['trades.id'],
                                name=op.f('fk_dividends_reinvest_trade_id_trades')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dividends')),
        sa.UniqueConstraint('external_id', name=op.f('uq_dividends_external_id')),
    )
    op.create_index(op.f('ix_dividends_account_id'), 'dividends', ['account_id'], unique=False)
    op.create_index(op.f('ix_dividends_symbol'), 'dividends', ['symbol'], unique=False)
    movements = op.create_table(
        'cash_movements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount', _MONEY(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('at', _TIME(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('pair_id', sa.Integer(), nullable=True),
        sa.Column('trade_id', sa.Integer(), nullable=True),
        sa.Column('dividend_id', sa.Integer(), nullable=True),
        sa.Column('external_id', sa.String(length=100), nullable=True),
        sa.Column('created_at', _TIME(), nullable=False),
        sa.CheckConstraint("kind IN (" + ", ".join(f"'{kind}'" for kind in _CASH_KINDS) + ")",
                           name=op.f('ck_cash_movements_kind')),
        sa.CheckConstraint('CAST(amount AS NUMERIC) <> 0', name=op.f('ck_cash_movements_amount_not_zero')),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_cash_movements_account_id_accounts')),
        sa.ForeignKeyConstraint(['trade_id'], ['trades.id'], name=op.f('fk_cash_movements_trade_id_trades'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['dividend_id'], ['dividends.id'],
                                name=op.f('fk_cash_movements_dividend_id_dividends'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_movements')),
        sa.UniqueConstraint('external_id', name=op.f('uq_cash_movements_external_id')),
    )
    op.create_index('ix_cash_movements_account_id_currency_at', 'cash_movements', ['account_id', 'currency', 'at'],
                    unique=False)
    balances = op.create_table(
        'cash_balances',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('balance', _MONEY(), nullable=False),
        sa.Column('last_at', _TIME(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_cash_balances_account_id_accounts')),
        sa.PrimaryKeyConstraint('account_id', 'currency', name=op.f('pk_cash_balances')),
    )
    _settle_existing_trades(bind, main_id, currency, movements, balances, now)


def _settle_existing_trades(
    bind: sa.Connection, account_id: int, currency: str, movements: sa.Table, balances: sa.Table, now: datetime,
) -> None:
    """`main`'s cash from its trades: settlements in booking order, shortfalls as implicit deposits."""
    trades = sa.table('trades', sa.column('id', sa.Integer()), sa.column('side', sa.String()),
                      sa.column('quantity', _MONEY()), sa.column('price', _MONEY()),
                      sa.column('commission', _MONEY()), sa.column('fees', _MONEY()),
                      sa.column('executed_at', _TIME()))
    balance = Decimal(0)
    last_at = None
    implicit: list[dict[str, Any]] = []
    rows = bind.execute(sa.select(trades.c.id, trades.c.side, trades.c.quantity, trades.c.price, trades.c.commission,
                                  trades.c.fees, trades.c.executed_at)
                        .order_by(trades.c.executed_at, trades.c.id))
    changes: list[tuple[bool, int, Decimal]] = []
    for executed_at, same_instant in itertools.groupby(rows, key=lambda row: row[6]):
        changes.clear()
        for trade_id, side, quantity, price, commission, fees, _at in same_instant:
            gross = _EXACT.multiply(quantity, price)
            costs = _EXACT.add(commission, fees)
            # Every step in the exact context, the signs too: unary minus would round to the
            # default context's 28 digits (a huge holding's settlement has more).
            change = _EXACT.subtract(gross, costs) if side == 'sell' else _EXACT.minus(_EXACT.add(gross, costs))
            changes.append((change < 0, trade_id, change))
        # Booking order: by time; at one instant the credits before the debits, then by id.
        for _debit, trade_id, change in sorted(changes):
            balance = _EXACT.add(balance, change)
            if balance < 0:
                implicit.append({'account_id': account_id, 'kind': 'implicit_deposit', 'amount': _EXACT.minus(balance),
                                 'currency': currency, 'at': executed_at, 'trade_id': trade_id, 'created_at': now})
                balance = Decimal(0)
        last_at = executed_at
    if implicit:
        op.bulk_insert(movements, implicit)
    if last_at is not None:
        op.bulk_insert(balances, [{'account_id': account_id, 'currency': currency, 'balance': balance,
                                   'last_at': last_at}])


def downgrade() -> None:
    bind = op.get_bind()
    others = bind.execute(sa.text(
        "SELECT name FROM accounts WHERE name <> 'main' AND ("
        "EXISTS (SELECT 1 FROM trades WHERE trades.account_id = accounts.id) OR "
        "EXISTS (SELECT 1 FROM orders WHERE orders.account_id = accounts.id) OR "
        "EXISTS (SELECT 1 FROM positions WHERE positions.account_id = accounts.id)) ORDER BY name"
    )).scalars().all()
    if others:
        # A StocksbotError: `stocksbot db downgrade` reports a refusal in one line, not as a crash.
        raise StocksbotError(
            "cannot downgrade below 0005: accounts other than main hold trades, orders or positions "
            f"({', '.join(others)}); at 0004 they would merge into one ledger"
        )
    op.drop_table('cash_balances')
    op.drop_index('ix_cash_movements_account_id_currency_at', table_name='cash_movements')
    op.drop_table('cash_movements')
    op.drop_index(op.f('ix_dividends_symbol'), table_name='dividends')
    op.drop_index(op.f('ix_dividends_account_id'), table_name='dividends')
    op.drop_table('dividends')
    op.drop_table('symbol_changes')
    op.drop_index(op.f('ix_share_transfers_symbol'), table_name='share_transfers')
    op.drop_table('share_transfers')
    op.drop_table('splits')
    op.drop_index('uq_positions_open_account_symbol', table_name='positions')
    for table in ('positions', 'trades', 'orders'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(op.f(f'ix_{table}_account_id'))
            batch_op.drop_constraint(op.f(f'fk_{table}_account_id_accounts'), type_='foreignkey')
            batch_op.drop_column('account_id')
            if table == 'trades':
                batch_op.drop_column('currency')
    op.create_index('uq_positions_open_symbol', 'positions', [_OPEN_BY_SYMBOL], unique=True)
    op.drop_table('instruments')
    op.drop_table('accounts')
