"""Degiro account statement CSV (`--from degiro`): Dutch, English and the other languages' exports.

The account statement ("Rekeningoverzicht" / "Account statement") lists every cash movement;
trades exist only as free text (`Koop 1 @ 33,9 USD`, `Sell 4 AVIVA@496 GBX (GB00BPQY8M80)`)
in the description. The rules, and what each kind of row becomes, are in docs/brokers.md
("Degiro"). Briefly:

* Columns are found by their names in any of the export languages; the amount is the blank
  header cell right after `Mutatie`/`Change` (that column holds the currency).
* Rows of the same date and minute are read together, so an order's transaction fee can
  become the trade's commission, a currency conversion's two sides are paired into one
  conversion (and its rate), and a split's sell and buy into one split.
* A credit on a fee row is that fee refunded (`refund=True`), not a deposit.
* A record whose cells are all empty but the Order Id continues the previous record's
  Order Id (Degiro wraps long ids onto a line of their own).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Iterable, Iterator

from stocksbot.importers._eubrokers_reading import (
    EMPTY,
    ISIN_PATTERN,
    Columns,
    first_row,
    header_name,
    missing,
    positive,
)
from stocksbot.importers.entries import (
    CashEntry,
    ConversionEntry,
    DividendEntry,
    Item,
    ParseOptions,
    Problem,
    RateEntry,
    Skipped,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.reading import RowError, local_time, optional_amount, parse_amount, pounds, records, strptime_local

NAME = "degiro"

#: Header names of each field in the export languages (NL, EN, PT, ES, FR, DE, IT).
FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("Datum", "Date", "Data", "Fecha"),
    "time": ("Tijd", "Time", "Hora", "Heure", "Uhrzeit", "Ora"),
    "product": ("Product", "Produto", "Producto", "Produit", "Produkt", "Prodotto"),
    "isin": ("ISIN",),
    "description": ("Omschrijving", "Description", "Descrição", "Descripción", "Beschreibung", "Descrizione"),
    "fx": ("FX", "Tipo", "Tipo de cambio", "Taux de change", "Wechselkurs", "Tasso di cambio"),
    "change": ("Mutatie", "Change", "Mutação", "Variación", "Mouvement", "Mouvements", "Änderung", "Variazione",
               "Modifica"),
    "order_id": ("Order Id", "Order ID", "ID da Ordem", "ID Orden", "ID de orden", "ID de l'ordre", "Order-ID",
                 "ID Ordine"),
}

#: Trades in the description: verb, quantity, optional product name, `@` (or German `zu je`),
#: price and currency, optional `(ISIN)`; an optional `PREFIX:` names a corporate action.
_TRADE = re.compile(
    r"^(?:(?P<prefix>[^:@]*?)\s*:\s*)?"
    r"(?P<verb>koop|verkoop|buy|sell|compra|venta|venda|achat|vente|kauf|verkauf|acquisto|vendita)\s+"
    r"(?P<qty>\d(?:[\d.,]|[ \u00a0\u202f](?=\d{3}(?!\d)))*)"
    r"(?:\s+(?P<name>.*?))?\s*(?:@|\bzu je\b)\s*"
    r"(?P<price>\d(?:[\d.,]|[ \u00a0\u202f](?=\d{3}(?!\d)))*)\s*(?P<ccy>[a-z]{3})"
    r"(?:\s*\((?P<isin>[a-z0-9]{12})\))?\s*$",
    re.IGNORECASE,
)
_DATE = re.compile(r"(\d{2})-(\d{2})-(\d{4})")
_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")
_BUY_VERBS = {"koop", "buy", "compra", "achat", "kauf", "acquisto"}

_STOCK_DIVIDEND = ("stock dividend", "stockdividend", "dividende en actions", "dividendo en acciones",
                   "aktiendividende", "dividendo in azioni", "dividendo em ações")
_PRODUCT_CHANGE = ("productwijziging", "product change", "isin-wijziging", "isin change", "changement de produit",
                   "changement d'isin", "cambio de producto", "cambio de isin", "alteração de produto", "produktänderung",
                   "isin-änderung", "modifica prodotto", "cambio prodotto")
_SPLIT = ("splitsing", "aandelensplitsing", "stock split", "split", "reverse split", "division d'actions",
          "desdoblamiento", "aktiensplit", "frazionamento")
_MONEY_MARKET = ("geldmarktfonds", "fonds monétaires", "fonds monetaires", "money market", "mercado monetario",
                 "mercado monetário", "mercato monetario", "geldmarkt")

_FX = ("valuta creditering", "valuta debitering", "fx credit", "fx debit", "fx withdrawal", "cambio de divisa",
       "de divisa", "währungswechsel", "de change", "cambio valuta")
_DIVIDEND_TAX = ("dividendbelasting", "dividend tax", "impôts sur dividende", "impots sur dividende",
                 "retención del dividendo", "retencion del dividendo", "imposto sobre dividendo", "dividendensteuer",
                 "ritenuta sul dividendo", "withholding tax", "bronbelasting", "kapitalertragsteuer")
_DIVIDEND = ("dividend", "dividende", "dividendo")
_TRADE_FEE = ("transactiekosten", "transaction and/or third", "transaction fee", "comissões de transação",
              "comissoes de transacao", "courtage", "costes de transacción", "costes de transaccion",
              "transaktionsgebühr", "commissioni di transazione", "en/of kosten", "and/or third party")
_INTERNAL = ("cash sweep", "overboeking van uw geldrekening", "overboeking naar uw geldrekening",
             "processed flatex withdrawal", "transfer to your cash account", "transfer from your cash account",
             "flatex cash sweep")
_RESERVATION = ("reservation", "reservering", "reserva", "réservation")
_WITHDRAWAL = ("terugstorting", "withdrawal", "retirada", "levantamento", "auszahlung", "retrait", "prelievo")
_DEPOSIT = ("deposit", "storting", "ingreso", "depósito", "deposito", "einzahlung", "versement", "dépôt", "ideal",
            "sofort")
_INTEREST = ("interest", "rente", "intérêts", "interets", "interés", "interes", "juros", "zinsen", "interessi")
_COURTESY = ("courtesy", "promotie", "promotion", "promoción", "promoção", "promozione")
_OTHER_FEE = ("aansluitingskosten", "connection fee", "corporate action", "verbindungskosten", "costi di connessione",
              "custo de conectividade", "frais de connexion", "comisión de conectividad", "adr/gdr", "kosten", "fee",
              "frais", "gebühr", "comisión", "custo", "costi", "commission", "servicekosten")


def _has(text: str, words: tuple[str, ...]) -> bool:
    return any(word in text for word in words)


@dataclass
class _Row:
    """A statement record once read: the raw description, its amount and currency, its order."""

    line: int
    at: datetime
    product: str
    isin: str
    description: str
    fx: Decimal | None
    currency: str
    amount: Decimal | None
    order_id: str
    extra_lines: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Trade:
    side: str
    quantity: Decimal
    price: Decimal
    currency: str
    isin: str
    prefix: str


class DegiroFormat:
    """The Degiro account statement (`Account.csv`), in any of its languages."""

    name = NAME
    title = "Degiro account statement CSV"

    def detect(self, head: str) -> bool:
        """Degiro's header: a description, an ISIN, an FX column and a change column followed by a blank cell."""
        cells = first_row(head)
        names = {key: {header_name(n) for n in value} for key, value in FIELDS.items()}
        if not (names["description"] & set(cells) and "isin" in cells and names["fx"] & set(cells)):
            return False
        for position, cell in enumerate(cells[:-1]):
            if cell in names["change"] and cells[position + 1] == "":
                return True
        return False

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        """Every record of the statement as entries, skips, unknown descriptions or problems, in file order."""
        rows = records(lines, options.delimiter)
        header = next(rows, None)
        if header is None or not any(cell.strip() for cell in header.cells):
            yield Problem(1, EMPTY)
            return
        columns = Columns(header.cells, FIELDS, options.columns)
        why = missing(columns, ("date", "time", "description", "change"), self.title)
        amount_at = None if why else _amount_column(columns, header.cells)
        if why or amount_at is None:
            yield Problem(1, why or f"not a {self.title} header: the column after the change column should be "
                                    "the blank-headed amount column (or give --map amount=COLUMN)")
            return
        keys: Counter[str] = Counter()
        group: list[_Row] = []
        group_key: tuple[str, str] | None = None
        pending: list[tuple[int, Item]] = []
        for record in rows:
            cells = record.cells
            if not any(cell.strip() for cell in cells):
                pending.append((record.line, Skipped(record.line, "blank line")))
                continue
            date, time = columns.get(cells, "date"), columns.get(cells, "time")
            order_id = columns.get(cells, "order_id")
            if not date and not time and not columns.get(cells, "description") and order_id:
                if group:
                    group[-1].order_id += order_id
                    group[-1].extra_lines.append(record.line)
                    pending.append((record.line, Skipped(
                        record.line, f"the rest of the Order Id of line {group[-1].line} (Degiro wraps long ids)")))
                else:
                    pending.append((record.line, Problem(record.line, "an Order Id continuation with no record before it")))
                continue
            if (date, time) != group_key:
                pending.extend(_flush(group, keys))
                yield from _in_order(pending)
                group, pending, group_key = [], [], (date, time)
            try:
                group.append(_read_row(record.line, cells, columns, amount_at, options))
            except RowError as error:
                pending.append((record.line, Problem(record.line, str(error))))
        pending.extend(_flush(group, keys))
        yield from _in_order(pending)


def _in_order(items: list[tuple[int, Item]]) -> Iterator[Item]:
    for _, item in sorted(items, key=lambda pair: pair[0]):
        yield item


def _amount_column(columns: Columns, header: list[str]) -> int | None:
    """The amount is the blank-headed column after the change (currency) column, unless `--map amount=`."""
    if columns.has("amount"):
        return columns.index["amount"]
    position = columns.index["change"] + 1
    if position >= len(header) or header_name(header[position]):
        return None
    return position


def _read_row(line: int, cells: list[str], columns: Columns, amount_at: int, options: ParseOptions) -> _Row:
    date, time = columns.get(cells, "date"), columns.get(cells, "time")
    if options.date_format:
        at = strptime_local(f"{date} {time}", f"{options.date_format} %H:%M", "date")
    else:
        match = _DATE.fullmatch(date)
        if not match:
            raise RowError(f"date {date!r} is not DD-MM-YYYY, the form Degiro writes")
        if not _TIME.fullmatch(time):
            raise RowError(f"time {time!r} is not HH:MM")
        hours, minutes = time.split(":")[:2]
        at = local_time(f"{match[3]}-{match[2]}-{match[1]}T{int(hours):02d}:{minutes}", "date")
    comma = True if options.decimal_comma else None
    raw_amount = cells[amount_at].strip() if amount_at < len(cells) else ""
    return _Row(
        line=line,
        at=at,
        product=columns.get(cells, "product"),
        isin=columns.get(cells, "isin").upper(),
        description=columns.get(cells, "description"),
        fx=optional_amount(columns.get(cells, "fx"), field="FX", decimal_comma=comma, limit=False),
        currency=columns.get(cells, "change").upper(),
        amount=optional_amount(raw_amount, field="amount", decimal_comma=comma, limit=False),
        order_id=columns.get(cells, "order_id"),
    )


def _trade_of(row: _Row) -> _Trade | None:
    """The trade a description states, or None when it states none."""
    match = _TRADE.match(row.description)
    if not match:
        return None
    quantity = parse_amount(match["qty"], field="quantity", decimal_comma=True, limit=False)
    price = parse_amount(match["price"], field="price", decimal_comma=True, limit=False)
    currency = match["ccy"].upper()
    if currency == "GBX":  # pence: the amount column is in pounds
        price, currency = pounds(price), "GBP"
    isin = row.isin or (match["isin"] or "").upper()
    side = "buy" if match["verb"].casefold() in _BUY_VERBS else "sell"
    return _Trade(side, quantity, price, currency, isin, (match["prefix"] or "").strip())


def _ordinal(keys: Counter[str], base: str) -> str:
    """`base` the first time, `base#2`, `base#3`… after: one order's several fills or fees."""
    keys[base] += 1
    return base if keys[base] == 1 else f"{base}#{keys[base]}"


def _flush(group: list[_Row], keys: Counter[str]) -> list[tuple[int, Item]]:
    """The entries of one minute's rows: trades with their fees, paired conversions and splits."""
    out: list[tuple[int, Item]] = []
    trades: list[tuple[_Row, _Trade]] = []
    fees: list[_Row] = []
    legs: list[_Row] = []
    splits: list[tuple[_Row, _Trade]] = []
    for row in group:
        try:
            trade = _trade_of(row)
        except RowError as error:
            out.append((row.line, Problem(row.line, str(error))))
            continue
        text = row.description.casefold()
        if trade is not None:
            prefix = trade.prefix.casefold()
            if prefix and _has(prefix, _MONEY_MARKET):
                out.append((row.line, Skipped(row.line, "money market fund conversion: Degiro's cash fund holds the "
                                                        "account's own cash, not a holding")))
            elif prefix and _has(prefix, _SPLIT) and not _has(prefix, _PRODUCT_CHANGE):
                splits.append((row, trade))
            elif prefix and not (_has(prefix, _STOCK_DIVIDEND) or _has(prefix, _PRODUCT_CHANGE)):
                out.append((row.line, Unknown(row.line, row.description)))
            elif not trade.isin:
                out.append((row.line, Problem(row.line, f"no ISIN for the trade {row.description!r}")))
            else:
                trades.append((row, trade))
        elif row.amount is None or not row.amount:
            reason = "no amount: an informational row" if row.amount is None else "an amount of 0: no cash moved"
            out.append((row.line, Skipped(row.line, reason)))
        elif _has(text, _FX):
            legs.append(row)
        elif _has(text, _TRADE_FEE) and row.order_id:
            fees.append(row)
        else:
            out.append((row.line, _single(row, text, keys)))
    out.extend(_trades(trades, fees, keys))
    out.extend(_conversions(legs, keys))
    out.extend(_splits(splits))
    return out


def _single(row: _Row, text: str, keys: Counter[str]) -> Item:
    """A row that stands alone: a dividend, a withholding tax, a deposit, a fee, interest…"""
    amount = row.amount
    assert amount is not None
    size, credit = positive(amount), amount > 0
    currency = row.currency or None
    if _has(text, _DIVIDEND_TAX):
        if not row.isin:
            return Problem(row.line, f"no ISIN for the withholding tax {row.description!r}")
        return TaxEntry(row.line, row.at, row.isin, size, currency, isin=row.isin, refund=credit,
                        note=row.description)
    if text.startswith(_DIVIDEND) or text in _DIVIDEND:
        if not row.isin:
            return Problem(row.line, f"no ISIN for the dividend {row.description!r}")
        if not credit:
            return Unknown(row.line, f"{row.description} (a negative dividend: a reversal)")
        return DividendEntry(row.line, row.at, row.isin, size, currency=currency, isin=row.isin,
                             note=row.product or None)
    if _has(text, _MONEY_MARKET):
        kind = "interest" if credit else "fee"
        return CashEntry(row.line, row.at, kind, size, currency, note=f"money market fund: {row.description}")
    if _has(text, _INTERNAL):
        return Skipped(row.line, "a transfer between the Degiro account and its flatexDEGIRO bank account: "
                                 "the same cash")
    if _has(text, _RESERVATION):
        return CashEntry(row.line, row.at, "deposit" if credit else "withdraw", size, currency,
                         note=f"{row.description} (released when the deposit arrives)")
    if _has(text, _WITHDRAWAL) and not credit:
        return CashEntry(row.line, row.at, "withdraw", size, currency, note=row.description)
    if _has(text, _DEPOSIT):
        return CashEntry(row.line, row.at, "deposit" if credit else "withdraw", size, currency, note=row.description)
    if _has(text, _INTEREST):
        return CashEntry(row.line, row.at, "interest" if credit else "fee", size, currency, note=row.description)
    if _has(text, _COURTESY) and credit:
        return CashEntry(row.line, row.at, "interest", size, currency, note=f"{row.description} (a credit from Degiro)")
    if _has(text, _OTHER_FEE) or _has(text, _TRADE_FEE):
        key = _ordinal(keys, f"{NAME}:{row.order_id}:fee") if row.order_id else None
        return CashEntry(row.line, row.at, "fee", size, currency, key=key, note=row.description, refund=credit)
    return Unknown(row.line, row.description)


def _trades(trades: list[tuple[_Row, _Trade]], fees: list[_Row], keys: Counter[str]) -> list[tuple[int, Item]]:
    """Trades, with a transaction fee of the same order and currency as their commission."""
    out: list[tuple[int, Item]] = []
    by_order = Counter(row.order_id for row, _ in trades if row.order_id)
    commission: dict[int, Decimal] = {}
    for fee in fees:
        amount = fee.amount
        assert amount is not None
        owner = next(((row, trade) for row, trade in trades if row.order_id == fee.order_id), None)
        if owner and by_order[fee.order_id] == 1 and owner[1].currency == fee.currency and amount < 0:
            commission[owner[0].line] = commission.get(owner[0].line, Decimal(0)) + positive(amount)
            out.append((fee.line, Skipped(fee.line, f"transaction fee: the commission of the trade on line {owner[0].line}")))
        else:  # a fee of its own, or (a credit) a fee refunded
            out.append((fee.line, CashEntry(fee.line, fee.at, "fee", positive(amount), fee.currency or None,
                                            key=_ordinal(keys, f"{NAME}:{fee.order_id}:fee"),
                                            note=f"{fee.description} (order {fee.order_id})", refund=amount > 0)))
    for row, trade in trades:
        prefix = trade.prefix.casefold()
        note = None
        if prefix and _has(prefix, _STOCK_DIVIDEND):
            note = "stock dividend"
        elif prefix:
            note = f"Degiro product change: {row.description}"
        out.append((row.line, TradeEntry(
            line=row.line, at=row.at, side=trade.side, symbol=trade.isin, quantity=trade.quantity, price=trade.price,
            commission=commission.get(row.line, Decimal(0)), currency=trade.currency,
            key=_ordinal(keys, f"{NAME}:{row.order_id}") if row.order_id else None,
            isin=trade.isin if ISIN_PATTERN.fullmatch(trade.isin) else None, note=note)))
    return out


def _conversions(legs: list[_Row], keys: Counter[str]) -> list[tuple[int, Item]]:
    """A currency conversion's two rows: one conversion (the debited row's amount sold, the
    credited row's bought), on the line of the row with the FX rate, which also gives the rate.

    Degiro writes the rate on the foreign currency's row as units of that currency per unit of
    the other (`FX 1,0613` on the USD row, the other row in EUR: 1 EUR = 1.0613 USD). The key
    is the pair's Order Id (`degiro:<id>:fx`), else the booking fingerprints it.
    """
    out: list[tuple[int, Item]] = []
    used: set[int] = set()
    for leg in legs:
        if leg.fx is None or leg.line in used:
            continue
        assert leg.amount is not None
        other = next((o for o in legs if o.fx is None and o.line not in used and o.order_id == leg.order_id
                      and o.amount is not None and (o.amount > 0) != (leg.amount > 0) and o.currency != leg.currency),
                     None)
        if other is None or not leg.fx:
            continue
        assert other.amount is not None
        used.update((leg.line, other.line))
        sold, bought = (other, leg) if other.amount < 0 else (leg, other)
        assert sold.amount is not None and bought.amount is not None
        key = _ordinal(keys, f"{NAME}:{leg.order_id}:fx") if leg.order_id else None
        out.append((leg.line, RateEntry(leg.line, leg.at, other.currency, leg.currency, leg.fx)))
        out.append((leg.line, ConversionEntry(leg.line, leg.at, positive(sold.amount), sold.currency,
                                              positive(bought.amount), bought.currency, key=key,
                                              note=f"{leg.description} / {other.description}")))
        out.append((other.line, Skipped(other.line, f"currency conversion: the {other.currency} side of the "
                                                    f"conversion on line {leg.line}")))
    for leg in legs:
        if leg.line not in used:
            out.append((leg.line, Skipped(leg.line, "currency conversion whose other side is not in the same "
                                                    "minute: not booked (the two sides make one conversion)")))
    return out


def _splits(splits: list[tuple[_Row, _Trade]]) -> list[tuple[int, Item]]:
    """A split as Degiro writes it: a sell of the old shares and a buy of the new, at no cash."""
    out: list[tuple[int, Item]] = []
    sells = [(row, trade) for row, trade in splits if trade.side == "sell"]
    buys = [(row, trade) for row, trade in splits if trade.side == "buy"]
    for sell_row, sell in sells:
        match = next(((row, trade) for row, trade in buys if trade.isin == sell.isin), None)
        ratio = Fraction(match[1].quantity) / Fraction(sell.quantity) if match and sell.quantity else None
        if match is None or ratio is None or ratio == 1 or ratio.numerator > 10**9 or ratio.denominator > 10**9:
            out.append((sell_row.line, Unknown(sell_row.line, sell_row.description)))
            continue
        buys.remove(match)
        out.append((sell_row.line, SplitEntry(sell_row.line, sell_row.at, sell.isin, ratio.numerator, ratio.denominator,
                                              isin=sell.isin if ISIN_PATTERN.fullmatch(sell.isin) else None)))
        out.append((match[0].line, Skipped(match[0].line, f"the new shares of the split on line {sell_row.line}")))
    for row, _ in buys:
        out.append((row.line, Unknown(row.line, row.description)))
    return out


FORMAT = DegiroFormat()
