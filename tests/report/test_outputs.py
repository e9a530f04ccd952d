"""Outputs: atomic publishing, and a run's final report built from its own draft."""

import os
import time

from tasks.report.outputs import GRACE_SECONDS, keep_draft, replace_outputs, restage, staging_dir


def test_a_runs_final_report_is_built_from_its_own_draft_whatever_is_published_meanwhile(tmp_path):
    final = tmp_path / "out" / "2024-08-forecast"
    final.parent.mkdir()
    a = staging_dir(final, "run-a")
    (a / "indicators.csv").write_text("a", encoding="utf-8")
    kept = keep_draft(a, final, "run-a")
    replace_outputs(a, final)
    b = staging_dir(final, "run-b")  # another run of the same period publishes its draft
    (b / "indicators.csv").write_text("b", encoding="utf-8")
    replace_outputs(b, final)
    assert (final / "indicators.csv").read_text(encoding="utf-8") == "b"
    stage = restage(kept, final, "run-a")
    assert (stage / "indicators.csv").read_text(encoding="utf-8") == "a"
    replace_outputs(stage, final)
    assert (final / "indicators.csv").read_text(encoding="utf-8") == "a"
    assert sorted(p.name for p in final.parent.iterdir()) == [
        ".2024-08-forecast.draft-run-a",
        ".2024-08-forecast.versions",
        "2024-08-forecast",
    ]
    # Outputs no link points to stay for a reader still inside them, then go.
    versions = final.parent / ".2024-08-forecast.versions"
    assert len(list(versions.iterdir())) == 3
    long_ago = time.time() - 2 * GRACE_SECONDS
    for v in versions.iterdir():
        os.utime(v, (long_ago, long_ago), follow_symlinks=False)
    replace_outputs(restage(kept, final, "run-a"), final)
    assert len(list(versions.iterdir())) == 2  # the one published and the one before it
