"""The Schwab transactions CSV parser (stocksbot/importers/schwab.py, docs/brokers.md §12).

Pure: the fixture files under tests/fixtures/brokers/schwab/ follow Schwab's layouts (a title
line, every cell quoted, "as of" dates, `"-$1,259.59"` amounts, a `Transactions Total` row; and
the other column order, unquoted, no final newline) with invented data.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from stocksbot.importers.entries import (
    CashEntry,
    DividendEntry,
    Item,
    ParseOptions,
    Problem,
    Skipped,
    SplitEntry,
    TaxEntry,
    TradeEntry,
    Unknown,
)
from stocksbot.importers.schwab import FORMAT
from stocksbot.ledger.inputs import parse_time

D = Decimal
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "brokers"
HEADER = '"Date","Action","Symbol","Description","Quantity","Price","Fees & Comm","Amount"'
OTHER_HEADERS = {
    "stocksbot": "executed_at,side,symbol,quantity,price,commission,fees,strategy,external_id,note",
    "ibkr": '"Buy/Sell","TradeDate","ISIN","Quantity","TradePrice","TradeMoney","CurrencyPrimary","IBCommission"',
    "ibkr-activity": "Transaction History,Header,Date,Account,Description,Transaction Type,Symbol,Quantity,Price,"
                     "Gross Amount ,Commission,Net Amount",
    "degiro": "Datum,Tijd,Valutadatum,Product,ISIN,Omschrijving,FX,Mutatie,,Saldo,,Order Id",
    "trading212": "Action,Time,ISIN,Ticker,Name,No. of shares,Price / share,Currency (Price / share),Exchange rate,"
                  "Result,Currency (Result),Total,Currency (Total),Notes,ID",
    "revolut": "Date,Ticker,Type,Quantity,Price per share,Total Amount,Currency,FX Rate",
    "raw": "date,action,symbol,quantity,price,fees,currency",
}


def day(text: str) -> datetime:
    return parse_time(text)


def parse(text: str, **options: object) -> list[Item]:
    return list(FORMAT.parse(text.splitlines(keepends=True), ParseOptions(**options)))  # type: ignore[arg-type]


def parse_file(name: str, **options: object) -> list[Item]:
    return parse((FIXTURES / "schwab" / name).read_text(encoding="utf-8"), **options)


def by_line(items: list[Item]) -> dict[int, list[Item]]:
    found: dict[int, list[Item]] = {}
    for item in items:
        found.setdefault(item.line, []).append(item)
    return found


def cash_effect(item: Item) -> Decimal:
    """What an entry does to cash under docs/ledger.md §13.1, to compare with the statement's Amount."""
    if isinstance(item, TradeEntry):
        value = item.quantity * item.price
        return -(value + item.commission + item.fees) if item.side == "buy" else value - item.commission - item.fees
    if isinstance(item, DividendEntry):
        return item.gross - item.tax - item.fee
    if isinstance(item, TaxEntry):
        return item.amount if item.refund else -item.amount
    if isinstance(item, CashEntry):
        return item.amount if item.kind in ("deposit", "interest") else -item.amount
    return D(0)


# --- detection ------------------------------------------------------------------------------


def test_detects_both_schwab_layouts() -> None:
    for name in ("transactions.csv", "price-first.csv"):
        assert FORMAT.detect((FIXTURES / "schwab" / name).read_text(encoding="utf-8")[:4096]), name
    assert (FORMAT.name, FORMAT.title) == ("schwab", "Charles Schwab transactions CSV")


def test_does_not_claim_other_brokers_or_stocksbots_own_csv() -> None:
    for broker, header in OTHER_HEADERS.items():
        assert not FORMAT.detect(header + "\n"), broker
    for path in sorted((FIXTURES / "fidelity").glob("*.csv")):
        assert not FORMAT.detect(path.read_text(encoding="utf-8-sig")[:4096]), path.name
    assert not FORMAT.detect("")


# --- the quoted layout with a title line ------------------------------------------------------


def test_trades_keep_the_statement_price_and_reconcile_the_amount() -> None:
    lines = by_line(parse_file("transactions.csv"))
    # 100 x 120.1234 + 0.65 = 12,012.99: the Amount agrees, nothing added.
    assert lines[32] == [TradeEntry(32, day("2023-01-05"), "buy", "ACME", D("100"), D("120.1234"), D("0.65"), D("0"),
                                    "USD", note="Schwab Buy: ACME CORP")]
    # 40 x 130.5555 - 0.70 = 5,221.52 but the account got 5,221.55: the price shown was rounded
    # down, so the price comes from the Amount (5,222.25 / 40, exact).
    assert lines[14] == [TradeEntry(14, day("2023-08-01"), "sell", "ACME", D("40"), D("130.55625"), D("0.70"),
                                    D("0"), "USD", note="Schwab Sell: ACME CORP")]
    # "1,000" is a thousand shares.
    (zed,) = lines[29]
    assert isinstance(zed, TradeEntry) and (zed.symbol, zed.quantity, zed.price) == ("ZED", D("1000"), D("1.50"))


def test_drip_is_a_dividend_and_a_buy_whose_rounding_is_a_fee() -> None:
    lines = by_line(parse_file("transactions.csv"))
    assert lines[25] == [DividendEntry(25, day("2023-03-01"), "VTIX", D("30.00"), currency="USD",
                                       note="Schwab Reinvest Dividend: VTIX TOTAL MARKET ETF")]
    # 0.1234 x 243.10 = 29.99854; the account paid 30.00: the 0.00146 is kept as a fee.
    assert lines[24] == [TradeEntry(24, day("2023-03-01"), "buy", "VTIX", D("0.1234"), D("243.10"), D("0"),
                                    D("0.00146"), "USD",
                                    note="Schwab Reinvest Shares: VTIX TOTAL MARKET ETF; dividend reinvestment")]
    (qualified,) = lines[16]
    assert isinstance(qualified, DividendEntry) and (qualified.symbol, qualified.gross) == ("BOLT", D("40.00"))
    (bought,) = lines[15]
    assert isinstance(bought, TradeEntry) and (bought.side, bought.quantity, bought.price, bought.fees) == (
        "buy", D("2"), D("20.00"), D("0"))


def test_dividends_taxes_interest_fees_and_money_moves() -> None:
    lines = by_line(parse_file("transactions.csv"))
    assert lines[27] == [DividendEntry(27, day("2023-02-15"), "ACME", D("55.00"), currency="USD",
                                       note="Schwab Cash Dividend: ACME CORP SPONSORED ADR")]
    assert lines[26] == [TaxEntry(26, day("2023-02-15"), "ACME", D("8.25"), "USD",
                                  note="Schwab Foreign Tax Paid: ACME CORP SPONSORED ADR")]
    # A dividend row with no symbol (a sweep fund's payout) is interest on the cash.
    assert lines[18] == [CashEntry(18, day("2023-06-01"), "interest", D("7.06"), "USD",
                                   note="Schwab Non-Qualified Div: TDA TRAN - NON-TAXABLE DIVIDENDS (CMF); "
                                        "no symbol: booked as interest")]
    # "$-0.88": the minus after the dollar sign; a withholding with no symbol is a cash tax.
    assert lines[19] == [CashEntry(19, day("2023-05-02"), "tax", D("0.88"), "USD",
                                   note="Schwab NRA Tax Adj: SCHWAB1 INT 04/01-04/30")]
    assert lines[20] == [CashEntry(20, day("2023-05-02"), "fee", D("0.50"), "USD",
                                   note="Schwab ADR Mgmt Fee: ACME CORP SPONSORED ADR; symbol ACME")]
    kinds = {line: (item.kind, item.amount) for line, (item,) in lines.items() if isinstance(item, CashEntry)}
    assert kinds[21] == ("fee", D("25.00"))
    assert kinds[22] == ("interest", D("1.02"))
    assert kinds[23] == ("interest", D("12.34"))
    assert kinds[6] == ("withdraw", D("1000.00"))
    assert kinds[33] == ("deposit", D("50000.00"))


def test_splits_stock_dividends_and_shares_given() -> None:
    lines = by_line(parse_file("transactions.csv"))
    # "06/12/2023 as of 06/09/2023": a split applies from the day the shares trade split, the posting date.
    assert lines[17] == [SplitEntry(17, day("2023-06-12"), "BOLT", added=D("150"))]
    assert lines[13] == [SplitEntry(13, day("2023-08-15"), "BOLT", added=D("4"))]
    # Other "as of" rows take effect on the as-of date.
    assert lines[8] == [TradeEntry(8, day("2023-10-18"), "buy", "ACME", D("25"), D("0"), currency="USD",
                                   note="Schwab Stock Plan Activity: ACME CORP; no price in the statement: cost 0")]
    assert lines[7] == [TradeEntry(7, day("2023-11-01"), "buy", "NEWCO", D("30"), D("0"), currency="USD",
                                   note="Schwab Spin-off: NEWCO SPINCO INC; no price in the statement: cost 0")]


def test_pairs_become_one_entry_and_a_skip() -> None:
    lines = by_line(parse_file("transactions.csv"))
    # 1,000 old shares (by CUSIP) into 100 new: 1:10.
    assert lines[11] == [SplitEntry(11, day("2023-09-05"), "ZED", numerator=1, denominator=10)]
    assert lines[12] == [Skipped(12, "the other row of the Reverse Split on line 11")]
    # $1,500 for the 100 shares the adjustment row takes: a sale at 15.
    assert lines[9] == [TradeEntry(9, day("2023-10-02"), "sell", "QQQX", D("100"), D("15"), currency="USD",
                                   note="Schwab Cash Merger: QUUX TECH INC; 100 shares taken for cash "
                                        "(Cash Merger Adj)")]
    assert lines[10] == [Skipped(10, "the other row of the Cash Merger on line 9")]


def test_title_total_and_actions_stocksbot_cannot_book() -> None:
    items = parse_file("transactions.csv")
    lines = by_line(items)
    assert lines[1] == [Skipped(1, "title line before the header")]
    assert lines[34] == [Skipped(34, "the statement's total row (a summary, not a transaction)")]
    assert [item for item in items if isinstance(item, Unknown)] == [
        Unknown(3, "Name Change"), Unknown(4, "Name Change"), Unknown(5, "Journaled Shares")]
    assert not [item for item in items if isinstance(item, Problem)]
    # Every line after the header is accounted for, once.
    assert sorted(lines) == [1, *range(3, 35)]
    assert Counter(type(item).__name__ for item in items) == {
        "TradeEntry": 11, "CashEntry": 8, "SplitEntry": 3, "DividendEntry": 3, "TaxEntry": 1,
        "Skipped": 4, "Unknown": 3}


def test_the_entries_move_exactly_the_cash_the_statement_says() -> None:
    """The ledger's cash for the entries equals the sum of the Amount column of their rows."""
    for name, total in (("transactions.csv", D("34649.35")), ("price-first.csv", D("1820.10"))):
        items = parse_file(name)
        assert sum((cash_effect(item) for item in items), D(0)) == total, name


def test_the_other_column_order_unquoted_without_a_final_newline() -> None:
    items = parse_file("price-first.csv")
    assert items == [
        TradeEntry(2, day("2024-06-03"), "sell", "ACME", D("40"), D("30.25"), D("1.00"), D("0"), "USD",
                   note="Schwab Sell: ACME CORP"),
        TradeEntry(3, day("2024-05-31"), "buy", "ACME", D("1.5"), D("28.40"), D("0"), D("0"), "USD",
                   note="Schwab Reinvest Shares: ACME CORP; dividend reinvestment"),
        DividendEntry(4, day("2024-05-31"), "ACME", D("42.60"), currency="USD", note="Schwab Reinvest Dividend: ACME CORP"),
        CashEntry(5, day("2024-04-30"), "interest", D("3.10"), "USD", note="Schwab Credit Interest: SCHWAB1 INT 03/28-04/29"),
        DividendEntry(6, day("2024-04-15"), "BOLT", D("18.00"), currency="USD", note="Schwab Cash Dividend: BOLT INDUSTRIES"),
        TradeEntry(7, day("2024-03-01"), "buy", "BOLT", D("20"), D("95.5"), D("0"), D("0"), "USD",
                   note="Schwab Buy: BOLT INDUSTRIES"),
        TradeEntry(8, day("2024-02-01"), "buy", "ACME", D("100"), D("25"), D("0"), D("0"), "USD",
                   note="Schwab Buy: ACME CORP"),
        CashEntry(9, day("2024-01-02"), "deposit", D("5000.00"), "USD", note="Schwab MoneyLink Transfer: Tfr BANK"),
        Skipped(10, "the statement's total row (a summary, not a transaction)"),
    ]


# --- options ----------------------------------------------------------------------------------


def test_map_renames_one_column_and_date_format_reads_another_form() -> None:
    text = ('Date,Action,Symbol,Description,Quantity,Price,Fees & Comm,Net Amount\n'
            '2024-03-01,Buy,acme,ACME CORP,10,$5.00,,-$50.00\n')
    items = parse(text, columns={"amount": "Net Amount"}, date_format="%Y-%m-%d")
    assert items == [TradeEntry(2, day("2024-03-01"), "buy", "ACME", D("10"), D("5.00"), D("0"), D("0"), "USD",
                                note="Schwab Buy: ACME CORP")]
    # The generic format's field `side` names the Action column here.
    renamed = text.replace("Action", "Type")
    assert parse(renamed, columns={"amount": "Net Amount", "side": "Type"}, date_format="%Y-%m-%d") == items
    (problem,) = parse(text, columns={"amount": "Net Amount", "colour": "Red"})
    assert isinstance(problem, Problem) and problem.line == 1 and "no field 'colour'" in problem.message


# --- bad input --------------------------------------------------------------------------------


def test_empty_and_header_only_files_are_problems() -> None:
    assert parse("") == [Problem(1, "the file is empty: a Schwab transactions CSV starts with the header "
                                    "Date,Action,Symbol,Description,Quantity,Price,Fees & Comm,Amount")]
    assert parse(HEADER + "\n") == [Problem(1, "no transactions after the header")]
    assert parse(HEADER + '\n"Transactions Total","","","","","","","$0.00"\n') == [
        Skipped(2, "the statement's total row (a summary, not a transaction)"),
        Problem(1, "no transactions after the header")]


def test_another_brokers_file_is_refused() -> None:
    text = (FIXTURES / "fidelity" / "history_single.csv").read_text(encoding="utf-8")
    (problem,) = parse(text)
    assert isinstance(problem, Problem) and "no Schwab header" in problem.message


def test_bad_rows_are_problems_with_their_line_and_the_rest_still_reads() -> None:
    text = "\n".join([
        HEADER,
        '"03/01/2024","Buy","ACME","ACME CORP","10","$5.00"',           # truncated
        '"2024-03-01","Buy","ACME","ACME CORP","10","$5.00","","-$50.00"',  # ISO: Schwab never writes it
        '"02/30/2024","Buy","ACME","ACME CORP","10","$5.00","","-$50.00"',  # no such day
        '"03/01/2024","Buy","ACME","ACME CORP","1,0","$5.00","","-$50.00"',  # a comma that is no thousands separator
        '"03/01/2024","Buy","","ACME CORP","10","$5.00","","-$50.00"',  # no symbol
        '"03/01/2024","Bond Call","ACME","ACME CORP","","","","$50.00"',  # an action the format does not know
        '"03/01/2024","Reverse Split","ACME","ACME CORP","1","","",""',  # half a pair
        '"03/04/2024","Cash Dividend","ACME","ACME CORP","","","","$1.00"',
    ]) + "\n"
    assert parse(text) == [
        Problem(2, "the row has 6 columns, the header 8: a truncated row?"),
        Problem(3, "Date '2024-03-01' is not a date in the broker's form MM/DD/YYYY"),
        Problem(4, "Date '02/30/2024' is not a calendar date (MM/DD/YYYY)"),
        Problem(5, "Quantity '1,0' is not a number (a comma must separate thousands, as in 1,234.56)"),
        Problem(6, "Buy without a Symbol"),
        Unknown(7, "Bond Call"),
        Problem(8, "Reverse Split without its other row (the same day's Reverse Split row beside it)"),
        DividendEntry(9, day("2024-03-04"), "ACME", D("1.00"), currency="USD", note="Schwab Cash Dividend: ACME CORP"),
    ]


def test_an_unclosed_quote_is_one_problem() -> None:
    (problem,) = parse(HEADER + '\n"03/01/2024","Buy","ACME CORP\n"03/02/2024","Sell"\n')
    assert isinstance(problem, Problem) and problem.line == 2
