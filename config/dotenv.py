"""The env file a `giftq` command reads before its settings: `.env` in the working directory, as honcho reads it.

Variables already in the process environment win over the file (12-factor: the environment is the truth; a file
only fills in what is not set). GIFTQ_ENV_FILE names another file, or, set empty, none (the tests set it so).
Values are taken as written, with no `${...}` expansion: a password with a `$` in it stays that password, as
honcho and compose's `env_file` hand it to the processes they start.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

from config.settings import SettingsError

ENV_FILE_VARIABLE = "GIFTQ_ENV_FILE"
DEFAULT_ENV_FILE = ".env"


def read_env_file() -> Path | None:
    """Load the env file into os.environ (never over a variable already set); the path read, or None."""
    named = os.environ.get(ENV_FILE_VARIABLE)
    if named == "":
        return None
    path = Path(named or DEFAULT_ENV_FILE)
    if not path.is_file():
        if named:
            raise SettingsError(f"{ENV_FILE_VARIABLE} names {named!r}, which is not a file")
        return None
    try:
        load_dotenv(path, override=False, interpolate=False)
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"cannot read {path}: {error}") from None
    return path
