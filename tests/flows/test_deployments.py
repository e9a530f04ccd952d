"""Deployments: Helsinki-time schedules across the DST changes, scheduled periods, prefect.yaml, the UI's form."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from deployments import (
    backfill_key,
    backfill_periods,
    next_runs,
    prefect_yaml,
    runner_deployments,
    scheduled_period,
    schedules,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
UTC = dt.UTC


def test_monthly_runs_keep_seven_oclock_local_time_across_both_dst_changes():
    # 2025: summer time from 30.3. 03:00, back to winter time 26.10. 04:00.
    runs = next_runs(schedules().for_kind("monthly").cron, 12, after=dt.datetime(2025, 1, 1, tzinfo=HELSINKI))
    assert [r.month for r in runs] == list(range(1, 13))
    assert all((r.day, r.hour, r.minute) == (8, 7, 0) for r in runs)
    utc = {r.month: r.astimezone(UTC).hour for r in runs}
    assert (utc[3], utc[4]) == (5, 4)  # winter (UTC+2) → summer (UTC+3)
    assert (utc[10], utc[11]) == (4, 5)  # summer → winter


@pytest.mark.parametrize(
    "night", [dt.datetime(2025, 3, 30, tzinfo=HELSINKI), dt.datetime(2025, 10, 26, tzinfo=HELSINKI)]
)
def test_no_schedule_runs_in_the_changeover_hours_or_twice(night):
    for d in schedules().deployments:
        runs = next_runs(d.cron, 6, after=night - dt.timedelta(days=400))
        assert all(r.hour == 7 for r in runs), d.name
        assert len({r.date() for r in runs}) == len(runs), d.name  # no day gets two runs


def test_forecast_rounds_follow_april_june_and_august_and_the_annual_report_january():
    forecast = next_runs(schedules().for_kind("forecast").cron, 3, after=dt.datetime(2025, 1, 1, tzinfo=HELSINKI))
    assert [scheduled_period(r) for r in forecast] == ["2025-04", "2025-06", "2025-08"]
    annual = next_runs(schedules().for_kind("annual").cron, 1, after=dt.datetime(2025, 1, 1, tzinfo=HELSINKI))
    assert scheduled_period(annual[0]) == "2024-12"


def test_scheduled_period_is_the_month_before_in_helsinki_time():
    assert scheduled_period(dt.datetime(2024, 9, 12, 7, tzinfo=HELSINKI)) == "2024-08"
    # 31.1. 23:30 UTC is already 1.2. in Helsinki: the period is January.
    assert scheduled_period(dt.datetime(2025, 1, 31, 23, 30, tzinfo=UTC)) == "2025-01"


def test_backfill_periods_and_keys():
    assert backfill_periods("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert backfill_periods("2024-03", "2024-02") == []
    assert backfill_key("monthly", "2024-01") != backfill_key("forecast", "2024-01")


def test_committed_prefect_yaml_is_generated_from_the_schedules():
    committed = (Path(__file__).resolve().parents[2] / "prefect.yaml").read_text(encoding="utf-8")
    assert committed == prefect_yaml({}), "run `katsaus deployments --write prefect.yaml`"
    doc = yaml.safe_load(committed)
    # Served or deployed to workers, each deployment runs one period at a time and queues the rest.
    limits = [d["concurrency_limit"] for d in doc["deployments"]]
    assert limits == [{"limit": 1, "collision_strategy": "ENQUEUE"}] * len(schedules().deployments)
    assert schedules().serve_limit == 1
    assert [d["name"] for d in doc["deployments"]] == [d.name for d in schedules().deployments]
    assert all(d["schedules"][0]["timezone"] == "Europe/Helsinki" for d in doc["deployments"])
    assert all(d["work_pool"]["name"] == schedules().work_pool for d in doc["deployments"])


def test_served_deployments_carry_the_schedule_and_a_validated_form():
    from flows.report import report_flow

    deps = runner_deployments(report_flow, {"extracts": "/data/extracts"})
    assert [d.name for d in deps] == ["kuukausiraportti", "toteutumisennuste", "toimintakertomus"]
    monthly = deps[0]
    assert monthly.parameters == {"params": {"extracts": "/data/extracts", "kind": "monthly"}}
    sched = monthly.schedules[0].schedule
    assert (sched.cron, sched.timezone) == ("0 7 8 * *", "Europe/Helsinki")
    assert all(d.concurrency_limit == 1 and d.concurrency_options.collision_strategy.value == "ENQUEUE" for d in deps)
    # The UI's form is the parameters model: period, kind, deliver, force, typed and described.
    schema = monthly._parameter_openapi_schema.model_dump()
    run_params = schema["definitions"]["RunParams"]["properties"]
    assert {"period", "kind", "extracts", "deliver", "force"} <= set(run_params)
    assert run_params["kind"]["enum"] == ["monthly", "forecast", "annual"]


def test_run_parameters_are_validated():
    from pydantic import ValidationError

    from flows.report import RunParams

    assert RunParams(period="2024-08").year == 2024
    for bad in ({"period": "2024-13"}, {"period": "2024-8"}, {"kind": "weekly"}, {"approval_timeout_hours": 0}):
        with pytest.raises(ValidationError):
            RunParams(**bad)


def test_typeset_pdfs_are_kept_in_the_runs_cache_folder_or_the_machines_shared_one(monkeypatch, tmp_path):
    from flows.params import SHARED_PDF_CACHE, RunParams

    monkeypatch.delenv(SHARED_PDF_CACHE, raising=False)
    assert RunParams(cache_dir=str(tmp_path / "cache")).pdf_cache == tmp_path / "cache" / "pdf"
    monkeypatch.setenv(SHARED_PDF_CACHE, str(tmp_path / "shared"))
    assert RunParams(cache_dir=str(tmp_path / "cache")).pdf_cache == tmp_path / "shared"


def test_the_meeting_date_is_read_as_typed_or_taken_from_the_calendar(capsys):
    from flows.cli import parser
    from flows.report import RunParams, with_period

    typed = RunParams(period="2024-08", meeting_date="24.9.2024", report_date="2024-09-20")
    assert (typed.meeting_date, typed.report_date) == (dt.date(2024, 9, 24), dt.date(2024, 9, 20))
    assert with_period(typed).meeting_date == dt.date(2024, 9, 24)
    # Without one: the board's first meeting after the report is prepared and its period has ended.
    prepared = RunParams(period="2024-08", report_date=dt.date(2024, 9, 11))
    assert with_period(prepared).meeting_date == dt.date(2024, 9, 24)
    early = RunParams(period="2024-08", report_date=dt.date(2024, 8, 15))
    assert with_period(early).meeting_date == dt.date(2024, 9, 10)
    assert schedules().next_meeting(dt.date(2030, 1, 1)) is None  # beyond the calendar: the cover shows none
    args = parser().parse_args(["run", "--period", "2024-08", "--meeting-date", "24.9.2024"])
    assert args.meeting_date == dt.date(2024, 9, 24)
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--period", "2024-08", "--meeting-date", "31.9.2024"])
    assert "Virheellinen päivämäärä '31.9.2024'" in capsys.readouterr().err


def test_the_uis_forms_speak_finnish():
    """The run form and the approval form: every field has a Finnish title and help beside it (the UI shows
    these, not the field's name)."""
    from flows.params import Approval, RunParams

    for model in (RunParams, Approval):
        for name, field in model.model_json_schema()["properties"].items():
            assert field.get("title") and field["title"] != name.replace("_", " ").title(), (model.__name__, name)
            assert field.get("description"), (model.__name__, name)
    assert Approval.model_json_schema()["properties"]["decision"]["title"] == "Päätös"
