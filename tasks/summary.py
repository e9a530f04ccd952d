"""The report in brief: key figures for the Prefect UI, the e-mail and the archive.

`key_figures` condenses a run's results into a small JSON-able dict (kept in
the archive's metadata). From it come the Finnish summary lines of the e-mail
(`summary_lines`), the list of what changed between two archived versions
(`changes`), and the Prefect artifacts a controller sees in the UI
(`publish_artifacts`: a markdown summary, a table of budget deviations and a
link to the report). Nothing here can carry a personal identity code: source
problems are the validate stage's masked messages.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from reports import fmt
from tasks.contracts.catalog import catalog


def _num(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def key_figures(fin: dict, goals: dict, statuses: list[dict], reconciliation: pd.DataFrame) -> dict:
    """The figures a board member reads first, and every assessment, as plain JSON values."""
    t = fin["table"]
    sector = t[t["level"].eq("sector") & t["line"].eq("Toimintakate")]
    s = sector.iloc[0] if len(sector) else pd.Series(dtype=object)
    results = goals["results"]
    return {
        "margin": {k: _num(s.get(k)) for k in ("tb", "ytd", "forecast", "deviation", "deviation_pct")},
        "binding_level": _num(fin.get("binding_level") * 1000 if fin.get("binding_level") is not None else None),
        "goals": {r["id"]: r["status"] for r in goals["goals"].to_dict("records")},
        "indicators": {
            r["id"]: {"status": r["status"], "actual": _num(r["actual"]), "forecast": _num(r["forecast"])}
            for r in results.to_dict("records")
        },
        "sources": {s["source"]: s["status"] for s in statuses},
        "warnings": sum(len(s["warnings"]) for s in statuses),
        "deviations": int((reconciliation["status"] == "deviation").sum()) if len(reconciliation) else 0,
    }


def summary_lines(figs: dict) -> list[str]:
    """Finnish lines of the report's message: the margin, the binding level, the goals, data quality."""
    m = figs["margin"]
    lines = []
    if m["ytd"] is not None and m["forecast"] is not None:
        lines.append(f"Toimintakate toteuma {fmt.millions(m['ytd'])}, vuoden lopun ennuste {fmt.millions(m['forecast'])}.")
    if m["deviation"] is not None:
        word = "alittuu" if m["deviation"] >= 0 else "ylittyy"
        lines.append(f"Ennusteen mukaan tulosbudjetti {word} {fmt.millions(abs(m['deviation']))}.")
    if figs["binding_level"] is not None and m["forecast"] is not None:
        gap = m["forecast"] - figs["binding_level"]
        lines.append(f"Sitova taso {'alittuu' if gap >= 0 else 'ylittyy'} {fmt.millions(abs(gap))}.")
    binding = [g.id for g in catalog().goals if g.binding]
    counts = {}
    for gid in binding:
        st = figs["goals"].get(gid, "ei arvioitavissa")
        counts[st] = counts.get(st, 0) + 1
    lines.append("Sitovat toiminnan tavoitteet: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".")
    bad = [sid for sid, st in figs["sources"].items() if st != "ok"]
    lines.append(f"Tietojen laatu: {len(bad)} lähdettä ei voitu käyttää." if bad else "Tietojen laatu: kaikki lähteet käytetty.")
    return lines


def changes(prev: dict, cur: dict) -> list[str]:
    """What a corrected version changes, in Finnish, one line per changed figure or assessment."""
    out = []
    for key, label in (("ytd", "Toimintakatteen toteuma"), ("forecast", "Toimintakatteen ennuste"), ("tb", "Tulosbudjetti")):
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
            text = f"Mittari ”{ind.name}”: {fmt.measure(was.get('actual'), ind.unit, ind.decimals)} → {fmt.measure(now['actual'], ind.unit, ind.decimals)}"
            if was.get("status") != now["status"]:
                text += f" (arvio {was.get('status') or '–'} → {now['status']})"
            out.append(text)
    for sid, st in cur["sources"].items():
        if (prev.get("sources") or {}).get(sid) != st:
            out.append(f"Lähde {sid}: {(prev.get('sources') or {}).get(sid, '–')} → {st}")
    return out or ["Raportin sisältö muuttui (luvut ja arviot ennallaan)."]


def summary_markdown(figs: dict, title: str, period_text: str, statuses: list[dict], reconciliation: pd.DataFrame, report: Path | None) -> str:
    """The run's summary for the Prefect UI: key figures, goal assessments, data quality, deviations."""
    lines = [f"# {title}, {period_text}", ""]
    lines += [f"- {line}" for line in summary_lines(figs)]
    lines += ["", "## Sitovat toiminnan tavoitteet", "", "| Tavoite | Arvio |", "|---|---|"]
    lines += [f"| {g.name} | {figs['goals'].get(g.id, '–')} |" for g in catalog().goals if g.binding]
    lines += ["", "## Tietojen laatu", "", "| Lähde | Tila | Rivejä | Tarkistukset | Huomautuksia |", "|---|---|---:|---:|---:|"]
    lines += [f"| {s['title']} | {s['status_fi']} | {fmt.number(s['rows'])} | {s['passed']}/{s['checks']} | {len(s['warnings'])} |" for s in statuses]
    problems = [(s["title"], e) for s in statuses for e in s["errors"][:3]]
    if problems:
        lines += ["", "Virheet (enintään kolme lähdettä kohden):", ""] + [f"- {t}: {e}" for t, e in problems]
    dev = reconciliation[reconciliation["status"] == "deviation"] if len(reconciliation) else reconciliation
    lines += ["", f"## Täsmäytys: {fmt.count(len(dev), 'poikkeama', 'poikkeamaa')}", ""]
    if len(dev):
        lines += ["| Tarkistus | Kohde | Rivi | Sarake | Erotus |", "|---|---|---|---|---:|"]
        lines += [f"| {r['check']} | {r['unit']} | {r['line']} | {r['column']} | {fmt.number(r['difference'], 2)} |" for r in dev.head(30).to_dict("records")]
    if report is not None:
        lines += ["", f"Raportti: `{report}`"]
    return "\n".join(lines)


def quality_markdown(statuses: list[dict], period_text: str) -> str:
    """Data quality of the run for the Prefect UI: every source, its checks, warnings and quarantine."""
    quarantined = [s for s in statuses if s["status"] == "failed"]
    missing = [s for s in statuses if s["status"] == "missing"]
    lines = [f"# Tietojen laatu, {period_text}", ""]
    lines.append(
        f"{fmt.count(len(statuses), 'lähde', 'lähdettä')}: {len(statuses) - len(quarantined) - len(missing)} käytetty, "
        f"{len(quarantined)} karanteenissa, {len(missing)} puuttuu; huomautuksia {sum(len(s['warnings']) for s in statuses)}."
    )
    lines += ["", "| Lähde | Tila | Tiedostot | Rivejä | Läpäistyt tarkistukset | Huomautuksia |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {s['title']} | {s['status_fi']} | {s['files_text']} | {fmt.number(s['rows'])} | {s['passed']}/{s['checks']} | {len(s['warnings'])} |" for s in statuses]
    for s in statuses:
        if s["errors"] or s["warnings"] or s["status"] == "missing":
            lines += ["", f"## {s['title']}: {s['status_fi']}"]
            if s["reason"] and not s["errors"]:
                lines.append(f"- {s['reason']}")
            lines += [f"- virhe: {e}" for e in s["errors"][:10]]
            lines += [f"- huomautus: {w}" for w in s["warnings"][:10]]
    return "\n".join(lines)


def deviation_rows(table: pd.DataFrame) -> list[dict]:
    """Budget deviations per service area and service (operating margin, 1 000 €), for a table artifact."""
    m = table[table["line"].eq("Toimintakate") & table["level"].isin(["area", "service"])]
    return [
        {
            "Palvelukokonaisuus": r["area"], "Palvelu": r["service"] or "(yhteensä)",
            "TB, 1 000 €": fmt.thousands(r["tb"]), "Ennuste, 1 000 €": fmt.thousands(r["forecast"]),
            "Poikkeama, 1 000 €": fmt.thousands(r["deviation"]), "Poikkeama %": fmt.pct(r["deviation_pct"]),
        }
        for r in m.to_dict("records")
    ]


def report_link(report_dir: Path, base_url: str | None = None) -> str:
    """Where the UI's link points: the output folder as the web serves it (`KATSAUS_REPORT_BASE_URL`),
    or the file itself on this machine."""
    import os

    base = base_url if base_url is not None else os.environ.get("KATSAUS_REPORT_BASE_URL")
    if base:
        return f"{base.rstrip('/')}/{report_dir.name}/report.pdf"
    return (report_dir / "report.pdf").resolve().as_uri()


def artifact_key(period: str, kind: str, what: str) -> str:
    """Prefect artifact keys are lowercase letters, digits and dashes."""
    return f"katsaus-{kind}-{period}-{what}".lower()


@task(name="publish-artifacts", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_artifacts(period: str, kind: str, markdown: str, quality: str, deviations: list[dict], report_url: str, stage: str) -> None:
    """The run's summary and data quality as markdown, its budget deviations as a table and a link to the report (I/O: retried)."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    create_markdown_artifact(markdown, key=artifact_key(period, kind, "yhteenveto"), description=f"Yhteenveto ({stage})")
    create_markdown_artifact(quality, key=artifact_key(period, kind, "tietojen-laatu"), description="Tietojen laatu")
    if deviations:
        create_table_artifact(deviations, key=artifact_key(period, kind, "poikkeamat"), description="Talouden poikkeamat tulosbudjetista")
    create_link_artifact(report_url, link_text="Raportti (PDF)", key=artifact_key(period, kind, "raportti"), description=f"Raportti ({stage})")


DECISION = "hyvaksynta"


def record_decision(period: str, kind: str, text: str) -> None:
    """The controller's decision (or why there was none) as a markdown artifact of the run.

    A plain call, not a task: after an approval wait has timed out the run is
    still paused, and Prefect starts no task in a paused run.
    """
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(text, key=artifact_key(period, kind, DECISION), description="Hyväksyntä")


def recorded_decision(run_id) -> str | None:
    """What `record_decision` recorded for a run (its last decision artifact), as plain text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    texts = [a.data for a in found if a.key and a.key.endswith(f"-{DECISION}")]
    return texts[-1].replace("#", "").strip() if texts else None
