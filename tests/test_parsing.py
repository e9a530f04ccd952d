import pandas as pd
import pytest

from tasks.parsing import SourceFileError, parse_numbers, read_delimited

COLS = ["A", "Summa"]


def test_parse_numbers_accepts_every_finnish_variant():
    raw = pd.Series(["1 234,50", "1\u00a0234,5", "\u2212987,25", "-5", "12.5", "", "4,6 %"])
    values, bad = parse_numbers(raw, percent=True)
    assert values.tolist()[:5] == [1234.5, 1234.5, -987.25, -5.0, 12.5]
    assert pd.isna(values[5]) and not bad[5]
    assert values[6] == 4.6
    assert not bad.any()


@pytest.mark.parametrize("text", ["1 234,5x", "12,3,4", "abc", "1.234,5"])
def test_parse_numbers_flags_half_numeric_cells(text):
    values, bad = parse_numbers(pd.Series([text]))
    assert bad.tolist() == [True]
    assert pd.isna(values[0])


def test_numbers_from_xlsx_pass_through():
    values, bad = parse_numbers(pd.Series([1234.5, -3, "2 000"], dtype=object))
    assert values.tolist() == [1234.5, -3.0, 2000.0]
    assert not bad.any()


@pytest.mark.parametrize(
    "raw",
    [
        "\ufeffA;Summa\r\nx;1,5\r\ny;2\r\n\r\n".encode("utf-8"),
        "A;Summa\nx;1,5\ny;2\n;\n".encode("cp1252"),
        'A,Summa\nx,"1,5"\ny,2\n\n\n'.encode("utf-8"),
    ],
    ids=["utf8-bom-crlf-trailing", "cp1252-empty-row", "comma-quoted"],
)
def test_read_delimited_copes_with_encodings_delimiters_and_trailing_lines(tmp_path, raw):
    p = tmp_path / "f.csv"
    p.write_bytes(raw)
    df = read_delimited(p, COLS, COLS)
    assert df["A"].tolist() == ["x", "y"]
    assert df["Summa"].tolist() == ["1,5", "2"]
    assert df["_line"].tolist() == [2, 3]


def test_windows_1252_text_is_decoded(tmp_path):
    p = tmp_path / "f.csv"
    p.write_bytes("A;Summa\nPäihdepalvelut;1\n".encode("cp1252"))
    assert read_delimited(p, COLS, COLS)["A"].iloc[0] == "Päihdepalvelut"


def test_missing_column_names_file_and_column(tmp_path):
    p = tmp_path / "talous_toteuma_202401.csv"
    p.write_text("A;Määrä\nx;1\n", encoding="utf-8")
    with pytest.raises(SourceFileError) as exc:
        read_delimited(p, COLS, COLS)
    msg = str(exc.value)
    assert "talous_toteuma_202401.csv" in msg and "sarake Summa" in msg and "puuttuu" in msg


def test_empty_and_binary_files_are_clear_errors(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"\n\n")
    with pytest.raises(SourceFileError, match="e.csv: tiedosto on tyhjä"):
        read_delimited(empty, COLS, COLS)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(SourceFileError, match="ei ole tekstimuotoinen"):
        read_delimited(binary, COLS, COLS)


def test_rows_with_a_field_more_than_the_header_are_read_by_position(tmp_path):
    """pandas would take the first field as an index and shift every value a column left."""
    p = tmp_path / "f.csv"
    p.write_text("A;Summa\n007;1,5;\ny;2;\n", encoding="utf-8")
    df = read_delimited(p, COLS, COLS)
    assert df["A"].tolist() == ["007", "y"] and df["Summa"].tolist() == ["1,5", "2"]
    p.write_text("A;Summa\n007;1;5\ny;2;0\n", encoding="utf-8")
    with pytest.raises(SourceFileError) as exc:
        read_delimited(p, COLS, COLS)
    assert [e.line for e in exc.value.errors] == [2, 3]
    assert "enemmän kenttiä kuin otsikkorivillä" in str(exc.value)
