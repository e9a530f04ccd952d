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
from tasks.deliver.archive import archive_report
from tasks.report.context import proposal_default
from tests import pdf_layout as layout
from tests.flows.conftest import checked_warehouse, run_report
from tests.html_tables import finnish_number, html_tables

pytestmark = pytest.mark.usefixtures("prefect_server")
NAME = "kommentit_202408_forecast.xlsx"
SECTOR_TEXT = "Toimialan ennuste ylittää tulosbudjetin, koska HUS:n maksuerät painottuvat alkuvuoteen."
HUS_REASON = "HUS:n maksuerät tasaantuvat loppuvuonna"
TRANSFER_REASON = "Hallinnon henkilöstömenot jäävät tulosbudjetista vapautuneiden virkojen vuoksi"


@pytest.fixture(scope="module")
def prefilled(sample_dir, forecast_run, tmp_path_factory) -> Path:
    """`katsaus kommentit` for the demo's report, written where a controller asked (its warehouse holds the sample
    as the demo's run checked it)."""
    tmp = tmp_path_factory.mktemp("kommentit")
    checked_warehouse(forecast_run, tmp)
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
    wb["Määrärahasiirrot"].append(["Hallinto", "Terveys- ja päihdepalvelut", "1 000", TRANSFER_REASON])
    wb.save(target)


@pytest.fixture(scope="module")
def commented(sample_dir, prefilled, forecast_run, tmp_path_factory) -> Path:
    """The demo's report with the controller's workbook, the 2nd forecast round archived before it (its figures
    those of the plain report, so the change from that round is exactly the controller's adjustments)."""
    tmp = tmp_path_factory.mktemp("commented")
    checked_warehouse(forecast_run, tmp)  # the unchanged files as the demo's run checked them
    extracts = tmp / "extracts"
    shutil.copytree(sample_dir, extracts)
    controller_edits(prefilled, extracts / NAME)
    earlier = {name: forecast_run[0] / name for name in ("report.pdf", "talous.csv")}
    archive_report(tmp / "archive", "2024-06", "forecast", earlier, "2-kierros", {})
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
        TRANSFER_REASON,
    ):
        assert words in flat, words
    # The reallocation in the decision box: the receiving area's deviation before and after it, in 1 000 €.
    start = flat.index("Päätösehdotus", flat.index("Päätösehdotus") + 1)  # past the table of contents
    box = flat[start : flat.index("Tiivistelmä", start)]
    assert "Esitetyt määrärahasiirrot" in box and "Poikkeama siirtojen jälkeen" in box
    assert "Kontrolleri ei ole esittänyt määrärahasiirtoja" not in box
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


def thousands(row: list[str]) -> list[float | None]:
    return [finnish_number(c) for c in row[1:]]


def close(shown: float | None, exact: float) -> bool:
    """A table's whole thousands against talous.csv's exact figure (a dash where the file has none)."""
    if pd.isna(exact):
        return shown is None
    return shown is not None and abs(shown - exact) <= 0.5 + 1e-6


def test_the_bridge_shows_mechanical_forecast_adjustments_and_the_change_from_the_earlier_round(
    commented, forecast_run
):
    t, plain = talous(commented), talous(forecast_run[0])
    # The archived 2nd round stands beside every line: its forecast is the plain report's.
    assert (t["Edellinen_ennuste"] - plain["Ennuste"]).abs().max() < 0.001
    tables = html_tables(commented / "report.html")
    caption = next(c for c in tables if c.startswith("Toimintakatteen ennuste"))
    head, *rows = tables[caption]
    assert head[4:6] == ["2. toteutumisennuste", "Muutos"]
    by_area = {r[0]: thousands(r) for r in rows}
    assert set(by_area) == {a for a in t.index.get_level_values(0) if a} | {"Toimiala yhteensä"}
    for area, (mechanical, adjustment, forecast, previous, change, prev_ytd, ytd) in by_area.items():
        line = t.loc[("" if area == "Toimiala yhteensä" else area, "", "Toimintakate")]
        assert close(mechanical, line["Ennuste_laskennallinen"]) and close(forecast, line["Ennuste"]), area
        assert close(adjustment or 0.0, line["Korjaus"]) and close(previous, line["Edellinen_ennuste"]), area
        assert close(change, line["Korjaus"]), area  # the same ledger: only the controller's words moved it
        assert close(prev_ytd, line["Edellisvuosi"]) and close(ytd, line["Toteuma"]), area
    assert by_area["HUS-yhtymä"][1] == 9000 and by_area["Toimiala yhteensä"][1] == 10500


def test_each_area_has_revenue_expenses_and_margin_against_the_profiled_budget(commented):
    t = talous(commented)
    tables = html_tables(commented / "report.html")
    rows = tables[next(c for c in tables if c.startswith("Tulot, menot ja toimintakate"))][1:]
    area, seen = None, 0
    for r in rows:
        if len(r) == 1:
            area = r[0]
            continue
        tb, profiled, ytd, gap, forecast, deviation, _ = thousands(r)
        line = t.loc[(area, "", r[0])]
        assert close(tb, line["TB"]) and close(profiled, line["Jaksotettu_TB"]), (area, r[0])
        assert close(ytd, line["Toteuma"]) and close(forecast, line["Ennuste"]), (area, r[0])
        assert close(deviation, line["Poikkeama"]) and close(gap, line["Toteuma"] - line["Jaksotettu_TB"]), (area, r)
        seen += 1
    assert seen == 3 * len({a for a in t.index.get_level_values(0) if a})


def test_the_decision_box_names_the_areas_over_budget_and_the_reallocation(commented, forecast_run):
    t = talous(commented)
    margins = t.xs(("", "Toimintakate"), level=("Palvelu", "Rivi"))
    over = [a for a, d in margins["Poikkeama"].items() if a and round(d) < 0]
    html = (commented / "report.html").read_text(encoding="utf-8")
    box = html[html.index('id="paatosehdotus"') : html.index('id="tiivistelma"')]
    named = box[box.index("tulosbudjetti ylittyy ennusteen mukaan") :].split("</p>")[0]
    assert over and all(a in named for a in over) and not any(a in named for a in margins.index if a and a not in over)
    tables = html_tables(commented / "report.html")
    after = {r[0]: thousands(r) for r in tables["Tulosbudjetin poikkeama siirtojen jälkeen, 1 000 €"][1:]}
    receiving = after["Terveys- ja päihdepalvelut"]
    assert receiving[1] == 1000 and close(receiving[0], margins.loc["Terveys- ja päihdepalvelut", "Poikkeama"])
    assert receiving[2] == receiving[0] + 1000 and after["Hallinto"][1] == -1000
    # Without a workbook: the kind's standard proposal, and a note that no reallocation was proposed.
    plain = (forecast_run[0] / "report.html").read_text(encoding="utf-8")
    assert f"<p>{proposal_default('forecast', 2024, 8)}</p>" in plain
    assert "Kontrolleri ei ole esittänyt määrärahasiirtoja" in plain
    assert "Kontrolleri ei ole esittänyt määrärahasiirtoja" not in html


def test_the_summary_gives_the_drivers_in_one_paragraph(commented):
    html = (commented / "report.html").read_text(encoding="utf-8")
    summary = html[html.index('id="tiivistelma"') : html.index('id="talous"')]
    drivers = [p for p in summary.split("<p") if "Keskeiset syyt." in p]
    assert len(drivers) == 1 and SECTOR_TEXT in drivers[0] and "Suurimmat ennustetut ylitykset:" in drivers[0]
