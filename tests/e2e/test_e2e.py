"""End to end on real parts: a Prefect server and `katsaus serve` as their own processes, a real SMTP server.

Runs are triggered through the Prefect API with parameters, as the UI does,
and approved or rejected by giving the paused run its input through the API,
as the UI's form does. The module's tests build on each other in order: first
delivery, a rerun that sends nothing, a correction sent as version 2, an SMTP
server down and then up, a rejection, an approval that never comes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from prefect.client.schemas.actions import DeploymentUpdate

from tests.flows.conftest import checked_warehouse, resume_with, stage_lines_are_all_there
from tests.smtp_recorder import Recorder, free_port, make_controller

FORECAST = "katsaus-report/toteutumisennuste"
MONTHLY = "katsaus-report/kuukausiraportti"
BOARD_TO = "sihteeri@stadi.example"
OPS_TO = "yllapito@stadi.example"


def wait_for(what: str, check, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def client(prefect_server):
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(prefect_server) as c:
        yield c


class Mail:
    """A real SMTP server that can be stopped and started again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.handler = Recorder()
        self.controller = None

    def start(self):
        self.controller = make_controller(self.handler, self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()
        self.controller = None

    def to(self, address: str) -> list:
        return [r for r in self.handler.received if address in r.rcpt_tos]


@pytest.fixture(scope="module")
def mail():
    m = Mail()
    m.start()
    yield m
    if m.controller:
        m.stop()


@pytest.fixture(scope="module")
def place(sample_dir, forecast_run, tmp_path_factory):
    """The served runs' folders: a copy of the sample they read, their outputs, archive and warehouses (the served
    runs' and the worker's, each holding the sample as an earlier run checked it)."""
    root = tmp_path_factory.mktemp("e2e")
    shutil.copytree(sample_dir, root / "extracts")
    checked_warehouse(forecast_run, root)
    checked_warehouse(forecast_run, root, "worker.db")
    return root


def katsaus_env(prefect_server: str, mail: Mail, place: Path) -> dict:
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "PREFECT_UI_URL": prefect_server.removesuffix("/api"),
        # Pick up new and resumed runs within a second or two, not the default ten.
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_HOME": str(place / "client-home"),
        "KATSAUS_SMTP_HOST": "127.0.0.1",
        "KATSAUS_SMTP_PORT": str(mail.port),
        "KATSAUS_MAIL_FROM": "Katsaus <katsaus@stadi.example>",
        "KATSAUS_MAIL_TO": BOARD_TO,
        "KATSAUS_OPS_MAIL_TO": OPS_TO,
        "KATSAUS_WATCH_SECONDS": "2",
    }
    return env


def place_options(place: Path) -> list[str]:
    return [
        "--extracts",
        str(place / "extracts"),
        "--out",
        str(place / "out"),
        "--warehouse",
        f"sqlite:///{place / 'w.db'}",
        "--archive",
        str(place / "archive"),
        "--cache-dir",
        str(place / "cache"),
    ]


KATSAUS = str(Path(sys.executable).parent / "katsaus")
APPROVER = "maija.meikalainen@stadi.example"  # an approver's address in settings.yaml


def test_backfill_creates_each_period_once(prefect_server, client, mail, place):
    """`katsaus backfill` twice over the same range: one run per period, the deployment's parameters with the period."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments import runner_deployments
    from flows.report import report_flow

    # Register the deployments without serving them, so the backfilled runs stay scheduled.
    with temporary_settings({PREFECT_API_URL: prefect_server}):
        for d in runner_deployments(report_flow, {"extracts": str(place / "extracts")}):
            d.apply()
    env = katsaus_env(prefect_server, mail, place)
    args = [KATSAUS, "backfill", "--from", "2024-01", "--to", "2024-08", "--kind", "monthly"]
    first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Uusia ajoja 8, olemassa olevia 0." in first.stdout
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert "Uusia ajoja 0, olemassa olevia 8." in again.stdout
    dep = client.read_deployment_by_name(MONTHLY)
    # One run of the deployment at a time; the rest wait in the queue (never dropped).
    assert dep.global_concurrency_limit.limit == 1
    assert dep.concurrency_options.collision_strategy.value == "ENQUEUE"
    runs = [
        r
        for r in client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])))
        if r.idempotency_key
    ]
    assert sorted(r.parameters["params"]["period"] for r in runs) == [f"2024-{m:02d}" for m in range(1, 9)]
    assert all(
        r.parameters["params"]["extracts"] == str(place / "extracts") and r.parameters["params"]["kind"] == "monthly"
        for r in runs
    )
    for r in runs:  # they are not meant to run in this test module
        client.delete_flow_run(r.id)


REPO = Path(__file__).resolve().parents[2]


def test_prefect_yaml_deploys_to_a_process_work_pool_and_a_worker_runs_it(prefect_server, client, mail, place):
    """The server path: `prefect deploy --all` from prefect.yaml, a process worker, a run with parameters."""
    env = {**katsaus_env(prefect_server, mail, place), "KATSAUS_HOME": str(REPO)}
    prefect = [sys.executable, "-m", "prefect"]
    made = subprocess.run(
        [*prefect, "work-pool", "create", "katsaus-process", "--type", "process"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    deployed = subprocess.run(
        [*prefect, "--no-prompt", "deploy", "--all"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    deps = {
        d: client.read_deployment_by_name(f"katsaus-report/{d}")
        for d in ("kuukausiraportti", "toteutumisennuste", "toimintakertomus")
    }
    assert all(d.work_pool_name == "katsaus-process" for d in deps.values())
    assert [(s.schedule.cron, s.schedule.timezone) for s in deps["toteutumisennuste"].schedules] == [
        ("0 7 12 5,7,9 *", "Europe/Helsinki")
    ]
    out = place / "worker-out"
    # The operator points the deployment at its folders; a run's form cannot move them.
    places = {
        "extracts": str(place / "extracts"),
        "out": str(out),
        "warehouse": f"sqlite:///{place / 'worker.db'}",
        "cache_dir": str(place / "cache"),
        "archive": str(place / "worker-archive"),
    }
    forecast = deps["toteutumisennuste"]
    client.update_deployment(
        forecast.id, DeploymentUpdate(parameters={"params": {**forecast.parameters["params"], **places}})
    )
    params = {"period": "2024-08", "kind": "forecast", "deliver": False, "out": str(place / "form-out")}
    run = client.create_flow_run_from_deployment(forecast.id, parameters={"params": params})
    log = (place / "worker.log").open("wb")
    worker = subprocess.Popen(
        [*prefect, "worker", "start", "--pool", "katsaus-process", "--run-once"],
        env=env,
        cwd=place,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        st = wait_final(client, run.id, timeout=300)
        assert st.is_completed(), (place / "worker.log").read_text(errors="replace")[-3000:]
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
    assert "3. toteutumisennuste 2024" in (out / "2024-08-forecast" / "report.html").read_text(encoding="utf-8")
    assert not (place / "form-out").exists()  # the form's folder was not used
    for d in deps.values():  # the served deployments of the next tests take these names
        client.delete_deployment(d.id)


class Served:
    """`katsaus serve` as its own process, serving the deployments on the Prefect server; it can be restarted."""

    def __init__(self, prefect_server: str, mail: Mail, place: Path):
        self.env = katsaus_env(prefect_server, mail, place)
        self.place = place
        self.proc = None
        self.log = None
        self.reports_port = free_port()  # the report folders over HTTP, the same port after a restart

    def start(self) -> None:
        self.log = (self.place / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [KATSAUS, "serve", *place_options(self.place), "--reports-port", str(self.reports_port)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.place,
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def served(prefect_server, client, mail, place):
    """`katsaus serve`, up once its deployments are registered."""
    serving = Served(prefect_server, mail, place)
    serving.start()

    def deployed():
        if serving.proc.poll() is not None:
            pytest.fail((place / "serve.log").read_text(errors="replace")[-3000:])
        try:
            dep = client.read_deployment_by_name(FORECAST)
        except Exception:
            return None
        # Registered by serve itself (with its folders), not left over from an earlier registration.
        return dep.parameters["params"].get("archive") == str(place / "archive") and dep

    wait_for("the served deployments", deployed, 120)
    time.sleep(1)  # the runner polls for work every second
    yield serving
    serving.stop()


def trigger(client, **params) -> str:
    """A run of the forecast deployment with parameters, as the UI's 'custom run' creates it."""
    dep = client.read_deployment_by_name(FORECAST)
    run = client.create_flow_run_from_deployment(
        dep.id, parameters={"params": {**dep.parameters["params"], "period": "2024-08", **params}}
    )
    return run.id


def state_of(client, run_id):
    return client.read_flow_run(run_id).state


def wait_paused(client, run_id, place: Path):
    def paused():
        st = state_of(client, run_id)
        if st.is_final():
            pytest.fail(
                f"the run ended before approval: {st.name} {st.message}\n"
                + (place / "serve.log").read_text(errors="replace")[-3000:]
            )
        return st.is_paused()

    wait_for("the run to wait for approval", paused, 240)


def wait_final(client, run_id, timeout: float = 240):
    return wait_for("the run to finish", lambda: (st := state_of(client, run_id)).is_final() and st, timeout)


def answer(client, run_id, decision: str, approver: str = "Maija Meikäläinen", comment: str = ""):
    """What the UI's resume form sends: the approval input of the paused run."""
    resume_with(client, run_id, {"approver": approver, "decision": decision, "comment": comment})


def task_runs_of(client, run_id, task: str) -> list:
    """The runs of one task (`draft-…`) in a flow run."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    return [t for t in runs if t.name.rsplit("-", 1)[0] == task]


def artifacts_of(client, run_id) -> dict:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    return {
        a.key: a
        for a in client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    }


def persisted_drafts(place: Path) -> list[Path]:
    return list((place / "client-home" / "storage").glob("katsaus-draft-*"))


def test_approved_in_the_ui_after_a_restart_of_serve_the_report_reaches_the_board_once(served, client, mail, place):
    """The approval wait holds no process: `katsaus serve` is restarted while the run waits, the approval resumes
    the run on the new process, which delivers the draft its approver saw (not a rebuilt one)."""
    run_id = trigger(client)
    wait_paused(client, run_id, place)
    assert state_of(client, run_id).name == "Suspended"  # the wait lives on the server, not in a process
    draft = (place / "out" / "2024-08-forecast" / "report.html").read_text(encoding="utf-8")
    assert "LUONNOS" in draft  # the controller reviews the draft before approving
    drafted = json.loads((place / "out" / "2024-08-forecast" / "manifest.json").read_text(encoding="utf-8"))
    assert [p.name for p in persisted_drafts(place)] == [f"katsaus-draft-{run_id}"]
    # The controllers were told that the draft waits: its link opens it, the other leads to the run's page.
    [asked] = [m.message for m in mail.to(APPROVER) if "odottaa hyväksyntää" in m.message["Subject"]]
    body = asked.get_body(("plain",)).get_content()
    draft_link = re.search(r"Luonnos: (\S+)", body)[1]
    with urllib.request.urlopen(draft_link, timeout=10) as opened:
        assert opened.read().startswith(b"%PDF")
    assert f"/runs/flow-run/{run_id}" in body
    served.restart()
    answer(client, run_id, "hyväksy", comment="Tarkistettu.")
    assert wait_final(client, run_id).is_completed(), (place / "serve.log").read_text(errors="replace")[-3000:]
    # Resumed on the new process, the run does not tell them again.
    assert len([m for m in mail.to(APPROVER) if "odottaa hyväksyntää" in m.message["Subject"]]) == 1
    # The served run's logs in the UI tell each stage of its draft in Finnish.
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    logs = client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200, sort=LogSort.TIMESTAMP_ASC
    )
    stage_lines_are_all_there([log.message for log in logs])
    board = mail.to(BOARD_TO)
    assert len(board) == 1
    msg = board[0].message
    pdf = next(p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf")
    assert pdf.get_content() == (place / "archive" / "2024-08-forecast" / "v1" / "report.pdf").read_bytes()
    final_manifest = json.loads((place / "out" / "2024-08-forecast" / "manifest.json").read_text(encoding="utf-8"))
    # The very draft the approver saw: made once, before the wait, and taken back from its persisted result.
    assert final_manifest["drafted_at"] == drafted["drafted_at"]
    assert final_manifest["content_fingerprint"] == drafted["content_fingerprint"]
    assert final_manifest["approval"]["approved_by"] == "Maija Meikäläinen"
    assert sorted(t.state.name for t in task_runs_of(client, run_id, "draft")) == ["Cached", "Completed"]
    assert persisted_drafts(place) == []
    final = (place / "out" / "2024-08-forecast" / "report.html").read_text(encoding="utf-8")
    assert "LUONNOS" not in final and "Tarkistettu." in final
    keys = artifacts_of(client, run_id)
    assert {
        "katsaus-forecast-2024-08-yhteenveto",
        "katsaus-forecast-2024-08-tietojen-laatu",
        "katsaus-forecast-2024-08-poikkeamat",
        "katsaus-forecast-2024-08-raportti",
        "katsaus-forecast-2024-08-hyvaksynta",
    } <= set(keys)
    assert "Sitovat toiminnan tavoitteet" in keys["katsaus-forecast-2024-08-yhteenveto"].data
    # The UI's report link opens the approved PDF: `katsaus serve` serves the output folder on loopback.
    link = re.search(r"\((http[^)]+)\)", keys["katsaus-forecast-2024-08-raportti"].data)[1]  # [Raportti (PDF)](…)
    assert link == f"http://127.0.0.1:{served.reports_port}/raportit/2024-08-forecast/report.pdf"
    with urllib.request.urlopen(link, timeout=10) as opened:
        assert opened.read() == (place / "out" / "2024-08-forecast" / "report.pdf").read_bytes()


def test_a_custom_run_cannot_approve_itself(served, client, mail, place):
    """The UI's custom run with `approve_as` filled in: refused at its start, nothing built, nothing sent."""
    before = len(mail.to(BOARD_TO))
    run_id = trigger(client, approve_as="Maija Meikäläinen")
    state = wait_final(client, run_id, timeout=120)
    assert state.is_failed() and "vain komentorivin ajoille" in state.message
    assert len(mail.to(BOARD_TO)) == before


def test_a_rerun_with_the_same_inputs_sends_nothing(served, client, mail, place):
    run_id = trigger(client)
    wait_paused(client, run_id, place)
    answer(client, run_id, "hyväksy")
    assert wait_final(client, run_id).is_completed()
    assert len(mail.to(BOARD_TO)) == 1
    assert sorted(p.name for p in (place / "archive" / "2024-08-forecast").iterdir()) == ["v1"]


def correct(place: Path, extra_leavers: int) -> None:
    """A controller fixes an extract: August's permanent leavers."""
    path = place / "extracts" / "henkilosto_202408.csv"
    staff = pd.read_csv(path, sep=";", encoding="utf-8-sig")
    staff["Vakituisista_lahteneet"] += extra_leavers
    path.write_bytes(staff.to_csv(sep=";", index=False).encode("utf-8-sig"))


def test_a_corrected_extract_is_version_2_sent_as_a_correction(served, client, mail, place):
    correct(place, 40)
    run_id = trigger(client)
    wait_paused(client, run_id, place)
    answer(client, run_id, "hyväksy")
    assert wait_final(client, run_id).is_completed()
    board = mail.to(BOARD_TO)
    assert len(board) == 2
    assert board[1].message["Subject"].startswith("Korjattu versio (v2)")
    assert "Vakituisen henkilöstön lähtövaihtuvuus" in board[1].message.get_body(("plain",)).get_content()


def test_an_smtp_server_down_then_up_gives_one_delivery(served, client, mail, place):
    correct(place, 25)  # version 3
    run_id = trigger(client)
    wait_paused(client, run_id, place)
    mail.stop()
    answer(client, run_id, "hyväksy")
    # The server comes back while the delivery retries with backoff.
    threading.Timer(4.0, mail.start).start()
    assert wait_final(client, run_id).is_completed()
    board = mail.to(BOARD_TO)
    assert len(board) == 3 and board[2].message["Subject"].startswith("Korjattu versio (v3)")


def test_a_rejected_report_is_not_delivered_and_says_why(served, client, mail, place):
    correct(place, 10)  # new content: it would be version 4
    run_id = trigger(client)
    wait_paused(client, run_id, place)
    answer(client, run_id, "hylkää", approver="Matti Virtanen", comment="Henkilöstöluvut tarkistettava.")
    assert wait_final(client, run_id).is_completed()
    assert len(mail.to(BOARD_TO)) == 3
    assert not (place / "archive" / "2024-08-forecast" / "v4").exists()
    decision = artifacts_of(client, run_id)["katsaus-forecast-2024-08-hyvaksynta"].data
    assert "Hylätty" in decision and "Henkilöstöluvut tarkistettava." in decision


def test_an_approval_that_never_comes_fails_the_run_and_alerts_the_operators(served, client, mail, place):
    """The suspended run's wait expires on the server, with no process of the run alive: `katsaus serve` reports it
    to the operators once, records the decision on the run and removes the run's draft."""
    run_id = trigger(client, approval_timeout_hours=0.002)  # about seven seconds
    st = wait_final(client, run_id)
    assert st.is_failed()
    assert len(mail.to(BOARD_TO)) == 3  # nothing delivered

    def bodies():
        return [m.message.get_body(("plain",)).get_content() for m in mail.to(OPS_TO)]

    try:
        body = wait_for(
            "the operators' alert on this run", lambda: next((b for b in bodies() if str(run_id) in b), None), 30
        )
    except AssertionError:
        raise AssertionError(f"no alert names run {run_id}; alerts: {bodies()}") from None
    assert "Hyväksyntää ei saatu" in body
    assert "Hyväksyntää ei saatu" in artifacts_of(client, run_id)["katsaus-forecast-2024-08-hyvaksynta"].data
    assert "katsaus-ilmoitettu" in client.read_flow_run(run_id).tags
    assert persisted_drafts(place) == [] and not list((place / "out").glob(f".*.draft-{run_id}"))
    time.sleep(5)  # a few more rounds of the watch: still one alert
    assert sum(str(run_id) in b for b in bodies()) == 1
