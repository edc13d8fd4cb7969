"""Where the default database lives (DATABASE_SETUP.md): standard library only, so that shell
completion finds the file without importing SQLAlchemy."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_FILENAME = "stocksbot.db"


def data_home(env: Mapping[str, str] = os.environ) -> Path:
    """The folder of the default database: `$STOCKSBOT_HOME` or the platform's user data dir."""
    if env.get("STOCKSBOT_HOME"):
        return Path(env["STOCKSBOT_HOME"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("stocksbot"))


def default_file(env: Mapping[str, str] = os.environ) -> Path:
    """The default database file."""
    return data_home(env) / DEFAULT_FILENAME
