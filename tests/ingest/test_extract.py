import shutil

import pandas as pd
import pytest

from tasks.ingest.extract import extract_source
from tasks.ingest.ledger import extract_ledger, ledger_control, to_report_sign
from tasks.ingest.parsing import SourceFileError

HEADER = "Vuosi;Kuukausi;Palvelukokonaisuus;Palvelu;Kustannuspaikka;Tili;Tilin nimi;Summa\n"


def write_month(folder, year, month, body, ctl=None, encoding="utf-8"):
    p = folder / f"talous_toteuma_{year}{month:02d}.csv"
    p.write_bytes((HEADER + body).encode(encoding))
    if ctl is not None:
        (folder / f"talous_toteuma_{year}{month:02d}.ctl").write_text(
            "Rivimaara;Summa_yhteensa\n" + ctl + "\n", encoding="utf-8"
        )
    return p


ROWS = (
    "2024;1;Pelastuslaitos;Riskienhallinta;1402001;4000;Palkat ja palkkiot;1\u00a0000,50\n"
    "2024;1;Pelastuslaitos;Riskienhallinta;1402001;3100;Asiakasmaksut;\u2212200,25\n"
)


def test_ledger_converts_sap_sign_to_report_sign(tmp_path):
    write_month(tmp_path, 2024, 1, ROWS, "2;800,25")
    e, controls = extract_ledger(tmp_path, 2024, 1)
    assert e.status == "ok", e.errors
    by_account = e.frame.set_index("account")["amount_cents"]
    assert by_account["4000"] == -100050 and by_account["3100"] == 20025
    assert e.frame.set_index("account")["line"].to_dict() == {"4000": "Menot", "3100": "Tulot"}
    assert controls.iloc[0][["stated_rows", "rows", "stated_cents", "cents"]].tolist() == [2, 2, 80025, 80025]
    # The previous year's files are reported missing, not as errors.
    assert len(e.missing) == 12 and e.missing[0] == "talous_toteuma_202301.csv"


def test_to_report_sign_is_a_sign_flip():
    assert to_report_sign(pd.Series([5, -3])).tolist() == [-5, 3]


def test_half_numeric_amount_is_an_error_with_its_place(tmp_path):
    write_month(tmp_path, 2024, 1, ROWS.replace("1\u00a0000,50", "1 234,5x"), "2;0")
    e, _ = extract_ledger(tmp_path, 2024, 1)
    assert [str(x) for x in e.errors] == ["talous_toteuma_202401.csv, rivi 2, sarake Summa: arvo ei ole luku"]


def test_missing_control_file_fails_the_month(tmp_path):
    write_month(tmp_path, 2024, 1, ROWS)
    e, _ = extract_ledger(tmp_path, 2024, 1)
    assert e.status == "failed"
    assert str(e.errors[0]) == "talous_toteuma_202401.ctl: kontrollitiedosto puuttuu"


def test_control_file_with_two_rows_is_rejected(tmp_path):
    p = tmp_path / "talous_toteuma_202401.ctl"
    p.write_text("Rivimaara;Summa_yhteensa\n2;1\n3;4\n", encoding="utf-8")
    with pytest.raises(SourceFileError, match="yksi tietorivi"):
        ledger_control(p)


def test_result_budget_from_xlsx_equals_csv(sample_dir, tmp_path):
    csv = extract_source(sample_dir, "result_budget", 2024, 12)
    raw = pd.read_csv(
        sample_dir / "tulosbudjetti_2024.csv", sep=";", encoding="cp1252", dtype=str, keep_default_na=False
    )
    # Numbers as a spreadsheet stores them: real numbers, percentages as text.
    for col in ("TB_edellinen", "TB", "Muutos_eur"):
        raw[col] = raw[col].str.replace(" ", "").astype(int)
    raw.to_excel(tmp_path / "tulosbudjetti_2024.xlsx", index=False)
    xlsx = extract_source(tmp_path, "result_budget", 2024, 12)
    assert xlsx.status == "ok", xlsx.errors
    cols = ["area", "service", "line", "tb_prev", "tb", "change_eur", "change_pct"]
    pd.testing.assert_frame_equal(
        xlsx.frame[cols].astype(str).reset_index(drop=True), csv.frame[cols].astype(str).reset_index(drop=True)
    )


def test_area_names_in_capitals_map_to_the_structure(sample_dir):
    e = extract_source(sample_dir, "result_budget", 2024, 12)
    assert "Perhe- ja sosiaalipalvelut" in set(e.frame["area"])
    assert not any(a.isupper() for a in e.frame["area"])


def test_council_budget_binding_flag_and_missing_file(sample_dir, tmp_path):
    e = extract_source(sample_dir, "council_budget", 2024, 12)
    bind = e.frame[e.frame["binding"]]
    assert bind[["item", "version", "line", "amount"]].values.tolist() == [
        ["Sosiaali-, terveys- ja pelastustoimi", "TA 2024", "Toimintakate", -2691055.0]
    ]
    missing = extract_source(tmp_path, "council_budget", 2024, 12)
    assert missing.status == "missing" and missing.missing == ["talousarvio_2024.csv"]


def test_missing_month_of_this_year_makes_the_ledger_missing(sample_dir, tmp_path):
    for p in sample_dir.glob("talous_toteuma_2024*"):
        if p.stem[-2:] != "05":
            (tmp_path / p.name).write_bytes(p.read_bytes())
    e, _ = extract_ledger(tmp_path, 2024, 8)
    assert e.status == "missing"
    assert e.required_missing == ["talous_toteuma_202405.csv"]
    # Last year's months are missing too, but they only shape the forecast.
    assert len(e.missing) == 13


def test_missing_required_values_are_errors_with_line_and_column(tmp_path):
    rows = (
        ROWS
        + "2024;1;Pelastuslaitos;;1402001;4000;Palkat ja palkkiot;\n"
        + ";1;Pelastuslaitos;Riskienhallinta;1402001;4100;x;5\n"
    )
    write_month(tmp_path, 2024, 1, rows, "4;800,25")
    e, _ = extract_ledger(tmp_path, 2024, 1)
    assert sorted(str(x) for x in e.errors) == [
        "talous_toteuma_202401.csv, rivi 4, sarake Palvelu: pakollinen arvo puuttuu",
        "talous_toteuma_202401.csv, rivi 4, sarake Summa: pakollinen arvo puuttuu",
        "talous_toteuma_202401.csv, rivi 5, sarake Vuosi: pakollinen arvo puuttuu",
    ]


def test_missing_required_date_is_an_error(sample_dir, tmp_path):
    from tasks.contracts import sources
    from tasks.ingest.extract import read_raw, typed_columns

    src = next(s for s in sources().values() if s.date)
    header = ";".join(c.name for c in src.columns)
    p = tmp_path / src.file_name(2024, 1)
    cells = ["" if c.field == src.date else ("1" if c.numeric else "x") for c in src.columns]
    p.write_text(header + "\n" + ";".join(cells) + "\n", encoding="utf-8")
    raw, _ = read_raw(p, src)
    _, errors = typed_columns(raw, src, p.name)
    date_column = next(c.name for c in src.columns if c.field == src.date)
    assert f"{p.name}, rivi 2, sarake {date_column}: pakollinen arvo puuttuu" in [str(x) for x in errors]


@pytest.mark.parametrize("source", ["ledger", "feedback", "rescue"])
def test_typing_a_file_at_a_time_gives_what_typing_all_at_once_gives(sample_dir, tmp_path, monkeypatch, source):
    """Large sources are typed a batch of files at a time (bounded memory): the rows, their order, the files and
    each file's errors are those of one pass over every file, a bad cell included."""
    from tasks.ingest import extract

    extracts = tmp_path / "extracts"
    shutil.copytree(sample_dir, extracts)
    prefix = extract.sources()[source].file.split("{")[0]
    files = [p for p in sorted(extracts.glob(f"{prefix}2024*.csv")) if _utf8(p)]
    lines = files[1].read_text(encoding="utf-8-sig").splitlines()
    lines[3] = lines[3].replace(";", ";x", 1)  # the second column of its third row is no longer what it was
    files[1].write_text("\n".join(lines) + "\n", encoding="utf-8-sig")

    whole = extract_source(extracts, source, 2024, 8)
    monkeypatch.setattr(extract, "PART_ROWS", 1)  # every file its own batch
    batched = extract_source(extracts, source, 2024, 8)
    assert len(whole.frame) > 1000 and whole.errors[0].file == files[1].name
    pd.testing.assert_frame_equal(batched.frame, whole.frame)
    assert batched.files == whole.files and batched.errors == whole.errors and batched.status == whole.status


def _utf8(path) -> bool:
    try:
        path.read_text(encoding="utf-8-sig")
        return True
    except UnicodeDecodeError:
        return False


def test_names_written_in_another_case_or_as_a_source_spells_them_become_the_structures():
    from tasks.contracts import sources
    from tasks.ingest.extract import typed_columns

    src = sources()["ledger"]
    services = ["LASTENSUOJELU- JA PERHESOSIAALITYÖ", "Henkilöstö- ja kehittämisspalvelut", "Tuntematon palvelu"]
    rows = [[s, "Perhe- ja sosiaalipalvelut"] for s in services] * 2 + [["", "perhe- JA sosiaalipalvelut"]]
    raw = pd.DataFrame(rows, columns=["Palvelu", "Palvelukokonaisuus"], dtype="string")
    for c in src.columns:
        if c.name not in raw:
            raw[c.name] = "1" if c.numeric else "x"
    raw["_line"] = range(2, len(raw) + 2)
    typed, _ = typed_columns(raw, src, "talous_toteuma_202401.csv")
    assert typed["service"].tolist() == [
        "Lastensuojelu- ja perhesosiaalityö",
        "Henkilöstö- ja kehittämispalvelut",
        "Tuntematon palvelu",  # left as written, for the suite to report
    ] * 2 + [""]
    assert set(typed["area"]) == {"Perhe- ja sosiaalipalvelut"}
