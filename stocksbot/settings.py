"""Typed settings: the known keys, and how a value of each type is parsed and shown.

Pure functions, no storage: the config commands and the service use them to refuse a value
before anything is written. See docs/ledger.md §9 (settings).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from stocksbot.errors import StocksbotError
from stocksbot.vocabulary import CONFIG_KEY_MAX, CONFIG_TYPES, COST_BASIS_METHODS, DEFAULT_ACCOUNT

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


@dataclass(frozen=True)
class KnownKey:
    """A setting stocksbot itself reads: its type is fixed and its default applies when unset.

    The known keys, their types, defaults and effects: docs/ledger.md §9.2.
    """

    value_type: str
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    pattern: str | None = None


KNOWN_KEYS: dict[str, KnownKey] = {
    "accounting.cost_basis": KnownKey(
        "string", "fifo", "Lot matching for realized P&L: fifo, lifo or average", COST_BASIS_METHODS
    ),
    "trading.allow_short": KnownKey("bool", False, "Let a sell larger than the long position open a short"),
    "accounts.default": KnownKey("string", DEFAULT_ACCOUNT, "The account commands write to without --account"),
    "reporting.currency": KnownKey(
        "string", None, "Currency of converted totals (default: the currency of the main account)",
        pattern=r"[A-Z]{3}",
    ),
}


#: The first words of the known keys: stocksbot's own namespaces, where only known keys may
#: be set (docs/ledger.md §9.2). Derived from KNOWN_KEYS, so a new known key reserves its
#: namespace too. Keys under any other first word are free for users and bots.
OWN_NAMESPACES: frozenset[str] = frozenset(key.partition(".")[0] for key in KNOWN_KEYS)


def check_key(key: str) -> str:
    if len(key) > CONFIG_KEY_MAX or not KEY_PATTERN.match(key):
        raise StocksbotError(
            f"invalid config key {key!r}: use lower-case words joined by dots, e.g. trading.allow_short"
        )
    return key


def is_unknown_own_key(key: str) -> bool:
    """True for a key in one of stocksbot's own namespaces that is not a known key: a typo
    (`accounting.costbasis`) that would be stored and never read."""
    return key not in KNOWN_KEYS and key.partition(".")[0] in OWN_NAMESPACES


def unknown_own_key_error(key: str) -> StocksbotError:
    """The one line refusing an unknown key of an own namespace, with the closest known key
    (difflib), else the known keys of that namespace (docs/ledger.md §9.2)."""
    import difflib  # only for this refusal: every command that reads settings would load it

    namespace, _, rest = key.partition(".")
    # Compared without the shared namespace, which would make every key of it look close.
    known = {k.partition(".")[2]: k for k in sorted(KNOWN_KEYS) if k.partition(".")[0] == namespace}
    closest = difflib.get_close_matches(rest, known, n=1, cutoff=0.6)
    hint = f"did you mean {known[closest[0]]}?" if closest else "known: " + ", ".join(known.values())
    return StocksbotError(f"unknown setting {key!r}: {namespace}.* keys are stocksbot's own; {hint}")


def parse_value(key: str, text: str, value_type: str) -> Any:
    """The typed value of `text`, or a StocksbotError saying what the type accepts.

    See docs/ledger.md §9.1 (keys and types).
    """
    if value_type not in CONFIG_TYPES:
        raise StocksbotError(f"unknown config type {value_type!r}: use one of {', '.join(CONFIG_TYPES)}")
    value = _parse(key, text, value_type)
    known = KNOWN_KEYS.get(key)
    if known and known.choices and value not in known.choices:
        raise StocksbotError(f"{key} must be one of {', '.join(known.choices)}, got {text!r}")
    if known and known.pattern and not re.fullmatch(known.pattern, str(value)):
        raise StocksbotError(f"{key} must be a three-letter upper-case currency code such as USD, got {text!r}")
    return value


def _parse(key: str, text: str, value_type: str) -> Any:
    if value_type == "string":
        return text
    if value_type == "int":
        if not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise StocksbotError(f"{key} needs a whole number (int), got {text!r}")
        return int(text)
    if value_type == "float":
        try:
            number = float(text)
        except ValueError:
            raise StocksbotError(f"{key} needs a number (float), got {text!r}") from None
        if not math.isfinite(number):
            raise StocksbotError(f"{key} needs a finite number (float), got {text!r}")
        return number
    if value_type == "bool":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise StocksbotError(f"{key} needs true or false (bool), got {text!r}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StocksbotError(f"{key} needs valid JSON (json), got {text!r}: {exc.msg}") from None


def to_text(value: Any, value_type: str) -> str:
    """How a typed value is stored, and how `config get` prints it for scripts (docs/ledger.md §9.3)."""
    if value_type == "bool":
        return "true" if value else "false"
    if value_type == "json":
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def from_text(text: str, value_type: str) -> Any:
    """The typed value of a stored text (stored texts were validated when written)."""
    return _parse("value", text, value_type)


def known_value(key: str, stored_text: str | None) -> Any:
    """The typed value of a known key from its stored text (None: unset, so its default).

    For paths that read the text in their own query (recording a trade reads the ledger
    settings together with the strategy it names).
    """
    known = KNOWN_KEYS[key]
    return known.default if stored_text is None else from_text(stored_text, known.value_type)
