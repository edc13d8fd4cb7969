"""The pure returns math (stocksbot/ledger/returns.py, docs/ledger.md §18): TWR, XIRR, drawdown, intervals.

The fixed figures come from Portfolio Performance's own test suite; the IRR is also checked
against pyxirr, an independent implementation, on generated flows.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Context, Decimal, localcontext

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stocksbot.ledger.returns import Day, daily_return, group, max_drawdown, performance, xirr

D = Decimal


def test_irr_of_two_flows_a_year_apart() -> None:
    assert xirr([(date(2010, 1, 1), D(-200)), (date(2010, 12, 31), D(210))]).rate == D("0.0501407503")


def test_irr_of_a_heavy_loss() -> None:
    flows = [(date(2019, 5, 24), D("-1560.94")), (date(2020, 1, 13), D(-1160)), (date(2020, 6, 29), D("42.80"))]
    assert xirr(flows).rate == D("-0.9992516434")


def test_irr_day_count_365_25_discounts_over_a_longer_year() -> None:
    flows = [(date(2020, 1, 1), D(-100)), (date(2021, 1, 1), D(110))]  # 366 days
    act365 = xirr(flows).rate
    act36525 = xirr(flows, "365.25").rate
    assert act365 is not None and act36525 is not None
    with localcontext(Context(prec=50)):
        assert act365 == (D("1.1") ** (D(365) / D(366)) - 1).quantize(D("1e-10"))
        assert act36525 == (D("1.1") ** (D("365.25") / D(366)) - 1).quantize(D("1e-10"))
    assert act36525 > act365
    with pytest.raises(ValueError):
        xirr(flows, "360")


@pytest.mark.parametrize(("flows", "reason"), [
    ([], "no money was invested"),
    ([(date(2020, 1, 1), D(-100)), (date(2020, 6, 1), D(-5))], "do not change sign"),
    ([(date(2020, 1, 1), D(100)), (date(2020, 6, 1), D(5))], "do not change sign"),
    ([(date(2020, 1, 1), D(-100)), (date(2020, 1, 1), D(100))], "no money was invested"),
    ([(date(2020, 1, 1), D(-100)), (date(2020, 1, 1), D(120))], "do not change sign"),
])
def test_no_irr_is_unknown_with_a_reason_never_zero(flows: list[tuple[date, Decimal]], reason: str) -> None:
    found = xirr(flows)
    assert found.rate is None
    assert found.reason is not None and reason in found.reason


def test_a_total_loss_has_no_rate() -> None:
    found = xirr([(date(2020, 1, 1), D(-100)), (date(2021, 1, 1), D("0.0000000001"))])
    # (1 + r) = 1e-12 per year: r = -0.999999999999, which rounds to -1 at ten places
    assert found.rate == D("-1.0000000000")


CASH_ONLY = [
    Day(date(2011, 12, 31), D(10000), inflows=D(10000)),
    Day(date(2012, 1, 1), D(10230), income=D(230)),
    Day(date(2012, 1, 2), D(10630), inflows=D(200), income=D(200)),
    Day(date(2012, 1, 3), D("9995.59"), outflows=D(400), costs=D("234.41")),
]


def test_cash_only_account_daily_returns_and_cumulative_twr() -> None:
    rows, total = performance(CASH_ONLY, D(0), "day")
    twr = [row.twr for row in rows]
    assert twr[0] == 0
    assert [round(r, 9) for r in twr[1:] if r is not None] == [D("0.023"), D("0.019175455"), D("-0.022051740")]
    assert str(round(twr[3], 7)) == "-0.0220517"  # type: ignore[arg-type]
    assert total is not None and round(total.twr, 9) == D("0.019624983")  # type: ignore[arg-type]
    assert total.pnl == D("195.59") == total.income - total.costs
    assert (total.inflows, total.outflows, total.income, total.costs) == (D(10200), D(400), D(430), D("234.41"))
    assert total.max_drawdown == D("0.02205174035747883349")
    assert rows[3].start_value == D(10630) and rows[3].end_value == D("9995.59")


def test_inflows_count_at_the_start_of_the_day_and_outflows_at_its_end() -> None:
    # 100 grows to 110 on day 2 while 50 comes in: (110 + 0) / (100 + 50) - 1
    day = Day(date(2024, 1, 2), D(110), inflows=D(50))
    assert daily_return(D(100), day).rate == D("-0.26666666666666666666666666666666666666666666666667")
    # 100 worth 120 at the end of the day, 20 of which leave: (100 + 20) / 100 - 1 = 0.2
    assert daily_return(D(100), Day(date(2024, 1, 2), D(100), outflows=D(20))).rate == D("0.2")


def test_unmeasurable_days() -> None:
    assert daily_return(D(0), Day(date(2024, 1, 1), D(0))).rate == 0
    assert "nothing was invested" in str(daily_return(D(0), Day(date(2024, 1, 1), D(5))).reason)
    assert "below zero" in str(daily_return(D(-5), Day(date(2024, 1, 1), D(5))).reason)
    assert "unknown" in str(daily_return(None, Day(date(2024, 1, 1), D(5))).reason)
    rows, total = performance([Day(date(2024, 1, 1), D(100), inflows=D(100)), Day(date(2024, 1, 2), None)], D(0), "day")
    assert rows[0].twr == 0 and rows[1].twr is None and total is not None and total.twr is None
    assert total.irr is None and total.pnl is None
    assert any("value unknown on 2024-01-02" in note for note in total.notes)


def test_max_drawdown_on_the_twr_index() -> None:
    # index 1 -> 1.1 -> 0.88 -> 0.968 -> 1.2: the worst fall is from 1.1 to 0.88 = 20 %
    assert max_drawdown([D("0.1"), D("-0.2"), D("0.1"), D("0.24")]) == D("0.2")
    assert max_drawdown([D("0.1"), D("0.1")]) == 0
    assert max_drawdown([D("-0.5")]) == D("0.5")  # a loss on the first day counts


def test_intervals_cut_at_calendar_boundaries() -> None:
    days = [Day(date(2024, 1, 1) + timedelta(days=i), D(100)) for i in range(400)]
    assert [len(g) for g in group(days, "month")][:3] == [31, 29, 31]
    assert len(group(days, "quarter")) == 5 and len(group(days, "year")) == 2
    weeks = group(days, "week")
    assert weeks[0][0].day == date(2024, 1, 1) and all(g[0].day.weekday() == 0 for g in weeks)
    assert len(group(days, "all")) == 1 and len(group(days, "day")) == 400
    with pytest.raises(ValueError):
        group(days, "fortnight")


def test_intervals_chain_into_the_total() -> None:
    values = [D(100), D(110), D(99), D(120), D(130), D(125)]
    days = [Day(date(2024, 1, 26) + timedelta(days=i), v, inflows=D(100) if i == 0 else D(0))
            for i, v in enumerate(values)]
    rows, total = performance(days, D(0), "week")
    assert total is not None and total.twr is not None
    growth = D(1)
    for row in rows:
        assert row.twr is not None
        growth *= 1 + row.twr
    assert abs(growth - 1 - total.twr) < D("1e-18")
    assert len(rows) == 2 and rows[1].start_value == rows[0].end_value == D(99)
    assert total.twr == D("0.25")


@settings(deadline=None, max_examples=60)
@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)),
    first=st.integers(min_value=1, max_value=10**6),
    more=st.lists(st.tuples(st.integers(min_value=1, max_value=2000), st.integers(min_value=-10**6, max_value=10**6)),
                  min_size=0, max_size=8),
    final_gaps=st.integers(min_value=30, max_value=3000),
    final=st.integers(min_value=1, max_value=3 * 10**6),
)
def test_irr_agrees_with_pyxirr(start: date, first: int, more: list[tuple[int, int]], final_gaps: int, final: int) -> None:
    pyxirr = pytest.importorskip("pyxirr")
    flows = [(start, D(-first))]
    day = start
    for gap, cents in more:
        day = day + timedelta(days=gap)
        flows.append((day, D(cents) / 100))
    flows.append((day + timedelta(days=final_gaps), D(final)))
    # One sign change (money in, then out): exactly one root, which both must find.
    assume(all(amount <= 0 for _, amount in flows[:-1]))
    ours = xirr(flows)
    theirs = pyxirr.xirr([d for d, _ in flows], [float(a) for _, a in flows])
    assume(theirs is not None and -0.99 < theirs < 100)
    assert ours.rate is not None
    assert abs(float(ours.rate) - theirs) <= 1e-7 * max(1.0, abs(theirs))
