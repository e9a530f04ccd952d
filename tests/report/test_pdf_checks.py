"""The PDF checks themselves: each finds the fault it names in a small PDF made to have it, and only there."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import typeset
from tests import pdf_layout as layout

PAGE = "@page { size: A4; margin: 20mm 16mm 20mm 18mm; } html { font-family: 'DejaVu Sans'; font-size: 9.5pt; }"


def pdf(tmp_path: Path, body: str, css: str = "") -> tuple[list[layout.Page], str]:
    from weasyprint import HTML  # heavy: loaded only by the tests that draw

    html = f'<html lang="fi"><head><style>{PAGE}{css}</style></head><body>{body}</body></html>'
    path = tmp_path / "t.pdf"
    HTML(string=html).write_pdf(path)
    return layout.read_pdf(path), html


WORDS = "hoivapalvelujen sosiaalipalvelujen terveysasemat " * 3


def test_a_word_cut_without_a_hyphen_is_found_and_a_hyphenated_one_is_not(tmp_path):
    narrow = "div { width: 22mm; overflow-wrap: anywhere; }"
    pages, html = pdf(tmp_path, f"<div>{WORDS}</div>", narrow)
    assert layout.unhyphenated_breaks(pages, html)
    pages, html = pdf(tmp_path, f"<div>{typeset.hyphenated(WORDS)}</div>", narrow)
    assert layout.unhyphenated_breaks(pages, html) == []


def test_text_over_its_neighbour_or_out_of_the_page_is_found(tmp_path):
    row = (
        "<tr><td style='width: 20mm; white-space: nowrap'>Terveysasemat ja sisätautien poliklinikka</td>"
        "<td>1 234</td></tr>"
    )
    pages, _ = pdf(tmp_path, f"<table style='table-layout: fixed; width: 40mm'>{row}</table>")
    assert any("päällekkäin" in f for f in layout.overlapping_words(pages))
    pages, _ = pdf(tmp_path, "<p style='white-space: nowrap'>" + "pitkä rivi " * 40 + "</p>")
    assert any("yli reunan" in f for f in layout.overlapping_words(pages))
    pages, _ = pdf(tmp_path, f"<table style='width: 100%'>{row}</table>")
    assert layout.overlapping_words(pages) == []


def test_a_heading_left_at_a_page_foot_is_found(tmp_path):
    filler = "<div style='height: 235mm'></div>"
    body = (
        f"{filler}<h3 style='font-size: 11pt'>Peruspalvelujen saatavuus</h3><p style='break-before: page'>Teksti.</p>"
    )
    pages, html = pdf(tmp_path, body)
    assert layout.headings_ending_a_page(pages, html) == ["s. 1: Peruspalvelujen saatavuus"]
    # The same words in a table's row are not a heading.
    body = f"{filler}<table><tr><td>Peruspalvelujen saatavuus</td></tr></table><h3>Peruspalvelujen saatavuus</h3>"
    pages, html = pdf(tmp_path, body, "td { font-size: 8.5pt; }")
    assert layout.headings_ending_a_page(pages, html) == []


def test_a_nearly_empty_page_is_found(tmp_path):
    pages, _ = pdf(tmp_path, "<p>Yksi rivi.</p><p style='break-before: page'>Toinen.</p>" + "<p>Rivi.</p>" * 60)
    assert [f.split(":")[0] for f in layout.nearly_empty_pages(pages)] == ["s. 1"]


@pytest.mark.parametrize("stated", ["target-counter(attr(href url), page)", "'7'"])
def test_the_table_of_contents_is_read_and_checked_against_the_headings(tmp_path, stated):
    css = f"a::after {{ content: leader('.') {stated}; }} h2 {{ break-before: page; }}"
    toc = "".join(f"<p><a href='#{k}'>Luku {k}</a></p>" for k in (1, 2))
    body = f"{toc}<h2 id='1'>Luku 1</h2><p>x</p><h2 id='2'>Luku 2</h2><p>y</p>"
    pages, _ = pdf(tmp_path, body, css)
    entries = layout.toc_entries(pages)
    right = [(title, n) for title, n in entries if layout.page_of_heading(pages, title) == n]
    assert len(entries) == 2
    assert len(right) == (2 if stated.startswith("target") else 0)


def test_code_identifiers_are_found_in_the_text(tmp_path):
    pages, _ = pdf(tmp_path, "<p>Lähde talous_toteuma_202408.csv tarkistettiin (Great Expectations), arvo nan.</p>")
    found = " ".join(layout.code_identifiers(pages))
    assert "talous_toteuma_202408" in found and "Great Expectations" in found and "nan" in found
    pages, _ = pdf(tmp_path, "<p>Toimintakate oli 1,8 milj. euroa, HUS-yhtymä 14,3 milj. euroa.</p>")
    assert layout.code_identifiers(pages) == []
