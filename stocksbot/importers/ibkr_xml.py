"""IBKR Flex XML statement (`--from ibkr-xml`): trades, cash transactions, splits and FX rates.

The `ibflex` package reads each element into typed values (exact decimals, IBKR's enums,
its currency check); this module reads the document with its line numbers, so each
element's entries and problems say which line they came from, and an element ibflex
refuses is one `Problem` instead of a failed file. What each element becomes is in
docs/brokers.md (IBKR Flex XML).

IBKR writes the same activity at several levels of detail: `levelOfDetail="SUMMARY"` cash
and corporate-action rows total the `DETAIL` rows, `ORDER` trades total their `EXECUTION`
rows, and `CLOSED_LOT` rows repeat the lots a sale closed. The detailed rows are the records;
the others are reported as skipped when the detailed ones are there.
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Iterator
from xml.parsers import expat

from stocksbot.errors import StocksbotError
from stocksbot.importers._ibkr_cash import FLEX_CASH_TYPES, cash_items, forex_items, is_forex_symbol
from stocksbot.importers._ibkr_reading import (
    KEY_PREFIX,
    magnitude,
    one_split_each,
    pair_cancellations,
    pair_dividend_reversals,
    read_date,
    read_moment,
    symbol_from_description,
)
from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    Item,
    ParseOptions,
    Problem,
    RateEntry,
    Skipped,
    SplitEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.reading import RowError, is_empty

#: Containers of a <FlexStatement> whose elements become records.
IMPORTED = ("Trades", "CashTransactions", "CorporateActions", "ConversionRates")
#: The attributes each element is read for: the others (order ids, P&L, notes codes, ...) are
#: left out before ibflex converts the element, so a value stocksbot does not use (a notes code
#: newer than ibflex's list) cannot make a record unreadable.
USED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "Trade": frozenset({"buySell", "transactionType", "assetCategory", "currency", "symbol", "isin", "tradeID",
                        "origTradeID", "tradeDate", "tradeTime", "dateTime", "quantity", "tradePrice", "ibCommission",
                        "ibCommissionCurrency", "taxes", "multiplier", "levelOfDetail"}),
    "CashTransaction": frozenset({"type", "currency", "symbol", "isin", "description", "amount", "dateTime", "settleDate",
                                  "reportDate", "exDate", "transactionID", "levelOfDetail"}),
    "CorporateAction": frozenset({"type", "currency", "symbol", "isin", "description", "actionDescription", "quantity",
                                  "dateTime", "reportDate", "transactionID", "actionID", "levelOfDetail"}),
    "ConversionRate": frozenset({"reportDate", "fromCurrency", "toCurrency", "rate"}),
}
_SPLIT = re.compile(r"\bSPLIT\s+(\d+)\s+FOR\s+(\d+)\b", re.IGNORECASE)
_SUMMARY_LEVELS = {"SYMBOL_SUMMARY", "ASSET_SUMMARY"}


def _ibflex() -> Any:
    """ibflex's parser module, imported on first use (the other formats do not need it)."""
    try:
        from ibflex import parser
    except ImportError as error:  # ibflex 1.x imports `requests` (its "web" extra) on import
        raise StocksbotError(f"the ibkr-xml format needs the ibflex package with its web extra: "
                             f"pip install 'ibflex[web]' ({error})") from None
    return parser


def _read_tree(text: str) -> tuple[ET.Element, dict[ET.Element, int]]:
    """The document as ElementTree elements, with the line of each start tag."""
    reader = expat.ParserCreate()
    lines: dict[ET.Element, int] = {}
    stack: list[ET.Element] = []
    roots: list[ET.Element] = []

    def start(tag: str, attributes: dict[str, str]) -> None:
        element = ET.Element(tag, attributes)
        lines[element] = reader.CurrentLineNumber
        (stack[-1].append(element) if stack else roots.append(element))
        stack.append(element)

    def end(tag: str) -> None:
        stack.pop()

    reader.StartElementHandler = start
    reader.EndElementHandler = end
    reader.Parse(text, True)
    return roots[0], lines


class IbkrFlexXml:
    """The IBKR Flex XML statement (docs/brokers.md, IBKR Flex XML)."""

    name = "ibkr-xml"
    title = "IBKR Flex XML statement"

    def detect(self, head: str) -> bool:
        """A `<FlexQueryResponse` root near the top of the file."""
        return "<FlexQueryResponse" in head[:2048]

    def parse(self, lines: Iterable[str], options: ParseOptions) -> Iterator[Item]:
        """The statement's elements as entries, skips, unknown actions and problems, in file order."""
        text = "\n".join(line.rstrip("\r\n") for line in lines).lstrip("\ufeff")
        if not text.strip():
            yield Problem(1, "the file is empty: not an IBKR Flex XML statement")
            return
        if not text.lstrip().startswith("<"):
            yield Problem(1, "not an IBKR Flex XML statement: the file is not XML (for a CSV export use --from ibkr)")
            return
        try:
            root, where = _read_tree(text)
        except expat.ExpatError as error:
            yield Problem(error.lineno, f"not well-formed XML: {expat.ErrorString(error.code)}")
            return
        if root.tag != "FlexQueryResponse":
            yield Problem(where[root], f"not an IBKR Flex XML statement: the root element is <{root.tag}>, "
                                       "not <FlexQueryResponse>")
            return
        parser = _ibflex()
        items: list[Item] = []
        reversals: list[tuple[DividendEntry, str]] = []
        statements = [child for child in root if child.tag == "FlexStatements"]
        for statements_element in statements:
            for statement in statements_element:
                for container in statement:
                    if container.tag in IMPORTED:
                        items.extend(_container(container, where, parser, reversals))
                    elif container.tag == "Transfers":  # shares or cash moved in or out: not imported yet
                        items.extend(Unknown(where[element], f"<Transfer> {element.get('type') or ''} "
                                                             f"{element.get('direction') or ''} of "
                                                             f"{element.get('symbol') or 'cash'}".replace("  ", " "))
                                     for element in container)
                    else:
                        items.extend(Skipped(where[element], f"<{element.tag}>: information, not a record")
                                     for element in _leaves(container))
        if not statements:
            items.append(Problem(where[root], "no <FlexStatements> in the file"))
        yield from one_split_each(pair_dividend_reversals(items, reversals))


def _leaves(container: ET.Element) -> Iterator[ET.Element]:
    """The data elements of a container (an element with attributes), or the container itself."""
    if container.attrib or not len(container):
        yield container
        return
    for child in container:
        yield from _leaves(child)


def _container(container: ET.Element, where: dict[ET.Element, int], parser: Any,
               reversals: list[tuple[DividendEntry, str]]) -> list[Item]:
    elements = list(container)
    cancels: list[tuple[TradeEntry, str | None]] = []
    levels = {(element.get("levelOfDetail") or "").upper() for element in elements}
    has_executions = "EXECUTION" in levels
    has_detail = "DETAIL" in levels
    items: list[Item] = []
    for element in elements:
        line = where[element]
        level = (element.get("levelOfDetail") or "").upper()
        if element.tag in ("Lot",) or level == "CLOSED_LOT":
            items.append(Skipped(line, f"<{element.tag}> closed lot: a lot a sale closed, not a trade"))
            continue
        if (element.tag == "Order" or level == "ORDER") and has_executions:
            items.append(Skipped(line, "ORDER row: the total of its EXECUTION rows"))
            continue
        if level == "SUMMARY" and has_detail:
            items.append(Skipped(line, "SUMMARY row: the total of its DETAIL rows"))
            continue
        if level in _SUMMARY_LEVELS or element.tag in ("SymbolSummary", "AssetSummary"):
            items.append(Skipped(line, f"<{element.tag}> {level or 'summary'} row: a summary of trades"))
            continue
        raw_type = (element.get("type") or "").strip()
        if element.tag == "CashTransaction" and FLEX_CASH_TYPES.get(raw_type.upper()) is None:
            items.append(Unknown(line, f"cash transaction type {raw_type!r}"))  # before ibflex refuses the enum
            continue
        if element.tag == "CorporateAction" and raw_type not in ("FS", "RS"):
            items.append(Unknown(line, f"corporate action {raw_type or '?'}: {(element.get('description') or '').strip()}"))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ibflex warns about attributes it does not know
                used = USED_ATTRIBUTES.get(element.tag)
                value = parser.parse_data_element(element if used is None else ET.Element(
                    element.tag, {name: text for name, text in element.attrib.items() if name in used}))
        except parser.FlexParserError as error:
            items.append(Problem(line, f"<{element.tag}>: {error}"))
            continue
        try:
            if element.tag == "Trade":
                items.extend(_trade(line, element, value, cancels))
            elif element.tag == "CashTransaction":
                items.extend(_cash(line, element, value, reversals))
            elif element.tag == "CorporateAction":
                items.extend(_corporate_action(line, element, value))
            elif element.tag == "ConversionRate":
                items.extend(_rate(line, element, value))
            else:
                items.append(Skipped(line, f"<{element.tag}>: information, not a record"))
        except RowError as error:
            items.append(Problem(line, f"<{element.tag}>: {error}"))
    return pair_cancellations(items, cancels)


def _when(element: ET.Element, *names: str) -> datetime:
    """The first of the named date attributes the element has (IBKR's own format, New York time)."""
    for name in names:
        text = element.get(name)
        if not is_empty(text):
            if name == "tradeDate" and not is_empty(element.get("tradeTime")):
                return read_moment(f"{text};{element.get('tradeTime')}", name)
            return read_moment(text, name)
    raise RowError(f"none of {', '.join(names)} is given")


def _key(value: str | None) -> str | None:
    return None if is_empty(value) else KEY_PREFIX + (value or "").strip()


def _symbol(value: Any) -> tuple[str, str | None]:
    symbol = (value.symbol or "").strip()
    isin = (value.isin or "").strip().upper() or None
    if symbol:
        return re.sub(r"\s+", ".", symbol).upper(), isin
    if isin:
        return isin, isin
    raise RowError("names no symbol and no isin")


def _trade(line: int, element: ET.Element, trade: Any, cancels: list[tuple[TradeEntry, str | None]]) -> list[Item]:
    side_value = trade.buySell.value if trade.buySell is not None else ""
    cancelled = "(Ca.)" in side_value or (trade.transactionType is not None
                                          and trade.transactionType.value in ("TradeCancel", "FracShareCancel"))
    side_value = side_value.replace("(Ca.)", "").strip()
    if side_value not in ("BUY", "SELL"):
        return [Unknown(line, f"buySell {side_value!r}")]
    at = _when(element, "dateTime", "tradeDate")
    key = _key(trade.tradeID)
    commission_value: Decimal = trade.ibCommission or Decimal(0)
    commission_currency = trade.ibCommissionCurrency or trade.currency
    asset = trade.assetCategory.value if trade.assetCategory is not None else ""
    if asset == "CASH" or is_forex_symbol(trade.symbol):
        if cancelled:
            return [Skipped(line, "cancelled forex trade")]
        if not is_forex_symbol(trade.symbol):
            return [Unknown(line, f"forex trade of {trade.symbol!r}")]
        base, quote = trade.symbol.upper().split(".")
        if not trade.quantity:
            raise RowError("quantity is 0 or missing")
        items = forex_items(line=line, at=at, side=side_value.lower(), base=base, quote=quote, quantity=trade.quantity,
                            price=trade.tradePrice or Decimal(0),
                            commission=magnitude(commission_value) if commission_value < 0 else Decimal(0),
                            commission_currency=commission_currency, key=key)
        if commission_value > 0:
            items.append(CashEntry(line, at, "fee", commission_value, commission_currency, refund=True,
                                   key=None if key is None else key + ":rebate", note="IBKR commission rebate"))
        return items
    if not trade.quantity:
        raise RowError("quantity is 0 or missing")
    if trade.tradePrice is None or trade.tradePrice < 0:
        raise RowError("tradePrice is missing or negative")
    symbol, isin = _symbol(trade)
    price: Decimal = trade.tradePrice
    note = None
    if trade.multiplier not in (None, 0, 1):
        price = price * trade.multiplier
        note = f"price x multiplier {trade.multiplier}"
    extra: list[Item] = []
    commission = magnitude(commission_value) if commission_value < 0 else Decimal(0)
    if cancelled:
        commission, extra = Decimal(0), []
    elif commission_value > 0:
        extra.append(CashEntry(line, at, "fee", commission_value, commission_currency, refund=True,
                               key=None if key is None else key + ":rebate", note="IBKR commission rebate"))
    elif commission and commission_currency and trade.currency and commission_currency != trade.currency:
        extra.append(CashEntry(line, at, "fee", commission, commission_currency,
                               key=None if key is None else key + ":commission",
                               note=f"IBKR commission of a trade in {trade.currency}"))
        commission = Decimal(0)
    entry = TradeEntry(
        line=line, at=at, side=side_value.lower(), symbol=symbol, quantity=magnitude(trade.quantity), price=price,
        commission=commission, fees=magnitude(trade.taxes or Decimal(0)), currency=trade.currency, key=key, isin=isin,
        note=note,
    )
    if cancelled:
        cancels.append((entry, _key(trade.origTradeID)))
        return []
    return [entry, *extra]


def _cash(line: int, element: ET.Element, cash: Any, reversals: list[tuple[DividendEntry, str]]) -> list[Item]:
    action = cash.type.value if cash.type is not None else (element.get("type") or "")
    category = FLEX_CASH_TYPES.get(action.upper())
    if category is None:
        return [Unknown(line, f"cash transaction type {action!r}")]
    if cash.amount is None:
        raise RowError("amount is missing")
    at = _when(element, "dateTime", "settleDate", "reportDate")
    ex_text = element.get("exDate")
    ex_date = None if is_empty(ex_text) else read_date((ex_text or "").split(";")[0], "exDate")
    return cash_items(line=line, category=category, action=action, at=at, amount=cash.amount, currency=cash.currency,
                      symbol=cash.symbol, isin=cash.isin, description=(cash.description or "").strip(),
                      key=_key(cash.transactionID), ex_date=ex_date, reversals=reversals)


def _corporate_action(line: int, element: ET.Element, action: Any) -> list[Item]:
    """A split (`type="FS"` or `"RS"`, "SPLIT 4 FOR 1" in its description); other actions are unknown."""
    kind = action.type.value if action.type is not None else (element.get("type") or "")
    description = (action.description or action.actionDescription or "").strip()
    if kind not in ("FS", "RS"):
        return [Unknown(line, f"corporate action {kind or '?'}: {description}")]
    at = read_date(re.split(r"[;, ]", (element.get("dateTime") or element.get("reportDate") or "").strip())[0],
                   "dateTime")
    symbol, isin = _symbol(action)
    if symbol.endswith(".OLD"):
        return [Skipped(line, "the old shares' row of a split (the new shares' row is the split)")]
    if isin is None:
        named = symbol_from_description(description)
        isin = named[1] if named else None
    match = _SPLIT.search(description)
    key = _key(action.transactionID) or _key(action.actionID)
    if match is not None and match[1] != match[2] and int(match[1]) and int(match[2]):
        return [SplitEntry(line=line, at=at, symbol=symbol, numerator=int(match[1]), denominator=int(match[2]),
                           key=key, isin=isin)]
    if kind == "FS" and action.quantity and action.quantity > 0:
        return [SplitEntry(line=line, at=at, symbol=symbol, added=action.quantity, key=key, isin=isin)]
    return [Unknown(line, f"split without a ratio: {description}")]


def _rate(line: int, element: ET.Element, rate: Any) -> list[Item]:
    at = read_date(element.get("reportDate"), "reportDate")
    if not rate.fromCurrency or not rate.toCurrency or rate.rate is None:
        raise RowError("fromCurrency, toCurrency and rate must all be given")
    if rate.fromCurrency == rate.toCurrency:
        return [Skipped(line, f"rate of {rate.fromCurrency} to itself")]
    if rate.rate <= 0:
        return [Skipped(line, f"no {rate.fromCurrency}/{rate.toCurrency} rate that day (IBKR writes {rate.rate})")]
    return [RateEntry(line, at, rate.fromCurrency, rate.toCurrency, rate.rate)]


FORMAT = IbkrFlexXml()
