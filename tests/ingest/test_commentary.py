"""The controller's commentary workbook, written with openpyxl as a controller would, read back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from tasks.contracts import workbook_sheets
from tasks.contracts.vocab import Period
from tasks.ingest.commentary import ABSENT, FAILED, OK, read_commentary
from tasks.ingest.pii import CHECK_CHARS

PERIOD = Period(2024, 8)
TODAY = dt.date(2024, 9, 20)
NAME = "kommentit_202408_forecast.xlsx"


def valid_code() -> str:
    """A syntactically valid personal identity code (checksum right) made up for the test."""
    digits = "010190" + "123"
    return f"010190-123{CHECK_CHARS[int(digits) % 31]}"


def workbook(folder: Path, **sheets: list[list]) -> Path:
    """A workbook with the contract's headers and the given rows (sheet name → rows), Tiedot filled in."""
    wb = Workbook()
    wb.remove(wb.active)
    contracts = workbook_sheets("commentary")
    sheets.setdefault("Tiedot", [["2024-08", "forecast"]])
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        ws.append(contracts[name].names)
        for row in rows:
            ws.append(row)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME
    wb.save(path)
    return path


def read(folder: Path, tmp: Path):
    return read_commentary(folder, PERIOD, "forecast", tmp / "quality", TODAY)


def test_no_workbook_is_not_an_error(tmp_path):
    c = read(tmp_path, tmp_path)
    assert c.status == ABSENT and not c.used and c.errors == []
    assert c.explanations.empty and c.proposal == [] and list(c.adjustments.columns)[:2] == ["area", "service"]


def test_a_hand_edited_workbook_merged_cells_empty_rows_and_numbers_as_text(tmp_path):
    path = workbook(
        tmp_path / "x",
        Selitykset=[
            ["", "", "", "luonnos", "Toimialan ennuste ylittää tulosbudjetin HUS:n maksuerien vuoksi."],
            ["Terveys- ja päihdepalvelut", "Psykiatria", "", "", "Ostopalvelut kallistuivat."],
            [None, "Suun terveydenhuolto", "", "", "Hammashoidon jonot purettiin."],
            ["", "", "t3_odotusaika", "", "Lääkärivaje jatkuu syksyyn."],
        ],
        Ennustekorjaukset=[
            ["HUS-yhtymä", "", "Menot", "9 000", "Maksuerät tasaantuvat"],
            [None, None, None, None, None],
            ["Sairaala-, kuntoutus- ja hoivapalvelut", "Arviointitoiminta", "Menot", "−1 500,5", "Hinnat nousevat"],
        ],
        Toimenpiteet=[["vetovoima", "2", "viivästynyt", "Järjestelmä viivästyy."]],
        Päätösehdotus=[["Lautakunta merkitsee tiedoksi ennusteen."], ["Toinen kappale."]],
    )
    from openpyxl import load_workbook

    wb = load_workbook(path)
    wb["Selitykset"].merge_cells("A3:A4")  # the area over both of its services, as people do
    wb.save(path)
    c = read(tmp_path / "x", tmp_path)
    assert (c.status, c.errors) == (OK, [])
    ex = c.explanations.reset_index(drop=True)
    assert ex.loc[2, ["area", "service"]].tolist() == ["Terveys- ja päihdepalvelut", "Suun terveydenhuolto"]
    adj = c.adjustments.reset_index(drop=True)
    assert adj["amount"].tolist() == [9_000_000.0, -1_500_500.0]  # 1 000 € in the sheet, euros here
    assert adj.loc[0, "service"] == "HUS-yhtymä"  # an area that is its own service
    assert adj["_line"].tolist() == [2, 4]  # the empty row is skipped, lines are the sheet's rows
    assert c.proposal == ["Lautakunta merkitsee tiedoksi ennusteen.", "Toinen kappale."]
    assert c.file.name == NAME and len(c.file.sha256) == 64


def test_a_personal_identity_code_stops_the_commentary_and_is_never_repeated(tmp_path):
    code = valid_code()
    workbook(tmp_path / "x", Selitykset=[["Hallinto", "", "", "", f"Asiakkaan {code} valitus käsitelty."]])
    c = read(tmp_path / "x", tmp_path)
    assert c.status == FAILED and c.explanations.empty
    text = " | ".join(c.errors)
    assert f"{NAME}, taulukko Selitykset rivi 2" in text and "Selitys" in text and "henkilötunnus" in text
    assert code not in text and code[:6] not in text
    for f in (tmp_path / "quality").rglob("*"):
        if f.is_file():
            assert code not in f.read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize(
    ("sheet", "row", "expected"),
    [
        (
            "Selitykset",
            ["Terveys- ja päihdepalvelut", "Terveysasema", "", "", "x"],
            "sarake Palvelu: tuntematon palvelu ”Terveysasema”",
        ),
        ("Selitykset", ["Perhe ja sosiaalipalvelut", "", "", "", "x"], "tarkoititko ”Perhe- ja sosiaalipalvelut”?"),
        ("Selitykset", ["", "", "t3_jono", "", "x"], "sarake Mittari: tuntematon mittari ”t3_jono”"),
        ("Toimenpiteet", ["saatavuus", "7", "riski", ""], "tavoitteella saatavuus on toimenpiteet 1–3, ei 7"),
        ("Toimenpiteet", ["vetovoimaisuus", "1", "riski", ""], "tuntematon tavoite ”vetovoimaisuus”"),
        ("Ennustekorjaukset", ["Hallinto", "", "Menot", "100", "x"], "nimeä korjattava palvelu"),
        (
            "Ennustekorjaukset",
            ["Hallinto", "Hallinto yhteiset", "Menot", "100", ""],
            "sarake Peruste: pakollinen arvo puuttuu",
        ),
        ("Toimenpiteet", ["vetovoima", "1", "melkein valmis", ""], "sarakkeessa Tila on tuntematon arvo"),
        (
            "Määrärahasiirrot",
            ["Hallinto", "Terveys ja päihdepalvelut", "200", "x"],
            "sarake Mihin: tuntematon palvelukokonaisuus ”Terveys ja päihdepalvelut”; tarkoititko",
        ),
        (
            "Määrärahasiirrot",
            ["Hallinto", "Hallinto", "200", "x"],
            "sarake Mihin: siirto palvelukokonaisuudesta itseensä",
        ),
        ("Määrärahasiirrot", ["Hallinto", "Pelastuslaitos", "200", ""], "sarake Peruste: pakollinen arvo puuttuu"),
        (
            "Tiedot",
            ["2024-06", "forecast"],
            "työkirja on raportille 2024-06 forecast, ei tälle raportille (2024-08 forecast)",
        ),
        (
            "Tiedot",
            ["2024-08", "monthly"],
            "työkirja on raportille 2024-08 monthly, ei tälle raportille (2024-08 forecast)",
        ),
    ],
)
def test_a_mistake_is_refused_with_its_sheet_row_column_and_name(tmp_path, sheet, row, expected):
    workbook(tmp_path / "x", **{sheet: [row]})
    c = read(tmp_path / "x", tmp_path)
    assert c.status == FAILED and not c.used
    assert any(expected in e for e in c.errors), c.errors
    assert any(f"taulukko {sheet}" in e for e in c.errors), c.errors


def test_a_reallocation_is_read_in_euros(tmp_path):
    workbook(tmp_path / "x", Määrärahasiirrot=[["Hallinto", "Pelastuslaitos", "1 200,5", "Ylitys katetaan"]])
    c = read(tmp_path / "x", tmp_path)
    assert (c.status, c.errors) == (OK, [])
    row = c.transfers.iloc[0]
    assert (row["from_area"], row["to_area"], row["amount"], row["reason"]) == (
        "Hallinto",
        "Pelastuslaitos",
        1_200_500,
        "Ylitys katetaan",
    )


def test_a_broken_file_is_a_clear_error(tmp_path):
    (tmp_path / NAME).write_bytes(b"PK\x03\x04 not really a workbook")
    c = read(tmp_path, tmp_path)
    assert c.status == FAILED and c.errors == [f"{NAME}: Excel-tiedostoa ei voi lukea (BadZipFile)"]


def test_a_workbook_of_the_design_documents_shape_is_read_as_it_is(tmp_path):
    """DESIGN.md's sheets and columns only: no Mittari column, no Määrärahasiirrot, no Tiedot."""
    shapes = {
        "Selitykset": (["Palvelukokonaisuus", "Palvelu", "Luonnos", "Selitys"], ["", "", "luonnos", "Selitys."]),
        "Ennustekorjaukset": (
            ["Palvelukokonaisuus", "Palvelu", "Rivi", "Korjaus", "Peruste"],
            ["HUS-yhtymä", "", "Menot", "100", "Maksuerät tasaantuvat"],
        ),
        "Toimenpiteet": (
            ["Tavoite", "Toimenpide", "Tila", "Kommentti"],
            ["vetovoima", "1", "riski", "Haku viivästyy."],
        ),
        "Päätösehdotus": (["Teksti"], ["Lautakunta merkitsee tiedoksi."]),
        "Talouden_toimenpiteet": (["Teksti"], ["Ostojen kilpailutus."]),
    }
    wb = Workbook()
    wb.remove(wb.active)
    for name, (header, row) in shapes.items():
        ws = wb.create_sheet(name)
        ws.append(header)
        ws.append(row)
    (tmp_path / "x").mkdir()
    wb.save(tmp_path / "x" / NAME)
    c = read(tmp_path / "x", tmp_path)
    assert (c.status, c.errors) == (OK, [])
    assert c.explanations["text"].tolist() == ["Selitys."] and c.explanations["indicator"].tolist() == [""]
    assert c.adjustments["amount"].tolist() == [100_000] and c.proposal == ["Lautakunta merkitsee tiedoksi."]
    assert c.transfers.empty and c.measures == ["Ostojen kilpailutus."]
