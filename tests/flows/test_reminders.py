"""Shortly before an approval wait ends, its approvers are reminded, once (on a real Prefect server and SMTP server):
by `katsaus serve`'s watcher for any waiting run, and by the waiting process itself for a run from the command line."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from prefect import tags

from flows.reminders import REMINDED, reminder_due
from flows.report import report_flow
from flows.watch import remind_approvers
from tests.flows.conftest import checked_warehouse, resume_with, run_report
from tests.smtp_recorder import mail_env

pytestmark = pytest.mark.usefixtures("prefect_server")
APPROVERS = {"maija.meikalainen@stadi.example", "matti.virtanen@stadi.example"}  # settings.yaml


def test_a_reminder_is_due_a_day_before_the_end_or_halfway_through_a_shorter_wait():
    start = dt.datetime(2024, 9, 12, 9, tzinfo=dt.UTC)
    assert reminder_due(start, start + dt.timedelta(days=14)) == start + dt.timedelta(days=13)
    assert reminder_due(start, start + dt.timedelta(hours=48)) == start + dt.timedelta(hours=24)
    assert reminder_due(start, start + dt.timedelta(hours=6)) == start + dt.timedelta(hours=3)


def waiting_run(client, hours_left: float, period: str, tmp_path):
    """A run of the report flow suspended for approval now, its wait ending in `hours_left` hours."""
    from prefect.states import Suspended

    params = {"params": {"period": period, "kind": "forecast", "out": str(tmp_path / "out")}}
    run = client.create_flow_run(report_flow, parameters=params)
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours_left)
    client.set_flow_run_state(run.id, Suspended(pause_expiration_time=ends, pause_key="approval"), force=True)
    return run


def test_the_watcher_reminds_the_approvers_once_a_day_before_the_wait_ends(smtp_server, monkeypatch, tmp_path):
    from prefect.client.orchestration import get_client

    for name, value in mail_env(smtp_server.port).items():
        monkeypatch.setenv(name, value)
    with get_client(sync_client=True) as client:
        short = waiting_run(client, 5, "2024-08", tmp_path)
        long = waiting_run(client, 72, "2024-06", tmp_path)
        assert not [line for line in remind_approvers(client) if short.name in line]  # not halfway yet
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
        done = remind_approvers(client, now=later)
        assert [line for line in done if short.name in line]
        assert not [line for line in done if long.name in line]  # three days left: not yet
        assert not [line for line in remind_approvers(client, now=later) if short.name in line]  # once only
        assert REMINDED in client.read_flow_run(short.id).tags
        assert REMINDED not in client.read_flow_run(long.id).tags
    reminders = [m for m in smtp_server.handler.received if "Muistutus" in m.message["Subject"]]
    assert len(reminders) == 1 and set(reminders[0].rcpt_tos) == APPROVERS
    message = reminders[0].message
    assert message["Subject"] == (
        "Muistutus: luonnos odottaa hyväksyntää: 3. toteutumisennuste 2024, tammi–elokuu 2024"
    )
    body = message.get_body(("plain",)).get_content()
    assert f"/runs/flow-run/{short.id}" in body and "2024-08-forecast/report.pdf" in body


def answer_when_reminded(tag: str, found: dict, stop: threading.Event) -> None:
    """Find the run tagged `tag` waiting for approval, wait until its approvers are reminded, then approve it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    try:
        with get_client(sync_client=True) as client:
            while not stop.is_set():
                mine = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))
                if mine and mine[0].state.is_paused() and REMINDED in mine[0].tags:
                    found["run"] = mine[0]
                    answer = {"approver": "Maija Meikäläinen", "decision": "hyväksy", "comment": ""}
                    resume_with(client, mine[0].id, answer)
                    return
                stop.wait(1)
    except Exception as exc:  # told by the test, not lost in the thread
        found["error"] = exc


def test_a_run_waiting_in_its_own_process_reminds_its_approvers_and_a_failed_request_stops_nothing(
    sample_dir, forecast_run, tmp_path, smtp_server, monkeypatch
):
    """A run from the command line waits in its own process: with nothing else watching, it reminds the approvers
    halfway through its 36-second wait. The request before it was refused by the mail server; the wait went on."""
    for name, value in mail_env(smtp_server.port).items():
        monkeypatch.setenv(name, value)
    checked_warehouse(forecast_run, tmp_path)  # the sample checked by an earlier run: the draft is made sooner
    smtp_server.handler.data_replies = ["554 5.7.1 Viesti hylätty"]  # the request for approval: refused for good
    tag = f"muistutustesti-{uuid.uuid4()}"
    found: dict = {}
    stop = threading.Event()
    answering = threading.Thread(target=answer_when_reminded, args=(tag, found, stop), daemon=True)
    answering.start()
    try:
        with tags(tag):
            result = run_report(sample_dir, tmp_path, deliver=True, approval_timeout_hours=0.01)
    finally:
        stop.set()
        answering.join()
    assert "error" not in found, found
    assert result["delivery"]["status"] == "sent"
    subjects = [m.message["Subject"] for m in smtp_server.handler.received]
    assert subjects[0] == "Muistutus: luonnos odottaa hyväksyntää: 3. toteutumisennuste 2024, tammi–elokuu 2024"
    assert set(smtp_server.handler.received[0].rcpt_tos) == APPROVERS
    reminder = smtp_server.handler.received[0].message.get_body(("plain",)).get_content()
    assert f".2024-08-forecast.draft-{found['run'].id}/report.pdf" in reminder  # the run's own draft
    assert subjects[1].startswith("Sosiaali-, terveys- ja pelastuslautakunta: 3. toteutumisennuste 2024")
    assert len(subjects) == 2

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[found["run"].id])))
    said = [log.message for log in logs]
    assert [line for line in said if line.startswith("Hyväksyntäpyyntö: ilmoitus hyväksyjille epäonnistui")]
    assert [line for line in said if "muistutus hyväksyjille (hyväksyjille ilmoitettiin" in line]


def test_a_reminder_that_cannot_be_sent_is_said_and_ends_nothing(capsys):
    """The waiting process's reminder meets a run the server does not know (as after a reset): a Finnish line, no
    exception out of the timer's thread."""
    from flows.report import remind_while_waiting

    remind_while_waiting(str(uuid.uuid4()))
    assert "Muistutusta hyväksyjille ei lähetetty" in capsys.readouterr().out
