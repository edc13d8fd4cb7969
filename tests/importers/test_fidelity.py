"""The Fidelity account history CSV parser (stocksbot/importers/fidelity.py, docs/brokers.md §12).

Pure: the fixtures under tests/fixtures/brokers/fidelity/ follow Fidelity's three layouts with
invented data: the all-accounts file (blank lines and "Brokerage" before the header, cells with
a leading space, a disclaimer after the rows), the 2025 all-accounts file (Account Number,
Currency, Exchange Rate, Price before Quantity, a byte order mark), and the one-account file
(`,,,,` lines, Description/Type, Cash Balance).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from stocksbot.importers.entries import (
    CashEntry,
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
from stocksbot.importers.fidelity import FORMAT
from stocksbot.ledger.inputs import parse_time
from tests.importers.test_schwab import OTHER_HEADERS, cash_effect

D = Decimal
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "brokers"
HEADER = ("Run Date,Account,Action,Symbol,Security Description,Security Type,Quantity,Price ($),Commission ($),"
          "Fees ($),Accrued Interest ($),Amount ($),Settlement Date")
ALL = "accounts_history.csv"
NEW = "history_2025.csv"
ONE = "history_single.csv"


def day(text: str) -> datetime:
    return parse_time(text)


def parse(text: str, **options: object) -> list[Item]:
    return list(FORMAT.parse(text.splitlines(keepends=True), ParseOptions(**options)))  # type: ignore[arg-type]


def parse_file(name: str, **options: object) -> list[Item]:
    return parse((FIXTURES / "fidelity" / name).read_text(encoding="utf-8"), **options)


def by_line(items: list[Item]) -> dict[int, list[Item]]:
    found: dict[int, list[Item]] = {}
    for item in items:
        found.setdefault(item.line, []).append(item)
    return found


# --- detection ------------------------------------------------------------------------------


def test_detects_the_three_fidelity_layouts() -> None:
    for name in (ALL, NEW, ONE):
        assert FORMAT.detect((FIXTURES / "fidelity" / name).read_text(encoding="utf-8")[:4096]), name
    assert (FORMAT.name, FORMAT.title) == ("fidelity", "Fidelity account history CSV")


def test_does_not_claim_schwab_other_brokers_or_stocksbots_own_csv() -> None:
    for broker, header in OTHER_HEADERS.items():
        assert not FORMAT.detect(header + "\n"), broker
    for path in sorted((FIXTURES / "schwab").glob("*.csv")):
        assert not FORMAT.detect(path.read_text(encoding="utf-8")[:4096]), path.name
    assert not FORMAT.detect("")


# --- the all-accounts file ---------------------------------------------------------------------


def test_each_account_number_is_an_account() -> None:
    items = parse_file(ALL)
    accounts = Counter(getattr(item, "account", "-") for item in items if not isinstance(item, (Skipped, Unknown)))
    # "INDIVIDUAL - TOD X12345678" and "ROTH IRA 234567890": the number, which the nickname may not keep.
    assert accounts == {"X12345678": 11, "234567890": 5}


def test_trades_and_the_drip_of_the_all_accounts_file() -> None:
    lines = by_line(parse_file(ALL))
    assert lines[24] == [TradeEntry(24, day("2024-02-01"), "buy", "ACME", D("100"), D("25.01"), D("0"), D("0"), "USD",
                                    "X12345678", note="Fidelity: YOU BOUGHT ACME CORP SPONSORED ADR (ACME) (Cash)")]
    # A sell's quantity is negative in the file; commission 4.95 and fees 0.03 as stated: 630 - 4.98 = 625.02.
    assert lines[19] == [TradeEntry(19, day("2024-04-16"), "sell", "ACME", D("20"), D("31.5"), D("4.95"), D("0.03"),
                                    "USD", "X12345678", note="Fidelity: YOU SOLD ACME CORP SPONSORED ADR (ACME) (Cash)")]
    # 30 x 66.6666 = 1,999.998; the account paid 2,000: the 0.002 is a fee (price shown rounded).
    (bolt,) = lines[23]
    assert isinstance(bolt, TradeEntry) and (bolt.price, bolt.fees) == (D("66.6666"), D("0.002"))
    assert lines[12] == [DividendEntry(12, day("2024-05-15"), "VTIX", D("25.5"), currency="USD", account="234567890",
                                       note="Fidelity: DIVIDEND RECEIVED VTIX TOTAL MARKET ETF (VTIX) (Cash)")]
    assert lines[13] == [TradeEntry(13, day("2024-05-15"), "buy", "VTIX", D("0.104"), D("245.19"), D("0"),
                                    D("0.00024"), "USD", "234567890",
                                    note="Fidelity: REINVESTMENT VTIX TOTAL MARKET ETF (VTIX) (Cash); "
                                         "dividend reinvestment")]


def test_the_core_position_is_cash() -> None:
    lines = by_line(parse_file(ALL))
    assert lines[10] == [CashEntry(10, day("2024-05-31"), "interest", D("4.12"), "USD", "X12345678",
                                   note="Fidelity: DIVIDEND RECEIVED FIDELITY GOVERNMENT MONEY MARKET (SPAXX) (Cash); "
                                        "the core position's dividend: interest on cash")]
    core = "a reinvestment or trade of the core position, which stocksbot keeps as cash"
    assert lines[11] == [Skipped(11, core)]
    assert lines[17] == [Skipped(17, core)]
    assert lines[16] == [CashEntry(16, day("2024-04-30"), "interest", D("0.37"), "USD", "X12345678",
                                   note="Fidelity: INTEREST EARNED CASH (315994103) (Cash)")]
    assert lines[21] == [Skipped(21, "a sweep into or out of the core position, which stocksbot keeps as cash")]


def test_income_taxes_fees_splits_and_transfers() -> None:
    lines = by_line(parse_file(ALL))
    assert lines[14] == [TaxEntry(14, day("2024-05-10"), "ACME", D("3.3"), "USD", "X12345678",
                                  note="Fidelity: FOREIGN TAX PAID ACME CORP SPONSORED ADR (ACME) (Cash)")]
    (capital_gain,) = lines[18]
    assert isinstance(capital_gain, DividendEntry) and (capital_gain.symbol, capital_gain.gross) == ("VTIX", D("3.05"))
    assert lines[20] == [CashEntry(20, day("2024-04-01"), "fee", D("0.6"), "USD", "X12345678",
                                   note="Fidelity: FEE CHARGED ADR FEE (ACME) (Cash)")]
    # DISTRIBUTION: Fidelity states a split as the shares added.
    assert lines[9] == [SplitEntry(9, day("2024-06-14"), "BOLT", added=D("90"), account="X12345678")]
    moves = [(item.line, item.kind, item.amount, item.account) for (item,) in (lines[25], lines[26], lines[27])
             if isinstance(item, CashEntry)]
    assert moves == [(25, "withdraw", D("2500"), "X12345678"), (26, "deposit", D("2500"), "234567890"),
                     (27, "deposit", D("10000"), "X12345678")]


def test_options_and_mergers_are_unknown_and_every_other_line_is_skipped_with_a_reason() -> None:
    items = parse_file(ALL)
    assert [item for item in items if isinstance(item, Unknown)] == [
        Unknown(7, "YOU BOUGHT OPENING TRANSACTION CALL (ACME) ACME CORP JUL 19 24 $150 (100 SHS) (Cash)"),
        Unknown(8, "MERGER MER FROM 12345Q107#REOR M0051702100001 OLDCO INC (NEWCO) (Cash)"),
    ]
    lines = by_line(items)
    assert sorted(lines) == [*range(1, 6), *range(7, 36)]
    assert [lines[line] for line in (1, 4, 28, 29, 35)] == [
        [Skipped(1, "blank line")], [Skipped(4, "title line before the header")], [Skipped(28, "blank line")],
        [Skipped(29, "informational text after the rows (Fidelity's disclaimer)")],
        [Skipped(35, "informational text after the rows (Fidelity's disclaimer)")]]
    assert not [item for item in items if isinstance(item, Problem)]


def test_each_accounts_entries_move_exactly_its_cash_in_the_statement() -> None:
    """Per account, the ledger's cash for the entries equals the Amount column of their rows,
    less the core sweeps and core reinvestments (cash to cash) and the unknown option trade."""
    cash: dict[str | None, Decimal] = defaultdict(Decimal)
    for item in parse_file(ALL):
        cash[getattr(item, "account", None)] += cash_effect(item)
    assert dict(cash) == {None: D(0), "X12345678": D("3646.61"), "234567890": D("582.05")}


# --- the 2025 layout -------------------------------------------------------------------------


def test_the_2025_layout_bond_accrued_interest_and_margin() -> None:
    items = parse_file(NEW)
    lines = by_line(items)
    # 10,000 face at 98.5 per 100 plus 110.50 accrued interest = 9,960.50: the interest is a cash
    # entry of its own and the price per unit of face comes from the Amount (0.985).
    assert lines[4] == [
        CashEntry(4, day("2025-03-10"), "fee", D("110.5"), "USD", "Z98765432",
                  note="Fidelity: YOU BOUGHT TRD EXECUTED BY PERT EXAMPLE CITY GO BDS 04.00000% 06/01/2035 (Cash); "
                       "accrued interest paid"),
        TradeEntry(4, day("2025-03-10"), "buy", "123456AB7", D("10000"), D("0.985"), D("0"), D("0"), "USD",
                   "Z98765432", note="Fidelity: YOU BOUGHT TRD EXECUTED BY PERT EXAMPLE CITY GO BDS 04.00000% "
                                     "06/01/2035 (Cash)"),
    ]
    assert lines[5] == [TradeEntry(5, day("2025-03-03"), "sell", "BOLT", D("15"), D("101.37"), D("0"), D("0.04"),
                                   "USD", "Z98765432", note="Fidelity: YOU SOLD BOLT INDUSTRIES (BOLT) (Margin)")]
    assert lines[8] == [CashEntry(8, day("2025-01-15"), "fee", D("2.17"), "USD", "Z98765432",
                                  note="Fidelity: MARGIN INTEREST (Margin)")]
    assert sum((cash_effect(item) for item in items), D(0)) == D("4104.09")
    assert Counter(type(item).__name__ for item in items) == {
        "TradeEntry": 3, "CashEntry": 3, "DividendEntry": 1, "Skipped": 7}


def test_a_foreign_trade_states_its_rate() -> None:
    header = ("Run Date,Account,Account Number,Action,Symbol,Description,Type,Exchange Quantity,Exchange Currency,"
              "Currency,Price,Quantity,Exchange Rate,Commission,Fees,Accrued Interest,Amount,Settlement Date")
    row = ('03/10/2025,"Intl","Z1","YOU BOUGHT EXAMPLE PLC (EXPL) (Cash)",EXPL,"EXAMPLE PLC",Cash,0,,GBP,4.5,100,'
           '1.27,,,,-450,03/12/2025')
    assert parse(header + "\n" + row + "\n") == [
        RateEntry(2, day("2025-03-10"), "GBP", "USD", D("1.27")),
        TradeEntry(2, day("2025-03-10"), "buy", "EXPL", D("100"), D("4.5"), D("0"), D("0"), "GBP", "Z1",
                   note="Fidelity: YOU BOUGHT EXAMPLE PLC (EXPL) (Cash)"),
    ]


# --- the one-account file --------------------------------------------------------------------


def test_a_one_account_file_goes_to_the_account_option() -> None:
    items = parse_file(ONE)
    entries = [item for item in items if not isinstance(item, Skipped)]
    assert entries == [
        DividendEntry(4, day("2024-04-01"), "ACME", D("12.5"), currency="USD",
                      note="Fidelity: DIVIDEND RECEIVED ACME CORP SPONSORED ADR (ACME) (Cash)"),
        TradeEntry(5, day("2024-03-15"), "sell", "ACME", D("10"), D("26.25"), D("0"), D("0.02"), "USD",
                   note="Fidelity: YOU SOLD ACME CORP SPONSORED ADR (ACME) (Cash)"),
        TradeEntry(6, day("2024-02-01"), "buy", "ACME", D("50"), D("24.25"), D("0"), D("0"), "USD",
                   note="Fidelity: YOU BOUGHT ACME CORP SPONSORED ADR (ACME) (Cash)"),
        CashEntry(7, day("2024-01-03"), "deposit", D("4000"), "USD", note="Fidelity: DIRECT DEPOSIT EXAMPLE PAYROLL (Cash)"),
    ]
    # The last Cash Balance ($) of the file (newest first) is the cash the entries imply.
    assert sum((cash_effect(item) for item in entries), D(0)) == D("3062.48")
    assert [item.line for item in items if isinstance(item, Skipped)] == [1, 2, 8, 9, 10, 11]


# --- options ---------------------------------------------------------------------------------


def test_map_account_to_the_nickname_column() -> None:
    items = parse_file(NEW, columns={"account": "Account"})
    assert {getattr(item, "account", None) for item in items if not isinstance(item, Skipped)} == {"Joint WROS"}


# --- bad input -------------------------------------------------------------------------------


def test_empty_header_only_and_another_brokers_file() -> None:
    assert parse("") == [Problem(1, "the file is empty: a Fidelity history CSV has the header Run Date,Account,"
                                    "Action,Symbol,...,Amount ($),Settlement Date")]
    assert parse("\n\n" + HEADER + "\n") == [Skipped(1, "blank line"), Skipped(2, "blank line"),
                                             Problem(3, "no transactions after the header")]
    (problem,) = parse((FIXTURES / "schwab" / "price-first.csv").read_text(encoding="utf-8"))
    assert isinstance(problem, Problem) and "no Fidelity header" in problem.message


def test_bad_rows_are_problems_and_unknown_actions_unknown() -> None:
    text = "\n".join([
        HEADER,
        " 03/01/2024,BROKERAGE X1, YOU BOUGHT ACME (ACME) (Cash), ACME, ACME,Cash,10,5",  # truncated
        " 2024-03-01,BROKERAGE X1, YOU BOUGHT ACME (ACME) (Cash), ACME, ACME,Cash,10,5,,,,-50,03/05/2024",  # ISO date
        " 03/01/2024,BROKERAGE X1, YOU BOUGHT ACME (ACME) (Cash), ACME, ACME,Cash,ten,5,,,,-50,03/05/2024",
        " 03/01/2024,BROKERAGE X1, EXCHANGED TO ACME (ACME) (Cash), ACME, ACME,Cash,10,,,,,,",
        " 03/02/2024,BROKERAGE X1, DIVIDEND RECEIVED ACME (ACME) (Cash), ACME, ACME,Cash,,,,,,1.5,",
    ]) + "\n"
    assert parse(text) == [
        Problem(2, "the row has 8 columns, the header 13: a truncated row?"),
        Problem(3, "Run Date '2024-03-01' is not a date in the broker's form MM/DD/YYYY"),
        Problem(4, "Quantity 'ten' is not a number"),
        Unknown(5, "EXCHANGED TO ACME (ACME) (Cash)"),
        DividendEntry(6, day("2024-03-02"), "ACME", D("1.5"), currency="USD", account="X1",
                      note="Fidelity: DIVIDEND RECEIVED ACME (ACME) (Cash)"),
    ]
