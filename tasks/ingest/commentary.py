"""The controller's commentary workbook (`kommentit_YYYYMM_<kind>.xlsx`): read, guarded, validated and checked.

The workbook is optional: without it the report uses katsaus's drafts, marked
as unreviewed. With it, every sheet is read by its contract (`sources.yaml`,
`workbook: commentary`), typed, run through its Great Expectations suite (the
personal-data guard on every text cell among the checks) and its names are
checked against the structure and the catalog. Any error stops the whole
commentary (never half of it): the report then uses the drafts, and the
controller reads the error, which names the sheet, the row and the column, and
never repeats a personal identity code.
"""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tasks.contracts import Source, sources, structure, workbook_sheets
from tasks.contracts.catalog import catalog
from tasks.contracts.vocab import ACTION_STATUSES, Period, check_kind
from tasks.ingest.extract import typed_columns
from tasks.ingest.files import FileInfo, PeriodFile, size_problem, snapshot
from tasks.ingest.parsing import SourceError, SourceFileError, open_workbook, read_xlsx_sheet
from tasks.ingest.validate import run_suites, suite_parameters

WORKBOOK = "commentary"
ABSENT, OK, FAILED = "absent", "ok", "failed"
STATUS_FI = {ABSENT: "ei toimitettu", OK: "käytetty", FAILED: "virheellinen, ei käytetty"}


@dataclass(frozen=True)
class Commentary:
    """What the controller wrote for one report; empty frames when the workbook is absent or refused."""

    status: str
    file: FileInfo | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # One frame per sheet, by the sheet's source id, with the contract's fields (empty when not used).
    sheets: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def used(self) -> bool:
        return self.status == OK

    def sheet(self, source_id: str) -> pd.DataFrame:
        """A sheet's rows when the commentary is used, else an empty frame with the contract's fields."""
        if self.used and source_id in self.sheets:
            return self.sheets[source_id]
        return pd.DataFrame({c.field: pd.Series(dtype="object") for c in sources()[source_id].columns})

    @property
    def explanations(self) -> pd.DataFrame:
        return self.sheet("comment_explanations")

    @property
    def adjustments(self) -> pd.DataFrame:
        """Forecast adjustments in euros (the sheet states 1 000 €), report sign."""
        df = self.sheet("comment_adjustments").copy()
        df["amount"] = sources()["comment_adjustments"].to_euros(pd.to_numeric(df["amount"], errors="coerce"))
        # An area that is its own single service (HUS-yhtymä) is adjusted through that service.
        st = structure()
        single = {a.name: a.services[0].name for a in st.areas if not st.has_own_services(a)}
        empty = df["service"].astype(str).eq("")
        df.loc[empty, "service"] = df.loc[empty, "area"].map(single).fillna("")
        return df

    @property
    def actions(self) -> pd.DataFrame:
        return self.sheet("comment_actions")

    @property
    def proposal(self) -> list[str]:
        return [t for t in self.sheet("comment_proposal")["text"].astype(str) if t.strip()]

    @property
    def measures(self) -> list[str]:
        return [t for t in self.sheet("comment_measures")["text"].astype(str) if t.strip()]

    @property
    def transfers(self) -> pd.DataFrame:
        """Reallocations between service areas the controller proposes, in euros (the sheet states 1 000 €)."""
        df = self.sheet("comment_transfers").copy()
        df["amount"] = sources()["comment_transfers"].to_euros(pd.to_numeric(df["amount"], errors="coerce"))
        return df

    @property
    def status_fi(self) -> str:
        return STATUS_FI[self.status]


def commentary_file(extracts: Path, period: Period, kind: str) -> Path:
    """Where the controller drops the workbook of one report."""
    return extracts / sources()["comment_explanations"].file_name(period.year, period.month, check_kind(kind))


def _label(path: Path, src: Source) -> str:
    return f"{path.name}, taulukko {src.sheet}"


def _read_sheets(path: Path) -> tuple[dict[str, pd.DataFrame], list[SourceError]]:
    """Every sheet the workbook has, typed by its contract; the errors of all of them."""
    frames, errors = {}, []
    try:
        wb = open_workbook(path)
    except SourceFileError as exc:
        return frames, exc.errors
    for src in workbook_sheets(WORKBOOK).values():
        label = _label(path, src)
        required = [c.name for c in src.columns if c.required]
        try:
            raw = read_xlsx_sheet(wb, src.sheet, src.names, required, label)
        except SourceFileError as exc:
            errors += exc.errors
            continue
        if raw is None:
            continue
        typed, errs = typed_columns(raw, src, label)
        typed["_file"] = label
        errors += errs
        frames[src.id] = typed
    return frames, errors


def _suggestion(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; tarkoititko ”{close[0]}”?" if close else ""


def _name_errors(frames: dict[str, pd.DataFrame], period: Period, kind: str) -> list[SourceError]:
    """Names the structure and the catalog do not know, said with the name and a suggestion (after the PII guard)."""
    st = structure()
    areas = [a.name for a in st.areas]
    services = {a.name: [s.name for s in a.services] for a in st.areas}
    cat = catalog()
    out = []

    def unknown(row: pd.Series, column: str, what: str, value: str, known: list[str], note: str = "") -> None:
        out.append(
            SourceError(
                row["_file"],
                f"tuntematon {what} ”{value}”{note or _suggestion(value, known)}",
                int(row["_line"]),
                column,
            )
        )

    for sid in ("comment_explanations", "comment_adjustments"):
        for _, row in frames.get(sid, pd.DataFrame()).iterrows():
            area, service = row["area"], row["service"]
            if area and area not in areas:
                unknown(row, "Palvelukokonaisuus", "palvelukokonaisuus", area, areas)
            elif service and area and service not in services[area]:
                unknown(
                    row,
                    "Palvelu",
                    "palvelu",
                    service,
                    services[area],
                    f" (palvelukokonaisuudessa {area} ei ole tämän nimistä palvelua)",
                )
            elif service and not area:
                out.append(
                    SourceError(
                        row["_file"], "palvelulle puuttuu palvelukokonaisuus", int(row["_line"]), "Palvelukokonaisuus"
                    )
                )
            elif sid == "comment_adjustments" and not service and st.has_own_services(st.area(area)):
                out.append(
                    SourceError(
                        row["_file"],
                        f"palvelukokonaisuudella {area} on palveluja: nimeä korjattava palvelu",
                        int(row["_line"]),
                        "Palvelu",
                    )
                )
    heading = {c.field: c.name for c in sources()["comment_transfers"].columns}
    for _, row in frames.get("comment_transfers", pd.DataFrame()).iterrows():
        for field_ in ("from_area", "to_area"):
            if row[field_] not in areas:
                unknown(row, heading[field_], "palvelukokonaisuus", row[field_], areas)
        if row["from_area"] == row["to_area"]:
            out.append(
                SourceError(
                    row["_file"], "siirto palvelukokonaisuudesta itseensä", int(row["_line"]), heading["to_area"]
                )
            )
    ids = [i.id for i in cat.indicators]
    for _, row in frames.get("comment_explanations", pd.DataFrame()).iterrows():
        if row["indicator"] and row["indicator"] not in ids:
            unknown(row, "Mittari", "mittari", row["indicator"], ids)
    goals = {g.id: g for g in cat.goals}
    for _, row in frames.get("comment_actions", pd.DataFrame()).iterrows():
        goal = goals.get(row["goal"])
        if goal is None:
            unknown(row, "Tavoite", "tavoite", row["goal"], list(goals))
        elif not 1 <= int(row["action"]) <= len(goal.actions):
            out.append(
                SourceError(
                    row["_file"],
                    f"tavoitteella {goal.id} on toimenpiteet 1–{len(goal.actions)}, ei {int(row['action'])}",
                    int(row["_line"]),
                    "Toimenpide",
                )
            )
    for _, row in frames.get("comment_info", pd.DataFrame()).iterrows():
        if (row["period"], row["kind"]) != (str(period), kind):
            out.append(
                SourceError(
                    row["_file"],
                    f"työkirja on raportille {row['period']} {row['kind']}, ei tälle raportille ({period} {kind})",
                    int(row["_line"]),
                    "Kausi",
                )
            )
    return out


def read_commentary(extracts: Path, period: Period, kind: str, quality_dir: Path, today) -> Commentary:
    """The report's commentary workbook read, validated and checked; `absent` without one, `failed` with any error."""
    path = commentary_file(extracts, period, kind)
    if not path.is_file():
        return Commentary(ABSENT)
    too_large = size_problem(path)
    if too_large:
        return Commentary(FAILED, FileInfo(path.name, str(path), "", 0, str(period)), [too_large])
    with tempfile.TemporaryDirectory(prefix="katsaus-kommentit-") as tmp:
        # The bytes read are the bytes hashed (a workbook saved again mid-run is wholly old or wholly new).
        try:
            wanted = PeriodFile(str(period), path.name, path, False)
            copy, sha256 = snapshot(wanted, sources()["comment_explanations"], Path(tmp))
            info = FileInfo(path.name, str(path), sha256, 0, str(period))
            frames, errors = _read_sheets(copy.path)
        except OSError as exc:
            info = FileInfo(path.name, str(path), "", 0, str(period))
            return Commentary(
                FAILED, info, [f"{path.name}: tiedostoa ei voitu lukea ({exc.strerror or type(exc).__name__})"]
            )
    if errors:
        return Commentary(FAILED, info, [str(e) for e in errors])
    quality = run_suites(frames, quality_dir, suite_parameters(today)) if frames else {}
    failures = [f for q in quality.values() for f in q.failures]
    warnings = [w for q in quality.values() for w in q.warnings]
    if failures:
        return Commentary(FAILED, info, failures, warnings)
    names = _name_errors(frames, period, kind)
    if names:
        return Commentary(FAILED, info, [str(e) for e in names], warnings)
    info = FileInfo(path.name, str(path), info.sha256, sum(len(f) for f in frames.values()), str(period))
    return Commentary(OK, info, [], warnings, frames)


def action_status(commentary: Commentary, goal: str, number: int) -> tuple[str | None, str]:
    """The status and comment the controller gave a goal's key action (None: not given)."""
    actions = commentary.actions
    hit = actions[(actions["goal"] == goal) & (pd.to_numeric(actions["action"]) == number)] if len(actions) else actions
    if hit.empty:
        return None, ""
    status = str(hit["status"].iloc[0]).strip()
    return (status if status in ACTION_STATUSES else None), str(hit["comment"].iloc[0]).strip()
