"""The previous forecast round of the year, found in the archive and read back from its talous.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.deliver.archive import archive_report, previous_forecast
from tasks.report.outputs import read_talous, spreadsheet_csv, talous_rows


def table() -> pd.DataFrame:
    rows = [
        ("sector", "", "", "Toimintakate", -2_691_056_000.0, -2_712_740_123.4),
        ("area", "HUS-yhtymä", "", "Menot", -810_800_000.0, -825_123_000.0),
        ("service", "HUS-yhtymä", "HUS-yhtymä", "Menot", -810_800_000.0, -825_123_000.0),
    ]
    t = pd.DataFrame(rows, columns=["level", "area", "service", "line", "tb", "forecast"])
    for c in ("ytd", "tb_to_date", "mechanical", "prev_ytd", "deviation_pct", "previous_forecast"):
        t[c] = 1.0
    t["adjustment"] = 0.0
    t["deviation"] = t["forecast"] - t["tb"]
    return t


def archive_round(root: Path, tmp: Path, period: str, kind: str = "forecast") -> None:
    folder = tmp / f"r-{period}-{kind}"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(b"%PDF-1.7\n" + period.encode())
    spreadsheet_csv(talous_rows(table()), folder / "talous.csv")
    archive_report(
        root, period, kind, {"report.pdf": folder / "report.pdf", "talous.csv": folder / "talous.csv"}, period, {}
    )


def test_talous_csv_reads_back_in_euros_with_its_levels(tmp_path):
    spreadsheet_csv(talous_rows(table()), tmp_path / "talous.csv")
    back = read_talous(tmp_path / "talous.csv")
    assert back["level"].tolist() == ["sector", "area", "service"]
    assert back["forecast"].tolist() == [-2_712_740_123.0, -825_123_000.0, -825_123_000.0]  # to the euro


def test_the_newest_earlier_round_of_the_same_year(tmp_path):
    root = tmp_path / "archive"
    assert previous_forecast(root, "2024-08", "forecast") is None
    archive_round(root, tmp_path, "2024-04")
    archive_round(root, tmp_path, "2024-06")
    archive_round(root, tmp_path, "2023-08")
    archive_round(root, tmp_path, "2024-08")
    assert previous_forecast(root, "2024-08", "forecast").period == "2024-06"  # not its own round
    assert previous_forecast(root, "2024-08", "monthly").period == "2024-08"  # a monthly report compares with it
    assert previous_forecast(root, "2024-12", "annual").period == "2024-08"
    assert previous_forecast(root, "2024-05", "forecast").period == "2024-04"
    assert previous_forecast(root, "2024-04", "forecast") is None
