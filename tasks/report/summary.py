"""The report in brief: key figures and Finnish summaries for the controller's view, the e-mail and the archive.

`key_figures` condenses a run's results into a small JSON-able dict (kept in
the archive's metadata). From it come the Finnish summary lines of the e-mail
(`summary_lines`), the list of what changed between two archived versions
(`changes`), and the markdown and table a controller sees in the Prefect UI
(`summary_markdown`, `quality_markdown`, `deviation_rows`; the flow posts
them). Nothing here can carry a personal identity code: source problems are
the validate stage's masked messages.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports import fmt
from tasks.contracts.catalog import catalog
from tasks.contracts.vocab import MARGIN, SOURCE_FAILED, SOURCE_MISSING, SOURCE_OK, UNKNOWN
from tasks.finance.explain import Explanation
from tasks.finance.followup import Finance
from tasks.finance.reconcile import Reconciliation
from tasks.goals.results import GoalResults
from tasks.ingest.commentary import Commentary
from tasks.ingest.quality import SourceStatus


def _num(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def key_figures(
    fin: Finance,
    goals: GoalResults,
    statuses: list[SourceStatus],
    reconciliation: Reconciliation,
    explanations: list[Explanation] = (),
) -> dict:
    """The figures a board member reads first, and every assessment, as plain JSON values."""
    s = fin.sector_margin()
    s = s if s is not None else pd.Series(dtype=object)
    return {
        "margin": {k: _num(s.get(k)) for k in ("tb", "ytd", "forecast", "deviation", "deviation_pct")},
        "binding_level": _num(fin.binding_level),
        "goals": {r["id"]: r["status"] for r in goals.goals.to_dict("records")},
        "indicators": {
            r["id"]: {"status": r["status"], "actual": _num(r["actual"]), "forecast": _num(r["forecast"])}
            for r in goals.results.to_dict("records")
        },
        "sources": {s.source: s.status for s in statuses},
        "warnings": sum(len(s.warnings) for s in statuses),
        "deviations": len(reconciliation.deviations),
        # The words beside the figures: a corrected version lists an explanation that changed.
        "explanations": {e.subject: e.text for e in explanations},
        "unreviewed": sum(not e.reviewed for e in explanations),
    }


def commentary_lines(commentary: Commentary, figs: dict) -> list[str]:
    """What the controller needs to know of the commentary before approving: used, absent or refused, and drafts."""
    unreviewed = figs.get("unreviewed", 0)
    if commentary.status == "absent":
        head = "Kommenttityökirjaa ei ole toimitettu: selitykset ja päätösehdotus ovat automaattisia luonnoksia."
    elif commentary.used:
        head = f"Kommenttityökirja {commentary.file.name} on luettu."
    else:
        head = (
            f"Kommenttityökirjaa {commentary.file.name} ei käytetty, koska siinä on virheitä; raportissa on luonnokset."
        )
    lines = [head] + [f"virhe: {e}" for e in commentary.errors[:10]]
    if unreviewed:
        # After a numeral the predicate noun is in the plural partitive: "kolme selitystä on … luonnoksia".
        what = "automaattinen luonnos, jota" if unreviewed == 1 else "automaattisia luonnoksia, joita"
        words = fmt.count_words(unreviewed, "selitys", "selitystä")
        lines.append(f"{words[0].upper()}{words[1:]} on {what} kukaan ei ole tarkastanut.")
    return lines


def commentary_facts(commentary: Commentary, explanations: list[Explanation], goals: GoalResults) -> dict:
    """For the manifest: the workbook (name, SHA-256, status) and, per text, whether it is the controller's words
    or a draft."""
    return {
        "file": commentary.file.name if commentary.file else None,
        "sha256": commentary.file.sha256 if commentary.file else None,
        "status": commentary.status,
        "errors": commentary.errors,
        "explanations": [{"subject": e.subject, "level": e.level, "source": e.source} for e in explanations],
        "indicator_notes": [
            {"indicator": n.indicator, "source": "controller" if n.reviewed else "draft"} for n in goals.notes.values()
        ],
        "actions": [{"goal": a.goal, "action": a.number, "status": a.status} for a in goals.actions],
    }


def summary_lines(figs: dict) -> list[str]:
    """Finnish lines of the report's message: the margin, the binding level, the goals, data quality."""
    m = figs["margin"]
    lines = []
    if m["ytd"] is not None and m["forecast"] is not None:
        lines.append(
            f"Toimintakate toteuma {fmt.millions(m['ytd'])}, vuoden lopun ennuste {fmt.millions(m['forecast'])}."
        )
    if m["deviation"] is not None:
        word = "alittuu" if m["deviation"] >= 0 else "ylittyy"
        lines.append(f"Ennusteen mukaan tulosbudjetti {word} {fmt.millions(abs(m['deviation']))}.")
    if figs["binding_level"] is not None and m["forecast"] is not None:
        gap = m["forecast"] - figs["binding_level"]
        lines.append(f"Sitova taso {'alittuu' if gap >= 0 else 'ylittyy'} {fmt.millions(abs(gap))}.")
    binding = [g.id for g in catalog().goals if g.binding]
    counts = {}
    for gid in binding:
        st = figs["goals"].get(gid, UNKNOWN)
        counts[st] = counts.get(st, 0) + 1
    lines.append("Sitovat toiminnan tavoitteet: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".")
    bad = [sid for sid, st in figs["sources"].items() if st != SOURCE_OK]
    lines.append(
        f"Tietojen laatu: {len(bad)} lähdettä ei voitu käyttää." if bad else "Tietojen laatu: kaikki lähteet käytetty."
    )
    return lines


def changes(prev: dict, cur: dict) -> list[str]:
    """What a corrected version changes, in Finnish, one line per changed figure or assessment."""
    out = []
    for key, label in (
        ("ytd", "Toimintakatteen toteuma"),
        ("forecast", "Toimintakatteen ennuste"),
        ("tb", "Tulosbudjetti"),
    ):
        a, b = (prev.get("margin") or {}).get(key), cur["margin"].get(key)
        if a != b:
            out.append(f"{label}: {fmt.millions(a)} → {fmt.millions(b)}")
    goal_names = {g.id: g.name for g in catalog().goals}
    for gid, st in cur["goals"].items():
        before = (prev.get("goals") or {}).get(gid)
        if before != st:
            out.append(f"Tavoite ”{goal_names.get(gid, gid)}”: {before or '–'} → {st}")
    for iid, now in cur["indicators"].items():
        was = (prev.get("indicators") or {}).get(iid, {})
        ind = catalog().indicator(iid)
        if was.get("actual") != now["actual"] or was.get("status") != now["status"]:
            before, after = (fmt.measure(v, ind.unit, ind.decimals) for v in (was.get("actual"), now["actual"]))
            text = f"Mittari ”{ind.name}”: {before} → {after}"
            if was.get("status") != now["status"]:
                text += f" (arvio {was.get('status') or '–'} → {now['status']})"
            out.append(text)
    for sid, st in cur["sources"].items():
        if (prev.get("sources") or {}).get(sid) != st:
            out.append(f"Lähde {sid}: {(prev.get('sources') or {}).get(sid, '–')} → {st}")
    before_texts = prev.get("explanations") or {}
    for subject, text in (cur.get("explanations") or {}).items():
        if before_texts.get(subject) != text:
            out.append(f"Selitys ”{subject}” {'muuttui' if subject in before_texts else 'lisättiin'}: {text}")
    return out or ["Raportin sisältö muuttui (luvut ja arviot ennallaan)."]


def summary_markdown(
    figs: dict,
    title: str,
    period_text: str,
    statuses: list[SourceStatus],
    reconciliation: Reconciliation,
    report: Path | None,
    commentary: Commentary | None = None,
) -> str:
    """The run's summary for the Prefect UI: key figures, the controller's commentary, goal assessments, data
    quality, deviations."""
    lines = [f"# {title}, {period_text}", ""]
    lines += [f"- {line}" for line in summary_lines(figs)]
    if commentary is not None:
        lines += ["", "## Kontrollerin kommentit", ""] + [f"- {line}" for line in commentary_lines(commentary, figs)]
    lines += ["", "## Sitovat toiminnan tavoitteet", "", "| Tavoite | Arvio |", "|---|---|"]
    lines += [f"| {g.name} | {figs['goals'].get(g.id, '–')} |" for g in catalog().goals if g.binding]
    lines += [
        "",
        "## Tietojen laatu",
        "",
        "| Lähde | Tila | Rivejä | Tarkistukset | Huomautuksia |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {s.title} | {s.status_fi} | {fmt.number(s.rows)} | {s.passed}/{s.checks} | {len(s.warnings)} |"
        for s in statuses
    ]
    problems = [(s.title, e) for s in statuses for e in s.errors[:3]]
    if problems:
        lines += ["", "Virheet (enintään kolme lähdettä kohden):", ""] + [f"- {t}: {e}" for t, e in problems]
    dev = reconciliation.deviations
    lines += ["", f"## Täsmäytys: {fmt.count(len(dev), 'täsmäytysero', 'täsmäytyseroa')}", ""]
    if len(dev):
        lines += ["| Tarkistus | Kohde | Rivi | Sarake | Erotus |", "|---|---|---|---|---:|"]
        lines += [
            f"| {r['check']} | {r['unit']} | {r['line']} | {r['column']} | {fmt.number(r['difference'], 2)} |"
            for r in dev.head(30).to_dict("records")
        ]
    if report is not None:
        lines += ["", f"Raportti: `{report}`"]
    return "\n".join(lines)


def quality_markdown(statuses: list[SourceStatus], period_text: str) -> str:
    """Data quality of the run for the Prefect UI: every source, its checks, warnings and quarantine."""
    quarantined = [s for s in statuses if s.status == SOURCE_FAILED]
    missing = [s for s in statuses if s.status == SOURCE_MISSING]
    lines = [f"# Tietojen laatu, {period_text}", ""]
    lines.append(
        f"{fmt.count(len(statuses), 'lähde', 'lähdettä')}: {len(statuses) - len(quarantined) - len(missing)} käytetty, "
        f"{len(quarantined)} karanteenissa, {len(missing)} puuttuu; huomautuksia "
        f"{sum(len(s.warnings) for s in statuses)}."
    )
    lines += [
        "",
        "| Lähde | Tila | Tiedostot | Rivejä | Läpäistyt tarkistukset | Huomautuksia |",
        "|---|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {s.title} | {s.status_fi} | {s.files_text} | {fmt.number(s.rows)} | {s.passed}/{s.checks} | "
        f"{len(s.warnings)} |"
        for s in statuses
    ]
    for s in statuses:
        if s.errors or s.warnings or s.status == SOURCE_MISSING:
            lines += ["", f"## {s.title}: {s.status_fi}"]
            if s.reason and not s.errors:
                lines.append(f"- {s.reason}")
            lines += [f"- virhe: {e}" for e in s.errors[:10]]
            lines += [f"- huomautus: {w}" for w in s.warnings[:10]]
    return "\n".join(lines)


def deviation_rows(table: pd.DataFrame) -> list[dict]:
    """Budget deviations per service area and service (operating margin, 1 000 €), for a table artifact."""
    m = table[table["line"].eq(MARGIN) & table["level"].isin(["area", "service"])]
    return [
        {
            "Palvelukokonaisuus": r["area"],
            "Palvelu": r["service"] or "(yhteensä)",
            "TB, 1 000 €": fmt.thousands(r["tb"]),
            "Ennuste, 1 000 €": fmt.thousands(r["forecast"]),
            "Poikkeama, 1 000 €": fmt.thousands(r["deviation"]),
            "Poikkeama %": fmt.pct(r["deviation_pct"]),
        }
        for r in m.to_dict("records")
    ]
