"""Connecting to the warehouse: any SQLAlchemy URL, migrated to the newest schema, disposed after use.

`warehouse(url)` is the one way a stage opens it: an engine on the URL, the
schema brought to the newest Alembic revision, the connections closed when the
block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

MIGRATIONS = Path(str(resources.files("tasks.warehouse").joinpath("migrations")))


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command  # heavy: Alembic loads its script machinery
    from alembic.config import Config  # see above

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def warehouse(url: str, *, migrated: bool = True) -> Iterator[Engine]:
    """An engine on `url` (migrated to the newest schema unless told otherwise), disposed after the block."""
    engine = engine_for(url)
    try:
        if migrated:
            migrate(engine)
        yield engine
    finally:
        engine.dispose()
