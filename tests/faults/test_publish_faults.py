"""Publishing the report folder under faults: a reader during the swap, leftovers of a run that died mid-swap."""

from __future__ import annotations

import os
import threading
import time

from tasks.report.outputs import GRACE_SECONDS, replace_outputs, staging_dir


def publish(final, run_id: str, text: str) -> None:
    stage = staging_dir(final, run_id)
    (stage / "manifest.json").write_text(text, encoding="utf-8")
    (stage / "report.pdf").write_text(text, encoding="utf-8")
    replace_outputs(stage, final)


def test_a_reader_always_finds_a_whole_report_while_runs_publish(tmp_path):
    final = tmp_path / "out" / "2024-08-forecast"
    final.parent.mkdir()
    publish(final, "run-0", "0")
    seen, stop = [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                a = (final / "manifest.json").read_text(encoding="utf-8")
                b = (final / "report.pdf").read_text(encoding="utf-8")
                seen.append("whole" if a == b or int(b) > int(a) else "mixed")
            except FileNotFoundError:
                seen.append("missing")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 200):
            publish(final, f"run-{i}", str(i))
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) == {"whole"}, {s: seen.count(s) for s in set(seen)}
    assert (final / "report.pdf").read_text(encoding="utf-8") == "199"


def test_leftovers_of_a_run_that_died_mid_swap_never_block_a_publish(tmp_path):
    final = tmp_path / "out" / "2024-08-forecast"
    final.parent.mkdir()
    publish(final, "run-1", "1")
    # A run killed between its steps: a stray link, an orphan version, and the old swap's folder under our pid.
    (final.parent / ".2024-08-forecast.link-dead").symlink_to(".2024-08-forecast.versions/none")
    orphan = final.parent / ".2024-08-forecast.versions" / "orphan"
    orphan.mkdir()
    long_ago = time.time() - 2 * GRACE_SECONDS
    os.utime(orphan, (long_ago, long_ago))
    old = final.parent / f".2024-08-forecast.old-{os.getpid()}"
    old.mkdir()
    (old / "report.pdf").write_text("vanha", encoding="utf-8")
    publish(final, "run-2", "2")
    assert (final / "report.pdf").read_text(encoding="utf-8") == "2"
    names = sorted(p.name for p in final.parent.iterdir())
    assert names == [".2024-08-forecast.versions", "2024-08-forecast"]
    assert "orphan" not in os.listdir(final.parent / ".2024-08-forecast.versions")


def test_a_report_folder_from_before_links_is_taken_over(tmp_path):
    final = tmp_path / "out" / "2024-08-forecast"
    final.mkdir(parents=True)
    (final / "report.pdf").write_text("vanha", encoding="utf-8")
    publish(final, "run-1", "1")
    assert final.is_symlink() and (final / "report.pdf").read_text(encoding="utf-8") == "1"
