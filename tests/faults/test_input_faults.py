"""Faults in the inputs: a file replaced while the run reads it, a file too large to read, a workbook that unpacks
to far more than it weighs. Each is refused or read whole, with a Finnish error naming the file, and the other
sources are read as usual."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from reports import fmt
from tasks.contracts import settings
from tasks.contracts.vocab import Period
from tasks.ingest import extract, files
from tasks.ingest.commentary import FAILED, read_commentary


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_replaced_while_it_is_read_is_stored_under_the_hash_of_the_bytes_parsed(extracts):
    name = "henkilosto_202408.csv"
    original = extracts / name
    before = sha(original)
    replacement = original.read_bytes() + b"\r\n"  # saved again by another program: other bytes

    def replaced_during_read(pf, src):
        if pf.name == name:
            original.write_bytes(replacement)  # another program saves the file again, mid-run
        return extract.raw_file(pf, src)

    result = extract.extract_source(extracts, "personnel", 2024, 8, read=replaced_during_read)
    info = next(f for f in result.files if f.name == name)
    assert sha(original) != before, "the fault happened"
    assert info.sha256 == before  # the hash is of what was parsed, not of a second read
    assert info.path == str(original)


@pytest.fixture
def limits(monkeypatch):
    """Small limits, so that the test's files are "too large" without writing gigabytes."""

    def set_limits(file_mb: float, unpacked_mb: float) -> None:
        small = dataclasses.replace(settings(), max_file_mb=file_mb, max_workbook_unpacked_mb=unpacked_mb)
        monkeypatch.setattr(files, "settings", lambda: small)

    return set_limits


def test_a_file_too_large_is_refused_before_it_is_read_and_the_rest_are_read(extracts, limits):
    big = extracts / "siirrot_202408.csv"
    normal = big.stat().st_size / files.MB
    big.write_bytes(big.read_bytes() + b"\r\n" * int(2 * normal * files.MB))  # three times the usual month
    limits(file_mb=round(1.5 * normal, 1), unpacked_mb=200)
    transfers = extract.extract_source(extracts, "transfers", 2024, 8)
    assert [str(e) for e in transfers.errors] == [
        f"{big.name}: tiedosto on liian suuri ({fmt.number(big.stat().st_size / files.MB, 1)} Mt, enintään "
        f"{fmt.number(round(1.5 * normal, 1), 1)} Mt); sitä ei luettu"
    ]
    assert big.name not in [f.name for f in transfers.files]
    personnel = extract.extract_source(extracts, "personnel", 2024, 8)
    assert personnel.errors == [] and personnel.files


def zip_bomb(path: Path, unpacked_mb: int) -> None:
    """A workbook-shaped zip whose one part unpacks to `unpacked_mb` of zeros (it weighs a few tens of kB)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as part:
            chunk = b"\0" * files.MB
            for _ in range(unpacked_mb):
                part.write(chunk)


def test_a_workbook_that_unpacks_to_too_much_is_refused_unopened(extracts, limits):
    (extracts / "tulosbudjetti_2024.csv").unlink()
    bomb = extracts / "tulosbudjetti_2024.xlsx"
    zip_bomb(bomb, unpacked_mb=64)
    assert bomb.stat().st_size < files.MB
    limits(file_mb=2048, unpacked_mb=16)
    budget = extract.extract_source(extracts, "result_budget", 2024, 8)
    assert len(budget.errors) == 1
    assert str(budget.errors[0]) == (
        f"{bomb.name}: työkirjan sisältö purkautuu liian suureksi (64,0 Mt, enintään 16,0 Mt); sitä ei luettu"
    )


def test_a_commentary_workbook_that_unpacks_to_too_much_is_refused(tmp_path, limits):
    period = Period.parse("2024-08")
    path = tmp_path / "kommentit_202408_forecast.xlsx"
    zip_bomb(path, unpacked_mb=32)
    limits(file_mb=2048, unpacked_mb=16)
    read = read_commentary(tmp_path, period, "forecast", tmp_path / "quality", None)
    assert read.status == FAILED and "purkautuu liian suureksi" in read.errors[0]
    shutil.rmtree(tmp_path / "quality", ignore_errors=True)
