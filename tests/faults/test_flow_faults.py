"""The report flow under faults of its inputs and answers, on the session's Prefect server: an approval carrying an
identity code or an unlisted name, an older draft approved after a newer one, an extracts folder that is empty (an
unmounted disk). (A strict run with a source missing: tests/flows/test_flow_runs.py.)"""

from __future__ import annotations

import errno
import json
import os
import stat
from types import SimpleNamespace

import pytest

from flows import report, stages
from flows.report import RunParams, approval
from tasks.contracts.vocab import SPILL_DIR
from tasks.deliver.archive import archive_report
from tasks.ingest import extract, rows
from tasks.report.outputs import replace_outputs, staging_dir
from tests.flows.conftest import run_report

pytestmark = pytest.mark.usefixtures("prefect_server")
# Every write to it fails as on a full disk (ENOSPC).
FULL_DEVICE = "/dev/full"


@pytest.mark.parametrize(
    "who, comment", [("Maija 150583-917P", ""), ("Maija Meikäläinen", "asiakas 150583–917p soitti")]
)
def test_an_approval_holding_an_identity_code_is_refused(who, comment, monkeypatch):
    monkeypatch.setattr(
        report, "_answer", lambda p, built: report.Approval(approver=who, decision="hyväksy", comment=comment)
    )
    with pytest.raises(RuntimeError, match="henkilötunnus") as err:
        approval(RunParams(period="2024-08", kind="forecast"), built=None)
    assert "917" not in str(err.value)


def test_an_empty_extracts_folder_never_replaces_the_approved_report(tmp_path):
    final = tmp_path / "out" / "2024-08-forecast"
    final.parent.mkdir(parents=True)
    stage = staging_dir(final, "approved-run")
    (stage / "manifest.json").write_text(json.dumps({"approval": {"approved_by": "Maija"}}), encoding="utf-8")
    (stage / "report.pdf").write_bytes(b"%PDF hyvaksytty")
    replace_outputs(stage, final)
    empty = tmp_path / "extracts"
    empty.mkdir()
    with pytest.raises(RuntimeError, match="ei löytynyt yhtään lähdetiedostoa"):
        run_report(empty, tmp_path)
    assert (final / "report.pdf").read_bytes() == b"%PDF hyvaksytty"


def test_a_full_disk_while_rows_are_spilled_fails_the_run_clearly_and_leaves_nothing(sample_dir, tmp_path, monkeypatch):
    """The typed rows wait on disk between the stages: when the disk fills (the fourth part written into /dev/full,
    which answers as a full disk does), the run fails saying so in Finnish, removes what it spilled and never
    touches the approved report."""
    if not os.path.exists(FULL_DEVICE) or not stat.S_ISCHR(os.stat(FULL_DEVICE).st_mode):
        pytest.skip(f"{FULL_DEVICE} is not the kernel's full device here")
    final = tmp_path / "out" / "2024-08-forecast"
    final.parent.mkdir(parents=True)
    stage = staging_dir(final, "approved-run")
    (stage / "report.pdf").write_bytes(b"%PDF hyvaksytty")
    replace_outputs(stage, final)
    written = []
    write = rows.feather.write_feather

    def filling(df, path, **kw):
        written.append(path)
        if len(written) <= 3:
            return write(df, path, **kw)
        # An open file, not the path: given a path, pyarrow removes it after a failed write (the device, as root).
        # Opened without O_CREAT: where the device is missing, no file of that name is made.
        with open(os.open(FULL_DEVICE, os.O_WRONLY), "wb") as full:
            return write(df, full, **kw)

    monkeypatch.setattr(extract, "PART_ROWS", 2_000)
    monkeypatch.setattr(rows.feather, "write_feather", filling)
    monkeypatch.setattr(stages.extract, "retries", 0)
    with pytest.raises(OSError, match="Levy on täynnä: luettuja rivejä ei voitu tallentaa") as err:
        run_report(sample_dir, tmp_path)
    assert err.value.errno == errno.ENOSPC and len(written) == 4
    assert not list((tmp_path / "out").rglob(SPILL_DIR)) and not any(p.exists() for p in written)
    assert (final / "report.pdf").read_bytes() == b"%PDF hyvaksytty"


def test_an_approver_outside_the_list_is_refused(monkeypatch):
    monkeypatch.setattr(
        report, "_answer", lambda p, built: report.Approval(approver="Joku Muu", decision="hyväksy", comment="")
    )
    with pytest.raises(RuntimeError, match="ei ole hyväksyjien luettelossa"):
        approval(RunParams(period="2024-08", kind="forecast"), built=None)


def test_an_older_draft_is_refused_once_a_newer_one_waits_or_was_approved(tmp_path):
    """Run A drafts, run B drafts later (and publishes its draft), then A's approver answers: A is superseded."""
    final = tmp_path / "out" / "2024-08-forecast"
    final.parent.mkdir(parents=True)
    params = RunParams(period="2024-08", kind="forecast", archive=str(tmp_path / "archive"))
    older = SimpleNamespace(final=final, manifest_run={"drafted_at": "2026-12-02T10:00:00.000000+00:00"})
    newer = SimpleNamespace(final=final, manifest_run={"drafted_at": "2026-12-02T11:00:00.000000+00:00"})

    def publish(run_id: str, drafted_at: str) -> None:
        stage = staging_dir(final, run_id)
        (stage / "manifest.json").write_text(
            json.dumps({"prefect_flow_run_id": run_id, "drafted_at": drafted_at}), encoding="utf-8"
        )
        replace_outputs(stage, final)

    publish("run-a", older.manifest_run["drafted_at"])
    assert report.superseded(params, older, "run-a") is None  # its own draft is the newest
    publish("run-b", newer.manifest_run["drafted_at"])
    assert "uudempi luonnos (ajo run-b) odottaa" in report.superseded(params, older, "run-a")
    assert report.superseded(params, newer, "run-b") is None
    # B is approved and archived; A's approval, even once nothing waits, is still too old.
    files = {"report.pdf": final / "report.pdf"}
    (final / "report.pdf").write_bytes(b"%PDF b")
    archive_report(
        tmp_path / "archive", "2024-08", "forecast", files, "fp-b", {"drafted_at": newer.manifest_run["drafted_at"]}
    )
    publish("run-c-rejected", "2026-12-02T09:00:00.000000+00:00")
    assert "jo hyväksytty (arkistoversio 1)" in report.superseded(params, older, "run-a")


def test_the_approval_form_says_when_no_one_has_reviewed_the_explanations(tmp_path):
    """No workbook: the approver reads, on the form itself, that the explanations and the proposal are drafts."""
    from tasks.ingest.commentary import ABSENT, Commentary
    from tasks.report.summary import commentary_lines

    built = SimpleNamespace(
        draft=tmp_path / ".2024-08-forecast.draft-r1",
        final=tmp_path / "2024-08-forecast",
        title="3. toteutumisennuste 2024",
        period_text="tammi–elokuu 2024",
        fingerprint="ab" * 32,
        manifest_run={"drafted_at": "2026-12-02T10:00:00.000000+00:00"},
        commentary=commentary_lines(Commentary(ABSENT), {"unreviewed": 3}),
    )
    form = report.approval_description(built)
    assert "Kommenttityökirjaa ei ole toimitettu" in form
    assert "Kolme selitystä on automaattisia luonnoksia, joita kukaan ei ole tarkastanut." in form
    one = commentary_lines(Commentary(ABSENT), {"unreviewed": 1})
    assert one[-1] == "Yksi selitys on automaattinen luonnos, jota kukaan ei ole tarkastanut."
    assert ".2024-08-forecast.draft-r1" in form and "abababababab" in form  # this run's own draft and its content
