"""Shared fixtures: a generated sample, a temporary Prefect server, a PostgreSQL server.

Nothing here writes into the working tree: every path is a pytest temporary folder.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tasks.warehouse import engine as wh_engine
from tasks.warehouse import models as wh_models
from tests.loopback_servers import ServerDidNotStart, running_prefect_server
from tests.smtp_recorder import smtp_server  # noqa: F401  (a fixture: a real SMTP server on loopback)

# Prefect's home and logging for the whole test session, set before Prefect is imported.
_PREFECT_HOME = tempfile.mkdtemp(prefix="katsaus-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
# Removed when the process ends, after the session's server has stopped (its database is some tens of megabytes).
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session", autouse=True)
def shared_pdf_cache(tmp_path_factory) -> Path:
    """One folder of typeset PDFs for the whole run of the suite, both xdist workers' (each test has its own cache
    folder otherwise): the same draft, typeset once by WeasyPrint, serves every run that makes the same HTML
    (`report_pdf`). In pytest's own temporary folder (a worker's is beside the other's), removed with it."""
    from flows.params import SHARED_PDF_CACHE  # imports Prefect: after its home is set above

    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "typeset-pdf"
    os.environ[SHARED_PDF_CACHE] = str(folder)
    return folder


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """The 2024 sample extracts, generated once per session (read-only by convention)."""
    from tasks.samples import sample_extracts

    out = tmp_path_factory.mktemp("sample")
    sample_extracts(2024, out)
    return out


@pytest.fixture(scope="session")
def forecast_run(sample_dir, tmp_path_factory, prefect_server) -> tuple[Path, Path]:
    """The demo's report (3rd forecast, January–August 2024) of the sample: (report folder, its run's folder, which
    holds its warehouse `w.db`). Its files are one work unit (`DEMO_REPORT_FILES`): a worker takes them all. Other
    files start from a copy of its warehouse (`checked_warehouse`): a worker that takes one runs it too, once."""
    from tests.flows.conftest import run_report  # imports Prefect: after its home is set above

    tmp = tmp_path_factory.mktemp("forecast-run")
    return Path(run_report(sample_dir, tmp)["report_dir"]), tmp


@pytest.fixture
def extracts(sample_dir, tmp_path) -> Path:
    """A private copy of the sample that a test may break."""
    dst = tmp_path / "extracts"
    shutil.copytree(sample_dir, dst)
    return dst


@pytest.fixture(scope="session")
def prefect_server():
    """One real Prefect server for the whole session (`prefect server start` on loopback; start-up 10–30 s).

    The flows the tests run in this process and the processes the end-to-end
    tests start (`katsaus serve`, workers) all talk to it. Its home is the
    session's Prefect home, so its database is where the tests look for leaks.
    Yields the API URL.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    try:
        with running_prefect_server(Path(_PREFECT_HOME)) as url:
            with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_UI_URL: url.removesuffix("/api")}):
                yield url
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))


# The test files that build on the sample's demo report itself (`forecast_run`, a session fixture: a whole run) run on
# one worker, which runs it once for all of them.
DEMO_REPORT_FILES = (
    "tests/flows/test_flow.py",
    "tests/flows/test_report_kinds.py",
    "tests/flows/test_commentary_flow.py",
    "tests/ingest/test_bad_inputs.py",
)
DEMO_REPORT_GROUP = "demo-report"
# The longest units of work (measured: a minute or more each, whole runs), longest first. `make test` hands each
# worker a unit at a time in this order: a long unit that started last would run alone while the other core idles.
LONGEST_FIRST = (
    "tests/e2e/test_e2e.py",
    DEMO_REPORT_GROUP,
    "tests/faults/test_backfill_faults.py",
    "tests/faults/test_kill_faults.py",
    "tests/flows/test_flow_runs.py",
    "tests/test_packaging.py",
    "tests/ingest/test_reuse.py",
    "tests/flows/test_reminders.py",
)


def work_unit(nodeid: str) -> str:
    """The unit of work an xdist worker takes whole: the test's file, or the demo report's group."""
    path = nodeid.split("::")[0]
    return DEMO_REPORT_GROUP if path in DEMO_REPORT_FILES else path


def pytest_collection_modifyitems(items):
    """Tests that need a Prefect server (they run flows or serve them) are `slow`; `-m "not slow"` is the quick part.
    The longest units come first (a stable sort: the rest keep their order)."""
    for item in items:
        if "prefect_server" in getattr(item, "fixturenames", ()) or "e2e" in item.nodeid.split("/"):
            item.add_marker(pytest.mark.slow)
    rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))


class WorkUnits:
    """`make test`'s workers take a `work_unit` at a time, in collection order (longest first). xdist's own
    `loadgroup` cannot group files under pytest 9 (its group suffix no longer reaches the node ids), and its
    `loadfile` reorders the files by their number of tests. A plugin of its own: its hook exists only with xdist."""

    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") not in ("load", "loadfile"):
            return None
        from xdist.scheduler import LoadScopeScheduling  # present: this plugin is registered only with xdist

        class WorkUnitScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return work_unit(nodeid)

        config.option.loadscopereorder = False
        return WorkUnitScheduling(config, log)


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(WorkUnits(), "katsaus-work-units")


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on loopback, started from the Debian binaries (`make test` installs them)."""
    from tests.loopback_servers import PostgresMissing, running_postgres

    try:
        with running_postgres() as url:
            yield url
    except PostgresMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session", autouse=True)
def sotkanet_replay():
    """THL Sotkanet for every test: recorded answers replayed on loopback (the internet is not reachable)."""
    from tests.sotkanet_replay import start_replay

    replay, server, url = start_replay()
    previous = os.environ.get("KATSAUS_SOTKANET_URL")
    os.environ["KATSAUS_SOTKANET_URL"] = url
    yield replay
    server.shutdown()
    server.server_close()
    if previous is None:
        os.environ.pop("KATSAUS_SOTKANET_URL", None)
    else:
        os.environ["KATSAUS_SOTKANET_URL"] = previous


@pytest.fixture
def sqlite_engine(tmp_path):
    """A migrated SQLite warehouse (for what does not depend on the database)."""
    e = wh_engine.engine_for(f"sqlite:///{tmp_path / 'w.db'}")
    wh_engine.migrate(e)
    yield e
    e.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    """A migrated warehouse on SQLite and on the real PostgreSQL server (each test runs on both)."""
    url = f"sqlite:///{tmp_path / 'w.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    e = wh_engine.engine_for(url)
    if request.param == "postgresql":
        wh_models.Base.metadata.drop_all(e)
        with e.begin() as c:
            c.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    wh_engine.migrate(e)
    yield e
    e.dispose()
