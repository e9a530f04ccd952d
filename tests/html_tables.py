"""The report's HTML tables as a reader sees them: caption → rows of cell texts, and Finnish numbers read back."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_caption = False
        self._in_note = False  # a footnote mark (<sup>1)</sup>) is not part of the figure

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._caption, self._rows = "", []
        elif tag == "caption":
            self._in_caption = True
        elif tag == "sup":
            self._in_note = True
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._rows is not None:
            self.tables[" ".join(self._caption.split())] = self._rows
            self._rows = None
        elif tag == "caption":
            self._in_caption = False
        elif tag == "sup":
            self._in_note = False
        elif tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append(" ".join("".join(self._cell).replace("\u00ad", "").split()))
            self._cell = None

    def handle_data(self, data):
        if self._in_caption:
            self._caption += data
        elif self._cell is not None and not self._in_note:
            self._cell.append(data)


def html_tables(path: Path) -> dict[str, list[list[str]]]:
    """Every table of an HTML file by its caption (whitespace collapsed), each row a list of cell texts."""
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def finnish_number(text: str) -> float | None:
    """A number as a Finnish table writes it (`−1 234,5`, `+12`); None for a dash (missing)."""
    t = text.replace("\u2212", "-").replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace(",", ".")
    t = t.rstrip("%").lstrip("+")
    return None if t in ("", "–", "-", "..") else float(t)
