import hashlib
import re

import pandas as pd
import pytest

from tasks.contracts import structure
from tasks.finance import reconcile as rc
from tasks.ingest.extract import extract_source
from tasks.ingest.ledger import extract_ledger
from tasks.samples import sample_extracts
from tasks.samples.finance import ledger_frame, sample_budget


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_arguments_give_the_same_bytes(sample_dir, tmp_path):
    sample_extracts(2024, tmp_path)
    assert _digest(tmp_path) == _digest(sample_dir)


def test_sample_has_two_years_of_ledger_with_control_files(sample_dir):
    names = {p.name for p in sample_dir.iterdir()}
    for y in (2023, 2024):
        for m in range(1, 13):
            assert f"talous_toteuma_{y}{m:02d}.csv" in names
            assert f"talous_toteuma_{y}{m:02d}.ctl" in names
    assert {"tulosbudjetti_2024.csv", "talousarvio_2024.csv"} <= names


def test_files_vary_like_real_exports(sample_dir):
    sheet = (sample_dir / "tulosbudjetti_2024.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        sheet.decode("utf-8")  # Windows-1252, as the finance unit's spreadsheet saves it
    text = sheet.decode("cp1252")
    assert "-536 078" in text and "4,6 %" in text
    current = (sample_dir / "talous_toteuma_202408.csv").read_bytes()
    assert current.startswith(b"\xef\xbb\xbf")
    assert "\u2212" in current.decode("utf-8-sig") and "\u00a0" in current.decode("utf-8-sig")


def test_service_names_are_those_of_table_5(sample_dir):
    rb = extract_source(sample_dir, "result_budget", 2024, 12).frame
    services = set(rb["service"]) - {""}
    # The budget book's typo stays in the extract; read, the name is spelled right.
    assert "Henkilöstö- ja kehittämispalvelut" in services and "Henkilöstö- ja kehittämisspalvelut" not in services
    assert "Asumis-, kriisi- ja päihdepalvelut" in services and "Psykiatria" in services
    assert not any("*" in s for s in services)
    assert len(services) == 28  # 5 + 5 + 5 + 5 + 8 services in table 5
    text = (sample_dir / "tulosbudjetti_2024.csv").read_bytes().decode("cp1252")
    assert "PERHE- JA SOSIAALIPALVELUT;;Tulot;33 114;33 114" in text
    assert "HALLINTO;Henkilöstö- ja kehittämisspalvelut;Menot" in text


def test_sample_budgets_are_consistent_but_for_the_seeds_own_printing_error(sample_dir):
    """Table 5 of the 2024 plan prints Perhe- ja sosiaalipalvelut's TB 2024 margin as −518 358 while its Tulot
    and Menot (and its services) add up to −502 964: the sample carries that error, and nothing else."""
    rb = extract_source(sample_dir, "result_budget", 2024, 12)
    cb = extract_source(sample_dir, "council_budget", 2024, 12)
    assert rb.status == cb.status == "ok"
    checks = pd.concat([rc.result_budget_checks(rb.frame), rc.council_budget_checks(cb.frame)])
    assert len(checks) > 150
    bad = checks[checks["status"] != "ok"]
    assert set(bad["unit"]) == {"Perhe- ja sosiaalipalvelut"} and set(bad["column"]) <= {
        "TB",
        "Muutos_eur",
        "Muutos_pct",
    }
    margin = bad[bad["check"] == "tb_toimintakate"].iloc[0]
    assert (margin["stated"], margin["computed"]) == (-518_358, -502_964)


def test_ledger_lands_near_budget_with_some_services_over_and_some_under(sample_dir):
    ledger, _ = extract_ledger(sample_dir, 2024, 12)
    cur = ledger.frame[ledger.frame["year"] == 2024]
    actual = cur[cur["line"] == "Menot"].groupby("service")["amount_cents"].sum() / 100_000
    seed = sample_budget()["result_budget"]["services"]
    budget = pd.Series({s: v[3] for area in seed.values() for s, v in area.items() if v[3]})
    ratio = (actual.reindex(budget.index) / budget).dropna()
    assert ratio.between(0.9, 1.1).all()
    assert (ratio > 1.01).sum() >= 3 and (ratio < 0.99).sum() >= 3


def test_salaries_dip_in_july(sample_dir):
    ledger, _ = extract_ledger(sample_dir, 2024, 12)
    salaries = ledger.frame[ledger.frame["account"].str.startswith("40")]
    by_month = salaries.groupby(["year", "month"])["amount_cents"].sum().loc[2024]
    assert abs(by_month[7]) < 0.85 * abs(by_month[5])
    assert abs(by_month[6]) > abs(by_month[5])  # holiday pay


def test_scale_multiplies_ledger_rows():
    seed = sample_budget()
    one, three = ledger_frame(seed, 2024, 1), ledger_frame(seed, 2024, 3)
    assert len(three) == 3 * len(one)
    # The same money, spread over more cost centres.
    assert abs(three["cents"].sum() - one["cents"].sum()) < abs(one["cents"].sum()) * 0.01
    assert not three.duplicated(["Kuukausi", "Kustannuspaikka", "Tili"]).any()


def test_cost_centres_belong_to_their_service():
    ledger = ledger_frame(sample_budget(), 2024)
    code = {s.name: s.code for s in structure().services}
    # The raw extract writes names as the city's systems spell them.
    service = ledger["Palvelu"].str.casefold().map(structure().spellings("services"))
    assert (ledger["Kustannuspaikka"].str[:4] == service.map(code)).all()
    assert ledger["Kustannuspaikka"].str.fullmatch(r"\d{7}").all()


def test_ledger_is_in_sap_sign(sample_dir):
    raw = (sample_dir / "talous_toteuma_202301.csv").read_bytes().decode("cp1252")
    salary = re.search(r";4000;Palkat ja palkkiot;(-?[\d,]+)", raw).group(1)
    revenue = re.search(r";3100;Asiakasmaksut;(-?[\d,]+)", raw).group(1)
    assert not salary.startswith("-") and revenue.startswith("-")
