"""The Degiro account statement parser (stocksbot/importers/degiro.py, docs/brokers.md "Degiro").

Pure: the fixture files in tests/fixtures/brokers/degiro follow Degiro's real layouts (blank
header cells, decimal commas next to decimal points, a wrapped Order Id, narrow no-break
spaces, GBX prices, several languages) with invented data.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from stocksbot.importers.degiro import FORMAT
from stocksbot.importers.entries import (
    CashEntry,
    ConversionEntry,
    DividendEntry,
    Problem,
    RateEntry,
    Skipped,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.ledger.inputs import parse_time
from tests.importers.eu_helpers import OTHER_HEADERS, by_line, fixture, parse

D = Decimal
NL_HEADER = "Datum,Tijd,Valutadatum,Product,ISIN,Omschrijving,FX,Mutatie,,Saldo,,Order Id\n"
APPLE_ORDER = "1a2b3c4d-0000-4000-8000-00000000aaaa"


def at(text: str):  # type: ignore[no-untyped-def]
    """Degiro writes local date and minute: read as local time (docs/ledger.md §1.5)."""
    return parse_time(text)


def test_detects_degiro_statements_in_both_languages() -> None:
    assert FORMAT.name == "degiro"
    assert FORMAT.detect(fixture("degiro", "account-nl.csv"))
    assert FORMAT.detect(fixture("degiro", "account-en.csv"))


@pytest.mark.parametrize("other", ["trading212/history-2020.csv", "trading212/history-2024.csv",
                                   "trading212/history-2025.csv", "revolut/statement.csv"])
def test_does_not_claim_the_other_brokers_files(other: str) -> None:
    folder, name = other.split("/")
    assert not FORMAT.detect(fixture(folder, name))


@pytest.mark.parametrize("name", sorted(OTHER_HEADERS))
def test_does_not_claim_other_headers(name: str) -> None:
    assert not FORMAT.detect(OTHER_HEADERS[name] + "\n")


def test_dutch_statement_entry_by_entry() -> None:
    items = parse(FORMAT, fixture("degiro", "account-nl.csv"))
    # Every line accounted for, in file order (a conversion's row gives its rate and the conversion).
    assert sorted({item.line for item in items}) == [item.line for item in items if not isinstance(item, RateEntry)]
    assert sorted({item.line for item in items}) == list(range(2, 36))
    lines = by_line(items)
    assert lines[2] == [Skipped(2, "no amount: an informational row")]
    assert isinstance(lines[3][0], Skipped) and "flatexDEGIRO bank account" in lines[3][0].reason
    assert lines[4] == [CashEntry(4, at("2024-03-04T07:10"), "fee", D("2.5"), "EUR",
                                  note="DEGIRO Aansluitingskosten 2024 (Nasdaq - NDQ)")]
    # The FX row of the order carries the rate: 1 EUR = 1.0825 USD; its EUR side is the pair. One
    # conversion: 833.72 EUR (line 7) sold for 902.50 USD (line 5), keyed by the order.
    assert lines[5] == [RateEntry(5, at("2024-03-01T16:40"), "EUR", "USD", D("1.0825")),
                        ConversionEntry(5, at("2024-03-01T16:40"), D("833.72"), "EUR", D("902.5"), "USD",
                                        key=f"degiro:{APPLE_ORDER}:fx", note="Valuta Creditering / Valuta Debitering")]
    assert lines[6] == [Skipped(6, "the rest of the Order Id of line 5 (Degiro wraps long ids)")]
    assert isinstance(lines[7][0], Skipped) and "the EUR side of the conversion on line 5" in lines[7][0].reason
    # The fee is in EUR, the trade in USD: a fee of its own, keyed by the (unwrapped) Order Id.
    assert lines[8] == [CashEntry(8, at("2024-03-01T16:40"), "fee", D("2"), "EUR", key=f"degiro:{APPLE_ORDER}:fee",
                                  note=f"DEGIRO Transactiekosten en/of kosten van derden (order {APPLE_ORDER})")]
    assert lines[9] == [TradeEntry(9, at("2024-03-01T16:40"), "buy", "US0378331005", D("5"), D("180.5"),
                                   currency="USD", key=f"degiro:{APPLE_ORDER}", isin="US0378331005")]
    assert lines[10] == [DividendEntry(10, at("2024-02-15T08:05"), "US0378331005", D("1.2"), currency="USD",
                                       isin="US0378331005", note="APPLE INC")]
    assert lines[11] == [TaxEntry(11, at("2024-02-15T08:05"), "US0378331005", D("0.18"), "USD",
                                  isin="US0378331005", note="Dividendbelasting")]
    # Same order, same currency: the fee is the trade's commission (decimal points in these rows).
    assert lines[12] == [Skipped(12, "transaction fee: the commission of the trade on line 13")]
    assert lines[13] == [TradeEntry(13, at("2024-02-12T11:30"), "buy", "IE00B3RBWM25", D("3"), D("110.42"),
                                    commission=D("1"), currency="EUR", key="degiro:5e6f7a8b-1111-4111-8111-00000000bbbb",
                                    isin="IE00B3RBWM25")]
    # "1.000,00": a thousands point and a decimal comma. The reservation and its release are flows.
    assert lines[14] == [CashEntry(14, at("2024-02-09T10:00"), "deposit", D("1000"), "EUR", note="iDEAL Deposit")]
    assert [(e.kind, e.amount) for e in lines[15] + lines[16] if isinstance(e, CashEntry)] == [
        ("withdraw", D("1000")), ("deposit", D("1000"))]
    assert lines[17] == [Skipped(17, "blank line")]
    assert lines[18] == [CashEntry(18, at("2024-02-01T06:30"), "interest", D("0.42"), "EUR",
                                   note="Flatex Interest Income")]
    # A split is a sell of the old shares and a buy of the new at no cash: 10 became 30.
    assert lines[19] == [SplitEntry(19, at("2024-01-20T14:02"), "NL0010273215", 3, 1, isin="NL0010273215")]
    assert lines[20] == [Skipped(20, "the new shares of the split on line 19")]
    assert lines[21] == [TradeEntry(21, at("2024-01-15T09:00"), "buy", "NL0013654783", D("4"), D("0"),
                                    currency="EUR", isin="NL0013654783", note="stock dividend")]
    change_buy, change_sell = lines[22][0], lines[23][0]
    assert isinstance(change_buy, TradeEntry) and isinstance(change_sell, TradeEntry)
    assert (change_sell.side, change_sell.symbol, change_sell.quantity, change_sell.price) == (
        "sell", "AU000000FBR4", D("500"), D("0.039"))
    assert (change_buy.side, change_buy.symbol, change_buy.quantity, change_buy.key) == ("buy", "AU0000005521", D("500"), None)
    assert change_buy.note and change_buy.note.startswith("Degiro product change")
    assert lines[24] == [TradeEntry(24, at("2024-01-02T09:15"), "sell", "CA0641491075", D("2"), D("63.97"),
                                    currency="USD", key="degiro:9c0d1e2f-2222-4222-8222-00000000cccc",
                                    isin="CA0641491075")]
    assert isinstance(lines[25][0], CashEntry) and lines[25][0].amount == D("0.5")
    # The sale's USD converted back: 127.94 USD (line 26) sold for 116.84 EUR (line 27).
    assert lines[26] == [RateEntry(26, at("2024-01-02T09:15"), "EUR", "USD", D("1.095")),
                         ConversionEntry(26, at("2024-01-02T09:15"), D("127.94"), "USD", D("116.84"), "EUR",
                                         key="degiro:9c0d1e2f-2222-4222-8222-00000000cccc:fx",
                                         note="Valuta Debitering / Valuta Creditering")]
    assert lines[27] == [Skipped(27, "currency conversion: the EUR side of the conversion on line 26")]
    assert lines[28] == [CashEntry(28, at("2020-07-15T00:00"), "fee", D("0.03"), "EUR",
                                   note="money market fund: Geldmarktfonds Koersverandering")]
    assert isinstance(lines[29][0], Skipped) and "money market fund" in lines[29][0].reason
    assert lines[30] == [CashEntry(30, at("2020-06-01T10:00"), "withdraw", D("50"), "EUR", note="Terugstorting")]
    assert lines[31] == [CashEntry(31, at("2020-05-26T20:25"), "interest", D("5"), "EUR",
                                   note="DEGIRO Verrekening Promotie (a credit from Degiro)")]
    assert lines[32] == [CashEntry(32, at("2020-05-20T09:00"), "deposit", D("100"), "EUR", note="Storting")]
    assert lines[33] == [Unknown(33, "Rekeningoverzicht correctie")]
    assert lines[34] == [TradeEntry(34, at("2021-02-16T14:42"), "buy", "AU000000FBR4", D("500"), D("0.039"),
                                    currency="EUR", key="degiro:1bb91f96-4444-4444-8444-00000000eeee",
                                    isin="AU000000FBR4")]
    assert lines[35] == [TradeEntry(35, at("2021-08-10T16:18"), "buy", "CA0641491075", D("2"), D("50"),
                                    currency="USD", key="degiro:4046d050-5555-4555-8555-00000000ffff",
                                    isin="CA0641491075")]


def test_english_statement_entry_by_entry() -> None:
    lines = by_line(parse(FORMAT, fixture("degiro", "account-en.csv")))
    assert sorted(lines) == list(range(2, 18))
    aviva = "86c1f17b-8a74-4126-af39-61049bcb6e33"
    # GBX: 496.5 pence is 4.965 GBP; the GBP fee of the same order is its commission.
    assert lines[2] == [TradeEntry(2, at("2024-04-02T09:00"), "sell", "GB00BPQY8M80", D("40"), D("4.965"),
                                   commission=D("1.75"), currency="GBP", key=f"degiro:{aviva}", isin="GB00BPQY8M80")]
    assert lines[3] == [Skipped(3, "transaction fee: the commission of the trade on line 2")]
    assert lines[4] == [DividendEntry(4, at("2024-03-01T07:40"), "US7561091049", D("3.5"), currency="USD",
                                      isin="US7561091049", note="REALTY INCOME CORP")]
    assert lines[5] == [TaxEntry(5, at("2024-03-01T07:40"), "US7561091049", D("0.53"), "USD", isin="US7561091049",
                                 note="Dividend Tax")]
    assert lines[6] == [TaxEntry(6, at("2024-03-01T07:41"), "US7561091049", D("0.1"), "USD", isin="US7561091049",
                                 refund=True, note="Dividend Tax")]
    # Degiro's automatic conversion of the USD left: 12.75 USD sold for 12.28 EUR (no Order ID: no key).
    assert lines[8] == [RateEntry(8, at("2025-01-01T06:46"), "EUR", "USD", D("1.0379")),
                        ConversionEntry(8, at("2025-01-01T06:46"), D("12.75"), "USD", D("12.28"), "EUR",
                                        note="FX Debit / FX Credit")]
    assert isinstance(lines[7][0], Skipped) and "line 8" in lines[7][0].reason
    assert lines[9] == [CashEntry(9, at("2024-02-05T07:18"), "fee", D("2.5"), "EUR",
                                  note="Giro Exchange Connection Fee 2024")]
    assert lines[10] == [CashEntry(10, at("2024-08-23T12:21"), "interest", D("0.61"), "EUR",
                                   note="DEGIRO courtesy (a credit from Degiro)")]
    assert lines[11] == [CashEntry(11, at("2024-01-10T10:00"), "deposit", D("500"), "EUR", note="Deposit")]
    assert lines[12] == [CashEntry(12, at("2024-01-11T10:00"), "withdraw", D("100"), "EUR", note="Withdrawal")]
    # Two fills of one order: the second key gets #2; the EUR fee of a USD order stands alone.
    order = "3f4e5d6c-3333-4333-8333-00000000dddd"
    assert lines[13] == [TradeEntry(13, at("2024-01-12T15:31"), "buy", "US5949181045", D("2"), D("370.6"),
                                    currency="USD", key=f"degiro:{order}", isin="US5949181045")]
    assert lines[14] == [TradeEntry(14, at("2024-01-12T15:31"), "buy", "US5949181045", D("1"), D("370.61"),
                                    currency="USD", key=f"degiro:{order}#2", isin="US5949181045")]
    assert lines[15] == [CashEntry(15, at("2024-01-12T15:31"), "fee", D("2"), "EUR", key=f"degiro:{order}:fee",
                                   note=f"DEGIRO Transaction and/or third party fees (order {order})")]
    assert lines[16] == [Unknown(16, "Capital Return")]
    assert lines[17] == [TradeEntry(17, at("2024-01-02T09:00"), "buy", "GB00BPQY8M80", D("40"), D("4.2"),
                                    currency="GBP", key="degiro:7a7a7a7a-6666-4666-8666-000000000001",
                                    isin="GB00BPQY8M80")]


@pytest.mark.parametrize("description, side, quantity, price, currency", [
    ("Koop 1 @ 33,9 USD", "buy", "1", "33.9", "USD"),
    ("Compra 6 ISHARES MSCI WOR A@49,785 EUR (IE00B4L5Y983)", "buy", "6", "49.785", "EUR"),
    ("Achat 6 QT GROUP OYJ@79,96 EUR (FI4000198031)", "buy", "6", "79.96", "EUR"),
    ("Vente 1\u202f046,3825 @ 0,9854 EUR", "sell", "1046.3825", "0.9854", "EUR"),
    ("Kauf 10 zu je 5,2 EUR", "buy", "10", "5.2", "EUR"),
    ("Venta 3 ACME@1.234,5 USD (US0000000001)", "sell", "3", "1234.5", "USD"),
])
def test_trades_in_every_language(description: str, side: str, quantity: str, price: str, currency: str) -> None:
    text = NL_HEADER + f'01-02-2024,10:00,01-02-2024,ACME,US0000000001,"{description}",,{currency},"-1,00",{currency},0,o-1\n'
    (trade,) = parse(FORMAT, text)
    assert isinstance(trade, TradeEntry)
    assert (trade.side, trade.quantity, trade.price, trade.currency, trade.key) == (
        side, D(quantity), D(price), currency, "degiro:o-1")


def test_bad_input_is_one_problem_per_row() -> None:
    assert parse(FORMAT, "") == [Problem(1, "the file is empty: it should start with the broker's header line")]
    assert parse(FORMAT, NL_HEADER) == []
    items = parse(FORMAT, NL_HEADER
                  + "2024-02-01,10:00,01-02-2024,,,Storting,,EUR,\"5,00\",EUR,0,\n"  # an ISO date Degiro never writes
                  + "01-02-2024,10:00,01-02-2024,,,Storting,,EUR,\"5,0x\",EUR,0,\n"  # a bad number
                  + "01-02-2024,10:00\n"  # truncated: no description, no amount
                  + "01-02-2024,10:05,01-02-2024,ACME,,\"Koop 1 @ 2 EUR\",,EUR,-2,EUR,0,o-2\n")  # no ISIN
    assert [type(item).__name__ for item in items] == ["Problem", "Problem", "Skipped", "Problem"]
    assert items[0] == Problem(2, "date '2024-02-01' is not DD-MM-YYYY, the form Degiro writes")
    assert items[1] == Problem(3, "amount '5,0x' is not a number")
    assert items[2] == Skipped(4, "no amount: an informational row")
    assert items[3] == Problem(5, "no ISIN for the trade 'Koop 1 @ 2 EUR'")


def test_a_header_without_the_needed_columns_is_a_problem_on_line_1() -> None:
    (problem,) = parse(FORMAT, "Datum,Tijd,Product,ISIN\n01-02-2024,10:00,X,Y\n")
    assert isinstance(problem, Problem) and problem.line == 1 and "description, change" in problem.message


def test_map_renames_one_column_on_top_of_the_format() -> None:
    text = "Datum,Tijd,Valutadatum,Product,ISIN,Text,FX,Mutatie,,Saldo,,Order Id\n" \
           "01-02-2024,10:00,01-02-2024,,,Storting,,EUR,\"5,00\",EUR,0,\n"
    assert isinstance(parse(FORMAT, text)[0], Problem)
    (deposit,) = parse(FORMAT, text, columns={"description": "Text"})
    assert deposit == CashEntry(2, at("2024-02-01T10:00"), "deposit", D("5"), "EUR", note="Storting")


def test_negative_dividend_is_unknown_and_a_fee_refund_a_credit_of_the_fee() -> None:
    items = parse(FORMAT, NL_HEADER
                  + "01-02-2024,10:00,01-02-2024,ACME,US0000000001,Dividend,,USD,\"-1,00\",USD,0,\n"
                  + "01-02-2024,10:01,01-02-2024,,,DEGIRO Aansluitingskosten 2024,,EUR,\"2,50\",EUR,0,\n"
                  + "01-02-2024,10:02,01-02-2024,ACME,US0000000001,DEGIRO Transactiekosten en/of kosten van derden,,"
                    "EUR,\"0,50\",EUR,0,o-9\n")
    assert items == [Unknown(2, "Dividend (a negative dividend: a reversal)"),
                     CashEntry(3, at("2024-02-01T10:01"), "fee", D("2.5"), "EUR",
                               note="DEGIRO Aansluitingskosten 2024", refund=True),
                     CashEntry(4, at("2024-02-01T10:02"), "fee", D("0.5"), "EUR", key="degiro:o-9:fee",
                               note="DEGIRO Transactiekosten en/of kosten van derden (order o-9)", refund=True)]


def test_map_names_the_amount_column_when_it_has_a_header() -> None:
    text = "Datum,Tijd,Valutadatum,Product,ISIN,Omschrijving,FX,Mutatie,Bedrag,Saldo,,Order Id\n" \
           "01-02-2024,10:00,01-02-2024,,,Storting,,EUR,\"5,00\",EUR,0,\n"
    (problem,) = parse(FORMAT, text)
    assert isinstance(problem, Problem) and problem.line == 1 and "blank-headed amount column" in problem.message
    (deposit,) = parse(FORMAT, text, columns={"amount": "Bedrag"})
    assert deposit == CashEntry(2, at("2024-02-01T10:00"), "deposit", D("5"), "EUR", note="Storting")


@pytest.mark.parametrize("debit, credit", [
    ("Valuta Debitering", "Valuta Creditering"),
    ("FX Debit", "FX Credit"),
    ("Retirada Cambio de Divisa", "Ingreso Cambio de Divisa"),
    ("Levantamento de divisa", "CrÃ©dito de divisa"),  # the mojibake of a real export
    ("Währungswechsel (Ausbuchung)", "Währungswechsel (Einbuchung)"),
])
def test_conversion_sides_in_every_language_give_one_rate_and_one_conversion(debit: str, credit: str) -> None:
    items = parse(FORMAT, NL_HEADER
                  + f'19-06-2024,06:53,18-06-2024,,,{credit},,EUR,0.79,EUR,319.39,\n'
                  + f'19-06-2024,06:53,18-06-2024,,,{debit},1.0767,USD,-0.85,USD,0.00,\n')
    assert items[1] == RateEntry(3, at("2024-06-19T06:53"), "EUR", "USD", D("1.0767"))
    assert items[2] == ConversionEntry(3, at("2024-06-19T06:53"), D("0.85"), "USD", D("0.79"), "EUR",
                                       note=f"{debit} / {credit}")
    assert isinstance(items[0], Skipped) and "the EUR side of the conversion on line 3" in items[0].reason
