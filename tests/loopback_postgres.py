"""A throwaway PostgreSQL server on loopback, from the Debian binaries: for the tests and `make bench-e2e`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PostgresMissing(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a server in a fresh data folder, yield its SQLAlchemy URL, then stop it and remove the folder."""
    pg = _pg_bin()
    if pg is None:
        raise PostgresMissing("PostgreSQL server binaries are missing: run `make test`, which installs them")
    # Directly under /tmp: pytest's own folders are private to root, and the server runs as postgres.
    data = Path(tempfile.mkdtemp(prefix="katsaus-pg-"))
    user = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: hand the folder to the postgres system user.
        shutil.chown(data, "postgres")
        user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*user, str(pg / "initdb"), "-D", str(data), "-U", "katsaus", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    log = data / "server.log"
    subprocess.run(
        [
            *user,
            str(pg / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        url = f"postgresql+psycopg://katsaus@127.0.0.1:{port}/postgres"
        from sqlalchemy import create_engine, text

        deadline = time.time() + 30
        while True:
            try:
                with create_engine(url).connect() as c:
                    c.execute(text("select 1"))
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield url
    finally:
        subprocess.run([*user, str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
