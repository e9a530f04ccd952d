"""The project's small vocabulary, declared once: report kinds, periods, statuses, budget lines, output names.

Everything that names a kind of report, parses a `YYYY-MM` period, tells a
source's or an indicator's status or writes one of the run's output files
takes the word from here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

# --- report kinds --------------------------------------------------------------------

Kind = Literal["monthly", "forecast", "annual"]
# Finnish title of each kind, in the order the command line lists them.
KIND_TITLES: dict[str, str] = {
    "monthly": "Kuukausiraportti",
    "forecast": "Toteutumisennuste",
    "annual": "Toimintakertomus",
}
KINDS: tuple[str, ...] = tuple(KIND_TITLES)
MONTHLY, FORECAST, ANNUAL = KINDS


def check_kind(kind: str) -> str:
    """`kind` if it is a report kind; a Finnish ValueError otherwise."""
    if kind not in KIND_TITLES:
        raise ValueError(f"Tuntematon raporttilaji {kind!r}: sallitut ovat {', '.join(KINDS)}.")
    return kind


# --- periods -------------------------------------------------------------------------

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
_PERIOD = re.compile(PERIOD_PATTERN)


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: the last month included, `YYYY-MM`."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2024-08` as a Period; a Finnish ValueError for anything else."""
        if not isinstance(text, str) or not _PERIOD.match(text):
            raise ValueError(f"Virheellinen raportointikausi {text!r}: odotettiin muotoa VVVV-KK.")
        return cls(int(text[:4]), int(text[5:]))

    @classmethod
    def before(cls, day: dt.date) -> Period:
        """The month before the one `day` is in."""
        last = day.replace(day=1) - dt.timedelta(days=1)
        return cls(last.year, last.month)

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d}"

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    @property
    def end(self) -> dt.date:
        """The period's last day."""
        nxt = self.next()
        return dt.date(nxt.year, nxt.month, 1) - dt.timedelta(days=1)

    def through(self, last: Period) -> list[Period]:
        """Every month from this one to `last`, inclusive."""
        out, p = [], self
        while p <= last:
            out.append(p)
            p = p.next()
        return out


_FI_DATE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*$")


def parse_date(text: str | dt.date) -> dt.date:
    """A date written the Finnish way (`24.9.2024`) or the ISO way (`2024-09-24`); a Finnish ValueError otherwise."""
    if isinstance(text, dt.date):
        return text
    m = _FI_DATE.match(str(text))
    try:
        return dt.date(int(m[3]), int(m[2]), int(m[1])) if m else dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"Virheellinen päivämäärä {text!r}: kirjoita muodossa 24.9.2024 tai 2024-09-24.") from None


def report_name(period: str, kind: str) -> str:
    """`2024-08-forecast`: the folder of a period's report of one kind (outputs, archive) and its lock."""
    return f"{Period.parse(period)}-{check_kind(kind)}"


# --- statuses ------------------------------------------------------------------------

# A source of a run: read and passed its checks, absent, or quarantined by a failed check.
SOURCE_OK, SOURCE_MISSING, SOURCE_FAILED = "ok", "missing", "failed"
SOURCE_STATUS_FI = {
    SOURCE_OK: "käytetty",
    SOURCE_MISSING: "tieto puuttuu",
    SOURCE_FAILED: "virheellinen, ei käytetty",
}

# An indicator's or a goal's assessment, in the order a goal takes the worst of its indicators'.
MET, RISK, MISSED, UNKNOWN = "toteutuu", "riski", "ei toteudu", "ei arvioitavissa"
STATUSES = (MET, RISK, MISSED, UNKNOWN)

# --- the controller's words ------------------------------------------------------

# A key action's status in the commentary workbook, and what the report says without one.
ACTION_STATUSES = ("etenee suunnitellusti", "viivästynyt", "riski", "toteutunut", "ei aloitettu")
ACTION_UNKNOWN = "tila ei tiedossa"
# How the report marks a text katsaus drafted that no controller has reviewed.
UNREVIEWED = "automaattinen luonnos, ei tarkastettu"

# --- budget lines --------------------------------------------------------------------

# The result budget's lines (accounts.yaml and sources.yaml use the same words; a test checks).
REVENUE, EXPENSES, MARGIN = "Tulot", "Menot", "Toimintakate"
BUDGET_LINES = (REVENUE, EXPENSES, MARGIN)

# --- a run's output files ------------------------------------------------------------

REPORT_PDF = "report.pdf"
REPORT_HTML = "report.html"
RECONCILIATION_CSV = "reconciliation.csv"
INDICATORS_CSV = "indicators.csv"
TALOUS_CSV = "talous.csv"
MANIFEST_JSON = "manifest.json"
QUALITY_DIR = "quality"
# Inside a run's staging folder: its typed rows between extraction and loading (removed once loaded).
SPILL_DIR = ".rivit"
# The run's cache folder (`cache_dir`): THL Sotkanet's answers, and PDFs already typeset from the same HTML with,
# in a folder of their own inside, the charts already drawn from the same data.
SOTKANET_CACHE = "sotkanet"
PDF_CACHE = "pdf"
CHART_CACHE = "charts"
# What the archive keeps of a published report.
ARCHIVED_FILES = (REPORT_PDF, REPORT_HTML, INDICATORS_CSV, RECONCILIATION_CSV, TALOUS_CSV, MANIFEST_JSON)
