import base64
import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd

from tasks.contracts.vocab import CHART_CACHE
from tasks.finance.followup import Finance
from tasks.finance.reconcile import COLUMNS, Reconciliation
from tasks.goals.results import GoalResults, goal_results, indicator_results
from tasks.ingest.quality import SourceStatus
from tasks.report import charts, context, render
from tests import pdf_layout as layout


def status(**kw) -> SourceStatus:
    base = dict(files=[], files_text="", rows=0, checks=0, passed=0, errors=[], warnings=[], missing=[], reason="")
    return SourceStatus(**{**base, **kw})


def inputs(**kw):
    table = pd.DataFrame(
        {
            "area": ["Pelastuslaitos", "Pelastuslaitos", ""],
            "service": ["Riskienhallinta", "", ""],
            "line": ["Toimintakate"] * 3,
            "level": ["service", "area", "sector"],
            "tb": [-4_607_000.0, -4_607_000.0, -4_607_000.0],
            "ytd": [-3_000_000.0] * 3,
            "forecast": [-4_500_000.0] * 3,
            "ytd_pct": [65.1] * 3,
            "deviation": [107_000.0] * 3,
            "deviation_pct": [2.3] * 3,
            "tb_to_date": [-3_071_000.0] * 3,
            "mechanical": [-4_500_000.0] * 3,
            "adjustment": [0.0] * 3,
            "prev_ytd": [-2_900_000.0] * 3,
            "previous_forecast": [np.nan] * 3,
        }
    )
    profile = pd.DataFrame(
        {
            "month": range(1, 13),
            "actual": [-400_000.0 * m if m <= 8 else np.nan for m in range(1, 13)],
            "budget": [-384_000.0 * m for m in range(1, 13)],
        }
    )
    rec = pd.DataFrame(
        [["tb_toimintakate", "Riskienhallinta", "Toimintakate", "TB", -4597.0, -4607.0, -10.0, "deviation"]],
        columns=COLUMNS,
    )
    sources = [
        status(
            source="ledger",
            title="Talouden toteuma",
            status="failed",
            status_fi="virheellinen, ei käytetty",
            files_text="<script>alert(1)</script>.csv",
            errors=["x.csv, rivi 2, sarake Summa: <b>arvo</b> ei ole luku"],
            reason="x.csv: <b>arvo</b>",
        )
    ]
    fin = Finance(
        forecast=pd.DataFrame(),
        budget=pd.DataFrame(),
        table=table,
        profile=profile,
        binding_level=kw.pop("binding_level", -4_600_000.0),
        methods=pd.Series(dtype="int64"),
    )
    base = dict(
        year=2024,
        month=8,
        kind="forecast",
        report_date=dt.date(2024, 9, 20),
        finance=fin,
        reconciliation=Reconciliation(rec),
        sources=sources,
    )
    base.update(kw)
    return context.ReportInputs(**base)


def html_of(inp, **stamp) -> str:
    ctx = context.report_context(inp)
    return render.report_html({**ctx, **context.approval_stamp(**stamp)} if stamp else ctx)


def test_html_is_autoescaped():
    html = html_of(inputs()).replace("\u200b", "")  # file names and messages may wrap after a slash
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>arvo</b>" not in html and "&lt;b&gt;arvo&lt;/b&gt;" in html


def test_cover_title_period_and_draft_mark():
    html = html_of(inputs())
    assert "3. toteutumisennuste 2024" in html and "tammi–elokuu 2024" in html and "20.9.2024" in html
    assert "LUONNOS" in html
    approved = html_of(inputs(kind="monthly"), approved_by="Maija Meikäläinen", approved_at=None)
    assert "LUONNOS" not in approved and "Hyväksytty, hyväksyjä Maija Meikäläinen" in approved
    assert "Kuukausiraportti 2024" in approved


def test_deviation_listed_with_its_unit_and_failed_source_explained():
    html = html_of(inputs())
    assert "Tulosbudjetti: toimintakate = tulot + menot" in html
    assert (
        "<td>\u22124\u00a0597,0</td><td>\u22124\u00a0607,0</td><td>\u221210,0</td><td "
        'class="text">1\u00a0000\u00a0€</td>' in html
    )
    assert "Talouden toteuma: virheellinen, ei käytetty" in html


def test_binding_level_breach_is_said_in_the_summary():
    html = html_of(inputs())
    # Forecast −4 500 000 € is within the binding level −4 600 000 €.
    assert "Ennusteen mukaan sitova taso alittuu 0,1\u00a0milj.\u00a0eurolla" in html
    worse = inputs(binding_level=-4_400_000.0)
    assert "<strong>Ennusteen mukaan sitova taso ylittyy 0,1\u00a0milj.\u00a0eurolla.</strong>" in html_of(worse)


def test_chart_is_deterministic_png():
    names, values = ["Perhe- ja sosiaalipalvelut", "HUS-yhtymä"], [4_517_000.0, -14_323_000.0]
    a, b = charts.deviation_chart_png(names, values), charts.deviation_chart_png(names, values)
    assert a == b and a.startswith("data:image/png;base64,")
    assert charts.deviation_chart_png(names, [1.0, 2.0]) != a


def test_a_quarantined_source_marks_its_indicators_and_unit_table():
    from tasks.contracts import sources as contracts
    from tasks.contracts.catalog import catalog

    statuses = dict.fromkeys(contracts(), "ok")
    statuses["access"] = "failed"
    results, chart_data = indicator_results(catalog(), {}, statuses, None, 2024, 8)
    goals = GoalResults(results, chart_data, goal_results(catalog(), results), {})
    sources = inputs().sources + [
        status(
            source="access",
            title="Hoitoonpääsy terveysasemilla",
            status="failed",
            status_fi="virheellinen, ei käytetty",
            files_text="hoitoonpaasy_202408.csv",
            checks=19,
            passed=18,
            errors=["hoitoonpaasy_202408.csv, rivi 4, sarake Terveysasema: tuntematon"],
            reason="hoitoonpaasy_202408.csv, rivi 4: tuntematon",
        )
    ]
    html = html_of(inputs(goals=goals, sources=sources))
    t3 = results.set_index("id").loc["t3_odotusaika"]
    assert (t3["status"], t3["reason"]) == ("ei arvioitavissa", "lähde: virheellinen, ei käytetty")
    # The board's page says what is missing in words; the file, row and reason are in the quality appendix.
    board, appendix = (layout.html_text(part) for part in html.split('id="liite-laatu"'))
    assert (
        "Taulukko yksiköittäin puuttuu, koska tieto hoitoonpääsy terveysasemilla ei ollut käytettävissä "
        "(ks. liite 2)." in board
    )
    assert "hoitoonpaasy_202408.csv" not in board
    assert "Hoitoonpääsy terveysasemilla: virheellinen, ei käytetty – hoitoonpaasy_202408.csv, rivi 4: tuntematon" in (
        appendix
    )
    assert "lähde: virheellinen, ei käytetty" in html


def test_the_fingerprint_follows_the_reports_data_and_words_only():
    base = context.report_context(inputs())
    fp = render.content_fingerprint(base)
    # Another drawing library's pixels, another day's check wording, THL's outage: the same report.
    redrawn = {**base, "goals": [{"views": [{"chart": "data:image/png;base64,AAAA", "chart_data": [[2024, 1, 1.0]]}]}]}
    same = {**redrawn, "goals": [{"views": [{"chart": "data:image/png;base64,BBBB", "chart_data": [[2024, 1, 1.0]]}]}]}
    assert render.content_fingerprint(redrawn) == render.content_fingerprint(same)
    # A sum of the same floating-point values in another order (runs that loaded at once): the same report.
    summed = {**redrawn, "goals": [{"views": [{"chart": "-", "chart_data": [[2024, 1, 0.15476683937823837]]}]}]}
    resummed = {**redrawn, "goals": [{"views": [{"chart": "-", "chart_data": [[2024, 1, 0.1547668393782384]]}]}]}
    assert render.content_fingerprint(summed) == render.content_fingerprint(resummed)
    assert render.content_fingerprint(summed) != render.content_fingerprint(redrawn)
    worded = {**base, "sources": [{**s, "warnings": ["tarkistettu 3.12.2026"]} for s in base["sources"]]}
    assert render.content_fingerprint(worded) == fp
    assert render.content_fingerprint({**base, "comparison": {"rows": [], "problems": ["THL ei vastannut"]}}) == fp
    # The data a chart draws, a figure, a word of the text: a new report.
    moved = {**redrawn, "goals": [{"views": [{"chart": "data:image/png;base64,AAAA", "chart_data": [[2024, 1, 2.0]]}]}]}
    assert render.content_fingerprint(moved) != render.content_fingerprint(redrawn)
    assert render.content_fingerprint({**base, "binding_level": (base["binding_level"] or 0) + 1000}) != fp
    first = base["sources"][0]
    other = "missing" if first["status"] != "missing" else "ok"
    assert render.content_fingerprint({**base, "sources": [{**first, "status": other}, *base["sources"][1:]]}) != fp


def test_the_controllers_words_alone_make_another_report():
    """The same figures with other words are another version: explanations, the proposal, a reallocation."""
    from tasks.finance.explain import Explanation
    from tasks.ingest.commentary import OK, Commentary

    def fp(inp) -> str:
        return render.content_fingerprint(context.report_context(inp))

    draft = "Toimintakate on 0,1 milj. euroa tulosbudjettia parempi."
    said = Explanation("Pelastuslaitos", "", "Pelastuslaitos", "area", 107_000.0, 2.3, draft, draft, False)
    plain = fp(inputs(explanations=[said]))
    assert fp(inputs(explanations=[said])) == plain
    reviewed = Explanation("Pelastuslaitos", "", "Pelastuslaitos", "area", 107_000.0, 2.3, draft, draft, True)
    assert fp(inputs(explanations=[reviewed])) != plain  # the same text, now the controller's: marked otherwise
    edited = Explanation(
        "Pelastuslaitos", "", "Pelastuslaitos", "area", 107_000.0, 2.3, draft, "Ostot viivästyivät.", True
    )
    assert fp(inputs(explanations=[edited])) not in (plain, fp(inputs(explanations=[reviewed])))
    proposal = Commentary(OK, sheets={"comment_proposal": pd.DataFrame({"text": ["Lautakunta esittää muutosta."]})})
    assert fp(inputs(explanations=[said], commentary=proposal)) != plain
    moved = pd.DataFrame({"from_area": ["Hallinto"], "to_area": ["Pelastuslaitos"], "amount": [10.0], "reason": ["x"]})
    transfer = Commentary(OK, sheets={"comment_transfers": moved})
    assert fp(inputs(explanations=[said], commentary=transfer)) != plain


def _page(words: str) -> str:
    return f'<html lang="fi"><head><title>Testi</title></head><body><h1>Raportti</h1><p>{words}</p></body></html>'


def test_a_pdf_typeset_earlier_from_the_same_html_is_copied_from_the_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache" / "pdf"
    render.report_pdf(_page("Toimintakate 4,6 %"), tmp_path / "plain.pdf")
    render.report_pdf(_page("Toimintakate 4,6 %"), tmp_path / "first.pdf", cache)
    [kept] = cache.glob("*.pdf")
    # Typeset into the cache, the same bytes as without one.
    assert (tmp_path / "first.pdf").read_bytes() == kept.read_bytes() == (tmp_path / "plain.pdf").read_bytes()

    # The same HTML again is the cached copy (marked here, so a fresh typesetting would show)...
    kept.write_bytes(kept.read_bytes() + b"%kept\n")
    render.report_pdf(_page("Toimintakate 4,6 %"), tmp_path / "again.pdf", cache)
    assert (tmp_path / "again.pdf").read_bytes().endswith(b"%kept\n")
    # ...and other HTML is typeset anew, under a key of its own.
    render.report_pdf(_page("Toimintakate 4,7 %"), tmp_path / "other.pdf", cache)
    assert not (tmp_path / "other.pdf").read_bytes().endswith(b"%kept\n")
    assert len(list(cache.glob("*.pdf"))) == 2

    # The cache keeps the newest few: the one used last stays, the oldest goes.
    monkeypatch.setattr(render, "PDF_CACHE_KEEP", 2)
    render.report_pdf(_page("Toimintakate 4,6 %"), tmp_path / "used.pdf", cache)
    render.report_pdf(_page("Toimintakate 4,8 %"), tmp_path / "newest.pdf", cache)
    assert kept.exists() and len(list(cache.glob("*.pdf"))) == 2
    assert not list(cache.glob("*.part"))

    # A copy cut short (a full disk, a crash) is typeset again and replaced, never copied.
    kept.write_bytes(kept.read_bytes()[:2000])
    render.report_pdf(_page("Toimintakate 4,6 %"), tmp_path / "whole.pdf", cache)
    assert (tmp_path / "whole.pdf").read_bytes() == (tmp_path / "plain.pdf").read_bytes() == kept.read_bytes()


def test_a_pdf_taken_from_the_cache_needs_no_weasyprint_and_its_key_names_weasyprints_pango(tmp_path):
    """A rerun whose PDF is kept spends no second importing WeasyPrint; the versions in the key, read without it,
    are those WeasyPrint itself reports (so its upgrade, or Pango's, typesets anew)."""
    from weasyprint import __version__
    from weasyprint.text.ffi import pango

    assert render._typesetter_version() == f"{__version__}/{pango.pango_version()}"
    cache = tmp_path / "pdf"
    render.report_pdf(_page("Toimintakate 4,6 %"), tmp_path / "first.pdf", cache)
    rerun = (
        "import sys; from pathlib import Path; from tasks.report import render; "
        f"render.report_pdf({_page('Toimintakate 4,6 %')!r}, Path({str(tmp_path / 'again.pdf')!r}), "
        f"Path({str(cache)!r})); print(sorted(m for m in sys.modules if m.startswith('weasyprint')))"
    )
    taken = subprocess.run([sys.executable, "-c", rerun], capture_output=True, text=True, check=True)
    assert taken.stdout.strip() == "[]"
    assert (tmp_path / "again.pdf").read_bytes() == (tmp_path / "first.pdf").read_bytes()


def test_a_cache_that_cannot_be_written_costs_time_not_the_report(tmp_path):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be", encoding="utf-8")
    render.report_pdf(_page("Toimintakate 4,6 %"), tmp_path / "report.pdf", blocked / "pdf")
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


def _trend(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"year": 2024, "month": range(1, len(values) + 1), "value": values})


TREND_ROW = {"unit": "%", "kind": "level", "decimals": 1, "direction": "higher", "target": 5.0, "forecast": 4.6}


def test_a_chart_drawn_earlier_from_the_same_data_is_taken_from_the_cache(tmp_path, monkeypatch):
    cached = charts.Charts(tmp_path / "charts")
    names, values = ["Perhe- ja sosiaalipalvelut", "HUS-yhtymä"], [4_517_000.0, -14_323_000.0]
    first = cached.deviation(names, values)
    assert first == charts.deviation_chart_png(names, values)  # the same picture as drawn without a cache
    [kept] = (tmp_path / "charts").glob("*.png")
    # The same data again is the kept picture (another one put in its place here, so a drawing would show)...
    other = charts.deviation_chart_png(names, [1.0, 2.0])
    kept.write_bytes(base64.b64decode(other.removeprefix(charts.PNG_URI)))
    assert cached.deviation(names, values) == other
    # ...and a chart whose data, its row's facts or the drawing code differ is drawn anew.
    trend = cached.indicator(_trend([4.1, 4.3, 4.2, 4.4]), TREND_ROW, 2024, 4)
    assert trend == charts.indicator_chart_png(_trend([4.1, 4.3, 4.2, 4.4]), TREND_ROW, 2024, 4)
    assert cached.indicator(_trend([4.1, 4.3, 4.2, 4.5]), TREND_ROW, 2024, 4) != trend
    assert cached.indicator(_trend([4.1, 4.3, 4.2, 4.4]), {**TREND_ROW, "target": 6.0}, 2024, 4) != trend
    assert len(list((tmp_path / "charts").glob("*.png"))) == 4
    monkeypatch.setattr(charts, "_drawing_version", lambda: "another drawing code")
    assert cached.deviation(names, values) == first
    # Too few points: no chart, nothing kept.
    assert cached.indicator(_trend([4.1]), TREND_ROW, 2024, 1) is None
    assert len(list((tmp_path / "charts").glob("*.png"))) == 5
    assert not list((tmp_path / "charts").glob("*.part"))


def test_a_chart_kept_cut_short_or_in_an_unwritable_cache_is_drawn(tmp_path):
    cached = charts.Charts(tmp_path / "charts")
    drawn = cached.indicator(_trend([4.1, 4.3, 4.2, 4.4]), TREND_ROW, 2024, 4)
    [kept] = (tmp_path / "charts").glob("*.png")
    kept.write_bytes(kept.read_bytes()[:500])  # a full disk, a crash
    assert cached.indicator(_trend([4.1, 4.3, 4.2, 4.4]), TREND_ROW, 2024, 4) == drawn
    assert kept.read_bytes() == base64.b64decode(drawn.removeprefix(charts.PNG_URI))  # replaced whole
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be", encoding="utf-8")
    assert charts.Charts(blocked / "charts").indicator(_trend([4.1, 4.3, 4.2, 4.4]), TREND_ROW, 2024, 4) == drawn


def test_a_report_draws_its_charts_once_for_the_cache_and_takes_them_after(tmp_path):
    """The draft's charts go into the cache folder beside its PDF; the same inputs again draw none."""
    cache = tmp_path / "cache"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = render.render_draft(inputs(), tmp_path / "a", cache)
    kept = sorted((cache / CHART_CACHE).glob("*.png"))
    assert kept and first.context["deviation_chart"].startswith(charts.PNG_URI)
    files = {p: p.stat().st_ino for p in kept}  # a chart drawn again would be kept as a new file
    again = render.render_draft(inputs(), tmp_path / "b", cache)
    assert again.context == first.context
    assert {p: p.stat().st_ino for p in (cache / CHART_CACHE).glob("*.png")} == files
