"""A day before an approval wait ends, its approvers are reminded, once (on a real Prefect server and SMTP server)."""

from __future__ import annotations

import datetime as dt

import pytest

from flows.report import report_flow
from flows.watch import REMINDED, remind_approvers
from tests.smtp_recorder import mail_env

pytestmark = pytest.mark.usefixtures("prefect_server")
APPROVERS = {"maija.meikalainen@stadi.example", "matti.virtanen@stadi.example"}  # settings.yaml


def waiting_run(client, hours_left: float, period: str, tmp_path):
    """A run of the report flow suspended for approval, its wait ending in `hours_left` hours."""
    from prefect.states import Suspended

    params = {"params": {"period": period, "kind": "forecast", "out": str(tmp_path / "out")}}
    run = client.create_flow_run(report_flow, parameters=params)
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours_left)
    client.set_flow_run_state(run.id, Suspended(pause_expiration_time=ends, pause_key="approval"), force=True)
    return run


def test_the_approvers_are_reminded_once_a_day_before_the_wait_ends(smtp_server, monkeypatch, tmp_path):
    from prefect.client.orchestration import get_client

    for name, value in mail_env(smtp_server.port).items():
        monkeypatch.setenv(name, value)
    with get_client(sync_client=True) as client:
        soon = waiting_run(client, 5, "2024-08", tmp_path)
        later = waiting_run(client, 72, "2024-06", tmp_path)
        done = remind_approvers(client)
        assert [line for line in done if soon.name in line]
        assert not [line for line in done if later.name in line]  # three days left: not yet
        assert not [line for line in remind_approvers(client) if soon.name in line]  # once only
        assert REMINDED in client.read_flow_run(soon.id).tags
        assert REMINDED not in client.read_flow_run(later.id).tags
    reminders = [m for m in smtp_server.handler.received if "Muistutus" in m.message["Subject"]]
    assert len(reminders) == 1 and set(reminders[0].rcpt_tos) == APPROVERS
    message = reminders[0].message
    assert message["Subject"] == (
        "Muistutus: luonnos odottaa hyväksyntää: 3. toteutumisennuste 2024, tammi–elokuu 2024"
    )
    body = message.get_body(("plain",)).get_content()
    assert f"/runs/flow-run/{soon.id}" in body and "2024-08-forecast/report.pdf" in body
