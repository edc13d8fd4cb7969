"""`trade export --format beancount`: the whole ledger as a beancount file that `bean-check` accepts.

For users, the conventions below are described in docs/csv-formats.md §4; the ledger rules
the export reproduces are docs/ledger.md §4 (lots and realized P&L), §11 (accounts), §12
(splits, share transfers, symbol changes), §13 (cash) and §15 (currencies).

The events arrive in booking order from `stocksbot.storage.events` (the trades streamed, the
splits, symbol changes, share transfers, cash movements and dividends read whole and merged
in) and are written one at a time. To know what each trade closes and realizes, every
(account, symbol) gets its own `stocksbot.ledger.Book` (the code that books the database),
which also applies the splits, transfers and symbol changes, so memory stays bounded by the
open lots. A stream of trades alone is a ledger too (the tests feed records directly).

Layout
------
* Header: `title` and `booking_method` ("FIFO" for `fifo`, "LIFO" for `lifo`, "FIFO" for
  `average`: beancount 3 has no working AVERAGE booking). Every reduction names the exact lot
  it reduces, by label, so the booking method never has to choose. One `operating_currency`
  option per currency the file uses, and the tolerances (below), are written at the end,
  where they are known (beancount reads options anywhere).
* Tolerance: every transaction balances exactly in exact arithmetic, but beancount stores a
  lot's cost per unit, and a total cost such as 100 USD for 3 units becomes a repeating
  decimal that it rounds to 28 significant digits (its decimal context, which also rounds
  the sums it balances and every negative number it reads). A transaction whose amounts are
  all integers would get a tolerance of zero, so the file sets `inferred_tolerance_default`
  for each currency C to max(TOLERANCE = 10^-12, 10^(e - 25)), where e is the exponent of
  the largest sum of absolute weights in C of one transaction: 10^-12 below 10^13, and never
  more than about 10^-25 of the amounts involved. It absorbs only that rounding (and
  stocksbot's own 20-place pro-rata shares).
* Accounts (opened on the date of their first use, just before that transaction), for a
  stocksbot account whose name component is <A> and a symbol whose component is <S>:
  `Assets:<A>:Cash` (every currency the account's cash holds), `Assets:<A>:<S>` (the
  symbol's commodity, at cost in the symbol's currency), `Assets:<A>:ShortCosts:<S>` (only
  when needed, see shorts), `Income:PnL:<A>:<S>` (realized P&L), `Income:Dividends:<A>:<S>`
  (gross dividends), `Income:Interest:<A>`, `Expenses:Fees:<A>` (cash fees, conversion fees,
  dividend fees), `Expenses:Taxes:<A>` (cash taxes), `Expenses:Taxes:<A>:Withholding`
  (withholding tax on dividends) and `Equity:Contributions:<A>` (deposits, withdrawals and
  implicit deposits). Income, Expenses and Equity put the kind before the account so that
  no account name can collide with a kind (`Income:Dividends:...` holds every account's
  dividends). No Expenses account takes trade commissions and fees: stocksbot puts those of
  opening trades into the lot cost and nets those of closing trades into the realized P&L,
  and the export does the same, so `Income:PnL` holds exactly stocksbot's realized P&L
  (docs/ledger.md §4.2, §4.3); each trade carries its commission and fees as metadata.
* Names: a commodity keeps the symbol when beancount accepts it (`AAPL`, `BRK.B`, `V`).
  Otherwise (a leading digit, `/`, `:`, a trailing `.`, `-` or `_`, or the keywords `TRUE`,
  `FALSE`, `NULL`) it becomes `X'` followed by the symbol with those characters escaped as
  `'` plus a letter (`/` S, `:` C, `.` D, `-` H, `_` U): `EUR/USD` -> `X'EUR'SUSD`,
  `3M` -> `X'3M`. Symbols never contain `'`, so kept and escaped names cannot collide, and
  the escaping can be undone. Every commodity gets a `commodity` directive whose `symbol`
  metadata gives the original. A symbol's account component may only hold letters, digits
  and `-`: symbols are upper case, so `.`, `/`, `:` and `_` become the lower-case letters
  `d`, `s`, `c` and `u` (`BRK.B` -> `BRKdB`). An account name (any printable text) becomes a
  component by `account_part`: ASCII letters and digits stay, every other character becomes
  `-`, its code point in upper-case hex, `-` (`Roth IRA` -> `Roth-20-IRA`, `é` -> `-E9-`),
  and a result that does not start with an upper-case letter or a digit gets the prefix `X-`
  (`main` -> `X-main`). `account_name` undoes it; distinct names give distinct components.
* Currencies: a trade, its lots and its realized P&L are in the trade's currency (its
  instrument's); a dividend and a cash movement in their own. Currencies need no
  `commodity` directive.

Transactions (each dated by the local date of its moment, flagged `*`)
------------------------------------------------------------------------
* A trade, narrated "buy 4 AAPL @ 149.5", with metadata `trade-id`, `account`, `order-id`,
  `external-id`, `strategy`, `note`, `commission`, `fees` where present (strings escaped).
  Opening a lot (a buy while flat/long, a sell while flat/short, the rest of a flip) posts
  the units at total cost with the `{{...}}` syntax, labelled `trade-<id>`:
  `Assets:X-main:AAPL  4 AAPL {{599 USD, "trade-1"}} @ 149.5 USD`. The total is stocksbot's
  lot amount: for a long, quantity x price + commission + fees; for a short (negative
  units), the net proceeds quantity x price minus commission and fees; on a split fill the
  commission and fees are shared out exactly as the ledger does. Closing (part of) a lot
  reduces it by label, at the lot's own cost (`-4 AAPL {"trade-1"} @ 160 USD`), and posts
  minus the realized P&L to `Income:PnL:<A>:<S>`. The cash leg on `Assets:<A>:Cash` is
  -(quantity x price + commission + fees) for a buy and quantity x price - commission - fees
  for a sell.
* `average`: stocksbot keeps one pooled lot per (account, symbol). A buy that adds to a long
  pool (or a sell that adds to a short pool) re-states it: the old pool lot is reduced in
  full at its cost and a new pool lot is opened with the summed cost, labelled by the new
  trade and dated, via the cost spec, by the pool's acquisition date. Closing trades reduce
  the pool lot, so beancount's cost per unit is the average cost.
* Shorts are negative lots at cost (beancount allows a negative position held at cost when
  it is booked as an augmentation), covered by reductions by label; flips close every lot
  first and then open the new lot in the same transaction. Beancount refuses a negative
  cost, which a short lot has when its commission and fees exceed quantity x price (for
  example a sale at price 0). Such a lot is written at cost 0 and its negative net proceeds
  are parked in `Assets:<A>:ShortCosts:<S>`, released share by share as the lot is covered
  (or in full when the lot is re-stated), so the account is back at 0 when the lot is
  closed and the realized P&L is unchanged. This is the only approximation of a lot cost.
* Re-stating lots (splits, share transfers, symbol changes): a lot that changes is reduced
  in full by label at its cost (no price) and added again with `{{amount, date, label}}`:
  stocksbot's remaining amount, its acquisition date (the local date of the lot's opening) and
  its label; nothing is realized. Every reduction of a transaction comes before its
  additions. A split ("split AAPL 2:1", `split-id`, `ratio`) re-states every account's open
  lots of the symbol in post-split units at the same total cost. A share transfer
  ("transfer 6 AAPL from main to ira", `transfer-id`, `note`) re-states the lots it takes
  from in the source (a partly taken lot comes back with its remaining amount) and the lots
  it adds to or creates in the target (a lot of the same opening trade as one held there
  joins it; with `average` the shares join the pool). A symbol change ("symbol change FB ->
  META", `symbol-change-id`) reduces every account's lots of OLD and adds them as NEW's
  commodity in `Assets:<A>:<NEW>`. A split or symbol change that finds nothing held writes
  nothing.
* A cash movement (metadata `cash-id`, `kind`, `account`, `note`): deposit, withdrawal and
  implicit deposit against `Equity:Contributions:<A>` ("deposit 1000 USD", "implicit deposit
  599 USD", with `funds-trade-id` or `funds-dividend-id` naming what needed it); interest
  against `Income:Interest:<A>`; fee against `Expenses:Fees:<A>`; tax against
  `Expenses:Taxes:<A>`. The two rows of a cash transfer are one transaction between the
  two cash accounts. A conversion's rows are one transaction: `Assets:<A>:Cash  -500 USD @
  0.9187654321 EUR`, its fee, and the amount received (`@@ total` if the rate does not come
  out exact). Half of a transfer or conversion without its other half (never stored by
  stocksbot) would go against `Equity:Transfers:<A>`.
* A dividend ("AAPL dividend", `dividend-id`, `account`, `ex-date`, `per-share`,
  `reinvest-trade-id`, `external-id`, `note`) on its pay date: minus the gross on
  `Income:Dividends:<A>:<S>`, the tax on `Expenses:Taxes:<A>:Withholding`, the fee on
  `Expenses:Fees:<A>`, the net on `Assets:<A>:Cash`. A reinvested dividend's buy is an
  ordinary trade.

So for every (account, currency) the cash account holds stocksbot's cash balance, and as
implicit deposits are written, a non-margin account's cash is never negative at the end of
a day; each (account, symbol) holds stocksbot's open lots; `Income:PnL:<A>` adds up to the
account's realized P&L.

Limits: beancount reads a negative number through its 28-digit context, so a negative
amount with more than 28 significant digits (a pro-rata share with 20 decimal places of an
amount above 10^8) is read back rounded in its last digits: the file holds stocksbot's exact
numbers, beancount sees them to 28 digits. A symbol renamed to an instrument of another
currency keeps its lots' costs in the old currency, and trades of the new symbol in the new
currency would then not balance (stocksbot itself adds both currencies up there).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import IO, Iterable

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
    LedgerError,
    Lot,
    add,
    divide,
    format_decimal,
    multiply,
    subtract,
)
from stocksbot.ledger.numbers import ZERO
from stocksbot.ledger.realized import local_day
from stocksbot.storage.events import CashEntry, LedgerEvent, SymbolChangeRecord
from stocksbot.storage.records import (
    CashMovementRecord,
    DividendRecord,
    SplitRecord,
    TradeRecord,
    TransferRecord,
)

__all__ = [
    "TOLERANCE",
    "account_component",
    "account_name",
    "account_part",
    "accounts_of",
    "commodity_name",
    "quote",
    "write_beancount",
]

#: The smallest tolerance beancount uses when balancing a transaction (see module docstring).
TOLERANCE = Decimal("0.000000000001")

_INDENT = "  "

# What beancount's lexer reads as one currency token ([A-Z] alone is a valid currency too).
_BEANCOUNT_CURRENCY = re.compile(r"[A-Z](?:[A-Z0-9'._-]*[A-Z0-9])?")
# Upper-case words the lexer reads as something else than a currency.
_RESERVED_WORDS = frozenset({"TRUE", "FALSE", "NULL"})
_COMMODITY_ESCAPES = {"/": "S", ":": "C", ".": "D", "-": "H", "_": "U"}
_INNER_PUNCTUATION = frozenset(".-_")
_ACCOUNT_ESCAPES = {".": "d", "/": "s", ":": "c", "_": "u"}
_PART_START = frozenset(string.ascii_uppercase + string.digits)
_PREFIXED = frozenset(string.ascii_lowercase + "-")
_HEX = frozenset(string.hexdigits.upper())


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


def account_part(name: str) -> str:
    """The account name component for a stocksbot account name (unique, and `account_name` undoes it).

    ASCII letters and digits stay; every other character (`-` too) becomes `-`, its code
    point in upper-case hex, `-` (space -> `-20-`, `-` -> `-2D-`, `é` -> `-E9-`). A result
    that does not start with an upper-case letter or a digit gets the prefix `X-`
    (`main` -> `X-main`). Unprefixed results that start `X-` go on with a hex digit, prefixed
    ones with a lower-case letter or `-`, so the two never meet.
    """
    body = "".join(char if char.isascii() and char.isalnum() else f"-{ord(char):X}-" for char in name)
    return body if body[:1] in _PART_START else "X-" + body


def account_name(part: str) -> str:
    """The stocksbot account name that `account_part` turned into `part`."""
    if part.startswith("X-") and part[2:3] in _PREFIXED:
        part = part[2:]
    chars = []
    index = 0
    while index < len(part):
        char = part[index]
        if char != "-":
            chars.append(char)
            index += 1
            continue
        end = part.index("-", index + 1)
        code = part[index + 1:end]
        if not code or not set(code) <= _HEX:
            raise ValueError(f"not an escaped account name component: {part!r}")
        chars.append(chr(int(code, 16)))
        index = end + 1
    return "".join(chars)


@dataclass(frozen=True)
class Accounts:
    """The beancount accounts of one stocksbot account (see the module docstring)."""

    cash: str
    contributions: str
    interest: str
    fees: str
    taxes: str
    withholding: str
    transfers: str
    root: str  # Assets:<part>, the parent of the holdings
    part: str

    def holding(self, symbol: str) -> str:
        return f"{self.root}:{account_component(symbol)}"

    def short_costs(self, symbol: str) -> str:
        return f"{self.root}:ShortCosts:{account_component(symbol)}"

    def pnl(self, symbol: str) -> str:
        return f"Income:PnL:{self.part}:{account_component(symbol)}"

    def dividends(self, symbol: str) -> str:
        return f"Income:Dividends:{self.part}:{account_component(symbol)}"


def accounts_of(name: str) -> Accounts:
    """The beancount accounts of the stocksbot account `name`."""
    part = account_part(name)
    return Accounts(
        cash=f"Assets:{part}:Cash",
        contributions=f"Equity:Contributions:{part}",
        interest=f"Income:Interest:{part}",
        fees=f"Expenses:Fees:{part}",
        taxes=f"Expenses:Taxes:{part}",
        withholding=f"Expenses:Taxes:{part}:Withholding",
        transfers=f"Equity:Transfers:{part}",
        root=f"Assets:{part}",
        part=part,
    )


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


def _day(moment: datetime) -> date:
    """The local calendar day of a moment (docs/csv-formats.md §4.4, docs/ledger.md §1.5): a
    trade at 23:30 in New York is dated by its New York day, as every other command counts it."""
    if moment.tzinfo is None:  # stored times are UTC; be lenient with naive ones
        moment = moment.replace(tzinfo=timezone.utc)
    return local_day(moment)


@dataclass
class _Holding:
    """Export state of one (account, symbol): its book plus what beancount needs to name its lots."""

    book: Book
    accounts: Accounts
    commodity: str
    currency: str  # of the lot costs: the symbol's
    account: str
    pnl_account: str
    short_costs_account: str
    #: `average` only: the label of the beancount lot holding the pool.
    pool_label: str | None = None
    #: Lots written at cost 0 (short lots with negative net proceeds): label -> open units.
    uncarried: dict[str, Decimal] = field(default_factory=dict)


class _Transaction:
    """The postings of one transaction, collected before writing."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        #: account -> the commodity its `open` directive restricts it to (None: any)
        self.accounts: dict[str, str | None] = {}
        #: Sum of the absolute weights posted, per currency: the scale of beancount's rounding.
        self.sizes: dict[str, Decimal] = {}

    def post(self, account: str, text: str, weight: Decimal, currency: str, constraint: str | None = None) -> None:
        self.lines.append(f"{_INDENT}{account}  {text}")
        self.accounts.setdefault(account, constraint)
        self.sizes[currency] = add(self.sizes.get(currency, ZERO), weight.copy_abs())

    def uses(self, currency: str) -> None:
        """A currency that appears only as units (the sold side of a conversion)."""
        self.sizes.setdefault(currency, ZERO)


def _lot_units(lot: Lot) -> Decimal:
    return lot.quantity if lot.side == LONG else _negate(lot.quantity)


class _BeancountWriter:
    def __init__(self, out: IO[str], method: str) -> None:
        if method not in COST_BASIS_METHODS:
            raise StocksbotError(
                f"unknown cost-basis method {method!r}: expected one of {', '.join(COST_BASIS_METHODS)}"
            )
        self.out = out
        self.method = method
        self.holdings: dict[tuple[str, str], _Holding] = {}
        self.opened: set[str] = set()
        self.commodities: dict[str, str] = {}  # commodity name -> symbol, to prove no collision
        self.parts: dict[str, str] = {}  # account component -> account name, likewise
        self.accounts: dict[str, Accounts] = {}
        self.directives: list[str] = []  # commodity directives waiting for the next transaction
        self.largest: dict[str, Decimal] = {}  # per currency: the largest transaction size
        self.trades = 0

    def header(self) -> None:
        booking = "LIFO" if self.method == LIFO else "FIFO"
        lines = [
            f"; stocksbot ledger export, cost basis {self.method}",
        ]
        if self.method == AVERAGE:
            lines.append(
                "; average cost: one pooled lot per account and symbol, re-stated at the summed cost on every add"
            )
        lines += [
            'option "title" "stocksbot export"',
            f'option "booking_method" "{booking}"',
            '; options "operating_currency" and "inferred_tolerance_default" are at the end: they depend on',
            "; the currencies used and the largest amounts",
            "",
        ]
        self.out.write("\n".join(lines) + "\n")

    def footer(self) -> None:
        lines = []
        if self.largest:
            lines.append("; the currencies the ledger uses")
            lines += [f'option "operating_currency" "{currency}"' for currency in sorted(self.largest)]
            lines.append("; beancount rounds per-unit lot costs to 28 significant digits; this covers that rounding")
        for currency, largest in sorted(self.largest.items()):
            tolerance = TOLERANCE
            if largest:
                tolerance = max(tolerance, Decimal(1).scaleb(largest.adjusted() - 25))
            lines.append(f'option "inferred_tolerance_default" "{currency}:{_number(tolerance)}"')
        if lines:
            self.out.write("\n".join(lines) + "\n")

    def event(self, event: LedgerEvent) -> None:
        if isinstance(event, TradeRecord):
            self.trade(event)
        elif isinstance(event, CashEntry):
            self.cash(event)
        elif isinstance(event, DividendRecord):
            self.dividend(event)
        elif isinstance(event, SplitRecord):
            self.split(event)
        elif isinstance(event, TransferRecord):
            self.transfer(event)
        elif isinstance(event, SymbolChangeRecord):
            self.symbol_change(event)
        else:  # pragma: no cover - the event stream holds only the kinds above
            raise TypeError(f"not a ledger event: {event!r}")

    # -- names and state ---------------------------------------------------------------------

    def _accounts(self, name: str) -> Accounts:
        accounts = self.accounts.get(name)
        if accounts is None:
            accounts = self.accounts[name] = accounts_of(name)
            other = self.parts.setdefault(accounts.part, name)
            if other != name:  # cannot happen by construction; refuse rather than merge two accounts
                raise StocksbotError(f"accounts {other!r} and {name!r} map to the same beancount name {accounts.part}")
        return accounts

    def _holding(self, account: str, symbol: str, currency: str, day: date) -> _Holding:
        """The export state of (account, symbol); on the symbol's first sight, its `commodity` directive too."""
        holding = self.holdings.get((account, symbol))
        if holding is not None:
            return holding
        commodity = commodity_name(symbol)
        other = self.commodities.get(commodity)
        if other is None:
            self.commodities[commodity] = symbol
            self.directives += [f"{day.isoformat()} commodity {commodity}", f"{_INDENT}symbol: {quote(symbol)}", ""]
        elif other != symbol:  # cannot happen by construction; refuse rather than merge two symbols
            raise StocksbotError(f"symbols {other} and {symbol} map to the same beancount commodity {commodity}")
        accounts = self._accounts(account)
        holding = _Holding(
            book=Book(symbol, self.method),
            accounts=accounts,
            commodity=commodity,
            currency=currency,
            account=accounts.holding(symbol),
            pnl_account=accounts.pnl(symbol),
            short_costs_account=accounts.short_costs(symbol),
        )
        self.holdings[(account, symbol)] = holding
        return holding

    def _label(self, holding: _Holding, lot: Lot) -> str:
        if self.method == AVERAGE and holding.pool_label is not None:
            return holding.pool_label
        return f"trade-{lot.trade_id}"

    # -- writing ---------------------------------------------------------------------------

    def _write(self, day: date, narration: str, meta: list[str], txn: _Transaction) -> None:
        for currency, size in txn.sizes.items():
            self.largest[currency] = max(self.largest.get(currency, ZERO), size)
        lines = self.directives
        self.directives = []
        opens = []
        for account, constraint in txn.accounts.items():
            if account not in self.opened:
                self.opened.add(account)
                opens.append(f"{day.isoformat()} open {account}" + (f" {constraint}" if constraint else ""))
        if opens:
            lines += opens + [""]
        lines.append(f"{day.isoformat()} * {quote(narration)}")
        lines += [_INDENT + line for line in meta]
        lines += txn.lines
        lines.append("")
        self.out.write("\n".join(lines) + "\n")

    # -- lots ------------------------------------------------------------------------------

    def _reduce(
        self, txn: _Transaction, state: _Holding, label: str, units: Decimal, share: Decimal, price: Decimal | None,
        currency: str,
    ) -> None:
        """Reduce lot `label` by `units` (signed), whose share of the lot amount is `share`."""
        annotation = f" @ {_number(price)} {currency}" if price is not None else ""
        txn.post(state.account, f'{_number(units)} {state.commodity} {{{quote(label)}}}{annotation}', share,
                 currency, state.commodity)
        left = state.uncarried.get(label)
        if left is not None:
            # A lot at cost 0 has weight 0: release its share of the parked negative proceeds.
            txn.post(state.short_costs_account, f"{_number(share)} {currency}", share, currency, currency)
            left = subtract(left, units.copy_abs())
            if left > 0:
                state.uncarried[label] = left
            else:
                del state.uncarried[label]

    def _augment(
        self,
        txn: _Transaction,
        state: _Holding,
        side: str,
        label: str,
        quantity: Decimal,
        amount: Decimal,
        price: Decimal | None,
        lot_date: date | None,
        currency: str,
    ) -> None:
        """Open lot `label`: `quantity` units (positive) whose stocksbot amount is `amount`."""
        units = quantity if side == LONG else _negate(quantity)
        cost = amount
        if amount < 0:  # only short lots: commission and fees above the gross proceeds
            cost = ZERO
            state.uncarried[label] = quantity
            txn.post(state.short_costs_account, f"{_number(_negate(amount))} {currency}", amount, currency, currency)
        dated = f", {lot_date.isoformat()}" if lot_date is not None else ""
        annotation = f" @ {_number(price)} {currency}" if price is not None else ""
        txn.post(
            state.account,
            f"{_number(units)} {state.commodity} {{{{{_number(cost)} {currency}{dated}, {quote(label)}}}}}{annotation}",
            amount, currency, state.commodity,
        )

    def _take_out(self, txn: _Transaction, holding: _Holding, lots: Iterable[Lot]) -> None:
        """Reduce these lots in full, at their cost (nothing realized)."""
        for lot in lots:
            self._reduce(txn, holding, self._label(holding, lot), _negate(_lot_units(lot)), lot.amount, None,
                         holding.currency)

    def _put_in(self, txn: _Transaction, holding: _Holding, lots: Iterable[Lot]) -> None:
        """Add these lots at their amounts, dated by their acquisition."""
        for lot in lots:
            self._augment(txn, holding, lot.side, self._label(holding, lot), lot.quantity, lot.amount, None,
                          _day(lot.opened_at), holding.currency)

    def _changes(self, holding: _Holding, before: list[Lot], after: list[Lot]) -> tuple[list[Lot], list[Lot]]:
        """The lots that go (or change) and those that come (or changed) between two states of a book."""
        old = {self._label(holding, lot): lot for lot in before}
        new = {self._label(holding, lot): lot for lot in after}

        def same(lot: Lot, other: Lot | None) -> bool:
            return other is not None and (lot.quantity, lot.amount, lot.side) == (other.quantity, other.amount,
                                                                                   other.side)

        gone = [lot for label, lot in old.items() if not same(lot, new.get(label))]
        came = [lot for label, lot in new.items() if not same(lot, old.get(label))]
        return gone, came

    # -- trades ----------------------------------------------------------------------------

    def trade(self, trade: TradeRecord) -> None:
        day = _day(trade.executed_at)
        currency = trade.currency
        state = self._holding(trade.account, trade.symbol, currency, day)
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
            self._reduce(txn, state, label, units, portion.lot_amount, trade.price, currency)
            closed_quantity = add(closed_quantity, portion.quantity)
            closed_costs = add(closed_costs, portion.costs)
        if self.method == AVERAGE and book.is_flat:
            state.pool_label = None

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
                self._reduce(txn, state, old_label, old_units, old_amount, None, currency)
                quantity = add(old_quantity, open_quantity)
                amount = add(old_amount, amount)
                lot_date = _day(book.lots[0].opened_at)
            if self.method == AVERAGE:
                state.pool_label = label
            self._augment(txn, state, opening_side, label, quantity, amount, trade.price, lot_date, currency)

        cash = add(trade.commission, trade.fees)
        gross = multiply(trade.quantity, trade.price)
        cash = _negate(add(gross, cash)) if trade.side == BUY else subtract(gross, cash)
        txn.post(state.accounts.cash, f"{_number(cash)} {currency}", cash, currency)
        if booking.realized_pnl is not None:
            txn.post(state.pnl_account, f"{_number(_negate(booking.realized_pnl))} {currency}",
                     booking.realized_pnl, currency)
        narration = f"{trade.side} {_number(trade.quantity)} {trade.symbol} @ {_number(trade.price)}"
        self._write(day, narration, self._trade_metadata(trade), txn)
        self.trades += 1

    @staticmethod
    def _trade_metadata(trade: TradeRecord) -> list[str]:
        meta = [f"trade-id: {trade.id}", f"account: {quote(trade.account)}"]
        if trade.order_id is not None:
            meta.append(f"order-id: {trade.order_id}")
        if trade.external_id is not None:
            meta.append(f"external-id: {quote(trade.external_id)}")
        if trade.strategy is not None:
            meta.append(f"strategy: {quote(trade.strategy)}")
        if trade.note is not None:
            meta.append(f"note: {quote(trade.note)}")
        if trade.commission:
            meta.append(f"commission: {_number(trade.commission)} {trade.currency}")
        if trade.fees:
            meta.append(f"fees: {_number(trade.fees)} {trade.currency}")
        return meta

    # -- splits, share transfers, symbol changes --------------------------------------------

    def split(self, split: SplitRecord) -> None:
        """Every account's open lots of the symbol, reduced at their cost and re-added in post-split units."""
        changes = []
        for (_account, symbol), holding in self.holdings.items():
            if symbol != split.symbol:
                continue
            before = holding.book.lots
            holding.book.split(split.numerator, split.denominator, split.at)
            if before:
                changes.append((holding, before, holding.book.lots))
        if not changes:
            return
        txn = _Transaction()
        for holding, before, _after in changes:
            self._take_out(txn, holding, before)
        for holding, _before, after in changes:
            self._put_in(txn, holding, after)
        meta = [f"split-id: {split.id}", f"ratio: {quote(f'{split.numerator}:{split.denominator}')}"]
        self._write(_day(split.at), f"split {split.symbol} {split.numerator}:{split.denominator}", meta, txn)

    def transfer(self, move: TransferRecord) -> None:
        """Shares leave one account with their lots and join another at the same cost and dates."""
        day = _day(move.at)
        source = self.holdings.get((move.from_account, move.symbol))
        if source is None:
            raise StocksbotError(f"transfer {move.id}: no {move.symbol} held in account {move.from_account!r}")
        before_source = source.book.lots
        target = self._holding(move.to_account, move.symbol, source.currency, day)
        if self.method == AVERAGE and target.book.is_flat:
            target.pool_label = source.pool_label
        before_target = target.book.lots
        try:  # booking accepted the transfer, so neither refuses (docs/ledger.md §12.4)
            taken, _run = source.book.transfer_out(move.quantity, move.at)
            target.book.transfer_in(taken, move.at)
        except LedgerError as exc:
            raise StocksbotError(f"transfer {move.id}: {exc}") from None
        gone_source, kept_source = self._changes(source, before_source, source.book.lots)
        gone_target, came_target = self._changes(target, before_target, target.book.lots)
        txn = _Transaction()
        self._take_out(txn, source, gone_source)
        self._take_out(txn, target, gone_target)
        self._put_in(txn, target, came_target)
        self._put_in(txn, source, kept_source)
        if self.method == AVERAGE and source.book.is_flat:
            source.pool_label = None
        meta = [f"transfer-id: {move.id}"] + ([f"note: {quote(move.note)}"] if move.note is not None else [])
        narration = f"transfer {_number(move.quantity)} {move.symbol} from {move.from_account} to {move.to_account}"
        self._write(day, narration, meta, txn)

    def symbol_change(self, change: SymbolChangeRecord) -> None:
        """Every account's open lots of OLD, reduced and re-added as NEW (same costs, dates and labels)."""
        day = _day(change.at)
        moves = []
        for (account, symbol), holding in list(self.holdings.items()):
            if symbol != change.old_symbol or holding.book.is_flat:
                continue
            lots, _run = holding.book.take_all(change.at)
            target = self._holding(account, change.new_symbol, holding.currency, day)
            if self.method == AVERAGE and target.book.is_flat:
                target.pool_label = holding.pool_label
            before = target.book.lots
            target.book.receive(lots, change.at)
            moves.append((holding, lots, target, *self._changes(target, before, target.book.lots)))
        if not moves:
            return
        txn = _Transaction()
        for holding, lots, target, gone, _came in moves:
            self._take_out(txn, holding, lots)
            self._take_out(txn, target, gone)
            holding.pool_label = None
        for _holding, _lots, target, _gone, came in moves:
            self._put_in(txn, target, came)
        self._write(day, f"symbol change {change.old_symbol} -> {change.new_symbol}",
                    [f"symbol-change-id: {change.id}"], txn)

    # -- cash and dividends ----------------------------------------------------------------

    def cash(self, entry: CashEntry) -> None:
        rows = entry.rows
        kinds = {row.kind for row in rows}
        came = next((row for row in rows if row.kind == "convert_in"), None)
        converted = came is not None and "convert_out" in kinds
        transferred = {"transfer_in", "transfer_out"} <= kinds
        txn = _Transaction()
        for row in rows:
            accounts = self._accounts(row.account)
            amount, currency = row.amount, row.currency
            if row.kind == "convert_out" and converted:
                assert came is not None
                rate = divide(came.amount, _negate(amount))
                price = f"@ {_number(rate)} {came.currency}" if multiply(rate, _negate(amount)) == came.amount \
                    else f"@@ {_number(came.amount)} {came.currency}"
                txn.post(accounts.cash, f"{_number(amount)} {currency} {price}", came.amount, came.currency)
                txn.uses(currency)
                continue
            txn.post(accounts.cash, f"{_number(amount)} {currency}", amount, currency)
            counter = self._counter(row, accounts, converted, transferred)
            if counter is not None:
                txn.post(counter, f"{_number(_negate(amount))} {currency}", amount, currency)
        self._write(_day(entry.at), self._cash_narration(rows, converted, transferred),
                    self._cash_metadata(rows), txn)

    @staticmethod
    def _counter(row: CashMovementRecord, accounts: Accounts, converted: bool, transferred: bool) -> str | None:
        """The account on the other side of a movement; None when the rest of its group is."""
        kind = row.kind
        if kind in ("deposit", "withdraw", "implicit_deposit"):
            return accounts.contributions
        if kind == "interest":
            return accounts.interest
        if kind == "fee":
            return accounts.fees
        if kind == "tax":
            return accounts.taxes
        if (kind in ("transfer_in", "transfer_out") and transferred) or (kind == "convert_in" and converted):
            return None
        return accounts.transfers  # half of a transfer or conversion without its other half

    @staticmethod
    def _cash_narration(rows: tuple[CashMovementRecord, ...], converted: bool, transferred: bool) -> str:
        by_kind = {row.kind: row for row in rows}
        if transferred:
            out, came = by_kind["transfer_out"], by_kind["transfer_in"]
            return f"cash transfer {_number(came.amount)} {came.currency} from {out.account} to {came.account}"
        if converted:
            out, came = by_kind["convert_out"], by_kind["convert_in"]
            text = f"convert {_number(_negate(out.amount))} {out.currency} to {_number(came.amount)} {came.currency}"
            fee = by_kind.get("fee")
            return text + (f", fee {_number(_negate(fee.amount))} {fee.currency}" if fee is not None else "")
        row = rows[0]
        return f"{row.kind.replace('_', ' ')} {_number(row.amount.copy_abs())} {row.currency}"

    @staticmethod
    def _cash_metadata(rows: tuple[CashMovementRecord, ...]) -> list[str]:
        first = rows[0]
        meta = [f"cash-id: {first.id}", f"kind: {quote(first.kind)}", f"account: {quote(first.account)}"]
        if first.trade_id is not None:
            meta.append(f"funds-trade-id: {first.trade_id}")
        if first.dividend_id is not None:
            meta.append(f"funds-dividend-id: {first.dividend_id}")
        notes = [row.note for row in rows if row.note is not None]
        if notes:
            meta.append(f"note: {quote(notes[0])}")
        return meta

    def dividend(self, dividend: DividendRecord) -> None:
        accounts = self._accounts(dividend.account)
        currency = dividend.currency
        txn = _Transaction()
        txn.post(accounts.dividends(dividend.symbol), f"{_number(_negate(dividend.gross))} {currency}",
                 dividend.gross, currency)
        if dividend.tax:
            txn.post(accounts.withholding, f"{_number(dividend.tax)} {currency}", dividend.tax, currency)
        if dividend.fee:
            txn.post(accounts.fees, f"{_number(dividend.fee)} {currency}", dividend.fee, currency)
        net = subtract(subtract(dividend.gross, dividend.tax), dividend.fee)
        if net:
            txn.post(accounts.cash, f"{_number(net)} {currency}", net, currency)
        meta = [f"dividend-id: {dividend.id}", f"account: {quote(dividend.account)}",
                f"ex-date: {_day(dividend.ex_date).isoformat()}"]
        if dividend.per_share is not None:
            meta.append(f"per-share: {_number(dividend.per_share)} {currency}")
        if dividend.reinvest_trade_id is not None:
            meta.append(f"reinvest-trade-id: {dividend.reinvest_trade_id}")
        if dividend.external_id is not None:
            meta.append(f"external-id: {quote(dividend.external_id)}")
        if dividend.note is not None:
            meta.append(f"note: {quote(dividend.note)}")
        self._write(_day(dividend.paid_at), f"{dividend.symbol} dividend", meta, txn)


def write_beancount(events: Iterable[LedgerEvent], out: IO[str], *, method: str) -> int:
    """Write the ledger's `events` (in booking order: `storage.events`) as a beancount file to `out`.

    Returns how many trades it wrote. A stream of trades alone is a ledger too.
    """
    writer = _BeancountWriter(out, method)
    writer.header()
    for event in events:
        writer.event(event)
    writer.footer()
    return writer.trades
