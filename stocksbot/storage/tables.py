"""The schema, declared once: every table as a SQLAlchemy Core `Table`, with its constraints.

The migrations (`alembic/versions/`) create it, the repositories and the booking store
query it, and pytest-alembic's model test checks that the two agree. Core, not ORM classes:
an ORM import and class mapping would cost every command more start-up time than its
queries take at a million trades.

Constraints live in the database, not only in code, so a bug or a hand-edited row cannot
store a negative quantity or a second open position for one symbol. Every constraint has a
name (from the naming convention) so that migrations can alter it on SQLite too.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    column,
    literal_column,
)

from stocksbot.storage.types import ExactDecimal, UTCDateTime
from stocksbot.vocabulary import (
    ACCOUNT_NAME_MAX,
    CONFIG_KEY_MAX,
    CONFIG_TYPES,
    CURRENCY_LENGTH,
    EXTERNAL_ID_MAX,
    ISIN_LENGTH,
    NEEDS_LIMIT_PRICE,
    NEEDS_STOP_PRICE,
    ORDER_STATUSES,
    ORDER_TYPES,
    POSITION_SIDES,
    POSITION_STATUSES,
    STORED_CASH_KINDS,
    STRATEGY_NAME_MAX,
    SYMBOL_MAX,
    TIME_IN_FORCE,
    TRADE_SIDES,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _positive(column: str) -> str:
    # CAST(... AS NUMERIC) compares numbers on both backends; on SQLite the column holds text.
    return f"CAST({column} AS NUMERIC) > 0"


def _not_negative(column: str) -> str:
    return f"CAST({column} AS NUMERIC) >= 0"


def _null_or(condition: str, column: str) -> str:
    return f"{column} IS NULL OR {condition}"


def _money(name: str, *, nullable: bool = False, **kwargs: object) -> Column[Decimal]:
    return Column(name, ExactDecimal, nullable=nullable, **kwargs)  # type: ignore[arg-type]


def _time(name: str, *, nullable: bool = False, **kwargs: object) -> Column[datetime]:
    return Column(name, UTCDateTime, nullable=nullable, **kwargs)  # type: ignore[arg-type]


accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(ACCOUNT_NAME_MAX), nullable=False, unique=True),
    Column("currency", String(CURRENCY_LENGTH), nullable=False),
    Column("description", Text),
    Column("margin", Boolean, nullable=False, default=False),
    Column("status", String(6), nullable=False, default="open"),
    _time("created_at", default=utcnow),
    CheckConstraint("length(name) > 0", name="name_not_empty"),
    CheckConstraint(_one_of("status", POSITION_STATUSES), name="status"),
)

# What is known about a symbol: its currency (the currency its trades settle in), name, ISIN.
instruments = Table(
    "instruments", metadata,
    Column("symbol", String(SYMBOL_MAX), primary_key=True),
    Column("currency", String(CURRENCY_LENGTH), nullable=False),
    Column("name", Text),
    Column("isin", String(ISIN_LENGTH), unique=True),
)

strategies = Table(
    "strategies", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(STRATEGY_NAME_MAX), nullable=False, unique=True),
    Column("description", Text),
    Column("params", JSON, nullable=False, default=dict),
    Column("enabled", Boolean, nullable=False, default=True),
    _time("created_at", default=utcnow),
    _time("updated_at", default=utcnow, onupdate=utcnow),
    CheckConstraint("length(name) > 0", name="name_not_empty"),
)

orders = Table(
    "orders", metadata,
    Column("id", Integer, primary_key=True),
    Column("external_id", String(EXTERNAL_ID_MAX), unique=True),
    Column("side", String(4), nullable=False),
    Column("symbol", String(SYMBOL_MAX), nullable=False, index=True),
    Column("type", String(10), nullable=False, default="market"),
    _money("quantity"),
    _money("limit_price", nullable=True),
    _money("stop_price", nullable=True),
    Column("tif", String(3), nullable=False, default="day"),
    Column("status", String(16), nullable=False, default="pending", index=True),
    _money("filled_quantity", default=Decimal(0)),
    _money("avg_fill_price", nullable=True),
    Column("strategy_id", ForeignKey("strategies.id"), index=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    _time("created_at", default=utcnow),
    _time("updated_at", default=utcnow, onupdate=utcnow),
    CheckConstraint(_one_of("side", TRADE_SIDES), name="side"),
    CheckConstraint(_one_of("type", ORDER_TYPES), name="type"),
    CheckConstraint(_one_of("tif", TIME_IN_FORCE), name="tif"),
    CheckConstraint(_one_of("status", ORDER_STATUSES), name="status"),
    CheckConstraint(_positive("quantity"), name="quantity_positive"),
    CheckConstraint(_not_negative("filled_quantity"), name="filled_not_negative"),
    CheckConstraint(_null_or(_positive("limit_price"), "limit_price"), name="limit_price_positive"),
    CheckConstraint(_null_or(_positive("stop_price"), "stop_price"), name="stop_price_positive"),
    CheckConstraint(f"NOT ({_one_of('type', NEEDS_LIMIT_PRICE)}) OR limit_price IS NOT NULL", name="limit_price_required"),
    CheckConstraint(f"NOT ({_one_of('type', NEEDS_STOP_PRICE)}) OR stop_price IS NOT NULL", name="stop_price_required"),
)

trades = Table(
    "trades", metadata,
    Column("id", Integer, primary_key=True),
    Column("external_id", String(EXTERNAL_ID_MAX), unique=True),
    Column("side", String(4), nullable=False),
    Column("symbol", String(SYMBOL_MAX), nullable=False),
    _money("quantity"),
    _money("price"),
    _money("commission", default=Decimal(0)),
    _money("fees", default=Decimal(0)),
    _time("executed_at", index=True),
    _money("realized_pnl", nullable=True),
    Column("order_id", ForeignKey("orders.id"), index=True),
    Column("strategy_id", ForeignKey("strategies.id"), index=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    # The currency the trade settles in: its instrument's (docs/ledger.md §15).
    Column("currency", String(CURRENCY_LENGTH), nullable=False),
    Column("note", Text),
    _time("created_at", default=utcnow),
    # A voided trade is kept but no longer counts: booking, lists and exports leave it out
    # (docs/ledger.md §19). NULL for every live trade.
    _time("voided_at", nullable=True),
    Column("void_reason", Text),
    CheckConstraint(_one_of("side", TRADE_SIDES), name="side"),
    CheckConstraint(_positive("quantity"), name="quantity_positive"),
    CheckConstraint(_not_negative("price"), name="price_not_negative"),
    CheckConstraint(_not_negative("commission"), name="commission_not_negative"),
    CheckConstraint(_not_negative("fees"), name="fees_not_negative"),
    # Booking replays a symbol's trades in time order; ties keep entry order.
    Index("ix_trades_symbol_executed_at", "symbol", "executed_at", "id"),
)

#: The one condition that says a trade counts (docs/ledger.md §19): it is not voided. Every read
#: of the trades that derives or shows anything (booking, cash, reports, strategies, exports,
#: lists) filters on it; only the lookups of taken external ids and of a trade by its id do not.
LIVE_TRADE = trades.c.voided_at.is_(None)
#: The same condition as SQL text, for the queries that go straight to the driver.
LIVE_TRADE_SQL = f"{trades.c.voided_at.name} IS NULL"

# One open run on a symbol, flat to flat; a projection of the trades, rebuildable.
positions = Table(
    "positions", metadata,
    Column("id", Integer, primary_key=True),
    Column("symbol", String(SYMBOL_MAX), nullable=False),
    Column("side", String(5), nullable=False),
    _money("quantity"),
    _money("open_cost", default=Decimal(0)),
    _money("avg_entry_price", nullable=True),
    _money("realized_pnl", default=Decimal(0)),
    # Commissions and fees booked into this run (its opening trades, and its share of the
    # trades that closed it): lets the summary total costs without reading every trade.
    _money("costs", default=Decimal(0), server_default="0"),
    Column("status", String(6), nullable=False, default="open"),
    _time("opened_at"),
    _time("closed_at", nullable=True),
    Column("strategy_id", ForeignKey("strategies.id"), index=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    CheckConstraint(_one_of("side", POSITION_SIDES), name="side"),
    CheckConstraint(_one_of("status", POSITION_STATUSES), name="status"),
    CheckConstraint(_not_negative("quantity"), name="quantity_not_negative"),
    CheckConstraint(_not_negative("costs"), name="costs_not_negative"),
    CheckConstraint(
        "(status = 'open' AND closed_at IS NULL) OR (status = 'closed' AND closed_at IS NOT NULL)",
        name="closed_at_matches_status",
    ),
    # At most one open run per (account, symbol): the ledger's central invariant, enforced by
    # the database. A unique index on an expression both backends share (closed runs index
    # NULL, and NULLs never collide) rather than a partial index, whose dialect options would
    # make every command import the PostgreSQL dialect (migrations 0004 and 0005).
    Index("uq_positions_open_account_symbol", "account_id", case((column("status") == "open", column("symbol"))),
          unique=True),
    Index("ix_positions_status_symbol", "status", "symbol"),
)

#: The expression `uq_positions_open_account_symbol` indexes, to look an open position up by:
#: `account_id == A AND OPEN_POSITION_SYMBOL == S`. Written like the index (the literal 'open',
#: not a parameter) so that both databases' planners use it; a lookup by symbol and status
#: instead lets SQLite use only the index's account_id and read every position of the account.
OPEN_POSITION_SYMBOL = case((positions.c.status == literal_column("'open'"), positions.c.symbol))

# An open lot of a position: what remains of one opening trade (or the pooled average lot).
lots = Table(
    "lots", metadata,
    Column("id", Integer, primary_key=True),
    Column("position_id", ForeignKey("positions.id", ondelete="CASCADE"), nullable=False),
    Column("trade_id", ForeignKey("trades.id"), index=True),
    Column("seq", Integer, nullable=False),
    _money("quantity"),
    _money("amount"),
    _time("opened_at"),
    CheckConstraint(_positive("quantity"), name="quantity_positive"),
    UniqueConstraint("position_id", "seq"),
)

price_bars = Table(
    "price_bars", metadata,
    Column("id", Integer, primary_key=True),
    Column("symbol", String(SYMBOL_MAX), nullable=False),
    Column("interval", String(8), nullable=False, default="1d"),
    _time("timestamp"),
    _money("open"),
    _money("high"),
    _money("low"),
    _money("close"),
    _money("volume", nullable=True),
    # Serves "latest bar of a symbol" and "one symbol over a date range" as index range scans.
    UniqueConstraint("symbol", "interval", "timestamp"),
    # "Latest price of a symbol" takes the newest bar of any interval.
    Index("ix_price_bars_symbol_timestamp", "symbol", "timestamp"),
    CheckConstraint(_not_negative("close"), name="close_not_negative"),
    CheckConstraint(_null_or(_not_negative("volume"), "volume"), name="volume_not_negative"),
)
# `performance` reads every bar in time order, several intervals at one moment in reverse name
# order (storage/streams.py): covering that read, this index spares a sort of the whole table
# (0.6 s of 8 at a million bars; docs/ledger.md §18.8).
Index("ix_price_bars_timestamp_interval", price_bars.c.timestamp, price_bars.c.interval.desc(),
      price_bars.c.symbol, price_bars.c.close)

config = Table(
    "config", metadata,
    Column("key", String(CONFIG_KEY_MAX), primary_key=True),
    Column("value", Text, nullable=False),
    Column("type", String(6), nullable=False),
    Column("description", Text),
    _time("updated_at", default=utcnow, onupdate=utcnow),
    CheckConstraint(_one_of("type", CONFIG_TYPES), name="type"),
)

# Running totals of the closed runs (closed positions) of each strategy, kept by booking, so
# the summary costs the same at a thousand closed runs or a hundred thousand. `strategy_key`
# is the positions' strategy_id, 0 for positions without a strategy (no foreign key: 0 is no
# strategy, and a row whose runs drop to 0 is deleted, so a strategy can still be deleted).
closed_run_totals = Table(
    "closed_run_totals", metadata,
    Column("strategy_key", Integer, primary_key=True, autoincrement=False),
    Column("runs", Integer, nullable=False),
    _money("realized_pnl"),
    _money("costs"),
)

# Per (strategy, symbol, account): the strategy's trades, closing trades, wins, realized P&L
# by the attribution rule (docs/ledger.md §8.3) and costs, kept by booking so that `strategy
# list` and `summary` read a few rows instead of summing the history
# (storage/strategy_totals.py). `strategy_key` is 0 for no strategy, as above; the account
# has no foreign key either (the rows are derived and rebuildable, and `db check` compares).
strategy_totals = Table(
    "strategy_totals", metadata,
    Column("strategy_key", Integer, primary_key=True, autoincrement=False),
    Column("symbol", String(SYMBOL_MAX), primary_key=True),
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("trades", Integer, nullable=False),
    Column("closing", Integer, nullable=False),
    Column("won", Integer, nullable=False),
    _money("realized_pnl"),
    _money("commissions"),
    _money("fees"),
)


# N new shares for D old, from `at` (the start of the split's day) on: docs/ledger.md §12.
splits = Table(
    "splits", metadata,
    Column("id", Integer, primary_key=True),
    Column("symbol", String(SYMBOL_MAX), nullable=False),
    Column("numerator", Integer, nullable=False),
    Column("denominator", Integer, nullable=False),
    _time("at"),
    _money("cash_in_lieu", nullable=True),
    _time("created_at", default=utcnow),
    CheckConstraint("numerator >= 1 AND denominator >= 1 AND numerator <> denominator", name="ratio"),
    CheckConstraint(_null_or(_not_negative("cash_in_lieu"), "cash_in_lieu"), name="cash_in_lieu_not_negative"),
    UniqueConstraint("symbol", "at"),
)

# Shares moved between two own accounts with their lots; nothing is realized.
share_transfers = Table(
    "share_transfers", metadata,
    Column("id", Integer, primary_key=True),
    Column("symbol", String(SYMBOL_MAX), nullable=False, index=True),
    _money("quantity"),
    Column("from_account_id", ForeignKey("accounts.id"), nullable=False),
    Column("to_account_id", ForeignKey("accounts.id"), nullable=False),
    _time("at"),
    Column("note", Text),
    _time("created_at", default=utcnow),
    CheckConstraint(_positive("quantity"), name="quantity_positive"),
    CheckConstraint("from_account_id <> to_account_id", name="two_accounts"),
)

# From `at` on, the instrument OLD trades as NEW; its open lots carry over (docs/ledger.md §12.6).
# A symbol is renamed at most once, and becomes the new name of at most one other.
symbol_changes = Table(
    "symbol_changes", metadata,
    Column("id", Integer, primary_key=True),
    Column("old_symbol", String(SYMBOL_MAX), nullable=False, unique=True),
    Column("new_symbol", String(SYMBOL_MAX), nullable=False, unique=True),
    _time("at"),
    _time("created_at", default=utcnow),
    CheckConstraint("old_symbol <> new_symbol", name="two_symbols"),
)

dividends = Table(
    "dividends", metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("symbol", String(SYMBOL_MAX), nullable=False, index=True),
    _money("gross"),
    _money("tax", default=Decimal(0)),
    _money("fee", default=Decimal(0)),
    Column("currency", String(CURRENCY_LENGTH), nullable=False),
    _time("ex_date"),
    _time("paid_at"),
    _money("per_share", nullable=True),
    Column("reinvest_trade_id", ForeignKey("trades.id"), nullable=True),
    Column("external_id", String(EXTERNAL_ID_MAX), unique=True),
    Column("note", Text),
    _time("created_at", default=utcnow),
    CheckConstraint(_positive("gross"), name="gross_positive"),
    CheckConstraint(_not_negative("tax"), name="tax_not_negative"),
    CheckConstraint(_not_negative("fee"), name="fee_not_negative"),
)

# Cash a person recorded (deposits, withdrawals, interest, fees, taxes, transfers and
# conversions, each a signed amount) and the implicit deposits booking derives for
# non-margin accounts (kind `implicit_deposit`, replaced whenever the account's cash is
# re-booked). Trade settlements and dividends are read from their own tables: docs/ledger.md §13.
cash_movements = Table(
    "cash_movements", metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    _money("amount"),
    Column("currency", String(CURRENCY_LENGTH), nullable=False),
    _time("at"),
    Column("note", Text),
    # The other half of a transfer or conversion (the id of the pair's first row).
    Column("pair_id", Integer),
    # What made an implicit deposit necessary.
    Column("trade_id", ForeignKey("trades.id", ondelete="CASCADE")),
    Column("dividend_id", ForeignKey("dividends.id", ondelete="CASCADE")),
    Column("external_id", String(EXTERNAL_ID_MAX), unique=True),
    _time("created_at", default=utcnow),
    CheckConstraint(_one_of("kind", STORED_CASH_KINDS), name="kind"),
    CheckConstraint("CAST(amount AS NUMERIC) <> 0", name="amount_not_zero"),
    Index("ix_cash_movements_account_id_currency_at", "account_id", "currency", "at"),
)

# The cash projection: each (account, currency)'s balance and the time of the latest cash
# event booked into it (a back-dated event re-books the pair). Rebuildable; `db check` compares.
cash_balances = Table(
    "cash_balances", metadata,
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("currency", String(CURRENCY_LENGTH), primary_key=True),
    _money("balance"),
    _time("last_at", nullable=True),
)

# The realized P&L of a closing trade without a strategy, per strategy of the trades that
# opened the lots it closed (docs/ledger.md §8.3): one row per (trade, opening strategy), the
# rows of a trade adding up to its realized P&L; a row with no strategy holds what lots opened
# without one gave. Written by booking only for trades that closed a lot opened under a
# strategy (any other untagged close belongs to no strategy as a whole), replaced whenever
# the symbol is re-booked; rebuildable, and `db check` compares.
realized_shares = Table(
    "realized_shares", metadata,
    Column("id", Integer, primary_key=True),
    Column("trade_id", ForeignKey("trades.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("strategy_id", ForeignKey("strategies.id"), nullable=True),
    _money("realized_pnl"),
)

# Every lot portion a trade closed (docs/ledger.md §17.3), written by booking in step with
# `realized_shares`: the closing trade, its place among the trade's portions (`seq`), the
# trade that opened the lot (no foreign key: a lot that came with a share transfer or a
# symbol change names a trade of another account or symbol), the lot's side, and the figures
# `report realized` shows (ledger/realized.py). Replaced whenever the symbol is re-booked;
# rebuildable, and `db check` compares. `report realized --year` reads one range of
# `closed_at`.
lot_closings = Table(
    "lot_closings", metadata,
    Column("id", Integer, primary_key=True),
    Column("trade_id", ForeignKey("trades.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("opening_trade_id", Integer, nullable=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("symbol", String(SYMBOL_MAX), nullable=False),
    Column("side", String(5), nullable=False),
    _money("quantity"),
    _time("opened_at"),
    _time("closed_at"),
    _money("proceeds"),
    _money("cost"),
    _money("realized_pnl"),
    # `report realized`'s order (storage/closings.py), so a year's read needs no sort (migration 0011).
    Index("ix_lot_closings_closed_at_trade_id_seq", "closed_at", "trade_id", "seq"),
)

# Every write, as it happened (docs/ledger.md §20): when, what (`action`, e.g. "trade.add",
# on `entity` with `entity_key`, its id or name), the old and new values as JSON (decimals
# as strings), and the command that did it. Trades an entry brought into the ledger are the
# id range `first_trade_id`..`last_trade_id` (one trade, or one contiguous run of an import),
# so `db check` can see that every trade has its entry without one audit row per imported
# trade. Append-only: nothing in stocksbot updates or deletes a row.
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True),
    _time("at", default=utcnow, index=True),
    Column("action", String(40), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("entity_key", String(200)),
    Column("old", JSON),
    Column("new", JSON),
    Column("command", Text),
    Column("first_trade_id", Integer),
    Column("last_trade_id", Integer),
    CheckConstraint("(first_trade_id IS NULL) = (last_trade_id IS NULL)", name="trade_range_complete"),
    CheckConstraint("first_trade_id IS NULL OR first_trade_id <= last_trade_id", name="trade_range_ordered"),
)
