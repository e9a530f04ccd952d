"""The report in brief: summary lines, what a correction changed, the UI's link."""

from flows.artifacts import report_link
from tasks.report.summary import changes, summary_lines


def figures(**kw):
    base = {
        "margin": {
            "tb": -2_691_055_000.0,
            "ytd": -1_773_569_000.0,
            "forecast": -2_712_740_000.0,
            "deviation": -21_684_000.0,
            "deviation_pct": -0.8,
        },
        "binding_level": -2_691_055_000.0,
        "goals": {
            "vetovoima": "toteutuu",
            "saatavuus": "ei toteudu",
            "talous": "ei toteudu",
            "asiakaskokemus": "riski",
        },
        "indicators": {"lahtovaihtuvuus": {"status": "toteutuu", "actual": 13.37, "forecast": 12.6}},
        "sources": {"ledger": "ok", "personnel": "ok"},
        "warnings": 1,
        "deviations": 1,
    }
    base.update(kw)
    return base


def test_summary_lines_say_the_margin_the_binding_level_and_the_goals_in_finnish():
    lines = summary_lines(figures())
    assert (
        lines[0] == "Toimintakate toteuma \u22121\u00a0773,6\u00a0milj.\u00a0euroa, "
        "vuoden lopun ennuste \u22122\u00a0712,7\u00a0milj.\u00a0euroa."
    )
    assert lines[1] == "Ennusteen mukaan tulosbudjetti ylittyy 21,7\u00a0milj.\u00a0euroa."
    assert lines[2] == "Sitova taso ylittyy 21,7\u00a0milj.\u00a0euroa."
    assert lines[3] == "Sitovat toiminnan tavoitteet: toteutuu 1, ei toteudu 2, riski 1."
    assert lines[4] == "Tietojen laatu: kaikki lähteet käytetty."


def test_changes_name_what_a_correction_changed():
    before = figures()
    after = figures(
        indicators={"lahtovaihtuvuus": {"status": "ei toteudu", "actual": 14.2, "forecast": 14.0}},
        goals={**before["goals"], "vetovoima": "ei toteudu"},
    )
    lines = changes(before, after)
    assert (
        "Mittari ”Vakituisen henkilöstön lähtövaihtuvuus”: 13,4\u00a0% → 14,2\u00a0% (arvio toteutuu → ei toteudu)"
        in lines
    )
    assert any(
        line.startswith("Tavoite ”Toimialan vetovoimaisuus lisääntyy") and line.endswith("toteutuu → ei toteudu")
        for line in lines
    )
    assert changes(before, before) == ["Raportin sisältö muuttui (luvut ja arviot ennallaan)."]


def test_the_uis_link_points_where_the_reports_are_served(tmp_path):
    folder = tmp_path / "2024-08-forecast"
    assert (
        report_link(folder, "https://raportit.stadi.example/katsaus/")
        == "https://raportit.stadi.example/katsaus/2024-08-forecast/report.pdf"
    )
    assert report_link(folder, "") == (folder / "report.pdf").resolve().as_uri()


def test_the_ui_summary_lists_the_deviations_under_a_finnish_count():
    import pandas as pd

    from tasks.finance.reconcile import Reconciliation
    from tasks.report.summary import summary_markdown

    recon = pd.DataFrame(
        [
            {
                "check": "palvelualue_summa",
                "unit": "Pelastuslaitos",
                "line": "Menot",
                "column": "TB_2024",
                "difference": 3.0,
                "status": "deviation",
            },
            {
                "check": "palvelualue_summa",
                "unit": "Hallinto",
                "line": "Menot",
                "column": "TB_2024",
                "difference": 0.5,
                "status": "ok",
            },
        ]
    )
    text = summary_markdown(
        figures(), "3. toteutumisennuste 2024", "tammi–elokuu 2024", [], Reconciliation(recon), None
    )
    assert "## Täsmäytys: 1 täsmäytysero\n" in text
    assert "| palvelualue_summa | Pelastuslaitos | Menot | TB_2024 | 3,00 |" in text and "Hallinto" not in text
    none = summary_markdown(
        figures(), "3. toteutumisennuste 2024", "tammi–elokuu 2024", [], Reconciliation(recon.assign(status="ok")), None
    )
    assert "## Täsmäytys: 0 täsmäytyseroa\n" in none


def test_a_corrected_version_lists_a_changed_or_added_explanation():
    before = {**figures(), "explanations": {"Toimiala": "Vanha selitys."}}
    after = {**figures(), "explanations": {"Toimiala": "Uusi selitys.", "Psykiatria": "Ostot kallistuivat."}}
    lines = changes(before, after)
    assert "Selitys ”Toimiala” muuttui: Uusi selitys." in lines
    assert "Selitys ”Psykiatria” lisättiin: Ostot kallistuivat." in lines


def test_the_ui_summary_says_when_the_commentary_is_missing_refused_or_left_to_drafts():
    import pandas as pd

    from tasks.finance.reconcile import Reconciliation
    from tasks.ingest.commentary import ABSENT, FAILED, Commentary
    from tasks.ingest.files import FileInfo
    from tasks.report.summary import summary_markdown

    recon = Reconciliation(pd.DataFrame(columns=["check", "unit", "line", "column", "difference", "status"]))

    def summary(commentary: Commentary, unreviewed: int) -> str:
        figs = {**figures(), "unreviewed": unreviewed}
        return summary_markdown(figs, "3. toteutumisennuste 2024", "tammi–elokuu 2024", [], recon, None, commentary)

    absent = summary(Commentary(ABSENT), 3)
    section = absent[absent.index("## Kontrollerin kommentit") : absent.index("## Sitovat")]
    assert "- Kommenttityökirjaa ei ole toimitettu" in section
    assert "- Kolme selitystä on automaattisia luonnoksia, joita kukaan ei ole tarkastanut." in section
    info = FileInfo("kommentit_202408_forecast.xlsx", "/x/kommentit_202408_forecast.xlsx", "ab" * 32, 0, "2024-08")
    refused = summary(Commentary(FAILED, info, ["kommentit_202408_forecast.xlsx, taulukko Selitykset: rivi 3"]), 1)
    assert "ei käytetty, koska siinä on virheitä" in refused and "- virhe: kommentit_202408_forecast.xlsx" in refused
    assert "- Yksi selitys on automaattinen luonnos, jota kukaan ei ole tarkastanut." in refused
    assert "tarkastanut" not in summary(Commentary(ABSENT), 0)
