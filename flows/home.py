"""The one home of a run's places (no Prefect here: the command line reads it before Prefect is imported)."""

from __future__ import annotations

import os
from pathlib import Path

# The places of a run, relative to the home unless absolute (the warehouse only when it is a SQLite file).
PLACES = ("extracts", "out", "cache_dir", "archive", "publish_dir")
SQLITE = "sqlite:///"


def katsaus_home() -> Path:
    """Where relative places (`var/`, `out/`) live: `KATSAUS_HOME`, else the checkout katsaus runs from, else the
    current folder (an installed wheel). One home for every run, whatever folder it was started in: the
    exactly-once ledger and the archive are the same for all of them."""
    if os.environ.get("KATSAUS_HOME", "").strip():
        return Path(os.environ["KATSAUS_HOME"].strip()).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[1]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd().resolve()


def at_home(path: str, home: Path) -> str:
    """`path` as an absolute path: relative ones are in `home`."""
    return str(path if Path(path).is_absolute() else home / path)


def warehouse_at_home(url: str, home: Path) -> str:
    """A SQLite file's URL with an absolute path (`sqlite:////…`); other URLs as they are."""
    if url.startswith(SQLITE) and url != SQLITE and not url.startswith(SQLITE + "/") and ":memory:" not in url:
        return SQLITE + at_home(url.removeprefix(SQLITE), home)
    return url
