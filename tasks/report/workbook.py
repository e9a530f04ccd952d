"""The controller's commentary workbook, written pre-filled for one report (`kommentit_YYYYMM_<kind>.xlsx`).

Every run writes it beside its report, and `katsaus kommentit` writes it where
the controller wants it: katsaus's drafts in `Luonnos`, the subjects that need
words, the key actions of the catalog, the mechanical forecast for reference,
and empty cells for the controller. Texts the controller already gave (the
commentary the run read) are carried over, so a new workbook loses nothing.
The controller edits it in Excel and drops it into the extracts folder, where
the next run reads it (tasks.ingest.commentary).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tasks.contracts import workbook_sheets
from tasks.contracts.vocab import ACTION_STATUSES, BUDGET_LINES, EXPENSES, KIND_TITLES, REVENUE, Period
from tasks.finance.explain import Explanation
from tasks.finance.followup import area_margins
from tasks.goals.explain import ActionStatus, IndicatorNote
from tasks.ingest.commentary import WORKBOOK, Commentary

# A sheet only for reading: the forecast katsaus computed, per line, in 1 000 €.
REFERENCE_SHEET = "Laskennallinen_ennuste"
INSTRUCTIONS_SHEET = "Ohje"


def _instructions(period: Period, kind: str, proposal: str, areas_over: list[str]) -> list[str]:
    over = (
        f"Ennusteen mukaan tulosbudjetti ylittyy: {', '.join(areas_over)}."
        if areas_over
        else "Ennusteen mukaan yhdenkään palvelukokonaisuuden tulosbudjetti ei ylity."
    )
    return [
        f"Kontrollerin kommentit: {KIND_TITLES[kind].lower()} {period}",
        "",
        "Täytä tämä työkirja ja tallenna se lähdetiedostojen kansioon samalla nimellä. Seuraava ajo lukee sen.",
        "Selitykset: kirjoita Selitys-sarakkeeseen oma tekstisi. Rivi, jolla Palvelukokonaisuus ja Palvelu ovat",
        "  tyhjiä, koskee koko toimialaa. Tyhjä Selitys: raportissa käytetään luonnosta,",
        "  ja se merkitään tarkastamattomaksi. Mittari-sarakkeen rivit koskevat tavoitteiden mittareita.",
        "Ennustekorjaukset: yksi rivi kutakin korjausta kohden, tuhansina euroina; positiivinen korjaus parantaa",
        "  toimintakatetta. Rivi on Tulot tai Menot; peruste on pakollinen. Laskennallinen ennuste on taulukossa",
        f"  {REFERENCE_SHEET}.",
        f"Toimenpiteet: valitse tila ({', '.join(ACTION_STATUSES)}) ja kirjoita kommentti.",
        "Päätösehdotus: yksi kappale riviä kohden. Tyhjä taulukko: raportissa on vakioteksti:",
        f"  {proposal}",
        "Talouden_toimenpiteet: toimenpiteet, joilla talous pysyy sitovan tason sisällä, yksi riviä kohden.",
        "Määrärahasiirrot: tulosbudjetin siirrot palvelukokonaisuuksien välillä, jotka esität lautakunnalle, tuhansina",
        "  euroina. Mistä ja Mihin ovat palvelukokonaisuuksia; peruste on pakollinen.",
        f"  {over}",
        "Älä kirjoita henkilötunnuksia: henkilötunnus pysäyttää koko työkirjan.",
        "Tiedot-taulukkoa ei pidä muuttaa: se kertoo, mille raportille työkirja on.",
    ]


def _sheet(wb, name: str, header: list[str], rows: list[list], widths: list[int]):
    ws = wb.create_sheet(name)
    ws.append(header)
    for row in rows:
        ws.append(row)
    for i, width in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + i)].width = width
    ws.freeze_panes = "A2"
    return ws


def _choices(ws, column: str, values: list[str], rows: int = 200) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation  # with openpyxl below

    dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True)
    ws.add_data_validation(dv)
    dv.add(f"{column}2:{column}{rows}")


def write_commentary_workbook(
    path: Path,
    period: Period,
    kind: str,
    explanations: list[Explanation],
    notes: dict[str, IndicatorNote],
    actions: list[ActionStatus],
    table: pd.DataFrame,
    commentary: Commentary,
    proposal: str,
) -> Path:
    """The pre-filled workbook of one report; the controller's earlier words carried over."""
    from openpyxl import Workbook  # heavy: only when a workbook is written

    sheets = workbook_sheets(WORKBOOK)
    wb = Workbook()
    wb.remove(wb.active)
    # Fixed properties: the same report gives the same workbook.
    stamp = dt.datetime(period.year, period.month, 1)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = "katsaus"
    ohje = wb.create_sheet(INSTRUCTIONS_SHEET)
    margins = area_margins(table)
    areas_over = list(margins.index[margins["over"]])
    for line in _instructions(period, kind, proposal, areas_over):
        ohje.append([line])
    ohje.column_dimensions["A"].width = 120

    written = (
        commentary.explanations if commentary.used else pd.DataFrame(columns=["area", "service", "indicator", "text"])
    )
    mine = {(r.area, r.service, r.indicator): r.text for r in written.itertuples()}
    rows = [[e.area, e.service, "", e.draft, mine.get((e.area, e.service, ""), "")] for e in explanations]
    rows += [["", "", iid, "" if n.reviewed else n.text, mine.get(("", "", iid), "")] for iid, n in notes.items()]
    _sheet(wb, sheets["Selitykset"].sheet, sheets["Selitykset"].names, rows, [34, 40, 22, 90, 90])

    adj = commentary.sheet("comment_adjustments")
    rows = [[r.area, r.service, r.line, r.amount, r.reason] for r in adj.itertuples()]
    ws = _sheet(wb, sheets["Ennustekorjaukset"].sheet, sheets["Ennustekorjaukset"].names, rows, [34, 40, 10, 12, 70])
    _choices(ws, "C", [REVENUE, EXPENSES])

    ref = table[table["level"].isin(["area", "service"])]
    ref_rows = [
        [
            r.area,
            r.service,
            r.line,
            *(None if pd.isna(v) else round(v / 1000) for v in (r.tb, r.ytd, r.tb_to_date, r.mechanical)),
        ]
        for r in ref.itertuples()
        if r.line in BUDGET_LINES and not (r.level == "service" and r.service == r.area)
    ]
    header = ["Palvelukokonaisuus", "Palvelu", "Rivi", "TB", "Toteuma", "Jaksotettu_TB", "Ennuste_laskennallinen"]
    _sheet(wb, REFERENCE_SHEET, header, ref_rows, [34, 40, 14, 12, 12, 14, 20])

    given = {(a.goal, a.number): a for a in actions}
    rows = [
        [a.goal, a.number, a.action, a.status if a.reviewed and a.status in ACTION_STATUSES else "", a.comment]
        for a in given.values()
    ]
    names = sheets["Toimenpiteet"].names
    ws = _sheet(
        wb, sheets["Toimenpiteet"].sheet, [names[0], names[1], "Kuvaus", *names[2:]], rows, [16, 11, 70, 22, 60]
    )
    _choices(ws, "D", list(ACTION_STATUSES))

    proposal_rows = [[t] for t in commentary.proposal]
    _sheet(wb, sheets["Päätösehdotus"].sheet, sheets["Päätösehdotus"].names, proposal_rows, [120])
    measure_rows = [[t] for t in commentary.measures]
    _sheet(wb, sheets["Talouden_toimenpiteet"].sheet, sheets["Talouden_toimenpiteet"].names, measure_rows, [120])
    moved = commentary.sheet("comment_transfers")
    transfer_rows = [[r.from_area, r.to_area, r.amount, r.reason] for r in moved.itertuples()]
    _sheet(wb, sheets["Määrärahasiirrot"].sheet, sheets["Määrärahasiirrot"].names, transfer_rows, [34, 34, 12, 70])
    _sheet(wb, sheets["Tiedot"].sheet, sheets["Tiedot"].names, [[str(period), kind]], [12, 12])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
