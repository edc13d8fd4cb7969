"""Names of a package loaded on first use (PEP 562), for start-up time (issue 10).

A package lists where each of its lazily loaded names is defined; `attributes` gives it the
module-level `__getattr__` and `__dir__` that import the defining module on first use and keep
the name in the package's namespace. Standard library only, so the pure `ledger` package can
use it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def attributes(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose name N lives in submodule `homes[N]`."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's own name
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # __import__ rather than importlib.import_module: `python -X importtime` reports it.
        value = getattr(__import__(f"{package}.{home}", fromlist=[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
