"""Rendering the board report: the Jinja2 template to HTML, WeasyPrint to an accessible (tagged) PDF.

`render_draft` renders a context into the run's staging folder and returns it
with its content fingerprint, so approval re-renders the same content with
the approval on its cover (`render_approved`) without computing it again.
WeasyPrint is imported inside `report_pdf`, and only when it typesets: it is slow to import.

The same HTML always gives the same PDF bytes, so a folder of typeset PDFs
(`pdf_cache`, under the run's cache folder) spares a rerun of unchanged
content WeasyPrint's seconds of layout: a run taken over after a crash, a
rerun that reuses every file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from reports import fmt, typeset
from tasks.contracts.catalog import catalog
from tasks.contracts.vocab import CHART_CACHE, MARGIN, REPORT_HTML, REPORT_PDF
from tasks.report.charts import Charts
from tasks.report.context import ReportInputs, approval_stamp, report_context
from tasks.report.kept import keep_copy, kept_copy

# Templates and styles of the report live in the `reports` package.
TEMPLATES = Path(str(resources.files("reports").joinpath("templates")))


@dataclass(frozen=True)
class RenderedReport:
    """A rendered report: what it shows (its context), the fingerprint of its content, and where it was written."""

    context: dict
    fingerprint: str
    folder: Path


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        t=fmt.thousands,
        pct=fmt.pct,
        milj=fmt.millions,
        euros=fmt.euros,
        num=fmt.number,
        lower_first=fmt.lower_first,
        breakable=_file_text,
        count=fmt.count,
        numeral=fmt.numeral,
        count_words=fmt.count_words,
    )
    env.globals.update(MARGIN=MARGIN)
    return env


def _units() -> list[str]:
    """The indicators' units: a number is never parted from its unit at a line end."""
    return [i.unit for i in catalog().indicators]


def report_html(context: dict) -> str:
    """The report as HTML, its text set the Finnish way (no-break spaces before units, no space before a stop)."""
    css = resources.files("reports").joinpath("templates", "report.css").read_text(encoding="utf-8")
    html = _environment().get_template("report.html.j2").render(**context, css=Markup(css))
    return typeset.typeset_html(html, _units())


# Typeset PDFs kept in a run's cache folder: the newest few (a report's draft and approved version for each of
# its recent kinds), the rest removed as new ones come.
PDF_CACHE_KEEP = 12
# How a whole PDF starts and ends.
PDF_HEAD, PDF_TAIL = b"%PDF-", b"%%EOF"


@lru_cache(maxsize=1)
def _typesetter_version() -> str:
    """What else decides a PDF's bytes: WeasyPrint's and Pango's versions, read without importing WeasyPrint
    (a second of a rerun whose PDF is kept)."""
    library = ctypes.util.find_library("pango-1.0")
    if library is None:  # Pango under a name the loader does not know: as WeasyPrint itself finds it
        from weasyprint.text.ffi import pango  # heavy: WeasyPrint loads Pango and its fonts

        return f"{metadata.version('weasyprint')}/{pango.pango_version()}"
    return f"{metadata.version('weasyprint')}/{ctypes.CDLL(library).pango_version()}"


def report_pdf(html: str, path: Path, cache: Path | None = None) -> None:
    """A tagged PDF/UA document, its long words hyphenated the Finnish way; no timestamps, so the same HTML gives
    the same bytes. With `cache`, the PDF typeset earlier from the same HTML (by the same WeasyPrint and Pango) is
    copied instead of typesetting it again."""
    printed = typeset.typeset_html(html, _units(), hyphenate=True)
    key = hashlib.sha256(f"{_typesetter_version()}\n{printed}".encode()).hexdigest()
    kept = cache / f"{key}.pdf" if cache is not None else None
    copy = kept_copy(kept, PDF_HEAD, PDF_TAIL) if kept is not None else None
    if copy is not None:
        path.write_bytes(copy)
        return
    from weasyprint import HTML  # heavy: WeasyPrint loads Pango and its fonts

    HTML(string=printed, base_url=str(TEMPLATES)).write_pdf(path, pdf_variant="pdf/ua-1", uncompressed_pdf=False)
    if kept is not None:
        keep_copy(path.read_bytes(), kept, PDF_CACHE_KEEP)


# What a report says does not depend on the day it was prepared, the meeting it goes to or who approved it:
# the same figures and words rerun for a later meeting are the same version, not a correction.
VOLATILE = ("report_date", "meeting_date", *approval_stamp(None, None))


def _file_text(text: str | None) -> Markup:
    """A file name, path or technical message: it may wrap after its separators, and is never hyphenated (a
    hyphen in a file name would read as part of it)."""
    return Markup('<span class="file">%s</span>') % typeset.breakable(text)


# Outside the sector's own data and words: THL's reference figures for other cities. An outage at THL, or THL
# revising a city's figure, is not a new version of the board's report.
EXTERNAL = ("comparison",)
# Of each source, what the report's figures rest on; the checks' wording (which may name today's date) is not.
SOURCE_FACTS = ("source", "status", "files", "rows")
IMAGE = "data:image/"
# The digits of a number the fingerprint keeps: the last ones of a floating-point sum depend on its order.
SIGNIFICANT_DIGITS = 12


def fingerprint_content(context: dict) -> dict:
    """The report's data and words: the context without its dates, approval stamp, external reference figures,
    the wording of the checks, and the charts' pictures (their data stays: an upgrade of the drawing library
    changes pixels, not the report); numbers to twelve significant digits."""
    content = {k: v for k, v in context.items() if k not in (*VOLATILE, *EXTERNAL)}
    content["sources"] = [{k: s.get(k) for k in SOURCE_FACTS} for s in context.get("sources", [])]
    content["missing_sources"] = [s.get("source") for s in context.get("missing_sources", [])]
    return _without_pictures(content)


def _without_pictures(value):
    if isinstance(value, str) and value.startswith(IMAGE):
        return "kuvio"
    if isinstance(value, float):
        # A database sums floating-point values in the order it scans its rows, which runs loading at once
        # change: 0.1547668393782384 against 0.15476683937823837. Far beyond any figure the report shows.
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _without_pictures(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_pictures(v) for v in value]
    return value


def content_fingerprint(context: dict) -> str:
    """SHA-256 of the report's content (`fingerprint_content`)."""
    return hashlib.sha256(
        json.dumps(fingerprint_content(context), sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    ).hexdigest()


def write_report(context: dict, stage: Path, pdf_cache: Path | None = None) -> None:
    """report.html and report.pdf of a context into the run's staging folder."""
    html = report_html(context)
    (stage / REPORT_HTML).write_text(html, encoding="utf-8")
    report_pdf(html, stage / REPORT_PDF, pdf_cache)


def render_draft(inputs: ReportInputs, stage: Path, pdf_cache: Path | None = None) -> RenderedReport:
    """The draft (LUONNOS) into the staging folder, with the context and fingerprint of its content. With
    `pdf_cache`, its charts too are taken from there when drawn earlier from the same data (`Charts`)."""
    context = report_context(inputs, Charts(pdf_cache / CHART_CACHE if pdf_cache is not None else None))
    write_report(context, stage, pdf_cache)
    return RenderedReport(context, content_fingerprint(context), stage)


def render_approved(
    draft: RenderedReport,
    stage: Path,
    approved_by: str,
    approved_at: dt.datetime,
    comment: str,
    pdf_cache: Path | None = None,
) -> None:
    """The final report: the draft's content with the approval on its cover and no LUONNOS mark."""
    write_report({**draft.context, **approval_stamp(approved_by, approved_at, comment)}, stage, pdf_cache)
