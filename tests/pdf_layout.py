"""Reading a rendered PDF the way a reader sees it: words with their boxes, page by page (`pdftotext -bbox-layout`).

The report tests ask of every page what a board member would notice: a word cut
without a hyphen, text that runs over its neighbour or out of the page, a heading
left alone at a page's foot, a nearly empty page, a table of contents pointing to
the wrong page, or a code identifier in the board's text.
"""

from __future__ import annotations

import html as htmllib
import re
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

NS = "{http://www.w3.org/1999/xhtml}"
# Where WeasyPrint broke a word at a soft hyphen it prints U+2010; a typed hyphen is U+002D.
BREAK_HYPHEN = "\u2010"
MM = 72 / 25.4
# The page's margins (report.css @page): running headers and footers sit inside them.
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT = 20 * MM, 20 * MM, 18 * MM, 16 * MM


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class Line:
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass
class Page:
    number: int
    width: float
    height: float
    blocks: list[list[Line]] = field(default_factory=list)

    @property
    def body(self) -> list[list[Line]]:
        """The blocks between the running header and the footer."""
        return [
            b
            for b in self.blocks
            if b[0].words[0].y0 >= MARGIN_TOP - 2 and b[-1].words[-1].y1 <= self.height - MARGIN_BOTTOM + 2
        ]

    @property
    def lines(self) -> list[Line]:
        return [line for block in self.body for line in block]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def flowing_text(path: Path) -> str:
    """The PDF's text as one line, words broken at a line's end (the break hyphen U+2010) joined again: what a
    sentence of the report says, wherever its lines broke."""
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode("utf-8")
    return " ".join(re.sub(rf"{BREAK_HYPHEN}\s+", "", text).split())


def read_pdf(path: Path) -> list[Page]:
    """Every page's blocks of lines of words, with their boxes in points."""
    out = subprocess.run(["pdftotext", "-bbox-layout", str(path), "-"], capture_output=True, check=True).stdout
    root = ET.fromstring(out.decode("utf-8"))
    pages = []
    for n, p in enumerate(root.iter(f"{NS}page"), start=1):
        page = Page(n, float(p.get("width")), float(p.get("height")))
        for block in p.iter(f"{NS}block"):
            lines = [
                Line([Word(w.text or "", *(float(w.get(k)) for k in ("xMin", "yMin", "xMax", "yMax"))) for w in ln])
                for ln in block.iter(f"{NS}line")
            ]
            if lines and all(line.words for line in lines):
                page.blocks.append(lines)
        pages.append(page)
    return pages


def html_text(html: str) -> str:
    """The HTML's visible text: no tags, style sheet or invisible characters, one space between words (a no-break
    space is kept: it is what the text promises)."""
    text = re.sub(r"<style\b.*?</style>|<title\b.*?</title>", " ", html, flags=re.S)
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", text))
    text = text.replace("\u00ad", "").replace("\u200b", "")
    return re.sub(r"[^\S\u00a0]+", " ", unicodedata.normalize("NFC", text))


# A line may end without a hyphen after these (file names wrap after them).
_WRAPS_AFTER = "-_/.,;:=)–—"


def unhyphenated_breaks(pages: list[Page], html: str) -> list[str]:
    """Words cut at a line's end with no hyphen: the two halves appear joined in the HTML's text but never as two
    words (`hoi` + `vapalvelujen`)."""
    text = html_text(html)
    words = set(re.split(r"[ \u00a0]", text))
    found = []
    for page in pages:
        for block in page.body:
            for a, b in zip(block, block[1:]):
                left, right = a.words[-1].text, b.words[0].text
                if not left or not right or left[-1] in _WRAPS_AFTER + BREAK_HYPHEN or not left[-1].isalnum():
                    continue
                joined = left + right
                if f"{left} {right}" in text or f"{left}\u00a0{right}" in text:
                    continue
                if any(joined in w for w in words):
                    found.append(f"s. {page.number}: {left}|{right}")
    return found


def overlapping_words(pages: list[Page], tolerance: float = 0.6) -> list[str]:
    """Words printed over one another (a table cell running into its neighbour) or out of the page's text area."""
    found = []
    for page in pages:
        words = [w for line in page.lines for w in line.words]
        for w in words:
            if w.x1 > page.width - MARGIN_RIGHT + 1 or w.x0 < MARGIN_LEFT - 1:
                found.append(f"s. {page.number}: {w.text!r} yli reunan")
        words.sort(key=lambda w: w.y0)
        for i, a in enumerate(words):
            for b in words[i + 1 :]:
                if b.y0 >= a.y1 - tolerance:
                    break
                if min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance:
                    found.append(f"s. {page.number}: {a.text!r} ja {b.text!r} päällekkäin")
    return found


def headings(html: str) -> list[str]:
    """The text of every h2–h4 heading, as the PDF prints it."""
    return [html_text(h).strip() for h in re.findall(r"<h[2-4]\b[^>]*>(.*?)</h[2-4]>", html, flags=re.S)]


# Headings are set in 10 pt or larger, body text and tables in 9.5 pt or smaller: a word's box is
# about 1.16 times its font size, so a heading's words are taller than this (points).
HEADING_HEIGHT = 11.4


def headings_ending_a_page(pages: list[Page], html: str) -> list[str]:
    """Headings whose page ends right after them (their text starts on the next page): the page's lowest block
    reads as a heading and is set in a heading's size (a table row may read the same)."""
    heads = {re.sub(r"\s+", " ", h) for h in headings(html)}
    found = []
    for page in pages[:-1]:
        body = sorted(page.body, key=lambda b: b[-1].words[-1].y1)
        if not body:
            continue
        last = body[-1]
        tall = all(w.y1 - w.y0 >= HEADING_HEIGHT for line in last for w in line.words)
        if tall and re.sub(r"\s+", " ", " ".join(line.text for line in last)) in heads:
            found.append(f"s. {page.number}: {last[0].text}")
    return found


def nearly_empty_pages(pages: list[Page], share: float = 0.2) -> list[str]:
    """Pages whose text fills less than `share` of the text area's height."""
    found = []
    for page in pages:
        lines = page.lines
        bottom = max((w.y1 for line in lines for w in line.words), default=MARGIN_TOP)
        filled = (bottom - MARGIN_TOP) / (page.height - MARGIN_TOP - MARGIN_BOTTOM)
        if filled < share:
            found.append(f"s. {page.number}: {filled:.0%}")
    return found


def toc_entries(pages: list[Page]) -> list[tuple[str, int]]:
    """The table of contents on the cover: (title, page number) per entry."""
    entries = []
    for line in pages[0].lines:
        m = re.fullmatch(r"(.+?)\s*(?:\.\s*){3,}(\d+)", line.text)
        if m:
            entries.append((m[1].strip(), int(m[2])))
    return entries


def page_of_heading(pages: list[Page], title: str) -> int | None:
    """The first page after the cover where a line reads `title`."""
    for page in pages[1:]:
        if any(line.text == title for line in page.lines):
            return page.number
    return None


# What the code calls things: never on the board's pages.
CODE_WORDS = re.compile(
    r"\b\w+_\w+\b|\b\w+\.(?:csv|json|xlsx|py|yaml|ctl)\b|manifest|SHA-256|Great Expectations|Prefect|Voikko|"
    r"\bNaN\b|\bnan\b|\bNone\b|\bnull\b|Traceback|\bTrue\b|\bFalse\b",
)


def code_identifiers(pages: list[Page]) -> list[str]:
    return [f"s. {p.number}: {m.group(0)}" for p in pages for m in CODE_WORDS.finditer(p.text)]
