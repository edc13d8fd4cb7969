"""What Schwab and Fidelity share beyond the shared readers (stocksbot/importers/_us_reading.py,
docs/brokers.md §12.1-§12.2): "as of" dates and the settlement of a trade to the statement's
Amount: whatever the rounding of the shown price, the ledger's cash for the
trade is exactly the Amount, with a price of at most 10 places and fees of 0 or more.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from stocksbot.importers._us_reading import settle_trade, split_as_of

D = Decimal


def test_as_of_dates() -> None:
    assert split_as_of("07/15/2024 as of 07/12/2024") == ("07/15/2024", "07/12/2024")
    assert split_as_of(" 07/15/2024 ") == ("07/15/2024", None)


def ledger_cash(side: str, quantity: Decimal, price: Decimal, commission: Decimal, fees: Decimal) -> Decimal:
    value = quantity * price
    return value + commission + fees if side == "buy" else value - commission - fees


cents = st.integers(min_value=1, max_value=10**9).map(lambda n: D(n).scaleb(-2))


@given(side=st.sampled_from(["buy", "sell"]),
       quantity=st.integers(min_value=1, max_value=10**7).map(lambda n: D(n).scaleb(-3)),
       price=st.integers(min_value=0, max_value=10**8).map(lambda n: D(n).scaleb(-4)),
       commission=st.integers(min_value=0, max_value=2000).map(lambda n: D(n).scaleb(-2)),
       drift=st.integers(min_value=-500, max_value=500).map(lambda n: D(n).scaleb(-2)))
def test_a_settled_trade_moves_exactly_the_amount(side: str, quantity: Decimal, price: Decimal, commission: Decimal,
                                                  drift: Decimal) -> None:
    """The shown price rounded either way (drift), the settled trade's cash is the Amount exactly."""
    shown = ledger_cash(side, quantity, price, commission, D(0))
    paid = (shown + drift).quantize(D("0.01"))
    if paid <= commission:
        return  # nothing left to pay for the shares
    amount = paid.copy_negate() if side == "buy" else paid
    settled_price, fees = settle_trade(side, quantity, price, commission, D(0), amount)
    assert ledger_cash(side, quantity, settled_price, commission, fees) == paid
    assert settled_price >= 0 and fees >= 0
    assert -settled_price.as_tuple().exponent <= 10  # type: ignore[operator]
    if fees > 0 and settled_price != price:
        assert fees < quantity * D("1e-10")  # only the rounding of a price taken from the Amount


def test_settling_keeps_the_shown_price_when_the_account_paid_more() -> None:
    # Schwab: Reinvest Shares 1.6531 at $420.10 for -$694.48.
    assert settle_trade("buy", D("1.6531"), D("420.10"), D(0), D(0), D("-694.48")) == (D("420.1"), D("0.01269"))
    # ... and takes it from the Amount when the account got more: 500 at $100.0001 - $1.23 for $49,998.85.
    assert settle_trade("sell", D("500"), D("100.0001"), D("1.23"), D(0), D("49998.85")) == (D("100.00016"), D(0))
    # No Amount: as shown.
    assert settle_trade("buy", D("3"), D("9.99"), D(0), D(0), None) == (D("9.99"), D(0))
