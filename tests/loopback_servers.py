"""Throwaway servers on loopback for the tests and `make bench-e2e`: PostgreSQL from the Debian binaries, and a
Prefect server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ServerDidNotStart(RuntimeError):
    """A server did not answer in time (the message holds the end of its log)."""


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


@contextmanager
def running_prefect_server(home: Path, timeout: float = 180) -> Iterator[str]:
    """`prefect server start` on a free loopback port with `home` as its PREFECT_HOME; yields the API URL once
    it answers (start-up 10–30 s here), then stops it."""
    import httpx

    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ServerDidNotStart(
                    "the Prefect server did not start:\n" + log_path.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
