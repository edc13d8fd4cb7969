"""`stocksbot audit list`: every change to the database, newest first (docs/ledger.md §20)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import click

from stocksbot.cli.context import AppContext, pass_app, table_format_options

if TYPE_CHECKING:
    from stocksbot.storage.records import AuditEntry

#: Fields a summary names before it says how many more there are (`--json` has them all).
SUMMARY_FIELDS = 4
#: A value longer than this is shortened in the table (never in `--json`).
VALUE_WIDTH = 40
_TRADE_FIELDS = ("side", "quantity", "symbol", "price")


def _value(value: Any) -> str:
    import json  # here: `stocksbot --help` imports this module, and json was 2 % of its instructions

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH - 1] + "…"


def _fields(values: dict[str, Any]) -> list[str]:
    """`key=value` items of a record; a trade (or a record carrying one) as `buy 10 AAPL @ 150`."""
    items = []
    if all(values.get(name) is not None for name in _TRADE_FIELDS):
        items.append("{side} {quantity} {symbol} @ {price}".format(**values))
        values = {key: value for key, value in values.items() if key not in _TRADE_FIELDS}
    for key, value in values.items():
        if isinstance(value, dict) and all(value.get(name) is not None for name in _TRADE_FIELDS):
            items.append(f"{key}: {_fields(value)[0]}")
        elif value is not None and value != [] and value != {}:
            items.append(f"{key}={_value(value)}")
    return items


def _without_key(entry: "AuditEntry", values: Any) -> dict[str, Any]:
    """A record's fields without its id when the "what" column names it already."""
    if not isinstance(values, dict):
        return {}
    return {key: value for key, value in values.items() if not (key == "id" and str(value) == entry.entity_key)}


def summary(entry: "AuditEntry") -> str:
    """What changed, in a line: `old → new` per changed field, the fields of what was added,
    or what was removed; shortened to SUMMARY_FIELDS fields."""
    old, new = (_without_key(entry, values) for values in (entry.old, entry.new))
    if old and new:
        items = [f"{key}: {_value(old.get(key))} → {_value(new.get(key))}" for key in new if key in old]
        items += _fields({key: value for key, value in new.items() if key not in old})
    elif new:
        items = _fields(new)
    elif old:
        items = ["removed " + "; ".join(_fields(old)[:1])] + _fields(old)[1:]
    else:
        items = []
    if len(items) > SUMMARY_FIELDS:
        items = items[:SUMMARY_FIELDS] + [f"(+{len(items) - SUMMARY_FIELDS} more)"]
    return "; ".join(items) or "-"


def what(entry: "AuditEntry") -> str:
    """The entity and its key (`order 3`), and the trades an entry brought in (`trades 5-104`)."""
    text = entry.entity if entry.entity_key is None else f"{entry.entity} {entry.entity_key}"
    first, last = entry.first_trade_id, entry.last_trade_id
    if first is not None and last is not None and (entry.entity != "trade" or entry.entity_key is None):
        text += f", trade {first}" if first == last else f", trades {first}-{last}"
    return text


def print_entries(entries: Iterable["AuditEntry"]) -> None:
    from stocksbot.cli.output import print_table, show_time, text_cell

    print_table(["when", "action", "what", "change", "command"],
                ([show_time(e.at), e.action, text_cell(what(e)), text_cell(summary(e)), text_cell(e.command)]
                 for e in entries))


@click.group("audit")
def audit_group() -> None:
    """The audit log: when, what, old and new values, and the command of every change.

    \b
    Example:
      stocksbot audit list --limit 5
      stocksbot --json audit list --since 2024-06-01
    """


@audit_group.command("list")
@click.option("--since", metavar="TIME", help="Only changes from this time on (ISO date/time; a date means its start).")
@click.option("--limit", type=int, default=50, show_default=True, metavar="N", help="At most N entries.")
@table_format_options
@pass_app
def audit_list(app: AppContext, since: str | None, limit: int) -> None:
    """The newest changes first: time, action, what it changed, a summary, the command.

    `--json` gives every field: the old and new values in full (decimals as strings, times
    in ISO 8601 UTC) and the range of trade ids an entry brought in.

    \b
    Example:
      stocksbot audit list --limit 5
      stocksbot --json audit list --since 2024-06-01 --limit 1000
    """
    from stocksbot.cli.output import print_json
    from stocksbot.services import audit

    entries = audit.audit_entries(app.uow(), since=since, limit=limit)
    if app.json:
        print_json([entry.to_json() for entry in entries])
    else:
        print_entries(entries)
