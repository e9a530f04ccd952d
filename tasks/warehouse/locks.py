"""A run's hold on one period and kind while it writes: two runs never interleave their writes."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from contextlib import contextmanager

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from tasks.warehouse.engine import warehouse
from tasks.warehouse.models import RunLock

log = logging.getLogger("katsaus.warehouse")


class LockTimeout(RuntimeError):
    """Another run held the period for longer than this run would wait."""


def db_now(conn: Connection) -> dt.datetime:
    """The database's clock, not the worker's: leases expire by one clock whichever machine runs."""
    if conn.dialect.name == "sqlite":
        text_now = conn.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return dt.datetime.fromisoformat(text_now).replace(tzinfo=dt.UTC)
    return conn.execute(select(func.now())).scalar_one().astimezone(dt.UTC)


def try_lock(engine: Engine, name: str, run_id: str, lease: dt.timedelta) -> bool:
    """Take the lock `name` for `run_id` if it is free, expired or already ours; True when taken."""
    t = RunLock.__table__
    with engine.begin() as conn:
        now = db_now(conn)
        took = conn.execute(
            t.update()
            .where(t.c.name == name, (t.c.expires_at < now) | (t.c.run_id == run_id))
            .values(run_id=run_id, acquired_at=now, expires_at=now + lease)
        ).rowcount
        if took:
            return True
    try:
        with engine.begin() as conn:
            now = db_now(conn)
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


def renew_lock(engine: Engine, name: str, run_id: str, lease: dt.timedelta) -> bool:
    """Extend our hold on `name` by `lease` from now; False if the lock is no longer ours."""
    t = RunLock.__table__
    with engine.begin() as conn:
        now = db_now(conn)
        return bool(
            conn.execute(
                t.update().where(t.c.name == name, t.c.run_id == run_id).values(expires_at=now + lease)
            ).rowcount
        )


class _Renewal(threading.Thread):
    """Renews a held lock every quarter lease, so that a long run keeps it (and a dead run's lease runs out)."""

    def __init__(self, engine: Engine, name: str, run_id: str, lease: dt.timedelta) -> None:
        super().__init__(name=f"lock-{name}", daemon=True)
        self.engine, self.lock_name, self.run_id, self.lease = engine, name, run_id, lease
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stopped.wait(self.lease.total_seconds() / 4):
            try:
                if not renew_lock(self.engine, self.lock_name, self.run_id, self.lease):
                    self.lost = True
                    log.warning("Ajo %s menetti kauden %s lukituksen.", self.run_id, self.lock_name)
                    return
            except Exception as exc:  # a failed renewal is tried again at the next beat
                log.warning("Kauden %s lukituksen uusiminen epäonnistui: %s", self.lock_name, exc)


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
        renewal = _Renewal(engine, name, run_id, lease)
        renewal.start()
        try:
            yield
        finally:
            renewal.stopped.set()
            renewal.join()
            release_lock(engine, name, run_id)
