"""The ledger's error type.

Everything the ledger refuses is a user-facing impossibility (an oversell, a fill on a
cancelled order, a malformed number), so it is a `StocksbotError`: the command-line edge
prints the message as one line and exits 1. A separate subclass lets callers tell ledger
refusals apart from storage problems when they need to.
"""

from stocksbot.errors import StocksbotError


class LedgerError(StocksbotError):
    """A trade, order change or number the ledger rules do not allow."""
