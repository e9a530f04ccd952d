"""Outputs: atomic publishing, and a run's final report built from its own draft."""

from tasks.outputs import keep_draft, publish, restage, staging_dir


def test_a_runs_final_report_is_built_from_its_own_draft_whatever_is_published_meanwhile(tmp_path):
    final = tmp_path / "out" / "2024-08-forecast"
    final.parent.mkdir()
    a = staging_dir(final, "run-a")
    (a / "indicators.csv").write_text("a", encoding="utf-8")
    kept = keep_draft(a, final, "run-a")
    publish(a, final)
    b = staging_dir(final, "run-b")  # another run of the same period publishes its draft
    (b / "indicators.csv").write_text("b", encoding="utf-8")
    publish(b, final)
    assert (final / "indicators.csv").read_text(encoding="utf-8") == "b"
    stage = restage(kept, final, "run-a")
    assert (stage / "indicators.csv").read_text(encoding="utf-8") == "a"
    publish(stage, final)
    assert (final / "indicators.csv").read_text(encoding="utf-8") == "a"
    assert sorted(p.name for p in final.parent.iterdir()) == [".2024-08-forecast.draft-run-a", "2024-08-forecast"]
