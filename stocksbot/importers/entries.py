"""What a broker statement says, in stocksbot's words: the records a format's parser yields.

A parser (one module per format in this package) turns a broker's rows into these plain
values and knows nothing of the database; `services/broker_imports.py` books them, all or
nothing. Keeping the parsers pure means each format is tested on its own fixture files and
the booking rules (idempotency, ISIN mapping, pairing a withholding tax with its dividend,
cash, splits) are written once. The formats are described in docs/brokers.md.

Every entry carries the file `line` it came from (1-based, the header's line counted) so
messages can say `line N: ...`, and a `key`: the broker's own id for the row (prefixed with
the format, e.g. `ibkr:1234567`) or None, in which case the booking derives a fingerprint
from the entry's content. Amounts are exact `Decimal`s, positive; the kind says the sign.
Times are timezone-aware (UTC); a broker date without a time is local midnight of that day
(`ledger.inputs.parse_time`). `account` None means the `--account` option (default `main`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Iterator, Protocol, Union

ZERO = Decimal(0)


@dataclass(frozen=True)
class TradeEntry:
    """A fill: `side` is "buy" or "sell", `price` per share in `currency`."""

    line: int
    at: datetime
    side: str
    symbol: str
    quantity: Decimal
    price: Decimal
    commission: Decimal = ZERO
    fees: Decimal = ZERO
    currency: str | None = None
    account: str | None = None
    key: str | None = None
    isin: str | None = None
    note: str | None = None
    #: The strategy the fill belongs to (stocksbot's own format has the column; created if new).
    strategy: str | None = None
    #: The fill may open or add to a short whatever the import's setting (stocksbot's own format:
    #: its `allow_short` column, docs/csv-formats.md §2.1).
    allow_short: bool = False


@dataclass(frozen=True)
class DividendEntry:
    """A cash dividend (or payment in lieu): `gross` before tax; `tax` when the same row says it.

    A withholding tax on its own row is a `TaxEntry`; the booking pairs it with the dividend of
    the same account, symbol and pay day.
    """

    line: int
    paid_at: datetime
    symbol: str
    gross: Decimal
    tax: Decimal = ZERO
    fee: Decimal = ZERO
    currency: str | None = None
    account: str | None = None
    key: str | None = None
    isin: str | None = None
    ex_date: datetime | None = None
    note: str | None = None


@dataclass(frozen=True)
class TaxEntry:
    """Withholding tax on a dividend, on a row of its own (`amount` positive, withheld).

    A negative amount (a refund of withheld tax) is given as `refund=True` with a positive amount.
    """

    line: int
    at: datetime
    symbol: str
    amount: Decimal
    currency: str | None = None
    account: str | None = None
    key: str | None = None
    isin: str | None = None
    refund: bool = False
    note: str | None = None


#: Kinds of CashEntry: the recorded kinds of `cash` (docs/ledger.md §13).
CASH_KINDS: tuple[str, ...] = ("deposit", "withdraw", "interest", "fee", "tax")


#: Kinds of CashEntry that may be a credit (`refund=True`): the costs (docs/brokers.md §4.5).
REFUNDABLE_KINDS: tuple[str, ...] = ("fee", "tax")


@dataclass(frozen=True)
class CashEntry:
    """A deposit, withdrawal, interest, fee or tax not tied to a dividend (`amount` positive).

    `refund=True` (a fee or tax only) makes it a credit of that kind: a refunded fee, a tax
    refund without its dividend, an FX gain. It is booked as a positive `fee`/`tax` movement,
    a negative cost, so it does not count as an external flow as a deposit would.
    """

    line: int
    at: datetime
    kind: str
    amount: Decimal
    currency: str | None = None
    account: str | None = None
    key: str | None = None
    note: str | None = None
    refund: bool = False


@dataclass(frozen=True)
class ConversionEntry:
    """An exchange of currencies within one account: `sold` of `sold_currency` for `bought` of
    `bought_currency` (both positive), with an optional `fee` (in `fee_currency`, else the sold
    currency).

    Booked as `stocksbot cash convert` books one (docs/ledger.md §13): a convert_out, the fee
    and a convert_in sharing a pair id; the rate is bought / sold, kept exact by storing the
    bought amount as the broker states it (docs/brokers.md §4.7).
    """

    line: int
    at: datetime
    sold: Decimal
    sold_currency: str
    bought: Decimal
    bought_currency: str
    fee: Decimal = ZERO
    fee_currency: str | None = None
    account: str | None = None
    key: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class SplitEntry:
    """A split of `symbol` from the day `at`: `numerator`:`denominator` ("4:1" is 4 and 1).

    Brokers that state only the shares added (Revolut) give `added` instead of a ratio; the
    booking derives the ratio from the holding at that time.
    """

    line: int
    at: datetime
    symbol: str
    numerator: int | None = None
    denominator: int | None = None
    added: Decimal | None = None
    account: str | None = None
    key: str | None = None
    isin: str | None = None


@dataclass(frozen=True)
class RateEntry:
    """An exchange rate: 1 `base` is worth `rate` `quote` at `at` (a bar of `BASE/QUOTE`, §15)."""

    line: int
    at: datetime
    base: str
    quote: str
    rate: Decimal


@dataclass(frozen=True)
class Skipped:
    """A row the format documents as not a record (summary row, cancelled trade, duplicate of
    another row, a blank line): reported as `line N: skipped: <reason>`, never an error."""

    line: int
    reason: str


@dataclass(frozen=True)
class Unknown:
    """A row whose action the format does not know: refuses the import unless `--skip-unknown`,
    then reported as skipped."""

    line: int
    action: str


@dataclass(frozen=True)
class Problem:
    """A row that cannot be read (truncated, bad number, a date in a format the broker never
    uses): the import is refused and every problem reported as `line N: message`."""

    line: int
    message: str


Entry = Union[TradeEntry, DividendEntry, TaxEntry, CashEntry, ConversionEntry, SplitEntry, RateEntry]
Item = Union[Entry, Skipped, Unknown, Problem]


@dataclass(frozen=True)
class ParseOptions:
    """The options of `stocksbot import` a parser may use.

    `columns` maps stocksbot field names to the file's column names (`--map date=Run Date`);
    formats apply it on top of their own column names so one renamed column can be fixed.
    """

    columns: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    delimiter: str | None = None
    decimal_comma: bool = False


class Format(Protocol):
    """One broker's export format (a module of this package exposes one as `FORMAT`)."""

    #: The `--from` name, e.g. "ibkr".
    name: str
    #: What `--help` and error messages call it, e.g. "IBKR Flex Query CSV".
    title: str

    def detect(self, head: str) -> bool:
        """Whether the first few kilobytes of a file are this format's (its header, by name)."""
        ...

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        """The file's rows as entries, skips, unknown actions and problems, in file order."""
        ...
