"""The operations of stocksbot, one module per noun, as plain functions over a unit of work.

The command line (`stocksbot/cli/`) and the Python API (`storage/service.py`) both call
these; they parse and check input, run in `uow.transaction()` or `uow.reading()`, and
return records (`storage/records/`). They never print. Every change a transaction commits
writes its audit entry in that transaction (`storage.audit.log`, docs/ledger.md §20);
tests/test_audit.py walks the command tree to hold every write command to it.
"""
