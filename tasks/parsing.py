"""Reading messy Finnish exports: encodings, delimiters, decimal commas, minus signs.

Every loader goes through here, so a CSV quirk is handled once. Errors are
`SourceError`s that name the file, the line and the column in Finnish; they
never carry a Python traceback to the user.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# Spaces that appear as thousands separators in Finnish exports.
_GROUP_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]")
# The same class spelled out for pandas' string methods, which run pyarrow's regular
# expressions (RE2) when given a pattern string: RE2's \s is ASCII only, Python's is
# every character for which str.isspace() holds, listed here (tests/test_parsing.py).
UNICODE_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_GROUP_SPACES_CLASS = f"[{UNICODE_SPACES}]"
# Characters, not escapes: pandas hands a pattern with `\u` escapes to Python's re, row by row.
_MINUS_START = "^[\u2212\u2013-]"
_MINUSES = re.compile(r"^[\u2212\u2013-]")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class SourceError:
    """A problem in an input file, for a controller to fix."""

    file: str
    message: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"rivi {self.line}")
        if self.column:
            where.append(f"sarake {self.column}")
        return f"{', '.join(where)}: {self.message}"


class SourceFileError(Exception):
    """Raised by a reader; carries the errors so the caller can report them all."""

    def __init__(self, errors: list[SourceError]):
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) or, failing that, Windows-1252."""
    if not raw or raw.isspace():  # (as `not raw.strip()`, without copying the file)
        raise SourceFileError([SourceError(name, "tiedosto on tyhjä")])
    if b"\x00" in raw[:4096]:
        raise SourceFileError([SourceError(name, "tiedosto ei ole tekstimuotoinen CSV-tiedosto")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="strict")


def sniff_delimiter(header: str) -> str:
    return ";" if header.count(";") >= header.count(",") else ","


def read_delimited(path: Path, expected: list[str], required: list[str]) -> pd.DataFrame:
    """Read a CSV into string columns with `_line` holding each row's line number.

    Tolerates BOM, Windows-1252, `;` or `,`, blank and empty trailing lines.
    Checks that every required header is present.
    """
    name = path.name
    text = decode_text(path.read_bytes(), name)
    lines = text.splitlines()
    header_line = next((i for i, l in enumerate(lines) if l.strip()), None)
    if header_line is None:
        raise SourceFileError([SourceError(name, "tiedosto on tyhjä")])
    delim = sniff_delimiter(lines[header_line])
    try:
        df = _parse_plain(text, lines, delim, header_line)
        if df is None:
            df = _parse(text, delim, header_line, "python")
    except (pd.errors.ParserError, csv.Error) as exc:
        line = _line_of_parser_error(str(exc))
        raise SourceFileError([SourceError(name, "rivin sarakemäärä ei vastaa otsikkoriviä", line=line)]) from None
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    df = df.fillna("")
    df["_line"] = df.index + header_line + 2
    values = df.drop(columns="_line")
    filled = values.apply(lambda s: s.str.strip().ne("")).any(axis=1).to_numpy()
    kept = np.flatnonzero(filled)
    # (A boolean selection copies every column: keep all rows, or slice off trailing empty lines.)
    if len(kept) < len(df):
        df = df.iloc[: len(kept)] if len(kept) and kept[-1] == len(kept) - 1 else df[filled]
    df = df.reset_index(drop=True)
    check_columns(df, name, expected, required)
    return df


def _parse(text: str, delim: str, header_line: int, engine: str) -> pd.DataFrame:
    return pd.read_csv(
        io.StringIO(text),
        sep=delim,
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=False,
        skiprows=header_line,
        quoting=csv.QUOTE_MINIMAL,
        engine=engine,
    )


def _parse_plain(text: str, lines: list[str], delim: str, header_line: int) -> pd.DataFrame | None:
    """The C parser (several times faster) on a plain file, or None: the python parser decides.

    The python parser is the reference. The two agree on plain files: no quote
    character (so no quoted delimiters, line breaks or runaway fields), no NUL,
    no lone carriage return as a line end, no line longer than the python
    parser's field limit, and rows that fit the header (with one field more
    than the header, pandas would make the first column an index). Anything
    else, and every parse error (the python parser's message names the line),
    goes to the python parser.
    """
    if '"' in text or "\x00" in text or ("\r" in text and text.count("\r") != text.count("\r\n")):
        return None
    if max(map(len, lines)) > csv.field_size_limit():
        return None
    try:
        df = _parse(text, delim, header_line, "c")
    except ValueError:  # ParserError and the like: the python parser reports it
        return None
    return df if isinstance(df.index, pd.RangeIndex) else None


def _line_of_parser_error(msg: str) -> int | None:
    m = re.search(r"line (\d+)", msg)
    return int(m.group(1)) if m else None


def read_xlsx(path: Path, expected: list[str], required: list[str]) -> pd.DataFrame:
    name = path.name
    try:
        df = pd.read_excel(path, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise SourceFileError([SourceError(name, f"Excel-tiedostoa ei voi lukea ({type(exc).__name__})")]) from None
    df.columns = [str(c).strip() for c in df.columns]
    df["_line"] = df.index + 2
    df = df.dropna(how="all", subset=[c for c in df.columns if c != "_line"]).reset_index(drop=True)
    for c in df.columns:
        if c != "_line":
            df[c] = df[c].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
    check_columns(df, name, expected, required)
    return df


def check_columns(df: pd.DataFrame, name: str, expected: list[str], required: list[str]) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        found = ", ".join(c for c in df.columns if c != "_line")
        raise SourceFileError(
            [SourceError(name, f"pakollinen sarake puuttuu (löytyi: {found})", line=1, column=c) for c in missing]
        )
    for c in expected:
        if c not in df.columns:
            df[c] = ""


def parse_numbers(values: pd.Series, *, percent: bool = False) -> tuple[pd.Series, pd.Series]:
    """Parse Finnish-formatted numbers; return (floats, mask of unparseable non-empty cells).

    Accepts decimal comma or point, thousands separated by spaces or no-break
    spaces, minus as `-`, `−` or `–`, and (with percent) a trailing `%`.
    Numbers already numeric (from XLSX) pass through. Text columns are parsed
    once per distinct value (a year or a month repeats on every row).
    """
    if values.dtype != object:
        codes, distinct = pd.factorize(values)
        if len(distinct) < len(values):
            parsed, bad = _parse_numbers(pd.Series(distinct, dtype=values.dtype), percent=percent)
            # A missing value (code -1) is empty: no number, not an error.
            result = np.append(parsed.to_numpy(dtype="float64"), np.nan)[codes]
            return pd.Series(result, index=values.index), pd.Series(np.append(bad.to_numpy(dtype=bool), False)[codes], index=values.index)
    return _parse_numbers(values, percent=percent)


def _parse_numbers(values: pd.Series, *, percent: bool = False) -> tuple[pd.Series, pd.Series]:
    if values.dtype == object:
        # Only spreadsheet cells (object columns, small files) can hold real numbers.
        numeric = pd.to_numeric(values.where(values.map(lambda v: isinstance(v, (int, float)))), errors="coerce")
    else:
        numeric = pd.Series(np.nan, index=values.index)
    text = values.astype(str).str.strip()
    if percent:
        text = text.str.replace(r"\s*%$", "", regex=True)
    text = text.str.replace(_GROUP_SPACES_CLASS, "", regex=True).str.replace(_MINUS_START, "-", regex=True).str.replace(",", ".")
    valid = text.str.fullmatch(_NUMBER.pattern)
    parsed = pd.to_numeric(text.where(valid), errors="coerce")
    result = numeric.fillna(parsed).astype("float64")
    empty = text.eq("") | values.isna()
    bad = result.isna() & ~empty
    return result, bad


def errors_from_mask(df: pd.DataFrame, mask: pd.Series, name: str, column: str, message: str) -> list[SourceError]:
    return [SourceError(name, message, line=int(l), column=column) for l in df.loc[mask, "_line"].head(20)]


# ISO (2024-08-31, 2024-08-31 14:05[:09] or with T) and Finnish (31.8.2024, 31.8.2024 14:05[:09] or 14.05).
_ISO_DATE = r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
_FI_DATE = r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})"
_TIME = r"(?:[ T](?P<H>\d{1,2})[:.](?P<M>\d{2})(?:[:.](?P<S>\d{2}))?)?"


def parse_datetimes(values: pd.Series, *, with_time: bool) -> tuple[pd.Series, pd.Series]:
    """Parse dates (or date-times) written the ISO or the Finnish way; return (timestamps, bad mask).

    Vectorised: both forms are matched with regular expressions and assembled
    with `pd.to_datetime`, so impossible dates (31.2.2024) are bad, not shifted.
    A date-time column accepts a bare date as midnight.
    """
    text = values.astype(str).str.strip()
    time = _TIME if with_time else ""
    parts = text.str.extract(rf"^{_ISO_DATE}{time}$")
    fi = text.str.extract(rf"^{_FI_DATE}{time}$")
    parts = parts.fillna(fi)
    frame = pd.DataFrame({
        "year": pd.to_numeric(parts["y"], errors="coerce"),
        "month": pd.to_numeric(parts["m"], errors="coerce"),
        "day": pd.to_numeric(parts["d"], errors="coerce"),
    })
    if with_time:
        for unit, col in (("hour", "H"), ("minute", "M"), ("second", "S")):
            frame[unit] = pd.to_numeric(parts[col], errors="coerce").fillna(0)
    parsed = pd.to_datetime(frame, errors="coerce")
    empty = text.eq("") | values.isna()
    bad = parsed.isna() & ~empty
    return parsed, bad
