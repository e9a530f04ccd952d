"""The controller's words from the workbook to the PDF: written by `katsaus kommentit`, edited as a controller would,
read by the next run, shown in the report, traced in the manifest."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from flows import cli
from tests import pdf_layout as layout
from tests.flows.conftest import run_report

pytestmark = pytest.mark.usefixtures("prefect_server")
NAME = "kommentit_202408_forecast.xlsx"
SECTOR_TEXT = "Toimialan ennuste ylittää tulosbudjetin, koska HUS:n maksuerät painottuvat alkuvuoteen."
HUS_REASON = "HUS:n maksuerät tasaantuvat loppuvuonna"


@pytest.fixture(scope="module")
def prefilled(sample_dir, tmp_path_factory) -> Path:
    """`katsaus kommentit` for the demo's report, written where a controller asked."""
    tmp = tmp_path_factory.mktemp("kommentit")
    target = tmp / "minun" / "kommentit.xlsx"
    args = [
        "kommentit",
        "--period",
        "2024-08",
        "--kind",
        "forecast",
        "--extracts",
        str(sample_dir),
        "--out",
        str(target),
    ]
    args += [
        "--warehouse",
        f"sqlite:///{tmp / 'w.db'}",
        "--archive",
        str(tmp / "archive"),
        "--cache-dir",
        str(tmp / "c"),
    ]
    assert cli.main(args) == 0
    return target


def test_the_prefilled_workbook_has_the_drafts_the_forecast_and_the_actions(prefilled):
    wb = load_workbook(prefilled)
    assert {
        "Selitykset",
        "Ennustekorjaukset",
        "Toimenpiteet",
        "Päätösehdotus",
        "Talouden_toimenpiteet",
        "Tiedot",
    } <= set(wb.sheetnames)
    rows = list(wb["Selitykset"].iter_rows(values_only=True))
    assert rows[0] == ("Palvelukokonaisuus", "Palvelu", "Mittari", "Luonnos", "Selitys")
    sector = rows[1]
    assert sector[:2] == (None, None) and sector[3].startswith("Toimintakatteen ennuste on 21,7") and sector[4] is None
    assert any(r[2] for r in rows[1:]), "indicators at risk get a row"
    actions = list(wb["Toimenpiteet"].iter_rows(values_only=True))
    from tasks.contracts.catalog import catalog

    assert len(actions) == 1 + sum(len(g.actions) for g in catalog().goals) and actions[1][:2] == ("vetovoima", 1)
    assert list(wb["Tiedot"].iter_rows(values_only=True))[1] == ("2024-08", "forecast")
    forecast = list(wb["Laskennallinen_ennuste"].iter_rows(values_only=True))
    assert ("HUS-yhtymä", None, "Menot") in {r[:3] for r in forecast}


def controller_edits(prefilled: Path, target: Path) -> None:
    """What a controller does in Excel: writes texts, merges an area over its services, leaves an empty row, types a
    number as text."""
    wb = load_workbook(prefilled)
    ws = wb["Selitykset"]
    ws.cell(row=2, column=5, value=SECTOR_TEXT)
    ws.append(["Terveys- ja päihdepalvelut", "Psykiatria", None, None, "Psykiatrian ostopalvelut kallistuivat."])
    ws.append([None, "Suun terveydenhuolto", None, None, "Hammashoidon jonot purettiin kesällä."])
    ws.merge_cells(start_row=ws.max_row - 1, start_column=1, end_row=ws.max_row, end_column=1)
    ws = wb["Ennustekorjaukset"]
    ws.append(["HUS-yhtymä", None, "Menot", "9 000", HUS_REASON])
    ws.append([None, None, None, None, None])
    ws.append(
        ["Sairaala-, kuntoutus- ja hoivapalvelut", "Arviointitoiminta", "Menot", 1500, "Ostopalvelujen hinnat laskevat"]
    )
    ws = wb["Toimenpiteet"]
    ws["D2"], ws["E2"] = "etenee suunnitellusti", "Kevään kysely on tehty, syksyn kysely lokakuussa."
    ws["D3"] = "viivästynyt"
    wb["Päätösehdotus"].append(
        ["Lautakunta merkitsee tiedoksi 3. toteutumisennusteen ja esittää talousarvion muutosta."]
    )
    wb["Talouden_toimenpiteet"].append(["Ostopalvelujen kilpailutus loppuvuonna."])
    wb.save(target)


@pytest.fixture(scope="module")
def commented(sample_dir, prefilled, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("commented")
    extracts = tmp / "extracts"
    shutil.copytree(sample_dir, extracts)
    controller_edits(prefilled, extracts / NAME)
    return Path(run_report(extracts, tmp)["report_dir"])


def talous(report: Path) -> pd.DataFrame:
    df = pd.read_csv(report / "talous.csv", sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for c in df.columns[3:]:
        df[c] = pd.to_numeric(df[c].str.replace(",", "."), errors="coerce")
    return df.set_index(["Palvelukokonaisuus", "Palvelu", "Rivi"])


def test_the_controllers_words_reach_the_pdf(commented, tmp_path):
    flat = layout.flowing_text(commented / "report.pdf")
    for words in (
        SECTOR_TEXT,
        "Psykiatrian ostopalvelut kallistuivat.",
        "Hammashoidon jonot purettiin kesällä.",  # the merged area cell belongs to this row too
        HUS_REASON,
        "etenee suunnitellusti",
        "Kevään kysely on tehty, syksyn kysely lokakuussa.",
        "esittää talousarvion muutosta",
        "Ostopalvelujen kilpailutus loppuvuonna.",
    ):
        assert words in flat, words
    assert "Päätösehdotus on raporttilajin vakioteksti" not in flat
    assert "automaattinen luonnos, ei tarkastettu" in flat  # the areas the controller left to the drafts
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "2", "-l", "3", str(commented / "report.pdf"), str(tmp_path / "p")],
        check=True,
    )
    from PIL import Image

    for page in sorted(tmp_path.glob("p-*.png")):
        lo, hi = Image.open(page).convert("L").getextrema()
        assert lo < 100 and hi > 240


def test_an_adjustment_moves_exactly_the_lines_it_names(commented, forecast_run):
    plain, adjusted = talous(forecast_run[0]), talous(commented)
    assert adjusted["Ennuste"].isna().equals(plain["Ennuste"].isna())  # no line gains or loses a forecast
    moved = (adjusted["Ennuste"] - plain["Ennuste"]).round(3).fillna(0)
    changed = moved[moved.ne(0)]
    assert sorted(changed.index) == sorted(
        [
            ("HUS-yhtymä", "", "Menot"),
            ("HUS-yhtymä", "", "Toimintakate"),
            ("HUS-yhtymä", "HUS-yhtymä", "Menot"),
            ("HUS-yhtymä", "HUS-yhtymä", "Toimintakate"),
            ("Sairaala-, kuntoutus- ja hoivapalvelut", "", "Menot"),
            ("Sairaala-, kuntoutus- ja hoivapalvelut", "", "Toimintakate"),
            ("Sairaala-, kuntoutus- ja hoivapalvelut", "Arviointitoiminta", "Menot"),
            ("Sairaala-, kuntoutus- ja hoivapalvelut", "Arviointitoiminta", "Toimintakate"),
            ("", "", "Menot"),
            ("", "", "Toimintakate"),
        ]
    )
    assert changed[("HUS-yhtymä", "HUS-yhtymä", "Menot")] == 9000 and changed[("", "", "Toimintakate")] == 10500
    assert (adjusted["Ennuste"] - adjusted["Ennuste_laskennallinen"] - adjusted["Korjaus"]).abs().max() < 0.01
    assert (adjusted["Ennuste_laskennallinen"] - plain["Ennuste_laskennallinen"]).abs().max() < 0.001
    assert list(adjusted.reset_index().columns) == [
        "Palvelukokonaisuus",
        "Palvelu",
        "Rivi",
        "TB",
        "Toteuma",
        "Jaksotettu_TB",
        "Ennuste_laskennallinen",
        "Korjaus",
        "Ennuste",
        "Poikkeama",
        "Poikkeama_pct",
        "Edellinen_ennuste",
        "Edellisvuosi",
    ]


def test_the_manifest_traces_the_workbook_and_whose_words_are_whose(commented, forecast_run, sample_dir):
    m = json.loads((commented / "manifest.json").read_text(encoding="utf-8"))
    c = m["commentary"]
    assert c["file"] == NAME and c["status"] == "ok" and len(c["sha256"]) == 64
    assert any(i["source"] == "commentary" and i["sha256"] == c["sha256"] for i in m["inputs"])
    by = {e["subject"]: e["source"] for e in c["explanations"]}
    assert by["Sosiaali-, terveys- ja pelastustoimi"] == "controller" and by["Psykiatria"] == "controller"
    assert "draft" in by.values()
    plain = json.loads((forecast_run[0] / "manifest.json").read_text(encoding="utf-8"))
    assert plain["commentary"]["status"] == "absent"
    assert all(e["source"] == "draft" for e in plain["commentary"]["explanations"])
    # The commentary is content: the same figures with other words are another report.
    assert m["content_fingerprint"] != plain["content_fingerprint"]
