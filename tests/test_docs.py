"""The documents people read agree with the contracts the code reads."""

from pathlib import Path

from tasks.contracts import sources
from tasks.contracts.catalog import catalog

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_source_and_column_is_documented():
    text = (DOCS / "sources.md").read_text(encoding="utf-8")
    for sid, src in sources().items():
        stem = src.file.split("{")[0]
        assert stem in text, f"{sid}: file {src.file} is not in docs/sources.md"
        for name in src.names:
            assert name in text, f"{sid}: column {name} is not in docs/sources.md"


def test_every_formula_of_the_catalog_is_documented():
    text = (DOCS / "indicators.md").read_text(encoding="utf-8")
    for formula in {i.formula for i in catalog().indicators}:
        assert f"`{formula}`" in text, formula
