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

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

MIGRATIONS = Path(str(resources.files("tasks.warehouse").joinpath("migrations")))


# How long a SQLite connection waits for another run's write before it gives up (the documented wait for a
# period held by another run is longer and lives in the lock; this covers the short writes between).
SQLITE_BUSY_SECONDS = 120
# Serialises migrations of one PostgreSQL database across runs (an arbitrary, fixed advisory-lock key).
PG_MIGRATION_LOCK = 4_815_162_342


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite warehouse's URL; None for another database or an in-memory one."""
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///"))
    return None


def engine_for(url: str) -> Engine:
    """An engine on the URL. SQLite is set up for several runs at once: WAL (readers do not block the writer), a
    busy timeout (a second run waits instead of failing with "database is locked"), and every transaction taken
    for writing at its start (BEGIN IMMEDIATE), so that a transaction that read never fails when it then writes."""
    if not url.startswith("sqlite"):
        return create_engine(url)
    if (file := sqlite_file(url)) is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _sqlite_for_many_runs(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below decides how a transaction starts
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, one run at a time (two runs on a fresh database would
    otherwise both create it)."""
    from alembic import command  # heavy: Alembic loads its script machinery
    from alembic.config import Config  # see above

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Held to the end of this transaction; SQLite's BEGIN IMMEDIATE already serialises it.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the warehouse's schema is at; None for an empty database."""
    from alembic.runtime.migration import MigrationContext  # heavy: Alembic loads its script machinery

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


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
