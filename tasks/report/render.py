"""Rendering the board report: the Jinja2 template to HTML, WeasyPrint to an accessible (tagged) PDF.

`render_draft` renders a context into the run's staging folder and returns it
with its content fingerprint, so approval re-renders the same content with
the approval on its cover (`render_approved`) without computing it again.
WeasyPrint is imported inside `report_pdf`: it is slow to import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from reports import fmt
from tasks.contracts.vocab import MARGIN, REPORT_HTML, REPORT_PDF
from tasks.report.context import ReportInputs, approval_stamp, report_context

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
        hyph=fmt.hyphenable,
        count=fmt.count,
        numeral=fmt.numeral,
        count_words=fmt.count_words,
    )
    env.globals.update(MARGIN=MARGIN)
    return env


def report_html(context: dict) -> str:
    css = resources.files("reports").joinpath("templates", "report.css").read_text(encoding="utf-8")
    return _environment().get_template("report.html.j2").render(**context, css=Markup(css))


def report_pdf(html: str, path: Path) -> None:
    """A tagged PDF/UA document; no timestamps, so the same HTML gives the same bytes."""
    from weasyprint import HTML  # heavy: WeasyPrint loads Pango and its fonts

    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(path, pdf_variant="pdf/ua-1", uncompressed_pdf=False)


# What a report says does not depend on the day it was printed or on who approved it.
VOLATILE = ("report_date", *approval_stamp(None, None))


def content_fingerprint(context: dict) -> str:
    """SHA-256 of the report's content: the context without its date and approval stamp."""
    content = {k: v for k, v in context.items() if k not in VOLATILE}
    return hashlib.sha256(
        json.dumps(content, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    ).hexdigest()


def write_report(context: dict, stage: Path) -> None:
    """report.html and report.pdf of a context into the run's staging folder."""
    html = report_html(context)
    (stage / REPORT_HTML).write_text(html, encoding="utf-8")
    report_pdf(html, stage / REPORT_PDF)


def render_draft(inputs: ReportInputs, stage: Path) -> RenderedReport:
    """The draft (LUONNOS) into the staging folder, with the context and fingerprint of its content."""
    context = report_context(inputs)
    write_report(context, stage)
    return RenderedReport(context, content_fingerprint(context), stage)


def render_approved(
    draft: RenderedReport, stage: Path, approved_by: str, approved_at: dt.datetime, comment: str
) -> None:
    """The final report: the draft's content with the approval on its cover and no LUONNOS mark."""
    write_report({**draft.context, **approval_stamp(approved_by, approved_at, comment)}, stage)
