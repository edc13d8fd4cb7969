"""The fixed words and limits of the ledger, declared once.

The database's CHECK constraints (`storage/tables.py`), the Click choices (`cli/`), the CSV
reader (`csvfiles.py`), the settings (`settings.py`) and the ledger rules (`ledger/`) all
import these, so a new order type or a longer external id is one edit, not four. Standard
library only: `stocksbot --help` imports it. The rules behind the words are in
docs/ledger.md.
"""

from __future__ import annotations

BUY = "buy"
SELL = "sell"
#: The side of a trade or an order.
TRADE_SIDES: tuple[str, ...] = (BUY, SELL)

LONG = "long"
SHORT = "short"
#: The side of a position (and of its lots).
POSITION_SIDES: tuple[str, ...] = (LONG, SHORT)

OPEN = "open"
CLOSED = "closed"
POSITION_STATUSES: tuple[str, ...] = (OPEN, CLOSED)

FIFO = "fifo"
LIFO = "lifo"
AVERAGE = "average"
#: Accepted values of `accounting.cost_basis`; the first is the default.
COST_BASIS_METHODS: tuple[str, ...] = (FIFO, LIFO, AVERAGE)

MARKET = "market"
LIMIT = "limit"
STOP = "stop"
STOP_LIMIT = "stop_limit"
#: Order types; the first is the default.
ORDER_TYPES: tuple[str, ...] = (MARKET, LIMIT, STOP, STOP_LIMIT)
#: Order types that need a limit price, and those that need a stop price.
NEEDS_LIMIT_PRICE: tuple[str, ...] = (LIMIT, STOP_LIMIT)
NEEDS_STOP_PRICE: tuple[str, ...] = (STOP, STOP_LIMIT)

#: Time in force; the first is the default.
TIME_IN_FORCE: tuple[str, ...] = ("day", "gtc", "ioc", "fok")

PENDING = "pending"
SUBMITTED = "submitted"
PARTIALLY_FILLED = "partially_filled"
FILLED = "filled"
CANCELLED = "cancelled"
REJECTED = "rejected"
EXPIRED = "expired"
ORDER_STATUSES: tuple[str, ...] = (PENDING, SUBMITTED, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, EXPIRED)
#: The states a person (or bot) may set by hand; fills move an order to the others.
MANUAL_ORDER_STATUSES: tuple[str, ...] = (SUBMITTED, CANCELLED, REJECTED, EXPIRED)

#: Types of a setting's value.
CONFIG_TYPES: tuple[str, ...] = ("string", "int", "float", "bool", "json")

#: Formats of `trade export`.
EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "beancount")

#: Longest broker id (trades and orders), strategy name, config key and symbol.
EXTERNAL_ID_MAX = 100
STRATEGY_NAME_MAX = 100
STRATEGY_PARAM_MAX = 100  # a strategy parameter's name
CONFIG_KEY_MAX = 100
SYMBOL_MAX = 32

#: The account every database has (migration 0005 gives it the ledger that existed before
#: accounts), the default currency of accounts, and the limits of their names and codes.
DEFAULT_ACCOUNT = "main"
DEFAULT_CURRENCY = "USD"
ACCOUNT_NAME_MAX = 64
CURRENCY_LENGTH = 3
ISIN_LENGTH = 12

#: Cash movements a person records (the external flows first), and the one kind booking
#: derives (an implicit deposit covers a shortfall of a non-margin account: docs/ledger.md §13).
EXTERNAL_CASH_KINDS: tuple[str, ...] = ("deposit", "withdraw")
INCOME_CASH_KINDS: tuple[str, ...] = ("interest",)
COST_CASH_KINDS: tuple[str, ...] = ("fee", "tax")
TRANSFER_CASH_KINDS: tuple[str, ...] = ("transfer_in", "transfer_out", "convert_in", "convert_out")
IMPLICIT_DEPOSIT = "implicit_deposit"
STORED_CASH_KINDS: tuple[str, ...] = (
    EXTERNAL_CASH_KINDS + INCOME_CASH_KINDS + COST_CASH_KINDS + TRANSFER_CASH_KINDS + (IMPLICIT_DEPOSIT,)
)
#: Cash effects that `cash list` shows from the ledger itself (trade settlements, dividends).
CASH_KINDS: tuple[str, ...] = STORED_CASH_KINDS + ("trade", "dividend")
#: Orders that can still fill (a split adjusts them).
OPEN_ORDER_STATUSES: tuple[str, ...] = (PENDING, SUBMITTED, PARTIALLY_FILLED)

#: Intervals `performance` groups days into, and the day counts its IRR may use (ACT/365 first,
#: the default): docs/ledger.md §18.
PERFORMANCE_INTERVALS: tuple[str, ...] = ("day", "week", "month", "quarter", "year", "all")
IRR_DAY_COUNTS: tuple[str, ...] = ("365", "365.25")
