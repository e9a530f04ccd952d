"""A run's hold on one period and kind while it writes: two runs never interleave their writes."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path

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


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: a reboot is not told apart
        return ""


def _started(pid: int) -> str:
    """When process `pid` started (clock ticks since boot), which tells a reused process id apart; "" if unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


@cache
def this_process() -> str:
    """Who holds a lock: host, boot, process id and the process's start."""
    pid = os.getpid()
    return "|".join((socket.gethostname(), _boot_id(), str(pid), _started(pid)))


def process_gone(holder: str | None) -> bool:
    """True when the lock's holder is known dead: a process of this host that no longer runs (killed, or the
    machine rebooted since). A holder on another host is never judged from here: its lease decides."""
    try:
        host, boot, pid, started = (holder or "").split("|")
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if boot and boot != _boot_id():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return bool(started) and _started(int(pid)) != started


def try_lock(engine: Engine, name: str, run_id: str, lease: dt.timedelta) -> bool:
    """Take the lock `name` for `run_id` if it is free, expired, held by a dead process of this host or already
    ours; True when taken."""
    t = RunLock.__table__
    me = this_process()
    with engine.begin() as conn:
        now = db_now(conn)
        takeable = (t.c.expires_at < now) | (t.c.run_id == run_id)
        holder = conn.execute(select(t.c.holder).where(t.c.name == name)).scalar_one_or_none()
        if process_gone(holder):
            log.warning("Kauden %s lukinnut ajo on kuollut (%s); lukitus otetaan.", name, holder)
            takeable |= t.c.holder == holder
        took = conn.execute(
            t.update()
            .where(t.c.name == name, takeable)
            .values(run_id=run_id, holder=me, acquired_at=now, expires_at=now + lease)
        ).rowcount
        if took:
            return True
    try:
        with engine.begin() as conn:
            now = db_now(conn)
            conn.execute(
                t.insert().values(name=name, run_id=run_id, holder=me, acquired_at=now, expires_at=now + lease)
            )
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
