"""`trade export --format beancount`: the ledger as a beancount file that `bean-check` accepts.

For users, the conventions below are described in docs/csv-formats.md §4; the ledger rules
the export reproduces (lot amounts, realized P&L) are docs/ledger.md §4.

The trades arrive in booking order (executed_at, id) and are written one at a time. To know
what each trade closes and what it realizes, every symbol gets its own `stocksbot.ledger.Book`
(the same code that books the trades in the database), so memory stays bounded by the open
lots per symbol.

Layout
------
* Header: `title`, `operating_currency` and `booking_method` options. stocksbot has no
  currency field, so every amount is in `CURRENCY` ("USD"). `booking_method` is "FIFO" for
  `fifo`, "LIFO" for `lifo` and "FIFO" for `average` (beancount 3 has no working AVERAGE
  booking; see below). Every reduction names the exact lot it reduces, by label, so the
  booking method never has to choose: the lots reduced are the ones stocksbot closed.
* Tolerance: every transaction balances exactly in exact arithmetic, but beancount stores
  a lot's cost per unit, and a total cost such as 100 USD for 3 units becomes a repeating
  decimal that it rounds to 28 significant digits (its decimal context, which also rounds
  the sums it balances and every negative number it reads). A transaction whose amounts
  are all integers would get a tolerance of zero, so the file sets
  `inferred_tolerance_default` to `USD:` max(TOLERANCE = 10^-12, 10^(e - 25)), where e is
  the exponent of the largest sum of absolute amounts of one transaction: 10^-12 for any
  transaction below 10^13 USD, and never more than about 10^-25 of the amounts involved,
  well inside that 28-digit precision. The tolerance absorbs only that rounding (and
  stocksbot's own 20-place rounding of pro-rata splits). Because it depends on the amounts
  and the trades are streamed, this one option is written at the end of the file (beancount
  reads options anywhere).
* Accounts (opened on the date of their first use, just before that transaction):
  `Assets:Stocksbot:Cash` (USD), `Assets:Stocksbot:<SYMBOL>` holding the symbol's commodity,
  `Income:Stocksbot:PnL:<SYMBOL>` for realized P&L, and, only when needed,
  `Assets:Stocksbot:ShortCosts:<SYMBOL>` (see shorts). No Expenses account is used: stocksbot puts
  commission and fees of opening trades into the lot cost and nets those of closing trades
  into the realized P&L, and the export does the same so that the Income accounts hold
  exactly stocksbot's realized P&L (docs/ledger.md §4.2, §4.3). Each transaction carries
  its commission and fees as metadata instead.
* Names: a commodity keeps the symbol when beancount accepts it (`AAPL`, `BRK.B`, `V`).
  Otherwise (a leading digit, `/`, `:`, a trailing `.`, `-` or `_`, or the keywords `TRUE`,
  `FALSE`, `NULL`) it becomes `X'` followed by the symbol with those characters escaped as
  `'` plus a letter (`/` S, `:` C, `.` D, `-` H, `_` U): `EUR/USD` -> `X'EUR'SUSD`,
  `3M` -> `X'3M`. Symbols never contain `'`, so kept and escaped names cannot collide, and
  the escaping can be undone, so two symbols never share a name. Every commodity gets a
  `commodity` directive whose `symbol` metadata gives the original. Account components may
  only hold letters, digits and `-`: symbols are upper case, so `.`, `/`, `:` and `_` become
  the lower-case letters `d`, `s`, `c` and `u` (`BRK.B` -> `Assets:Stocksbot:BRKdB`).
* One transaction per trade, dated by executed_at's UTC date, narrated
  "buy 4 AAPL @ 149.5", with metadata `trade-id`, `order-id`, `external-id`, `strategy`,
  `note`, `commission`, `fees` where present (strings escaped for beancount).

Postings
--------
* Opening a lot (a buy while flat/long, a sell while flat/short, the rest of a flip) posts
  the units at total cost with the `{{...}}` syntax, labelled `trade-<id>`:
  `Assets:Stocksbot:AAPL  4 AAPL {{599 USD, "trade-1"}} @ 149.5 USD`. The total is
  stocksbot's lot amount: for a long, quantity x price + commission + fees; for a short
  (a negative number of units), the net proceeds quantity x price minus commission and fees.
  On a split fill the commission and fees are shared out exactly as the ledger does.
* Closing (part of) a lot reduces it by label, at the lot's own cost:
  `Assets:Stocksbot:AAPL  -4 AAPL {"trade-1"} @ 160 USD`, and posts minus the realized P&L
  to `Income:Stocksbot:PnL:AAPL`. The cash leg is -(quantity x price + commission + fees) for
  a buy and quantity x price - commission - fees for a sell, so each transaction balances.
* `average`: stocksbot keeps one pooled lot. A buy that adds to a long pool (or a sell that
  adds to a short pool) re-states it: the old pool lot is reduced in full at its cost and a
  new pool lot is opened with the summed cost (dated, via the cost spec, by the pool's first
  trade). Closing trades reduce the pool lot, so beancount's lot cost per unit is the
  average cost and the realized P&L equals stocksbot's.
* Shorts are negative lots at cost (beancount allows a negative position held at cost when
  it is booked as an augmentation), covered by reductions by label; flips close every lot
  first and then open the new lot in the same transaction. Beancount refuses a negative
  cost, which a short lot has when its commission and fees exceed quantity x price (for
  example a sale at price 0). Such a lot is written at cost 0 and its negative net proceeds
  are parked in `Assets:Stocksbot:ShortCosts:<SYMBOL>`, released share by share as the lot is
  covered, so the account is back at 0 when the lot is closed and the realized P&L is
  unchanged. This is the only approximation of a lot cost; all totals stay exact.

Limits: beancount reads a negative number through its 28-digit context, so a negative
amount with more than 28 significant digits (a pro-rata share with 20 decimal places of an
amount above 10^8) is read back rounded in its last digits: the file holds stocksbot's exact
numbers, beancount sees them to 28 digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import IO, Iterator

from stocksbot.errors import StocksbotError
from stocksbot.ledger import (
    AVERAGE,
    BUY,
    COST_BASIS_METHODS,
    LIFO,
    LONG,
    SHORT,
    Book,
    Fill,
    add,
    format_decimal,
    multiply,
    subtract,
)
from stocksbot.ledger.numbers import ZERO
from stocksbot.storage.records import TradeRecord

__all__ = [
    "CASH_ACCOUNT",
    "CURRENCY",
    "PNL_ROOT",
    "POSITIONS_ROOT",
    "SHORT_COSTS_ROOT",
    "TOLERANCE",
    "account_component",
    "commodity_name",
    "quote",
    "write_beancount",
]

#: stocksbot records no currency; every amount is exported in this one.
CURRENCY = "USD"
#: The smallest tolerance beancount uses when balancing a transaction (see module docstring).
TOLERANCE = Decimal("0.000000000001")

POSITIONS_ROOT = "Assets:Stocksbot"
CASH_ACCOUNT = "Assets:Stocksbot:Cash"
SHORT_COSTS_ROOT = "Assets:Stocksbot:ShortCosts"
PNL_ROOT = "Income:Stocksbot:PnL"

_INDENT = "  "

# What beancount's lexer reads as one currency token ([A-Z] alone is a valid currency too).
_BEANCOUNT_CURRENCY = re.compile(r"[A-Z](?:[A-Z0-9'._-]*[A-Z0-9])?")
# Upper-case words the lexer reads as something else than a currency.
_RESERVED_WORDS = frozenset({"TRUE", "FALSE", "NULL"})
_COMMODITY_ESCAPES = {"/": "S", ":": "C", ".": "D", "-": "H", "_": "U"}
_INNER_PUNCTUATION = frozenset(".-_")
_ACCOUNT_ESCAPES = {".": "d", "/": "s", ":": "c", "_": "u"}


def commodity_name(symbol: str) -> str:
    """The beancount commodity for a stocksbot symbol (deterministic and collision-free)."""
    if _BEANCOUNT_CURRENCY.fullmatch(symbol) and symbol not in _RESERVED_WORDS:
        return symbol
    body = []
    last = len(symbol) - 1
    for index, char in enumerate(symbol):
        if char.isascii() and char.isalnum():
            body.append(char)
        elif char in _INNER_PUNCTUATION and index < last:
            body.append(char)
        else:
            body.append("'" + _COMMODITY_ESCAPES[char])
    return "X'" + "".join(body)


def account_component(symbol: str) -> str:
    """An account name component for a symbol: letters, digits and '-', starting upper/digit."""
    return "".join(_ACCOUNT_ESCAPES.get(char, char) for char in symbol)


def quote(text: str) -> str:
    """A beancount string literal: backslash, quote and line breaks escaped."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _number(value: Decimal) -> str:
    return format_decimal(value)


def _negate(value: Decimal) -> Decimal:
    return subtract(ZERO, value)


def _utc_date(moment: datetime) -> date:
    if moment.tzinfo is None:  # stored times are UTC; be lenient with naive ones
        return moment.date()
    return moment.astimezone(timezone.utc).date()


@dataclass
class _Symbol:
    """Export state of one symbol: its book plus what beancount needs to name its lots."""

    book: Book
    commodity: str
    account: str
    pnl_account: str
    short_costs_account: str
    #: `average` only: label and date of the beancount lot holding the pool.
    pool_label: str | None = None
    pool_date: date | None = None
    #: Lots written at cost 0 (short lots with negative net proceeds): label -> open units.
    uncarried: dict[str, Decimal] = field(default_factory=dict)


class _Transaction:
    """The postings of one trade, collected before writing."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.accounts: list[str] = []
        #: Sum of the absolute weights posted: the scale of beancount's rounding.
        self.size = ZERO

    def post(self, account: str, text: str, weight: Decimal) -> None:
        self.lines.append(f"{_INDENT}{account}  {text}")
        if account not in self.accounts:
            self.accounts.append(account)
        self.size = add(self.size, weight.copy_abs())


class _BeancountWriter:
    def __init__(self, out: IO[str], method: str) -> None:
        if method not in COST_BASIS_METHODS:
            raise StocksbotError(
                f"unknown cost-basis method {method!r}: expected one of {', '.join(COST_BASIS_METHODS)}"
            )
        self.out = out
        self.method = method
        self.symbols: dict[str, _Symbol] = {}
        self.opened: set[str] = set()
        self.commodities: dict[str, str] = {}  # commodity name -> symbol, to prove no collision
        self.largest = ZERO  # largest transaction size, for the tolerance

    def header(self) -> None:
        booking = "LIFO" if self.method == LIFO else "FIFO"
        lines = [
            f"; stocksbot trade export, cost basis {self.method}",
        ]
        if self.method == AVERAGE:
            lines.append(
                "; average cost: one pooled lot per symbol, re-stated at the summed cost on every add"
            )
        lines += [
            'option "title" "stocksbot export"',
            f'option "operating_currency" "{CURRENCY}"',
            f'option "booking_method" "{booking}"',
            '; option "inferred_tolerance_default" is at the end: it depends on the largest amounts',
            "",
        ]
        self.out.write("\n".join(lines) + "\n")

    def footer(self) -> None:
        tolerance = TOLERANCE
        if self.largest:
            tolerance = max(tolerance, Decimal(1).scaleb(self.largest.adjusted() - 25))
        self.out.write(
            "; beancount rounds per-unit lot costs to 28 significant digits; this covers that rounding\n"
            f'option "inferred_tolerance_default" "{CURRENCY}:{_number(tolerance)}"\n'
        )

    # -- per trade -------------------------------------------------------------------------

    def _state(self, symbol: str, day: date) -> tuple[_Symbol, list[str]]:
        """The symbol's export state; on first sight also its `commodity` directive."""
        state = self.symbols.get(symbol)
        if state is not None:
            return state, []
        commodity = commodity_name(symbol)
        other = self.commodities.setdefault(commodity, symbol)
        if other != symbol:  # cannot happen by construction; refuse rather than merge two symbols
            raise StocksbotError(f"symbols {other} and {symbol} map to the same beancount commodity {commodity}")
        component = account_component(symbol)
        state = _Symbol(
            book=Book(symbol, self.method),
            commodity=commodity,
            account=f"{POSITIONS_ROOT}:{component}",
            pnl_account=f"{PNL_ROOT}:{component}",
            short_costs_account=f"{SHORT_COSTS_ROOT}:{component}",
        )
        self.symbols[symbol] = state
        directive = [f"{day.isoformat()} commodity {commodity}", f"{_INDENT}symbol: {quote(symbol)}", ""]
        return state, directive

    def _open(self, account: str, day: date, state: _Symbol) -> str:
        constraint = state.commodity if account == state.account else CURRENCY
        return f"{day.isoformat()} open {account} {constraint}"

    def _reduce(
        self, txn: _Transaction, state: _Symbol, label: str, units: Decimal, share: Decimal, price: Decimal | None
    ) -> None:
        """Reduce lot `label` by `units` (signed), whose share of the lot amount is `share`."""
        annotation = f" @ {_number(price)} {CURRENCY}" if price is not None else ""
        txn.post(state.account, f'{_number(units)} {state.commodity} {{{quote(label)}}}{annotation}', share)
        left = state.uncarried.get(label)
        if left is not None:
            # A lot at cost 0 has weight 0: release its share of the parked negative proceeds.
            txn.post(state.short_costs_account, f"{_number(share)} {CURRENCY}", share)
            left = subtract(left, units.copy_abs())
            if left > 0:
                state.uncarried[label] = left
            else:
                del state.uncarried[label]

    def _augment(
        self,
        txn: _Transaction,
        state: _Symbol,
        side: str,
        label: str,
        quantity: Decimal,
        amount: Decimal,
        price: Decimal,
        lot_date: date | None,
    ) -> None:
        """Open lot `label`: `quantity` units (positive) whose stocksbot amount is `amount`."""
        units = quantity if side == LONG else _negate(quantity)
        cost = amount
        if amount < 0:  # only short lots: commission and fees above the gross proceeds
            cost = ZERO
            state.uncarried[label] = quantity
            txn.post(state.short_costs_account, f"{_number(_negate(amount))} {CURRENCY}", amount)
        dated = f", {lot_date.isoformat()}" if lot_date is not None else ""
        txn.post(
            state.account,
            f"{_number(units)} {state.commodity} {{{{{_number(cost)} {CURRENCY}{dated}, {quote(label)}}}}}"
            f" @ {_number(price)} {CURRENCY}",
            amount,
        )

    def trade(self, trade: TradeRecord) -> None:
        day = _utc_date(trade.executed_at)
        state, directives = self._state(trade.symbol, day)
        book = state.book
        opening_side = LONG if trade.side == BUY else SHORT
        closing_units_sign = 1 if trade.side == BUY else -1

        # For `average`: the pool before this trade, if the trade may add to it.
        pool_before = None
        if self.method == AVERAGE and book.side == opening_side:
            pool_before = (book.quantity, book.open_amount, state.pool_label)

        booking = book.apply(
            Fill(
                side=trade.side,
                quantity=trade.quantity,
                price=trade.price,
                commission=trade.commission,
                fees=trade.fees,
                executed_at=trade.executed_at,
                trade_id=trade.id,
            ),
            allow_short=True,  # the ledger already accepted these trades
        )

        txn = _Transaction()
        closed_quantity = ZERO
        closed_costs = ZERO
        for portion in booking.closed:
            label = state.pool_label if self.method == AVERAGE else f"trade-{portion.trade_id}"
            assert label is not None
            units = portion.quantity if closing_units_sign > 0 else _negate(portion.quantity)
            self._reduce(txn, state, label, units, portion.lot_amount, trade.price)
            closed_quantity = add(closed_quantity, portion.quantity)
            closed_costs = add(closed_costs, portion.costs)
        if self.method == AVERAGE and book.is_flat:
            state.pool_label = state.pool_date = None

        open_quantity = subtract(trade.quantity, closed_quantity)
        if open_quantity > 0:
            gross = multiply(open_quantity, trade.price)
            costs = subtract(add(trade.commission, trade.fees), closed_costs)  # exact remainder
            amount = add(gross, costs) if opening_side == LONG else subtract(gross, costs)
            label = f"trade-{trade.id}"
            lot_date = None
            quantity = open_quantity
            if pool_before is not None:
                old_quantity, old_amount, old_label = pool_before
                assert old_label is not None
                old_units = _negate(old_quantity) if opening_side == LONG else old_quantity
                self._reduce(txn, state, old_label, old_units, old_amount, None)
                quantity = add(old_quantity, open_quantity)
                amount = add(old_amount, amount)
                lot_date = state.pool_date
            elif self.method == AVERAGE:
                state.pool_date = day
            if self.method == AVERAGE:
                state.pool_label = label
            self._augment(txn, state, opening_side, label, quantity, amount, trade.price, lot_date)

        cash = add(trade.commission, trade.fees)
        gross = multiply(trade.quantity, trade.price)
        cash = _negate(add(gross, cash)) if trade.side == BUY else subtract(gross, cash)
        txn.post(CASH_ACCOUNT, f"{_number(cash)} {CURRENCY}", cash)
        if booking.realized_pnl is not None:
            txn.post(state.pnl_account, f"{_number(_negate(booking.realized_pnl))} {CURRENCY}", booking.realized_pnl)
        self.largest = max(self.largest, txn.size)

        lines = directives
        opens = [self._open(account, day, state) for account in txn.accounts if account not in self.opened]
        self.opened.update(txn.accounts)
        if opens:
            lines += opens + [""]
        lines.append(self._head(trade, day))
        lines += self._metadata(trade)
        lines += txn.lines
        lines.append("")
        self.out.write("\n".join(lines) + "\n")

    @staticmethod
    def _head(trade: TradeRecord, day: date) -> str:
        narration = f"{trade.side} {_number(trade.quantity)} {trade.symbol} @ {_number(trade.price)}"
        return f"{day.isoformat()} * {quote(narration)}"

    @staticmethod
    def _metadata(trade: TradeRecord) -> list[str]:
        meta = [f"trade-id: {trade.id}"]
        if trade.order_id is not None:
            meta.append(f"order-id: {trade.order_id}")
        if trade.external_id is not None:
            meta.append(f"external-id: {quote(trade.external_id)}")
        if trade.strategy is not None:
            meta.append(f"strategy: {quote(trade.strategy)}")
        if trade.note is not None:
            meta.append(f"note: {quote(trade.note)}")
        if trade.commission:
            meta.append(f"commission: {_number(trade.commission)} {CURRENCY}")
        if trade.fees:
            meta.append(f"fees: {_number(trade.fees)} {CURRENCY}")
        return [_INDENT + line for line in meta]


def write_beancount(trades: Iterator[TradeRecord], out: IO[str], *, method: str) -> int:
    """Write `trades` (in booking order) as a beancount ledger to `out`; returns how many."""
    writer = _BeancountWriter(out, method)
    writer.header()
    count = 0
    for trade in trades:
        writer.trade(trade)
        count += 1
    writer.footer()
    return count
