"""The one error type for "the user asked for something impossible".

Raised anywhere (ledger, storage, CLI parsing) and turned into a single line on stderr with
exit status 1 at the command-line edge. Anything else that escapes is a bug and keeps its
traceback.
"""


class StocksbotError(Exception):
    """A user mistake or an impossible request; the message is shown to the user as is."""


class DatabaseUnavailable(StocksbotError):
    """The database could not be opened or reached; the message names the masked URL."""


class SchemaMismatch(StocksbotError):
    """The database schema is not at the revision this stocksbot needs."""
