import contextlib

import pandas as pd
import pytest

from tasks.ingest.parsing import (
    SourceFileError,
    _parse_datetimes_by_pattern,
    parse_datetimes,
    parse_numbers,
    read_delimited,
)

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
        b'A,Summa\nx,"1,5"\ny,2\n\n\n',
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


MESSY = {
    "plain": "A;Summa\nx;1,5\ny;2\n",
    "bom-crlf-trailing": "\ufeffA;Summa\r\nx;1,5\r\ny;2\r\n\r\n\r\n",
    "blank-and-empty-rows": "A;Summa\nx;1\n\n;\n   \ny;2\n\n",
    "header-after-blank-lines": "\n\nA;Summa\nx;1\ny;2\n",
    "too-few-fields": "A;Summa\nx\ny;2\n",
    "too-many-fields": "A;Summa\nx;1\ny;2;3\nz;4\n",
    "too-many-fields-late": "A;Summa\n" + "x;1\n" * 40 + "y;2;3\n",
    "trailing-delimiter": "A;Summa\nx;1;\ny;2;\n",
    "quoted": 'A;Summa\n"x;1";"1,5"\n"say ""hi""";2\n',
    "quoted-line-break": 'A;Summa\n"x\ny";1\nz;2\n',
    "unclosed-quote": 'A;Summa\n"x;1\ny;2\n',
    "lone-cr": "A;Summa\rx;1\ry;2\r",
    "comma": "A,Summa\nx,1\ny,2\n",
    "spaces-and-nbsp": "A;Summa\n x ;1\u00a0234,5\ny;\u2212 2\n",
    "duplicate-header": "A;A;Summa\nx;y;1\n",
    "long-line": "A;Summa\n" + "x" * 200_000 + ";1\n",
    "quoted-header": '"A";"Summa"\nx;1\n',
    "quoted-empty-and-delimiters": 'A;Summa\n"";1\n"a;b;c";"2"\n',
    "stray-quote-inside-field": 'A;Summa\nab"c;1\nd;2\n',
    "quote-after-closing-quote": 'A;Summa\n"ab"c;1\n',
    "quoted-field-too-many": 'A;Summa\n"x";1;3\n',
    "quoted-field-too-few": 'A;Summa\n"x;1"\ny;2\n',
    "quoted-and-blank-row": 'A;Summa\n"x";1\n\ny;2\n',
    "header-only": "A;Summa\n",
    "unicode-line-separator": "A;Summa\nx\u2028y;1\nz;2\n",
    "tab-in-field": "A;Summa\nx\ty;1\n",
}


# What pyarrow's reader takes; every other file goes to the pandas parsers (see the test below).
COLUMNAR = {
    "plain", "bom-crlf-trailing", "header-after-blank-lines", "quoted", "quoted-line-break", "lone-cr", "comma",
    "spaces-and-nbsp", "quoted-header", "quoted-empty-and-delimiters", "header-only", "unicode-line-separator",
    "tab-in-field",
}  # fmt: skip


def test_the_columnar_reader_takes_well_formed_files_and_refuses_the_rest(tmp_path, monkeypatch):
    import tasks.ingest.parsing as parsing

    taken = []
    real = parsing._parse_columnar

    def spy(text, *args):
        df = real(text, *args)
        if df is not None:
            taken.append(text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n"))
        return df

    monkeypatch.setattr(parsing, "_parse_columnar", spy)
    for text in MESSY.values():
        p = tmp_path / "talous_toteuma_202401.csv"
        p.write_bytes(text.encode("utf-8"))
        with contextlib.suppress(Exception):
            read_delimited(p, COLS, ["A"])
    clean = {n: t.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n") for n, t in MESSY.items()}
    assert {n for n, t in clean.items() if t in taken} == COLUMNAR


@pytest.mark.parametrize("fast_path", ["_parse_columnar", "_parse_plain"])
@pytest.mark.parametrize("text", MESSY.values(), ids=MESSY.keys())
def test_fast_parsers_read_exactly_what_the_python_parser_reads(tmp_path, monkeypatch, text, fast_path):
    """read_delimited uses pyarrow's reader on well-formed files and pandas' C parser on other plain files; rows,
    line numbers and errors (file, line, message) are the python parser's, which reads everything else."""
    import tasks.ingest.parsing as parsing

    p = tmp_path / "talous_toteuma_202401.csv"
    p.write_bytes(text.encode("utf-8"))
    other = {"_parse_columnar", "_parse_plain"} - {fast_path}

    def read(fast: bool):
        for path in other if fast else {"_parse_columnar", "_parse_plain"}:
            monkeypatch.setattr(parsing, path, lambda *a: None)
        try:
            return read_delimited(p, COLS, ["A"])
        except SourceFileError as exc:
            return [str(e) for e in exc.errors]
        except Exception as exc:  # e.g. a trailing delimiter on every row (the first column becomes the index)
            return [type(exc).__name__, str(exc)]
        finally:
            monkeypatch.undo()

    fast, reference = read(True), read(False)
    if isinstance(reference, list):
        assert fast == reference
    else:
        pd.testing.assert_frame_equal(fast, reference)


def test_row_with_a_field_too_many_is_reported_with_its_line(tmp_path):
    p = tmp_path / "talous_toteuma_202401.csv"
    p.write_text("A;Summa\n" + "x;1\n" * 40 + "y;2;3\n", encoding="utf-8")
    with pytest.raises(SourceFileError) as exc:
        read_delimited(p, COLS, COLS)
    assert [str(e) for e in exc.value.errors] == [
        "talous_toteuma_202401.csv, rivi 42: rivillä on enemmän kenttiä kuin otsikkorivillä (erotinmerkki "
        "tekstissä ilman lainausmerkkejä?)"
    ]


def test_unicode_spaces_are_pythons_whitespace():
    import re
    import sys

    from tasks.ingest.parsing import UNICODE_SPACES

    assert UNICODE_SPACES == "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert all(re.fullmatch(r"\s", c) for c in UNICODE_SPACES)


def _parse_one(text: str) -> float | None:
    """The rule of parse_numbers for one text, with Python's re: the reference."""
    import re

    t = re.sub(r"[\s\u00a0\u202f\u2009]", "", text.strip())
    t = re.sub(r"^[\u2212\u2013-]", "-", t).replace(",", ".")
    return float(t) if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", t) else None


def test_parse_numbers_per_distinct_value_with_every_kind_of_space():
    from tasks.ingest.parsing import UNICODE_SPACES

    texts = [f"1{c}234,5" for c in UNICODE_SPACES] + [f"{c}\u22127{c}" for c in UNICODE_SPACES]
    texts += ["1\u200b234", "12,3,4", "", "  ", "\u2013 5", "--5", "5-", "1 234,5x", "٣"]
    values = pd.Series(texts * 3, dtype="str")  # repeated: parsed once per distinct value
    parsed, bad = parse_numbers(values)
    expected = [_parse_one(t) for t in values]
    assert [None if pd.isna(v) else v for v in parsed] == expected
    assert bad.tolist() == [e is None and t.strip() != "" for e, t in zip(expected, values)]
    unique = pd.Series(texts, dtype="str")  # all distinct: the row-by-row path
    assert parse_numbers(unique)[0].equals(parsed[: len(texts)].reset_index(drop=True))


def test_lines_ended_by_a_lone_carriage_return_are_lines(tmp_path):
    p = tmp_path / "f.csv"
    p.write_bytes(b"A;Summa\rx;1\ry;2;3\r")
    with pytest.raises(SourceFileError) as exc:
        read_delimited(p, COLS, COLS)
    assert [e.line for e in exc.value.errors] == [3]  # the row with a field too many, by its line
    p.write_bytes(b"A;Summa\rx;1\ry;2\r")
    assert read_delimited(p, COLS, COLS)["Summa"].tolist() == ["1", "2"]


# Dates and date-times of every spelling the contract accepts, and near misses of each.
DATE_TEXTS = [
    "2024-02-01 02:00:37", "2024-8-31 4:05", "2024-1-1 1:00", "2024-01-01", "2024-1-1", "0001-01-01",
    "1.2.2023", "31.8.2024 14.05", "1.1.2024 12:00:00", "5.5.2024 7.05.09", "31.12.2024 23.59", "29.2.2024 23:59:59",
    " 5.5.2024 ", "2024-08-31T14:05:09", "2024-01-01T12:00", "2024-01-01 12.00.00", "2024-01-01 12.00",
    # impossible or malformed
    "31.2.2024", "29.2.2023", "2024-02-30", "2024-13-01", "00.01.2024", "0.1.2024", "1.0.2024",
    "1.1.2024 24:00", "2024-01-01 12:60", "2024-01-01 23:59:60", "31.12.2024 23:59:60", "01.01.2024 1:2",
    "2024-01-01 12:00:5", "2024-01-01  12:00", "2024-01-01\t12:00", "2024/01/01", "2024-01-01 1200",
    "2024-01-01 12:00:00Z", "2024-01-01 12:00:00+02:00", "+2024-01-01", "１.１.２０２４", "1.1.2024 12.00:00",
    "1.1.24", "x", "", None,
]  # fmt: skip


@pytest.mark.parametrize("with_time", [True, False])
def test_fast_dates_are_exactly_what_the_patterns_accept(with_time):
    """pandas' compiled parser is laxer than the patterns (white space, one-digit minutes): the fast path takes
    only values of the accepted shape and gives each the patterns' own timestamp, or none."""
    values = pd.Series(DATE_TEXTS * 3, dtype=object, index=range(7, 7 + 3 * len(DATE_TEXTS)))
    parsed, bad = parse_datetimes(values, with_time=with_time)
    reference = _parse_datetimes_by_pattern(values.astype(str).str.strip(), with_time=with_time)
    assert parsed.index.equals(values.index) and str(parsed.dtype) == "datetime64[us]"
    assert parsed.fillna(pd.Timestamp(0)).equals(reference.fillna(pd.Timestamp(0)))
    accepted = {v for v, p in zip(values, parsed) if not pd.isna(p)}
    assert {"1.2.2023", "2024-01-01", "0001-01-01"} <= accepted
    assert ("2024-02-01 02:00:37" in accepted) is with_time
    assert bad.sum() == 3 * (len(DATE_TEXTS) - len(accepted) - 2)  # "" and None are missing, not bad
    # Repeated values are parsed once each (above); all distinct (each row parsed) or as Arrow text with its own
    # missing value, they parse the same.
    assert DATE_TEXTS[-1] is None and len(set(DATE_TEXTS[:-1])) == len(DATE_TEXTS) - 1
    for once in (pd.Series(DATE_TEXTS[:-1], dtype=object), pd.Series(DATE_TEXTS, dtype="string[pyarrow]")):
        parsed_once, bad_once = parse_datetimes(once, with_time=with_time)
        assert parsed_once.equals(parsed[: len(once)].reset_index(drop=True))
        assert bad_once.tolist() == bad[: len(once)].tolist()
