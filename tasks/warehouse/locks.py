"""A run's hold on one period and kind while it writes: two runs never interleave their writes."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from tasks.warehouse.engine import warehouse
from tasks.warehouse.models import RunLock


class LockTimeout(RuntimeError):
    """Another run held the period for longer than this run would wait."""


def try_lock(engine: Engine, name: str, run_id: str, lease: dt.timedelta) -> bool:
    """Take the lock `name` for `run_id` if it is free, expired or already ours; True when taken."""
    now = dt.datetime.now(dt.UTC)
    t = RunLock.__table__
    with engine.begin() as conn:
        took = conn.execute(
            t.update()
            .where(t.c.name == name, (t.c.expires_at < now) | (t.c.run_id == run_id))
            .values(run_id=run_id, acquired_at=now, expires_at=now + lease)
        ).rowcount
        if took:
            return True
    try:
        with engine.begin() as conn:
            conn.execute(t.insert().values(name=name, run_id=run_id, acquired_at=now, expires_at=now + lease))
        return True
    except IntegrityError:
        return False  # another run holds it


def release_lock(engine: Engine, name: str, run_id: str) -> None:
    t = RunLock.__table__
    with engine.begin() as conn:
        conn.execute(t.delete().where(t.c.name == name, t.c.run_id == run_id))


def lock_holder(engine: Engine, name: str) -> str | None:
    t = RunLock.__table__
    with engine.connect() as conn:
        return conn.execute(select(t.c.run_id).where(t.c.name == name)).scalar_one_or_none()


@contextmanager
def period_lock(
    url: str,
    name: str,
    run_id: str,
    wait: dt.timedelta = dt.timedelta(minutes=30),
    lease: dt.timedelta = dt.timedelta(hours=2),
    poll: float = 1.0,
):
    """Hold the warehouse lock `name` (a period and kind) while the block writes.

    Waits up to `wait` for another run to finish; then raises LockTimeout with a
    Finnish message naming the run that holds the period.
    """
    with warehouse(url) as engine:
        deadline = time.monotonic() + wait.total_seconds()
        while not try_lock(engine, name, run_id, lease):
            if time.monotonic() > deadline:
                raise LockTimeout(
                    f"kausi {name} on toisen ajon ({lock_holder(engine, name)}) käsittelyssä; yritä myöhemmin uudelleen"
                )
            time.sleep(poll)
        try:
            yield
        finally:
            release_lock(engine, name, run_id)
