"""`stocksbot import`: a broker statement into the ledger, all or nothing (docs/brokers.md §3-§7).

A format (stocksbot/importers/) turns the file into entries; this module books them. First
every row is parsed and checked: any problem, or an unknown action without `--skip-unknown`,
refuses the file and every such row is reported as `line N: reason`. Then everything is
booked in one transaction, in time order, and any refusal by the ledger (a sell beyond the
holding without `--allow-short`) rolls all of it back:

- trades go through `trade import`'s machinery (`services/imports.TradeImport`), so booking,
  speed and the shorting rule are the same;
- splits are stored before the symbol's positions are re-booked (a ratio given as shares
  `added` is derived from the holding just before the split);
- dividends (with the withholding tax of their own row or of a paired tax row), cash
  movements (a refund as a credit of its cost kind), currency conversions (booked as
  `cash convert` books them) and exchange rates follow, each by the rules of its own service.

Idempotency: every record keeps a key in its `external_id`, the broker's id or a fingerprint
of the row's content (`stocksbot.fingerprints`, shared with `trade import`); a key already
stored is skipped and reported, so a file imported twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, insert, select, update

from stocksbot import settings
from stocksbot.csvfiles import PriceRow, RowErrors, TradeRow
from stocksbot.errors import StocksbotError
from stocksbot.fingerprints import Occurrences, content_text, trade_content
from stocksbot.fingerprints import fingerprint as fingerprint  # noqa: F401 - its old home, which tests import
from stocksbot.importers.entries import (
    CASH_KINDS,
    REFUNDABLE_KINDS,
    CashEntry,
    ConversionEntry,
    DividendEntry,
    Entry,
    Format,
    ParseOptions,
    Problem,
    RateEntry,
    Skipped,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.ledger import format_decimal
from stocksbot.ledger.cash import dividend_amount
from stocksbot.ledger.inputs import parse_account_name, parse_currency, parse_symbol, start_of_day
from stocksbot.ledger.numbers import ZERO, add, subtract
from stocksbot.services import fx
from stocksbot.services.imports import TradeImport
from stocksbot.services.prices import upsert_bars
from stocksbot.services.splits import insert_split
from stocksbot.storage import audit, tables
from stocksbot.storage.booking import BookingError, BookingStore, lock_ledger
from stocksbot.storage.cash import CashStore, dividend_event, movement_event
from stocksbot.storage.repositories import Repositories
from stocksbot.storage.unit_of_work import UnitOfWork
from stocksbot.vocabulary import CLOSED, EXTERNAL_ID_MAX, TRADE_SIDES

#: The kinds counted in the result, in the order shown.
KINDS: tuple[str, ...] = ("trades", "dividends", "cash", "splits", "prices")
#: Cash kinds stored as negative amounts.
OUTFLOWS = frozenset({"withdraw", "fee", "tax"})
#: The interval of the bars exchange rates are stored as.
RATE_INTERVAL = "1d"
#: Booking order of entries at one instant (docs/brokers.md §4.1): rates, splits (they
#: apply from the start of their day, before its trades), trades, then the cash records,
#: whose order among themselves the cash book decides (credits before debits, docs/ledger.md §13).
_RANK = {RateEntry: 0, SplitEntry: 1, TradeEntry: 2, DividendEntry: 3, TaxEntry: 4, CashEntry: 5,
         ConversionEntry: 6}
#: The keys of a conversion's other legs: its convert_out keeps the entry's key, the convert_in
#: and the fee add these suffixes (docs/brokers.md §4.7), so one key stands for the whole conversion.
CONVERT_IN_SUFFIX = ":in"
CONVERT_FEE_SUFFIX = ":fee"
_LEG_ROOM = max(len(CONVERT_IN_SUFFIX), len(CONVERT_FEE_SUFFIX))
#: How many keys one lookup asks for (within SQLite's limit of parameters).
_LOOKUP = 900

_TRADE_ROW_FIELDS = tuple(TradeRow.__dataclass_fields__)
#: Told how many of the file's trades are booked so far, and how many there are.
BookingProgress = Callable[[int, int], None]

DIVIDENDS = tables.dividends
MOVEMENTS = tables.cash_movements
SPLITS = tables.splits
INSTRUMENTS = tables.instruments
BARS = tables.price_bars


@dataclass
class StatementResult:
    """What an import recorded (or with `dry_run` would record), per kind, and what it skipped."""

    format: str
    imported: dict[str, int]
    skipped: list[tuple[int, str]]
    dry_run: bool = False
    created_accounts: tuple[str, ...] = ()
    created_strategies: tuple[str, ...] = ()

    def skipped_lines(self) -> list[str]:
        return [f"line {line}: skipped: {why}" for line, why in sorted(self.skipped)]

    def to_json(self) -> dict[str, Any]:
        return {"imported": dict(self.imported), "skipped": len(self.skipped), "errors": 0, "dry_run": self.dry_run,
                "format": self.format, "skipped_lines": self.skipped_lines(),
                "created_accounts": list(self.created_accounts),
                "created_strategies": list(self.created_strategies)}


class _DryRun(Exception):
    """Raised to roll back a successful dry run."""


def _line_of(error: str) -> int:
    head = error.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 1 << 62


def _refuse(errors: list[str]) -> None:
    if errors:
        raise RowErrors(sorted(errors, key=_line_of))


# -- parsing ----------------------------------------------------------------------------------


@dataclass
class Parsed:
    """A file's rows after its format read them: the entries in file order, the skipped rows, the problems."""

    entries: list[Entry] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse(fmt: Format, lines: Iterable[str], options: ParseOptions, *, skip_unknown: bool) -> Parsed:
    """Read every row; an unknown action is a problem unless `skip_unknown` (then it is skipped)."""
    parsed = Parsed()
    entries, skipped, problems = parsed.entries, parsed.skipped, parsed.problems
    try:
        for item in fmt.parse(lines, options):
            if isinstance(item, Skipped):
                skipped.append((item.line, item.reason))
            elif isinstance(item, Problem):
                problems.append(f"line {item.line}: {item.message}")
            elif isinstance(item, Unknown):
                if skip_unknown:
                    skipped.append((item.line, f"unknown action {item.action!r}"))
                else:
                    problems.append(f"line {item.line}: unknown action {item.action!r} for the {fmt.title} format "
                                    "(give --skip-unknown to skip such rows)")
            else:
                entries.append(item)
    except StocksbotError as exc:  # a format refusing the file as a whole (its header)
        problems.append(f"line 1: {exc}")
    return parsed


# -- keys -------------------------------------------------------------------------------------


def content(entry: Entry, account: str) -> tuple[str, ...]:
    """What identifies an entry without a broker id: its kind, time, account, symbol, quantities,
    amounts and currency, as text (the same values give the same text, `10` and `10.0` alike).
    A trade's is `fingerprints.trade_content`, shared with `trade import` and `trade export`."""
    if isinstance(entry, TradeEntry):
        return trade_content(entry.at, account, entry.symbol, entry.isin, entry.side, entry.quantity, entry.price,
                             entry.commission, entry.fees, entry.currency)
    if isinstance(entry, DividendEntry):
        values: tuple[object, ...] = ("dividend", entry.paid_at, account, entry.symbol, entry.isin, entry.gross,
                                      entry.tax, entry.fee, entry.currency)
    elif isinstance(entry, TaxEntry):
        values = ("tax", entry.at, account, entry.symbol, entry.isin, entry.amount, entry.refund, entry.currency)
    elif isinstance(entry, CashEntry):
        # `refund` only when set, so the fingerprints of the other cash rows stay what they were.
        values = ("cash", entry.at, account, entry.kind, entry.amount, entry.currency) + \
            (("refund",) if entry.refund else ())
    elif isinstance(entry, ConversionEntry):
        values = ("conversion", entry.at, account, entry.sold, entry.sold_currency, entry.bought,
                  entry.bought_currency, entry.fee, entry.fee_currency)
    elif isinstance(entry, SplitEntry):
        values = ("split", entry.at, account, entry.symbol, entry.isin, entry.numerator, entry.denominator,
                  entry.added)
    else:
        values = ("rate", entry.at, entry.base, entry.quote, entry.rate)
    return tuple(map(content_text, values))


# -- booking ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    """An entry with what the booking resolved: its symbol, account, key and time."""

    entry: Entry
    at: datetime
    symbol: str | None
    account: str
    key: str | None


def _moment(entry: Entry) -> datetime:
    return entry.paid_at if isinstance(entry, DividendEntry) else entry.at


def _sort_key(item: _Entry) -> tuple[datetime, int, int]:
    return item.at, _RANK[type(item.entry)], item.entry.line


def _newest_first_key(item: _Entry) -> tuple[datetime, int, int]:
    """For a format that lists newest first (`newest_first`, Schwab and Fidelity), rows of one
    instant are booked bottom-up: a same-day buy listed below a sell came first."""
    return item.at, _RANK[type(item.entry)], -item.entry.line


def _positive(name: str, value: Decimal, *, zero: bool = False) -> None:
    if value < 0 or (value == 0 and not zero):
        raise StocksbotError(f"{name} must be {'0 or more' if zero else 'greater than 0'}, got {format_decimal(value)}")


class _Booking:
    """One import over an open transaction that holds the ledger lock."""

    def __init__(self, conn: Connection, fmt: Format, *, account: str | None, allow_short: bool | None,
                 progress: BookingProgress | None) -> None:
        self.conn = conn
        self.fmt = fmt
        self.repos = Repositories(conn)
        config = self.repos.config
        self.method = str(settings.known_value("accounting.cost_basis", config.text("accounting.cost_basis")))
        if allow_short is None:
            allow_short = bool(settings.known_value("trading.allow_short", config.text("trading.allow_short")))
        self.allow_short = allow_short
        self.progress = progress
        self.errors: list[str] = []
        self.skipped: list[tuple[int, str]] = []
        self.counts = dict.fromkeys(KINDS, 0)
        #: The ids of the trades booked (consecutive: `TradeImport.trade_ids`), for the audit entry.
        self.trade_ids: range = range(0)
        self.accounts = {row.name: row for row in self.repos.accounts.list()}
        self.created_accounts: list[str] = []
        self.created_strategies: list[str] = []
        self.default_name = parse_account_name(account) if account is not None else self.repos.accounts.default().name
        self.new_currencies: dict[str, str | None] = {}
        self.isins: dict[str, str] = {}
        self.codes: set[str] = set()  # currency texts checked already

    # -- resolving and checking -------------------------------------------------------------

    def resolve(self, entries: list[Entry]) -> list[_Entry]:
        """Each entry's symbol (an ISIN mapped by `symbol set --isin`, else the symbol, else the
        ISIN itself: docs/brokers.md §6), account (§7) and key (§5), checked; the problems are
        collected in `errors`."""
        wanted = sorted({e.isin.strip().upper() for e in entries if getattr(e, "isin", None)})  # type: ignore[union-attr]
        for start in range(0, len(wanted), _LOOKUP):
            chunk = wanted[start:start + _LOOKUP]
            query = select(INSTRUMENTS.c.isin, INSTRUMENTS.c.symbol).where(INSTRUMENTS.c.isin.in_(chunk))
            self.isins.update((row.isin, row.symbol) for row in self.conn.execute(query))
        seen = Occurrences()
        resolved = []
        symbols: dict[str, str] = {}
        for entry in entries:
            try:
                item = self._resolve(entry, symbols, seen)
            except StocksbotError as exc:
                self.errors.append(f"line {entry.line}: {exc}")
                continue
            resolved.append(item)
        return resolved

    def _resolve(self, entry: Entry, symbols: dict[str, str], seen: Occurrences) -> _Entry:
        symbol = None
        if not isinstance(entry, RateEntry):
            account = entry.account.strip() if entry.account else self.default_name
            if account not in self.accounts and account not in self.new_currencies:
                self.new_currencies[parse_account_name(account)] = None
            currency = getattr(entry, "currency", None)
            if currency is not None:
                if currency not in self.codes:
                    self.codes.add(parse_currency(currency) and currency)
                if self.new_currencies.get(account, "") is None:
                    self.new_currencies[account] = currency
        else:
            account = ""
        if isinstance(entry, (TradeEntry, DividendEntry, TaxEntry, SplitEntry)):
            isin = entry.isin.strip().upper() if entry.isin else None
            given = self.isins.get(isin) if isin else None
            given = given or entry.symbol or isin or ""
            symbol = symbols.get(given)
            if symbol is None:
                symbol = symbols[given] = parse_symbol(given)
        self._check(entry)
        key = getattr(entry, "key", None)
        if isinstance(entry, RateEntry):
            key = None
        elif key is None:
            key = seen.key(content(entry, account))
        elif len(key) > EXTERNAL_ID_MAX - (_LEG_ROOM if isinstance(entry, ConversionEntry) else 0):
            limit = EXTERNAL_ID_MAX - (_LEG_ROOM if isinstance(entry, ConversionEntry) else 0)
            raise StocksbotError(f"the broker's id {key[:20]!r}... is longer than {limit} characters")
        return _Entry(entry, _moment(entry), symbol, account, key)

    @staticmethod
    def _check(entry: Entry) -> None:
        """The ledger's limits on an entry's values (a format's bug must not reach the database)."""
        if isinstance(entry, TradeEntry):
            if entry.side not in TRADE_SIDES:
                raise StocksbotError(f"side must be buy or sell, got {entry.side!r}")
            if entry.quantity <= 0 or entry.price < 0 or entry.commission < 0 or entry.fees < 0:
                _positive("quantity", entry.quantity)
                for name, zero_ok in (("price", entry.price), ("commission", entry.commission), ("fees", entry.fees)):
                    _positive(name, zero_ok, zero=True)
        elif isinstance(entry, DividendEntry):
            _positive("dividend", entry.gross)
            _positive("tax", entry.tax, zero=True)
            _positive("fee", entry.fee, zero=True)
            if entry.ex_date is not None and start_of_day(entry.ex_date) > entry.paid_at:
                raise StocksbotError("the ex-date is after the pay date")
        elif isinstance(entry, TaxEntry):
            _positive("tax", entry.amount)
        elif isinstance(entry, CashEntry):
            if entry.kind not in CASH_KINDS:
                raise StocksbotError(f"cash kind must be one of {', '.join(CASH_KINDS)}, got {entry.kind!r}")
            if entry.refund and entry.kind not in REFUNDABLE_KINDS:
                raise StocksbotError(f"only a {' or '.join(REFUNDABLE_KINDS)} can be a refund, got {entry.kind!r}")
            _positive(entry.kind, entry.amount)
        elif isinstance(entry, ConversionEntry):
            _positive("amount sold", entry.sold)
            _positive("amount bought", entry.bought)
            _positive("conversion fee", entry.fee, zero=True)
            sold, bought = parse_currency(entry.sold_currency), parse_currency(entry.bought_currency)
            if entry.fee_currency is not None:
                parse_currency(entry.fee_currency)
            if sold == bought:
                raise StocksbotError(f"cannot convert {sold} into itself: give two different currencies")
        elif isinstance(entry, SplitEntry):
            if entry.added is None:
                if entry.numerator is None or entry.denominator is None or entry.numerator < 1 or \
                        entry.denominator < 1 or entry.numerator == entry.denominator:
                    raise StocksbotError("a split needs two different whole numbers of at least 1 (N:D) or the "
                                         "shares added")
            else:
                _positive("shares added", entry.added)
        else:
            _positive("rate", entry.rate)
            parse_currency(entry.base)
            parse_currency(entry.quote)

    def create_accounts(self) -> None:
        """Create the accounts entries name that do not exist, in the entry's currency, else the
        reporting one (docs/brokers.md §7)."""
        if not self.new_currencies:
            return
        reporting = fx.reporting_currency(self.conn)[0]
        for name, currency in self.new_currencies.items():
            self.repos.accounts.add(name=name, currency=parse_currency(currency) if currency else reporting,
                                    margin=False, status="open")
            self.accounts[name] = self.repos.accounts.require(name)
            self.created_accounts.append(name)

    # -- the kinds ----------------------------------------------------------------------------

    def book(self, items: list[_Entry]) -> None:
        items.sort(key=_newest_first_key if getattr(self.fmt, "newest_first", False) else _sort_key)
        named = {item.account for item in items if item.account}
        for row in self.accounts.values():
            if row.status == CLOSED and row.name in named:
                raise StocksbotError(f"account {row.name!r} is closed: reopen it or import into another account")
        self.create_accounts()
        self._rates([i for i in items if isinstance(i.entry, RateEntry)])
        splits = [i for i in items if isinstance(i.entry, SplitEntry)]
        trades = [i for i in items if isinstance(i.entry, TradeEntry)]
        split_symbols = {i.symbol for i in splits if i.symbol is not None}
        # Every row names its account (resolved above), so TradeImport's default is only a formality.
        run = TradeImport(self.conn, self.method, self.allow_short, expected_rows=len(trades),
                          account=self.default_name if self.default_name in self.accounts else None,
                          rebook=split_symbols)
        total = len(trades)
        booked = 0

        def tick() -> None:
            nonlocal booked
            booked = min(total, booked + 2000)
            if self.progress is not None:
                self.progress(booked, total)

        run.take(self._trade_rows(trades), tick)
        self._splits(splits)
        try:
            run.finish()
        except RowErrors as exc:  # reported with the splits' problems, if any
            self.errors += exc.errors
            _refuse(self.errors)
        keys = {item.entry.line: item.key for item in trades}
        self.skipped += [(line, f"already imported ({keys[line]})") for line in run.skipped_lines]
        self.counts["trades"] = run.imported
        self.trade_ids = run.trade_ids
        self.created_strategies += run.created_strategies
        for symbol in sorted(split_symbols - {symbol for _account, symbol in run.symbols}):
            try:
                BookingStore(self.conn, self.method).replay(symbol)
            except BookingError as exc:
                self.errors.append(f"{symbol}: re-booking after its split failed: {exc}")
        _refuse(self.errors)
        self._cash([i for i in items if isinstance(i.entry, (DividendEntry, TaxEntry, CashEntry, ConversionEntry))])
        _refuse(self.errors)

    def _trade_rows(self, trades: list[_Entry]) -> Iterator[TradeRow]:
        """The trades as `trade import` reads them (built without the frozen dataclass's __init__,
        which costs more than the rest of the conversion; the same object)."""
        new, fields = object.__new__, _TRADE_ROW_FIELDS
        codes: dict[str, str] = {}
        for item in trades:
            e = item.entry
            assert isinstance(e, TradeEntry)
            currency = e.currency
            if currency is not None:
                code = codes.get(currency)
                currency = code if code is not None else codes.setdefault(currency, parse_currency(currency))
            row = new(TradeRow)
            row.__dict__.update(zip(fields, (e.line, e.at, e.side, item.symbol, e.quantity, e.price, e.commission,
                                             e.fees, e.strategy, item.key, e.note, item.account, currency,
                                             e.allow_short)))
            yield row

    def _rates(self, rates: list[_Entry]) -> None:
        """Exchange rates as bars of `BASE/QUOTE` (docs/brokers.md §4.6, docs/ledger.md §15); an equal bar
        stored already is skipped."""
        rows = []
        for item in rates:
            e = item.entry
            assert isinstance(e, RateEntry)
            symbol = fx.pair(parse_currency(e.base), parse_currency(e.quote))
            stored = self.conn.execute(select(BARS.c.close).where(BARS.c.symbol == symbol,
                                                                  BARS.c.interval == RATE_INTERVAL,
                                                                  BARS.c.timestamp == e.at)).scalar()
            if stored == e.rate:
                self.skipped.append((e.line, f"rate {symbol} of that time already stored"))
                continue
            rows.append(PriceRow(symbol, e.at, e.rate, e.rate, e.rate, e.rate, None))
        self.counts["prices"] = upsert_bars(self.repos, rows, RATE_INTERVAL) if rows else 0

    def _splits(self, splits: list[_Entry]) -> None:
        """Store the splits in time order; a split given as shares added gets its exact ratio from
        the holding of its account just before it (the file's earlier trades and splits counted:
        docs/brokers.md §4.3)."""
        store = BookingStore(self.conn, self.method)
        days: dict[tuple[str, datetime], int] = {}
        for item in splits:
            e = item.entry
            assert isinstance(e, SplitEntry) and item.symbol is not None
            moment = start_of_day(e.at)
            day = moment.astimezone().date().isoformat()
            first = days.setdefault((item.symbol, moment), e.line)
            if first != e.line:
                self.skipped.append((e.line, f"a second split of {item.symbol} on {day} (line {first})"))
                continue
            if self.conn.execute(select(SPLITS.c.id).where(SPLITS.c.symbol == item.symbol,
                                                           SPLITS.c.at == moment)).first():
                self.skipped.append((e.line, f"{item.symbol} already has a split on {day}"))
                continue
            if e.added is not None:
                held = store.holding_at(self.accounts[item.account].id, item.symbol, moment)
                if held <= 0:
                    self.errors.append(f"line {e.line}: {item.symbol} split by shares added, but account "
                                       f"{item.account!r} holds no shares of it on {day}")
                    continue
                ratio = Fraction(add(held, e.added)) / Fraction(held)
                numerator, denominator = ratio.numerator, ratio.denominator
            else:
                assert e.numerator is not None and e.denominator is not None
                numerator, denominator = e.numerator, e.denominator
            insert_split(self.conn, item.symbol, numerator, denominator, moment)
            self.counts["splits"] += 1

    def _known(self, table: Any, keys: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(keys), _LOOKUP):
            chunk = keys[start:start + _LOOKUP]
            known.update(self.conn.execute(select(table.c.external_id).where(table.c.external_id.in_(chunk)))
                         .scalars())
        return known

    def _cash(self, items: list[_Entry]) -> None:
        """Dividends (each with the tax rows paired with it), cash movements, and the cash they move
        (docs/brokers.md §4.4, §4.5)."""
        currencies = {row.symbol: row.currency for row in self.conn.execute(select(INSTRUMENTS.c.symbol,
                                                                                    INSTRUMENTS.c.currency))}

        def currency_of(item: _Entry) -> str:
            given = getattr(item.entry, "currency", None)
            if given:
                return parse_currency(given)
            if item.symbol is not None and item.symbol in currencies:
                return str(currencies[item.symbol])
            return str(self.accounts[item.account].currency)

        dividend_keys = self._known(DIVIDENDS, [i.key for i in items if isinstance(i.entry, DividendEntry) and i.key])
        movement_keys = self._known(MOVEMENTS, [i.key for i in items if not isinstance(i.entry, DividendEntry)
                                                and i.key])
        # A conversion's legs (below) make a group: the first row's id is the pair id of all of them.
        # A withholding tax pairs with a dividend of its account, symbol, pay day and currency.
        dividends: dict[tuple[str, str | None, str, str], list[Any]] = {}
        # A tax row that names no currency pairs with a dividend of any currency (and takes its currency).
        any_currency: dict[tuple[str, str | None, str], list[Any]] = {}
        rows: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for item in items:
            e = item.entry
            if isinstance(e, DividendEntry):
                if self._repeated(item, seen):
                    continue
                code = currency_of(item)
                pair_key = (item.account, item.symbol, e.paid_at.astimezone().date().isoformat(), code)
                stored = item.key in dividend_keys
                if stored:
                    self.skipped.append((e.line, f"already imported ({item.key})"))
                row = {"line": e.line, "stored": stored, "account_id": self.accounts[item.account].id,
                       "symbol": item.symbol, "gross": e.gross, "tax": e.tax, "fee": e.fee, "currency": code,
                       "ex_date": start_of_day(e.ex_date if e.ex_date is not None else e.paid_at),
                       "paid_at": e.paid_at, "per_share": None, "note": e.note, "external_id": item.key}
                dividends.setdefault(pair_key, []).append(row)
                any_currency.setdefault(pair_key[:3], []).append(row)
                rows.append(row)
        movements: list[list[dict[str, Any]]] = []
        for item in items:
            e = item.entry
            if isinstance(e, DividendEntry):
                continue
            if isinstance(e, ConversionEntry):
                if self._repeated(item, seen):
                    continue
                if item.key in movement_keys:
                    self.skipped.append((e.line, f"already imported ({item.key})"))
                    continue
                movements.append(self._conversion(item))
                continue
            code = currency_of(item)
            note: str | None
            if isinstance(e, TaxEntry):
                day = e.at.astimezone().date().isoformat()
                paired = dividends.get((item.account, item.symbol, day, code)) or \
                    (any_currency.get((item.account, item.symbol, day)) if e.currency is None else None)
                if paired:
                    # Several dividends of one day (IBKR books a return of capital beside the
                    # ordinary dividend): the tax goes to the one with the most left after its
                    # own tax and fee, the first of those on a tie (docs/brokers.md §4.4).
                    target = max(paired, key=lambda row: subtract(row["gross"], add(row["tax"], row["fee"])))
                    if target["stored"]:
                        self.skipped.append((e.line, f"withholding tax of the dividend on line {target['line']}, "
                                                     "already imported"))
                    else:
                        target["tax"] = subtract(target["tax"], e.amount) if e.refund else add(target["tax"], e.amount)
                        self.skipped.append((e.line, f"withholding tax booked with the dividend on line "
                                                     f"{target['line']}"))
                    continue
                kind, amount = "tax", e.amount if e.refund else e.amount.copy_negate()
                note = e.note or f"{item.symbol} withholding tax{' refund' if e.refund else ''}"
            else:
                assert isinstance(e, CashEntry)
                debit = e.kind in OUTFLOWS and not e.refund
                kind, amount, note = e.kind, e.amount.copy_negate() if debit else e.amount, e.note
            if self._repeated(item, seen):
                continue
            if item.key in movement_keys:
                self.skipped.append((e.line, f"already imported ({item.key})"))
                continue
            movements.append([{"line": e.line, "account_id": self.accounts[item.account].id, "kind": kind,
                               "amount": amount, "currency": code, "at": e.at, "note": note,
                               "external_id": item.key}])
        now = datetime.now(timezone.utc)
        events: dict[tuple[int, str], list[Any]] = {}
        for row in rows:
            if row["stored"]:
                continue
            if row["tax"] < 0 or add(row["tax"], row["fee"]) > row["gross"]:
                self.errors.append(f"line {row['line']}: the dividend's tax and fee "
                                   f"({format_decimal(add(row['tax'], row['fee']))}) are negative or exceed its "
                                   f"gross {format_decimal(row['gross'])}")
                continue
            values = {k: v for k, v in row.items() if k not in ("line", "stored")}
            dividend_id = int(self.conn.execute(insert(DIVIDENDS).values(created_at=now, **values)
                                                .returning(DIVIDENDS.c.id)).scalar_one())
            events.setdefault((row["account_id"], row["currency"]), []).append(
                dividend_event(dividend_id, row["gross"], row["tax"], row["fee"], row["paid_at"]))
            self.counts["dividends"] += 1
        for group in movements:
            pair_id: int | None = None
            for movement in group:
                values = {k: v for k, v in movement.items() if k != "line"}
                movement_id = int(self.conn.execute(insert(MOVEMENTS).values(created_at=now, pair_id=pair_id, **values)
                                                    .returning(MOVEMENTS.c.id)).scalar_one())
                if len(group) > 1 and pair_id is None:  # as `cash convert`: the first row is its own pair
                    pair_id = movement_id
                    self.conn.execute(update(MOVEMENTS).where(MOVEMENTS.c.id == movement_id).values(pair_id=pair_id))
                events.setdefault((movement["account_id"], movement["currency"]), []).append(
                    movement_event(movement_id, movement["amount"], movement["at"]))
                self.counts["cash"] += 1
        store = CashStore(self.conn)
        margins = {row.id: bool(row.margin) for row in self.accounts.values()}
        for (account_id, currency), pair_events in sorted(events.items()):
            store.settle(account_id, currency, pair_events, margin=margins.get(account_id, False))
        assert all(dividend_amount(r["gross"], r["tax"], r["fee"]) >= ZERO for r in rows if not r["stored"]) \
            or self.errors

    def _conversion(self, item: _Entry) -> list[dict[str, Any]]:
        """A conversion's rows as `cash convert` stores them (docs/ledger.md §13.1, docs/brokers.md
        §4.7): a convert_out of the amount sold, the fee (if any) and a convert_in of the amount
        bought; the out row keeps the entry's key, the others the key with a suffix."""
        e = item.entry
        assert isinstance(e, ConversionEntry) and item.key is not None
        sold, bought = parse_currency(e.sold_currency), parse_currency(e.bought_currency)
        common = {"line": e.line, "account_id": self.accounts[item.account].id, "at": e.at, "note": e.note}
        legs = [{**common, "kind": "convert_out", "amount": e.sold.copy_negate(), "currency": sold,
                 "external_id": item.key}]
        if e.fee:
            fee_currency = parse_currency(e.fee_currency) if e.fee_currency is not None else sold
            legs.append({**common, "kind": "fee", "amount": e.fee.copy_negate(), "currency": fee_currency,
                         "external_id": item.key + CONVERT_FEE_SUFFIX})
        legs.append({**common, "kind": "convert_in", "amount": e.bought, "currency": bought,
                     "external_id": item.key + CONVERT_IN_SUFFIX})
        return legs

    def _repeated(self, item: _Entry, seen: dict[str, int]) -> bool:
        """Whether the entry's broker id repeats an earlier row of the file (reported as a problem)."""
        assert item.key is not None
        first = seen.setdefault(item.key, item.entry.line)
        if first != item.entry.line:
            self.errors.append(f"line {item.entry.line}: id {item.key!r} repeats line {first}")
            return True
        return False


def import_statement(
    uow: UnitOfWork,
    fmt: Format,
    lines: Iterable[str],
    *,
    source: str = "the file",
    options: ParseOptions | None = None,
    account: str | None = None,
    dry_run: bool = False,
    allow_short: bool | None = None,
    skip_unknown: bool = False,
    progress: BookingProgress | None = None,
) -> StatementResult:
    """Import a broker statement read by `fmt` (see the module docstring); `dry_run` books it all and
    rolls it back. `allow_short=None` follows the `trading.allow_short` setting."""
    parsed = parse(fmt, lines, options or ParseOptions(), skip_unknown=skip_unknown)
    _refuse(parsed.problems)
    if not parsed.entries and not parsed.skipped:
        raise StocksbotError(f"{source} has no rows to import (only a header, or nothing) for the {fmt.title} format")
    booking: _Booking | None = None
    try:
        with uow.transaction() as conn:
            lock_ledger(conn)
            booking = _Booking(conn, fmt, account=account, allow_short=allow_short, progress=progress)
            items = booking.resolve(parsed.entries)
            _refuse(booking.errors)
            booking.book(items)
            audit.log(conn, uow.command, "statement.import", fmt.name, new={
                "format": fmt.name, "source": source, "imported": booking.counts,
                "skipped": len(parsed.skipped) + len(booking.skipped),
                "created_accounts": booking.created_accounts, "created_strategies": booking.created_strategies,
            }, trade_ids=booking.trade_ids)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    assert booking is not None
    return StatementResult(format=fmt.name, imported=booking.counts, skipped=parsed.skipped + booking.skipped,
                           dry_run=dry_run, created_accounts=tuple(booking.created_accounts),
                           created_strategies=tuple(booking.created_strategies))
